//! The `hosts:` section of a world: hosts with file trees and answers to
//! commands, so `sh::rsync`, `sh::ssh`, `sh::run` and `yaml::` edits
//! rehearse without touching this machine. Host `local` is the operator's
//! machine (local paths, `sh::run`, values files). What changes a host's
//! files takes the gate's `Permit` and, under `Permit::Check`, only
//! validates: a dry run on a world leaves the world as it was.
//!
//! ```yaml
//! hosts:
//!   nfs-old:
//!     files:
//!       /export/homes/hub/alice/a.ipynb: "{}"        # text content
//!       /export/homes/hub/bob/data.h5: { size: 52428800 }   # a size only
//!     commands:
//!       - run: df -h /export                         # the exact command line
//!         stdout: "/dev/sdb 1T 200G 800G 20% /export\n"
//!   nfs-new: {}
//!   down: { reachable: false }
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::process::{Error, Output};
use super::rsync::{Report, Transfer};
use crate::effects::Permit;
use crate::world::{Shared, WorldPart};

/// The host that stands for the operator's machine.
pub const LOCAL: &str = "local";
/// rsync's "partial transfer due to error" (here: the source is missing).
const RSYNC_PARTIAL: i32 = 23;

/// The `hosts:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct HostsWorld {
    /// Hosts by name. Private: files change only through the mutators
    /// below, which take a `Permit`.
    hosts: BTreeMap<String, Host>,
}

/// One simulated host.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Whether ssh reaches it (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub reachable: bool,
    /// Files by full path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, File>,
    /// Answers to commands, matched on the exact command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Answer>,
}

