//! `helm::` - writes through the `helm` CLI, checked against a stand-in
//! `helm` first on `PATH` that records its argv (no real helm can be
//! installed here), and release records decoded without any helm binary.

use std::io::Write;

use base64::Engine as _;

use crate::support::{read, Test};

/// Records its argv (one word a line, `---` after each call) and the values
/// files it is given; answers an upgrade with a release as JSON; exits with
/// `$FAKE_HELM_STATUS`.
const FAKE_HELM: &str = r#"#!/bin/sh
{ for word in "$@"; do printf '%s\n' "$word"; done; echo ---; } >> helm.argv
prev=
for word in "$@"; do
    if [ "$prev" = --values ] && [ -f "$word" ]; then cat "$word" >> helm.values; fi
    prev=$word
done
if [ "${FAKE_HELM_STATUS:-0}" != 0 ]; then
    echo 'Error: UPGRADE FAILED: context deadline exceeded' >&2
    exit "$FAKE_HELM_STATUS"
fi
status=deployed
case "$*" in *--dry-run*) status=pending-upgrade ;; esac
if [ "$1" = upgrade ]; then
    printf '{"name":"%s","namespace":"jupyterhub","version":3,"info":{"status":"%s","last_deployed":"2026-11-21T06:00:00Z","description":"Upgrade complete"},"chart":{"metadata":{"name":"jupyterhub","version":"3.3.7","appVersion":"4.1.5"}},"config":{"hub":{"baseUrl":"/n2"},"proxy":{"secretToken":"new"}}}\n' "$2" "$status"
fi
if [ "$1" = get ]; then
    echo '{"hub":{"baseUrl":"/nb"},"proxy":{"secretToken":"old"}}'
fi
"#;

fn with_fake_helm(t: Test) -> Test {
    let t = t.file("bin/helm", FAKE_HELM);
    let bin = t.path("bin");
    let mut perms = std::fs::metadata(bin.join("helm")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("helm"), perms).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    t.env("PATH", &path)
}

const UPGRADE: &str = r#"let r = helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub",
    #{ version: "3.3.7", values: ["prod.yaml"], set: #{ "hub.baseUrl": "/n2" }, reuse_values: true, wait: true, timeout: "10m" });
print(`${r.revision} ${r.status} ${r.planned}`);
"#;

