//! The live Kubernetes path: the real binary, through kube-rs, against the
//! test API server of `hubops_tests::kube_api` on a loopback port, with a
//! kubeconfig written into the test's scratch folder.

use hubops_tests::kube_api::{FakeApi, Recorded};
use serde_json::{json, Value};

use crate::support::Test;

fn objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "daskhub"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nublado2-alice"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nublado2-bob"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy-public", "namespace": "daskhub"},
               "spec": {"type": "LoadBalancer"},
               "status": {"loadBalancer": {"ingress": [{"hostname": "blue-lb.elb.amazonaws.com"}]}}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-alice", "namespace": "daskhub", "labels": {"component": "singleuser-server"}}, "status": {"phase": "Running"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-bob", "namespace": "daskhub", "labels": {"component": "singleuser-server"}}, "status": {"phase": "Pending"}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hub-0", "namespace": "daskhub", "labels": {"component": "hub"}}, "status": {"phase": "Running"}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hub", "namespace": "daskhub"}, "spec": {"replicas": 1}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "daskhub", "namespace": "argocd"}, "spec": {"project": "default"}}),
    ]
}

fn test(api: &FakeApi, script: &str) -> Test {
    Test::new()
        .file("kubeconfig", &api.kubeconfig(&["blue", "green"]))
        .file("t.rhai", script)
        .env("KUBECONFIG", "kubeconfig")
        .args(&["run", "t.rhai", "--journal", "j.jsonl"])
}

