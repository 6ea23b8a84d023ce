//! `helm::` bound to a `Cluster`: release reads from the release Secrets
//! (built here exactly as Helm writes them, one in the older format without
//! gzip), on a world and live against the test API server; upgrades and
//! rollbacks that write new records on a world, read back through the same
//! bindings; and the live upgrade's dry run diffing against the records
//! instead of `helm get values`.

use std::io::Write;

use base64::Engine as _;
use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::support::{read, Test};

fn release(name: &str, revision: i64, status: &str, config: &Value) -> Value {
    json!({
        "name": name, "namespace": "jupyterhub", "version": revision,
        "info": { "status": status, "first_deployed": "2026-11-01T00:00:00Z",
                  "last_deployed": format!("2026-11-0{revision}T00:00:00Z"), "description": "Upgrade complete" },
        "chart": { "metadata": { "name": "jupyterhub", "version": format!("3.3.{revision}"), "appVersion": "4.1.5" },
                   "values": { "hub": { "baseUrl": "/", "image": { "tag": "3.3" } } } },
        "config": config,
        "manifest": "---\nkind: Deployment\n",
        "hooks": []
    })
}

/// The release Secret as the API returns it: JSON, gzip (unless `old`,
/// as early Helm 3 wrote it), base64 (Helm), base64 again (Secret data).
fn secret(release: &Value, old: bool) -> Value {
    let json = release.to_string().into_bytes();
    let payload = if old {
        json
    } else {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&json).unwrap();
        gz.finish().unwrap()
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let (name, revision) = (release["name"].as_str().unwrap(), release["version"].as_i64().unwrap());
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": { "name": format!("sh.helm.release.v1.{name}.v{revision}"), "namespace": "jupyterhub",
                      "labels": { "owner": "helm", "name": name, "status": release["info"]["status"], "version": revision.to_string() } },
        "data": { "release": b64.encode(b64.encode(payload)) }
    })
}

fn records() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "jupyterhub"}}),
        secret(&release("jupyterhub", 1, "superseded", &json!({ "hub": { "baseUrl": "/" } })), true),
        secret(
            &release(
                "jupyterhub",
                2,
                "deployed",
                &json!({ "hub": { "baseUrl": "/nb" }, "proxy": { "secretToken": "s3cret" } }),
            ),
            false,
        ),
        secret(&release("dask-gateway", 1, "deployed", &json!({})), false),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "hub", "namespace": "jupyterhub"}, "data": {}}),
    ]
}

fn world() -> String {
    let world =
        json!({ "name": "helm", "start": "2026-11-21T06:00:00Z", "clusters": { "green": { "objects": records() } } });
    serde_norway::to_string(&world).unwrap()
}

