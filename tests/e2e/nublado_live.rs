//! The nublado migration live: the Phalanx checkout is a real git
//! repository (a bare `origin` and a clone in the test's folder), the
//! cluster the Kubernetes test API server (Application CRs, Deployments,
//! namespaces), and Vault, mobu and the hubs a loopback HTTP server.
//! Nothing leaves 127.0.0.0/8.

use std::path::Path;
use std::process::Command;

use hubops_tests::kube_api::FakeApi;
use serde_json::{json, Value};

use crate::nublado::{hubops, rsp_world};
use crate::support::Done;
use crate::web::{Seen, Web};

const VAULT_TOKEN: &str = "vault-live-token-4d1e";
const MOBU_TOKEN: &str = "mobu-live-token-77aa";
const HUB_TOKEN: &str = "hub-live-token-91c0";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(dir).args(args).env("LC_ALL", "C").output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `origin.git` (bare) and its clone `phalanx` in `dir`, holding the
/// Phalanx files of the bundled world, pushed to `main`. Returns main's id.
fn phalanx(dir: &Path) -> String {
    git(dir, &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(dir, &["clone", "-q", "origin.git", "phalanx"]);
    let work = dir.join("phalanx");
    git(&work, &["config", "user.name", "Tester"]);
    git(&work, &["config", "user.email", "tester@example.org"]);
    let world: Value = serde_norway::from_str(&rsp_world()).unwrap();
    for (path, text) in world["hosts"]["local"]["files"].as_object().unwrap() {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text.as_str().unwrap()).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "Phalanx as of the test"]);
    git(&work, &["push", "-q", "origin", "main"]);
    git(&work, &["rev-parse", "HEAD"])
}

fn answer(status: u16, body: &Value) -> (u16, String, String) {
    (status, "application/json".into(), body.to_string())
}

/// Vault, mobu (two flocks running) and the hubs at /nb and /n3 (a lab for
/// the test user that is ready), each checking its token.
fn site_web() -> Web {
    Web::start(false, |r: &Seen, _| {
        let bearer = r.authorization.strip_prefix("Bearer ").unwrap_or_default();
        let path = r.path.as_str();
        if path.starts_with("/v1/") {
            if bearer != VAULT_TOKEN {
                return answer(403, &json!({"errors": ["permission denied"]}));
            }
            let keys = ["cryptkeeper_key", "crypto_key", "proxy_token", "hub_db_password", "slack_webhook"];
            let data: serde_json::Map<String, Value> =
                keys.iter().map(|k| ((*k).into(), json!("s3cret-value"))).collect();
            return answer(200, &json!({"data": {"data": data}}));
        }
        if let Some(flock) = path.strip_prefix("/mobu/flocks/") {
            if bearer != MOBU_TOKEN {
                return answer(401, &json!({"detail": "no token"}));
            }
            if flock.ends_with("/summary") {
                return answer(200, &json!({"success_count": 5, "failure_count": 0}));
            }
            return answer(200, &json!({"name": flock, "config": {"name": flock, "count": 1}}));
        }
        if path.ends_with("/hub/health") {
            return (200, "text/plain".into(), String::new());
        }
        if let Some(rest) = path.strip_prefix("/n3/hub/api/users/bot-hubops") {
            if bearer != HUB_TOKEN {
                return answer(403, &json!({"message": "forbidden"}));
            }
            if rest == "/server" {
                return (202, "text/plain".into(), String::new());
            }
            return answer(
                200,
                &json!({"name": "bot-hubops", "servers": {"": {"ready": true, "url": "/n3/user/bot-hubops/"}}}),
            );
        }
        (404, "text/plain".into(), "not found".into())
    })
}

