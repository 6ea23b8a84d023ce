//! The bundled CAE runbooks on their world (worlds/cae.yaml): every stage,
//! the refusals, rollback, dry runs that plan exactly what rehearsals do,
//! and a volume migration that is safe to run twice.

use std::collections::BTreeMap;

use hubops::journal::Event;
use serde_json::Value;

use crate::support::{read, Test};

fn world_of(dir: &std::path::Path, file: &str) -> Value {
    serde_norway::from_str(&read(dir, file)).expect("saved world")
}

/// `name type` -> values of the hosted zone's records.
fn records(world: &Value) -> BTreeMap<String, Vec<String>> {
    let zone = &world["aws"]["accounts"]["cae"]["zones"][0]["records"];
    zone.as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let values = r["values"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default();
            (format!("{} {}", r["name"].as_str().unwrap_or(""), r["type"].as_str().unwrap_or("")), values)
        })
        .collect()
}

const BLUE: &str = "a1b2c3-blue.elb.us-west-2.amazonaws.com";
const GREEN: &str = "d4e5f6-green.elb.us-west-2.amazonaws.com";

fn stage(t: Test, stage: &str, world: &str, out: &str) -> Test {
    let mut args = vec!["run", "cae-blue-green", "--set", stage, "--yes", "--save-world", out, "--journal"];
    let journal = format!("{out}.jsonl");
    args.push(&journal);
    if world == "rehearse" {
        args.push("--rehearse");
    } else {
        args.extend(["--world", world]);
    }
    t.args(&args)
}

/// Runs the stages in order in one folder, each on the world the last one left.
fn chain(stages: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut world = "rehearse".to_string();
    let mut outs = Vec::new();
    for (i, name) in stages.iter().enumerate() {
        let out = dir.path().join(format!("w{i}-{name}.yaml")).display().to_string();
        let (done, _scratch) = stage(Test::new(), &format!("stage={name}"), &world, &out).run();
        done.status(0);
        world.clone_from(&out);
        outs.push(out);
    }
    (dir, outs)
}

#[test]
fn the_stages_move_the_hub_to_green_and_clean_up() {
    let (_dir, outs) = chain(&["prepare", "cutover", "cleanup"]);
    let w = |i: usize| serde_norway::from_str::<Value>(&std::fs::read_to_string(&outs[i]).unwrap()).unwrap();
    let after_prepare = records(&w(0));
    assert_eq!(after_prepare["new-hub.cal-adapt.org. CNAME"], [GREEN]);
    assert_eq!(after_prepare["hub.cal-adapt.org. CNAME"], [BLUE]);
    let after_cutover = records(&w(1));
    assert_eq!(after_cutover["hub.cal-adapt.org. CNAME"], [GREEN]);
    assert_eq!(after_cutover["legacy.cal-adapt.org. CNAME"], [BLUE]);
    let after_cleanup = records(&w(2));
    assert!(!after_cleanup.contains_key("new-hub.cal-adapt.org. CNAME"), "{after_cleanup:?}");
    assert_eq!(after_cleanup["hub.cal-adapt.org. CNAME"], [GREEN]);
    assert_eq!(after_cleanup["legacy.cal-adapt.org. CNAME"], [BLUE]);
}

#[test]
fn rollback_points_the_hub_back_at_blue_and_verifies_it() {
    let (dir, outs) = chain(&["prepare", "cutover", "rollback"]);
    let after = serde_norway::from_str::<Value>(&std::fs::read_to_string(&outs[2]).unwrap()).unwrap();
    assert_eq!(records(&after)["hub.cal-adapt.org. CNAME"], [BLUE]);
    let events = hubops::journal::read(std::path::Path::new(&format!("{}.jsonl", outs[2]))).unwrap();
    let steps: Vec<&str> = events
        .iter()
        .filter_map(|e| {
            if let Event::StepEnd { step, status, .. } = e {
                (status == "ok").then_some(step.as_str())
            } else {
                None
            }
        })
        .collect();
    assert!(
        steps.contains(&"hub.cal-adapt.org resolves to a1b2c3-blue.elb.us-west-2.amazonaws.com everywhere"),
        "{steps:?}"
    );
    assert!(steps.contains(&"https://hub.cal-adapt.org is healthy"));
    drop(dir);
}

