//! The hub database moved between hub pods on the Kubernetes test server:
//! exec over its websocket runs real commands (sqlite3, sha256sum, mv) in
//! the pods' folders, so the copy is of a real sqlite file. The copy opens,
//! its checksum is the file's, the new hub's database before it is kept; a
//! dry run runs nothing; a hub on postgres is refused with what to do.

use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::Test;
use hubops_tests::kube_api::FakeApi;

fn secret(ns: &str, values: &str) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(values);
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hub", "namespace": ns}, "data": {"values.yaml": encoded}})
}

fn hub_pod(ns: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": {"component": "hub"}}, "status": {"phase": "Running"}})
}

fn sqlite(db: &str, sql: &str) -> String {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("sqlite3 (apt-get install sqlite3)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256(path: &str) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

struct Hubs {
    api: FakeApi,
    old_db: String,
    new_db: String,
    _pods: tempfile::TempDir,
}

fn hubs(old_values: &str) -> Hubs {
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "new-prod"}}),
        hub_pod("prod", "hub-5d8f-old"),
        hub_pod("new-prod", "hub-77c4-new"),
        secret("prod", old_values),
        secret("new-prod", "hub:\n  db:\n    type: sqlite-pvc\n"),
    ];
    let api = FakeApi::start(objects);
    let pods = tempfile::tempdir().unwrap();
    api.pods_in(pods.path());
    api.put_file("prod", "hub-5d8f-old", "/srv/jupyterhub/.keep", "");
    api.put_file("new-prod", "hub-77c4-new", "/srv/jupyterhub/.keep", "");
    let old_db = api.pod_path("prod", "hub-5d8f-old", "/srv/jupyterhub/jupyterhub.sqlite");
    let new_db = api.pod_path("new-prod", "hub-77c4-new", "/srv/jupyterhub/jupyterhub.sqlite");
    sqlite(&old_db, "create table users (name text); insert into users values ('alice'), ('bob'), ('carol');");
    sqlite(&new_db, "create table users (name text); insert into users values ('admin-made-on-the-new-hub');");
    Hubs { api, old_db, new_db, _pods: pods }
}

fn run(h: &Hubs, body: &str, args: &[&str]) -> (crate::support::Done, tempfile::TempDir) {
    let script = format!(
        "let old = k8s::cluster(\"old\");\nlet dest = k8s::cluster(\"new\");\nlet paths = #{{ path: \"{}\", to_path: \"{}\" }};\n{body}",
        h.old_db, h.new_db
    );
    let mut all = vec!["run", "db.rhai", "--journal", "j.jsonl"];
    all.extend(args);
    Test::new()
        .file("kubeconfig", &h.api.kubeconfig(&["old", "new"]))
        .file("db.rhai", &script)
        .env("KUBECONFIG", "kubeconfig")
        .args(&all)
        .run()
}

#[test]
fn the_copy_is_sqlites_own_backup_streamed_checked_and_the_old_database_kept() {
    let h = hubs("hub:\n  db:\n    type: sqlite-pvc\n");
    let old_before = sha256(&h.old_db);
    let body = "let r = old.copy_database(\"prod\", dest, \"new-prod\", paths);\nprint(`${r.bytes} ${r.tool} ${r.sha256}`);\nprint(r.backup);\n";
    let (done, _dir) = run(&h, body, &["--yes"]);
    done.status(0);
    let lines: Vec<&str> = done.stdout.lines().collect();
    let (bytes, rest) = lines[0].split_once(' ').unwrap();
    let (tool, sum) = rest.split_once(' ').unwrap();
    assert_eq!(tool, "sqlite3");
    assert_eq!(sqlite(&h.new_db, "select name from users order by name;"), "alice\nbob\ncarol\n", "the copy opens");
    assert_eq!(sha256(&h.new_db), sum, "its checksum is the one reported");
    assert_eq!(std::fs::metadata(&h.new_db).unwrap().len().to_string(), bytes);
    assert_eq!(sha256(&h.old_db), old_before, "the old hub's database is as it was");
    let backup = lines[1];
    assert!(backup.starts_with(&format!("{}.before-hubops-", h.new_db)), "{backup}");
    assert_eq!(
        sqlite(backup, "select name from users;"),
        "admin-made-on-the-new-hub\n",
        "the new hub's database is kept"
    );
    for leftover in [format!("{}.hubops-copy", h.old_db), format!("{}.hubops-incoming", h.new_db)] {
        assert!(!std::path::Path::new(&leftover).exists(), "{leftover} left behind");
    }
    assert!(done.stderr.contains("Applying replace database"), "{}", done.stderr);
}

#[test]
fn the_copy_is_destructive_and_a_dry_run_runs_nothing() {
    let h = hubs("hub:\n  db:\n    type: sqlite-pvc\n");
    let before = sha256(&h.new_db);
    let body = "old.copy_database(\"prod\", dest, \"new-prod\", paths);\n";
    let (done, _dir) = run(&h, body, &[]);
    done.status(2);
    assert!(
        done.stderr.contains("is destructive and needs confirmation, but there is no terminal to ask on"),
        "{}",
        done.stderr
    );
    let (done, _dir) =
        run(&h, "print(old.copy_database(\"prod\", dest, \"new-prod\", paths).planned);\n", &["--dry-run"]);
    done.status(0).stdout("true\n");
    assert!(
        done.stderr.contains("1 change (1 destructive); nothing was changed")
            || done.stderr.contains("1 changes (1 destructive); nothing was changed"),
        "{}",
        done.stderr
    );
    assert_eq!(sha256(&h.new_db), before);
    assert!(!h.api.requests().iter().any(|r| r.path.ends_with("/exec")), "a dry run ran a command in a pod");
}

#[test]
fn a_hub_on_postgres_is_named_and_refused_with_what_to_do() {
    let h = hubs("hub:\n  db:\n    type: postgres\n    url: postgresql://hub:pg-s3cret-pw@db.prod:5432/hub\n");
    let body = "let db = old.hub_database(\"prod\");\nprint(`${db.type} ${db.scheme} ${db.file} ${db.source}`);\ntry { old.copy_database(\"prod\", dest, \"new-prod\"); } catch (e) { print(`${e.kind}: ${e.message}`); }\n";
    let (done, dir) = run(&h, body, &["--yes"]);
    done.status(0);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(lines[0], "postgres postgresql  secret hub");
    assert_eq!(
        lines[1],
        "Unsupported: the hub in `prod` on `old` keeps its database in postgres (`hub.db.type`), not in a sqlite file: point the new hub's `hub.db.url` at the same database, or dump it and restore it into the new hub's (`pg_dump` / `pg_restore`, `mysqldump`), then run with `database=skip`"
    );
    assert!(!done.stdout.contains("pg-s3cret-pw") && !done.stderr.contains("pg-s3cret-pw"));
    assert!(
        !crate::support::read(dir.path(), "j.jsonl").contains("pg-s3cret-pw"),
        "the url's password stays out of the journal"
    );
    assert!(!h.api.requests().iter().any(|r| r.path.ends_with("/exec")));
}