/// The cluster on the morning of window 1, Argo CD reporting `revision`.
fn cluster(revision: &str) -> Vec<Value> {
    let ns = |name: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let app = |name: &str, dest: &str, automated: bool| {
        let mut a = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": {"app.kubernetes.io/instance": "science-platform"}},
            "spec": {"project": "default", "source": {"repoURL": "https://github.com/lsst-sqre/phalanx.git", "path": format!("applications/{name}"), "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc", "namespace": dest}},
            "status": {"sync": {"status": "Synced", "revision": revision}, "health": {"status": "Healthy"}, "operationState": {"phase": "Succeeded"}}});
        if automated {
            a["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
        }
        if name == "science-platform" {
            a["metadata"]["labels"] = json!({});
        }
        a
    };
    vec![
        ns("argocd"),
        ns("nublado2"),
        ns("mobu"),
        ns("nublado2-alice"),
        ns("nublado2-bob"),
        app("science-platform", "argocd", false),
        app("nublado2", "nublado2", true),
        app("mobu", "mobu", false),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "hub", "namespace": "nublado2", "labels": {"app.kubernetes.io/instance": "nublado2"}},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hub"}}},
               "status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}}),
    ]
}

/// The migration at `stage` in `dir`, live, on `api` and `web`.
fn live(dir: &Path, api: &FakeApi, web: &Web, stage: &str, extra: &[&str]) -> Done {
    std::fs::write(dir.join("kubeconfig"), api.kubeconfig(&["site"])).unwrap();
    let sets = [
        format!("stage={stage}"),
        "context=site".into(),
        "phalanx=phalanx".into(),
        "environment=idfdev".into(),
        format!("base_url={}", web.base),
        format!("vault_url={}", web.base),
        "vault_path=secret/data/phalanx/idfdev/nublado".into(),
        format!("vault_token={VAULT_TOKEN}"),
        format!("mobu_token={MOBU_TOKEN}"),
        "mobu_flocks=[recreate, weekly]".into(),
        format!("hub_token={HUB_TOKEN}"),
        "test_user=bot-hubops".into(),
    ];
    let mut args = vec!["run", "nublado-migration", "--yes"];
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    args.extend_from_slice(extra);
    let kubeconfig = dir.join("kubeconfig").display().to_string();
    hubops(dir, &args, &[("KUBECONFIG", &kubeconfig)])
}

/// The changes of a journal in `phase`, as `verb target`.
fn changes(dir: &Path, journal: &str, phase: &str) -> Vec<String> {
    hubops::journal::read(&dir.join(journal))
        .expect("journal")
        .into_iter()
        .filter_map(|e| match e {
            hubops::journal::Event::Change { phase: p, change, .. } if p == phase => {
                Some(format!("{} {}", change["verb"].as_str().unwrap_or("?"), change["target"].as_str().unwrap_or("?")))
            }
            _ => None,
        })
        .collect()
}

/// Runs prepare-enable live; returns the pushed branch's tip.
fn prepare_enable(dir: &Path, web: &Web) -> String {
    let api = FakeApi::start(Vec::new());
    let done = live(dir, &api, web, "prepare-enable", &["--journal", "prepare.jsonl"]);
    done.status(0);
    for secret in [VAULT_TOKEN, "s3cret-value"] {
        assert!(
            !done.stdout.contains(secret) && !done.stderr.contains(secret),
            "a secret shows:\n{}{}",
            done.stdout,
            done.stderr
        );
        assert!(
            !std::fs::read_to_string(dir.join("prepare.jsonl")).unwrap().contains(secret),
            "a secret in the journal"
        );
    }
    assert!(api.requests().iter().all(|r| !r.is_write()), "prepare-enable wrote to the cluster");
    git(&dir.join("origin.git"), &["rev-parse", "hubops/nublado-enable"])
}