#[test]
fn reads_speak_the_api() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster("blue");
let green = k8s::cluster("green");
print(`${blue} ${green} ${blue.server == green.server}`);
let users = blue.list("po", "daskhub", #{ labels: "component=singleuser-server" });
print(users.map(|p| p.metadata.name));
print(blue.list("pods", "daskhub", #{ labels: #{ component: "singleuser-server" }, fields: "status.phase=Running" }).len());
print(blue.get("svc", "daskhub", "proxy-public").status.loadBalancer.ingress[0].hostname);
print(blue.list("ns", ()).filter(|n| n.metadata.name.starts_with("nublado2-")).map(|n| n.metadata.name));
print(blue.exists("pod", "daskhub", "hub-0"));
print(blue.exists("pod", "daskhub", "nobody"));
print(blue.get("applications.argoproj.io", "argocd", "daskhub").spec.project);
print(blue.get("deployments.apps", "daskhub", "hub").kind);
print(blue.logs("daskhub", "hub-0"));
try { blue.get("pod", "daskhub", "nobody"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.get("gizmos", "daskhub", "x"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.get("pod", "", "hub-0"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.get("ns", "daskhub", "x"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#,
    )
    .run();
    done.status(0).stdout(
        "Cluster(blue) Cluster(green) true
[\"jupyter-alice\", \"jupyter-bob\"]
1
blue-lb.elb.amazonaws.com
[\"nublado2-alice\", \"nublado2-bob\"]
true
false
default
Deployment
log of hub-0

NotFound: pods \"nobody\" not found
NotFound: the server doesn't have a resource type `gizmos`
Usage: `pod` is namespaced: give a namespace
Usage: `namespace` is cluster-scoped: give \"\" or () as its namespace, not `daskhub`
",
    );
    let lists: Vec<_> = api.requests().into_iter().filter(|r| r.path == "/api/v1/namespaces/daskhub/pods").collect();
    assert_eq!(lists[0].query.get("labelSelector").map(String::as_str), Some("component=singleuser-server"));
    assert_eq!(lists[1].query.get("fieldSelector").map(String::as_str), Some("status.phase=Running"));
}

const WRITES: &str = r#"
let blue = k8s::cluster("blue");
let cm = blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "cutover", namespace: "daskhub" }, data: #{ state: "started" } });
print(cm.data.state);
let docs = blue.apply(`
apiVersion: v1
kind: ConfigMap
metadata: { name: one, namespace: daskhub }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: two }
`);
print(docs.map(|d| `${d.metadata.namespace}/${d.metadata.name}`));
blue.create(#{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "restore" } });
blue.patch("deploy", "daskhub", "hub", #{ metadata: #{ labels: #{ cutover: "yes" } } });
blue.patch("deploy", "daskhub", "hub", [#{ op: "replace", path: "/spec/replicas", value: 2 }], #{ type: "json" });
blue.scale("deploy", "daskhub", "hub", 0);
blue.delete("svc", "daskhub", "proxy-public");
print(blue.delete_all("pods", "daskhub", #{ labels: "component=singleuser-server" }));
for ns in blue.list("ns", ()).filter(|n| n.metadata.name.starts_with("nublado2-")) {
    blue.delete("ns", (), ns.metadata.name);
}
print(blue.delete("pod", "daskhub", "nobody", #{ ignore_not_found: true }));
"#;

#[test]
fn writes_apply_and_change_the_server() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(&api, WRITES).args(&["--yes"]).run();
    done.status(0).stdout(
        "started
[\"daskhub/one\", \"default/two\"]
[\"jupyter-alice\", \"jupyter-bob\"]
false
",
    );
    let names: Vec<String> = api
        .objects()
        .iter()
        .map(|o| format!("{} {}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            "Namespace daskhub",
            "Pod hub-0",
            "Application daskhub",
            "ConfigMap cutover",
            "ConfigMap one",
            "ConfigMap two",
            "Namespace restore",
            "Deployment hub"
        ]
    );
    let hub = api.objects().into_iter().find(|o| o["kind"] == "Deployment").unwrap();
    assert_eq!(hub["spec"]["replicas"], 0);
    assert_eq!(hub["metadata"]["labels"]["cutover"], "yes");
    // The run's own Lease comes first (tests/e2e/leases.rs); then the changes.
    let writes: Vec<_> =
        api.requests().into_iter().filter(Recorded::is_write).filter(|w| !w.path.contains("/leases")).collect();
    assert!(writes.iter().all(|w| !w.dry_run()), "{writes:?}");
    let apply = &writes[0];
    assert_eq!(
        (apply.method.as_str(), apply.path.as_str()),
        ("PATCH", "/api/v1/namespaces/daskhub/configmaps/cutover")
    );
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert_eq!(apply.query.get("fieldManager").map(String::as_str), Some("hubops"));
}

#[test]
fn a_dry_run_sends_every_write_with_dry_run_all_and_changes_nothing() {
    let api = FakeApi::start(objects());
    let before = api.objects();
    let (done, _dir) = test(&api, WRITES).args(&["--dry-run"]).run();
    done.status(0);
    assert_eq!(api.objects(), before);
    let writes: Vec<_> = api.requests().into_iter().filter(Recorded::is_write).collect();
    assert_eq!(writes.len(), 11, "{writes:#?}");
    for w in &writes {
        assert!(w.dry_run(), "{} {} was sent without dryRun=All", w.method, w.path);
    }
    assert!(done.stderr.contains("Would delete namespace nublado2-alice"), "{}", done.stderr);
    assert!(done.stderr.contains("11 changes (4 destructive); nothing was changed"), "{}", done.stderr);
}

#[test]
fn a_dry_run_records_only_reads_and_dry_run_writes_and_runs_nothing_in_pods() {
    let api = FakeApi::start(objects());
    api.put_file("daskhub", "hub-0", "/srv/db", "users");
    let before = api.objects();
    let script = format!(
        "{WRITES}{}",
        r#"
print(blue.exec("daskhub", "hub-0", ["rm", "/srv/db"]).planned);
print(blue.copy("daskhub", "hub-0", "/srv/db", blue, "daskhub", "hub-0", "/srv/copy").planned);
print(argocd::sync_app(blue, "argocd", "daskhub").pending);
"#
    );
    let (done, _dir) = test(&api, &script).args(&["--dry-run"]).run();
    done.status(0);
    assert!(done.stdout.ends_with("false\ntrue\ntrue\ntrue\n"), "{}", done.stdout);
    assert_eq!(api.objects(), before);
    assert_eq!(api.file("daskhub", "hub-0", "/srv/db").as_deref(), Some("users"));
    assert_eq!(api.file("daskhub", "hub-0", "/srv/copy"), None);
    let requests = api.requests();
    assert!(!requests.iter().any(|r| r.path.ends_with("/exec")), "a dry run ran a command: {requests:#?}");
    let writes: Vec<&Recorded> = requests.iter().filter(|r| r.is_write()).collect();
    assert_eq!(writes.len(), 12, "{writes:#?}");
    for w in writes {
        assert!(w.dry_run(), "{} {} was sent without dryRun=All", w.method, w.path);
    }
}

#[test]
fn refusals_carry_the_api_status() {
    let api = FakeApi::start(objects());
    api.forbid("/secrets");
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster("blue");
for m in [
    #{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "daskhub" } },
    #{ apiVersion: "v1", kind: "Secret", metadata: #{ name: "token", namespace: "daskhub" } },
    #{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "invalid-name", namespace: "daskhub" } },
] {
    try { blue.create(m); } catch (e) { print(`${e.kind} ${e.gate}: ${e.message}: ${e.causes[0]}`); }
}
try { blue.delete("pod", "daskhub", "hub-0", #{ preconditions: #{ uid: "other" } }); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { blue.patch("pod", "daskhub", "nobody", #{}); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
"#,
    )
    .args(&["--yes"])
    .run();
    done.status(0).stdout(
        "Conflict Refused: create namespace daskhub failed: namespaces \"daskhub\" already exists
Forbidden Refused: create secret daskhub/token failed: secrets is forbidden: User \"tester\" cannot post resource \"secrets\"
Invalid Refused: create configmap daskhub/invalid-name failed: ConfigMap \"invalid-name\" is invalid: metadata.name: Invalid value: \"invalid-name\": rejected by the test server
Conflict: Precondition failed: UID in precondition: other, UID in object meta: uid-7
NotFound: pods \"nobody\" not found
",
    );
}

#[test]
fn a_dry_run_reports_what_the_server_would_refuse() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster("blue");
blue.create(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "invalid-x", namespace: "daskhub" } });
"#,
    )
    .args(&["--dry-run"])
    .run();
    done.status(1);
    assert!(
        done.stderr.contains("Would fail create configmap daskhub/invalid-x: ConfigMap \"invalid-x\" is invalid"),
        "{}",
        done.stderr
    );
    assert!(api.requests().into_iter().filter(Recorded::is_write).all(|r| r.dry_run()));
}

#[test]
fn a_wait_closure_may_call_bindings_live() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster();
let again = k8s::cluster();
print(blue.wait("pod", "daskhub", "hub-0", |p| again.exists("ns", (), "daskhub") && p.status.phase == "Running").metadata.name);
"#,
    )
    .run();
    done.status(0).stdout("hub-0\n");
}

#[test]
fn waits_watch_the_object() {
    let api = FakeApi::start(objects());
    api.on_next_watch(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-bob", "namespace": "daskhub", "labels": {"component": "singleuser-server"}},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}));
    api.delete_on_next_watch(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "proxy-public", "namespace": "daskhub"}}),
    );
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster();
let pod = blue.wait("pod", "daskhub", "jupyter-bob", "Ready", #{ timeout: "1m" });
print(pod.status.phase);
print(blue.wait("svc", "daskhub", "proxy-public", "deleted", #{ timeout: "1m" }) == ());
print(blue.wait("pod", "daskhub", "hub-0", |p| p.status.phase == "Running"));
try { blue.wait("pod", "daskhub", "jupyter-alice", "deleted", #{ timeout: "1s" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#,
    )
    .run();
    done.status(0);
    assert!(done.stdout.starts_with("Running\ntrue\n#{\"apiVersion\": \"v1\""), "{}", done.stdout);
    assert!(done.stdout.ends_with("Timeout: pod daskhub/jupyter-alice not deleted after 1s\n"), "{}", done.stdout);
    let watches: Vec<_> = api.requests().into_iter().filter(|r| r.query.contains_key("watch")).collect();
    assert!(!watches.is_empty());
    assert_eq!(watches[0].query.get("fieldSelector").map(String::as_str), Some("metadata.name=jupyter-bob"));
}

#[test]
fn unknown_contexts_and_unreachable_servers_are_named() {
    let api = FakeApi::start(Vec::new());
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = format!(
        "{}- name: dead\n  context:\n    cluster: dead\n    user: tester\n",
        api.kubeconfig(&["blue"]).replace(
            "clusters:\n",
            &format!("clusters:\n- name: dead\n  cluster:\n    server: http://127.0.0.1:{dead}\n")
        )
    );
    let (done, _dir) = Test::new()
        .file("kc", &config)
        .file("t.rhai", "try { k8s::cluster(\"purple\"); } catch (e) { print(e.message); }\nk8s::cluster(\"dead\");\n")
        .args(&["run", "t.rhai", "--kubeconfig", "kc", "--journal", "j.jsonl"])
        .run();
    done.status(1);
    assert_eq!(done.stdout, "no kube context `purple` (contexts: `blue`, `dead`)\n");
    let first = done.errors().lines().find(|l| l.starts_with("error")).unwrap_or_default().to_string();
    assert_eq!(first, format!("error: the API server of context `dead` at `http://127.0.0.1:{dead}` is unreachable"));
}

#[test]
fn exec_and_verified_copies_over_the_exec_websocket() {
    let mut objects = objects();
    objects.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hub-new", "namespace": "jupyterhub"}, "status": {"phase": "Running"}}));
    let api = FakeApi::start(objects);
    let pods = tempfile::tempdir().unwrap();
    api.pods_in(pods.path());
    // The test server's pods are folders of this machine: scripts name
    // their files by the folder's path.
    api.put_file("daskhub", "hub-0", "/srv/jupyterhub/jupyterhub.sqlite", "SQLite format 3 users=alice");
    api.put_file("jupyterhub", "hub-new", "/srv/jupyterhub/.keep", "");
    api.put_file("jupyterhub", "hub-new", "/tmp/.keep", "");
    let db = api.pod_path("daskhub", "hub-0", "/srv/jupyterhub/jupyterhub.sqlite");
    let new_db = api.pod_path("jupyterhub", "hub-new", "/srv/jupyterhub/jupyterhub.sqlite");
    let again = api.pod_path("jupyterhub", "hub-new", "/tmp/again.sqlite");
    let (done, dir) = test(
        &api,
        &format!(
            r#"
let blue = k8s::cluster("blue");
let green = k8s::cluster("green");
let db = "{db}";
let r = blue.exec("daskhub", "hub-0", ["cat", db], #{{ container: "hub" }});
print(`${{r.status}} ${{r.stdout}}`);
let r = blue.exec("daskhub", "hub-0", "cat /nope");
print(`${{r.status}} ${{r.stderr}}`);
let copied = blue.copy("daskhub", "hub-0", db, green, "jupyterhub", "hub-new", "{new_db}");
print(copied.bytes);
let got = blue.copy_from("daskhub", "hub-0", db, "local.sqlite");
let put = green.copy_to("local.sqlite", "jupyterhub", "hub-new", "{again}");
print(got.sha256 == put.sha256 && got.sha256 == copied.sha256);
try {{ blue.exec("daskhub", "nobody", ["true"]); }} catch (e) {{ print(`${{e.kind}}: ${{e.causes[0]}}`); }}
"#
        ),
    )
    .args(&["--yes"])
    .run();
    done.status(0).stdout(
        "0 SQLite format 3 users=alice
1 cat: /nope: No such file or directory

27
true
NotFound: pods \"nobody\" not found
",
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("local.sqlite")).unwrap(), "SQLite format 3 users=alice");
    assert_eq!(
        api.file("jupyterhub", "hub-new", "/srv/jupyterhub/jupyterhub.sqlite").as_deref(),
        Some("SQLite format 3 users=alice")
    );
    assert_eq!(
        api.file("jupyterhub", "hub-new", "/srv/jupyterhub/jupyterhub.sqlite.hubops-incoming"),
        None,
        "moved into place"
    );
    assert_eq!(api.file("jupyterhub", "hub-new", "/tmp/again.sqlite").as_deref(), Some("SQLite format 3 users=alice"));
    let first = api.requests().into_iter().find(|r| r.path.ends_with("/exec")).unwrap();
    assert_eq!(first.query.get("container").map(String::as_str), Some("hub"));
}

#[test]
fn a_dry_run_runs_no_command() {
    let api = FakeApi::start(objects());
    api.put_file("daskhub", "hub-0", "/srv/db", "x");
    let (done, _dir) = test(&api, "let blue = k8s::cluster(\"blue\");\nprint(blue.exec(\"daskhub\", \"hub-0\", [\"rm\", \"/srv/db\"]).planned);\n")
        .args(&["--dry-run"])
        .run();
    done.status(0).stdout("true\n");
    assert_eq!(api.file("daskhub", "hub-0", "/srv/db").as_deref(), Some("x"));
    assert!(!api.requests().iter().any(|r| r.path.ends_with("/exec")));
}

#[test]
fn custom_resources_apply_through_discovery_and_logs_take_options() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(
        &api,
        r#"
let blue = k8s::cluster("blue");
let app = blue.apply(#{ apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: #{ name: "green", namespace: "argocd" }, spec: #{ project: "cutover" } });
print(app.spec.project);
print(blue.list("app", "argocd").map(|a| a.metadata.name));
print(blue.logs("daskhub", "hub-0", #{ container: "hub", tail: 10 }));
"#,
    )
    .args(&["--yes"])
    .run();
    done.status(0).stdout("cutover\n[\"daskhub\", \"green\"]\nlog of hub-0\n\n");
    let requests = api.requests();
    let apply = requests.iter().find(|r| r.method == "PATCH").unwrap();
    assert_eq!(apply.path, "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/green");
    let logs = requests.iter().find(|r| r.path.ends_with("/log")).unwrap();
    assert_eq!(
        (logs.query.get("container").map(String::as_str), logs.query.get("tailLines").map(String::as_str)),
        (Some("hub"), Some("10"))
    );
}

#[test]
fn the_test_server_binds_claims_to_the_volumes_they_name_like_the_pv_controller() {
    let api = FakeApi::start(objects());
    let (done, _dir) = test(
        &api,
        r#"
let c = k8s::cluster("blue");
let pv = |name, claim| #{ apiVersion: "v1", kind: "PersistentVolume", metadata: #{ name: name },
    spec: #{ capacity: #{ storage: "1Gi" }, claimRef: claim } };
let pvc = |name, volume| #{ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: #{ name: name, namespace: "daskhub" },
    spec: #{ volumeName: volume, resources: #{ requests: #{ storage: "1Gi" } } } };
c.apply(pv.call("pv-a", #{ namespace: "daskhub", name: "claim-a" }));
c.apply(pv.call("pv-b", #{ namespace: "daskhub", name: "someone-else" }));
c.apply(pvc.call("claim-a", "pv-a"));
c.apply(pvc.call("claim-b", "pv-b"));
c.apply(pvc.call("claim-c", "pv-c"));
print(c.get("pvc", "daskhub", "claim-c").status?.phase ?? "unbound");
c.apply(pv.call("pv-c", ()));
print(c.wait("pvc", "daskhub", "claim-a", "Bound", #{ timeout: "1s" }).status.phase);
print(c.get("pv", "", "pv-a").status.phase);
print(c.get("pvc", "daskhub", "claim-b").status?.phase ?? "unbound");
print(`${c.get("pvc", "daskhub", "claim-c").status.phase} ${c.get("pv", "", "pv-c").spec.claimRef.name}`);
"#,
    )
    .args(&["--yes"])
    .run();
    done.status(0).stdout("unbound\nBound\nBound\nunbound\nBound claim-c\n");
}