#[test]
fn cutover_waits_for_active_users_and_refuses_naming_them() {
    let (done, dir) = Test::new()
        .args(&[
            "run",
            "cae-blue-green",
            "--rehearse",
            "--set",
            "stage=cutover",
            "--set",
            "active_timeout=2m",
            "--yes",
            "--save-world",
            "after.yaml",
        ])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: 2 users still have servers on cae-blue in daskhub after 2m: alice and bob (ask them to log off, or pass --set force=true)"),
        "{}",
        done.stderr
    );
    assert_eq!(records(&world_of(dir.path(), "after.yaml"))["hub.cal-adapt.org. CNAME"], [BLUE], "DNS untouched");
    // With the default 15 minutes, both log off in time (at 4m and 9m).
    let (done, _dir) =
        Test::new().args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--yes"]).run();
    done.status(0);
    assert!(done.stderr.contains("Info 1 user still active: alice; checking again in 30s"), "{}", done.stderr);
    // force goes on at once, with a warning that names them.
    let (done, _dir) = Test::new()
        .args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--set", "force=true", "--yes"])
        .run();
    done.status(0);
    assert!(done.stderr.contains("warning: going on with 2 active users (force): alice and bob"), "{}", done.stderr);
}

#[test]
fn cutover_refuses_a_record_someone_else_changed_and_rolls_back() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let world = std::fs::read_to_string(root.join("worlds/cae.yaml"))
        .unwrap()
        .replace(&format!("values: [{BLUE}] }}"), "values: [someone-else.elb.us-west-2.amazonaws.com] }");
    assert!(world.contains("someone-else"));
    let (done, dir) = Test::new()
        .file("changed.yaml", &world)
        .args(&[
            "run",
            "cae-blue-green",
            "--world",
            "changed.yaml",
            "--set",
            "stage=cutover",
            "--yes",
            "--on-failure",
            "rollback",
            "--save-world",
            "after.yaml",
        ])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: swap CNAME hub.cal-adapt.org. in zone `cal-adapt.org.` failed"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("caused by: record `hub.cal-adapt.org.` CNAME is someone-else.elb.us-west-2.amazonaws.com (ttl 60), not the expected a1b2c3-blue.elb.us-west-2.amazonaws.com; someone changed it, nothing was sent"),
        "{}",
        done.stderr
    );
    let after = records(&world_of(dir.path(), "after.yaml"));
    assert_eq!(after["hub.cal-adapt.org. CNAME"], ["someone-else.elb.us-west-2.amazonaws.com"]);
    assert!(!after.contains_key("legacy.cal-adapt.org. CNAME"), "the legacy record was rolled back: {after:?}");
}

