//! Faults a world injects (its `faults:` section, or `--faults FILE`): one
//! test per kind, showing what the runbook meets, and one per bundled
//! runbook that rehearses its main failure path with a fault.

use serde_json::Value;

use crate::support::{read, Test};

const BLUE: &str = "a1b2c3-blue.elb.us-west-2.amazonaws.com";

fn cae_record(dir: &std::path::Path, file: &str, name: &str) -> Option<Vec<String>> {
    let world: Value = serde_norway::from_str(&read(dir, file)).expect("saved world");
    world["aws"]["accounts"]["cae"]["zones"][0]["records"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
        .map(|r| r["values"].as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect())
}

/// The CAE cutover with `faults` injected from a file, rolling back on
/// failure, the world saved as `after.yaml`.
fn cutover_with(faults: &str) -> (crate::support::Done, tempfile::TempDir) {
    Test::new()
        .file("faults.yaml", faults)
        .args(&[
            "run",
            "cae-blue-green",
            "--rehearse",
            "--set",
            "stage=cutover",
            "--yes",
            "--on-failure",
            "rollback",
            "--faults",
            "faults.yaml",
            "--save-world",
            "after.yaml",
        ])
        .args(&["--ack", "cognito-blue", "--ack", "cognito-green", "--ack", "cognito-revert"])
        .run()
}

#[test]
fn route53_throttling_stops_the_cutover_at_its_first_record() {
    let (done, dir) = cutover_with("inject: [{ kind: route53-throttle, zone: cal-adapt.org }]\n");
    done.status(1);
    assert!(
        done.stderr.contains("error: upsert CNAME legacy.cal-adapt.org. in zone `cal-adapt.org.` failed\n"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("caused by: ChangeResourceRecordSets: Throttling: Rate exceeded\n"),
        "{}",
        done.stderr
    );
    assert_eq!(cae_record(dir.path(), "after.yaml", "legacy.cal-adapt.org."), None, "nothing was made");
    assert_eq!(cae_record(dir.path(), "after.yaml", "hub.cal-adapt.org."), Some(vec![BLUE.to_string()]));
}

#[test]
fn a_change_stuck_pending_times_out_its_wait() {
    let (done, dir) = cutover_with("inject: [{ kind: route53-pending, zone: cal-adapt.org, for: 20m }]\n");
    done.status(1);
    assert!(
        done.stderr.contains("error: CNAME legacy.cal-adapt.org. change INSYNC: still PENDING after 5m\n"),
        "{}",
        done.stderr
    );
    // Route53's API has the record at once; DNS has it only when the
    // change is no longer held, and the hub was never swapped.
    assert_eq!(cae_record(dir.path(), "after.yaml", "legacy.cal-adapt.org."), Some(vec![BLUE.to_string()]));
    assert_eq!(cae_record(dir.path(), "after.yaml", "hub.cal-adapt.org."), Some(vec![BLUE.to_string()]));
    let saved = read(dir.path(), "after.yaml");
    assert!(saved.contains("stuck: 20m"), "the saved world keeps the change held: {saved}");
    assert!(!saved.contains("route53-pending"), "the fault is used up");
}

#[test]
fn an_ec2_error_fails_the_call_it_names() {
    let (done, _dir) = Test::new()
        .file(
            "faults.yaml",
            "inject: [{ kind: aws-error, operation: CreateSnapshot, code: SnapshotCreationPerVolumeRateExceeded, message: \"The maximum per volume CreateSnapshot request rate has been exceeded. Use an increasing or variable sleep interval between requests.\", target: vol-0b0b }]\n",
        )
        .args(&["run", "cae-home-volumes", "--rehearse", "--faults", "faults.yaml"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("caused by: CreateSnapshot: SnapshotCreationPerVolumeRateExceeded: The maximum per volume CreateSnapshot request rate has been exceeded. Use an increasing or variable sleep interval between requests.\n"), "{}", done.stderr);
    assert!(
        done.stderr.contains("error: parallel: item 1 (`#{\"az\": \"us-west-2b\""),
        "bob's volume: {}",
        done.stderr
    );
}

const HOMES: &str = r"
name: homes
start: 2026-11-21T06:00:00Z
hosts:
  nfs-old:
    files:
      /export/homes/alice/a.ipynb: '{}'
      /export/homes/bob/b.ipynb: '{}'
      /export/homes/carol/c.ipynb: '{}'
faults:
  inject:
    - { kind: rsync-exit, match: alice, exit: 24 }
    - { kind: rsync-exit, match: bob, exit: 23 }
";

/// rsync's exit 24 (files vanished while copying, as on a home a user still
/// writes to) copies the rest and says so; 23 is rsync's error.
#[test]
fn rsync_exits_as_the_fault_says_for_one_user() {
    let (done, _dir) = Test::new()
        .file("homes.yaml", HOMES)
        .file(
            "r.rhai",
            r#"for u in ["alice", "bob", "carol"] {
                try {
                    let r = sh::rsync(`nfs-old:/export/homes/${u}/`, `/new/homes/${u}/`);
                    print(`${u}: status ${r.status}, ${r.files} files`);
                } catch (e) { print(`${u}: ${e.kind}: ${e.message}`); }
            }"#,
        )
        .args(&["run", "r.rhai", "--world", "homes.yaml"])
        .run();
    done.status(0).stdout(
        "alice: status 24, 1 files
bob: Failed: `rsync` exited with status 23: rsync error: some files/attrs were not transferred (see previous errors) (code 23)
carol: status 0, 1 files
",
    );
}

const ARGO: &str = r"
name: argo
start: 2026-11-21T06:00:00Z
clusters:
  green:
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: argocd}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: nublado, namespace: argocd}
        spec: {project: default, source: {repoURL: 'https://github.com/lsst-sqre/phalanx', path: applications/nublado}}
        status: {sync: {status: OutOfSync}, health: {status: Healthy}}