const READS: &str = r#"
let green = k8s::cluster("green");
print(helm::releases(green, "jupyterhub").map(|r| `${r.name} ${r.revision} ${r.status}`));
let r = helm::release(green, "jupyterhub", "jupyterhub");
print(`${r.name} ${r.revision} ${r.status} ${r.chart} ${r.version} ${r.app_version} ${r.updated}`);
print(helm::history(green, "jupyterhub", "jupyterhub").map(|r| `${r.revision} ${r.status} ${r.version}`));
print(helm::values(green, "jupyterhub", "jupyterhub").hub);
print(helm::values(green, "jupyterhub", "jupyterhub", #{ all: true, revision: 1 }).hub);
try { helm::release(green, "jupyterhub", "nublado"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { helm::values(green, "jupyterhub", "jupyterhub", #{ revision: 7 }); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { helm::history(green, "jupyterhub", "a,b"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;

const READS_OUT: &str = r#"["dask-gateway 1 deployed", "jupyterhub 2 deployed"]
jupyterhub 2 deployed jupyterhub 3.3.2 4.1.5 2026-11-02T00:00:00Z
["1 superseded 3.3.1", "2 deployed 3.3.2"]
#{"baseUrl": "/nb"}
#{"baseUrl": "/", "image": #{"tag": "3.3"}}
NotFound: release `nublado` not found in namespace `jupyterhub` of cluster `green`
NotFound: release `jupyterhub` revision 7 not found in namespace `jupyterhub` of cluster `green`
Invalid: `a,b` is not a valid release name
"#;

#[test]
fn reads_decode_release_secrets_on_a_world() {
    let empty = tempfile::tempdir().unwrap();
    let (done, _dir) = Test::new()
        .env("PATH", &empty.path().display().to_string())
        .file("world.yaml", &world())
        .file("r.rhai", READS)
        .args(&["run", "r.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout(READS_OUT);
}

#[test]
fn reads_decode_release_secrets_live_without_helm() {
    let api = FakeApi::start(records());
    let empty = tempfile::tempdir().unwrap();
    let (done, _dir) = Test::new()
        .env("PATH", &empty.path().display().to_string())
        .file("kubeconfig", &api.kubeconfig(&["green"]))
        .env("KUBECONFIG", "kubeconfig")
        .file("r.rhai", READS)
        .args(&["run", "r.rhai"])
        .run();
    done.status(0).stdout(READS_OUT);
    let lists: Vec<_> =
        api.requests().into_iter().filter(|r| r.path == "/api/v1/namespaces/jupyterhub/secrets").collect();
    assert_eq!(lists[0].query.get("labelSelector").map(String::as_str), Some("owner=helm"));
    assert_eq!(lists[1].query.get("labelSelector").map(String::as_str), Some("owner=helm,name=jupyterhub"));
}

const UPGRADE: &str = r#"
let green = k8s::cluster("green");
let r = helm::upgrade(green, "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub",
    #{ version: "3.4.0", reuse_values: true, set: #{ "hub.baseUrl": "/n2", "hub.replicas": 2 } });
print(`${r.revision} ${r.status} ${r.version} ${r.planned}`);
let r = helm::release(green, "jupyterhub", "jupyterhub");
print(`${r.revision} ${r.status} ${r.version}`);
print(helm::values(green, "jupyterhub", "jupyterhub"));
print(helm::history(green, "jupyterhub", "jupyterhub").map(|r| `${r.revision} ${r.status}`));
"#;

#[test]
fn an_upgrade_on_a_world_writes_a_new_revision_that_reads_back() {
    let (done, dir) = Test::new()
        .file("world.yaml", &world())
        .file("u.rhai", UPGRADE)
        .args(&["run", "u.rhai", "--world", "world.yaml", "--save-world", "after.yaml"])
        .run();
    done.status(0).stdout(
        r#"3 deployed 3.4.0 false
3 deployed 3.4.0
#{"hub": #{"baseUrl": "/n2", "replicas": 2}, "proxy": #{"secretToken": "s3cret"}}
["1 superseded", "2 superseded", "3 deployed"]
"#,
    );
    assert!(done.stderr.contains("Applying upgrade helm upgrade jupyterhub jupyterhub/jupyterhub --kube-context green --namespace jupyterhub --version 3.4.0 --set hub.baseUrl=/n2 --set hub.replicas=2 --reuse-values --timeout 300s --output json\n"), "{}", done.stderr);
    // The saved world holds the records as Helm would; reading it again
    // gives the same answers.
    let saved = read(dir.path(), "after.yaml");
    assert!(saved.contains("sh.helm.release.v1.jupyterhub.v3"), "{saved}");
    let (done, _dir) = Test::new()
        .file("world.yaml", &saved)
        .file("r.rhai", "let g = k8s::cluster(\"green\"); print(helm::history(g, \"jupyterhub\", \"jupyterhub\").map(|r| `${r.revision} ${r.status}`));")
        .args(&["run", "r.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout("[\"1 superseded\", \"2 superseded\", \"3 deployed\"]\n");
}

#[test]
fn a_dry_run_upgrade_on_a_world_shows_the_values_diff_and_changes_nothing() {
    let script = r#"
let green = k8s::cluster("green");
let r = helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub", #{ values: #{ hub: #{ baseUrl: "/n2" } } });
print(`${r.revision} ${r.planned} ${r.values_diff}`);
print(helm::release(green, "jupyterhub", "jupyterhub").revision);
"#;
    let (done, _dir) = Test::new()
        .file("world.yaml", &world())
        .file("u.rhai", script)
        .args(&["run", "u.rhai", "--world", "world.yaml", "--dry-run"])
        .run();
    done.status(0)
        .stdout("3 true [\"hub.baseUrl: \\\"/nb\\\" -> \\\"/n2\\\"\", \"proxy.secretToken: *** -> (unset)\"]\n2\n");
    assert!(
        done.stderr.contains("values of release `jupyterhub` that would change:\n  hub.baseUrl: \"/nb\" -> \"/n2\"\n  proxy.secretToken: *** -> (unset)\n"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("upgrade    helm upgrade jupyterhub jupyterhub/jupyterhub --kube-context green --namespace jupyterhub --values '(values)' --timeout 300s --output json"), "{}", done.stderr);
}

#[test]
fn a_dry_run_upgrade_and_rollback_leave_the_saved_world_identical() {
    let script = r#"
let green = k8s::cluster("green");
helm::upgrade(green, "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub", #{ reuse_values: true, set: #{ "hub.baseUrl": "/n2" } });
helm::upgrade("green", "jupyterhub", "nublado", "lsst-sqre/nublado", #{ install: true });
print(helm::rollback(green, "jupyterhub", "jupyterhub", 1).planned);
"#;
    let run = |script: &str, saved: &str| {
        Test::new()
            .file("world.yaml", &world())
            .file("u.rhai", script)
            .args(&["run", "u.rhai", "--world", "world.yaml", "--dry-run", "--save-world", saved])
            .run()
    };
    let (done, dir) = run(script, "dry.yaml");
    done.status(0).stdout("true\n");
    let (untouched, same) = run("k8s::cluster(\"green\");", "same.yaml");
    untouched.status(0);
    pretty_assertions::assert_eq!(read(dir.path(), "dry.yaml"), read(same.path(), "same.yaml"));
}

#[test]
fn rollback_and_install_on_a_world_and_their_refusals() {
    let script = r#"
let green = k8s::cluster("green");
let r = helm::rollback(green, "jupyterhub", "jupyterhub", 0);
print(`${r.revision} ${r.new_revision} ${r.planned}`);
print(helm::values(green, "jupyterhub", "jupyterhub"));
print(helm::history(green, "jupyterhub", "jupyterhub").map(|r| `${r.revision} ${r.status}`));
let i = helm::upgrade(green, "jupyterhub", "nublado", "lsst-sqre/nublado", #{ install: true, version: "1.0.0", values: #{ a: 1 } });
print(`${i.name} ${i.revision} ${i.chart} ${i.version} ${i.status}`);
try { helm::upgrade(green, "jupyterhub", "absent", "x/absent"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { helm::rollback(green, "jupyterhub", "jupyterhub", 9); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) = Test::new()
        .file("world.yaml", &world())
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout(
        r#"1 3 false
#{"hub": #{"baseUrl": "/"}}
["1 superseded", "2 superseded", "3 deployed"]
nublado 1 nublado 1.0.0 deployed
NotFound: release `absent` not found in namespace `jupyterhub` of cluster `green`
NotFound: release `jupyterhub` revision 9 not found in namespace `jupyterhub` of cluster `green`
"#,
    );
}

/// A stand-in `helm` that records its argv and answers an upgrade.
const FAKE_HELM: &str = r#"#!/bin/sh
{ for word in "$@"; do printf '%s\n' "$word"; done; echo ---; } >> helm.argv
if [ "$1" = upgrade ]; then
    printf '{"name":"%s","namespace":"jupyterhub","version":3,"info":{"status":"pending-upgrade"},"chart":{"metadata":{"name":"jupyterhub","version":"3.3.7"}},"config":{"hub":{"baseUrl":"/n2"}}}\n' "$2"
fi
"#;

#[test]
fn a_live_dry_run_upgrade_on_a_cluster_diffs_against_the_records() {
    let api = FakeApi::start(records());
    let t = Test::new().file("bin/helm", FAKE_HELM);
    let bin = t.path("bin");
    let mut perms = std::fs::metadata(bin.join("helm")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("helm"), perms).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let script = r#"
let r = helm::upgrade(k8s::cluster("green"), "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub", #{ reuse_values: true });
print(`${r.planned} ${r.values_diff}`);
"#;
    let (done, dir) = t
        .env("PATH", &path)
        .file("kubeconfig", &api.kubeconfig(&["green"]))
        .env("KUBECONFIG", "kubeconfig")
        .file("u.rhai", script)
        .args(&["run", "u.rhai", "--dry-run"])
        .run();
    done.status(0)
        .stdout("true [\"hub.baseUrl: \\\"/nb\\\" -> \\\"/n2\\\"\", \"proxy.secretToken: *** -> (unset)\"]\n");
    let argv = read(dir.path(), "helm.argv");
    assert_eq!(argv.matches("---").count(), 1, "only the check ran, no `helm get values`: {argv}");
    assert!(argv.contains("--kube-context\ngreen\n") && argv.contains("--dry-run=server\n"), "{argv}");
}

#[test]
fn a_live_rollback_on_a_cluster_passes_its_context_to_helm() {
    let api = FakeApi::start(records());
    let t = Test::new().file("bin/helm", FAKE_HELM);
    let bin = t.path("bin");
    let mut perms = std::fs::metadata(bin.join("helm")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("helm"), perms).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let script = "print(helm::rollback(k8s::cluster(\"green\"), \"jupyterhub\", \"jupyterhub\", 1).planned);\n";
    let (done, dir) = t
        .env("PATH", &path)
        .file("kubeconfig", &api.kubeconfig(&["green"]))
        .env("KUBECONFIG", "kubeconfig")
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--journal", "j.jsonl"])
        .run();
    done.status(0).stdout("false\n");
    assert_eq!(
        read(dir.path(), "helm.argv"),
        "rollback\njupyterhub\n1\n--kube-context\ngreen\n--namespace\njupyterhub\n--timeout\n300s\n---\n"
    );
    // The release is on its cluster: the rollback held the cluster's Lease
    // in the release's namespace, and let it go at the end.
    let locks: Vec<(String, String)> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| match e {
            hubops::journal::Event::Lock { target, action, .. } if target.starts_with("lease") => {
                Some((target, action))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        locks,
        [
            ("lease k8s/green jupyterhub".to_string(), "acquired".to_string()),
            ("lease k8s/green jupyterhub".to_string(), "released".to_string())
        ]
    );
}

#[test]
fn releases_kept_by_the_configmap_driver_are_read_too() {
    let record = release("hub", 4, "deployed", &json!({ "a": 1 }));
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(record.to_string().as_bytes()).unwrap();
    let cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "sh.helm.release.v1.hub.v4", "namespace": "jupyterhub", "labels": { "owner": "helm", "name": "hub" } },
        "data": { "release": b64.encode(gz.finish().unwrap()) }
    });
    let world = json!({ "name": "cm", "clusters": { "green": { "objects": [cm] } } });
    let script = "let g = k8s::cluster(\"green\"); let r = helm::release(g, \"jupyterhub\", \"hub\"); print(`${r.revision} ${r.status}`); print(helm::values(g, \"jupyterhub\", \"hub\"));";
    let (done, _dir) = Test::new()
        .file("world.yaml", &serde_norway::to_string(&world).unwrap())
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--world", "world.yaml"])
        .run();
    done.status(0).stdout("4 deployed\n#{\"a\": 1}\n");
}
