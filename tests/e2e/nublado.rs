//! The nublado v2 -> v3 migration runbook (scripts/nublado-migration.rhai)
//! against its issue's "done means": every window rehearsed on the world
//! the previous one saved, each stage's dry run planning what its
//! rehearsal applied; the refusal paths; what an interrupted window owes
//! undone; and `hubops show` reading like the seed's table of contents.
//! Live runs (the Kubernetes test API server, loopback HTTP, real git) are
//! in `nublado_live.rs`.

use std::path::Path;
use std::process::{Command, Stdio};

use hubops::journal::{self, Event};
use serde_json::Value;

use crate::support::{read, Done};

/// The stages in the order a site runs them.
pub(crate) const STAGES: [&str; 7] =
    ["prepare-enable", "enable", "prepare-default", "default", "prepare-retire", "retire", "finish"];

/// The bundled world, as shipped.
pub(crate) fn rsp_world() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join("worlds/rsp.yaml")).expect("worlds/rsp.yaml")
}

/// `hubops ARGS` in `dir`, isolated from the developer's environment, with
/// `env` set.
pub(crate) fn hubops(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Done {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hubops-e2e"));
    cmd.current_dir(dir).stdin(Stdio::null()).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("HUBOPS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env("XDG_STATE_HOME", dir.join("state")).env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run hubops");
    Done {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir: dir.to_path_buf(),
    }
}

/// Runs `stage` on `world` (a file in `dir`), saving the world as `save`
/// and the journal as `journal`; `extra` are further arguments.
fn stage(dir: &Path, world: &str, stage: &str, save: &str, journal: &str, extra: &[&str]) -> Done {
    let set = format!("stage={stage}");
    let mut args = vec![
        "run",
        "nublado-migration",
        "--world",
        world,
        "--set",
        &set,
        "--yes",
        "--save-world",
        save,
        "--journal",
        journal,
    ];
    args.extend_from_slice(extra);
    hubops(dir, &args, &[])
}

/// Writes `world` to `dir/w0.yaml` and runs the stages before `until`
/// (each on the world the one before saved); returns the name of the last
/// saved world.
fn chain_until(dir: &Path, world: &str, until: &str) -> String {
    std::fs::write(dir.join("w0.yaml"), world).unwrap();
    let mut current = "w0.yaml".to_string();
    for (i, s) in STAGES.iter().take_while(|s| **s != until).enumerate() {
        let next = format!("w{}.yaml", i + 1);
        let done = stage(dir, &current, s, &next, &format!("{s}.jsonl"), &[]);
        done.status(0);
        current = next;
    }
    current
}

/// The changes of a journal in `phases`, as `verb target`.
fn changes(dir: &Path, journal: &str, phases: &[&str]) -> Vec<String> {
    journal::read(&dir.join(journal))
        .expect("journal")
        .into_iter()
        .filter_map(|e| match e {
            Event::Change { phase, change, .. } if phases.contains(&phase.as_str()) => {
                Some(format!("{} {}", change["verb"].as_str().unwrap_or("?"), change["target"].as_str().unwrap_or("?")))
            }
            _ => None,
        })
        .collect()
}

/// The world file `name` in `dir`, as data.
fn world_of(dir: &Path, name: &str) -> Value {
    serde_norway::from_str(&read(dir, name)).expect("a saved world")
}

/// `after` with each `***` replaced by what `before` has there (a run masks
/// its secret parameters in the world it saves).
fn unmask(after: &Value, before: &Value) -> Value {
    match (after, before) {
        (Value::String(s), Value::String(_)) if s == "***" => before.clone(),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            Value::Array(a.iter().zip(b).map(|(x, y)| unmask(x, y)).collect())
        }
        (Value::Object(a), Value::Object(b)) => Value::Object(
            a.iter().map(|(k, v)| (k.clone(), b.get(k).map_or_else(|| v.clone(), |w| unmask(v, w)))).collect(),
        ),
        _ => after.clone(),
    }
}

