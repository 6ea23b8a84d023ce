//! `homes::` against two real sshd servers on 127.0.0.3 (old) and 127.0.0.2
//! (new) and the real rsync: the new server pulls each user's folder from
//! the old one with its own key; a second pass moves only what changed;
//! rsync's exit 24 is tried again; a failing user does not stop the rest;
//! deletions past the blast radius are held; a dry run itemizes and writes
//! nothing; Ctrl-C leaves no rsync running; the final pass copies only what
//! changed; active users come from every page of the hub API.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sshd::Servers;
use crate::support::Test;
use crate::web::Web;

/// Every entry under `root`: path, content (files), mode and mtime.
fn tree(root: &Path) -> Vec<(String, Vec<u8>, u32, i64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                out.push((format!("{name}/"), Vec::new(), meta.mode(), 0));
                stack.push(path);
            } else {
                out.push((name, std::fs::read(&path).unwrap(), meta.mode(), meta.mtime()));
            }
        }
    }
    out.sort();
    out
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A site: the two servers, `old/homes` with users' folders, `new/homes`,
/// in a folder of its own that outlives each run's scratch folder.
struct Site {
    servers: Servers,
    old: PathBuf,
    new: PathBuf,
    dir: tempfile::TempDir,
}

fn site(users: &[&str]) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let servers = Servers::start(dir.path());
    let old = dir.path().join("old/homes");
    let new = dir.path().join("new/homes");
    std::fs::create_dir_all(&new).unwrap();
    for user in users {
        for i in 0..20 {
            write(
                &old.join(format!("{user}/notebooks/n{i}.ipynb")),
                &format!("{{\"user\": \"{user}\", \"cell\": {i}}}\n"),
            );
        }
        write(&old.join(format!("{user}/.bashrc")), "export PS1='$ '\n");
    }
    Site { servers, old, new, dir }
}

impl Site {
    /// A script that opens both trees as `from` and `to` and imports the
    /// passes as `copies`, then runs `body`.
    fn script(&self, body: &str) -> String {
        format!(
            "import \"homes\" as copies;\nlet from = {};\nlet to = {};\n{body}",
            self.servers.old_tree(&self.old),
            self.servers.new_tree(&self.new)
        )
    }
}

/// Runs `body` in a scratch folder, which lives as long as what is returned.
fn run(site: &Site, body: &str, extra: &[&str]) -> (crate::support::Done, tempfile::TempDir) {
    let mut args = vec!["run", "copy.rhai", "--yes", "--journal", "j.jsonl"];
    args.extend(extra);
    Test::new().file("copy.rhai", &site.script(body)).args(&args).run()
}

#[test]
fn a_pass_pulls_every_user_over_ssh_and_the_next_moves_only_changes() {
    let site = site(&["alice", "bob", "carol"]);
    let body =
        "let p = copies::pass(from, to, \"all\", 2, #{});\nprint(copies::report(p));\nprint(copies::forecast(p));\n";
    let (done, _scratch) = run(&site, body, &[]);
    done.status(0);
    assert!(done.stdout.starts_with("copied 3 of 3 users (63 files, 1.8 KB) in "), "{}", done.stdout);
    assert!(done.stdout.contains("for 1.8 KB over 3 users; expect about that much downtime\n"), "{}", done.stdout);
    assert_eq!(tree(&site.old), tree(&site.new), "byte for byte, with modes and times");
    assert!(done.stderr.contains("      Copied alice: 21 files, "), "{}", done.stderr);

    write(&site.old.join("bob/notebooks/n3.ipynb"), "{\"changed\": true}\n");
    let body = "let p = copies::pass(from, to, \"all\", 2, #{});\nfor r in p.results { print(`${r.user} ${r.files} ${r.changed}`); }\n";
    let (done, _scratch) = run(&site, body, &[]);
    done.status(0).stdout("alice 0 []\nbob 1 [\"notebooks/n3.ipynb\"]\ncarol 0 []\n");
    assert_eq!(tree(&site.old), tree(&site.new));
}

