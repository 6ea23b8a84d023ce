//! The `hosts:` world: copies between host trees as rsync makes them (and
//! refuses them), events over virtual time, checks that change nothing.

use super::rsync::Ran;
use super::*;
use crate::backends::shell::rsync::Transfer;
use crate::effects::Failure;

fn now() -> Timestamp {
    "2026-11-21T06:00:00Z".parse().unwrap()
}

fn world() -> HostsWorld {
    let yaml = "
nfs-old:
  files:
    /export/homes/hub/alice/a.txt: hello
    /export/homes/hub/bob/big.h5: { size: 1000 }
  commands:
    - run: du -s /export/homes/hub
      stdout: \"1005 /export/homes/hub\\n\"
nfs-new:
  files:
    /export/homes/hub/stale: x
down: { reachable: false }
";
    let value: Value = serde_norway::from_str(yaml).unwrap();
    serde_json::from_value(value).unwrap()
}

fn transfer(src: &str, dst: &str, delete: bool) -> Transfer {
    Transfer { src: src.into(), dst: dst.into(), delete, ..Transfer::default() }
}

#[test]
fn rsync_copies_between_hosts_and_counts_bytes() {
    let mut w = world();
    // Run on the new server, pulling from the old one (as the seed does).
    let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "/export/homes/hub/", true);
    let ran = w.rsync_on(&Permit::for_tests(), "nfs-new", &t, now()).unwrap();
    let (r, status) = (ran.report, ran.status);
    assert_eq!((r.files, r.bytes, r.deleted, status), (2, 1005, 1, 0));
    let files: Vec<&String> = w.hosts["nfs-new"].files.keys().collect();
    assert_eq!(files, ["/export/homes/hub/alice/a.txt", "/export/homes/hub/bob/big.h5"]);
    let again = w.rsync_on(&Permit::for_tests(), "nfs-new", &t, now()).unwrap().report;
    assert_eq!((again.files, again.bytes), (0, 0), "a second run moves only changes");
}

#[test]
fn a_checked_or_previewed_rsync_reports_and_changes_nothing() {
    let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "/export/homes/hub/", true);
    for (permit, t) in [(Permit::for_tests_check(), t.clone()), (Permit::for_tests(), t.previewed())] {
        let mut w = world();
        let before = w.snapshot();
        let ran = w.rsync_on(&permit, "nfs-new", &t, now()).unwrap();
        let (r, status) = (ran.report, ran.status);
        assert_eq!((r.files, r.bytes, r.deleted, status), (2, 1005, 1, 0), "the report is the real one");
        assert_eq!(w.snapshot(), before, "nothing moved");
    }
}

#[test]
fn a_checked_write_changes_nothing() {
    let mut w = world();
    let before = w.snapshot();
    w.write_local(&Permit::for_tests_check(), "deploy/values.yaml", "a: 1\n".into()).unwrap();
    assert_eq!(w.snapshot(), before);
    let err = w.write_local(&Permit::for_tests_check(), "deploy/", String::new()).unwrap_err();
    assert_eq!(err.to_string(), "`deploy/` is not a file path");
    w.write_local(&Permit::for_tests(), "./deploy/values.yaml", "a: 1\n".into()).unwrap();
    assert_eq!(w.read_local("deploy/values.yaml").as_deref(), Some("a: 1\n"));
}

#[test]
fn rsync_without_a_trailing_slash_copies_the_folder() {
    let mut w = world();
    w.rsync(&Permit::for_tests(), &transfer("nfs-old:/export/homes/hub", "/backup/", false), now()).unwrap();
    assert!(w.hosts[LOCAL].files.contains_key("/backup/hub/alice/a.txt"));
}

#[test]
fn unknown_unreachable_and_missing_are_errors() {
    let mut w = world();
    let p = Permit::for_tests_check();
    let err = w.rsync(&p, &transfer("down:/x/", "/y/", false), now()).unwrap_err();
    assert_eq!(err.to_string(), "ssh to `down` failed: ssh: connect to host down port 22: Connection timed out");
    let err = w.rsync(&p, &transfer("nope:/x/", "/y/", false), now()).unwrap_err();
    assert_eq!(err.kind(), "Unreachable");
    let err = w.rsync(&p, &transfer("nfs-old:/missing/", "/y/", false), now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`rsync` exited with status 23: rsync: [sender] change_dir \"/missing\" failed: No such file or directory (2)"
    );
}