#[test]
fn live_prepare_enable_edits_commits_and_pushes_the_branch_to_a_real_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let main = phalanx(dir);
    let web = site_web();
    let tip = prepare_enable(dir, &web);
    let origin = dir.join("origin.git");
    assert_eq!(git(&origin, &["rev-parse", "main"]), main, "main is left for review");
    assert_eq!(git(&origin, &["rev-parse", "hubops/nublado-enable^"]), main, "one commit on main");
    assert_eq!(
        git(&origin, &["diff", "--stat", "--format=", "main", &tip])
            .lines()
            .map(|l| l.split('|').next().unwrap().trim().to_string())
            .collect::<Vec<_>>()[..2],
        ["applications/nublado/values-idfdev.yaml", "environments/values-idfdev.yaml"]
    );
    // Lossless edits: comments and order kept, the keys set.
    let env = git(&origin, &["show", "hubops/nublado-enable:environments/values-idfdev.yaml"]);
    assert!(env.contains("# Applications enabled in this environment.\napplications:\n"), "{env}");
    assert!(env.contains("  nublado: true\n") || env.contains("  nublado: true"), "{env}");
    let nublado = git(&origin, &["show", "hubops/nublado-enable:applications/nublado/values-idfdev.yaml"]);
    assert!(
        nublado.starts_with("# nublado v3 on idfdev: the same home and project mounts as nublado v2.\n"),
        "{nublado}"
    );
    assert!(nublado.contains("    baseUrl: /n3"), "{nublado}");
    assert_eq!(
        changes(dir, "prepare.jsonl", "applied"),
        [
            "fetch origin in phalanx",
            "branch hubops/nublado-enable from origin/main in phalanx",
            "set applications.nublado in phalanx/environments/values-idfdev.yaml",
            "set jupyterhub.hub.baseUrl in phalanx/applications/nublado/values-idfdev.yaml",
            "commit environments/values-idfdev.yaml, applications/nublado/values-idfdev.yaml in phalanx",
            "push hubops/nublado-enable to origin from phalanx",
        ]
    );
    let seen = web.seen();
    assert_eq!(
        seen.iter().map(|s| format!("{} {}", s.method, s.path)).collect::<Vec<_>>(),
        ["GET /v1/secret/data/phalanx/idfdev/nublado"]
    );
}

#[test]
fn live_enable_dry_run_checks_every_change_with_the_servers_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    phalanx(dir);
    let web = site_web();
    let tip = prepare_enable(dir, &web);
    let before_web = web.seen().len();
    let api = FakeApi::start(cluster(&tip));
    let objects = api.objects();
    let done = live(dir, &api, &web, "enable", &["--dry-run", "--journal", "dry.jsonl"]);
    done.status(0);
    pretty_assertions::assert_eq!(
        changes(dir, "dry.jsonl", "planned"),
        [
            "fetch origin in phalanx",
            "suspend auto-sync application argocd/nublado2",
            &format!("delete {}/mobu/flocks/recreate", web.base),
            &format!("delete {}/mobu/flocks/weekly", web.base),
            "delete deployment nublado2/hub",
            "delete namespace nublado2-alice",
            "delete namespace nublado2-bob",
            "sync application argocd/science-platform",
            &format!("post {}/n3/hub/api/users/bot-hubops/server", web.base),
            &format!("delete {}/n3/hub/api/users/bot-hubops/server", web.base),
            "sync application argocd/nublado2",
            "sync application argocd/mobu",
            "resume auto-sync application argocd/nublado2",
        ]
    );
    assert_eq!(api.objects(), objects, "the cluster is as it was");
    let writes: Vec<_> = api.requests().into_iter().filter(hubops_tests::kube_api::Recorded::is_write).collect();
    assert!(!writes.is_empty() && writes.iter().all(hubops_tests::kube_api::Recorded::dry_run), "{writes:?}");
    let sent: Vec<String> = web.seen()[before_web..].iter().map(|s| s.method.clone()).collect();
    assert!(sent.iter().all(|m| m == "GET" || m == "HEAD"), "{sent:?}");
}

