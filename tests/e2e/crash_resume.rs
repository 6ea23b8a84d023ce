//! Exactly once, for every bundled runbook: each is killed with SIGKILL on
//! its world at every step boundary and after every applied change (the
//! test-only crash points, `HUBOPS_CRASH_AT`), resumed on the world file it
//! left, and the world it ends with is compared with an uninterrupted run's;
//! every change key is applied exactly once across the two runs.

use std::collections::BTreeMap;
use std::path::Path;

use hubops::journal::Event;
use serde_json::Value;

use crate::support::{read, Test};

/// The stages a runbook is run in, in order, each on the world the one
/// before left (rollback and cleanup follow a cutover in tests/e2e/cae.rs).
fn stages(runbook: &str) -> Vec<Vec<&'static str>> {
    match runbook {
        "cae-blue-green" => vec![
            vec!["--set", "stage=prepare"],
            vec!["--set", "stage=cutover", "--ack", "cognito-blue", "--ack", "cognito-green"],
        ],
        "hub-move" => vec![
            vec!["--set", "stage=precopy"],
            vec!["--set", "stage=precopy"],
            vec!["--set", "stage=cutover"],
            vec!["--set", "stage=cleanup"],
        ],
        "nublado-migration" => [
            "stage=prepare-enable",
            "stage=enable",
            "stage=prepare-default",
            "stage=default",
            "stage=prepare-retire",
            "stage=retire",
            "stage=finish",
        ]
        .iter()
        .map(|stage| vec!["--set", *stage])
        .collect(),
        _ => vec![vec![]],
    }
}

fn bundled_world(runbook: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = std::fs::read_to_string(root.join("scripts").join(format!("{runbook}.rhai"))).unwrap();
    let name = script.lines().find_map(|l| l.strip_prefix("//! world: ")).unwrap().trim().to_string();
    std::fs::read_to_string(root.join("worlds").join(format!("{name}.yaml"))).unwrap()
}

/// A world file as data, without what depends on when it was saved and on
/// which lineage made it (the run id tags and the idempotency tokens derived
/// from it: two lineages make the same things with different tokens), and,
/// unless `times`, without when things happened.
fn comparable(yaml: &str, times: bool) -> Value {
    fn scrub(v: &mut Value, times: bool) {
        match v {
            Value::Object(map) => {
                map.remove("hubops:run");
                map.remove("hubops:token");
                // A database copy keeps the new hub's old file under a name
                // stamped with when and by which run it was replaced.
                let stamped: Vec<String> = map.keys().filter(|k| k.contains(".before-hubops-")).cloned().collect();
                for key in stamped {
                    if let (Some(v), Some((base, _))) = (map.remove(&key), key.split_once(".before-hubops-")) {
                        map.insert(format!("{base}.before-hubops-*"), v);
                    }
                }
                map.values_mut().for_each(|v| scrub(v, times));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, times)),
            // A change cut off by the kill is sent again on resume and, where
            // the world gives it a duration (an rsync), takes its time again:
            // when things happened may differ, what happened may not.
            Value::String(s) if !times && s.parse::<jiff::Timestamp>().is_ok() => *s = "<time>".into(),
            _ => {}
        }
    }
    let mut v: Value = serde_norway::from_str(yaml).unwrap();
    if let Some(map) = v.as_object_mut() {
        map.remove("start");
    }
    scrub(&mut v, times);
    v
}

/// Runs `runbook` at `stage` on `site.yaml` in `dir`, saving over it.
fn run(dir: &Path, runbook: &str, stage: &[&str], journal: &str, extra: &[&str], env: Option<&str>) -> (i32, String) {
    let mut args =
        vec!["run", runbook, "--world", "site.yaml", "--save-world", "site.yaml", "--yes", "--journal", journal];
    args.extend_from_slice(stage);
    args.extend_from_slice(extra);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"));
    cmd.current_dir(dir).args(&args).env("NO_COLOR", "1").env("XDG_STATE_HOME", dir.join("state")).env("HOME", dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("HUBOPS_") {
            cmd.env_remove(key);
        }
    }
    if let Some(at) = env {
        cmd.env("HUBOPS_CRASH_AT", at);
    }
    let out = cmd.output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Keys applied (or handed back) by the runs of a journal, counted.
fn applied(dir: &Path, journals: &[&str]) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut made = BTreeMap::new();
    let mut replayed = BTreeMap::new();
    for j in journals {
        for event in hubops::journal::read(&dir.join(j)).unwrap_or_default() {
            if let Event::Change { phase, key: Some(key), .. } = event {
                match phase.as_str() {
                    "applied" => *made.entry(key).or_insert(0) += 1,
                    "replayed" => *replayed.entry(key).or_insert(0) += 1,
                    _ => {}
                }
            }
        }
    }
    (made, replayed)
}