/// The changes of a journal, with ids that only exist once made
/// (`snap-...`, `vol-...`) and run-specific tags replaced.
fn changes(path: &std::path::Path, phase: &str) -> Vec<String> {
    let ids = |text: &str| {
        text.split(|c: char| c == '`' || c.is_whitespace())
            .map(|w| {
                if w.starts_with("snap-") {
                    "snap-*"
                } else if w.starts_with("vol-") && w.len() > 12 {
                    "vol-*"
                } else {
                    w
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    hubops::journal::read(path)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase: p, change, .. } if p == phase => Some(format!(
                "{} {} {}",
                change["system"].as_str().unwrap_or(""),
                change["verb"].as_str().unwrap_or(""),
                ids(change["target"].as_str().unwrap_or(""))
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn each_dry_run_plans_exactly_what_the_rehearsal_changes_and_changes_nothing() {
    let (dir, outs) = chain(&["prepare", "cutover"]);
    let cases = [
        ("prepare", "rehearse".to_string()),
        ("cutover", outs[0].clone()),
        ("rollback", outs[1].clone()),
        ("cleanup", outs[1].clone()),
    ];
    for (name, world) in cases {
        let dry = dir.path().join(format!("dry-{name}.yaml")).display().to_string();
        let real = dir.path().join(format!("real-{name}.yaml")).display().to_string();
        let untouched = dir.path().join(format!("untouched-{name}.yaml")).display().to_string();
        let (done, _d) = stage(Test::new(), &format!("stage={name}"), &world, &dry).args(&["--dry-run"]).run();
        done.status(0);
        if name != "cleanup" {
            assert!(
                done.stdout.contains("(dry run)") && !done.stdout.contains("is served by"),
                "{name}: {}",
                done.stdout
            );
        }
        let (done, _d) = stage(Test::new(), &format!("stage={name}"), &world, &real).run();
        done.status(0);
        let planned = changes(std::path::Path::new(&format!("{dry}.jsonl")), "planned");
        let applied = changes(std::path::Path::new(&format!("{real}.jsonl")), "applied");
        assert!(!planned.is_empty(), "{name}: the plan is empty");
        assert_eq!(planned, applied, "{name}: the plan differs from what the rehearsal did");
        // The dry run left the world as a run that changes nothing, and
        // waits as long in virtual time, does (users log off meanwhile).
        let events = hubops::journal::read(std::path::Path::new(&format!("{dry}.jsonl"))).unwrap();
        let clock = |e: &Event| match e {
            Event::RunStart { clock, .. } | Event::RunEnd { clock, .. } => clock.parse::<jiff::Timestamp>().ok(),
            _ => None,
        };
        let (start, end) = (events.first().and_then(clock).unwrap(), events.last().and_then(clock).unwrap());
        let waited = end.duration_since(start).as_secs();
        let noop = Test::new().file("noop.rhai", &format!("sleep({waited});\n"));
        let base = if world == "rehearse" { "cae" } else { world.as_str() };
        let (done, _d) = noop.args(&["run", "noop.rhai", "--world", base, "--save-world", &untouched]).run();
        done.status(0);
        let strip = |file: &str| {
            let mut v: Value = serde_norway::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            v.as_object_mut().unwrap().remove("start");
            v
        };
        assert_eq!(strip(&dry), strip(&untouched), "{name}: the dry run changed the world");
    }
}

#[test]
fn volume_migration_makes_one_gp3_volume_and_bound_claim_per_user_even_run_twice() {
    let (done, dir) = Test::new().args(&["run", "cae-home-volumes", "--rehearse", "--save-world", "once.yaml"]).run();
    done.status(0).stdout(
        "3 home volumes: [\"claim-alice (vol-0a11ce, us-west-2a, 10Gi)\", \"claim-bob (vol-0b0b, us-west-2b, 20Gi)\", \"claim-carol (vol-0ca401, us-west-2a, 10Gi)\"]\n3 home volumes are on gp3 and bound in jupyterhub on cae-green\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
        .args(["run", "cae-home-volumes", "--world", "once.yaml", "--save-world", "twice.yaml"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Info 3 already migrated, 0 to copy"));
    for file in ["once.yaml", "twice.yaml"] {
        let w = world_of(dir.path(), file);
        let account = &w["aws"]["accounts"]["cae"];
        let gp3: Vec<&Value> = account["volumes"].as_array().unwrap().iter().filter(|v| v["type"] == "gp3").collect();
        assert_eq!(gp3.len(), 3, "{file}: one gp3 volume per user");
        for v in &gp3 {
            assert_eq!(
                (v["iops"].as_i64(), v["throughput"].as_i64(), v["encrypted"].as_bool()),
                (Some(3000), Some(125), Some(true))
            );
        }
        let source_az: BTreeMap<&str, &str> = account["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "gp2")
            .map(|v| (v["id"].as_str().unwrap(), v["az"].as_str().unwrap()))
            .collect();
        for v in &gp3 {
            let source = v["tags"]["hubops/source-volume"].as_str().unwrap();
            assert_eq!(v["az"].as_str(), source_az.get(source).copied(), "same zone as the source");
        }
        assert_eq!(account["snapshots"].as_array().unwrap().len(), 3, "{file}: one snapshot per user");
        let green = w["clusters"]["cae-green"]["objects"].as_array().unwrap();
        let bound = |kind: &str| green.iter().filter(|o| o["kind"] == kind && o["status"]["phase"] == "Bound").count();
        assert_eq!((bound("PersistentVolume"), bound("PersistentVolumeClaim")), (3, 3), "{file}");
        let pv =
            green.iter().find(|o| o["kind"] == "PersistentVolume" && o["metadata"]["name"] == "claim-bob-gp3").unwrap();
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(
            pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0],
            "us-west-2b"
        );
    }
}

#[test]
fn in_place_strategy_modifies_the_volumes_without_copies() {
    let (done, dir) = Test::new()
        .args(&[
            "run",
            "cae-home-volumes",
            "--rehearse",
            "--set",
            "strategy=in-place",
            "--set",
            "users=alice",
            "--save-world",
            "w.yaml",
        ])
        .run();
    done.status(0);
    let w = world_of(dir.path(), "w.yaml");
    let volumes = w["aws"]["accounts"]["cae"]["volumes"].as_array().unwrap();
    assert_eq!(volumes.len(), 3, "no new volume");
    let alice = volumes.iter().find(|v| v["id"] == "vol-0a11ce").unwrap();
    assert_eq!(alice["type"], "gp3");
    let pv = w["clusters"]["cae-green"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["metadata"]["name"] == "claim-alice-gp3")
        .cloned()
        .unwrap();
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], "vol-0a11ce");
}
