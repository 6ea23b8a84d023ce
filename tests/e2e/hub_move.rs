//! The bundled `hub-move` runbook on its world (worlds/hub-move.yaml): two
//! pre-copies, the cutover and the cleanup chained on saved worlds; dry
//! runs that plan what the rehearsal does and change nothing; a final copy
//! that fails and is rolled back; the manual DNS mode; the refusals before
//! the downtime starts.

use std::collections::BTreeMap;
use std::path::Path;

use hubops::journal::Event;
use serde_json::Value;

use crate::cae::{changes, world_of, yaml};
use crate::support::Test;

const OLD_LB: &str = "a1b2c3-old.elb.us-east-1.amazonaws.com";
const NEW_LB: &str = "f9e8d7-new.elb.us-east-1.amazonaws.com";
const ROOT: &str = "/export/home-01/homes/hub/";

/// The bundled world, as data to edit.
fn bundled() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    serde_norway::from_str(&std::fs::read_to_string(root.join("worlds/hub-move.yaml")).unwrap()).unwrap()
}

/// Runs `stage` on `world` ("rehearse": the bundled world), saving to `out`
/// with a journal at `out.jsonl`.
fn stage(t: Test, stage: &str, world: &str, out: &str) -> Test {
    let journal = format!("{out}.jsonl");
    let set = format!("stage={stage}");
    let mut args = vec!["run", "hub-move", "--set", &set, "--yes", "--save-world", out, "--journal", &journal];
    if world == "rehearse" {
        args.push("--rehearse");
    } else {
        args.extend(["--world", world]);
    }
    t.args(&args)
}

/// Runs the stages in order in one folder, each on the world the last one
/// left; returns the folder, the saved worlds and each run's stdout.
fn chain(stages: &[&str]) -> (tempfile::TempDir, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut world = "rehearse".to_string();
    let (mut outs, mut stdouts) = (Vec::new(), Vec::new());
    for (i, name) in stages.iter().enumerate() {
        let out = dir.path().join(format!("w{i}-{name}.yaml")).display().to_string();
        let (done, _scratch) = stage(Test::new(), name, &world, &out).run();
        done.status(0);
        stdouts.push(done.stdout.clone());
        world.clone_from(&out);
        outs.push(out);
    }
    (dir, outs, stdouts)
}

fn load(path: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The home files of `host` (relative to the tree's root) with their content.
fn homes(world: &Value, host: &str) -> BTreeMap<String, Value> {
    world["hosts"][host]["files"]
        .as_object()
        .map(|files| {
            files
                .iter()
                .filter_map(|(path, file)| Some((path.strip_prefix(ROOT)?.to_string(), file.clone())))
                .filter(|(path, _)| path != ".keep")
                .collect()
        })
        .unwrap_or_default()
}

/// The hub's record in the zone.
fn hub_record(world: &Value) -> Vec<Value> {
    let records = world["aws"]["accounts"]["hub-dns"]["zones"][0]["records"].as_array().unwrap();
    // A saved world names records as Route53 does, with the trailing dot.
    let named = |r: &&Value| r["name"].as_str().is_some_and(|n| n.trim_end_matches('.') == "hub.example-hub.org");
    let hub = records.iter().find(|r| named(r) && r["type"] == "CNAME").expect("the hub's CNAME");
    hub["values"].as_array().expect("values").clone()
}

/// The load balancer address of the old cluster's `proxy-public` as the
/// rollback recreated it (not `OLD_LB`: that one went with the Service).
fn recreated_lb(world: &Value) -> String {
    let objects = world["clusters"]["hub-old"]["objects"].as_array().unwrap();
    let svc = objects.iter().find(|o| o["kind"] == "Service" && o["metadata"]["name"] == "proxy-public").unwrap();
    let address = svc["status"]["loadBalancer"]["ingress"][0]["hostname"].as_str().unwrap();
    assert_ne!(address, OLD_LB, "a new load balancer, a new address");
    address.to_string()
}

/// `kind/name` of the objects of a cluster.
fn objects(world: &Value, context: &str) -> Vec<String> {
    world["clusters"][context]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or("")))
        .collect()
}