impl Default for Host {
    fn default() -> Self {
        Self { reachable: true, files: BTreeMap::new(), commands: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

// serde's `skip_serializing_if` passes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_true(value: &bool) -> bool {
    *value
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// A file: its text, or only a size (large trees without the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum File {
    /// Text content.
    Text(String),
    /// A file of this many bytes whose content does not matter.
    Sized {
        /// Bytes.
        size: u64,
    },
}

impl File {
    fn size(&self) -> u64 {
        match self {
            Self::Text(t) => t.len() as u64,
            Self::Sized { size } => *size,
        }
    }
}

/// A command's simulated answer. `run` is matched exactly: for `sh::ssh`
/// the remote command line, for `sh::run` (host `local`) the program and
/// its arguments quoted as a shell would (`printf '%s|' 'a b'`), without
/// the environment or working directory.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The command line, as the plan shows it (`git -C /srv pull`).
    pub run: String,
    /// Exit status.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub status: i32,
    /// Standard output.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    /// Standard error.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
}

impl WorldPart for HostsWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Loads the `hosts:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let world: HostsWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (name, host) in &world.hosts {
        if let Some(path) = host.files.keys().find(|p| p.is_empty() || p.ends_with('/')) {
            return Err(format!("host `{name}`: `{path}` is not a file path"));
        }
    }
    Ok(Box::new(world))
}

/// Reads the world's `hosts:` part.
pub fn read<T>(world: &Shared, f: impl FnOnce(&HostsWorld) -> Result<T, Error>) -> Result<T, Error> {
    let world = world.lock();
    f(world.part::<HostsWorld>("hosts").ok_or(Error::NoHosts)?)
}

/// Changes the world's `hosts:` part: `f` calls its mutators, which take
/// the permit.
pub fn change<T>(world: &Shared, f: impl FnOnce(&mut HostsWorld) -> Result<T, Error>) -> Result<T, Error> {
    let mut world = world.lock();
    f(world.part_mut::<HostsWorld>("hosts").ok_or(Error::NoHosts)?)
}

/// `[user@]host:path` -> (host, path); a local path -> (`local`, path).
#[must_use]
pub fn endpoint(spec: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((host, path)) if !host.contains('/') && !host.is_empty() => {
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            (host.to_string(), path.to_string())
        }
        _ => (LOCAL.to_string(), spec.to_string()),
    }
}

fn normal(path: &str) -> String {
    path.strip_prefix("./").unwrap_or(path).to_string()
}

impl HostsWorld {
    fn host(&self, name: &str) -> Result<&Host, Error> {
        static EMPTY: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
        match self.hosts.get(name) {
            Some(h) if !h.reachable => Err(Error::Unreachable {
                host: name.into(),
                stderr_tail: format!("ssh: connect to host {name} port 22: Connection timed out"),
            }),
            Some(h) => Ok(h),
            None if name == LOCAL => Ok(EMPTY.get_or_init(Host::default)),
            None => Err(Error::Unreachable {
                host: name.into(),
                stderr_tail: format!("ssh: Could not resolve hostname {name}: Name or service not known"),
            }),
        }
    }

    /// The answer of `host` to command line `line`.
    pub fn answer(&self, host: &str, line: &str) -> Result<Output, Error> {
        let answer = self
            .host(host)?
            .commands
            .iter()
            .find(|a| a.run == line)
            .ok_or_else(|| Error::NoAnswer { host: host.into(), line: line.into() })?;
        Ok(Output { status: answer.status, stdout: answer.stdout.clone(), stderr: answer.stderr.clone() })
    }

    /// A local file's text (`yaml::` on worlds).
    #[must_use]
    pub fn read_local(&self, path: &str) -> Option<String> {
        match self.hosts.get(LOCAL)?.files.get(&normal(path))? {
            File::Text(t) => Some(t.clone()),
            File::Sized { .. } => None,
        }
    }

    /// Writes a local file; under `Permit::Check` only checks that `path`
    /// can be one.
    pub fn write_local(&mut self, permit: &Permit, path: &str, text: String) -> Result<(), Error> {
        let path = normal(path);
        if path.is_empty() || path.ends_with('/') {
            return Err(Error::NotAFile { path });
        }
        if !permit.is_check() {
            self.hosts.entry(LOCAL.into()).or_default().files.insert(path, File::Text(text));
        }
        Ok(())
    }

    /// Host `local`'s text files under folder `prefix` (`phalanx`), by
    /// path relative to it (a git checkout's working tree on a world).
    #[must_use]
    pub fn local_tree(&self, prefix: &str) -> BTreeMap<String, String> {
        let prefix = format!("{}/", normal(prefix).trim_end_matches('/'));
        let Some(host) = self.hosts.get(LOCAL) else { return BTreeMap::new() };
        host.files
            .iter()
            .filter_map(|(path, file)| match file {
                File::Text(text) => path.strip_prefix(&prefix).map(|rel| (rel.to_string(), text.clone())),
                File::Sized { .. } => None,
            })
            .collect()
    }

    /// Removes a local file; under `Permit::Check` only checks that it
    /// is one. Removing a file that is not there is not an error.
    pub fn remove_local(&mut self, permit: &Permit, path: &str) -> Result<(), Error> {
        let path = normal(path);
        if path.is_empty() || path.ends_with('/') {
            return Err(Error::NotAFile { path });
        }
        if !permit.is_check() {
            if let Some(host) = self.hosts.get_mut(LOCAL) {
                host.files.remove(&path);
            }
        }
        Ok(())
    }

    /// Copies as `rsync -a` would between host trees; under
    /// `Permit::Check` (or for a transfer the runbook only previews) only
    /// reports what would move. Returns the report and rsync's status.
    pub fn rsync(&mut self, permit: &Permit, transfer: &Transfer) -> Result<(Report, i32), Error> {
        let (src_host, src_path) = endpoint(&transfer.src);
        let (dst_host, dst_path) = endpoint(&transfer.dst);
        let source = self.host(&src_host)?;
        self.host(&dst_host)?;
        let src_path = normal(&src_path);
        let contents = src_path.ends_with('/');
        let src_dir = src_path.trim_end_matches('/').to_string();
        let base = src_dir.rsplit('/').next().unwrap_or_default().to_string();
        let dst_dir = normal(&dst_path).trim_end_matches('/').to_string();
        // Files to copy: relative name -> file.
        let mut entries: BTreeMap<String, File> = BTreeMap::new();
        if let (false, Some(file)) = (contents, source.files.get(&src_dir)) {
            entries.insert(base.clone(), file.clone());
        } else {
            let prefix = format!("{src_dir}/");
            for (path, file) in &source.files {
                if let Some(rel) = path.strip_prefix(&prefix) {
                    let rel = if contents { rel.to_string() } else { format!("{base}/{rel}") };
                    entries.insert(rel, file.clone());
                }
            }
        }
        if entries.is_empty() {
            return Err(Error::Failed {
                program: "rsync".into(),
                status: RSYNC_PARTIAL,
                stderr_tail: format!("rsync: [sender] change_dir \"{src_dir}\" failed: No such file or directory (2)"),
            });
        }
        let target = |rel: &str| if dst_dir.is_empty() { rel.to_string() } else { format!("{dst_dir}/{rel}") };
        let dest = self.hosts.get(&dst_host).map(|h| h.files.clone()).unwrap_or_default();
        let mut report = Report { total_files: entries.len() as u64, ..Report::default() };
        let mut writes = Vec::new();
        for (rel, file) in &entries {
            report.total_bytes += file.size();
            let at = target(rel);
            match dest.get(&at) {
                Some(existing) if existing == file => {}
                existing => {
                    report.files += 1;
                    report.bytes += file.size();
                    report.created += u64::from(existing.is_none());
                    report.changed.push(rel.clone());
                    writes.push((at, file.clone()));
                }
            }
        }
        let mut deletes = Vec::new();
        if transfer.delete {
            let wanted: BTreeSet<String> = entries.keys().map(|rel| target(rel)).collect();
            // Deletion covers what the copy covers: the folder's contents,
            // or the copied folder itself.
            let scope = if contents { format!("{dst_dir}/") } else { format!("{}/", target(&base)) };
            let prefix = format!("{dst_dir}/");
            for path in dest.keys().filter(|p| p.starts_with(&scope) && !wanted.contains(*p)) {
                report.deleted += 1;
                report.changed.push(path.strip_prefix(&prefix).unwrap_or(path).to_string());
                deletes.push(path.clone());
            }
        }
        report.sent = report.bytes;
        if !permit.is_check() && !transfer.preview {
            let host = self.hosts.entry(dst_host).or_default();
            for (path, file) in writes {
                host.files.insert(path, file);
            }
            for path in deletes {
                host.files.remove(&path);
            }
        }
        Ok((report, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::effects::Failure;

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
        let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "nfs-new:/export/homes/hub/", true);
        let (r, status) = w.rsync(&Permit::for_tests(), &t).unwrap();
        assert_eq!((r.files, r.bytes, r.deleted, status), (2, 1005, 1, 0));
        let files: Vec<&String> = w.hosts["nfs-new"].files.keys().collect();
        assert_eq!(files, ["/export/homes/hub/alice/a.txt", "/export/homes/hub/bob/big.h5"]);
        let (again, _) = w.rsync(&Permit::for_tests(), &t).unwrap();
        assert_eq!((again.files, again.bytes), (0, 0), "a second run moves only changes");
    }

    #[test]
    fn a_checked_or_previewed_rsync_reports_and_changes_nothing() {
        let t = transfer("ubuntu@nfs-old:/export/homes/hub/", "nfs-new:/export/homes/hub/", true);
        for (permit, t) in [(Permit::for_tests_check(), t.clone()), (Permit::for_tests(), t.previewed())] {
            let mut w = world();
            let before = w.snapshot();
            let (r, status) = w.rsync(&permit, &t).unwrap();
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
        w.rsync(&Permit::for_tests(), &transfer("nfs-old:/export/homes/hub", "/backup/", false)).unwrap();
        assert!(w.hosts[LOCAL].files.contains_key("/backup/hub/alice/a.txt"));
    }

    #[test]
    fn unknown_unreachable_and_missing_are_errors() {
        let mut w = world();
        let p = Permit::for_tests_check();
        let err = w.rsync(&p, &transfer("down:/x/", "/y/", false)).unwrap_err();
        assert_eq!(err.to_string(), "ssh to `down` failed: ssh: connect to host down port 22: Connection timed out");
        let err = w.rsync(&p, &transfer("nope:/x/", "/y/", false)).unwrap_err();
        assert_eq!(err.kind(), "Unreachable");
        let err = w.rsync(&p, &transfer("nfs-old:/missing/", "/y/", false)).unwrap_err();
        assert_eq!(err.to_string(), "`rsync` exited with status 23: rsync: [sender] change_dir \"/missing\" failed: No such file or directory (2)");
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
}
