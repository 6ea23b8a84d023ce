//! The bundled `cae-home-volumes` runbook on the `cae` world: a migration
//! that is safe to run twice, and the cases where copying would lose data
//! silently: users still logged in, a copy older than the last use, unknown
//! users, a claim green already has, a missing `StorageClass`, and the
//! in-place strategy with blue's reclaim policy and attached volumes.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::cae::{cae_world, objects, world_of, yaml};
use crate::support::Test;

fn volumes(world: &Value) -> &Vec<Value> {
    world["aws"]["accounts"]["cae"]["volumes"].as_array().unwrap()
}

fn gp3(world: &Value) -> Vec<&Value> {
    volumes(world).iter().filter(|v| v["type"] == "gp3" && v["state"] != "deleted").collect()
}

fn find<'a>(world: &'a Value, context: &str, kind: &str, name: &str) -> Option<&'a Value> {
    world["clusters"][context]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn home_volumes(t: Test, extra: &[&str]) -> Test {
    t.args(&["run", "cae-home-volumes"]).args(extra)
}

#[test]
fn volume_migration_makes_one_gp3_volume_and_bound_claim_per_user_even_run_twice() {
    let (done, dir) = home_volumes(Test::new(), &["--rehearse", "--save-world", "once.yaml"]).run();
    done.status(0).stdout(
        "3 home volumes: [\"claim-alice (vol-0a11ce, us-west-2a, 10Gi)\", \"claim-bob (vol-0b0b, us-west-2b, 20Gi)\", \"claim-carol (vol-0ca401, us-west-2a, 10Gi)\"]\n3 home volumes are on gp3 and bound in jupyterhub on cae-green\n",
    );
    // alice and bob were logged in: it waited for them (they log off at 4m and 9m).
    assert!(
        done.stderr.contains("Waiting user servers on cae-blue in daskhub to stop: 1 user (alice)"),
        "{}",
        done.stderr
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
        let copies = gp3(&w);
        assert_eq!(copies.len(), 3, "{file}: one gp3 volume per user");
        let snapshots = account["snapshots"].as_array().unwrap();
        for v in &copies {
            assert_eq!(
                (v["iops"].as_i64(), v["throughput"].as_i64(), v["encrypted"].as_bool()),
                (Some(3000), Some(125), Some(true))
            );
            // The copy names its snapshot and when its data is from.
            let snap = snapshots.iter().find(|s| s["id"] == v["tags"]["hubops/source-snapshot"]).expect("its snapshot");
            assert_eq!(v["tags"]["hubops/snapshot-time"], snap["start_time"], "{v:#}");
        }
        let source_az: BTreeMap<&str, &str> = volumes(&w)
            .iter()
            .filter(|v| v["type"] == "gp2")
            .map(|v| (v["id"].as_str().unwrap(), v["az"].as_str().unwrap()))
            .collect();
        for v in &copies {
            let source = v["tags"]["hubops/source-volume"].as_str().unwrap();
            assert_eq!(v["az"].as_str(), source_az.get(source).copied(), "same zone as the source");
        }
        assert_eq!(snapshots.len(), 3, "{file}: one snapshot per user");
        let green = w["clusters"]["cae-green"]["objects"].as_array().unwrap();
        let bound = |kind: &str| green.iter().filter(|o| o["kind"] == kind && o["status"]["phase"] == "Bound").count();
        assert_eq!((bound("PersistentVolume"), bound("PersistentVolumeClaim")), (3, 3), "{file}");
        let pv = find(&w, "cae-green", "PersistentVolume", "claim-bob-gp3").unwrap();
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(
            pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]["values"][0],
            "us-west-2b"
        );
    }
}

/// The cae world with the users staying logged in.
fn users_stay() -> Value {
    let mut world = cae_world();
    world["clusters"]["cae-blue"].as_object_mut().unwrap().remove("events");
    world
}