/// The content of a file in a pod of the world.
fn pod_file(world: &Value, context: &str, pod: &str, path: &str) -> Value {
    world["clusters"][context]["files"][pod][path].clone()
}

fn steps(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, status, .. } if status == "ok" => Some(step.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_whole_move_rehearses_on_its_world() {
    let (_dir, outs, stdouts) = chain(&["precopy", "precopy", "cutover", "cleanup"]);
    // The first pass copies everyone (dave after a lost connection); the
    // second what alice and bob did meanwhile, bob's deletion held.
    assert!(stdouts[0].starts_with("copied 6 of 6 users (18 files, 15.5 GB) in 1m21s\n"), "{}", stdouts[0]);
    assert!(stdouts[0].contains("last pass: 1m21s for 15.5 GB over 6 users; expect about that much downtime"));
    assert!(
        stdouts[1].starts_with("copied 5 of 6 users (2 files, 58 bytes) in 1s; deletions held back: [\"bob\"]\n"),
        "{}",
        stdouts[1]
    );
    let after_precopy = load(&outs[1]);
    assert_eq!(hub_record(&after_precopy), [Value::from(OLD_LB)], "a precopy touches no DNS");
    assert!(objects(&after_precopy, "hub-old").contains(&"Service/proxy-public".to_string()));

    // The cutover: bob's deletion past the blast radius is held again in
    // the catch-up pass and made (asked, --yes) in the final one.
    let cutover = &stdouts[2];
    assert!(
        cutover.contains("copied 5 of 6 users (0 files, 0 bytes) in 1s; deletions held back: [\"bob\"]"),
        "{cutover}"
    );
    assert!(cutover.contains("copied 1 of 1 users (0 files, 0 bytes, 1 deleted) in 1s"), "{cutover}");
    assert!(
        cutover.contains(&format!(
            "https://hub.example-hub.org is served by hub-new (answered from {NEW_LB}); downtime: 1m33s"
        )),
        "{cutover}"
    );
    let moved = load(&outs[2]);
    assert_eq!(hub_record(&moved), [Value::from(NEW_LB)]);
    let old = objects(&moved, "hub-old");
    assert!(!old.contains(&"Service/proxy-public".to_string()), "{old:?}");
    assert!(!old.iter().any(|o| o.starts_with("Pod/jupyter-")), "user servers left: {old:?}");
    assert!(old.contains(&"Pod/hub-5d8f9c-old01".to_string()), "the old hub itself stays until the teardown");
    // Every home as on the old server, bob's deletion included.
    let (from, to) = (homes(&moved, "nfs-old"), homes(&moved, "nfs-new"));
    assert_eq!(from, to);
    assert!(!to.contains_key("bob/data/results.h5") && to.contains_key("alice/notebooks/draft.ipynb"), "{to:?}");
    // The database: the old hub's, the new hub's own kept beside it.
    let db = "/srv/jupyterhub/jupyterhub.sqlite";
    assert_eq!(
        pod_file(&moved, "hub-new", "jupyterhub/hub-6e7a1d-new01", db),
        pod_file(&moved, "hub-old", "jupyterhub/hub-5d8f9c-old01", db)
    );
    let new_files = moved["clusters"]["hub-new"]["files"]["jupyterhub/hub-6e7a1d-new01"].as_object().unwrap();
    let kept: Vec<&Value> = new_files.iter().filter(|(p, _)| p.contains(".before-hubops-")).map(|(_, v)| v).collect();
    assert_eq!(kept, [&Value::from("SQLite format 3 users=")]);

    let events = hubops::journal::read(Path::new(&format!("{}.jsonl", outs[2]))).unwrap();
    let done = steps(&events);
    let order = |name: &str| done.iter().position(|s| s == name).unwrap_or_else(|| panic!("no step {name}: {done:?}"));
    assert!(order("catch-up copy") < order("delete proxy-public on the old cluster"));
    assert!(order("delete proxy-public on the old cluster") < order("copy the hub database"));
    assert!(order("user servers on the old cluster are gone") < order("final copy"));
    assert!(order("final copy") < order("hub name -> new ingress"));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Window { name, phase, .. } if name == "downtime" && phase == "close")));

    // The cleanup: the logs and the checklist.
    let cleanup = &stdouts[3];
    assert!(cleanup.contains("The old hub's logs are in hub-move-logs/"), "{cleanup}");
    assert!(cleanup.contains("  [ ] helm uninstall the old hub on hub-old (namespace jupyterhub)"), "{cleanup}");
}

