//! Jobs: what runs where; the world's copies, listings and searches, and
//! checks that change nothing.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::Clock;
use crate::world::{Shared, World};

fn tree(host: &str, root: &str) -> Tree {
    Tree { host: host.into(), login: Login::default(), root: root.into(), pull: Pull::default() }
}

fn how() -> How {
    How {
        delete: true,
        bwlimit: None,
        io_timeout: Duration::from_mins(10),
        chown: None,
        rsync_path: "rsync".into(),
        timeout: Duration::from_hours(24),
    }
}

#[test]
fn the_target_pulls_from_the_source_with_its_own_key() {
    let mut from = tree("nfs-old", "/export/home-01/homes/hub/");
    from.pull = Pull {
        address: Some("10.0.0.5".into()),
        login: Login {
            user: Some("ubuntu".into()),
            identity: Some("/home/ubuntu/nfs-transfer-key".into()),
            ..Login::default()
        },
    };
    let to = tree("nfs-new", "/export/home-01/homes/hub");
    let job = Job::new(&from, &to, "alice", &how()).unwrap();
    assert_eq!(job.runner.host(), "nfs-new");
    assert_eq!(job.transfer.src, "10.0.0.5:/export/home-01/homes/hub/alice/", "the trailing slash copies the contents");
    assert_eq!(job.transfer.dst, "/export/home-01/homes/hub/alice/");
    let rsh = job.transfer.ssh.as_ref().unwrap();
    assert!(rsh.contains(&"/home/ubuntu/nfs-transfer-key".to_string()), "{rsh:?}");
    let argv = remote::rsync_argv("rsync", &job.transfer);
    for flag in ["--archive", "--numeric-ids", "--delete", "--max-delete=-1", "--partial", "--timeout=600"] {
        assert!(argv.contains(&flag.to_string()), "{flag} in {argv:?}");
    }
    assert!(job.describe().starts_with("alice on nfs-new: rsync --archive"), "{}", job.describe());
}

#[test]
fn one_server_that_mounts_both_copies_between_its_own_folders() {
    let job =
        Job::new(&tree("nfs-vm", "/mnt/filestore/hub"), &tree("nfs-vm", "/mnt/new-nfs/prod"), "bob", &how()).unwrap();
    assert_eq!(
        (job.transfer.src.as_str(), job.transfer.dst.as_str()),
        ("/mnt/filestore/hub/bob/", "/mnt/new-nfs/prod/bob/")
    );
    assert_eq!(job.transfer.ssh, None);
    let push = Job::new(&tree(LOCAL, "/srv/homes"), &tree("nfs-new", "/export/homes"), "bob", &how()).unwrap();
    assert_eq!(push.runner, Runner::Local);
    assert_eq!(push.transfer.dst, "nfs-new:/export/homes/bob/");
}

const WORLD: &str = "name: t
start: 2026-11-21T06:00:00Z
hosts:
  nfs-old:
    files:
      /export/homes/alice/a.txt: hello
      /export/homes/bob/b.txt: bob
    events:
      - { after: 1h, write: { /export/homes/bob/c.txt: more } }
  nfs-new:
    speed: { rate: 1MB/s, connect: 1s }
";

fn world() -> Shared {
    let world = World::load(WORLD, "t.yaml", &[("hosts", hosts::load_world)]).unwrap();
    let start = world.start();
    Shared::new(world, Arc::new(Clock::starting_at(start)))
}

#[test]
fn on_a_world_a_check_copies_nothing_and_an_apply_copies() {
    let shared = world();
    let homes = Homes::World(shared.clone());
    let job = Job::new(&tree("nfs-old", "/export/homes"), &tree("nfs-new", "/export/homes"), "alice", &how()).unwrap();
    let before = shared.lock().to_yaml(shared.now());
    let checked = homes.rsync(&Permit::for_tests_check(), &job).unwrap();
    assert_eq!((checked.status, checked.report.files, checked.simulated), (0, 1, true));
    assert_eq!(shared.lock().to_yaml(shared.now()), before, "a check changes nothing");
    let made = homes.rsync(&Permit::for_tests(), &job).unwrap();
    assert_eq!((made.report.files, made.took_ms), (1, 1000));
    let listing = homes.list(&Permit::for_tests_check(), &tree("nfs-new", "/export/homes")).unwrap();
    assert_eq!(listing.users, ["alice"]);
    let err = homes.list(&Permit::for_tests_check(), &tree("nfs-new", "/nowhere")).unwrap_err();
    assert_eq!(err.to_string(), "cannot list `/nowhere` on `nfs-new`: cd: /nowhere: No such file or directory");
    assert_eq!(err.kind(), "NotFound");
}

#[test]
fn on_a_world_changes_since_a_listing_are_found() {
    let shared = world();
    let homes = Homes::World(shared.clone());
    let from = tree("nfs-old", "/export/homes");
    let listing = homes.list(&Permit::for_tests_check(), &from).unwrap();
    assert_eq!(listing.users, ["alice", "bob"]);
    assert_eq!(homes.changed(&Permit::for_tests_check(), &from, listing.clock, None).unwrap(), Vec::<String>::new());
    shared.clock().sleep(Duration::from_hours(2), &Cancel::default(), |_| {}).unwrap();
    let handed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = handed.clone();
    let found: crate::backends::shell::process::LineSink = Box::new(move |n| sink.lock().unwrap().push(n.to_string()));
    assert_eq!(homes.changed(&Permit::for_tests_check(), &from, listing.clock, Some(found)).unwrap(), ["bob"]);
    assert_eq!(*handed.lock().unwrap(), ["bob"], "a world hands over what it found too");
}
