//! Rehearsals that tell the truth about time: the same world and parameters
//! give the same journal and the same virtual end, also under `parallel`;
//! and that end is what the site would take.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use hubops::journal::Event;

use crate::support::Test;

/// The CAE world with `users` home volumes on blue instead of three: one
/// gp2 volume, in-tree PV and bound claim per user, alternating between two
/// availability zones. Everything else (clusters, zone, timings) is
/// worlds/cae.yaml's.
pub(crate) fn cae_with_users(users: usize) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("worlds/cae.yaml")).expect("worlds/cae.yaml");
    let mut world: Value = serde_norway::from_str(&text).expect("cae world");
    let objects = world["clusters"]["cae-blue"]["objects"].as_array_mut().expect("blue objects");
    objects.retain(|o| !matches!(o["kind"].as_str(), Some("PersistentVolumeClaim" | "PersistentVolume")));
    let mut volumes = Vec::new();
    for i in 0..users {
        let user = format!("user{i:03}");
        let az = ["us-west-2a", "us-west-2b"][i % 2];
        let volume = format!("vol-{i:017x}");
        let pv = format!("pvc-{i:04}");
        objects.push(serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": { "name": format!("claim-{user}"), "namespace": "daskhub", "labels": { "hub.jupyter.org/username": user } },
            "spec": { "accessModes": ["ReadWriteOnce"], "storageClassName": "gp2", "volumeName": pv, "resources": { "requests": { "storage": "10Gi" } } },
            "status": { "phase": "Bound" },
        }));
        objects.push(serde_json::json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": { "name": pv },
            "spec": {
                "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"], "storageClassName": "gp2",
                "persistentVolumeReclaimPolicy": "Delete",
                "awsElasticBlockStore": { "volumeID": format!("aws://{az}/{volume}"), "fsType": "ext4" },
                "claimRef": { "namespace": "daskhub", "name": format!("claim-{user}") },
            },
            "status": { "phase": "Bound" },
        }));
        volumes.push(serde_json::json!({ "id": volume, "az": az, "size": 10, "type": "gp2", "state": "in-use" }));
    }
    world["aws"]["accounts"]["cae"]["volumes"] = Value::Array(volumes);
    serde_norway::to_string(&world).expect("world as yaml")
}

/// A journal with what differs between two runs of the same rehearsal
/// taken out: wall-clock fields (`started`, `duration_ms` of steps and of
/// the run), the run id (made from the wall clock) and what is derived from
/// it (idempotency tokens, change-key digests, which hash a change's
/// arguments and so the token), each replaced by its order of first
/// appearance, so a different order still shows; and the scratch folder
/// the run was made in.
fn normalized(dir: &Path, journal: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(journal)).expect("journal");
    let folder = dir.display().to_string();
    let lines: Vec<&str> = text.lines().collect();
    let first: Value = serde_json::from_str(lines[0]).expect("run_start");
    let run_id = first["data"]["run_id"].as_str().expect("run id").to_string();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut rename = |word: &str, prefix: &str| {
        let n = seen.len();
        seen.entry(word.to_string()).or_insert_with(|| format!("{prefix}{n}")).clone()
    };
    lines
        .iter()
        .map(|line| {
            let line = line.replace(&run_id, "RUN").replace(&folder, "DIR");
            // Tokens: `hubops-` and 32 hex digits; keys: `RUN/STEP/N/DIGEST`.
            let mut out = String::with_capacity(line.len());
            let mut rest = line.as_str();
            while !rest.is_empty() {
                if let Some(token) = rest.strip_prefix("hubops-").filter(|r| hex_run(r) >= 32) {
                    out.push_str(&rename(&token[..32], "TOKEN"));
                    rest = &token[32..];
                } else if let Some(key) = rest.strip_prefix("RUN/") {
                    let parts: Vec<&str> = key.splitn(3, '/').collect();
                    if parts.len() == 3 && hex_run(parts[2]) >= 16 {
                        out.push_str(&format!("RUN/{}/{}/{}", parts[0], parts[1], rename(&parts[2][..16], "DIGEST")));
                        rest = &parts[2][16..];
                    } else {
                        out.push_str("RUN/");
                        rest = key;
                    }
                } else {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            let mut event: Value = serde_json::from_str(&out).expect("event");
            // A wait's `duration_ms` is on the run's clock: it stays.
            if event["type"] != "wait" {
                let data = event["data"].as_object_mut().expect("data");
                data.remove("started");
                data.remove("duration_ms");
            }
            event
        })
        .collect()
}

fn hex_run(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_hexdigit).count()
}

fn run_end(events: &[Value]) -> &Value {
    events.iter().rev().find(|e| e["type"] == "run_end").map(|e| &e["data"]).expect("run_end")
}