faults:
  inject:
    - { kind: argocd-sync-fails, app: argocd/nublado, message: 'one or more objects failed to apply, reason: admission webhook denied the request' }
";

/// The first sync fails as the fault says; the second, the fault used up,
/// succeeds.
#[test]
fn argo_cds_first_sync_fails() {
    let (done, _dir) = Test::new()
        .file("argo.yaml", ARGO)
        .file(
            "a.rhai",
            r#"let green = k8s::cluster("green");
            argocd::sync_app(green, "argocd", "nublado");
            try { argocd::wait(green, "argocd", "nublado"); } catch (e) { print(`${e.kind}: ${e.message}`); }
            argocd::sync_app(green, "argocd", "nublado");
            print(argocd::wait(green, "argocd", "nublado").sync_status);"#,
        )
        .args(&["run", "a.rhai", "--world", "argo.yaml"])
        .run();
    done.status(0);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert!(
        lines[0].contains("one or more objects failed to apply, reason: admission webhook denied the request"),
        "{}",
        done.stdout
    );
    assert_eq!(lines[1], "Synced");
}

/// A pod that never finishes terminating: deleted, it stays with a
/// `deletionTimestamp`, and a wait for it to go times out.
#[test]
fn a_pod_that_never_terminates_stays_terminating() {
    let (done, _dir) = Test::new()
        .file(
            "f.yaml",
            "inject: [{ kind: pod-never-terminates, context: cae-blue, namespace: daskhub, pod: jupyter-bob }]\n",
        )
        .file(
            "p.rhai",
            r#"let blue = k8s::cluster("cae-blue");
            blue.delete("pod", "daskhub", "jupyter-bob");
            let pod = blue.get("pod", "daskhub", "jupyter-bob");
            print(`${pod.metadata.deletionTimestamp} ${pod.status.phase}`);
            blue.wait("pod", "daskhub", "jupyter-bob", "deleted", #{ timeout: "2m" });"#,
        )
        .args(&["run", "p.rhai", "--world", "cae", "--faults", "f.yaml", "--yes"])
        .run();
    done.status(1);
    assert_eq!(done.stdout, "2026-11-21T06:00:00Z Running\n");
    assert!(done.stderr.contains("error: pod daskhub/jupyter-bob not deleted after 2m"), "{}", done.stderr);
}

/// An API server down for the first three minutes: the first calls fail
/// as a dead server's would; a retry after it is back gets through.
#[test]
fn an_api_server_unreachable_for_a_while() {
    let (done, _dir) = Test::new()
        .file("f.yaml", "faults:\n  inject: [{ kind: api-unreachable, context: cae-green, after: 1m, for: 3m }]\n")
        .file(
            "u.rhai",
            r#"let green = k8s::cluster("cae-green");
            for i in 0..6 {
                try { green.get("deploy", "jupyterhub", "hub"); print(`${now()}: up`); }
                catch (e) { print(`${now()}: ${e.kind}: ${e.message}`); }
                sleep("1m");
            }"#,
        )
        .args(&["run", "u.rhai", "--world", "cae", "--faults", "f.yaml"])
        .run();
    done.status(0).stdout(
        "2026-11-21T06:00:00Z: up
2026-11-21T06:01:00Z: Unreachable: the API server of context `cae-green` at `https://6EE.yl4.us-west-2.eks.amazonaws.com` is unreachable
2026-11-21T06:02:00Z: Unreachable: the API server of context `cae-green` at `https://6EE.yl4.us-west-2.eks.amazonaws.com` is unreachable
2026-11-21T06:03:00Z: Unreachable: the API server of context `cae-green` at `https://6EE.yl4.us-west-2.eks.amazonaws.com` is unreachable
2026-11-21T06:04:00Z: up
2026-11-21T06:05:00Z: up
",
    );
}

/// `probability` draws from the seed: the same seed strikes the same
/// calls in every run, another seed others.
#[test]
fn a_seed_makes_random_faults_reproducible() {
    let strikes = |seed: u64| {
        let faults = format!("seed: {seed}\ninject: [{{ kind: aws-error, operation: DescribeVolumes, code: RequestLimitExceeded, message: Request limit exceeded., probability: 0.5 }}]\n");
        let (done, _dir) = Test::new()
            .file("f.yaml", &faults)
            .file(
                "v.rhai",
                r#"let ec2 = aws::account(#{ profile: "cae", region: "us-west-2" }).ec2();
                let seen = "";
                for i in 0..24 { try { ec2.volume("vol-0a11ce"); seen += "."; } catch (e) { seen += "x"; } }
                print(seen);"#,
            )
            .args(&["run", "v.rhai", "--world", "cae", "--faults", "f.yaml"])
            .run();
        done.status(0);
        done.stdout
    };
    let first = strikes(42);
    assert_eq!(first, strikes(42));
    assert_ne!(first, strikes(43));
    assert!(first.contains('x') && first.contains('.'), "{first}");
}

#[test]
fn faults_need_a_world_and_are_checked() {
    let (done, _dir) = Test::new()
        .file("f.yaml", "inject: []\n")
        .args(&["run", "hub-health", "--set", "hub=https://hub.example.org", "--faults", "f.yaml"])
        .run();
    done.status(2);
    assert!(
        done.stderr.contains("error: `--faults` injects faults into a rehearsal, and this run is live"),
        "{}",
        done.stderr
    );
    let (done, _dir) = Test::new()
        .file("f.yaml", "inject: [{ kind: aws-error, operation: CreateVolumes, code: X }]\n")
        .args(&["run", "hub-health", "--rehearse", "--faults", "f.yaml"])
        .run();
    done.status(2);
    assert!(
        done.stderr
            .contains("fault 1: `CreateVolumes` is not an operation the world answers (did you mean `CreateVolume`?)"),
        "{}",
        done.stderr
    );
}

// The bundled runbooks' main failure paths, each brought about by a fault.

/// cae-blue-green: green's health fails after the swap; the cutover rolls
/// back, and the hub points at blue again.
#[test]
fn cae_cutover_rolls_back_when_green_fails_its_health_check_after_the_swap() {
    let (done, dir) = cutover_with(
        "inject: [{ kind: http-status, url: 'https://hub.cal-adapt.org/hub/health', status: 502, body: 502 Bad Gateway, after: 10m }]\n",
    );
    done.status(1);
    assert!(
        done.stderr
            .contains("error: `https://hub.cal-adapt.org/hub/health` at d4e5f6-green.elb.us-west-2.amazonaws.com did not answer 200 within 10m (last: status 502)"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("Rolling back hub.cal-adapt.org -> green\n"), "{}", done.stderr);
    assert!(done.stderr.contains("cutover window: 13m until the run failed"), "{}", done.stderr);
    assert_eq!(cae_record(dir.path(), "after.yaml", "hub.cal-adapt.org."), Some(vec![BLUE.to_string()]));
    assert_eq!(cae_record(dir.path(), "after.yaml", "legacy.cal-adapt.org."), None);
}

/// cae-home-volumes: EC2 refuses a volume; the run stops, and resuming it
/// (the fault used up) makes the volumes without a second snapshot.
#[test]
fn cae_home_volumes_resumes_after_ec2_refuses_a_volume() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cae = std::fs::read_to_string(root.join("worlds/cae.yaml")).unwrap();
    let (done, dir) = Test::new()
        .file("site.yaml", &cae)
        .file(
            "f.yaml",
            "inject: [{ kind: aws-error, operation: CreateVolume, code: VolumeLimitExceeded, message: You have exceeded your maximum gp3 storage limit of 50 TiB in this region. }]\n",
        )
        .args(&[
            "run", "cae-home-volumes", "--world", "site.yaml", "--save-world", "site.yaml", "--faults", "f.yaml",
            "--journal", "first.jsonl",
        ])
        .run();
    done.status(1);
    assert!(done.stderr.contains("caused by: CreateVolume: VolumeLimitExceeded: You have exceeded your maximum gp3 storage limit of 50 TiB in this region.\n"), "{}", done.stderr);
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
        .args([
            "run",
            "cae-home-volumes",
            "--world",
            "site.yaml",
            "--save-world",
            "site.yaml",
            "--resume",
            "first.jsonl",
        ])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{stderr}");
    assert!(stderr.contains("Skipping 7 snapshot volumes (finished in run"), "{stderr}");
    let world: Value = serde_norway::from_str(&read(dir.path(), "site.yaml")).unwrap();
    let account = &world["aws"]["accounts"]["cae"];
    assert_eq!(account["snapshots"].as_array().unwrap().len(), 3, "no second snapshot");
    let gp3 = account["volumes"].as_array().unwrap().iter().filter(|v| v["type"] == "gp3").count();
    assert_eq!(gp3, 3);
}

/// hub-health: the hub answers 503 through the whole wait; the check fails
/// with the last status it saw.
#[test]
fn hub_health_fails_when_the_hub_never_answers_healthy() {
    let (done, _dir) = Test::new()
        .file("f.yaml", "inject: [{ kind: http-status, url: 'https://hub.example.org/hub/health', status: 503, body: Service Unavailable }]\n")
        .args(&["run", "hub-health", "--rehearse", "--faults", "f.yaml"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains("error: https://hub.example.org/hub/health is not healthy after 5m (last: status 503)"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("    Forecast 5m of virtual time on the world's clock\n"), "{}", done.stderr);
}

/// The rsp world after `prepare-enable`, ready for the `enable` window.
fn rsp_before_enable() -> String {
    let (done, dir) = Test::new()
        .args(&[
            "run",
            "nublado-migration",
            "--rehearse",
            "--yes",
            "--set",
            "stage=prepare-enable",
            "--save-world",
            "w.yaml",
        ])
        .run();
    done.status(0);
    read(dir.path(), "w.yaml")
}

/// The `enable` window on the rsp world with science-platform's sync
/// failing twice (the runbook retries a failed sync once), rolling back on
/// failure, the world saved as `after.yaml`.
fn enable_with_failing_sync() -> (crate::support::Done, tempfile::TempDir) {
    Test::new()
        .file("w.yaml", &rsp_before_enable())
        .file(
            "faults.yaml",
            "inject:\n  - { kind: argocd-sync-fails, app: argocd/science-platform, times: 2, message: 'one or more objects failed to apply, reason: admission webhook denied the request' }\n",
        )
        .args(&["run", "nublado-migration", "--world", "w.yaml", "--yes", "--set", "stage=enable"])
        .args(&["--faults", "faults.yaml", "--on-failure", "rollback", "--save-world", "after.yaml"])
        .run()
}

fn rsp_object<'a>(world: &'a Value, kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    world["clusters"]["idfdev"]["objects"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name)
}

/// nublado-migration: Argo CD's sync of science-platform fails, and fails
/// again when retried; the window fails and its rollbacks (made inside the
/// stdlib's functions) run: nublado2's hub is synced back and mobu's
/// flocks run again.
#[test]
fn nublado_enable_rolls_back_when_argo_cds_sync_fails_twice() {
    let (done, dir) = enable_with_failing_sync();
    done.status(1);
    assert!(
        done.stderr.contains("error: the sync of Argo CD application `science-platform` in namespace `argocd` failed: one or more objects failed to apply"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("so it is tried once more"), "{}", done.stderr);
    for step in [
        "disable logins: delete the hub of nublado2",
        "silence mobu complaints",
        "suspend Argo CD automated sync of nublado2",
    ] {
        assert!(done.stderr.contains(&format!("Rolling back {step}\n")), "{step}:\n{}", done.stderr);
    }
    assert!(!done.stderr.contains("rollback of"), "every rollback runs:\n{}", done.stderr);
    let world: Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).expect("saved world");
    assert!(rsp_object(&world, "Deployment", "nublado2", "hub").is_some(), "nublado2's hub is back");
}

/// The same failure also gives nublado2 its automated sync back.
#[test]
fn nublado_enable_rollback_resumes_argo_cds_automated_sync() {
    let (done, dir) = enable_with_failing_sync();
    done.status(1);
    assert!(!done.stderr.contains("must be undone"), "{}", done.stderr);
    let world: Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).expect("saved world");
    let app = rsp_object(&world, "Application", "argocd", "nublado2").expect("nublado2's Application");
    assert_eq!(app["metadata"]["annotations"]["hubops.dev/suspended-auto-sync"], Value::Null, "{app}");
    assert!(app["spec"]["syncPolicy"]["automated"]["selfHeal"] == true, "{app}");
}

/// A rollback closure made inside a module's function is one of the
/// module's functions: the rollback, run after the script ended, finds it.
#[test]
fn a_rollback_made_inside_a_module_function_runs() {
    let (done, _dir) = Test::new()
        .file("m.rhai", "fn hold(name) {\n    step(`hold ${name}`, || 1, || print(`released ${name}`));\n}\n")
        .file("r.rhai", "import \"m\" as m;\nm::hold(\"a\");\nstep(\"fails\", || fail(\"boom\"));\n")
        .args(&["--path", ".", "run", "r.rhai", "--on-failure", "rollback"])
        .run();
    done.status(1);
    assert_eq!(done.stdout, "released a\n", "{}", done.stderr);
}
