//! The runbook language: steps, parallel, params, the journal, Ctrl-C, and
//! the bundled hub-health runbook on its world.

use hubops::journal::Event;

use crate::support::{types, Test};

#[test]
fn hub_health_rehearses_on_its_world_in_virtual_time() {
    let started = std::time::Instant::now();
    let (done, _dir) = Test::new().args(&["run", "hub-health", "--rehearse", "--journal", "j.jsonl"]).run();
    done.status(0).stdout(
        "https://hub.example.org is healthy (checked at 2026-11-21T06:02:00Z)\n3 users, 2 with a running server: alice and bob\n",
    );
    // Eight 15-second retries happened in virtual time.
    assert!(started.elapsed() < std::time::Duration::from_mins(1));
    let events = done.journal("j.jsonl");
    let waits = events.iter().filter(|e| matches!(e, Event::Wait { virtual_time: true, .. })).count();
    assert_eq!(waits, 8);
    let Some(Event::RunStart { params, target, .. }) = events.first() else { panic!("no run_start") };
    assert_eq!(target, "world");
    assert_eq!(params["token"], "***", "secret parameters are redacted");
    let text = std::fs::read_to_string(done.dir.join("j.jsonl")).unwrap();
    assert!(!text.contains("rehearsal-token"), "the token never reaches the journal");
}

#[test]
fn hub_health_refuses_when_the_hub_never_becomes_healthy() {
    let (done, _dir) =
        Test::new().args(&["run", "hub-health", "--rehearse", "--set", "timeout=1m", "--set", "every=20s"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: https://hub.example.org/hub/health is not healthy after 1m (last: status 503)"),
        "{}",
        done.stderr
    );
}

#[test]
fn step_names_are_unique_and_results_are_journaled() {
    let (done, _dir) = Test::new()
        .file("s.rhai", "let a = step(\"a\", || #{ lb: \"x.elb\" });\nprint(a.lb);\nstep(\"a\", || 2);\n")
        .args(&["run", "s.rhai", "--journal", "j.jsonl"])
        .run();
    done.status(1).stdout("x.elb\n");
    assert!(done.stderr.contains("error: step `a` is declared twice; step names must be unique within a run"));
    let events = done.journal("j.jsonl");
    assert!(events.iter().any(|e| matches!(e, Event::StepEnd { step, status, result: Some(r), .. } if step == "a" && status == "ok" && r["lb"] == "x.elb")));
}

#[test]
fn parallel_keeps_input_order_and_names_the_failing_item() {
    let (done, _dir) = Test::new()
        .file("p.rhai", "let r = parallel([3, 1, 2, 5, 4], 3, |n| { sleep(n); n * 10 });\nprint(r);\n")
        .args(&["run", "p.rhai", "--world", "w.yaml"])
        .file("w.yaml", "name: w\n")
        .run();
    done.status(0).stdout("[30, 10, 20, 50, 40]\n");
    let (done, _dir) = Test::new()
        .file("p.rhai", "parallel([\"alice\", \"bob\", \"carol\"], 2, |u| if u == \"bob\" { fail(`no volume for ${u}`) } else { u });\n")
        .args(&["run", "p.rhai"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("error: parallel: item 1 (`bob`) failed: no volume for bob"), "{}", done.stderr);
    let (done, _dir) = Test::new().file("p.rhai", "parallel([1], 0, |n| n);\n").args(&["run", "p.rhai"]).run();
    done.status(1);
    assert!(done.stderr.contains("error: the limit of `parallel` must be at least 1"));
}

#[test]
fn caught_errors_are_maps_with_a_kind() {
    let (done, _dir) = Test::new()
        .file(
            "c.rhai",
            "try { http::get(\"not a url\"); } catch (e) { print(e.kind); }\ntry { fail(\"no\"); } catch (e) { print(`${e.kind}: ${e.message}`); }\n",
        )
        .args(&["run", "c.rhai"])
        .run();
    done.status(0).stdout("Invalid\nFailed: no\n");
}

#[test]
fn undefined_variables_fail_before_anything_runs() {
    let (done, _dir) = Test::new()
        .file("v.rhai", "step(\"a\", || 1);\nprint(zonee);\n")
        .args(&["run", "v.rhai", "--journal", "j.jsonl"])
        .run();
    done.status(2);
    assert!(done.stderr.starts_with("error: unknown variable `zonee`\n --> v.rhai:2:7\n"), "{}", done.stderr);
}

#[test]
fn parameter_values_come_from_sets_over_files_over_world_over_defaults() {
    let script = "let p = params(#{ a: #{}, b: #{ default_value: \"d\" }, c: #{ type: \"int\" }, d: #{ type: \"list\", default_value: [] } });\nprint(`${p.a} ${p.b} ${p.c} ${p.d}`);\n";
    let (done, _dir) = Test::new()
        .file("r.rhai", script)
        .file("w.yaml", "name: w\nparams:\n  a: from-world\n  b: from-world\n  c: 1\n")
        .file("p.yaml", "b: from-file\nc: 2\n")
        .args(&["run", "r.rhai", "--world", "w.yaml", "--params", "p.yaml", "--set", "c=3", "--set", "d=x,y"])
        .run();
    done.status(0).stdout("from-world from-file 3 [\"x\", \"y\"]\n");
}

#[test]
fn the_journal_has_every_event_type_and_reads_back() {
    let script = r#"let p = params(#{ token: #{ secret: true } });
step("prepare", || { log::info("preparing"); print("hello"); 1 });
step("write", || testkit::set("hub", "green"), || testkit::set("hub", "blue"));
confirm("go on?");
sleep("10m");
step("break", || fail(`broken with ${p.token}`));
"#;
    let (done, _dir) = Test::testkit()
        .file("j.rhai", script)
        .args(&[
            "run",
            "j.rhai",
            "--yes",
            "--set",
            "token=hunter2",
            "--on-failure",
            "rollback",
            "--journal",
            "j.jsonl",
            "--world",
            "w.yaml",
        ])
        .file("w.yaml", "name: w\ntestkit:\n  values: { hub: blue }\n")
        .run();
    done.status(1);
    let events = done.journal("j.jsonl");
    let mut seen = types(&events);
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        [
            "change",
            "change_started",
            "error",
            "lock",
            "log",
            "print",
            "prompt",
            "rollback",
            "run_end",
            "run_start",
            "step_end",
            "step_start",
            "wait"
        ]
    );
    let text = std::fs::read_to_string(done.dir.join("j.jsonl")).unwrap();
    assert!(!text.contains("hunter2"), "secrets never reach the journal");
    assert!(text.contains("broken with ***"));
    assert!(matches!(events.last(), Some(Event::RunEnd { status, applied: 2, .. }) if status == "failed"));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Rollback { step, status, .. } if step == "write" && status == "ok")));
    assert!(events.iter().any(|e| matches!(e, Event::Prompt { answer, .. } if answer == "yes_by_flag")));
}