/// How long (seconds of virtual time) the run of `journal` took.
fn virtual_seconds(dir: &Path, journal: &str) -> i64 {
    let events = journal::read(&dir.join(journal)).expect("journal");
    let clock = |e: &Event| match e {
        Event::RunStart { clock, .. } | Event::RunEnd { clock, .. } => clock.parse::<jiff::Timestamp>().ok(),
        _ => None,
    };
    let (first, last) = (events.first().and_then(clock).unwrap(), events.last().and_then(clock).unwrap());
    last.duration_since(first).as_secs()
}

/// Asserts that the world `saved` is what `world` becomes when nothing
/// but `seconds` of virtual time passes (the world's own schedule: Argo CD
/// seeing a revision, finalizers clearing).
fn assert_untouched(dir: &Path, world: &str, saved: &str, seconds: i64, what: &str) {
    std::fs::write(dir.join("noop.rhai"), format!("sleep({seconds});\n")).unwrap();
    hubops(dir, &["run", "noop.rhai", "--world", world, "--save-world", "idle.yaml"], &[]).status(0);
    let idle = world_of(dir, "idle.yaml");
    let after = world_of(dir, saved);
    for (section, value) in idle.as_object().unwrap() {
        if section != "start" {
            assert_eq!(&unmask(&after[section], value), value, "{what}: the dry run changed world section `{section}`");
        }
    }
}

#[test]
fn every_stage_rehearses_on_the_last_saved_world_and_its_dry_run_plans_what_it_applied() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("w0.yaml"), rsp_world()).unwrap();
    let mut current = "w0.yaml".to_string();
    for (i, s) in STAGES.iter().enumerate() {
        let dry = stage(dir, &current, s, "dry.yaml", &format!("{s}-dry.jsonl"), &["--dry-run"]);
        dry.status(0);
        let next = format!("w{}.yaml", i + 1);
        let done = stage(dir, &current, s, &next, &format!("{s}.jsonl"), &[]);
        done.status(0);
        let applied = changes(dir, &format!("{s}.jsonl"), &["applied"]);
        assert!(!applied.is_empty(), "{s}: the rehearsal applied nothing\n{}", done.stderr);
        let mut planned = changes(dir, &format!("{s}-dry.jsonl"), &["planned"]);
        assert_eq!(changes(dir, &format!("{s}-dry.jsonl"), &["would_fail", "applied"]), Vec::<String>::new(), "{s}");
        if *s == "enable" {
            // The one change a dry run cannot check: the sync of the
            // application that science-platform's sync creates. The dry
            // run says so instead of planning it.
            assert!(
                dry.stderr.contains("warning: (dry run) Argo CD application nublado does not exist until science-platform's sync creates it, so its sync cannot be checked now; the window syncs it\n"),
                "{}",
                dry.stderr
            );
            let at = planned.iter().position(|c| c == "sync application argocd/science-platform").unwrap() + 1;
            planned.insert(at, "sync application argocd/nublado".into());
        }
        pretty_assertions::assert_eq!(planned, applied, "{s}: the dry run plans what the rehearsal applied");
        assert_untouched(dir, &current, "dry.yaml", virtual_seconds(dir, &format!("{s}-dry.jsonl")), s);
        current = next;
    }
    // The end state: nublado v3 at /nb alone, nothing suspended, mobu running.
    let end = world_of(dir, &current);
    let objects = end["clusters"]["idfdev"]["objects"].as_array().unwrap();
    let apps: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "Application")
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(apps, ["science-platform", "mobu", "nublado"], "the applications left");
    let user_ns: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "Namespace")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("nublado2-"))
        .collect();
    assert_eq!(user_ns, Vec::<&str>::new(), "no nublado v2 sessions are left");
}

/// The enable window's refusal on a world after prepare-enable, with
/// `extra` arguments; returns the run and the scratch folder.
fn enable_on(world: &str, extra: &[&str]) -> (Done, tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let before = chain_until(tmp.path(), world, "enable");
    let done = stage(tmp.path(), &before, "enable", "after.yaml", "enable.jsonl", extra);
    (done, tmp, before)
}

