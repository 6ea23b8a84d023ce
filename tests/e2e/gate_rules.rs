//! The effects gate's rule, checked on the source: clippy's
//! `disallowed-methods` (clippy.toml) bans every call that changes
//! something, and the only `#[allow(clippy::disallowed_methods)]` in hubops
//! sit on functions that take the gate's `&Permit` — so a mutation without a
//! permit does not build. The one exception is `runtime/src/state.rs`, hubops'
//! own files (journals, locks, saved worlds, ejected runbooks), which a dry
//! run must write too.

use std::path::{Path, PathBuf};

/// Files allowed to write without a permit, and why.
const OWN_STATE: &[(&str, &str)] = &[("runtime/src/state.rs", "hubops' own files: journals, locks, saved worlds")];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The signature of the function an attribute at `line` sits on: from the
/// first line starting a `fn` after it, to its body's `{`.
fn signature_after(lines: &[&str], line: usize) -> Option<String> {
    let start = (line + 1..lines.len()).find(|&i| {
        let l = lines[i].trim_start();
        !l.starts_with("#[") && !l.starts_with("//")
    })?;
    let first = lines[start].trim_start();
    let is_fn = first.contains("fn ") && !first.contains(" = ") && !first.starts_with("let ");
    if !is_fn {
        return None;
    }
    let mut sig = String::new();
    for l in &lines[start..] {
        sig.push_str(l);
        if l.contains('{') || l.trim_end().ends_with(';') {
            break;
        }
    }
    Some(sig)
}

#[test]
fn every_allow_of_a_mutating_call_sits_on_a_function_that_takes_a_permit() {
    let mut files = Vec::new();
    sources(&root().join("runtime/src"), &mut files);
    files.push(root().join("tests/src/lib.rs"));
    let mut checked = 0;
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(root()).unwrap_or(file).display().to_string().replace("../", "");
        let own_state = OWN_STATE.iter().any(|(f, _)| rel.ends_with(f));
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            if l.starts_with("#![allow(clippy::disallowed_methods")
                || l.starts_with("#![expect(clippy::disallowed_methods")
            {
                problems.push(format!("{rel}:{}: a whole-module allow", i + 1));
                continue;
            }
            if !(l.starts_with("#[allow(clippy::disallowed_methods")
                || l.starts_with("#[expect(clippy::disallowed_methods"))
            {
                continue;
            }
            checked += 1;
            if own_state {
                continue;
            }
            match signature_after(&lines, i) {
                Some(sig) if sig.contains("&Permit") || sig.contains("effects::Permit") => {}
                Some(sig) => problems.push(format!("{rel}:{}: on a function without `&Permit`: {}", i + 1, sig.trim())),
                None => problems.push(format!("{rel}:{}: not on a function", i + 1)),
            }
        }
    }
    assert!(problems.is_empty(), "misplaced allows:\n{}", problems.join("\n"));
    assert!(checked >= 20, "the scan found only {checked} allows: is it looking at the right files?");
}

#[test]
fn clippy_bans_the_calls_that_change_things() {
    let toml = std::fs::read_to_string(root().join("clippy.toml")).unwrap();
    for path in [
        "std::process::Command::new",
        "tokio::process::Command::new",
        "kube::Api::create",
        "kube::Api::patch",
        "kube::Api::delete",
        "kube::Client::request",
        "aws_sdk_ec2::Client::create_volume",
        "aws_sdk_ec2::Client::delete_snapshot",
        "aws_sdk_route53::Client::change_resource_record_sets",
        "reqwest::Client::post",
        "reqwest::Client::delete",
        "reqwest::Client::request",
        "std::fs::write",
        "std::fs::remove_file",
        "std::fs::OpenOptions::open",
    ] {
        assert!(toml.contains(&format!("path = \"{path}\"")), "clippy.toml does not ban `{path}`");
    }
}

#[test]
fn no_binding_reads_the_run_mode_or_picks_live_or_world() {
    let mut files = Vec::new();
    sources(&root().join("runtime/src/bindings"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in ["dry_run()", "planning(", "run.world()", "live.is_none()", "Target::World", "Target::Live"] {
            assert!(!text.contains(needle), "{} uses `{needle}`", file.display());
        }
    }
    let mut files = Vec::new();
    sources(&root().join("runtime/src/backends"), &mut files);
    sources(&root().join("runtime/src/effects"), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for needle in ["crate::run", "crate::bindings", "dry_run: bool"] {
            assert!(!text.contains(needle), "{} uses `{needle}`", file.display());
        }
    }
    for (file, other) in [("cli.rs", "crate::output"), ("output.rs", "crate::cli")] {
        let text = std::fs::read_to_string(root().join("runtime/src").join(file)).unwrap();
        assert!(!text.contains(other), "{file} imports {other}");
    }
}

#[test]
fn huge_durations_are_clear_errors_not_panics() {
    for (call, shown) in [("sleep(1e300)", "1e300"), ("seconds(2e19)", "2e19"), ("sleep(\"99999999d\")", "99999999d")] {
        let script = format!("step(\"wait\", || {call});\n");
        let (done, dir) =
            crate::support::Test::new().file("d.rhai", &script).args(&["run", "d.rhai", "--journal", "j.jsonl"]).run();
        done.status(1);
        assert!(done.stderr.contains(&format!("`{shown}` is longer than 366 days")), "{call}: {}", done.stderr);
        let events = hubops::journal::read(&dir.path().join("j.jsonl")).unwrap();
        assert!(events.iter().any(|e| matches!(e, hubops::journal::Event::Error { .. })), "{call}: error journaled");
        assert!(
            matches!(events.last(), Some(hubops::journal::Event::RunEnd { status, .. }) if status == "failed"),
            "{call}: run_end journaled"
        );
    }
}
