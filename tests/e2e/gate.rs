//! The effects gate: a dry run checks and plans but changes nothing; a
//! rehearsal changes only the world; destructive changes ask first.

use hubops::journal::Event;

use crate::support::{read, Test};

const SCRIPT: &str = r#"//! Write some keys.
step("set a", || testkit::set("a", "1"));
step("set b", || testkit::set("b", "2"));
step("drop old", || testkit::delete("old"));
print(`a is ${testkit::get("a")}`);
"#;

#[test]
fn dry_run_changes_nothing_and_plans_every_change() {
    let (done, dir) = Test::testkit()
        .file("store/old", "keep me")
        .file("w.rhai", SCRIPT)
        .args(&["run", "w.rhai", "--dry-run", "--journal", "j.jsonl"])
        .run();
    done.status(0).stdout("a is \n");
    assert_eq!(read(&dir.path().join("store"), "old"), "keep me");
    assert!(!dir.path().join("store/a").exists() && !dir.path().join("store/b").exists());
    assert!(
        done.stderr.contains("\nPlan:\n  testkit\n     set        key a\n                + '1'\n     set        key b\n                + '2'\n   ! delete     key old\n                - keep me\n3 changes (1 destructive); nothing was changed\n"),
        "{}",
        done.stderr
    );
    let phases: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| if let Event::Change { phase, .. } = e { Some(phase) } else { None })
        .collect();
    assert_eq!(phases, ["planned", "planned", "planned"]);
}

#[test]
fn dry_run_shows_what_would_fail_and_fails() {
    let (done, _dir) = Test::testkit()
        .file("w.rhai", "step(\"bad\", || testkit::set(\"a/b\", \"1\"));\n")
        .args(&["run", "w.rhai", "--dry-run"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("Would fail set key a/b: `a/b` is not a valid key"), "{}", done.stderr);
    assert!(done.stderr.contains("1 change (0 destructive, 1 would fail); nothing was changed"), "{}", done.stderr);
}

#[test]
fn applying_makes_the_changes_and_destructive_ones_need_yes() {
    let (done, dir) = Test::testkit().file("store/old", "x").file("w.rhai", SCRIPT).args(&["run", "w.rhai"]).run();
    done.status(2);
    assert!(
        done.stderr.contains(
            "error: delete key old is destructive and needs confirmation, but there is no terminal to ask on"
        ),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("hint: pass --yes to confirm destructive changes, or run from a terminal"));
    assert_eq!(read(&dir.path().join("store"), "a"), "1", "changes before the refusal were made");
    assert!(dir.path().join("store/old").exists());

    let (done, dir) =
        Test::testkit().file("store/old", "x").file("w.rhai", SCRIPT).args(&["run", "w.rhai", "--yes"]).run();
    done.status(0).stdout("a is 1\n");
    assert_eq!(read(&dir.path().join("store"), "b"), "2");
    assert!(!dir.path().join("store/old").exists());
}

#[test]
fn rehearsal_changes_only_the_world() {
    let (done, dir) = Test::testkit()
        .file("store/old", "live value")
        .file("w.rhai", SCRIPT)
        .file("world.yaml", "name: kit\nstart: 2026-11-21T06:00:00Z\ntestkit:\n  values: { old: world value }\n")
        .args(&["run", "w.rhai", "--world", "world.yaml", "--yes", "--save-world", "after.yaml"])
        .run();
    done.status(0).stdout("a is 1\n");
    let store: Vec<_> = std::fs::read_dir(dir.path().join("store")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(store, ["old"], "the live store is untouched");
    assert_eq!(read(&dir.path().join("store"), "old"), "live value");
    let after: serde_json::Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).unwrap();
    assert_eq!(after["testkit"]["values"], serde_json::json!({ "a": "1", "b": "2" }));
}

#[test]
fn dry_run_on_a_world_leaves_the_world_as_it_was() {
    let (done, dir) = Test::testkit()
        .file("w.rhai", SCRIPT)
        .file("world.yaml", "name: kit\nstart: 2026-11-21T06:00:00Z\ntestkit:\n  values: { old: v }\n")
        .args(&["run", "w.rhai", "--world", "world.yaml", "--dry-run", "--save-world", "after.yaml"])
        .run();
    done.status(0);
    let after: serde_json::Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).unwrap();
    assert_eq!(after["testkit"]["values"], serde_json::json!({ "old": "v" }));
}