fn calls(dir: &std::path::Path) -> Vec<String> {
    read(dir, "helm.argv")
        .split("---\n")
        .filter(|c| !c.is_empty())
        .map(|c| c.lines().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn upgrade_runs_helm_with_the_exact_argv() {
    let (done, dir) = with_fake_helm(Test::new()).file("u.rhai", UPGRADE).args(&["run", "u.rhai"]).run();
    done.status(0).stdout("3 deployed false\n");
    assert_eq!(
        calls(dir.path()),
        ["upgrade jupyterhub jupyterhub/jupyterhub --kube-context green --namespace jupyterhub --version 3.3.7 --values prod.yaml --set hub.baseUrl=/n2 --reuse-values --wait --timeout 600s --output json"]
    );
}

#[test]
fn dry_run_asks_the_api_server_through_helm_and_upgrades_nothing() {
    let (done, dir) = with_fake_helm(Test::new()).file("u.rhai", UPGRADE).args(&["run", "u.rhai", "--dry-run"]).run();
    done.status(0).stdout("3 pending-upgrade true\n");
    let calls = calls(dir.path());
    assert_eq!(calls.len(), 2, "only the check and a read ran: {calls:?}");
    assert!(calls[0].ends_with("--timeout 600s --dry-run=server --output json"), "{calls:?}");
    assert_eq!(calls[1], "get values jupyterhub --kube-context green --namespace jupyterhub --output json");
    assert!(
        done.stderr.contains(
            "values of release `jupyterhub` that would change:\n  hub.baseUrl: \"/nb\" -> \"/n2\"\n  proxy.secretToken: *** -> ***\n"
        ),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("\nPlan:\n  helm/green\n     upgrade    helm upgrade jupyterhub"), "{}", done.stderr);
}

#[test]
fn a_failing_helm_is_an_error_with_its_words() {
    let (done, _dir) =
        with_fake_helm(Test::new()).env("FAKE_HELM_STATUS", "1").file("u.rhai", UPGRADE).args(&["run", "u.rhai"]).run();
    done.status(1);
    // A refused change, as every family's: the gate's headline, helm's
    // words as the cause.
    assert!(
        done.stderr.contains(" --output json failed\ncaused by: `helm` exited with status 1: Error: UPGRADE FAILED: context deadline exceeded\n"),
        "{}",
        done.stderr
    );
    let (done, _dir) = with_fake_helm(Test::new())
        .env("FAKE_HELM_STATUS", "1")
        .file("u.rhai", UPGRADE)
        .args(&["run", "u.rhai", "--dry-run"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("Would fail upgrade helm upgrade jupyterhub"), "{}", done.stderr);
    // Scripts see helm's kind (not `Refused`), the gate's verdict, and
    // helm's status and stderr.
    let caught = "try { helm::upgrade(\"green\", \"jupyterhub\", \"jupyterhub\", \"c\"); } catch (e) { print(`${e.kind} ${e.gate} ${e.status} ${e.stderr}`); }\n";
    for (mode, gate) in [("--yes", "Refused"), ("--dry-run", "WouldFail")] {
        let (done, _dir) = with_fake_helm(Test::new())
            .env("FAKE_HELM_STATUS", "1")
            .file("u.rhai", caught)
            .args(&["run", "u.rhai", mode])
            .run();
        done.status(0).stdout(&format!("Failed {gate} 1 Error: UPGRADE FAILED: context deadline exceeded\n"));
    }
}

#[test]
fn inline_values_travel_in_a_private_file_that_is_removed_afterwards() {
    let script = r#"helm::upgrade("green", "jupyterhub", "jupyterhub", "./chart", #{ values: #{ hub: #{ baseUrl: "/n2" } }, install: true });"#;
    let (done, dir) = with_fake_helm(Test::new()).file("u.rhai", script).args(&["run", "u.rhai"]).run();
    done.status(0);
    assert_eq!(read(dir.path(), "helm.values"), "hub:\n  baseUrl: /n2\n");
    let argv = read(dir.path(), "helm.argv");
    let file = argv.lines().skip_while(|l| *l != "--values").nth(1).unwrap();
    assert!(file.contains("hubops-values-") && !std::path::Path::new(file).exists(), "{file}");
    assert!(argv.contains("\n--install\n"));
}

#[test]
fn rollback_runs_helm_rollback_and_dry_runs_helms_simulation() {
    let script = "print(helm::rollback(\"green\", \"jupyterhub\", \"jupyterhub\", 2, #{ wait: true }).planned);\n";
    let (done, dir) = with_fake_helm(Test::new()).file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("false\n");
    assert_eq!(
        calls(dir.path()),
        ["rollback jupyterhub 2 --kube-context green --namespace jupyterhub --wait --timeout 300s"]
    );
    let (done, dir) = with_fake_helm(Test::new()).file("r.rhai", script).args(&["run", "r.rhai", "--dry-run"]).run();
    done.status(0).stdout("true\n");
    assert_eq!(
        calls(dir.path()),
        ["rollback jupyterhub 2 --kube-context green --namespace jupyterhub --wait --timeout 300s --dry-run"]
    );
}

#[test]
fn helm_values_cannot_become_flags() {
    let script = "helm::rollback(\"green\", \"jupyterhub\", \"--post-renderer=/tmp/x\", 1);\n";
    let (done, dir) = with_fake_helm(Test::new()).file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(1);
    assert!(done.stderr.contains("error: `--post-renderer=/tmp/x` is not a valid release name\n"), "{}", done.stderr);
    assert!(!dir.path().join("helm.argv").exists());
}

/// A release Secret exactly as Helm writes it and the API returns it:
/// JSON, gzip, base64 (Helm), base64 again (Secret data).
fn secret(name: &str, revision: i64, status: &str) -> serde_json::Value {
    let release = serde_json::json!({
        "name": name, "namespace": "jupyterhub", "version": revision,
        "info": { "status": status, "last_deployed": format!("2026-11-0{revision}T00:00:00Z"), "description": "Upgrade complete" },
        "chart": { "metadata": { "name": "jupyterhub", "version": format!("3.3.{revision}"), "appVersion": "4.1.5" },
                   "values": { "hub": { "baseUrl": "/" } } },
        "config": { "proxy": { "https": { "enabled": true } } }
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(release.to_string().as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let helm = b64.encode(gz.finish().unwrap());
    serde_json::json!({
        "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": { "name": format!("sh.helm.release.v1.{name}.v{revision}"), "labels": { "owner": "helm", "name": name } },
        "data": { "release": b64.encode(helm) }
    })
}

#[test]
fn release_records_decode_without_any_helm_binary() {
    let records =
        serde_json::to_string(&vec![secret("jupyterhub", 1, "superseded"), secret("jupyterhub", 2, "deployed")])
            .unwrap();
    let script = format!(
        r#"let records = parse_json({records:?});
for r in helm::history_of(records, "jupyterhub") {{ print(`${{r.revision}} ${{r.status}} ${{r.version}}`); }}
let latest = helm::list_of(records)[0];
print(`${{latest.name}} ${{latest.revision}} ${{latest.updated}}`);
print(helm::decode_values(records[1], true));
"#
    );
    let empty = tempfile::tempdir().unwrap();
    let (done, _dir) = Test::new()
        .env("PATH", &empty.path().display().to_string())
        .file("h.rhai", &script)
        .args(&["run", "h.rhai"])
        .run();
    done.status(0).stdout(
        "1 superseded 3.3.1\n2 deployed 3.3.2\njupyterhub 2 2026-11-02T00:00:00Z\n#{\"hub\": #{\"baseUrl\": \"/\"}, \"proxy\": #{\"https\": #{\"enabled\": true}}}\n",
    );
}

#[test]
fn a_missing_helm_binary_is_a_clear_error_only_for_writes() {
    let empty = tempfile::tempdir().unwrap();
    let (done, _dir) = Test::new()
        .env("PATH", &empty.path().display().to_string())
        .file("u.rhai", UPGRADE)
        .args(&["run", "u.rhai"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("error: `helm` is not installed or not on PATH\n"), "{}", done.stderr);
}