#[test]
fn users_still_logged_in_on_blue_are_waited_for_then_refused_by_name() {
    let (done, dir) = home_volumes(Test::new().file("stay.yaml", &yaml(&users_stay())), &["--world", "stay.yaml"])
        .args(&["--set", "active_timeout=2m", "--save-world", "after.yaml"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: 2 users (alice, bob) still have servers on cae-blue in daskhub after 2m (ask them to log off, or pass --set force=true)"),
        "{}",
        done.stderr
    );
    let after = world_of(dir.path(), "after.yaml");
    assert!(
        after["aws"]["accounts"]["cae"]["snapshots"].as_array().is_none_or(Vec::is_empty),
        "no snapshot of a volume in use"
    );

    // Only the users asked for count: carol has no server.
    let (done, _dir) = home_volumes(Test::new().file("stay.yaml", &yaml(&users_stay())), &["--world", "stay.yaml"])
        .args(&["--set", "users=carol", "--set", "active_timeout=2m"])
        .run();
    done.status(0);

    // force copies anyway, saying so.
    let (done, _dir) = home_volumes(Test::new().file("stay.yaml", &yaml(&users_stay())), &["--world", "stay.yaml"])
        .args(&["--set", "force=true"])
        .run();
    done.status(0);
    assert!(
        done.stderr.contains("warning: going on with 2 users (alice, bob) active on cae-blue (force)"),
        "{}",
        done.stderr
    );

    // A dry run plans past the wait instead of failing at its deadline.
    let (done, _dir) =
        home_volumes(Test::new().file("stay.yaml", &yaml(&users_stay())), &["--world", "stay.yaml", "--dry-run"]).run();
    done.status(0);
    assert!(
        done.stderr.contains(
            "Would wait up to 15m for user servers on cae-blue in daskhub to stop (2 users (alice, bob) now)"
        ),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("Would snapshot volume `vol-0a11ce`"), "{}", done.stderr);
}

#[test]
fn unknown_users_are_an_error_naming_them() {
    let (done, _dir) = home_volumes(Test::new(), &["--rehearse", "--set", "users=alice,dave"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: no home volume claim in daskhub on cae-blue for [\"dave\"] (looked for [\"claim-dave\"]): check the names in --set users"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_copy_older_than_the_last_use_is_refused_and_copied_again_on_request() {
    let (done, dir) =
        home_volumes(Test::new(), &["--rehearse", "--set", "users=carol", "--save-world", "early.yaml"]).run();
    done.status(0);
    let first = world_of(dir.path(), "early.yaml");
    let old_copy = gp3(&first)[0]["id"].as_str().unwrap().to_string();

    // A week passes.
    let week = Test::testkit_in(&dir).args(&[
        "run",
        "wait.rhai",
        "--world",
        "early.yaml",
        "--save-world",
        "later.yaml",
        "--max-virtual-time",
        "9d",
    ]);
    std::fs::write(dir.path().join("wait.rhai"), "sleep(\"8d\");\n").unwrap();
    week.output().status(0);
    let again = |extra: &[&str]| {
        Test::testkit_in(&dir)
            .args(&[
                "run",
                "cae-home-volumes",
                "--world",
                "later.yaml",
                "--set",
                "users=carol",
                "--save-world",
                "later.yaml",
            ])
            .args(extra)
            .output()
    };
    let refused = again(&[]);
    refused.status(1);
    assert!(
        refused.stderr.contains(&format!(
            "error: 1 earlier copies may be stale: [\"claim-carol ({old_copy}): its snapshot is from 2026-11-21T06:"
        )),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(
            "192h ago: blue's volume may have been used since\"]; pass --set refresh=true to copy them again"
        ),
        "{}",
        refused.stderr
    );

    // refresh replaces it, and asks first: without --yes and a terminal it cannot.
    let unasked = again(&["--set", "refresh=true"]);
    unasked.status(2);
    assert!(unasked.stderr.contains("is destructive and needs confirmation"), "{}", unasked.stderr);
    let refreshed = again(&["--set", "refresh=true", "--yes"]);
    refreshed.status(0);
    let after = world_of(dir.path(), "later.yaml");
    let copies = gp3(&after);
    assert_eq!(copies.len(), 1, "the stale copy is gone: {copies:#?}");
    let new_copy = copies[0]["id"].as_str().unwrap();
    assert_ne!(new_copy, old_copy);
    let pv = find(&after, "cae-green", "PersistentVolume", "claim-carol-gp3").unwrap();
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], new_copy);
    assert_eq!(find(&after, "cae-green", "PersistentVolumeClaim", "claim-carol").unwrap()["status"]["phase"], "Bound");
}

#[test]
fn a_copy_made_before_the_user_logged_in_again_is_stale() {
    let (done, dir) =
        home_volumes(Test::new(), &["--rehearse", "--set", "users=carol", "--save-world", "w.yaml"]).run();
    done.status(0);
    // carol logged in an hour after the copy and has logged off since.
    let mut world = world_of(dir.path(), "w.yaml");
    objects(&mut world, "cae-blue").push(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "jupyter-carol", "namespace": "daskhub", "creationTimestamp": "2026-11-21T07:30:00Z",
                      "labels": { "component": "singleuser-server", "hub.jupyter.org/username": "carol" } },
        "status": { "phase": "Succeeded" },
    }));
    world["start"] = "2026-11-21T09:00:00Z".into();
    std::fs::write(dir.path().join("w.yaml"), yaml(&world)).unwrap();
    let done =
        Test::testkit_in(&dir).args(&["run", "cae-home-volumes", "--world", "w.yaml", "--set", "users=carol"]).output();
    done.status(1);
    assert!(
        done.stderr
            .contains("carol's server on blue started at 2026-11-21T07:30:00Z, after the snapshot (2026-11-21T06:"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_claim_green_already_has_for_another_volume_is_not_replaced() {
    let mut world = cae_world();
    objects(&mut world, "cae-green").push(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": { "name": "claim-alice", "namespace": "jupyterhub" },
        "spec": { "accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "volumeName": "pvc-green-9",
                  "resources": { "requests": { "storage": "10Gi" } } },
        "status": { "phase": "Bound" },
    }));
    let (done, dir) = home_volumes(Test::new().file("w.yaml", &yaml(&world)), &["--world", "w.yaml"])
        .args(&["--set", "users=alice", "--save-world", "after.yaml"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: claim claim-alice already exists in jupyterhub on cae-green, bound to pvc-green-9 (alice has used green): hubops does not replace it"),
        "{}",
        done.stderr
    );
    assert!(gp3(&world_of(dir.path(), "after.yaml")).is_empty(), "nothing was copied");
}

#[test]
fn green_without_the_storage_class_the_pvs_name_is_refused() {
    let mut world = cae_world();
    objects(&mut world, "cae-green").retain(|o| o["kind"] != "StorageClass");
    let (done, _dir) = home_volumes(Test::new().file("w.yaml", &yaml(&world)), &["--world", "w.yaml"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: cae-green has no StorageClass gp3, which the new PVs name: create it first (the plan's \"Storage Class Configuration\": provisioner ebs.csi.aws.com, type gp3)"),
        "{}",
        done.stderr
    );
}

#[test]
fn in_place_keeps_blue_from_deleting_the_volume_and_modifies_it_without_a_copy() {
    let (done, dir) = home_volumes(Test::new(), &["--rehearse", "--set", "strategy=in-place", "--set", "users=carol"])
        .args(&["--save-world", "w.yaml"])
        .run();
    done.status(0);
    let w = world_of(dir.path(), "w.yaml");
    assert_eq!(volumes(&w).len(), 3, "no new volume");
    let carol = volumes(&w).iter().find(|v| v["id"] == "vol-0ca401").unwrap();
    assert_eq!(carol["type"], "gp3");
    let pv = find(&w, "cae-green", "PersistentVolume", "claim-carol-gp3").unwrap();
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], "vol-0ca401");
    // Deleting blue later (the plan's day 5) keeps the volume green uses.
    assert_eq!(
        find(&w, "cae-blue", "PersistentVolume", "pvc-3333").unwrap()["spec"]["persistentVolumeReclaimPolicy"],
        "Retain"
    );
}

#[test]
fn in_place_refuses_a_volume_blue_still_has_attached() {
    let (done, dir) = home_volumes(Test::new(), &["--rehearse", "--set", "strategy=in-place", "--set", "users=alice"])
        .args(&["--save-world", "w.yaml"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: still attached (in-use), so a node of blue may write to them: [\"vol-0a11ce (claim-alice)\"]; stop those servers on blue and wait for the volumes to detach"),
        "{}",
        done.stderr
    );
    let w = world_of(dir.path(), "w.yaml");
    assert_eq!(volumes(&w).iter().find(|v| v["id"] == "vol-0a11ce").unwrap()["type"], "gp2", "not modified");
    assert_eq!(
        find(&w, "cae-blue", "PersistentVolume", "pvc-1111").unwrap()["spec"]["persistentVolumeReclaimPolicy"],
        "Retain",
        "blue's PV was made safe first"
    );
    assert!(find(&w, "cae-green", "PersistentVolume", "claim-alice-gp3").is_none());
}