#[test]
fn json_output_streams_the_journal_on_stdout() {
    let (done, _dir) = Test::new()
        .file("r.rhai", "step(\"a\", || 1);\nprint(\"result\");\n")
        .args(&["run", "r.rhai", "--output", "json", "--journal", "j.jsonl"])
        .run();
    done.status(0);
    let journal = std::fs::read_to_string(done.dir.join("j.jsonl")).unwrap();
    assert_eq!(done.stdout, journal, "stdout carries exactly the journal's lines");
}

#[test]
fn ctrl_c_stops_the_run_records_it_and_exits_130() {
    let t = Test::new().file("slow.rhai", "step(\"wait\", || sleep(\"1h\"));\nstep(\"after\", || 1);\n").args(&[
        "run",
        "slow.rhai",
        "--journal",
        "j.jsonl",
    ]);
    let journal = t.path("j.jsonl");
    let child = t.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Wait until the step has started, then press Ctrl-C.
    for _ in 0..200 {
        if std::fs::read_to_string(&journal).unwrap_or_default().contains("step_start") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let events = hubops::journal::read(&journal).unwrap();
    assert!(matches!(events.last(), Some(Event::RunEnd { status, .. }) if status == "interrupted"));
    assert!(!types(&events)
        .iter()
        .zip(&events)
        .any(|(_, e)| matches!(e, Event::StepStart { step, .. } if step == "after")));
    drop(t);
}

#[test]
fn jupyterhub_module_escapes_names_like_kubespawner_and_filters_activity() {
    let script = r#"import "jupyterhub" as hub;
print(hub::escape_username("ana"));
print(hub::escape_username("Ana.B"));
print(hub::pvc_name("josé"));
print(hub::pod_name("user@example.org"));
let users = [#{ name: "a", last_activity: "2026-11-21T05:30:00.123456Z" }, #{ name: "b", last_activity: "2026-11-20T01:00:00Z" }, #{ name: "c", last_activity: () }];
print(hub::active_within(users, 2).map(|u| u.name));
"#;
    let (done, _dir) = Test::new()
        .file("j.rhai", script)
        .file("w.yaml", "name: w\nstart: 2026-11-21T06:00:00Z\n")
        .args(&["run", "j.rhai", "--world", "w.yaml", "-q"])
        .run();
    done.status(0).stdout("ana\n-41na-2e-42\nclaim-jos-c3-a9\njupyter-user-40example-2eorg\n[\"a\"]\n");
}
