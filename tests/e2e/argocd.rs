//! `argocd::` - Argo CD applications through their custom resource: on a
//! world (the simulated controller completes syncs in virtual time as the
//! world's `argocd:` section says; the nublado migration's syncs of
//! `science-platform`, `nublado`, `nublado2` and `mobu`), and live against
//! the test API server (discovery of `applications.argoproj.io`, the
//! `operation` patch with `dryRun=All` in a dry run, the watch of a wait).

use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::support::{read, Test};

const WORLD: &str = r#"
name: phalanx
start: 2026-11-21T06:00:00Z
clusters:
  green:
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: argocd}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado2}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: science-platform, namespace: argocd}
        spec:
          project: default
          source: {repoURL: "https://github.com/lsst-sqre/phalanx", path: environments, targetRevision: main}
          destination: {namespace: argocd}
        status: {sync: {status: OutOfSync, revision: aaa111}, health: {status: Healthy}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: nublado2, namespace: argocd}
        spec:
          project: default
          source:
            repoURL: "https://github.com/lsst-sqre/phalanx"
            path: applications/nublado2
            helm: {parameters: [{name: global.host, value: rsp.example}]}
          destination: {namespace: nublado2}
        status: {sync: {status: Synced, revision: aaa111}, health: {status: Healthy}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: mobu, namespace: argocd}
        spec: {project: default, source: {repoURL: "https://github.com/lsst-sqre/phalanx", path: applications/mobu}}
        status: {sync: {status: OutOfSync}, health: {status: Healthy}}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: gafaelfawr, namespace: argocd}
        spec: {project: default, source: {repoURL: "https://github.com/lsst-sqre/phalanx", path: applications/gafaelfawr}}
      - apiVersion: v1
        kind: ConfigMap
        metadata: {name: old-config, namespace: nublado2, labels: {app.kubernetes.io/instance: nublado2}}
argocd:
  green:
    argocd/science-platform:
      sync_time: 20s
      revision: bbb222
      desired:
        - {apiVersion: v1, kind: Namespace, metadata: {name: nublado}}
        - apiVersion: argoproj.io/v1alpha1
          kind: Application
          metadata: {name: nublado, namespace: argocd}
          spec:
            project: default
            source: {repoURL: "https://github.com/lsst-sqre/phalanx", path: applications/nublado}
            destination: {namespace: nublado}
    argocd/nublado:
      sync_time: 1m
      desired:
        - apiVersion: apps/v1
          kind: Deployment
          metadata: {name: hub}
          spec: {replicas: 1}
    argocd/nublado2:
      desired:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: hub-config}, data: {baseUrl: /n2}}
    argocd/mobu:
      sync_time: 10m
    argocd/gafaelfawr:
      fails: "one or more synchronization tasks completed unsuccessfully"
"#;

fn world_test(script: &str) -> Test {
    Test::new().file("world.yaml", WORLD).file("t.rhai", script).args(&["run", "t.rhai", "--world", "world.yaml"])
}