#[test]
fn the_rehearsal_forecasts_the_downtime() {
    let dir = tempfile::tempdir().unwrap();
    let w = |n: &str| dir.path().join(n).display().to_string();
    stage(Test::new(), "precopy", "rehearse", &w("a.yaml")).run().0.status(0);
    let (done, _d) = stage(Test::new(), "cutover", &w("a.yaml"), &w("b.yaml")).run();
    done.status(0);
    assert!(
        done.stderr.contains(&format!(
            "downtime window: 1m33.012s (from `old proxy-public manifest` to `https://hub.example-hub.org is served by {NEW_LB}`)"
        )),
        "{}",
        done.stderr
    );
}

#[test]
fn each_dry_run_plans_what_the_rehearsal_does_and_changes_nothing() {
    let (dir, outs, _) = chain(&["precopy", "precopy", "cutover"]);
    for (name, world) in [("precopy", outs[0].clone()), ("cutover", outs[1].clone()), ("cleanup", outs[2].clone())] {
        let dry = dir.path().join(format!("dry-{name}.yaml")).display().to_string();
        let real = dir.path().join(format!("real-{name}.yaml")).display().to_string();
        let (done, _d) = stage(Test::new(), name, &world, &dry).args(&["--dry-run"]).run();
        done.status(0);
        if name == "cutover" {
            assert!(
                done.stdout.contains("(dry run) https://hub.example-hub.org would move to hub-new"),
                "{}",
                done.stdout
            );
        }
        let (done, _d) = stage(Test::new(), name, &world, &real).run();
        done.status(0);
        let planned = changes(Path::new(&format!("{dry}.jsonl")), "planned");
        let applied = changes(Path::new(&format!("{real}.jsonl")), "applied");
        assert!(!planned.is_empty(), "{name}: the plan is empty");
        assert_eq!(planned, applied, "{name}: the plan differs from what the rehearsal did");
        // Nothing changed: the new server's homes (the old one's change by
        // themselves: users at work), the clusters, the zone.
        let (before, after) = (load(&world), world_of(dir.path(), &format!("dry-{name}.yaml")));
        assert_eq!(homes(&before, "nfs-new"), homes(&after, "nfs-new"), "{name}: the dry run copied");
        assert_eq!(before["clusters"]["hub-old"]["objects"], after["clusters"]["hub-old"]["objects"], "{name}");
        assert_eq!(before["clusters"]["hub-new"]["files"], after["clusters"]["hub-new"]["files"], "{name}");
        assert_eq!(hub_record(&before), hub_record(&after), "{name}");
    }
}

/// The bundled world where carol's folder never copies (rsync exit 12).
fn carol_fails() -> Value {
    let mut world = bundled();
    world["hosts"]["nfs-old"]["faults"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({ "path": format!("{ROOT}carol/"), "status": 12 }));
    world
}

#[test]
fn a_failed_final_copy_stops_before_dns_and_rolls_back_proxy_public() {
    let (done, dir) = Test::new()
        .file("site.yaml", &yaml(&carol_fails()))
        .args(&[
            "run",
            "hub-move",
            "--world",
            "site.yaml",
            "--set",
            "stage=cutover",
            "--yes",
            "--on-failure",
            "rollback",
            "--save-world",
            "after.yaml",
            "--journal",
            "j.jsonl",
        ])
        .run();
    assert_ne!(done.status, 0, "{}", done.stdout);
    let errors = done.errors();
    assert!(errors.contains("the final copy failed for [\"carol\"]"), "{errors}");
    assert!(done.stderr.contains("its load balancer gets a NEW address"), "{}", done.stderr);
    let after = world_of(dir.path(), "after.yaml");
    assert!(objects(&after, "hub-old").contains(&"Service/proxy-public".to_string()), "proxy-public not recreated");
    // The old load balancer went with the Service: the hub's name leads to
    // the recreated one's address, not to a name nobody answers any more.
    assert_eq!(hub_record(&after), [Value::from(recreated_lb(&after))], "the hub name leads to a gone load balancer");
    let events = done.journal("j.jsonl");
    assert!(!steps(&events).contains(&"hub name -> new ingress".to_string()));
}

