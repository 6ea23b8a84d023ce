//! The test builder: `Test::new().file(..).args(..).run()` then assertions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hubops::journal::{self, Event};

pub(crate) struct Test {
    bin: &'static str,
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub(crate) struct Done {
    pub(crate) status: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) dir: PathBuf,
}

impl Test {
    /// The real command line.
    pub(crate) fn new() -> Self {
        Self::with_bin(env!("CARGO_BIN_EXE_hubops-e2e"))
    }

    /// The command line with the mutating `testkit::` family; its live store
    /// is the `store/` folder of the scratch directory.
    pub(crate) fn testkit() -> Self {
        let t = Self::with_bin(env!("CARGO_BIN_EXE_hubops-testkit"));
        std::fs::create_dir_all(t.path("store")).expect("store dir");
        let store = t.path("store").display().to_string();
        t.env("HUBOPS_TESTKIT_DIR", &store)
    }

    /// The testkit command line in an existing scratch folder (a second run
    /// of the same site).
    pub(crate) fn testkit_in(dir: &tempfile::TempDir) -> Again {
        Again { dir: dir.path().to_path_buf(), args: Vec::new() }
    }

    fn with_bin(bin: &'static str) -> Self {
        Self { bin, dir: tempfile::tempdir().expect("tempdir"), args: Vec::new(), env: Vec::new() }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn file(self, name: &str, text: &str) -> Self {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write test file");
        self
    }

    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(ToString::to_string));
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = isolated(self.bin, self.dir.path());
        cmd.args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub(crate) fn run(self) -> (Done, tempfile::TempDir) {
        let Output { status, stdout, stderr } = self.command().output().expect("run hubops");
        let done = Done {
            status: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            dir: self.dir.path().to_path_buf(),
        };
        (done, self.dir)
    }
}

impl Done {
    #[track_caller]
    pub(crate) fn status(&self, code: i32) -> &Self {
        assert_eq!(self.status, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub(crate) fn stderr(&self, expected: &str) -> &Self {
        pretty_assertions::assert_eq!(self.stderr, expected);
        self
    }

    #[track_caller]
    pub(crate) fn stdout(&self, expected: &str) -> &Self {
        pretty_assertions::assert_eq!(self.stdout, expected);
        self
    }

    /// stderr without status lines (the indented cargo-style ones).
    pub(crate) fn errors(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !l.starts_with("  ") || l.starts_with("  -") || l.trim_start().starts_with('|'))
            .fold(String::new(), |mut out, l| {
                out.push_str(l);
                out.push('\n');
                out
            })
    }

    pub(crate) fn journal(&self, name: &str) -> Vec<Event> {
        journal::read(&self.dir.join(name)).expect("journal")
    }
}

/// The `type` of each event, as the journal writes it.
pub(crate) fn types(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| serde_json::to_value(e).expect("event")["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub(crate) fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// A further run in a scratch folder that a [`Test`] made.
pub(crate) struct Again {
    dir: PathBuf,
    args: Vec<String>,
}

impl Again {
    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(ToString::to_string));
        self
    }

    pub(crate) fn output(self) -> Done {
        let mut cmd = isolated(env!("CARGO_BIN_EXE_hubops-testkit"), &self.dir);
        cmd.args(&self.args).env("HUBOPS_TESTKIT_DIR", self.dir.join("store"));
        let Output { status, stdout, stderr } = cmd.output().expect("run hubops");
        Done {
            status: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            dir: self.dir,
        }
    }
}

/// `bin` run in `dir` with nothing from the developer's environment that
/// hubops reads (`HUBOPS_*`, `RUST_LOG`), no colour, and state kept in `dir`.
fn isolated(bin: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("HUBOPS_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1").env("XDG_STATE_HOME", dir.join("state")).env("HOME", dir);
    cmd
}