/// The changes the run of `journal` made on the cluster or over HTTP (not
/// the checkout's fetch).
fn site_changes(dir: &Path, journal: &str) -> Vec<String> {
    changes(dir, journal, &["applied"]).into_iter().filter(|c| !c.starts_with("fetch ")).collect()
}

#[test]
fn auto_sync_with_self_heal_refuses_the_window_when_suspending_is_off() {
    let (done, dir, _) = enable_on(&rsp_world(), &["--set", "suspend_auto_sync=false"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: Argo CD application nublado2 syncs automatically with self-heal: it would put back what this window deletes within seconds. Run with --set suspend_auto_sync=true to suspend it for the window, or turn its automated sync off in Argo CD first\n"),
        "{}",
        done.stderr
    );
    assert_eq!(changes(dir.path(), "enable.jsonl", &["applied"]), Vec::<String>::new(), "nothing changed");
}

#[test]
fn a_lab_that_never_starts_at_the_new_route_stops_before_users_come_back_and_rollback_undoes_the_silences() {
    // The lab of the test user at /n3 never gets ready.
    let world = rsp_world();
    let block = world.find("- url: https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops\n").unwrap();
    let ready = block + world[block..].find("after: 45s").unwrap();
    let world = format!("{}after: 12h{}", &world[..ready], &world[ready + "after: 45s".len()..]);
    let (done, dir, _) = enable_on(&world, &["--on-failure", "rollback", "--set", "lab_timeout=3m"]);
    done.status(1);
    assert!(
        done.stderr.contains("error: the lab of bot-hubops did not start at https://data-dev.lsst.cloud/n3 within 3m: look at the new hub and lab controller (their logs, the lab's events in its namespace) and fix what fails before users come back; users are still locked out and the rest of the window has not run (run it again, or --resume it, once labs start)\n"),
        "{}",
        done.stderr
    );
    let applied = changes(dir.path(), "enable.jsonl", &["applied"]);
    // Nothing after the lab test ran: nublado2's hub is not synced back by
    // the window (only by the rollback, after the silences' undo order).
    let lab = applied
        .iter()
        .position(|c| c == "post https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server")
        .unwrap();
    pretty_assertions::assert_eq!(
        applied[lab..].to_vec(),
        [
            "post https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server",
            "delete https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server",
            // The rollback, newest first: the hub of nublado2 back, mobu
            // back, nublado2's automated sync resumed.
            "sync application argocd/nublado2",
            "sync application argocd/mobu",
            "resume auto-sync application argocd/nublado2",
        ]
    );
    assert_nothing_owed(dir.path(), "after.yaml");
}

/// Asserts that the world `saved` has no suspended automated sync and
/// that mobu runs both flocks again.
fn assert_nothing_owed(dir: &Path, saved: &str) {
    std::fs::write(
        dir.join("owed.rhai"),
        r#"let p = params(#{ mobu_token: #{ secret: true } });
let c = k8s::cluster("idfdev");
for app in ["science-platform", "nublado2", "nublado", "mobu"] {
    if c.exists("applications.argoproj.io", "argocd", app) {
        let a = argocd::app(c, "argocd", app);
        print(`${app} suspended=${a.suspended} auto_sync=${a.auto_sync} self_heal=${a.self_heal}`);
    }
}
for f in ["recreate", "weekly"] {
    print(`${f} ${http::get(`https://data-dev.lsst.cloud/mobu/flocks/${f}`, #{ bearer: p.mobu_token }).status}`);
}
"#,
    )
    .unwrap();
    let done = hubops(dir, &["run", "owed.rhai", "--world", saved], &[]);
    done.status(0);
    let nublado = if done.stdout.contains("\nnublado suspended") {
        "nublado suspended=false auto_sync=true self_heal=true\n"
    } else {
        ""
    };
    assert_eq!(
        done.stdout,
        format!(
            "science-platform suspended=false auto_sync=false self_heal=false\nnublado2 suspended=false auto_sync=true self_heal=true\n{nublado}mobu suspended=false auto_sync=false self_heal=false\nrecreate 200\nweekly 200\n"
        )
    );
}

#[test]
fn mobu_unreachable_refuses_the_window_before_anything_is_changed() {
    let (done, dir, _) = enable_on(&rsp_world(), &["--set", "mobu_url=https://data-dev.lsst.cloud/no-mobu"]);
    done.status(1);
    let errors: Vec<&str> = done.stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{}", done.stderr);
    assert!(
        errors[0].starts_with("error: mobu at https://data-dev.lsst.cloud/no-mobu does not answer (")
            && errors[0].ends_with("): check mobu_url, or pass --set 'mobu_flocks=[]' if this site runs no mobu"),
        "{}",
        done.stderr
    );
    assert_eq!(site_changes(dir.path(), "enable.jsonl"), Vec::<String>::new(), "nothing changed");
}

#[test]
fn a_namespace_that_never_terminates_times_out_naming_it_and_its_finalizer() {
    // The cleanup controller never clears its finalizer.
    let world = rsp_world().replace("    finalizers: {nublado.lsst.io/lab-cleanup: 2m}\n", "");
    let (done, dir, _) = enable_on(&world, &["--set", "sessions_timeout=5m", "--on-failure", "rollback"]);
    done.status(1);
    let error = done.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(error.contains("nublado2-carol"), "{}", done.stderr);
    assert!(error.contains("nublado.lsst.io/lab-cleanup"), "{}", done.stderr);
    assert!(
        error.ends_with(". Its finalizers' controllers have not finished: find out why, or, once nothing needs the namespace, clear them by hand (kubectl patch namespace nublado2-carol --type merge -p '{\"metadata\":{\"finalizers\":null}}') and run the window again"),
        "{}",
        done.stderr
    );
    assert!(
        !changes(dir.path(), "enable.jsonl", &["applied"]).contains(&"sync application argocd/science-platform".into())
    );
    assert_nothing_owed(dir.path(), "after.yaml");
}

#[test]
fn a_window_refuses_until_argo_cd_sees_the_prepared_revision() {
    // Nobody merges the pushed branch.
    let world = rsp_world().replace("    review: merge\n", "    review: wait\n");
    let (done, dir, _) = enable_on(&world, &["--set", "revision_timeout=5m"]);
    done.status(1);
    let error = done.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(
        error.starts_with("error: Argo CD's science-platform reports revision 9c1f0d4e2b7a8c3d5e6f7a8b9c0d1e2f3a4b5c6d, not ")
            && error.ends_with(" or newer, after 5m: merge the branch that holds it, let Argo CD refresh (or refresh it in the UI), then run the window again"),
        "{}",
        done.stderr
    );
    assert_eq!(site_changes(dir.path(), "enable.jsonl"), Vec::<String>::new(), "nothing changed");
}

#[test]
fn a_killed_window_owes_its_silences_a_later_stage_refuses_and_undo_clears_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let before = chain_until(dir, &rsp_world(), "enable");
    // Killed at its fifth change: nublado2's auto-sync suspended, mobu
    // silenced, the hub of nublado2 deleted.
    // A killed run leaves the world where it was killed only when it saves
    // over the world it runs on (as the crash tests do).
    std::fs::copy(dir.join(&before), dir.join("killed.yaml")).unwrap();
    let args = [
        "run",
        "nublado-migration",
        "--world",
        "killed.yaml",
        "--set",
        "stage=enable",
        "--yes",
        "--save-world",
        "killed.yaml",
    ];
    let killed = hubops(dir, &[&args[..], &["--journal", "killed.jsonl"]].concat(), &[("HUBOPS_CRASH_AT", "change:5")]);
    assert_eq!(killed.status, -1, "{}", killed.stderr);
    pretty_assertions::assert_eq!(
        changes(dir, "killed.jsonl", &["applied"]),
        [
            "fetch origin in phalanx",
            "suspend auto-sync application argocd/nublado2",
            "delete https://data-dev.lsst.cloud/mobu/flocks/recreate",
            "delete https://data-dev.lsst.cloud/mobu/flocks/weekly",
            "delete deployment nublado2/hub",
        ]
    );
    // A new run of the window (not a resume), and the next window, refuse.
    for (s, journal) in [("enable", "again.jsonl"), ("default", "default.jsonl")] {
        let done = stage(dir, "killed.yaml", s, "refused.yaml", journal, &[]);
        done.status(1);
        assert!(
            done.stderr.contains("error: Argo CD application nublado2 still has its automated sync suspended by an earlier hubops run: run this runbook with --set stage=undo first\n"),
            "{s}: {}",
            done.stderr
        );
        assert_eq!(changes(dir, journal, &["applied"]), Vec::<String>::new(), "{s}: nothing changed");
    }
    let undo = stage(dir, "killed.yaml", "undo", "undone.yaml", "undo.jsonl", &[]);
    undo.status(0);
    assert!(undo.stdout.ends_with("Undone: what the interrupted window left.\n"), "{}", undo.stdout);
    pretty_assertions::assert_eq!(
        changes(dir, "undo.jsonl", &["applied"]),
        ["resume auto-sync application argocd/nublado2", "sync application argocd/mobu"]
    );
    assert!(
        undo.stderr.contains("warning: the hub of nublado2 is not running: users cannot log in there; sync nublado2 to bring it back, or resume the window\n"),
        "{}",
        undo.stderr
    );
    assert_nothing_owed(dir, "undone.yaml");
    // And a second undo finds nothing.
    let again = stage(dir, "undone.yaml", "undo", "undone2.yaml", "undo2.jsonl", &[]);
    again.status(0);
    assert!(
        again.stdout.ends_with("Nothing to undo: no suspended auto-sync, every mobu flock runs.\n"),
        "{}",
        again.stdout
    );
}

#[test]
fn show_reads_like_the_seeds_table_of_contents() {
    let tmp = tempfile::tempdir().unwrap();
    let done = hubops(tmp.path(), &["show", "nublado-migration"], &[]);
    done.status(0);
    // The seed's parts, in its order: the doc's paragraphs that head a
    // list of stages.
    let doc: Vec<&str> = done
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("  `stage` picks"))
        .take_while(|l| !l.starts_with("Rehearse on"))
        .collect();
    let parts: Vec<&str> = doc
        .windows(2)
        .filter(|w| {
            !w[0].trim().is_empty()
                && !w[0].starts_with("  -")
                && !w[0].starts_with("    ")
                && w[1].starts_with("  - `")
        })
        .map(|w| w[0])
        .collect();
    pretty_assertions::assert_eq!(
        parts,
        [
            "  Enable nublado v3 (on the alternate route /n3)",
            "  Make nublado v3 the default",
            "  Disable nublado v2",
            "  When migration is complete for all sites",
        ]
    );
    // Under each part, its stages, naming the seed's sections in order.
    let doc = done.stdout.replace("\n    ", " ");
    let sections: [(&str, &[&str]); 7] = [
        (
            "- `prepare-enable`:",
            &[
                "Vault secret",
                "enable the application",
                "configure nublado v3",
                "create the alternate route",
                "communicate to users",
            ],
        ),
        (
            "- `enable` (window 1):",
            &["silence mobu complaints", "disable logins", "remove user sessions", "bring up applications"],
        ),
        ("- `prepare-default`:", &["change mobu's configuration", "nublado2's", "nublado3's", "communicate to users"]),
        (
            "- `default` (window 2):",
            &["silence mobu complaints", "disable logins", "remove user sessions", "bring up applications"],
        ),
        ("- `prepare-retire`:", &["turn off nublado v2", "communicate to users"]),
        ("- `retire` (window 3):", &["sync science-platform with prune", "remove user sessions"]),
        (
            "- `finish`:",
            &["delete the nublado2, moneypenny and cachemachine folders", "the Vault and database clean-ups"],
        ),
    ];
    for (stage, names) in sections {
        let line = doc.lines().find(|l| l.trim_start().starts_with(stage)).unwrap_or_else(|| panic!("{stage}\n{doc}"));
        let mut at = 0;
        for name in names {
            let found =
                line[at..].find(name).unwrap_or_else(|| panic!("{stage} names `{name}` after byte {at}: {line}"));
            at += found + name.len();
        }
    }
}