/// The bundled world with the hub's record as the operator set it by hand.
fn set_by_hand(target: &str) -> Value {
    let mut world = bundled();
    let records = world["aws"]["accounts"]["hub-dns"]["zones"][0]["records"].as_array_mut().unwrap();
    let hub = records.iter_mut().find(|r| r["name"] == "hub.example-hub.org").unwrap();
    hub["values"] = serde_json::json!([target]);
    world
}

fn manual(world: &Value, extra: &[&str]) -> (crate::support::Done, tempfile::TempDir) {
    let mut args = vec![
        "run",
        "hub-move",
        "--world",
        "site.yaml",
        "--set",
        "stage=cutover",
        "--set",
        "dns_mode=manual",
        "--set",
        "copy_homes=false",
        "--set",
        "dns_timeout=3m",
        "--yes",
        "--journal",
        "j.jsonl",
    ];
    args.extend_from_slice(extra);
    Test::new().file("site.yaml", &yaml(world)).args(&args).run()
}

#[test]
fn manual_dns_prints_the_record_asks_and_verifies_propagation() {
    let (done, _dir) = manual(&set_by_hand(NEW_LB), &["--ack", "dns-record"]);
    done.status(0);
    assert!(done.stdout.contains(&format!("  hub.example-hub.org. 60 IN CNAME {NEW_LB}.\n")), "{}", done.stdout);
    assert!(done.stdout.contains("is served by hub-new"), "{}", done.stdout);
    let events = done.journal("j.jsonl");
    let opened: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Target { system, .. } => Some(system.clone()),
            _ => None,
        })
        .collect();
    assert!(!opened.iter().any(|s| s.contains("route53") || s.starts_with("aws")), "{opened:?}");
    assert!(steps(&events)
        .contains(&"hub.example-hub.org resolves to f9e8d7-new.elb.us-east-1.amazonaws.com everywhere".to_string()));

    // Not acknowledged: the run says which --ack answers it.
    let (done, _dir) = manual(&set_by_hand(NEW_LB), &[]);
    assert_ne!(done.status, 0);
    assert!(done.errors().contains("--ack dns-record"), "{}", done.errors());

    // Acknowledged but not done: propagation never comes, and the run says so.
    let (done, _dir) = manual(&bundled(), &["--ack", "dns-record"]);
    assert_ne!(done.status, 0);
    assert!(done.errors().contains("hub.example-hub.org"), "{}", done.errors());
}

#[test]
fn a_rehearsal_where_the_new_server_lacks_the_old_one_s_key_stops_before_any_user() {
    // The seed's step 3 (the transfer key in the old server's
    // authorized_keys) not done: before, a rehearsal copied anyway, as if
    // every host logged in to every other.
    let mut world = bundled();
    world["hosts"]["nfs-old"]["accepts"] = serde_json::json!(["nfs-backup"]);
    let (done, _dir) = Test::new()
        .file("site.yaml", &yaml(&world))
        .args(&["run", "hub-move", "--world", "site.yaml", "--set", "stage=precopy", "--yes"])
        .args(&["--save-world", "after.yaml"])
        .run();
    assert_eq!(done.status, 1, "{}", done.stdout);
    let errors = done.errors();
    let said =
        "`nfs-new` cannot log in to `nfs-old` to copy from it (ssh exit 255): nfs-old: Permission denied (publickey).";
    assert!(errors.contains(said), "{errors}");
    assert!(errors.contains("put that key's public half in `nfs-old`'s authorized_keys"), "{errors}");
    assert!(!done.stderr.contains("alice"), "no user was tried: {}", done.stderr);
}