#[test]
fn commands_answer_by_exact_line() {
    let w = world();
    assert_eq!(w.answer("nfs-old", "du -s /export/homes/hub").unwrap().stdout, "1005 /export/homes/hub\n");
    let err = w.answer("nfs-old", "reboot").unwrap_err();
    assert_eq!(err.to_string(), "world host `nfs-old` has no answer for `reboot` (add it to its `commands`)");
    assert_eq!(err.kind(), "NotFound");
}

#[test]
fn snapshot_round_trips() {
    let w = world();
    let again: HostsWorld = serde_json::from_value(w.snapshot()).unwrap();
    assert_eq!(again.snapshot(), w.snapshot());
    assert_eq!(w.snapshot()["down"], serde_json::json!({ "reachable": false }));
}

#[test]
fn two_remote_ends_are_refused_as_rsync_refuses_them() {
    let mut w = world();
    let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "nfs-new:/export/homes/hub/", false);
    let ran = w.rsync_on(&Permit::for_tests(), "local", &t, now()).unwrap();
    assert_eq!(ran.status, 1);
    assert!(ran.stderr.starts_with("The source and destination cannot both be remote.\n"), "{}", ran.stderr);
    let err = w.rsync(&Permit::for_tests(), &t, now()).unwrap_err();
    assert!(
        err.to_string().starts_with("`rsync` exited with status 1: The source and destination cannot both be remote."),
        "{err}"
    );
    assert!(w.hosts["nfs-new"].files.keys().all(|p| p == "/export/homes/hub/stale"), "nothing copied");
}

fn homes() -> HostsWorld {
    let yaml = "
nfs-old:
  files:
    /export/homes/alice/a.txt: hello
    /export/homes/alice/b.txt: world
    /export/homes/bob/c.txt: bob
  faults:
    - { path: /export/homes/bob, status: 24, times: 1 }
    - { path: /export/homes/carol/, status: 12 }
  events:
    - { after: 1h, write: { /export/homes/bob/d.txt: later }, delete: [/export/homes/alice/b.txt] }
nfs-new:
  speed: { rate: 1KB/s, per_file: 1s, connect: 2s }
  files:
    /export/homes/alice/old1: x
    /export/homes/alice/old2: x
";
    let value: Value = serde_norway::from_str(yaml).unwrap();
    let part = load_world(&value).unwrap();
    part.as_any().downcast_ref::<HostsWorld>().unwrap().clone()
}

fn pull(user: &str, delete: bool, max_delete: Option<u64>) -> Transfer {
    Transfer {
        src: format!("nfs-old:/export/homes/{user}/"),
        dst: format!("/export/homes/{user}/"),
        delete,
        max_delete,
        ..Transfer::default()
    }
}

#[test]
fn faults_end_copies_with_their_status_and_count_down() {
    let mut w = homes();
    let p = Permit::for_tests();
    let ran = w.rsync_on(&p, "nfs-new", &pull("bob", false, None), now()).unwrap();
    assert_eq!((ran.status, ran.report.files), (24, 1), "24 copies and says files vanished");
    assert!(ran.stderr.contains("some files vanished"), "{}", ran.stderr);
    let ran = w.rsync_on(&p, "nfs-new", &pull("bob", false, None), now()).unwrap();
    assert_eq!((ran.status, ran.report.files), (0, 0), "once only");
    let ran = w.rsync_on(&p, "nfs-new", &pull("carol", false, None), now()).unwrap();
    assert_eq!((ran.status, ran.report.files), (12, 0));
    let Ran { status, stderr, .. } = w.rsync_on(&p, "nfs-new", &pull("dave", false, None), now()).unwrap();
    assert_eq!(status, 23);
    assert!(stderr.contains("change_dir \"/export/homes/dave\" failed: No such file or directory"), "{stderr}");
}