/// The paths where `got` and `want` differ, with both values.
fn differences(path: &str, got: &Value, want: &Value) -> Vec<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            keys.into_iter()
                .flat_map(|k| {
                    let null = Value::Null;
                    differences(&format!("{path}/{k}"), g.get(k).unwrap_or(&null), w.get(k).unwrap_or(&null))
                })
                .collect()
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            g.iter().zip(w).enumerate().flat_map(|(i, (g, w))| differences(&format!("{path}/{i}"), g, w)).collect()
        }
        (g, w) if g == w => Vec::new(),
        (g, w) => vec![format!("{path}: {g} (resumed) vs {w} (uninterrupted)")],
    }
}

/// How many steps and applied changes a journal holds.
fn points(dir: &Path, journal: &str) -> (usize, usize) {
    let events = hubops::journal::read(&dir.join(journal)).unwrap();
    let steps = events.iter().filter(|e| matches!(e, Event::StepStart { .. })).count();
    let changes = events.iter().filter(|e| matches!(e, Event::Change { phase, .. } if phase == "applied")).count();
    (steps, changes)
}

#[test]
fn every_bundled_runbook_killed_anywhere_and_resumed_ends_like_an_uninterrupted_run() {
    let (list, _d) = Test::new().args(&["list"]).run();
    let mut crashes = 0;
    for runbook in list.stdout.lines().filter_map(|l| l.split_whitespace().next()) {
        let mut world = bundled_world(runbook);
        for stage in stages(runbook) {
            let full = tempfile::tempdir().unwrap();
            std::fs::write(full.path().join("site.yaml"), &world).unwrap();
            let (status, stderr) = run(full.path(), runbook, &stage, "full.jsonl", &[], None);
            assert_eq!(status, 0, "{runbook} {stage:?}: {stderr}");
            let expected = read(full.path(), "site.yaml");
            let (steps, changes) = points(full.path(), "full.jsonl");
            let mut at: Vec<String> = (1..=steps).map(|n| format!("step-start:{n}")).collect();
            at.extend((1..=steps).map(|n| format!("step-end:{n}")));
            at.extend((1..=changes).map(|n| format!("change:{n}")));
            for point in at {
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join("site.yaml"), &world).unwrap();
                let (status, stderr) = run(dir.path(), runbook, &stage, "first.jsonl", &[], Some(&point));
                if status == 0 {
                    continue; // the point is not reached on this path
                }
                assert_eq!(status, -1, "{runbook} {stage:?} {point}: killed\n{stderr}");
                crashes += 1;
                let (status, stderr) =
                    run(dir.path(), runbook, &stage, "second.jsonl", &["--resume", "first.jsonl"], None);
                assert_eq!(status, 0, "{runbook} {stage:?} {point}: the resume finishes\n{stderr}");
                // Times are compared too, but for hub-move: its in-doubt rsync is
                // sent again on resume (it is idempotent) and takes its time again.
                let times = runbook != "hub-move";
                let (got, want) = (comparable(&read(dir.path(), "site.yaml"), times), comparable(&expected, times));
                assert!(
                    got == want,
                    "{runbook} {stage:?} {point}: the resumed world differs from an uninterrupted run's at {:?}",
                    differences("", &got, &want)
                );
                let (made, replayed) = applied(dir.path(), &["first.jsonl", "second.jsonl"]);
                assert!(made.values().all(|&n| n == 1), "{runbook} {stage:?} {point}: a change made twice: {made:?}");
                let (first, _) = applied(dir.path(), &["first.jsonl"]);
                for key in replayed.keys() {
                    assert!(first.contains_key(key), "{runbook} {point}: handed back a change never made: {key}");
                }
                assert_eq!(made.len(), changes, "{runbook} {stage:?} {point}: every change made once");
            }
            world = expected;
        }
    }
    assert!(crashes > 20, "only {crashes} crash points were exercised");
}
