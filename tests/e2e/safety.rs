//! Runs an operator can trust: exactly-once resume, one head per lineage,
//! locks, an append-only journal that must be writable, redaction by value,
//! and bounds on runaway scripts. Each test reproduces a finding of the
//! run-safety issue first, then shows what happens now.

use std::path::Path;
use std::time::{Duration, Instant};

use hubops::journal::Event;

use crate::support::{read, Test};

/// Appends two lines in one step (non-idempotent, like two POSTs), then
/// needs a `ready` key.
const APPENDS: &str = r#"step("post twice", || { testkit::append("log", "first"); testkit::append("log", "second"); });
step("needs ready", || if testkit::get("ready") != "yes" { fail("not ready") });
print(`log: ${testkit::get("log")}`);
"#;

fn changes(events: &[Event], phase_wanted: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Change { phase, key: Some(key), .. } if phase == phase_wanted => Some(key.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_change_made_before_a_sigkill_is_not_sent_again_on_resume() {
    // Killed right after the first append was journaled as applied.
    let (done, dir) = Test::testkit()
        .file("r.rhai", APPENDS)
        .env("HUBOPS_CRASH_AT", "change:1")
        .args(&["run", "r.rhai", "--journal", "first.jsonl"])
        .run();
    assert_eq!(done.status, -1, "killed by SIGKILL\n{}", done.stderr);
    assert_eq!(read(&dir.path().join("store"), "log"), "first\n");
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "second.jsonl"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(read(&dir.path().join("store"), "log"), "first\nsecond\n", "each append exactly once");
    assert!(out.stderr.contains("Skipping append key log (made by the run this one resumes)"), "{}", out.stderr);
    let second = hubops::journal::read(&dir.path().join("second.jsonl")).unwrap();
    assert_eq!(changes(&second, "replayed").len(), 1);
    assert_eq!(changes(&second, "applied").len(), 1);
    let first = hubops::journal::read(&dir.path().join("first.jsonl")).unwrap();
    assert_eq!(changes(&first, "applied"), changes(&second, "replayed"), "same key");
}

#[test]
fn a_change_in_doubt_is_asked_about_and_yes_sends_it_again() {
    // A torn journal: the change was started, then the run died before its
    // answer was written (the crash point is after the answer, so cut it).
    let (done, dir) = Test::testkit()
        .file("r.rhai", APPENDS)
        .env("HUBOPS_CRASH_AT", "change:1")
        .args(&["run", "r.rhai", "--journal", "first.jsonl"])
        .run();
    assert_eq!(done.status, -1);
    let path = dir.path().join("first.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.contains("\"phase\":\"applied\"")).collect();
    // ... and the last line cut in half, as power loss leaves it.
    let mut torn = kept.join("\n");
    torn.push_str("\n{\"type\":\"log\",\"data\":{\"lev");
    std::fs::write(&path, torn).unwrap();
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "second.jsonl"])
        .output();
    assert_eq!(out.status, 2, "no terminal to ask on: {}", out.stderr);
    assert!(out.stderr.contains("was cut short (the run died while writing it) and is ignored"), "{}", out.stderr);
    assert!(out.stderr.contains("needs confirmation"), "{}", out.stderr);
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "second.jsonl", "--journal", "third.jsonl", "--yes"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
}

const ROLLBACK: &str = r#"step("move hub", || testkit::set("hub", "green"), || testkit::set("hub", "blue"));
step("green healthy", || if testkit::get("green") != "healthy" { fail("green is not healthy") });
print(`hub on ${testkit::get("hub")}`);
"#;

#[test]
fn resume_after_rollback_runs_the_rolled_back_steps_again() {
    let (done, dir) = Test::testkit()
        .file("r.rhai", ROLLBACK)
        .args(&["run", "r.rhai", "--on-failure", "rollback", "--journal", "first.jsonl"])
        .run();
    done.status(1);
    assert_eq!(read(&dir.path().join("store"), "hub"), "blue", "rolled back");
    std::fs::write(dir.path().join("store/green"), "healthy").unwrap();
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "second.jsonl"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "hub on green\n");
    assert_eq!(read(&dir.path().join("store"), "hub"), "green", "the resumed run really moved it");
    assert!(out.stderr.contains("rolled back, so run again: move hub"), "{}", out.stderr);
    assert!(out.stderr.contains("Step 1 move hub"), "{}", out.stderr);
}