/// The case: 400 users, 16 at a time, 20 runs. Every run succeeds,
/// every journal is the same but for wall-clock fields, and the virtual end
/// is what the site would take: the 400 snapshots run concurrently (12
/// minutes), then 25 rounds of 16 one-minute volume creations.
#[test]
fn the_400_user_home_volume_rehearsal_gives_one_journal_and_one_end_time() {
    let world = cae_with_users(400);
    let mut first: Option<Vec<Value>> = None;
    for i in 0..20 {
        let (done, dir) = Test::new()
            .file("cae-400.yaml", &world)
            .args(&[
                "run",
                "cae-home-volumes",
                "--world",
                "cae-400.yaml",
                "--set",
                "parallel=16",
                "--journal",
                "j.jsonl",
            ])
            .run();
        done.status(0);
        let events = normalized(dir.path(), "j.jsonl");
        let end = run_end(&events);
        assert_eq!(end["status"], "succeeded", "run {i}");
        assert_eq!(end["clock"], "2026-11-21T06:37:00Z", "run {i}: 12m of snapshots, then 25 one-minute rounds");
        assert_eq!(end["clock_ms"], 37 * 60 * 1000, "run {i}");
        assert_eq!(end["applied"], 1600, "run {i}: a snapshot, a volume, a PV and a PVC per user");
        match &first {
            None => first = Some(events),
            Some(expected) => {
                assert_eq!(events.len(), expected.len(), "run {i}: a different number of events");
                for (n, (got, want)) in events.iter().zip(expected).enumerate() {
                    assert_eq!(got, want, "run {i}: event {n} differs from the first run's");
                }
            }
        }
    }
}

/// The lines a rehearsal ends with, from `Forecast` on.
fn forecast(stderr: &str) -> String {
    let start = stderr.find("    Forecast").unwrap_or_else(|| panic!("no forecast in:\n{stderr}"));
    stderr[start..].to_string()
}

/// The CAE cutover on its world: users log off by 9m, then the two record
/// changes (a minute each to INSYNC), the second name server's two minutes,
/// and green answering: the forecast says so, and the journal has each
/// step's virtual time and the window.
#[test]
fn the_cae_cutover_rehearsal_forecasts_its_window() {
    let (done, dir) = Test::new()
        .args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--yes", "--journal", "j.jsonl"])
        .args(&["--ack", "cognito-blue", "--ack", "cognito-green"])
        .run();
    done.status(0);
    assert_eq!(
        forecast(&done.stderr),
        "    Forecast 12m of virtual time on the world's clock
             5 no active users on blue: 9m
             7 legacy.cal-adapt.org -> blue: 1m
             8 hub.cal-adapt.org -> green: 1m
             10 hub.cal-adapt.org resolves to d4e5f6-green.elb.us-west-2.amazonaws.com everywhere: 1m
             cutover window: 3m (from `legacy.cal-adapt.org -> blue` to `https://hub.cal-adapt.org is served by d4e5f6-green.elb.us-west-2.amazonaws.com`)
"
    );
    let events = done.journal("j.jsonl");
    let clock_ms: Vec<(String, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepEnd { step, clock_ms, .. } => Some((step.clone(), *clock_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(clock_ms[4], ("no active users on blue".to_string(), Some(9 * 60_000)));
    assert!(clock_ms.iter().all(|(_, ms)| ms.is_some()), "every step has its virtual time: {clock_ms:?}");
    let windows: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::Window { .. })).collect();
    assert_eq!(
        windows[1],
        &Event::Window {
            name: "cutover".into(),
            phase: "close".into(),
            at: "2026-11-21T06:12:00Z".into(),
            status: Some("ok".into()),
            clock_ms: Some(180_000),
            from: Some("legacy.cal-adapt.org -> blue".into()),
            to: Some("https://hub.cal-adapt.org is served by d4e5f6-green.elb.us-west-2.amazonaws.com".into()),
        }
    );
    drop(dir);
}

/// Every bundled runbook's rehearsal says how long it took on the world's
/// clock, and the window it marks.
#[test]
fn every_bundled_runbook_rehearsal_prints_its_forecast() {
    let cases: [(&[&str], &str); 4] = [
        (&["cae-blue-green", "--set", "stage=prepare"], "    Forecast 2m of virtual time on the world's clock\n"),
        (&["cae-blue-green", "--set", "stage=cleanup"], "    Forecast 0s of virtual time on the world's clock\n"),
        (
            &["cae-home-volumes"],
            "    Forecast 22m of virtual time on the world's clock
             4 no user servers on blue: 9m
             8 snapshots complete: 12m
             9 create gp3 volumes: 1m
             homes frozen window: 13m (from `snapshot volumes` to `claims bound on green`)
",
        ),
        (
            &["hub-health"],
            "    Forecast 2m of virtual time on the world's clock\n             1 hub answers /hub/health: 2m\n",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        all.extend(["--rehearse", "--yes"]);
        let (done, _dir) = Test::new().args(&all).run();
        done.status(0);
        let got = forecast(&done.stderr);
        assert!(got.starts_with(expected), "{args:?}:\n{got}");
        if args[0] == "cae-home-volumes" {
            assert_eq!(got, expected);
        }
    }
}

/// A dry run plans; its clock moves only where a script sleeps, so it
/// forecasts nothing.
#[test]
fn a_dry_run_prints_no_forecast() {
    let (done, _dir) =
        Test::new().args(&["run", "cae-blue-green", "--rehearse", "--set", "stage=cutover", "--dry-run"]).run();
    done.status(0);
    assert!(!done.stderr.contains("Forecast"), "{}", done.stderr);
}