#[test]
fn a_dry_run_itemizes_on_the_real_servers_and_writes_nothing() {
    let site = site(&["alice", "bob"]);
    write(&site.new.join("bob/stale.txt"), "only on the new server\n");
    let (old, new) = (tree(&site.old), tree(&site.new));
    let body = "let p = copies::pass(from, to, \"all\", 2, #{ max_delete: \"100%\" });\nprint(copies::report(p));\nfor r in p.results { print(`${r.user}: ${r.changed.len()} ${r.would_delete} ${r.planned}`); }\n";
    let (done, _scratch) = run(&site, body, &["--dry-run"]);
    // 21 files and the notebooks folder each; bob's stale file would go.
    done.status(0).stdout("would copy 2 of 2 users (42 files, 1.2 KB) in 0s\nalice: 22 0 true\nbob: 22 1 true\n");
    assert_eq!(tree(&site.old), old, "the old server is as it was");
    assert_eq!(tree(&site.new), new, "the new server is as it was, byte for byte");
    assert!(done.stderr.contains("  Would copy alice: 21 files, "), "{}", done.stderr);
    assert!(done.stderr.contains("Plan:"), "{}", done.stderr);
}

#[test]
fn exit_24_is_tried_again_and_one_failing_user_does_not_stop_the_others() {
    let site = site(&["alice", "bob", "carol", "dave"]);
    // A real rsync that, the first time it copies carol, reports files
    // vanished (24) after copying; dave's destination is a file, which
    // rsync cannot copy a folder into.
    let marker = site.dir.path().join("carol-once");
    let flaky = site.dir.path().join("flaky-rsync");
    write(
        &flaky,
        &format!(
            "#!/bin/sh\ncase \"$*\" in *carol*) if [ ! -e {m} ]; then touch {m}; rsync \"$@\"; exit 24; fi;; esac\nexec rsync \"$@\"\n",
            m = marker.display()
        ),
    );
    std::process::Command::new("chmod").arg("+x").arg(&flaky).status().unwrap();
    write(&site.new.join("dave"), "a file where a folder goes\n");
    let body = format!(
        "let p = copies::pass(from, to, [\"alice\", \"bob\", \"carol\", \"dave\", \"erin\"], 3, #{{ rsync_path: \"{}\", backoff: \"1s\" }});\n\
         print(copies::report(p));\nfor r in p.results {{ print(`${{r.user}} ${{r.status}} ${{r.attempts}} ${{r.exit}}`); }}\n",
        flaky.display()
    );
    let (done, _scratch) = run(&site, &body, &[]);
    done.status(0);
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert_eq!(
        lines[1..],
        ["alice copied 1 0", "bob copied 1 0", "carol copied 2 0", "dave failed 1 3", "erin missing 1 23"],
        "{}",
        done.stdout
    );
    assert!(lines[0].starts_with("copied 3 of 5 users"), "{}", lines[0]);
    assert!(lines[0].ends_with("; no folder at the source: [\"erin\"]; failed: [\"dave\"]"), "{}", lines[0]);
    assert!(
        done.stderr.contains("before trying carol again (rsync exit 24: files vanished while they were copied)"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("warning: dave not copied: rsync exit 3 (the destination cannot be used): "),
        "{}",
        done.stderr
    );
    for user in ["alice", "bob", "carol"] {
        assert_eq!(tree(&site.old.join(user)), tree(&site.new.join(user)), "{user}");
    }
    let events = done.journal("j.jsonl");
    let copies = events
        .iter()
        .filter(|e| matches!(e, hubops::journal::Event::Change { phase, change, .. } if phase == "applied" && change["verb"] == "copy"))
        .count();
    assert_eq!(copies, 6, "each attempt is its own journal record");
}

#[test]
fn a_pass_at_parallel_16_shares_connections_within_stock_sshd_limits() {
    // sshd's stock `MaxStartups 10:30:100` drops some of 16 logins at once
    // and `MaxSessions 10` caps one shared connection: each copy logging
    // in on its own (two logins a user) had some users fail with ssh's
    // exit 255 and wait out a backoff. Shared connections, at most 8
    // copies each, log in a handful of times for the whole pass.
    let users: Vec<String> = (0..40).map(|i| format!("user{i:02}")).collect();
    let site = site(&users.iter().map(String::as_str).collect::<Vec<_>>());
    let body = "let p = copies::pass(from, to, \"all\", 16, #{ retries: 0 });\nprint(copies::report(p));\n\
                print(p.results.filter(|r| r.attempts != 1 || r.status != \"copied\").map(|r| `${r.user}: ${r.error}`));\n";
    let (done, _scratch) = run(&site, body, &[]);
    done.status(0);
    assert!(done.stdout.starts_with("copied 40 of 40 users (840 files, "), "{}", done.stdout);
    assert!(done.stdout.ends_with("\n[]\n"), "every user in one attempt: {}", done.stdout);
    assert_eq!(tree(&site.old), tree(&site.new), "byte for byte, with modes and times");
    // The new server: two shared connections (16 copies at once, 8 each);
    // the old one: the listing's and two the new server shares.
    let (new, old) = (site.servers.logins("new"), site.servers.logins("old"));
    assert!(new <= 3 && old <= 4, "logins: {new} on the new server, {old} on the old one (80 without sharing)");
}

#[test]
fn a_target_that_cannot_log_in_to_the_source_is_named_before_any_user_is_tried() {
    // Before, each user failed on its own with ssh's exit 255 after three
    // retries and their backoffs (30 s, 1 min, 2 min), and the pass ended
    // saying every user failed.
    let site = site(&["alice", "bob"]);
    let stranger = site.dir.path().join("stranger");
    crate::sshd::keygen(&stranger);
    let from = site.servers.old_tree(&site.old).replace(
        &format!("identity: \"{}\"", site.servers.transfer.display()),
        &format!("identity: \"{}\"", stranger.display()),
    );
    assert!(from.contains("stranger"), "{from}");
    let script = format!(
        "import \"homes\" as copies;\nlet from = {from};\nlet to = {};\nlet p = copies::pass(from, to, \"all\", 4, #{{}});\nprint(copies::report(p));\n",
        site.servers.new_tree(&site.new)
    );
    let (done, _scratch) = Test::new().file("copy.rhai", &script).args(&["run", "copy.rhai", "--yes"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("`127.0.0.2` cannot log in to `127.0.0.3` to copy from it (ssh exit 255)"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("put that key's public half in `127.0.0.3`'s authorized_keys"), "{}", done.stderr);
    assert!(!done.stderr.contains("alice"), "no user was tried: {}", done.stderr);
    assert_eq!(std::fs::read_dir(&site.new).unwrap().count(), 0, "nothing copied");
}

#[test]
fn deletions_past_the_blast_radius_are_held_and_within_it_made() {
    let site = site(&["alice", "bob"]);
    let body = "copies::pass(from, to, \"all\", 2, #{});\n";
    run(&site, body, &[]).0.status(0);
    // alice deleted 1 of her 21 files; bob's source lost 15 of his.
    std::fs::remove_file(site.old.join("alice/notebooks/n0.ipynb")).unwrap();
    for i in 0..15 {
        std::fs::remove_file(site.old.join(format!("bob/notebooks/n{i}.ipynb"))).unwrap();
    }
    let body = "let p = copies::pass(from, to, \"all\", 2, #{});\nfor r in p.results { print(`${r.user} ${r.status} ${r.deleted} ${r.would_delete}`); }\n";
    let (done, _scratch) = run(&site, body, &[]);
    done.status(0).stdout("alice copied 1 0\nbob held 0 15\n");
    assert!(!site.new.join("alice/notebooks/n0.ipynb").exists(), "within 10%: deleted");
    assert!(site.new.join("bob/notebooks/n0.ipynb").exists(), "past 10%: kept");
    assert!(
        done.stderr
            .contains("warning: bob held: would delete 15 of 23 files (65%, more than 10%); nothing was deleted"),
        "{}",
        done.stderr
    );
}

#[test]
fn the_final_pass_copies_only_what_changed_since_the_last_one_began() {
    let site = site(&["alice", "bob", "carol"]);
    // File times are kept in whole seconds: let the tree's own be older
    // than the pass's two seconds of slack.
    std::thread::sleep(Duration::from_secs(3));
    let marker = site.dir.path().join("changed-now");
    let body = format!(
        "let first = copies::pass(from, to, \"all\", 3, #{{}});\nsh::run(\"sh\", [\"-c\", \"sleep 1; echo more >> {old}/carol/.bashrc; touch {m}\"]);\n\
         let last = copies::final_pass(from, to, first, 3, #{{}});\nprint(copies::report(last));\n",
        old = site.old.display(),
        m = marker.display()
    );
    let (done, _scratch) = run(&site, &body, &[]);
    done.status(0);
    assert!(done.stdout.starts_with("copied 1 of 1 users (1 files, "), "{}", done.stdout);
    assert!(
        done.stderr.contains("Info final pass: 1 users changed or were not copied since the last pass (of 3)"),
        "{}",
        done.stderr
    );
    assert_eq!(tree(&site.old), tree(&site.new));
}

/// Trees on this machine: `old` with one notebook for each of alice, bob
/// and carol, an empty `new`, and `bin`, first on hubops' PATH, for a
/// `find` of the test's own.
struct Local {
    old: PathBuf,
    new: PathBuf,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

/// The last pass `final_pass` is given: the three users, and a `since` that
/// every file is newer than.
const LAST: &str = "let last = #{ results: [#{user: \"alice\"}, #{user: \"bob\"}, #{user: \"carol\"}], \
                    users: 3, failed: [], held: [], since: 0 };\n";

fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, bin) = (dir.path().join("old"), dir.path().join("new"), dir.path().join("bin"));
    for user in ["alice", "bob", "carol"] {
        write(&old.join(format!("{user}/notebooks/n0.ipynb")), &format!("{{\"user\": \"{user}\"}}\n"));
    }
    std::fs::create_dir_all(&new).unwrap();
    Local { old, new, bin, _dir: dir }
}

impl Local {
    /// A `find` whose search for changes (`-newerct`) is `search`, a shell
    /// body in which `$REAL` is the real find; the listing's is the real one.
    fn find(&self, search: &str) {
        let real = std::process::Command::new("sh").args(["-c", "command -v find"]).output().unwrap().stdout;
        let real = String::from_utf8(real).unwrap();
        write(
            &self.bin.join("find"),
            &format!(
                "#!/bin/sh\nREAL={}\ncase \"$*\" in *-newerct*) ;; *) exec \"$REAL\" \"$@\" ;; esac\n{search}",
                real.trim()
            ),
        );
        std::process::Command::new("chmod").arg("+x").arg(self.bin.join("find")).status().unwrap();
    }

    /// `body` run with `from` and `to` the two trees and the passes as `copies`.
    fn run(&self, body: &str) -> (crate::support::Done, tempfile::TempDir) {
        let script = format!(
            "import \"homes\" as copies;\nlet from = homes::tree(\"local\", \"{}\");\nlet to = homes::tree(\"local\", \"{}\");\n{body}",
            self.old.display(),
            self.new.display()
        );
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        Test::new().file("copy.rhai", &script).env("PATH", &path).args(&["run", "copy.rhai", "--yes"]).run()
    }
}

/// A shell loop that waits (at most 30 s, then fails saying `why`) until `until` holds.
fn wait_in_sh(until: &str, why: &str) -> String {
    format!("i=0\nuntil {until}; do\n  i=$((i + 1))\n  if [ $i -gt 600 ]; then echo '{why}' >&2; exit 1; fi\n  sleep 0.05\ndone\n")
}

#[test]
fn the_final_pass_copies_while_the_search_still_walks_the_source() {
    // The search prints what changed, then does not end until a copy has
    // landed at the target. Were copies started only once the search had
    // ended, none would land: the search would fail, and the pass would
    // warn and copy every user of the last pass instead.
    let site = local();
    let landed = format!("[ -n \"$(ls -A {})\" ]", site.new.display());
    site.find(&format!("\"$REAL\" \"$@\" || exit $?\n{}", wait_in_sh(&landed, "no copy began while the search ran")));
    let (done, _scratch) =
        site.run(&format!("{LAST}let p = copies::final_pass(from, to, last, 2, #{{}});\nprint(copies::report(p));\n"));
    done.status(0);
    assert!(!done.stderr.contains("cannot tell what changed"), "{}", done.stderr);
    assert!(done.stdout.starts_with("copied 3 of 3 users"), "{}", done.stdout);
    assert!(done.stderr.contains("final pass: 3 users changed or were not copied since the last pass (of 3)"));
    assert_eq!(tree(&site.old), tree(&site.new));
}

#[test]
fn parallel_over_a_search_stops_waiting_for_more_when_an_item_fails() {
    // The search prints what changed, then does not end until the script
    // says so. The first item's call fails: `parallel` must give up on the
    // items still to come rather than wait for the search to end, so the
    // script gets to say so.
    let site = local();
    let go = site.bin.join("go");
    site.find(&format!(
        "\"$REAL\" \"$@\" || exit $?\n{}",
        wait_in_sh(&format!("[ -e {} ]", go.display()), "never told to end")
    ));
    let (done, _scratch) = site.run(&format!(
        "let found = homes::changes(from, 0, []);\n\
         try {{ parallel(found, 2, |user| throw `no copy for ${{user}}`); }} catch (e) {{ print(e.message); }}\n\
         sh::run(\"touch\", [\"{}\"]);\nlet how = found.wait();\nprint(`${{how.items.len()}} ${{how.error}}`);\n",
        go.display()
    ));
    done.status(0);
    assert!(done.stdout.starts_with("parallel: item 0 (`"), "{}", done.stdout);
    assert!(done.stdout.ends_with("3 \n"), "the search ended when told, having found all three: {}", done.stdout);
}

#[test]
fn a_search_nobody_waits_for_any_more_is_stopped_before_hubops_ends() {
    // The search prints what changed, then would go on for 30 s. The copy
    // of the first folder raises an error that nothing catches: the run
    // ends, and it must take the search with it rather than leave find
    // walking the tree for nobody (locally it would outlive hubops).
    let site = local();
    site.find(&format!("\"$REAL\" \"$@\" || exit $?\n{}", wait_in_sh("false", "never stopped")));
    let (done, _scratch) =
        site.run("let found = homes::changes(from, 0, []);\nparallel(found, 2, |user| throw `no copy for ${user}`);\n");
    done.status(1);
    assert!(done.stderr.contains("no copy for "), "{}", done.stderr);
    let left = processes_with(&site.bin.display().to_string());
    assert!(left.is_empty(), "the search outlived the run: {left:#?}");
    // The journal has the search's end before the run's.
    let journal = done.stderr.split("Journal ").nth(1).and_then(|s| s.lines().next()).unwrap().trim().to_string();
    let events: Vec<String> = std::fs::read_to_string(journal).unwrap().lines().map(str::to_string).collect();
    let ended = events.iter().position(|e| e.contains("\"phase\":\"failed\"") && e.contains("\"find changes\""));
    let run_end = events.iter().position(|e| e.contains("\"run_end\""));
    assert!(ended.is_some() && ended < run_end, "{events:#?}");
}

#[test]
fn a_search_that_fails_midway_still_copies_every_user_of_the_last_pass() {
    // A search that prints what it found and then fails, as find does when
    // it meets a folder it may not read: what it found is copied as it
    // comes, the rest of the last pass's users after the warning.
    let site = local();
    site.find("echo alice/notebooks\necho 'find: ./bob: Permission denied' >&2\nexit 1\n");
    let (done, _scratch) = site.run(&format!(
        "{LAST}let p = copies::final_pass(from, to, last, 2, #{{}});\nfor r in p.results {{ print(r.user); }}\n"
    ));
    done.status(0).stdout("alice\nbob\ncarol\n");
    assert!(
        done.stderr.contains("cannot tell what changed since the last pass (cannot tell what changed in `"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("find failed (status 1): find: ./bob: Permission denied"), "{}", done.stderr);
    assert_eq!(tree(&site.old), tree(&site.new));
}

/// The processes whose command line or working folder holds `needle`
/// (zombies excluded): rsync's sender works in the folder it sends.
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        if (cmdline.contains(needle) || cwd.contains(needle)) && !zombie {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

#[test]
fn ctrl_c_stops_every_rsync_on_both_servers() {
    let site = site(&["alice", "bob"]);
    for user in ["alice", "bob"] {
        std::fs::write(site.old.join(format!("{user}/big.bin")), vec![7u8; 4 << 20]).unwrap();
    }
    let body = "copies::pass(from, to, \"all\", 2, #{ bwlimit: \"64\" });\n";
    let script = site.script(body);
    let test = Test::new().file("copy.rhai", &script).args(&["run", "copy.rhai", "--yes"]);
    let child =
        test.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let needle = site.old.display().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Both rsyncs run on the new server, and each has its sender on the old.
    while processes_with(&needle).iter().filter(|p| p.contains(": rsync --server --sender")).count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the copies did not start: {:?}", processes_with(&needle));
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_with(&needle).is_empty() {
        assert!(std::time::Instant::now() < deadline, "left running: {:#?}", processes_with(&needle));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn active_users_come_from_every_page_of_the_hub_api() {
    // 450 users over pages of 200: the last page (400..450) counts too.
    // Every third user was active an hour ago, the others two days ago.
    let now = jiff::Timestamp::now();
    let web = Web::start(false, move |seen, _| {
        let query = seen.path.split_once('?').map_or("", |(_, q)| q);
        let arg = |key: &str| {
            query.split('&').find_map(|p| p.strip_prefix(&format!("{key}="))).and_then(|v| v.parse::<usize>().ok())
        };
        let (offset, limit) = (arg("offset").unwrap_or(0), arg("limit").unwrap_or(200).min(200));
        let items: Vec<serde_json::Value> = (offset..(offset + limit).min(450))
            .map(|i| {
                let ago = if i % 3 == 0 { jiff::SignedDuration::from_hours(1) } else { jiff::SignedDuration::from_hours(48) };
                serde_json::json!({ "name": format!("user{i}"), "last_activity": (now - ago).to_string(), "servers": {} })
            })
            .collect();
        let next =
            (offset + limit < 450).then(|| serde_json::json!({ "offset": offset + limit, "limit": limit, "url": "" }));
        let body = serde_json::json!({ "items": items, "_pagination": { "offset": offset, "limit": limit, "total": 450, "next": next } });
        (200, "application/json".into(), body.to_string())
    });
    let script = format!(
        "import \"homes\" as copies;\nlet names = copies::active_folders(\"{}\", \"t0ken-for-tests\", \"24h\");\nprint(names.len());\nprint(names.contains(\"user447\"));\nprint(names.contains(\"user448\"));\n",
        web.base
    );
    let (done, _dir) = Test::new().file("a.rhai", &script).args(&["run", "a.rhai"]).run();
    done.status(0).stdout("150\ntrue\nfalse\n");
    let pages: Vec<String> = web.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        pages,
        [
            "/hub/api/users?offset=0&limit=200",
            "/hub/api/users?offset=200&limit=200",
            "/hub/api/users?offset=400&limit=200"
        ]
    );
    assert!(web.seen().iter().all(|s| s.authorization == "Bearer t0ken-for-tests"));
}