#[test]
fn a_manual_dns_rollback_prints_the_record_of_the_recreated_load_balancer() {
    // The old load balancer is gone with proxy-public: the rollback names
    // the record that leads to the one made again, not the old address.
    let (done, _dir) = Test::new()
        .file("site.yaml", &yaml(&carol_fails()))
        .args(&["run", "hub-move", "--world", "site.yaml", "--set", "stage=cutover", "--set", "dns_mode=manual"])
        .args(&["--yes", "--on-failure", "rollback"])
        .run();
    assert_ne!(done.status, 0, "{}", done.stdout);
    let record = format!(
        "{OLD_LB} is gone with the old load balancer: set hub.example-hub.org. 60 IN CNAME proxy-public-jupyterhub.lb.world.example. at your DNS provider"
    );
    assert!(done.stderr.contains(&record), "{}", done.stderr);
}

#[test]
fn a_hub_name_that_does_not_point_at_the_old_cluster_is_refused_before_the_downtime() {
    let (done, dir) = Test::new()
        .file("site.yaml", &yaml(&set_by_hand("elsewhere.example.net")))
        .args(&[
            "run",
            "hub-move",
            "--world",
            "site.yaml",
            "--set",
            "stage=cutover",
            "--yes",
            "--save-world",
            "after.yaml",
        ])
        .run();
    assert_ne!(done.status, 0);
    assert!(done.errors().contains("points at elsewhere.example.net"), "{}", done.errors());
    let after = world_of(dir.path(), "after.yaml");
    assert!(objects(&after, "hub-old").contains(&"Service/proxy-public".to_string()));
    assert!(homes(&after, "nfs-new").is_empty(), "copied although refused");
}

#[test]
fn route53_mode_without_a_zone_is_refused_with_what_to_pass() {
    let (done, _dir) =
        Test::new().args(&["run", "hub-move", "--rehearse", "--set", "stage=cutover", "--set", "zone=", "--yes"]).run();
    assert_ne!(done.status, 0);
    assert!(done.errors().contains("--set dns_mode=manual"), "{}", done.errors());
}

#[test]
fn a_precopy_of_active_users_copies_those_the_hub_api_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("w.yaml").display().to_string();
    let (done, _d) = stage(Test::new(), "precopy", "rehearse", &out).args(&["--set", "users=active"]).run();
    done.status(0);
    // Active within 90 days: alice, bob, carol, dave; not erin (a year
    // ago) nor frank (never).
    assert!(done.stdout.starts_with("copied 4 of 4 users"), "{}", done.stdout);
    let users: std::collections::BTreeSet<String> =
        homes(&load(&out), "nfs-new").keys().filter_map(|p| p.split('/').next().map(String::from)).collect();
    assert_eq!(users.into_iter().collect::<Vec<_>>(), ["alice", "bob", "carol", "dave"]);
    // The token never shows.
    assert!(!done.stdout.contains("rehearsal-hub-token") && !done.stderr.contains("rehearsal-hub-token"));
}

#[test]
fn manual_dns_for_an_ingress_with_an_ip_prints_an_a_record() {
    let mut world = set_by_hand("203.0.113.7");
    let services = world["clusters"]["hub-new"]["objects"].as_array_mut().unwrap();
    let svc = services.iter_mut().find(|o| o["kind"] == "Service").unwrap();
    svc["status"]["loadBalancer"]["ingress"] = serde_json::json!([{ "ip": "203.0.113.7" }]);
    let (done, _dir) = manual(&world, &["--ack", "dns-record", "--dry-run"]);
    done.status(0);
    assert!(done.stdout.contains("  hub.example-hub.org. 60 IN A 203.0.113.7\n"), "{}", done.stdout);
}

#[test]
fn dns_that_does_not_propagate_in_time_is_swapped_back_on_rollback() {
    // The second authoritative server sees changes 90 seconds later, 30
    // after Route53 says INSYNC: a 10-second DNS wait fails after the swap.
    let (done, dir) = Test::new()
        .file("site.yaml", &yaml(&bundled()))
        .args(&[
            "run",
            "hub-move",
            "--world",
            "site.yaml",
            "--set",
            "stage=cutover",
            "--set",
            "dns_timeout=10s",
            "--yes",
            "--on-failure",
            "rollback",
            "--save-world",
            "after.yaml",
        ])
        .run();
    assert_ne!(done.status, 0, "{}", done.stdout);
    assert!(done.errors().contains("hub.example-hub.org"), "{}", done.errors());
    let after = world_of(dir.path(), "after.yaml");
    assert!(objects(&after, "hub-old").contains(&"Service/proxy-public".to_string()), "proxy-public not recreated");
    assert_eq!(hub_record(&after), [Value::from(recreated_lb(&after))], "DNS not swapped back to the old cluster");
    assert!(done.stderr.contains("its load balancer gets a NEW address"), "{}", done.stderr);
}