#[test]
fn live_enable_refuses_with_what_to_do_when_it_may_not_suspend_auto_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    phalanx(dir);
    let web = site_web();
    let tip = prepare_enable(dir, &web);
    let before_web = web.seen().len();
    let api = FakeApi::start(cluster(&tip));
    api.forbid("applications");
    let objects = api.objects();
    let done = live(dir, &api, &web, "enable", &["--journal", "enable.jsonl"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: hubops may not change Argo CD application nublado2 (suspend auto-sync application argocd/nublado2 failed: applications \"nublado2\" is forbidden: User \"tester\" cannot patch resource \"applications\"): ask for patch access to applications in argocd, or turn its automated sync off in Argo CD for the window\n"),
        "{}",
        done.stderr
    );
    assert_eq!(changes(dir, "enable.jsonl", "applied"), ["fetch origin in phalanx"]);
    assert_eq!(api.objects(), objects, "the cluster is as it was");
    let sent: Vec<String> = web.seen()[before_web..].iter().map(|s| s.method.clone()).collect();
    assert!(sent.iter().all(|m| m == "GET"), "{sent:?}");
}

#[test]
fn live_enable_names_a_namespace_stuck_terminating_and_what_it_owes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    phalanx(dir);
    let web = site_web();
    let tip = prepare_enable(dir, &web);
    let mut objects = cluster(&tip);
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "nublado2-carol", "finalizers": ["nublado.lsst.io/lab-cleanup"]}}));
    let api = FakeApi::start(objects);
    let done = live(
        dir,
        &api,
        &web,
        "enable",
        &["--journal", "enable.jsonl", "--set", "heal_check=1s", "--set", "sessions_timeout=3s"],
    );
    done.status(1);
    let error = done.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(error.contains("nublado2-carol") && error.contains("nublado.lsst.io/lab-cleanup"), "{}", done.stderr);
    assert!(error.ends_with("clear them by hand (kubectl patch namespace nublado2-carol --type merge -p '{\"metadata\":{\"finalizers\":null}}') and run the window again"), "{}", done.stderr);
    assert!(done.stderr.contains("warning: this run leaves 2 changes that must be undone:\n"), "{}", done.stderr);
    pretty_assertions::assert_eq!(
        changes(dir, "enable.jsonl", "applied"),
        [
            "fetch origin in phalanx".to_string(),
            "suspend auto-sync application argocd/nublado2".into(),
            format!("delete {}/mobu/flocks/recreate", web.base),
            format!("delete {}/mobu/flocks/weekly", web.base),
            "delete deployment nublado2/hub".into(),
            "delete namespace nublado2-alice".into(),
            "delete namespace nublado2-bob".into(),
            "delete namespace nublado2-carol".into(),
        ]
    );
    let left: Vec<String> = api
        .objects()
        .iter()
        .filter(|o| o["kind"] == "Namespace")
        .map(|o| o["metadata"]["name"].as_str().unwrap_or_default().to_string())
        .filter(|n| n.starts_with("nublado2-"))
        .collect();
    assert_eq!(left, ["nublado2-carol"], "the others are gone, carol is held by its finalizer");
    let app =
        api.objects().into_iter().find(|o| o["kind"] == "Application" && o["metadata"]["name"] == "nublado2").unwrap();
    assert!(app["spec"]["syncPolicy"].get("automated").is_none(), "nublado2's automated sync is suspended: {app}");
    // The undo stage puts the policy back as it was. (This mobu answers for
    // its flocks whatever was deleted, so there is no silence to see.)
    let undo = live(dir, &api, &web, "undo", &["--journal", "undo.jsonl"]);
    undo.status(0);
    assert_eq!(changes(dir, "undo.jsonl", "applied"), ["resume auto-sync application argocd/nublado2"]);
    let app =
        api.objects().into_iter().find(|o| o["kind"] == "Application" && o["metadata"]["name"] == "nublado2").unwrap();
    assert_eq!(app["spec"]["syncPolicy"]["automated"], json!({"prune": true, "selfHeal": true}), "{app}");
}