#[test]
fn every_bundled_runbook_dry_runs_on_its_world_without_changing_it() {
    let (done, _dir) = Test::new().args(&["list"]).run();
    for name in done.stdout.lines().filter_map(|l| l.split_whitespace().next()) {
        let world = bundled_world_of(name);
        // Runbooks with stages are dry-run at each stage that applies to the
        // world as shipped (rollback and cleanup follow a cutover: tests/e2e/cae.rs).
        let variants: Vec<Vec<&str>> = match name {
            "cae-blue-green" => vec![vec!["--set", "stage=prepare"], vec!["--set", "stage=cutover"]],
            // cleanup follows a cutover: tests/e2e/hub_move.rs.
            "hub-move" => vec![vec!["--set", "stage=precopy"], vec!["--set", "stage=cutover"]],
            // The windows need the revision their prepare stage pushes:
            // tests/e2e/nublado.rs dry-runs each on the world before it.
            "nublado-migration" => vec![vec!["--set", "stage=prepare-enable"]],
            _ => vec![vec![]],
        };
        for extra in variants {
            let mut args = vec![
                "run",
                name,
                "--rehearse",
                "--dry-run",
                "--yes",
                "--save-world",
                "after.yaml",
                "--journal",
                "j.jsonl",
            ];
            args.extend(extra.iter().copied());
            let (done, after) = Test::new().args(&args).run();
            done.status(0);
            // A run that changes nothing and waits as long in virtual time
            // (the world's own scheduled changes happen meanwhile).
            let events = done.journal("j.jsonl");
            let clock = |e: &Event| match e {
                Event::RunStart { clock, .. } | Event::RunEnd { clock, .. } => clock.parse::<jiff::Timestamp>().ok(),
                _ => None,
            };
            let waited = events
                .last()
                .and_then(clock)
                .unwrap()
                .duration_since(events.first().and_then(clock).unwrap())
                .as_secs();
            let (untouched, before) = Test::new()
                .file("noop.rhai", &format!("sleep({waited});\n"))
                .args(&["run", "noop.rhai", "--world", &world, "--save-world", "before.yaml"])
                .run();
            untouched.status(0);
            let before: serde_json::Value = serde_norway::from_str(&read(before.path(), "before.yaml")).unwrap();
            let after: serde_json::Value = serde_norway::from_str(&read(after.path(), "after.yaml")).unwrap();
            for (section, value) in before.as_object().unwrap() {
                if section != "start" {
                    // The run's secrets (the world's own `params:` give some)
                    // are masked in what it saves; the no-op run has none.
                    let after = unmask(&after[section], value);
                    assert_eq!(&after, value, "{name} {extra:?}: a dry run changed world section `{section}`");
                }
            }
        }
    }
}

/// `after` with each `***` replaced by what `before` has there.
fn unmask(after: &serde_json::Value, before: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (after, before) {
        (Value::String(s), Value::String(_)) if s == "***" => before.clone(),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            Value::Array(a.iter().zip(b).map(|(x, y)| unmask(x, y)).collect())
        }
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter().map(|(k, v)| (k.clone(), b.get(k).map_or_else(|| v.clone(), |w| unmask(v, w)))).collect(),
        ),
        _ => after.clone(),
    }
}

fn bundled_world_of(runbook: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("scripts").join(format!("{runbook}.rhai"))).unwrap();
    text.lines().find_map(|l| l.strip_prefix("//! world: ")).expect("bundled runbooks name a world").trim().to_string()
}

const RESUMABLE: &str = r#"let p = params(#{ label: #{ default_value: "x" }, token: #{ secret: true, required: false } });
let a = step("write a", || { testkit::set("a", p.label); "a-done" });
step("needs ready", || if testkit::get("ready") != "yes" { fail("not ready") });
print(`a said ${a}`);
"#;

#[test]
fn resume_skips_finished_steps_and_keeps_their_results() {
    let t = Test::testkit().file("r.rhai", RESUMABLE).args(&[
        "run",
        "r.rhai",
        "--journal",
        "first.jsonl",
        "--set",
        "token=s3cret",
    ]);
    let (done, dir) = t.run();
    done.status(1);
    assert!(done.stderr.contains("error: not ready"), "{}", done.stderr);
    // Between the runs: `a` is removed (a resumed run must not write it
    // again) and the precondition is met.
    std::fs::remove_file(dir.path().join("store/a")).unwrap();
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let out = Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "second.jsonl", "--set", "token=s3cret"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "a said a-done\n");
    assert!(out.stderr.contains("Skipping 1 write a (finished in run "), "{}", out.stderr);
    assert!(!dir.path().join("store/a").exists(), "a finished step was run again");
    let events = hubops::journal::read(&dir.path().join("second.jsonl")).unwrap();
    let Some(Event::RunStart { resumed_from: Some(from), .. }) = events.first() else { panic!("no resumed_from") };
    assert!(from.contains("-r-"));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::StepEnd { step, status, .. } if step == "write a" && status == "resumed")));
}

#[test]
fn resume_refuses_other_parameters_and_finished_runs() {
    let (done, dir) =
        Test::testkit().file("r.rhai", RESUMABLE).args(&["run", "r.rhai", "--journal", "first.jsonl"]).run();
    done.status(1);
    let out = Test::testkit_in(&dir).args(&["run", "r.rhai", "--resume", "first.jsonl", "--set", "label=y"]).output();
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.contains("cannot be resumed as asked: parameter `label` was \"x\", now \"y\""),
        "{}",
        out.stderr
    );
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let out = Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "second.jsonl"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let out = Test::testkit_in(&dir).args(&["run", "r.rhai", "--resume", "second.jsonl"]).output();
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("already succeeded: there is nothing to resume"), "{}", out.stderr);
}