/// Every file under `root` with its content, relative to it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn precopy_pulls_over_real_ssh_from_one_server_to_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let servers = crate::sshd::Servers::start(dir.path());
    let (old, new) = (dir.path().join("old/homes"), dir.path().join("new/homes"));
    std::fs::create_dir_all(&new).unwrap();
    for user in ["alice", "bob"] {
        std::fs::create_dir_all(old.join(format!("{user}/notebooks"))).unwrap();
        std::fs::write(old.join(format!("{user}/notebooks/a.ipynb")), format!("{{\"user\": \"{user}\"}}\n")).unwrap();
    }
    let set = |k: &str, v: String| format!("{k}={v}");
    let params = [
        set("old_host", servers.old.addr.to_string()),
        set("old_port", servers.old.port.to_string()),
        set("old_root", old.display().to_string()),
        set("new_host", servers.new.addr.to_string()),
        set("new_port", servers.new.port.to_string()),
        set("new_root", new.display().to_string()),
        set("identity", servers.identity.display().to_string()),
        set("known_hosts", servers.known_hosts.display().to_string()),
        set("pull_identity", servers.transfer.display().to_string()),
        set("pull_known_hosts", servers.known_hosts.display().to_string()),
    ];
    let mut args = vec![
        "run",
        "hub-move",
        "--yes",
        "--set",
        "stage=precopy",
        "--set",
        "old_context=old",
        "--set",
        "new_context=new",
        "--set",
        "hub_host=hub.example.org",
    ];
    for p in &params {
        args.extend(["--set", p.as_str()]);
    }
    // A dry run itemizes on the real servers and writes nothing.
    let (done, _d) = Test::new().args(&args).args(&["--dry-run"]).run();
    done.status(0);
    assert!(done.stdout.starts_with("would copy 2 of 2 users"), "{}", done.stdout);
    assert!(files(&new).is_empty(), "a dry run wrote");
    let (done, _d) = Test::new().args(&args).run();
    done.status(0);
    assert!(done.stdout.starts_with("copied 2 of 2 users (2 files, "), "{}", done.stdout);
    assert_eq!(files(&old), files(&new));
    std::fs::write(old.join("bob/notebooks/b.ipynb"), "{}\n").unwrap();
    let (done, _d) = Test::new().args(&args).run();
    done.status(0);
    assert!(done.stdout.starts_with("copied 2 of 2 users (1 files, 3 bytes)"), "{}", done.stdout);
    assert_eq!(files(&old), files(&new));
}

/// The `1h2m3s` of `copies::span` in seconds.
fn span_seconds(text: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in text.chars() {
        match c {
            '0'..='9' => n = n * 10 + u64::from(c.to_digit(10).unwrap()),
            'h' => (total, n) = (total + n * 3600, 0),
            'm' => (total, n) = (total + n * 60, 0),
            's' => (total, n) = (total + n, 0),
            _ => panic!("not a span: {text}"),
        }
    }
    total
}

