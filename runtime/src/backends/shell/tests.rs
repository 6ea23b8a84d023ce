//! The family value under `Permit::Check`: nothing runs but rsync's own
//! `--dry-run`, and a world stays as it was.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::process::Invocation;
use super::rsync::Transfer;
use super::ssh::{Login, Remote, Session};
use super::{Exit, Shell};
use crate::cancel::Cancel;
use crate::clock::Clock;
use crate::effects::{Failure, Permit};
use crate::world::{Shared, World};

const WORLD: &str = "name: t
start: 2026-11-21T06:00:00Z
hosts:
  local:
    commands:
      - run: git pull
        stdout: \"Already up to date.\\n\"
  nfs-old:
    files:
      /export/a.txt: hello
    commands:
      - run: du -s /export
        stdout: \"5 /export\\n\"
  nfs-new: {}
  down: { reachable: false }
";

fn world() -> Shared {
    let world = World::load(WORLD, "t.yaml", &[("hosts", super::world::load_world)]).unwrap();
    let start = world.start();
    Shared::new(world, Arc::new(Clock::starting_at(start)))
}

fn saved(world: &Shared) -> String {
    world.lock().to_yaml(world.now())
}

fn session(host: &str, line: &str) -> Session {
    Session::new(host, &Login::default(), &Remote::Line(line.into()), Duration::from_secs(10)).unwrap()
}

#[test]
fn checks_on_a_world_answer_and_change_nothing() {
    let shared = world();
    let before = saved(&shared);
    let shell = Shell::World(shared.clone());
    let check = Permit::for_tests_check();
    let git = Invocation::new("git", vec!["pull".into()], Duration::from_secs(10));
    assert_eq!(shell.run(&check, &git, Exit::Success).unwrap(), None, "nothing ran");
    assert_eq!(shell.ssh(&check, &session("nfs-old", "du -s /export"), Exit::Any).unwrap(), None);
    // Pulled from the old host to this machine: two remote ends are refused.
    let copy = Transfer { src: "nfs-old:/export/".into(), dst: "/export/".into(), ..Transfer::default() };
    let (report, status) = shell.rsync(&check, &copy, Duration::from_secs(10)).unwrap();
    assert_eq!((report.files, report.bytes, status), (1, 5, 0), "the check reports what would move");
    assert_eq!(saved(&shared), before, "the world is as it was");

    let (report, _) = shell.rsync(&Permit::for_tests(), &copy, Duration::from_secs(10)).unwrap();
    assert_eq!(report.files, 1);
    assert_ne!(saved(&shared), before, "applying copies");
}

#[test]
fn checks_on_a_world_find_what_would_fail() {
    let shell = Shell::World(world());
    let check = Permit::for_tests_check();
    let reboot = Invocation::new("reboot", Vec::new(), Duration::from_secs(10));
    let err = shell.run(&check, &reboot, Exit::Any).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string().as_str()),
        ("NotFound", "world host `local` has no answer for `reboot` (add it to its `commands`)")
    );
    let err = shell.ssh(&check, &session("down", "true"), Exit::Any).unwrap_err();
    assert_eq!(err.kind(), "Unreachable");

    let bare = World::load("name: t\n", "t.yaml", &[("hosts", super::world::load_world)]).unwrap();
    let shell = Shell::World(Shared::new(bare, Arc::new(Clock::Live)));
    let err = shell.run(&check, &reboot, Exit::Any).unwrap_err();
    assert_eq!(err.kind(), "Usage");
}

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                out.push((format!("{name}/"), Vec::new()));
                stack.push(path);
            } else {
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Makes test fixtures in `dir` through the family's own process runner,
/// with a permit to apply: the fixtures are changes like any other.
pub(crate) fn sh(dir: &Path, script: &str) {
    let mut inv = Invocation::new("sh", vec!["-c".into(), script.into()], Duration::from_secs(10));
    inv.cwd = Some(dir.to_path_buf());
    Shell::Live(Cancel::default()).run(&Permit::for_tests(), &inv, Exit::Success).unwrap();
}

#[test]
fn a_checked_live_rsync_runs_rsyncs_dry_run_and_copies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    sh(dir.path(), "mkdir -p src/sub dst && printf 'hello\\n' > src/a.txt && printf %1000s '' | tr ' ' b > src/sub/b.txt && printf old > dst/stale.txt");
    let before = tree(dir.path());
    let copy = Transfer {
        src: format!("{}/src/", dir.path().display()),
        dst: format!("{}/dst/", dir.path().display()),
        delete: true,
        ..Transfer::default()
    };
    let shell = Shell::Live(Cancel::default());
    let (report, status) = shell.rsync(&Permit::for_tests_check(), &copy, Duration::from_mins(1)).unwrap();
    assert_eq!((report.files, report.bytes, report.deleted, status), (2, 1006, 1, 0));
    assert_eq!(tree(dir.path()), before, "byte for byte as it was");

    shell.rsync(&Permit::for_tests(), &copy, Duration::from_mins(1)).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("dst/sub/b.txt")).unwrap(), "b".repeat(1000));
    assert!(!dir.path().join("dst/stale.txt").exists());
}

#[test]
fn a_checked_live_run_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shell = Shell::Live(Cancel::default());
    let mut touch = Invocation::new("touch", vec!["made".into()], Duration::from_secs(10));
    touch.cwd = Some(dir.path().to_path_buf());
    assert_eq!(shell.run(&Permit::for_tests_check(), &touch, Exit::Success).unwrap(), None);
    assert!(!dir.path().join("made").exists(), "nothing ran");
    touch.cwd = Some(dir.path().join("nowhere"));
    let err = shell.run(&Permit::for_tests_check(), &touch, Exit::Success).unwrap_err();
    assert_eq!(err.kind(), "Unreachable");
    assert!(err.to_string().ends_with("/nowhere` does not exist"), "{err}");
    let missing = Invocation::new("no-such-program-hubops", Vec::new(), Duration::from_secs(10));
    assert_eq!(shell.run(&Permit::for_tests_check(), &missing, Exit::Any).unwrap_err().kind(), "NotFound");
}
