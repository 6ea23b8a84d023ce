//! A live run holds a Kubernetes Lease (`hubops-lock`) in each namespace it
//! changes, so that two operators on two machines (local locks cannot see
//! each other) do not collide: against the test API server, a second run
//! is refused with the holder's name, a dead run's Lease is taken over, and
//! `--break-lock` breaks a live one after asking.

use std::time::{Duration, Instant};

use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::support::Test;

const WRITE: &str = r#"let blue = k8s::cluster("blue");
step("one", || blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "a", namespace: "daskhub" }, data: #{ k: "1" } }));
step("two", || blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "b", namespace: "daskhub" }, data: #{ k: "2" } }));
"#;

fn api() -> FakeApi {
    FakeApi::start(vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}})])
}

fn lease(api: &FakeApi) -> Option<Value> {
    api.objects().into_iter().find(|o| o["kind"] == "Lease" && o["metadata"]["name"] == "hubops-lock")
}

/// A run "on another machine": its own scratch folder, so its own local locks.
fn run_on(api: &FakeApi, extra: &[&str]) -> Test {
    let mut args = vec!["run", "w.rhai", "--journal", "j.jsonl"];
    args.extend_from_slice(extra);
    Test::new()
        .file("kubeconfig", &api.kubeconfig(&["blue"]))
        .file("w.rhai", WRITE)
        .env("KUBECONFIG", "kubeconfig")
        .args(&args)
}

#[test]
fn a_second_run_on_another_machine_is_refused_with_the_holders_name() {
    let api = api();
    let first = run_on(&api, &[]).env("HUBOPS_PAUSE_AT", "step-start:2:3000");
    let mut child =
        first.command().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while lease(&api).is_none() {
        assert!(Instant::now() < deadline, "the first run took no lease");
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = lease(&api).unwrap();
    assert_eq!(held["metadata"]["namespace"], "daskhub");
    let holder = held["spec"]["holderIdentity"].as_str().unwrap().to_string();
    let (second, dir) = run_on(&api, &[]).run();
    second.status(1);
    assert!(
        second.stderr.contains(&format!("`lease k8s/blue daskhub` is held by run `{holder}` by ")),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("pass --break-lock if that run is gone"), "{}", second.stderr);
    let journal = crate::support::read(dir.path(), "j.jsonl");
    assert!(journal.contains("\"action\":\"refused\""), "{journal}");
    assert!(child.wait().unwrap().success());
    assert!(lease(&api).is_none(), "released at the end");
    let names: Vec<String> = api
        .objects()
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(names, ["a", "b"], "the second run changed nothing");
}

fn foreign_lease(renewed: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "hubops-lock", "namespace": "daskhub", "annotations": {"hubops.io/operator": "ops@elsewhere"}},
        "spec": {"holderIdentity": "20261130T060000Z-w-dead", "leaseDurationSeconds": 60, "acquireTime": "2026-11-30T06:00:00.000000Z", "renewTime": renewed}
    })
}

#[test]
fn a_dead_runs_lease_is_taken_over_and_a_live_one_needs_break_lock() {
    let api = FakeApi::start(vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}}),
        foreign_lease("2026-11-30T06:00:00.000000Z"),
    ]);
    let (done, dir) = run_on(&api, &[]).run();
    done.status(0);
    let journal = crate::support::read(dir.path(), "j.jsonl");
    assert!(journal.contains("\"action\":\"taken_over\""), "{journal}");
    assert!(journal.contains("20261130T060000Z-w-dead"), "the journal names whose lease it took: {journal}");

    let fresh = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let api = FakeApi::start(vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}}),
        foreign_lease(&fresh),
    ]);
    let (done, _dir) = run_on(&api, &[]).run();
    done.status(1);
    assert!(done.stderr.contains("is held by run `20261130T060000Z-w-dead` by ops@elsewhere"), "{}", done.stderr);
    // --break-lock asks; no terminal and no --yes: refused.
    let (done, _dir) = run_on(&api, &["--break-lock"]).run();
    done.status(1);
    assert!(done.stderr.contains("is held by run `20261130T060000Z-w-dead`"), "{}", done.stderr);
    let (done, dir) = run_on(&api, &["--break-lock", "--yes"]).run();
    done.status(0);
    let journal = crate::support::read(dir.path(), "j.jsonl");
    assert!(journal.contains("\"action\":\"broken\""), "{journal}");
}

#[test]
fn dry_runs_and_rehearsals_take_no_lease() {
    let api = api();
    let (done, _dir) = run_on(&api, &["--dry-run"]).run();
    done.status(0);
    assert!(api.requests().iter().all(|r| !r.path.contains("/leases")), "a dry run touched no Lease");
}