#[test]
fn the_nublado_syncs_complete_on_a_world_in_virtual_time() {
    let script = r#"
let green = k8s::cluster("green");
let sp = argocd::app(green, "argocd", "science-platform");
print(`${sp.name} ${sp.sync_status} ${sp.health} ${sp.revision} ${sp.source.path}`);
let s = argocd::sync_app(green, "argocd", "science-platform");
print(`${s.pending} ${s.operation}`);
let s = argocd::wait(green, "argocd", "science-platform");
print(`${s.sync_status} ${s.health} ${s.revision} ${s.operation} ${s.pending} at ${now()}`);
argocd::sync_app(green, "argocd", "nublado");
let n = argocd::wait(green, "argocd", "nublado", #{ timeout: "2m" });
print(`${n.sync_status} ${n.revision}`);
print(green.get("deploy", "nublado", "hub").metadata.labels);
argocd::set_helm_parameters(green, "argocd", "nublado2", #{ "jupyterhub.hub.baseUrl": "/n2" });
print(argocd::app(green, "argocd", "nublado2").source.helm.parameters.map(|p| `${p.name}=${p.value}`));
argocd::set_helm_values(green, "argocd", "nublado2", #{ jupyterhub: #{ hub: #{ baseUrl: "/n2" } } });
print(green.get("applications.argoproj.io", "argocd", "nublado2").spec.source.helm.valuesObject);
argocd::sync_app(green, "argocd", "nublado2", #{ prune: true, revision: "ccc333" });
let n2 = argocd::wait(green, "argocd", "nublado2");
print(`${n2.revision} ${green.exists("cm", "nublado2", "old-config")} ${green.get("cm", "nublado2", "hub-config").data.baseUrl}`);
print(argocd::apps(green, "argocd").map(|a| `${a.name}:${a.sync_status}`));
"#;
    let (done, _dir) = world_test(script).run();
    done.status(0).stdout(
        r#"science-platform OutOfSync Healthy aaa111 environments
true Running
Synced Healthy bbb222 Succeeded false at 2026-11-21T06:00:20Z
Synced HEAD
#{"app.kubernetes.io/instance": "nublado"}
["global.host=rsp.example", "jupyterhub.hub.baseUrl=/n2"]
#{"jupyterhub": #{"hub": #{"baseUrl": "/n2"}}}
ccc333 false /n2
["science-platform:Synced", "nublado2:Synced", "mobu:OutOfSync", "gafaelfawr:Unknown", "nublado:Synced"]
"#,
    );
    assert!(done.stderr.contains("Applying sync application argocd/science-platform\n"), "{}", done.stderr);
}

#[test]
fn refusals_timeouts_and_failures_have_exact_texts() {
    let script = r#"
let green = k8s::cluster("green");
try { argocd::app(green, "argocd", "nublado3"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { argocd::sync_app(green, "argocd", "nublado3"); } catch (e) { print(`${e.kind}: ${e.message}`); }
argocd::sync_app(green, "argocd", "mobu");
try { argocd::sync_app(green, "argocd", "mobu"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { argocd::wait(green, "argocd", "mobu"); } catch (e) { print(`${e.kind}: ${e.message}`); }
print(argocd::wait(green, "argocd", "mobu", #{ timeout: "10m" }).sync_status);
argocd::sync_app(green, "argocd", "gafaelfawr");
try { argocd::wait(green, "argocd", "gafaelfawr"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { argocd::wait(green, "argocd", "mobu", #{ healty: true }); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) = world_test(script).run();
    done.status(0).stdout(
        "NotFound: Argo CD application `nublado3` not found in namespace `argocd` of cluster `green`
NotFound: Argo CD application `nublado3` not found in namespace `argocd` of cluster `green`
Conflict: sync application argocd/mobu failed
Timeout: application argocd/mobu not synced and healthy after 5m
Synced
Failed: the sync of Argo CD application `gafaelfawr` in namespace `argocd` failed: one or more synchronization tasks completed unsuccessfully
Invalid: `argocd::wait` has no option `healty` (options: synced, healthy, timeout); did you mean `healthy`?
",
    );
}

#[test]
fn a_dry_run_sync_is_checked_and_changes_nothing() {
    let script = r#"
let green = k8s::cluster("green");
let s = argocd::sync_app(green, "argocd", "science-platform", #{ prune: true });
print(`${s.pending}`);
let w = argocd::wait(green, "argocd", "science-platform");
print(`${w.sync_status} ${w.pending}`);
print(green.exists("ns", (), "nublado"));
"#;
    let (done, _dir) = world_test(script).args(&["--dry-run"]).run();
    done.status(0).stdout("true\nOutOfSync false\nfalse\n");
    assert!(done.stderr.contains("Would sync application argocd/science-platform\n"), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("Would wait for application argocd/science-platform to be synced and healthy (timeout 5m)"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_dry_run_sync_leaves_the_saved_world_identical() {
    let script = r#"
let green = k8s::cluster("green");
argocd::sync_app(green, "argocd", "science-platform", #{ prune: true });
argocd::set_helm_parameters(green, "argocd", "science-platform", #{ "global.host": "rsp2.example" });
argocd::wait(green, "argocd", "science-platform");
"#;
    let (done, dir) = world_test(script).args(&["--dry-run", "--save-world", "dry.yaml"]).run();
    done.status(0);
    let (untouched, same) = world_test("k8s::cluster(\"green\");").args(&["--save-world", "same.yaml"]).run();
    untouched.status(0);
    pretty_assertions::assert_eq!(read(dir.path(), "dry.yaml"), read(same.path(), "same.yaml"));
}

#[test]
fn a_world_saved_mid_sync_finishes_it_when_run_again() {
    let (done, dir) = world_test("argocd::sync_app(k8s::cluster(\"green\"), \"argocd\", \"mobu\");")
        .args(&["--save-world", "after.yaml"])
        .run();
    done.status(0);
    let saved = read(dir.path(), "after.yaml");
    let reloaded: Value = serde_norway::from_str(&saved).unwrap();
    let original: Value = serde_norway::from_str(WORLD).unwrap();
    assert_eq!(reloaded["argocd"], original["argocd"]);
    let script = r#"
let green = k8s::cluster("green");
print(argocd::app(green, "argocd", "mobu").operation);
print(argocd::wait(green, "argocd", "mobu", #{ timeout: "10m" }).sync_status);
"#;
    let (done, _dir) = Test::new()
        .file("world.yaml", &saved)
        .file("t.rhai", script)
        .args(&["run", "t.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout("Running\nSynced\n");
}

fn live_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}}),
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "nublado", "namespace": "argocd"},
               "spec": {"project": "default", "source": {"repoURL": "https://github.com/lsst-sqre/phalanx", "path": "applications/nublado"}},
               "status": {"sync": {"status": "OutOfSync", "revision": "aaa111"}, "health": {"status": "Healthy"}}}),
    ]
}

fn live_test(api: &FakeApi, script: &str) -> Test {
    Test::new()
        .file("kubeconfig", &api.kubeconfig(&["green"]))
        .env("KUBECONFIG", "kubeconfig")
        .file("t.rhai", script)
        .args(&["run", "t.rhai"])
}

const LIVE_SYNC: &str = r#"
let green = k8s::cluster("green");
print(argocd::app(green, "argocd", "nublado").sync_status);
let s = argocd::sync_app(green, "argocd", "nublado", #{ prune: true, revision: "bbb222" });
print(s.pending);
"#;

#[test]
fn live_sync_patches_the_operation_found_by_discovery() {
    let api = FakeApi::start(live_objects());
    let (done, _dir) = live_test(&api, LIVE_SYNC).run();
    done.status(0).stdout("OutOfSync\ntrue\n");
    let patch = api.requests().into_iter().find(|r| r.method == "PATCH").expect("a patch");
    assert_eq!(patch.path, "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/nublado");
    assert!(patch.content_type.starts_with("application/merge-patch+json"), "{}", patch.content_type);
    assert!(!patch.dry_run());
    assert_eq!(
        serde_json::from_str::<Value>(&patch.body).unwrap(),
        json!({"operation": {"initiatedBy": {"username": "hubops"}, "sync": {"prune": true, "revision": "bbb222", "syncStrategy": {"hook": {}}}}})
    );
    let app = api.objects().into_iter().find(|o| o["kind"] == "Application").unwrap();
    assert_eq!(app["operation"]["sync"]["revision"], json!("bbb222"));
}

#[test]
fn live_dry_run_sync_is_the_api_servers_dry_run() {
    let api = FakeApi::start(live_objects());
    let (done, _dir) = live_test(&api, LIVE_SYNC).args(&["--dry-run"]).run();
    done.status(0).stdout("OutOfSync\ntrue\n");
    let writes: Vec<_> = api.requests().into_iter().filter(hubops_tests::kube_api::Recorded::is_write).collect();
    assert_eq!(writes.len(), 1);
    assert!(writes[0].dry_run());
    let app = api.objects().into_iter().find(|o| o["kind"] == "Application").unwrap();
    assert!(app.get("operation").is_none());
}

#[test]
fn live_sync_refused_by_the_server_has_exact_texts() {
    let script = r#"
try { argocd::sync_app(k8s::cluster("green"), "argocd", "nublado"); } catch (e) { print(`${e.kind} ${e.gate}: ${e.message}: ${e.causes[0]}`); }
try { argocd::app(k8s::cluster("green"), "argocd", "nublado3"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let api = FakeApi::start(live_objects());
    api.forbid("applications");
    let (done, _dir) = live_test(&api, script).args(&["--dry-run"]).run();
    done.status(0).stdout(
        "Forbidden WouldFail: sync application argocd/nublado failed: applications \"nublado\" is forbidden: User \"tester\" cannot patch resource \"applications\"
NotFound: Argo CD application `nublado3` not found in namespace `argocd` of cluster `green`
",
    );
    let (done, _dir) = live_test(&api, script).run();
    done.status(0).stdout(
        "Forbidden Refused: sync application argocd/nublado failed: applications \"nublado\" is forbidden: User \"tester\" cannot patch resource \"applications\"
NotFound: Argo CD application `nublado3` not found in namespace `argocd` of cluster `green`
",
    );
}

#[test]
fn live_wait_follows_the_watch_until_synced_and_healthy() {
    let api = FakeApi::start(live_objects());
    let mut synced = live_objects()[1].clone();
    synced["status"]["sync"] = json!({"status": "Synced", "revision": "bbb222"});
    synced["status"]["operationState"] = json!({"phase": "Succeeded"});
    api.on_next_watch(synced);
    let script = r#"
let w = argocd::wait(k8s::cluster("green"), "argocd", "nublado", #{ timeout: "1m" });
print(`${w.sync_status} ${w.health} ${w.revision} ${w.operation}`);
"#;
    let (done, _dir) = live_test(&api, script).run();
    done.status(0).stdout("Synced Healthy bbb222 Succeeded\n");
    assert!(api.requests().iter().any(|r| r.query.get("watch").is_some_and(|w| w == "true" || w == "1")));
}

#[test]
fn an_operation_set_by_other_means_is_picked_up_by_the_world_controller() {
    let script = r#"
let green = k8s::cluster("green");
green.patch("applications.argoproj.io", "argocd", "nublado2", #{ operation: #{ "sync": #{ revision: "ddd444" } } });
let n2 = argocd::wait(green, "argocd", "nublado2");
print(`${n2.sync_status} ${n2.revision} ${n2.pending} ${green.get("cm", "nublado2", "hub-config").data.baseUrl}`);
"#;
    let (done, _dir) = world_test(script).run();
    done.status(0).stdout("Synced ddd444 false /n2\n");
}

#[test]
fn live_wait_times_out_with_the_exact_text() {
    let api = FakeApi::start(live_objects());
    let script = r#"
try { argocd::wait(k8s::cluster("green"), "argocd", "nublado", #{ timeout: "1s" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { argocd::wait(k8s::cluster("green"), "argocd", "nublado3"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) = live_test(&api, script).run();
    done.status(0).stdout(
        "Timeout: application argocd/nublado not synced and healthy after 1s
NotFound: Argo CD application `nublado3` not found in namespace `argocd` of cluster `green`
",
    );
}

#[test]
fn the_reference_covers_every_argocd_and_helm_function_with_an_example() {
    let (done, _dir) = Test::new().args(&["docs"]).run();
    done.status(0);
    for (family, names) in [
        ("argocd", &["app", "apps", "sync_app", "wait", "set_helm_parameters", "set_helm_values"][..]),
        ("helm", &["releases", "release", "values", "history", "upgrade", "rollback", "decode"][..]),
    ] {
        let prefix = format!("`{family}::");
        let sections: Vec<&str> = done.stdout.split("\n### ").filter(|s| s.starts_with(&prefix)).collect();
        for name in names {
            assert!(
                sections.iter().any(|s| s.starts_with(&format!("{prefix}{name}("))),
                "`{family}::{name}` is not in the reference"
            );
        }
        for section in sections {
            assert!(section.contains("```rhai"), "no example in {section}");
        }
    }
}

#[test]
fn on_a_world_the_kind_resolves_from_the_crd_alone() {
    let world = r"
name: empty argo
clusters:
  green:
    objects:
      - apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: applications.argoproj.io}
        spec:
          group: argoproj.io
          scope: Namespaced
          names: {kind: Application, plural: applications, singular: application, shortNames: [app, apps]}
          versions: [{name: v1alpha1}]
  red:
    objects: []
";
    let script = r#"
print(argocd::apps(k8s::cluster("green"), "argocd"));
try { argocd::app(k8s::cluster("green"), "argocd", "nublado"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { argocd::apps(k8s::cluster("red"), "argocd"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) = Test::new()
        .file("world.yaml", world)
        .file("t.rhai", script)
        .args(&["run", "t.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout(
        "[]
NotFound: Argo CD application `nublado` not found in namespace `argocd` of cluster `green`
NotFound: the server doesn't have a resource type `applications.argoproj.io`
",
    );
}