#[test]
fn max_delete_holds_deletions_back_and_says_how_many() {
    let mut w = homes();
    let ran = w.rsync_on(&Permit::for_tests(), "nfs-new", &pull("alice", true, Some(0)), now()).unwrap();
    assert_eq!((ran.status, ran.report.files, ran.report.deleted), (25, 2, 0));
    assert_eq!(crate::backends::shell::rsync::skipped_deletions(&ran.stderr), Some(2));
    assert!(w.hosts["nfs-new"].files.contains_key("/export/homes/alice/old1"), "nothing deleted");
    let ran = w.rsync_on(&Permit::for_tests(), "nfs-new", &pull("alice", true, Some(5)), now()).unwrap();
    assert_eq!((ran.status, ran.report.deleted), (0, 2));
    assert!(!w.hosts["nfs-new"].files.contains_key("/export/homes/alice/old1"));
}

#[test]
fn speed_says_how_long_a_copy_takes() {
    let mut w = homes();
    let ran = w.rsync_on(&Permit::for_tests(), "nfs-new", &pull("alice", false, None), now()).unwrap();
    // 2s to connect, 2 files at 1s each, 10 bytes at 1KB/s.
    assert_eq!(ran.took, Duration::from_millis(4010));
}

#[test]
fn events_change_files_over_time_and_are_seen_as_changes() {
    let mut w = homes();
    let later: Timestamp = "2026-11-21T07:00:00Z".parse().unwrap();
    w.settle(now(), now());
    assert_eq!(w.folders("nfs-old", "/export/homes").unwrap(), Some(vec!["alice".into(), "bob".into()]));
    assert_eq!(w.changed_since("nfs-old", "/export/homes", now()).unwrap(), Vec::<String>::new());
    w.settle(now(), later);
    assert!(w.hosts["nfs-old"].files.contains_key("/export/homes/bob/d.txt"));
    assert!(!w.hosts["nfs-old"].files.contains_key("/export/homes/alice/b.txt"));
    assert_eq!(w.changed_since("nfs-old", "/export/homes/", now()).unwrap(), ["alice", "bob"]);
    assert_eq!(
        w.changed_since("nfs-old", "/export/homes", "2026-11-21T07:00:01Z".parse().unwrap()).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(w.folders("nfs-old", "/export/nowhere").unwrap(), None);
    let saved = w.snapshot_after(Duration::from_mins(30));
    assert!(saved["nfs-old"].get("events").is_none(), "applied events are gone: {saved}");
}

#[test]
fn bad_speeds_and_event_times_are_named() {
    let value: Value = serde_norway::from_str("h: { speed: { rate: fast } }").unwrap();
    assert_eq!(
        load_world(&value).unwrap_err(),
        "host `h`: `speed.rate`: `fast` is not a rate (examples: 100MB/s, 1GiB/s, 500KB/s)"
    );
    let value: Value = serde_norway::from_str("h: { events: [{ after: soon }] }").unwrap();
    assert!(load_world(&value).unwrap_err().starts_with("host `h`: event `after`:"));
}

#[test]
fn a_host_refuses_a_copy_from_a_host_whose_key_it_does_not_accept() {
    let mut w = world();
    let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "/export/homes/hub/", false);
    w.hosts.get_mut("nfs-old").unwrap().accepts = Some(vec!["nfs-backup".into()]);
    let ran = w.rsync_on(&Permit::for_tests(), "nfs-new", &t, now()).unwrap();
    assert_eq!(ran.status, 255, "ssh's status, as rsync passes it on");
    assert!(ran.stderr.starts_with("nfs-old: Permission denied (publickey).\n"), "{}", ran.stderr);
    assert_eq!(ran.report.files, 0);
    assert!(!w.hosts["nfs-new"].files.contains_key("/export/homes/hub/alice/a.txt"), "nothing copied");
    assert_eq!(
        w.refused_login("nfs-new", "nfs-old").unwrap().as_deref(),
        Some("nfs-old: Permission denied (publickey).")
    );
    assert_eq!(w.refused_login("nfs-backup", "nfs-old").unwrap(), None);
    w.hosts.get_mut("nfs-old").unwrap().accepts = Some(vec!["nfs-new".into()]);
    assert_eq!(w.rsync_on(&Permit::for_tests(), "nfs-new", &t, now()).unwrap().status, 0, "once it has the key");
    assert_eq!(w.refused_login("nfs-new", "nfs-new").unwrap(), None, "no list: every host's key");
    assert!(w.refused_login("nfs-new", "down").is_err(), "unreachable");
}