/// A cutover whose final copy fails for carol (every attempt: the catch-up
/// and the final pass, 1 and 3 retries each), then its resume, where her
/// copy fails `more` times before it works; the resume's output, its
/// journal, and the time the first run took the hub down.
fn failed_then_resumed(more: u32) -> (crate::support::Done, Vec<Event>, jiff::Timestamp) {
    let mut world = carol_fails();
    let faults = world["hosts"]["nfs-old"]["faults"].as_array_mut().unwrap();
    faults.last_mut().unwrap()["times"] = (8 + more).into();
    let (done, dir) = Test::new()
        .file("site.yaml", &yaml(&world))
        .args(&["run", "hub-move", "--world", "site.yaml", "--set", "stage=cutover", "--yes"])
        .args(&["--save-world", "after.yaml", "--journal", "j.jsonl"])
        .run();
    assert_ne!(done.status, 0, "{}", done.stdout);
    assert!(done.errors().contains("the final copy failed for [\"carol\"]"), "{}", done.errors());
    let at = |e: &Event| match e {
        Event::StepStart { step, at, .. } if step == "delete proxy-public on the old cluster" => Some(at.clone()),
        _ => None,
    };
    let down = done.journal("j.jsonl").iter().find_map(at).expect("the downtime began").parse().unwrap();
    // The saved world's clock is where the first run stopped.
    let journal = dir.path().join("j.jsonl").display().to_string();
    let again = Test::testkit_in(&dir)
        .args(&["run", "hub-move", "--world", "after.yaml", "--set", "stage=cutover", "--yes"])
        .args(&["--resume", &journal, "--journal", "j2.jsonl"])
        .output();
    again.status(0);
    let events = again.journal("j2.jsonl");
    (again, events, down)
}

#[test]
fn a_resume_tries_a_failed_copy_again_and_hands_back_the_others() {
    // Before, the resume handed back carol's failed attempts from the
    // journal as answers, failed the final copy again without trying her,
    // and could never get past it: "fix what stops them, then --resume"
    // did not work.
    let (again, events, _) = failed_then_resumed(0);
    assert!(again.stdout.contains("copied 3 of 3 users"), "{}", again.stdout);
    let copies = |wanted: &str| {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Change { phase, change, step: Some(step), .. }
                    if phase == wanted && change["verb"] == "copy" && step == "final copy" =>
                {
                    change["target"].as_str().and_then(|t| t.split(':').next()).map(str::to_string)
                }
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    // carol's four failed attempts handed back, then one made that works;
    // the others' copies handed back, not made again.
    assert_eq!(copies("applied"), ["carol"], "{:?}", copies("replayed"));
    let replayed = copies("replayed");
    assert_eq!(replayed.iter().filter(|u| *u == "carol").count(), 4, "{replayed:?}");
    assert!(replayed.iter().any(|u| u != "carol"), "{replayed:?}");
}

#[test]
fn the_downtime_reported_after_a_resume_counts_from_when_it_began_in_the_failed_run() {
    // Before, the resumed run took the downtime's start from its own clock,
    // and reported only its own part of a window users were locked out for
    // since the first run took the hub down.
    let (again, events, down) = failed_then_resumed(0);
    let end: jiff::Timestamp = events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::StepEnd { at: Some(at), .. } => Some(at.clone()),
            _ => None,
        })
        .unwrap()
        .parse()
        .unwrap();
    let printed = again.stdout.split("downtime: ").nth(1).and_then(|r| r.lines().next()).expect("the downtime");
    let whole = u64::try_from(end.duration_since(down).as_secs()).unwrap();
    assert!(
        span_seconds(printed).abs_diff(whole) <= 1,
        "printed {printed}; the window ran {whole} s from the first run's `delete proxy-public` to the resumed run's end"
    );
}

#[test]
fn a_resumed_copy_that_fails_again_backs_off_from_the_start() {
    // Four attempts handed back (the earlier run gave up after them), then
    // a new one that fails: the waits are the first backoff (30 s; after
    // the last handed-back attempt, less the time since it ended), not the
    // fifth and sixth of the earlier series (8m, 16m).
    let (again, _, _) = failed_then_resumed(1);
    assert!(again.stdout.contains("copied 3 of 3 users"), "{}", again.stdout);
    let waits: Vec<&str> = again.stderr.lines().filter(|l| l.contains("before trying carol again")).collect();
    assert_eq!(waits.len(), 2, "{}", again.stderr);
    let first = waits[0].split("Waited ").nth(1).and_then(|r| r.split(' ').next()).unwrap_or_default();
    let seconds: f64 = first.strip_suffix('s').and_then(|n| n.parse().ok()).unwrap_or(f64::MAX);
    assert!(seconds <= 30.0, "{}", waits[0]);
    assert!(waits[1].contains("Waited 30s before trying carol again"), "{}", waits[1]);
}
