//! The `k8s::` bindings on a world: every binding, and a runbook snippet for
//! each kubectl command the seed runbooks use, run by the real binary on the
//! world below (virtual time, nothing real touched).

use crate::support::{read, Test};

const WORLD: &str = r#"
name: blue and green
start: 2026-11-21T06:00:00Z
clusters:
  blue:
    current: true
    server: https://blue.eks.example
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: daskhub}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado2-alice}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado2-bob}}
      - {apiVersion: v1, kind: Namespace, metadata: {name: nublado-carol}}
      - {apiVersion: v1, kind: ConfigMap, metadata: {name: lab, namespace: nublado2-alice}}
      - apiVersion: v1
        kind: Service
        metadata: {name: proxy-public, namespace: daskhub}
        spec: {type: LoadBalancer}
        status: {loadBalancer: {ingress: [{hostname: blue-1234.us-west-2.elb.amazonaws.com}]}}
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: hub, namespace: daskhub}
        spec: {replicas: 1, selector: {matchLabels: {component: hub}}}
        status: {conditions: [{type: Available, status: "True"}]}
      - apiVersion: v1
        kind: Pod
        metadata: {name: hub-7d9f-abcde, namespace: daskhub, labels: {component: hub}}
        status: {phase: Running, conditions: [{type: Ready, status: "True"}]}
      - apiVersion: v1
        kind: Pod
        metadata: {name: jupyter-alice, namespace: daskhub, labels: {component: singleuser-server}}
        status: {phase: Running}
      - apiVersion: v1
        kind: Pod
        metadata: {name: jupyter-bob, namespace: daskhub, labels: {component: singleuser-server}}
        status: {phase: Running}
      - apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: claim-alice, namespace: daskhub}
        spec: {volumeName: pvc-1111, resources: {requests: {storage: 10Gi}}}
        status: {phase: Bound}
      - apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: claim-bob, namespace: daskhub}
        spec: {volumeName: pvc-2222, resources: {requests: {storage: 20Gi}}}
        status: {phase: Bound}
      - apiVersion: v1
        kind: PersistentVolume
        metadata: {name: pvc-1111}
        spec: {awsElasticBlockStore: {volumeID: "aws://us-west-2a/vol-0aaa1111"}}
      - apiVersion: v1
        kind: PersistentVolume
        metadata: {name: pvc-2222}
        spec: {csi: {driver: ebs.csi.aws.com, volumeHandle: vol-0bbb2222}}
      - apiVersion: coordination.k8s.io/v1
        kind: Lease
        metadata: {name: hub-leader, namespace: daskhub}
        spec: {holderIdentity: hub-7d9f-abcde}
      - apiVersion: argoproj.io/v1alpha1
        kind: Application
        metadata: {name: daskhub, namespace: argocd}
        spec: {project: default}
    logs:
      daskhub/hub-7d9f-abcde: "starting\nloading config\nhub ready\n"
    events:
      - after: 3m
        delete: {kind: pod, namespace: daskhub, name: jupyter-bob}
      - after: 4m
        apply:
          apiVersion: v1
          kind: Pod
          metadata: {name: hub-7d9f-abcde, namespace: daskhub, labels: {component: hub}}
          status: {phase: Succeeded}
  green:
    server: https://green.eks.example
    objects:
      - {apiVersion: v1, kind: Namespace, metadata: {name: jupyterhub}}
      - apiVersion: v1
        kind: Service
        metadata: {name: proxy-public, namespace: jupyterhub}
        spec: {type: LoadBalancer}
        status: {loadBalancer: {ingress: [{hostname: green-5678.us-west-2.elb.amazonaws.com}]}}
  red:
    server: https://red.eks.example
    unreachable: true
"#;

fn on_world(script: &str) -> Test {
    Test::new().file("world.yaml", WORLD).file("t.rhai", script).args(&[
        "run",
        "t.rhai",
        "--world",
        "world.yaml",
        "--journal",
        "j.jsonl",
        "--yes",
    ])
}

#[track_caller]
fn prints(script: &str, expected: &str) {
    let (done, _dir) = on_world(script).run();
    done.status(0).stdout(expected);
}