#[test]
fn a_failed_window_left_as_it_is_says_what_it_owes_and_the_undo_stage_clears_it() {
    // The cleanup controller never clears its finalizer; no rollback asked.
    let world = rsp_world().replace("    finalizers: {nublado.lsst.io/lab-cleanup: 2m}\n", "");
    let (done, dir, _) = enable_on(&world, &["--set", "sessions_timeout=5m"]);
    done.status(1);
    for owed in [
        "warning: this run leaves 2 changes that must be undone:\n",
        "warning: `auto-sync nublado2`: automated sync of Argo CD application nublado2 suspended; to undo: run this runbook with --set stage=undo\n",
        "warning: `mobu silence`: mobu flocks silenced: [\"recreate\", \"weekly\"]; to undo: sync Argo CD application mobu (or run this runbook with --set stage=undo)\n",
    ] {
        assert!(done.stderr.contains(owed), "{owed}\n{}", done.stderr);
    }
    let undo = stage(dir.path(), "after.yaml", "undo", "undone.yaml", "undo.jsonl", &[]);
    undo.status(0);
    pretty_assertions::assert_eq!(
        changes(dir.path(), "undo.jsonl", &["applied"]),
        ["resume auto-sync application argocd/nublado2", "sync application argocd/mobu"]
    );
    assert_nothing_owed(dir.path(), "undone.yaml");
}