#[test]
fn a_journal_has_one_head() {
    let (done, dir) =
        Test::testkit().file("r.rhai", APPENDS).args(&["run", "r.rhai", "--journal", "first.jsonl"]).run();
    done.status(1);
    let resume = |from: &str, to: &str| {
        crate::support::Test::testkit_in(&dir).args(&["run", "r.rhai", "--resume", from, "--journal", to]).output()
    };
    let second = resume("first.jsonl", "second.jsonl");
    assert_eq!(second.status, 1, "still not ready: {}", second.stderr);
    let again = resume("first.jsonl", "third.jsonl");
    assert_eq!(again.status, 2);
    assert!(again.stderr.contains("was already resumed by run `"), "{}", again.stderr);
    assert!(again.stderr.contains("resume that one instead"), "{}", again.stderr);
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    assert_eq!(resume("second.jsonl", "fourth.jsonl").status, 0);
    let after_success = resume("fourth.jsonl", "fifth.jsonl");
    assert!(after_success.stderr.contains("already succeeded"), "{}", after_success.stderr);
    assert_eq!(read(&dir.path().join("store"), "log"), "first\nsecond\n", "three resumes, each change once");
}

/// Starts `t` in the background and waits until its journal shows it started
/// (its locks are taken by then).
fn started(t: &Test, journal: &Path) -> std::process::Child {
    let child = t.command().stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(journal).unwrap_or_default().contains("\"run_start\"") {
        assert!(Instant::now() < deadline, "the first run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn two_resumes_at_once_one_is_refused() {
    let (done, dir) =
        Test::testkit().file("r.rhai", APPENDS).args(&["run", "r.rhai", "--journal", "first.jsonl"]).run();
    done.status(1);
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let slow = Test::testkit()
        .env("HUBOPS_PAUSE_AT", "step-start:1:3000")
        .env("HUBOPS_TESTKIT_DIR", &dir.path().join("store").display().to_string());
    let mut first = {
        let mut cmd = slow.command();
        cmd.current_dir(dir.path())
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .args(["run", "r.rhai", "--resume", "first.jsonl", "--journal", "a.jsonl"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !read(dir.path(), "first.jsonl").contains("\"continued\"") {
        assert!(Instant::now() < deadline, "the first resume did not claim the journal");
        std::thread::sleep(Duration::from_millis(20));
    }
    let second = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "first.jsonl", "--journal", "b.jsonl"])
        .output();
    assert_eq!(second.status, 2);
    assert!(second.stderr.contains("was already resumed by run `"), "{}", second.stderr);
    assert!(first.wait().unwrap().success());
    assert_eq!(read(&dir.path().join("store"), "log"), "first\nsecond\n");
}

const WORLD: &str = "name: kit\nstart: 2026-11-21T06:00:00Z\ntestkit:\n  values: { hub: blue }\n";

#[test]
fn two_runs_on_one_world_the_second_is_refused_with_the_holders_name() {
    let t = Test::testkit()
        .file("r.rhai", "step(\"move\", || testkit::set(\"hub\", \"green\"));\n")
        .file("site.yaml", WORLD)
        .env("HUBOPS_PAUSE_AT", "step-start:1:3000")
        .args(&["run", "r.rhai", "--world", "site.yaml", "--save-world", "site.yaml", "--journal", "a.jsonl"]);
    let journal = t.path("a.jsonl");
    let dir_path = t.path("");
    let mut first = started(&t, &journal);
    let second = {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-testkit"));
        cmd.current_dir(&dir_path)
            .env("XDG_STATE_HOME", dir_path.join("state"))
            .env("HOME", &dir_path)
            .env("NO_COLOR", "1")
            .env_remove("HUBOPS_PAUSE_AT")
            .args(["run", "r.rhai", "--world", "site.yaml", "--save-world", "site.yaml", "--journal", "b.jsonl"]);
        cmd.output().unwrap()
    };
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("site.yaml` is locked by run `"), "{stderr}");
    assert!(stderr.contains("(pid "), "{stderr}");
    assert!(first.wait().unwrap().success());
    let saved = std::fs::read_to_string(dir_path.join("site.yaml")).unwrap();
    assert!(saved.contains("hub: green"), "the first run's change was kept: {saved}");
}

#[test]
fn two_runs_on_one_journal_the_second_is_refused_and_nothing_is_torn() {
    let t = Test::testkit()
        .file("r.rhai", "step(\"one\", || testkit::set(\"a\", \"1\"));\n")
        .env("HUBOPS_PAUSE_AT", "step-start:1:2000")
        .args(&["run", "r.rhai", "--journal", "shared.jsonl"]);
    let journal = t.path("shared.jsonl");
    let dir_path = t.path("");
    let mut first = started(&t, &journal);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hubops-testkit"));
    cmd.current_dir(&dir_path)
        .env("XDG_STATE_HOME", dir_path.join("state"))
        .env("HUBOPS_TESTKIT_DIR", dir_path.join("store"))
        .env("NO_COLOR", "1")
        .args(["run", "r.rhai", "--journal", "shared.jsonl"]);
    let second = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("shared.jsonl` is being written by another run"), "{stderr}");
    assert!(first.wait().unwrap().success());
    let events = hubops::journal::read(&journal).expect("every line is an event");
    assert_eq!(events.iter().filter(|e| matches!(e, Event::RunStart { .. })).count(), 1);
}

#[test]
fn a_journal_is_appended_to_never_truncated() {
    let (done, dir) = Test::testkit()
        .file("r.rhai", "step(\"one\", || testkit::set(\"a\", \"1\"));\n")
        .args(&["run", "r.rhai", "--journal", "j.jsonl"])
        .run();
    done.status(0);
    let again = crate::support::Test::testkit_in(&dir).args(&["run", "r.rhai", "--journal", "j.jsonl"]).output();
    assert_eq!(again.status, 0, "{}", again.stderr);
    let events = hubops::journal::read(&dir.path().join("j.jsonl")).unwrap();
    assert_eq!(events.iter().filter(|e| matches!(e, Event::RunStart { .. })).count(), 2, "both runs kept");
    // --resume J --journal J keeps the earlier run too.
    let (done, dir) = Test::testkit().file("r.rhai", APPENDS).args(&["run", "r.rhai", "--journal", "j.jsonl"]).run();
    done.status(1);
    std::fs::write(dir.path().join("store/ready"), "yes").unwrap();
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--resume", "j.jsonl", "--journal", "j.jsonl"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let events = hubops::journal::read(&dir.path().join("j.jsonl")).unwrap();
    assert_eq!(hubops::journal::runs(&events).len(), 2);
    assert!(events.iter().any(|e| matches!(e, Event::Continued { .. })));
}

#[test]
fn a_run_whose_journal_cannot_be_written_does_not_start() {
    let (done, dir) = Test::testkit()
        .file("r.rhai", "step(\"one\", || testkit::set(\"a\", \"1\"));\n")
        .args(&["run", "r.rhai", "--journal", "/dev/full"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("error: cannot write the journal `/dev/full`"), "{}", done.stderr);
    assert!(!dir.path().join("store/a").exists(), "nothing was changed");
}

#[test]
fn resuming_on_another_world_is_refused() {
    let script = "step(\"move\", || testkit::set(\"hub\", \"green\"));\nstep(\"wait\", || if testkit::get(\"ok\") != \"yes\" { fail(\"no\") });\n";
    let (done, dir) = Test::testkit()
        .file("r.rhai", script)
        .file("site.yaml", WORLD)
        .file("other.yaml", WORLD)
        .args(&["run", "r.rhai", "--world", "site.yaml", "--save-world", "site.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(1);
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--world", "other.yaml", "--resume", "j.jsonl"])
        .output();
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("the world is not the one it left"), "{}", out.stderr);
    // A world run that never saved its world cannot be resumed at all.
    let (done, dir) = Test::testkit()
        .file("r.rhai", script)
        .file("site.yaml", WORLD)
        .args(&["run", "r.rhai", "--world", "site.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(1);
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--world", "site.yaml", "--resume", "j.jsonl"])
        .output();
    assert_eq!(out.status, 2);
    assert!(out.stderr.contains("never saved it (--save-world)"), "{}", out.stderr);
}

#[test]
fn a_killed_rehearsal_resumes_on_the_world_file_it_left() {
    let script = "step(\"one\", || testkit::set(\"a\", \"1\"));\nstep(\"two\", || testkit::set(\"b\", \"2\"));\nstep(\"three\", || testkit::set(\"c\", \"3\"));\n";
    let (done, dir) = Test::testkit()
        .file("r.rhai", script)
        .file("site.yaml", WORLD)
        .env("HUBOPS_CRASH_AT", "change:2")
        .args(&["run", "r.rhai", "--world", "site.yaml", "--save-world", "site.yaml", "--journal", "j.jsonl"])
        .run();
    assert_eq!(done.status, -1);
    let left: serde_json::Value = serde_norway::from_str(&read(dir.path(), "site.yaml")).unwrap();
    assert_eq!(left["testkit"]["values"], serde_json::json!({"hub": "blue", "a": "1", "b": "2"}));
    let out = crate::support::Test::testkit_in(&dir)
        .args(&["run", "r.rhai", "--world", "site.yaml", "--save-world", "site.yaml", "--resume", "j.jsonl"])
        .output();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let after: serde_json::Value = serde_norway::from_str(&read(dir.path(), "site.yaml")).unwrap();
    assert_eq!(after["testkit"]["values"], serde_json::json!({"hub": "blue", "a": "1", "b": "2", "c": "3"}));
}

const SECRET: &str = "Hunter2-Sup3r/Secret+Value";

#[test]
fn secrets_never_reach_any_output_in_any_encoding() {
    use base64::Engine as _;
    let script = r#"let p = params(#{
    token: #{ secret: true },
    pin: #{ type: "int", secret: true },
    keys: #{ type: "list", secret: true },
    creds: #{ type: "map", secret: true },
});
print(`print ${p.token}`);
log::info(`log ${p.token} ${p.pin}`);
log::warn(`url ?t=${p.token}`);
step(`step ${p.token}`, || #{ echo: p.token, pin: p.pin, keys: p.keys, creds: p.creds });
step("kit", || testkit::set("t", p.token));
step("ask", || confirm(`really ${p.token}?`));
throw p.token;
"#;
    let (done, dir) = Test::testkit()
        .file("s.rhai", script)
        .file("w.yaml", "name: w\ntestkit:\n  values: {}\n")
        .args(&[
            "run",
            "s.rhai",
            "--world",
            "w.yaml",
            "--save-world",
            "after.yaml",
            "--journal",
            "j.jsonl",
            "-vv",
            "--yes",
            "--set",
            &format!("token={SECRET}"),
            "--set",
            "pin=987654321",
            "--set",
            "keys=alpha-key-one,beta-key-two",
            "--set",
            "creds={user: admin, password: gamma-pass-word}",
        ])
        .run();
    done.status(1);
    let outputs =
        [done.stdout.clone(), done.stderr.clone(), read(dir.path(), "j.jsonl"), read(dir.path(), "after.yaml")];
    let mut forms = vec![
        SECRET.to_string(),
        "hunter2-Sup3r/Secret+Value".into(),
        SECRET.replace('/', "%2F").replace('+', "%2B"),
        serde_json::to_string(SECRET).unwrap(),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
        "987654321".into(),
        "alpha-key-one".into(),
        "beta-key-two".into(),
        "gamma-pass-word".into(),
    ];
    forms.retain(|f| !f.is_empty());
    for (i, out) in outputs.iter().enumerate() {
        for form in &forms {
            assert!(!out.contains(form.as_str()), "output {i} shows `{form}`:\n{out}");
        }
    }
    for line in read(dir.path(), "j.jsonl").lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("every journal line is JSON");
    }
    assert!(done.stdout.contains("print ***"), "{}", done.stdout);
}

#[test]
fn short_secrets_are_masked_whole_and_keep_the_journal_valid() {
    for secret in ["1", "0", "ok", "data", "true"] {
        let script =
            "let p = params(#{ s: #{ secret: true } });\nlog::info(\"data ok 1 0 true\");\nstep(\"x\", || p.s);\n";
        let (done, dir) = Test::testkit()
            .file("s.rhai", script)
            .args(&["run", "s.rhai", "--set", &format!("s={secret}"), "--journal", "j.jsonl"])
            .run();
        done.status(0);
        let text = read(dir.path(), "j.jsonl");
        let events: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{secret}: {e}: {l}"))).collect();
        let step_end = events.iter().find(|e| e["type"] == "step_end").unwrap();
        assert_eq!(step_end["data"]["result"], "***", "{secret}");
        let log = events.iter().find(|e| e["type"] == "log").unwrap();
        assert_eq!(log["data"]["message"], "data ok 1 0 true", "{secret}: words around are kept");
        let resumable = hubops::journal::read(&dir.path().join("j.jsonl"));
        assert!(resumable.is_ok(), "{secret}");
    }
}

#[test]
fn parameter_errors_and_show_never_echo_a_secret() {
    let script = "//! Secrets.\nlet p = params(#{ mode: #{ secret: true, choices: [\"alpha-one\", \"beta-two\"] }, wait: #{ type: \"duration\", secret: true }, token: #{ secret: true, default_value: \"default-secret-1\" } });\n";
    let (done, _dir) = Test::testkit()
        .file("s.rhai", script)
        .args(&["run", "s.rhai", "--set", "mode=gamma-three", "--set", "wait=zzz-secret"])
        .run();
    done.status(2);
    for leak in ["gamma-three", "zzz-secret", "alpha-one", "default-secret-1"] {
        assert!(!done.stderr.contains(leak), "{leak}: {}", done.stderr);
    }
    let (shown, _dir) = Test::testkit().file("s.rhai", script).args(&["show", "s.rhai"]).run();
    shown.status(0);
    assert!(!shown.stdout.contains("default-secret-1"), "{}", shown.stdout);
    assert!(shown.stdout.contains("default ***"), "{}", shown.stdout);
}

#[test]
fn runaway_scripts_stop_with_a_clear_error() {
    // Sleeping forever on a world: stopped by the journal budget long before
    // the week of virtual time, in seconds of wall time.
    let started = Instant::now();
    let (done, dir) = Test::testkit()
        .file("loop.rhai", "loop { sleep(\"1s\"); }\n")
        .file("w.yaml", "name: w\n")
        .args(&["run", "loop.rhai", "--world", "w.yaml", "--journal", "j.jsonl", "-q"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("journal events in"), "{}", done.stderr);
    let size = std::fs::metadata(dir.path().join("j.jsonl")).unwrap().len();
    assert!(size < 20 << 20, "the journal stayed small: {size} bytes");
    // Long sleeps: stopped at the week of virtual time.
    let (done, _dir) = Test::testkit()
        .file("loop.rhai", "loop { sleep(\"1d\"); }\n")
        .file("w.yaml", "name: w\n")
        .args(&["run", "loop.rhai", "--world", "w.yaml"])
        .run();
    done.status(1);
    assert!(done.stderr.contains("past 168h of virtual time (--max-virtual-time raises the limit)"), "{}", done.stderr);
    let (done, _dir) = Test::testkit()
        .file("loop.rhai", "loop { sleep(\"1d\"); }\n")
        .file("w.yaml", "name: w\n")
        .args(&["run", "loop.rhai", "--world", "w.yaml", "--max-virtual-time", "2d"])
        .run();
    assert!(done.stderr.contains("past 48h of virtual time"), "{}", done.stderr);
    assert!(started.elapsed() < Duration::from_mins(2), "took {:?}", started.elapsed());
}

#[test]
fn hostile_params_files_are_refused_quickly() {
    let deep = format!("x: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let started = Instant::now();
    let (done, _dir) = Test::testkit()
        .file("s.rhai", "let p = params(#{ x: #{ type: \"list\", required: false } });\n")
        .file("deep.yaml", &deep)
        .args(&["run", "s.rhai", "--params", "deep.yaml"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("`deep.yaml` nests more than 128 levels deep"), "{}", done.stderr);
    let (done, _dir) = Test::testkit()
        .file("s.rhai", "let p = params(#{ x: #{ required: false } });\n")
        .args(&["run", "s.rhai", "--params", "/dev/zero"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("larger than the 16 MiB hubops reads from a YAML file"), "{}", done.stderr);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn save_world_round_trips_and_is_checked_before_the_run() {
    let world = "name: w\nstart: 2026-11-21T06:00:00Z\nclusters:\n  blue:\n    objects: []\n    events:\n      - { after: 1m, apply: { apiVersion: v1, kind: Namespace, metadata: { name: later } } }\n";
    let (done, dir) = Test::testkit()
        .file("s.rhai", "sleep(\"30.5s\");\n")
        .file("w.yaml", world)
        .args(&["run", "s.rhai", "--world", "w.yaml", "--save-world", "after.yaml"])
        .run();
    done.status(0);
    let saved = read(dir.path(), "after.yaml");
    assert!(saved.contains("29.5s"), "{saved}");
    let again = crate::support::Test::testkit_in(&dir)
        .args(&["run", "s.rhai", "--world", "after.yaml", "--save-world", "again.yaml"])
        .output();
    assert_eq!(again.status, 0, "the saved world loads again: {}", again.stderr);
    // An unwritable --save-world path is found before anything runs.
    let (done, dir) = Test::testkit()
        .file("s.rhai", "step(\"one\", || testkit::set(\"a\", \"1\"));\n")
        .file("w.yaml", "name: w\ntestkit:\n  values: {}\n")
        .args(&["run", "s.rhai", "--world", "w.yaml", "--save-world", "no/such/dir/after.yaml", "--journal", "j.jsonl"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("cannot write `no/such/dir/after.yaml`"), "{}", done.stderr);
    assert!(!dir.path().join("j.jsonl").exists(), "the run did not start");
    // A --world that looks like a path never falls back to a bundled world.
    let (done, _dir) = Test::new().args(&["run", "hub-health", "--world", "cae.yaml"]).run();
    done.status(2);
    assert!(done.stderr.contains("world `cae.yaml` not found"), "{}", done.stderr);
}

#[test]
fn secrets_in_cluster_objects_and_http_requests_never_reach_output_or_the_saved_world() {
    let encoded = SECRET.replace('/', "%2F").replace('+', "%2B");
    let world = format!("name: w\nstart: 2026-11-21T06:00:00Z\nclusters:\n  blue:\n    objects:\n      - {{ apiVersion: v1, kind: Namespace, metadata: {{ name: hub }} }}\nhttp:\n  endpoints:\n    - url: \"https://api.example.org/x?token={encoded}\"\n      method: POST\n      answers: [{{ status: 200, json: {{ ok: true }} }}]\n");
    let script = r#"let p = params(#{ token: #{ secret: true } });
let blue = k8s::cluster("blue");
step("config", || blue.apply(#{ apiVersion: "v1", kind: "ConfigMap", metadata: #{ name: "c", namespace: "hub", annotations: #{ note: `t=${p.token}` } }, data: #{ token: p.token } }));
step("secret", || blue.apply(#{ apiVersion: "v1", kind: "Secret", metadata: #{ name: "s", namespace: "hub" }, stringData: #{ token: p.token } }));
let q = p.token;
q.replace("/", "%2F");
q.replace("+", "%2B");
step("post", || http::post(`https://api.example.org/x?token=${q}`, #{ bearer: p.token, body: #{ t: p.token }, headers: #{ "X-Token": p.token } }).status);
"#;
    for mode in [&["--dry-run"][..], &[][..]] {
        let mut args = vec![
            "run",
            "s.rhai",
            "--world",
            "w.yaml",
            "--save-world",
            "after.yaml",
            "--journal",
            "j.jsonl",
            "--yes",
            "-vv",
        ];
        let set = format!("token={SECRET}");
        args.extend_from_slice(&["--set", &set]);
        args.extend_from_slice(mode);
        let (done, dir) = Test::testkit().file("s.rhai", script).file("w.yaml", &world).args(&args).run();
        done.status(0);
        for (what, out) in [
            ("stdout", done.stdout.clone()),
            ("stderr", done.stderr.clone()),
            ("journal", read(dir.path(), "j.jsonl")),
            ("world", read(dir.path(), "after.yaml")),
        ] {
            for form in [SECRET, encoded.as_str(), "hunter2-Sup3r"] {
                assert!(!out.contains(form), "{mode:?}: the {what} shows `{form}`:\n{out}");
            }
        }
        if mode.is_empty() {
            let saved = read(dir.path(), "after.yaml");
            assert!(saved.contains("kind: ConfigMap") && saved.contains("received:"), "the changes were made: {saved}");
        }
    }
}

#[test]
fn a_journal_path_that_holds_something_else_is_refused_and_kept() {
    let (done, dir) = Test::testkit()
        .file("r.rhai", "step(\"one\", || testkit::set(\"a\", \"1\"));\n")
        .file("notes.txt", "my notes\n")
        .args(&["run", "r.rhai", "--journal", "notes.txt"])
        .run();
    done.status(2);
    assert!(done.stderr.contains("`notes.txt` exists and is not a hubops journal"), "{}", done.stderr);
    assert_eq!(read(dir.path(), "notes.txt"), "my notes\n");
    assert!(!dir.path().join("store/a").exists());
}