#[test]
fn active_user_pods_by_label() {
    // kubectl get pods -n daskhub -l component=singleuser-server
    prints(
        r#"
let blue = k8s::cluster("blue");
let users = blue.list("pods", "daskhub", #{ labels: "component=singleuser-server", fields: "status.phase=Running" });
print(users.map(|p| p.metadata.name));
"#,
        "[\"jupyter-alice\", \"jupyter-bob\"]\n",
    );
}

#[test]
fn proxy_public_load_balancer_hostname_on_two_clusters() {
    // kubectl get svc -n jupyterhub proxy-public -o jsonpath='{.status.loadBalancer.ingress[0].hostname}'
    prints(
        r#"
let blue = k8s::cluster();
let green = k8s::cluster("green");
print(blue.get("svc", "daskhub", "proxy-public").status.loadBalancer.ingress[0].hostname);
print(green.get("service", "jupyterhub", "proxy-public").status.loadBalancer.ingress[0].hostname);
print(`${blue.context} ${blue.server}`);
"#,
        "blue-1234.us-west-2.elb.amazonaws.com\ngreen-5678.us-west-2.elb.amazonaws.com\nblue https://blue.eks.example\n",
    );
}

#[test]
fn delete_proxy_public() {
    // kubectl delete svc proxy-public -n <old_prod_namespace>
    prints(
        r#"
let blue = k8s::cluster("blue");
blue.delete("svc", "daskhub", "proxy-public", #{ wait: true });
print(blue.exists("svc", "daskhub", "proxy-public"));
"#,
        "false\n",
    );
}

#[test]
fn delete_user_pods() {
    // kubectl get pods -n NS --no-headers | awk '/jupyter/{print $1}' | xargs kubectl delete -n NS pod
    prints(
        r#"
let blue = k8s::cluster("blue");
for pod in blue.list("pods", "daskhub").filter(|p| p.metadata.name.starts_with("jupyter-")) {
    blue.delete("pod", "daskhub", pod.metadata.name);
}
print(blue.list("po", "daskhub").map(|p| p.metadata.name));
print(blue.delete_all("pods", "daskhub", #{ labels: "component=singleuser-server" }));
"#,
        "[\"hub-7d9f-abcde\"]\n[]\n",
    );
}

#[test]
fn delete_namespaces_by_prefix_takes_what_is_in_them() {
    // kubectl get ns | grep nublado2- | awk '{print $1}' | xargs kubectl delete ns
    prints(
        r#"
let blue = k8s::cluster("blue");
for ns in blue.list("ns", ()).filter(|n| n.metadata.name.starts_with("nublado2-")) {
    blue.delete("ns", (), ns.metadata.name);
}
print(blue.list("namespaces", "").map(|n| n.metadata.name));
print(blue.list("cm", "").len());
"#,
        "[\"daskhub\", \"nublado-carol\"]\n0\n",
    );
}

#[test]
fn pvc_to_pv_to_ebs_volume_id_in_tree_and_csi() {
    // kubectl get pv $(kubectl get pvc $C -o jsonpath='{.spec.volumeName}') -o jsonpath='{.spec.awsElasticBlockStore.volumeID}' | cut -d/ -f4
    prints(
        r#"
let blue = k8s::cluster("blue");
fn volume_id(cluster, ns, claim) {
    let pvc = cluster.get("pvc", ns, claim);
    let pv = cluster.get("pv", (), pvc.spec.volumeName);
    if "awsElasticBlockStore" in pv.spec {
        pv.spec.awsElasticBlockStore.volumeID.split("/").pop()
    } else {
        pv.spec.csi.volumeHandle
    }
}
for pvc in blue.list("pvc", "daskhub").filter(|c| c.metadata.name.starts_with("claim-")) {
    print(`${pvc.metadata.name} ${pvc.spec.resources.requests.storage} ${volume_id(blue, "daskhub", pvc.metadata.name)}`);
}
"#,
        "claim-alice 10Gi vol-0aaa1111\nclaim-bob 20Gi vol-0bbb2222\n",
    );
}

#[test]
fn hub_logs() {
    // kubectl logs -n jupyterhub -l component=hub --tail=50
    prints(
        r#"
let blue = k8s::cluster("blue");
let hub = blue.list("pods", "daskhub", #{ labels: #{ component: "hub" } })[0];
print(blue.logs("daskhub", hub.metadata.name, #{ tail: 1 }));
"#,
        "hub ready\n\n",
    );
}

#[test]
fn kinds_resolve_like_kubectl_including_crds() {
    prints(
        r#"
let blue = k8s::cluster("blue");
print(blue.get("leases.coordination.k8s.io", "daskhub", "hub-leader").spec.holderIdentity);
print(blue.get("applications.argoproj.io", "argocd", "daskhub").spec.project);
print(blue.get("deploy", "daskhub", "hub").kind);
print(blue.get("deployments.apps", "daskhub", "hub").kind);
try { blue.get("gizmo", "daskhub", "x"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#,
        "hub-7d9f-abcde\ndefault\nDeployment\nDeployment\nNotFound: the server doesn't have a resource type `gizmo`\n",
    );
}

#[test]
fn writes_change_the_world_and_round_trip_through_save_world() {
    let (done, dir) = on_world(
        r#"
let blue = k8s::cluster("blue");
blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "cutover", namespace: "daskhub" }, data: #{ state: "started" } });
let made = blue.apply(`
apiVersion: v1
kind: Namespace
metadata: { name: restore }
---
apiVersion: v1
kind: Service
metadata: { name: proxy-public, namespace: restore }
spec: { type: LoadBalancer }
`);
print(made[1].status.loadBalancer.ingress[0].hostname);
blue.create(#{ apiVersion: "v1", kind: "PersistentVolume", metadata: #{ name: "restored-alice" }, spec: #{ csi: #{ volumeHandle: "vol-0ccc" } } });
blue.patch("cm", "daskhub", "cutover", #{ data: #{ state: "done" } });
blue.patch("deploy", "daskhub", "hub", [#{ op: "add", path: "/metadata/labels", value: #{ moved: "yes" } }], #{ type: "json" });
blue.patch("deploy", "daskhub", "hub", "metadata: {annotations: {note: yaml}}", #{ type: "strategic" });
print(blue.scale("deploy", "daskhub", "hub", 0).spec.replicas);
print(blue.list("pods", "daskhub", #{ labels: "component=hub" }).len());
"#,
    )
    .args(&["--save-world", "saved.yaml"])
    .run();
    done.status(0).stdout("proxy-public-restore.lb.world.example\n0\n0\n");
    let saved = read(dir.path(), "saved.yaml");
    let (again, _dir2) = Test::new()
        .file("world.yaml", &saved)
        .file(
            "t.rhai",
            r#"
let blue = k8s::cluster("blue");
let hub = blue.get("deploy", "daskhub", "hub");
print(`${blue.get("cm", "daskhub", "cutover").data.state} ${hub.spec.replicas} ${hub.metadata.labels.moved} ${hub.metadata.annotations.note}`);
print(blue.get("pv", "", "restored-alice").spec.csi.volumeHandle);
print(blue.exists("svc", "restore", "proxy-public"));
"#,
        )
        .args(&["run", "t.rhai", "--world", "world.yaml", "--journal", "j.jsonl"])
        .run();
    again.status(0).stdout("done 0 yes yaml\nvol-0ccc\ntrue\n");
}

#[test]
fn deleting_a_deployment_removes_its_pods() {
    prints(
        r#"
let blue = k8s::cluster("blue");
blue.delete("deploy", "daskhub", "hub");
print(blue.list("pods", "daskhub").map(|p| p.metadata.name));
"#,
        "[\"jupyter-alice\", \"jupyter-bob\"]\n",
    );
}

#[test]
fn waits_resolve_on_virtual_time() {
    let (done, _dir) = on_world(
        r#"
let blue = k8s::cluster("blue");
print(blue.wait("deploy", "daskhub", "hub", "Available").metadata.name);
print(blue.wait("pvc", "daskhub", "claim-alice", "Bound").status.phase);
print(blue.wait("pod", "daskhub", "jupyter-bob", "deleted", #{ timeout: "10m" }) == ());
print(now());
print(blue.wait("pod", "daskhub", "hub-7d9f-abcde", |p| p.status.phase == "Succeeded").status.phase);
print(now());
try { blue.wait("pod", "daskhub", "jupyter-alice", "phase=Failed", #{ timeout: "15m" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
print(now());
"#,
    )
    .run();
    done.status(0).stdout(
        "hub
Bound
true
2026-11-21T06:03:00Z
Succeeded
2026-11-21T06:04:00Z
Timeout: pod daskhub/jupyter-alice not status.phase=Failed after 15m
2026-11-21T06:19:00Z
",
    );
}

#[test]
fn a_wait_closure_may_call_bindings() {
    // The condition is judged outside the async runtime, so a closure that
    // reads the cluster itself blocks on it without a nested runtime.
    prints(
        r#"
let blue = k8s::cluster("blue");
let again = k8s::cluster("blue");
print(blue.wait("pod", "daskhub", "jupyter-bob", |p| !again.exists("pod", "daskhub", "jupyter-bob"), #{ timeout: "10m" }) == ());
print(now());
"#,
        "true\n2026-11-21T06:03:00Z\n",
    );
}

#[test]
fn errors_reach_scripts_with_their_kind() {
    prints(
        r#"
try { k8s::cluster("purple"); } catch (e) { print(`${e.kind}: ${e.message} ${e.contexts}`); }
try { k8s::cluster("red"); } catch (e) { print(`${e.kind}: ${e.message}`); }
let blue = k8s::cluster("blue");
try { blue.get("pod", "daskhub", "nobody"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.create(#{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "daskhub" } }); } catch (e) { print(`${e.kind} (${e.gate}): ${e.causes[0]}`); }
try { blue.create(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "x", namespace: "nowhere" } }); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { blue.delete("pod", "daskhub", "jupyter-alice", #{ preconditions: #{ uid: "not-it" } }); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { blue.patch("deploy", "daskhub", "hub", [#{ op: "test", path: "/spec/replicas", value: 5 }], #{ type: "json" }); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { blue.list("pods", "daskhub", #{ labels: "app in x" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.list("pods", "daskhub", #{ label: "x" }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.delete_all("pods", "daskhub", #{}); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { blue.wait("pod", "daskhub", "hub-7d9f-abcde", "is ready"); } catch (e) { print(`${e.kind}: ${e.message}`); }
print(blue.delete("pod", "daskhub", "nobody", #{ ignore_not_found: true }));
"#,
        "Usage: no kube context `purple` (contexts: `blue`, `green`, `red`) [\"blue\", \"green\", \"red\"]
Unreachable: the API server of context `red` at `https://red.eks.example` is unreachable
NotFound: pods \"nobody\" not found
Conflict (Refused): namespaces \"daskhub\" already exists
NotFound: namespaces \"nowhere\" not found
Conflict: Precondition failed: UID in precondition: not-it, UID in object meta: 00000009-world-0009
Invalid: json patch test failed at `/spec/replicas`
Usage: label selector `app in x`: expected a set such as `(a,b)`
Invalid: `list` has no option `label` (options: labels, fields); did you mean `labels`?
Usage: `delete_all` needs `labels` or `fields`: it never deletes a whole kind
Invalid: wait condition `is ready` is not `deleted`, `exists`, a condition such as `Ready`, or `path=value`
false
",
    );
}

#[test]
fn a_dry_run_on_a_world_checks_and_changes_nothing() {
    let (done, dir) = on_world(
        r#"
let blue = k8s::cluster("blue");
let gone = blue.delete_all("pods", "daskhub", #{ labels: "component=singleuser-server" });
print(gone);
blue.delete("ns", (), "nublado2-alice", #{ wait: true });
blue.scale("deploy", "daskhub", "hub", 0);
print(blue.list("pods", "daskhub").len());
try { blue.delete("svc", "daskhub", "nope"); } catch (e) { print(`${e.kind} (${e.gate})`); }
"#,
    )
    .args(&["--dry-run", "--save-world", "saved.yaml"])
    .run();
    done.status(0).stdout("[\"jupyter-alice\", \"jupyter-bob\"]\n3\nNotFound (WouldFail)\n");
    assert!(done.stderr.contains("Would delete namespace nublado2-alice"), "{}", done.stderr);
    assert!(done.stderr.contains("Would wait for namespace nublado2-alice to be deleted"), "{}", done.stderr);
    assert!(done.stderr.contains("4 changes (3 destructive, 1 would fail); nothing was changed"), "{}", done.stderr);
    let saved = read(dir.path(), "saved.yaml");
    assert!(saved.contains("jupyter-alice") && saved.contains("nublado2-alice"));
}

#[test]
fn a_dry_run_of_every_write_on_a_world_leaves_the_saved_world_identical() {
    let script = r#"
let blue = k8s::cluster("blue");
blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "cutover", namespace: "daskhub" }, data: #{ state: "started" } });
blue.create(#{ apiVersion: "v1", kind: "Namespace", metadata: #{ name: "restore" } });
blue.patch("deploy", "daskhub", "hub", #{ metadata: #{ labels: #{ cutover: "yes" } } });
blue.patch("deploy", "daskhub", "hub", [#{ op: "replace", path: "/spec/replicas", value: 2 }], #{ type: "json" });
blue.scale("deploy", "daskhub", "hub", 0);
blue.delete("svc", "daskhub", "proxy-public", #{ wait: true });
blue.delete("ns", (), "nublado2-alice");
print(blue.delete_all("pods", "daskhub", #{ labels: "component=singleuser-server" }));
print(blue.exec("daskhub", "hub-7d9f-abcde", ["rm", "-f", "/srv/x"]).planned);
print(blue.wait("pvc", "daskhub", "claim-alice", "deleted").metadata.name);
"#;
    let (done, dir) = on_world(script).args(&["--dry-run", "--save-world", "dry.yaml"]).run();
    done.status(0).stdout("[\"jupyter-alice\", \"jupyter-bob\"]\ntrue\nclaim-alice\n");
    let (untouched, same) = on_world("k8s::cluster(\"blue\");").args(&["--save-world", "same.yaml"]).run();
    untouched.status(0);
    pretty_assertions::assert_eq!(read(dir.path(), "dry.yaml"), read(same.path(), "same.yaml"));
}

#[test]
fn destructive_deletes_need_confirmation() {
    let (done, _dir) = Test::new()
        .file("world.yaml", WORLD)
        .file("t.rhai", "k8s::cluster(\"blue\").delete(\"ns\", (), \"daskhub\");\n")
        .args(&["run", "t.rhai", "--world", "world.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(2);
    assert!(
        done.stderr.contains(
            "error: delete namespace daskhub is destructive and needs confirmation, but there is no terminal to ask on"
        ),
        "{}",
        done.stderr
    );
}

#[test]
fn the_reference_covers_every_k8s_function_with_an_example() {
    let (done, _dir) = Test::new().args(&["docs"]).run();
    done.status(0);
    // Functions read `k8s::cluster(..)`, methods of a cluster `cluster.get(..)`.
    let sections: Vec<&str> =
        done.stdout.split("\n### ").filter(|s| s.starts_with("`k8s::") || s.starts_with("`cluster.")).collect();
    let names: std::collections::BTreeSet<&str> = sections
        .iter()
        .map(|s| s.trim_start_matches("`k8s::").trim_start_matches("`cluster.").split('(').next().unwrap_or_default())
        .collect();
    for name in [
        "cluster",
        "get",
        "exists",
        "list",
        "logs",
        "apply",
        "create",
        "patch",
        "delete",
        "delete_all",
        "scale",
        "wait",
        "exec",
        "copy",
        "copy_from",
        "copy_to",
    ] {
        assert!(names.contains(name), "`k8s::{name}` is not in the reference");
    }
    for section in sections {
        assert!(section.contains("```rhai"), "no example in {section}");
    }
}

#[test]
fn secret_values_stay_out_of_the_plan_and_journal() {
    let (done, dir) = on_world(
        r#"
let blue = k8s::cluster("blue");
blue.apply(#{ apiVersion: "v1", kind: "Secret", metadata: #{ name: "hub-token", namespace: "daskhub" }, stringData: #{ token: "hunter2-very-secret" } });
"#,
    )
    .args(&["--dry-run"])
    .run();
    done.status(0);
    let journal = read(dir.path(), "j.jsonl");
    assert!(journal.contains("<redacted>"), "{journal}");
    assert!(!journal.contains("hunter2") && !done.stderr.contains("hunter2"), "{journal}\n{}", done.stderr);
}

#[test]
fn a_saved_world_keeps_the_schedule_of_changes_to_come() {
    let (done, dir) = on_world("sleep(\"3m30s\");\n").args(&["--save-world", "saved.yaml"]).run();
    done.status(0);
    let saved = read(dir.path(), "saved.yaml");
    assert!(saved.contains("start: 2026-11-21T06:03:30Z"), "{saved}");
    assert!(!saved.contains("jupyter-bob"), "the 3m deletion should have happened:\n{saved}");
    assert!(saved.contains("events:\n    - after: 30s\n"), "{saved}");
}
