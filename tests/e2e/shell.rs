//! `sh::` - local commands through the effects gate, against real processes
//! (and, for `rsync`, the real `rsync` binary; for `ssh`, a stand-in `ssh`
//! first on `PATH` that records its argv, since no sshd runs here).

use hubops::journal::Event;

use crate::support::{read, Test};

/// Whether a process runs (a zombie does not: PID 1 in a container may
/// never reap orphans).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn run_passes_arguments_as_they_are_and_captures_output() {
    let script = r#"let r = sh::run("printf", ["%s|", "a b", "$HOME", "*", 3]);
print(r.stdout);
print(r.status);
print(r.planned);
let bad = sh::run("sh", ["-c", "echo oops >&2; exit 3"]);
let err = bad.stderr;
err.trim();
print(`${bad.status} ${err}`);
"#;
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("a b|$HOME|*|3|\n0\nfalse\n3 oops\n");
    assert!(done.stderr.contains("Applying run printf '%s|' 'a b' '$HOME' '*' 3\n"), "{}", done.stderr);
}

#[test]
fn run_with_check_makes_a_failing_exit_an_error_with_the_stderr_tail() {
    let script = r#"try {
    sh::run("sh", ["-c", "echo first >&2; echo last >&2; exit 4"], #{ check: true });
} catch (e) {
    print(`${e.kind} ${e.status} [${e.stderr}]`);
    print(e.message);
}
sh::run("false", [], #{ check: true });
"#;
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai", "--journal", "j.jsonl"]).run();
    done.status(1).stdout("Failed 4 [first\nlast]\n`sh` exited with status 4: first\nlast\n");
    assert!(done.stderr.contains("error: `false` exited with status 1\n"), "{}", done.stderr);
    let phases: Vec<String> = done
        .journal("j.jsonl")
        .into_iter()
        .filter_map(|e| if let Event::Change { phase, .. } = e { Some(phase) } else { None })
        .collect();
    assert_eq!(phases, ["failed", "failed"], "a failed command is journaled as failed");
}

#[test]
fn run_uses_cwd_and_env_and_hides_env_values_in_the_plan() {
    let script = r#"let r = sh::run("sh", ["-c", "printf %s \"$TOKEN\" | wc -c; pwd"], #{ cwd: "sub", env: #{ TOKEN: "t0k3n" } });
print(r.stdout);
"#;
    let (done, dir) =
        Test::new().file("sub/.keep", "").file("r.rhai", script).args(&["run", "r.rhai", "--journal", "j.jsonl"]).run();
    let sub = dir.path().join("sub").canonicalize().unwrap();
    done.status(0).stdout(&format!("5\n{}\n\n", sub.display()));
    assert!(
        done.stderr.contains("Applying run TOKEN=*** sh -c 'printf %s \"$TOKEN\" | wc -c; pwd' (in sub)\n"),
        "{}",
        done.stderr
    );
    assert!(!read(dir.path(), "j.jsonl").contains("t0k3n"), "env values stay out of the journal");
}

#[test]
fn dry_run_plans_the_exact_command_line_and_runs_nothing() {
    let script = r#"let r = sh::run("touch", ["made by hubops"]);
print(`${r.planned} ${r.status}`);
"#;
    let (done, dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai", "--dry-run"]).run();
    done.status(0).stdout("true \n");
    assert!(!dir.path().join("made by hubops").exists(), "nothing ran");
    assert!(done.stderr.contains("\nPlan:\n  sh\n     run        touch 'made by hubops'\n"), "{}", done.stderr);
}

#[test]
fn dry_run_of_a_missing_program_would_fail() {
    let (done, _dir) = Test::new()
        .file("r.rhai", "sh::run(\"no-such-program-hubops\", [\"x\"]);\n")
        .args(&["run", "r.rhai", "--dry-run"])
        .run();
    done.status(1);
    assert!(
        done.stderr.contains(
            "Would fail run no-such-program-hubops x: `no-such-program-hubops` is not installed or not on PATH"
        ),
        "{}",
        done.stderr
    );
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let script = r#"try { sh::run("no-such-program-hubops", []); } catch (e) { print(`${e.kind}: ${e.message}`); }"#;
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("NotFound: `no-such-program-hubops` is not installed or not on PATH\n");
}

#[test]
fn a_missing_working_directory_is_named() {
    let script = r#"try { sh::run("true", [], #{ cwd: "nowhere" }); } catch (e) { print(`${e.kind}: ${e.message}`); }"#;
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("Unreachable: cannot start `true`: No such file or directory (os error 2)\n");
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai", "--dry-run"]).run();
    // Issue 10: a dry run's refusal carries the backend's kind; the gate's
    // verdict (`WouldFail`) is in `gate` (see the test below).
    done.status(0).stdout("Unreachable: run true (in nowhere) failed\n");
    assert!(done.stderr.contains("cannot start `true`: working directory `nowhere` does not exist"), "{}", done.stderr);
}

#[test]
fn a_dry_run_refusal_has_the_backends_kind_and_the_gates_verdict() {
    let script =
        r#"try { sh::run("true", [], #{ cwd: "nowhere" }); } catch (e) { print(`${e.kind} ${e.gate} ${e.causes}`); }"#;
    let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai", "--dry-run"]).run();
    done.status(0)
        .stdout("Unreachable WouldFail [\"cannot start `true`: working directory `nowhere` does not exist\"]\n");
}

#[test]
fn secrets_are_redacted_in_the_recorded_command_line() {
    let script = r#"let p = params(#{ token: #{ secret: true } });
sh::run("echo", ["--token", p.token]);
"#;
    let (done, dir) = Test::new()
        .file("r.rhai", script)
        .args(&["run", "r.rhai", "--set", "token=hunter2", "--journal", "j.jsonl"])
        .run();
    done.status(0);
    assert!(done.stderr.contains("Applying run echo --token ***\n"), "{}", done.stderr);
    let journal = read(dir.path(), "j.jsonl");
    assert!(journal.contains("echo --token ***") && !journal.contains("hunter2"), "{journal}");
}

#[test]
fn a_timeout_stops_the_program_and_its_children() {
    let script = r#"try {
    sh::run("sh", ["-c", "echo $$ > pid; sleep 60 & echo $! > child; wait"], #{ timeout: "1s" });
} catch (e) {
    print(`${e.kind}: ${e.message}`);
}
"#;
    let (done, dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai"]).run();
    done.status(0).stdout("Timeout: `sh` did not finish within 1s and was stopped\n");
    for file in ["pid", "child"] {
        let pid = read(dir.path(), file).trim().to_string();
        assert!(!pid.is_empty(), "{file} was written");
        assert!(!alive(&pid), "process {pid} ({file}) was stopped");
    }
}

#[test]
fn ctrl_c_stops_a_running_command_and_exits_130() {
    let t = Test::new()
        .file("r.rhai", "step(\"long\", || sh::run(\"sh\", [\"-c\", \"echo $$ > pid; exec sleep 60\"]));\n")
        .args(&["run", "r.rhai", "--journal", "j.jsonl"]);
    let pid_file = t.path("pid");
    let child = t.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    for _ in 0..200 {
        if !std::fs::read_to_string(&pid_file).unwrap_or_default().trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!alive(pid.trim()), "the command was stopped with the run");
    drop(t);
}

#[test]
fn bad_arguments_and_options_are_named() {
    let cases = [
        ("sh::run(\"echo\", [#{}]);", "argument 0 of `sh::run` must be a string or a number, not map"),
        (
            "sh::run(\"echo\", [], #{ timout: \"1s\" });",
            "`sh::run` has no option `timout` (options: cwd, env, timeout, check); did you mean `timeout`?",
        ),
        (
            "sh::run(\"echo\", [], #{ timeout: \"soon\" });",
            "`timeout`: `soon` is not a duration (examples: 90s, 15m, 1h30m)",
        ),
        ("sh::run(\"echo\", [], #{ check: \"yes\" });", "`check` must be true or false, not string"),
    ];
    for (script, message) in cases {
        let (done, _dir) = Test::new().file("r.rhai", script).args(&["run", "r.rhai"]).run();
        done.status(1);
        assert!(done.stderr.contains(&format!("error: {message}\n")), "{script}\n{}", done.stderr);
    }
}

#[test]
fn on_a_world_commands_need_the_hosts_section() {
    let (done, _dir) = Test::new()
        .file("r.rhai", "sh::run(\"touch\", [\"x\"]);\n")
        .file("w.yaml", "name: w\n")
        .args(&["run", "r.rhai", "--world", "w.yaml"])
        .run();
    done.status(2);
    assert!(
        done.stderr.contains(
            "error: the world has no `hosts:` section; add the hosts this runbook reaches (host `local` is this machine)\n"
        ),
        "{}",
        done.stderr
    );
}

const WORLD: &str = "name: hub move
start: 2026-11-21T06:00:00Z
hosts:
  local:
    files:
      deploy/values.yaml: |
        # prod hub
        jupyterhub:
          hub:
            baseUrl: /nb   # served here
      homes/stale.txt: old
    commands:
      - run: git -C deploy pull --ff-only
        stdout: \"Already up to date.\\n\"
  nfs-old:
    files:
      /export/homes/hub/alice/a.ipynb: \"{}\"
      /export/homes/hub/bob/data.h5: { size: 5000000 }
    commands:
      - run: du -s /export/homes/hub
        stdout: \"4884 /export/homes/hub\\n\"
  nfs-new:
    files:
      /export/homes/hub/stale.txt: old
";

const MOVE: &str = r#"print(sh::run("git", ["-C", "deploy", "pull", "--ff-only"]).stdout);
print(sh::ssh("nfs-old", ["du", "-s", "/export/homes/hub"]).stdout);
let first = sh::rsync("ubuntu@nfs-old:/export/homes/hub/", "homes/", #{ delete: true, ssh: true });
print(`${first.files} ${first.bytes} ${first.deleted} ${first.planned}`);
let second = sh::rsync("ubuntu@nfs-old:/export/homes/hub/", "homes/", #{ delete: true, ssh: true });
print(`${second.files} ${second.bytes}`);
yaml::set("deploy/values.yaml", "jupyterhub.hub.baseUrl", "/n2");
print(yaml::get("deploy/values.yaml", "jupyterhub.hub.baseUrl"));
"#;

#[test]
fn a_rehearsal_moves_files_between_world_hosts_and_changes_only_the_world() {
    let (done, dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("m.rhai", MOVE)
        .args(&["run", "m.rhai", "--world", "w.yaml", "--yes", "--save-world", "after.yaml"])
        .run();
    done.status(0).stdout("Already up to date.\n\n4884 /export/homes/hub\n\n2 5000002 1 false\n0 0\n/n2\n");
    assert!(!dir.path().join("deploy").exists(), "nothing local was touched");
    let after: serde_json::Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).unwrap();
    let local = &after["hosts"]["local"]["files"];
    assert_eq!(
        local,
        &serde_json::json!({
            "deploy/values.yaml": "# prod hub\njupyterhub:\n  hub:\n    baseUrl: /n2   # served here\n",
            "homes/alice/a.ipynb": "{}",
            "homes/bob/data.h5": { "size": 5_000_000 },
        })
    );
    assert_eq!(after["hosts"]["nfs-new"]["files"], serde_json::json!({ "/export/homes/hub/stale.txt": "old" }));
}

#[test]
fn a_dry_run_on_a_world_reports_what_would_move_and_leaves_it() {
    let (done, dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("m.rhai", MOVE)
        .args(&["run", "m.rhai", "--world", "w.yaml", "--dry-run", "--save-world", "after.yaml"])
        .run();
    done.status(0).stdout("\n\n2 5000002 1 true\n2 5000002\n/nb\n");
    assert!(
        done.stderr
            .contains("Would move 2 files, 5000002 bytes, 1 deleted (ubuntu@nfs-old:/export/homes/hub/ -> homes/)"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("-    baseUrl: /nb   # served here\n+    baseUrl: /n2   # served here\n"),
        "{}",
        done.stderr
    );
    let after: serde_json::Value = serde_norway::from_str(&read(dir.path(), "after.yaml")).unwrap();
    let before: serde_json::Value = serde_norway::from_str(WORLD).unwrap();
    assert_eq!(after["hosts"], before["hosts"]);
}

#[test]
fn world_hosts_that_do_not_answer() {
    let script = r#"try { sh::ssh("nfs-gone", "true"); } catch (e) { print(`${e.kind}: ${e.message}`); }
try { sh::ssh("nfs-old", "reboot"); } catch (e) { print(`${e.kind}: ${e.message}`); }
"#;
    let (done, _dir) =
        Test::new().file("w.yaml", WORLD).file("s.rhai", script).args(&["run", "s.rhai", "--world", "w.yaml"]).run();
    done.status(0).stdout(
        "Unreachable: ssh to `nfs-gone` failed: ssh: Could not resolve hostname nfs-gone: Name or service not known\n\
         NotFound: world host `nfs-old` has no answer for `reboot` (add it to its `commands`)\n",
    );
}

#[test]
fn a_dry_run_on_a_world_saves_the_world_it_loaded() {
    let (done, dir) = Test::new()
        .file("w.yaml", WORLD)
        .file("m.rhai", MOVE)
        .file("nothing.rhai", "let x = 1;\n")
        .args(&["run", "m.rhai", "--world", "w.yaml", "--dry-run", "--save-world", "after.yaml"])
        .run();
    done.status(0);
    let untouched = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
        .args(["run", "nothing.rhai", "--world", "w.yaml", "--save-world", "untouched.yaml"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .output()
        .unwrap();
    assert!(untouched.status.success(), "{}", String::from_utf8_lossy(&untouched.stderr));
    let after = read(dir.path(), "after.yaml");
    assert!(after.contains("nfs-new"), "{after}");
    assert_eq!(after, read(dir.path(), "untouched.yaml"), "a dry run saves the world as a run that does nothing");
}

/// Every file under `root` (but hubops' own state) with its bytes.
fn tree_of(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if name == "state" {
                continue;
            }
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

const EVERY_VERB: &str = r#"let r = sh::run("touch", ["made by hubops"]);
let s = sh::ssh("nfs-old", ["rm", "-rf", "/export"], #{ user: "ubuntu" });
let c = sh::rsync("src/", "dst/", #{ delete: true });
let y = yaml::set("values.yaml", "hub.baseUrl", "/n2");
let z = yaml::remove("values.yaml", "mobu");
print(`${r.planned} ${s.planned} ${c.planned} ${c.files} ${c.deleted} ${y.planned} ${z.planned}`);
"#;

#[test]
fn a_dry_run_of_every_verb_changes_nothing_on_this_machine() {
    let t = with_fake_ssh(tree())
        .file("dst/stale.txt", "old")
        .file("values.yaml", "# keep\nhub:\n  baseUrl: /nb   # here\nmobu: true\n")
        .file("e.rhai", EVERY_VERB);
    let before = tree_of(&t.path(""));
    let (done, dir) = t.args(&["run", "e.rhai", "--dry-run"]).run();
    done.status(0).stdout("true true true 3 1 true true\n");
    assert_eq!(tree_of(dir.path()), before, "every file byte for byte as it was");
    assert!(!dir.path().join("ssh.argv").exists(), "ssh was not started");
    assert!(done.stderr.contains("5 changes (1 destructive); nothing was changed"), "{}", done.stderr);
}

/// A stand-in `rsync` first on `PATH` that records its argv and runs the
/// real one, so a test sees what hubops asked rsync to do.
const RECORDING_RSYNC: &str = r#"#!/bin/sh
printf '%s\n' "$@" >> rsync.argv
exec /usr/bin/rsync "$@"
"#;

#[test]
fn a_dry_run_asks_rsync_for_its_own_dry_run_and_applying_does_not() {
    assert!(std::path::Path::new("/usr/bin/rsync").exists(), "these tests need rsync at /usr/bin/rsync");
    for (args, dry) in [(&["run", "r.rhai", "--dry-run"][..], true), (&["run", "r.rhai"][..], false)] {
        let t = tree().file("bin/rsync", RECORDING_RSYNC);
        let bin = t.path("bin");
        let mut perms = std::fs::metadata(bin.join("rsync")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(bin.join("rsync"), perms).unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let (done, dir) = t.env("PATH", &path).args(args).run();
        done.status(0);
        let argv = read(dir.path(), "rsync.argv");
        assert_eq!(argv.lines().filter(|w| *w == "--dry-run").count(), usize::from(dry), "{argv}");
        assert_eq!(dir.path().join("dst/a.txt").exists(), !dry);
    }
}

const COPY: &str = r#"let r = sh::rsync("src/", "dst/");
print(`${r.files} ${r.bytes} ${r.planned} ${r.status}`);
print(r.changed);
"#;

fn tree() -> Test {
    Test::new()
        .file("src/a.txt", "hello\n")
        .file("src/sub/b.txt", &"b".repeat(1000))
        .file("src/sub/c.bin", &"c".repeat(4096))
        .file("r.rhai", COPY)
}

#[test]
fn rsync_counts_files_and_bytes_and_a_second_run_moves_only_changes() {
    let t = tree();
    let (done, dir) = t.args(&["run", "r.rhai"]).run();
    done.status(0).stdout("3 5102 false 0\n[\"a.txt\", \"sub/\", \"sub/b.txt\", \"sub/c.bin\"]\n");
    assert!(done.stderr.contains("Moved 3 files, 5102 bytes (src/ -> dst/)"), "{}", done.stderr);
    assert_eq!(read(dir.path(), "dst/sub/b.txt"), "b".repeat(1000));

    // Same folder again: nothing moves; then one file changes.
    let again = |dir: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-e2e"))
            .args(["run", "r.rhai"])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("XDG_STATE_HOME", dir.join("state"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(again(dir.path()), "0 0 false 0\n[]\n");
    std::fs::write(dir.path().join("src/a.txt"), "hello, world\n").unwrap();
    assert_eq!(again(dir.path()), "1 13 false 0\n[\"a.txt\"]\n");
}

#[test]
fn rsync_dry_run_runs_rsyncs_own_dry_run_and_moves_nothing() {
    let (done, dir) = tree().args(&["run", "r.rhai", "--dry-run"]).run();
    done.status(0).stdout("3 5102 true 0\n[\"a.txt\", \"sub/\", \"sub/b.txt\", \"sub/c.bin\"]\n");
    assert!(!dir.path().join("dst").exists(), "nothing was copied");
    assert!(done.stderr.contains("Would move 3 files, 5102 bytes (src/ -> dst/)"), "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "     rsync      rsync --archive --protect-args --stats --itemize-changes --no-human-readable -- src/ dst/\n"
        ),
        "{}",
        done.stderr
    );
}

#[test]
fn rsync_delete_is_destructive_and_reports_deletions() {
    let script = r#"let r = sh::rsync("src/", "dst/", #{ delete: true, bwlimit: "100M" });
print(`${r.files} ${r.deleted} ${r.changed}`);
"#;
    let t = tree().file("dst/stale.txt", "old").file("d.rhai", script);
    let (done, dir) = t.args(&["run", "d.rhai"]).run();
    done.status(2);
    assert!(done.stderr.contains("is destructive and needs confirmation"), "{}", done.stderr);
    assert!(dir.path().join("dst/stale.txt").exists());

    let t = tree().file("dst/stale.txt", "old").file("d.rhai", script);
    let (done, dir) = t.args(&["run", "d.rhai", "--yes"]).run();
    done.status(0).stdout("3 1 [\"stale.txt\", \"a.txt\", \"sub/\", \"sub/b.txt\", \"sub/c.bin\"]\n");
    assert!(!dir.path().join("dst/stale.txt").exists());
}

#[test]
fn rsync_without_the_rsync_program_is_a_clear_error() {
    let empty = tempfile::tempdir().unwrap();
    let script = r#"try { sh::rsync("src/", "dst/"); } catch (e) { print(`${e.kind}: ${e.message}`); }
sh::rsync("src/", "dst/");
"#;
    let path = empty.path().display().to_string();
    let (done, _dir) = tree().file("m.rhai", script).env("PATH", &path).args(&["run", "m.rhai"]).run();
    done.status(1).stdout("NotFound: `rsync` is not installed or not on PATH\n");
    assert!(done.stderr.contains("error: `rsync` is not installed or not on PATH\n"), "{}", done.stderr);
    let (done, _dir) = tree().file("m.rhai", script).env("PATH", &path).args(&["run", "m.rhai", "--dry-run"]).run();
    done.status(1);
    assert!(done.stderr.contains("`rsync` is not installed or not on PATH"), "{}", done.stderr);
}

#[test]
fn rsync_failures_carry_rsyncs_own_words() {
    let script = "sh::rsync(\"missing/\", \"dst/\");\n";
    let (done, _dir) = Test::new().file("f.rhai", script).args(&["run", "f.rhai"]).run();
    done.status(1);
    assert!(
        done.stderr.contains("error: `rsync` exited with status 23: rsync: [sender] change_dir"),
        "{}",
        done.stderr
    );
}

/// A stand-in `ssh` first on `PATH`: writes its argv, one word a line, to
/// `ssh.argv`, prints a line, and exits with `$FAKE_SSH_STATUS`.
const FAKE_SSH: &str = r#"#!/bin/sh
for word in "$@"; do printf '%s\n' "$word"; done > ssh.argv
echo remote-output
if [ "${FAKE_SSH_STATUS:-0}" = 255 ]; then echo 'ubuntu@nfs-old: Permission denied (publickey).' >&2; fi
exit "${FAKE_SSH_STATUS:-0}"
"#;

fn with_fake_ssh(t: Test) -> Test {
    let t = t.file("bin/ssh", FAKE_SSH);
    let bin = t.path("bin");
    let mut perms = std::fs::metadata(bin.join("ssh")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("ssh"), perms).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    t.env("PATH", &path)
}

const SSH: &str = r#"let r = sh::ssh("nfs-old", ["du", "-sh", "/homes/my hub", "$(reboot)"],
                #{ user: "ubuntu", identity: "nfs transfer key", port: 2222 });
print(`${r.status} ${r.stdout}`);
"#;

#[test]
fn ssh_builds_a_batch_mode_argv_and_quotes_words_for_the_remote_shell() {
    let (done, dir) = with_fake_ssh(Test::new()).file("s.rhai", SSH).args(&["run", "s.rhai"]).run();
    done.status(0).stdout("0 remote-output\n\n");
    assert_eq!(
        read(dir.path(), "ssh.argv"),
        "-o\nBatchMode=yes\n-o\nConnectTimeout=30\n-i\nnfs transfer key\n-p\n2222\n-l\nubuntu\n--\nnfs-old\ndu -sh '/homes/my hub' '$(reboot)'\n"
    );
}

#[test]
fn ssh_failures_are_unreachable_and_remote_failures_are_statuses() {
    let script = r#"try { sh::ssh("nfs-old", "true"); } catch (e) { print(`${e.kind}: ${e.message}`); }"#;
    let (done, _dir) =
        with_fake_ssh(Test::new()).env("FAKE_SSH_STATUS", "255").file("s.rhai", script).args(&["run", "s.rhai"]).run();
    done.status(0).stdout("Unreachable: ssh to `nfs-old` failed: ubuntu@nfs-old: Permission denied (publickey).\n");

    let script = r#"print(sh::ssh("nfs-old", "false").status);
sh::ssh("nfs-old", "false", #{ check: true });
"#;
    let (done, _dir) =
        with_fake_ssh(Test::new()).env("FAKE_SSH_STATUS", "3").file("s.rhai", script).args(&["run", "s.rhai"]).run();
    done.status(1).stdout("3\n");
    assert!(done.stderr.contains("error: `ssh` exited with status 3\n"), "{}", done.stderr);
}

#[test]
fn ssh_dry_run_plans_the_command_line_and_connects_nowhere() {
    let (done, dir) = with_fake_ssh(Test::new()).file("s.rhai", SSH).args(&["run", "s.rhai", "--dry-run"]).run();
    done.status(0).stdout(" \n");
    assert!(!dir.path().join("ssh.argv").exists(), "ssh was not started");
    assert!(
        done.stderr.contains(
            "     ssh        ssh -o BatchMode=yes -o ConnectTimeout=30 -i 'nfs transfer key' -p 2222 -l ubuntu -- nfs-old 'du -sh '\\''/homes/my hub'\\'' '\\''$(reboot)'\\'''\n"
        ),
        "{}",
        done.stderr
    );
}

#[test]
fn ssh_refuses_values_that_would_become_options() {
    for (script, message) in [
        ("sh::ssh(\"-oProxyCommand=touch x\", \"true\");", "`sh::ssh`: `-oProxyCommand=touch x` is not a valid host"),
        ("sh::ssh(\"h\", \"true\", #{ user: \"-x\" });", "`sh::ssh`: `-x` is not a valid user"),
        ("sh::ssh(\"h\", \"true\", #{ port: 70000 });", "`port` must be a port number, not 70000"),
        ("sh::ssh(\"h\", 42);", "the command of `sh::ssh` must be a string or an array of words, not i64"),
    ] {
        let (done, dir) = with_fake_ssh(Test::new()).file("s.rhai", script).args(&["run", "s.rhai"]).run();
        done.status(1);
        assert!(done.stderr.contains(&format!("error: {message}\n")), "{script}\n{}", done.stderr);
        assert!(!dir.path().join("ssh.argv").exists());
    }
}

/// A stand-in `ssh` that runs the remote command here: rsync over "ssh"
/// with the real rsync on both ends, no sshd needed. It records its argv.
const LOOPBACK_SSH: &str = r#"#!/bin/sh
printf '%s\n' "$@" > ssh.argv
while [ $# -gt 0 ]; do
    case "$1" in
        -o|-i|-p|-l) shift 2 ;;
        --) shift; break ;;
        -*) shift ;;
        *) break ;;
    esac
done
shift
exec sh -c "$*"
"#;

#[test]
fn rsync_over_ssh_uses_a_batch_mode_remote_shell() {
    let t = tree()
        .file("bin/ssh", LOOPBACK_SSH)
        .file("key file", "")
        .file("s.rhai", "let r = sh::rsync(\"nfs-old:src/\", \"dst/\", #{ ssh: #{ identity: \"key file\", port: 2222 } });\nprint(`${r.files} ${r.bytes}`);\n");
    let bin = t.path("bin");
    let mut perms = std::fs::metadata(bin.join("ssh")).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(bin.join("ssh"), perms).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let (done, dir) = t.env("PATH", &path).args(&["run", "s.rhai"]).run();
    done.status(0).stdout("3 5102\n");
    assert_eq!(read(dir.path(), "dst/sub/c.bin"), "c".repeat(4096));
    let argv: Vec<String> = read(dir.path(), "ssh.argv").lines().map(String::from).collect();
    assert_eq!(argv[..8], ["-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-i", "key file", "-p", "2222"]);
    assert_eq!(argv[8], "nfs-old");
    assert_eq!(argv[9], "rsync", "then the remote rsync's own command line: {argv:?}");
}
