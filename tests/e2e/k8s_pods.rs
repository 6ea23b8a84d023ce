//! Commands in pods and the hub-database copy of the seed runbooks, on a
//! world where pods carry files: exec, pod-to-pod copy across clusters,
//! `copy_from`/`copy_to` (a rehearsal writes nothing on disk), and dry runs
//! that run nothing.

use crate::support::{read, Test};

const HUBS: &str = r#"
name: hub move
clusters:
  old:
    objects:
      - apiVersion: v1
        kind: Pod
        metadata: {name: hub-old, namespace: daskhub, labels: {component: hub}}
        spec: {containers: [{name: hub}]}
        status: {phase: Running}
      - apiVersion: v1
        kind: Pod
        metadata: {name: done-pod, namespace: daskhub}
        status: {phase: Succeeded}
    files:
      daskhub/hub-old:
        /srv/jupyterhub/jupyterhub.sqlite: "SQLite format 3 users=alice,bob"
        /srv/jupyterhub/jupyterhub_cookie_secret: "c0ffee"
  new:
    objects:
      - apiVersion: v1
        kind: Pod
        metadata: {name: hub-new, namespace: jupyterhub, labels: {component: hub}}
        spec: {containers: [{name: hub}]}
        status: {phase: Running}
"#;

fn on_hubs(script: &str) -> Test {
    Test::new().file("world.yaml", HUBS).file("t.rhai", script).args(&[
        "run",
        "t.rhai",
        "--world",
        "world.yaml",
        "--journal",
        "j.jsonl",
        "--yes",
    ])
}

#[test]
fn copy_the_hub_database_between_clusters() {
    // kubectl --namespace OLD cp -c hub OLD_HUB:/srv/jupyterhub/jupyterhub.sqlite ./
    // kubectl --namespace NEW cp -c hub ./jupyterhub.sqlite NEW_HUB:/srv/jupyterhub/jupyterhub.sqlite
    let (done, dir) = on_hubs(
        r#"
let old = k8s::cluster("old");
let green = k8s::cluster("new");
let db = "/srv/jupyterhub/jupyterhub.sqlite";
let old_hub = old.list("pods", "daskhub", #{ labels: "component=hub" })[0].metadata.name;
let new_hub = green.list("pods", "jupyterhub", #{ labels: "component=hub" })[0].metadata.name;
let got = old.copy_from("daskhub", old_hub, db, "./jupyterhub.sqlite", #{ container: "hub" });
let put = green.copy_to("./jupyterhub.sqlite", "jupyterhub", new_hub, db, #{ container: "hub" });
print(got.sha256 == put.sha256);
let direct = old.copy("daskhub", old_hub, "/srv/jupyterhub/jupyterhub_cookie_secret", green, "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub_cookie_secret");
print(direct.bytes);
print(green.exec("jupyterhub", new_hub, ["cat", db]).stdout);
print(green.exec("jupyterhub", new_hub, ["ls", "/srv/jupyterhub"]).stdout);
let r = green.exec("jupyterhub", new_hub, "cat /nope");
print(`${r.status} ${r.stderr}`);
print(green.exec("jupyterhub", new_hub, ["sha256sum", db]).stdout.split(" ")[0] == got.sha256);
green.exec("jupyterhub", new_hub, "cat > /tmp/note", #{ stdin: "moved" });
print(green.exec("jupyterhub", new_hub, ["cat", "/tmp/note"]).stdout);
try { old.exec("daskhub", "done-pod", ["true"]); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { old.exec("daskhub", old_hub, ["true"], #{ container: "sidecar" }); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
try { old.copy_from("daskhub", old_hub, "/nope", "x"); } catch (e) { print(`${e.kind}: ${e.causes[0]}`); }
"#,
    )
    .args(&["--save-world", "saved.yaml"])
    .run();
    done.status(0).stdout(
        "true
6
SQLite format 3 users=alice,bob
jupyterhub.sqlite
jupyterhub_cookie_secret

1 cat: /nope: No such file or directory

true
moved
Invalid: cannot exec into a container in a completed pod; current phase is Succeeded (pod `daskhub/done-pod`)
Invalid: container sidecar is not valid for pod hub-old
NotFound: cannot read old:daskhub/hub-old:/nope: cat: /nope: No such file or directory
",
    );
    assert!(!dir.path().join("jupyterhub.sqlite").exists(), "a rehearsal wrote a local file");
    let saved = read(dir.path(), "saved.yaml");
    assert!(saved.contains("jupyterhub/hub-new"), "{saved}");
}

#[test]
fn a_dry_run_copy_checks_and_runs_nothing() {
    let (done, _dir) = on_hubs(
        r#"
let old = k8s::cluster("old");
let green = k8s::cluster("new");
print(old.copy("daskhub", "hub-old", "/srv/jupyterhub/jupyterhub.sqlite", green, "jupyterhub", "hub-new", "/srv/x"));
print(green.exec("jupyterhub", "hub-new", ["rm", "-rf", "/srv"]));
try { old.copy("daskhub", "hub-old", "/missing", green, "jupyterhub", "hub-new", "/srv/x"); } catch (e) { print(`${e.kind} (${e.gate})`); }
"#,
    )
    .args(&["--dry-run"])
    .run();
    done.status(0).stdout(
        "#{\"planned\": true}
#{\"planned\": true, \"status\": (), \"stderr\": \"\", \"stdout\": \"\"}
NotFound (WouldFail)
",
    );
    assert!(
        done.stderr.contains(
            "Would copy old:daskhub/hub-old:/srv/jupyterhub/jupyterhub.sqlite -> new:jupyterhub/hub-new:/srv/x"
        ),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("Would exec pod jupyterhub/hub-new: rm -rf /srv"), "{}", done.stderr);
}