#[test]
fn a_hub_that_refuses_the_test_lab_stops_the_window_before_users_come_back() {
    let world = rsp_world();
    let block = world
        .find("- url: https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server\n      method: POST\n")
        .unwrap();
    let answer = block + world[block..].find("- {status: 202, body: ''}").unwrap();
    let world = format!(
        "{}- {{status: 500, body: spawner failed}}{}",
        &world[..answer],
        &world[answer + "- {status: 202, body: ''}".len()..]
    );
    let (done, dir, _) = enable_on(&world, &[]);
    done.status(1);
    assert!(
        done.stderr.contains("error: the hub at https://data-dev.lsst.cloud/n3 refused to start a lab for bot-hubops: POST https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server answered 500 spawner failed. Look at the hub's log and fix what fails before users come back; users are still locked out and the rest of the window has not run (run it again, or --resume it, once labs start)\n"),
        "{}",
        done.stderr
    );
    let applied = changes(dir.path(), "enable.jsonl", &["applied"]);
    assert_eq!(
        applied.last().map(String::as_str),
        Some("post https://data-dev.lsst.cloud/n3/hub/api/users/bot-hubops/server"),
        "nothing after the lab: {applied:?}"
    );
    assert!(done.stderr.contains("warning: this run leaves 2 changes that must be undone:\n"), "{}", done.stderr);
}

#[test]
fn a_rollback_declared_in_an_imported_modules_loop_undoes_its_own_pass() {
    // How gitops::hold declares its rollbacks: in a module's function, in a
    // loop. Each must find its closure after the script ended, and see its
    // own pass's name.
    let module = r"
fn hold(names) {
    for each in names {
        let name = each;
        step(`hold ${name}`, || name, || print(`undo ${name}`));
    }
}
";
    let (done, _dir) = crate::support::Test::new()
        .file("held.rhai", module)
        .file("t.rhai", "import \"held\" as held;\nheld::hold([\"a\", \"b\"]);\nfail(\"boom\");\n")
        .args(&["run", "t.rhai", "--on-failure", "rollback"])
        .run();
    done.status(1).stdout("undo b\nundo a\n");
    assert!(!done.stderr.contains("rollback of"), "{}", done.stderr);
}
