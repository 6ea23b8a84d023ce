//! The `hosts:` section of a world: hosts with file trees and answers to
//! commands, so `sh::rsync`, `sh::ssh`, `sh::run`, `homes::` copies and
//! `yaml::` edits rehearse without touching this machine. Host `local` is
//! the operator's machine (local paths, `sh::run`, values files). What
//! changes a host's files takes the gate's `Permit` and, under
//! `Permit::Check`, only validates: a dry run on a world leaves the world as
//! it was. The rsync simulation, with the refusals real rsync makes, is in
//! [`rsync`].
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
//!     faults:                                        # rsync of this source path
//!       - { path: /export/homes/hub/bob, status: 24, times: 1 }
//!     events:                                        # users at work, over virtual time
//!       - after: 2h
//!         write: { /export/homes/hub/alice/b.ipynb: "{}" }
//!         delete: [/export/homes/hub/alice/a.ipynb]
//!   nfs-new:
//!     speed: { rate: 100MB/s, per_file: 2ms, connect: 1s }   # rsync run here
//!   down: { reachable: false }
//! ```

pub mod rsync;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::process::{Error, Output};
use crate::effects::Permit;
use crate::world::{Shared, WorldPart};

/// The host that stands for the operator's machine.
pub const LOCAL: &str = "local";

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
    /// The hosts whose ssh key it accepts (its `authorized_keys`, such as
    /// the seed's `nfs-transfer-key` of the new NFS server): an rsync run on
    /// another host that connects to this one fails as ssh does (exit 255,
    /// `Permission denied (publickey)`). Absent: every host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepts: Option<Vec<String>>,
    /// Files by full path.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, File>,
    /// Answers to commands, matched on the exact command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Answer>,
    /// How long an rsync run on this host takes (none: no time at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<Speed>,
    /// rsyncs of a source path on this host that end with a status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// File changes that happen by themselves, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<HostEvent>,
    /// When each path last changed (its ctime), for `find -newer` on the
    /// world: set by events and by copies, written back with the world.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub changed: BTreeMap<String, Timestamp>,
}

impl Default for Host {
    fn default() -> Self {
        Self {
            reachable: true,
            accepts: None,
            files: BTreeMap::new(),
            commands: Vec::new(),
            speed: None,
            faults: Vec::new(),
            events: Vec::new(),
            changed: BTreeMap::new(),
        }
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

/// How fast rsync runs on a host: `connect + files x per_file + bytes / rate`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Speed {
    /// Bytes per second: `100MB/s`, `1GiB/s`, `500KB/s`.
    pub rate: String,
    /// Time per file looked at (both sides' file lists): `2ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_file: Option<String>,
    /// Time to connect and start: `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<String>,
}

/// rsync of `path` (a source folder on this host) ends with `status`:
/// 24 copies and reports vanished files, anything else copies nothing.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The source folder, as the transfer names it (a trailing `/` or not).
    pub path: String,
    /// rsync's exit status.
    pub status: i32,
    /// How many times (absent: every time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

/// Files that change by themselves at a virtual time (users at work).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostEvent {
    /// When, after the world's start: `90s`, `2h`.
    pub after: String,
    /// Files written (created or replaced).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write: BTreeMap<String, File>,
    /// Files removed (a folder: everything in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete: Vec<String>,
}

impl HostEvent {
    fn at(&self) -> Duration {
        crate::duration::parse(&self.after).unwrap_or_default()
    }
}

impl WorldPart for HostsWorld {
    fn snapshot(&self) -> Value {
        self.snapshot_after(Duration::ZERO)
    }

    fn snapshot_after(&self, elapsed: Duration) -> Value {
        // The saved world starts where the run left it: events still to
        // come move that much earlier. (Those already due were applied when
        // the world was last read.)
        let mut world = self.clone();
        for host in world.hosts.values_mut() {
            for event in &mut host.events {
                event.after = crate::duration::format(event.at().saturating_sub(elapsed));
            }
        }
        serde_json::to_value(world).unwrap_or(Value::Null)
    }
}

/// Loads the `hosts:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let mut world: HostsWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (name, host) in &mut world.hosts {
        let written = host.events.iter().flat_map(|e| e.write.keys());
        if let Some(path) = host.files.keys().chain(written).find(|p| p.is_empty() || p.ends_with('/')) {
            return Err(format!("host `{name}`: `{path}` is not a file path"));
        }
        for event in &host.events {
            crate::duration::parse(&event.after).map_err(|e| format!("host `{name}`: event `after`: {e}"))?;
        }
        if let Some(speed) = &host.speed {
            rsync::rate(&speed.rate).map_err(|e| format!("host `{name}`: `speed.rate`: {e}"))?;
            for d in [&speed.per_file, &speed.connect].into_iter().flatten() {
                crate::duration::parse(d).map_err(|e| format!("host `{name}`: `speed`: {e}"))?;
            }
        }
        host.events.sort_by_key(HostEvent::at);
    }
    Ok(Box::new(world))
}

/// Reads the world's `hosts:` part, with the events due by now applied.
pub fn read<T>(world: &Shared, f: impl FnOnce(&HostsWorld) -> Result<T, Error>) -> Result<T, Error> {
    let now = world.now();
    let mut world = world.lock();
    let start = world.start();
    let hosts = world.part_mut::<HostsWorld>("hosts").ok_or(Error::NoHosts)?;
    hosts.settle(start, now);
    f(hosts)
}

/// Changes the world's `hosts:` part: `f` calls its mutators, which take
/// the permit. Events due by now are applied first.
pub fn change<T>(world: &Shared, f: impl FnOnce(&mut HostsWorld, Timestamp) -> Result<T, Error>) -> Result<T, Error> {
    let now = world.now();
    let mut world = world.lock();
    let start = world.start();
    let hosts = world.part_mut::<HostsWorld>("hosts").ok_or(Error::NoHosts)?;
    hosts.settle(start, now);
    f(hosts, now)
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
    /// Applies every host event due at `now` (the world started at `start`).
    /// Settling is not a change a runbook makes: the world moves on by
    /// itself, as the k8s world's scheduled events do.
    fn settle(&mut self, start: Timestamp, now: Timestamp) {
        for host in self.hosts.values_mut() {
            while let Some(event) = host.events.first() {
                let span = jiff::SignedDuration::try_from(event.at()).unwrap_or(jiff::SignedDuration::MAX);
                let at = start.checked_add(span).unwrap_or(Timestamp::MAX);
                if at > now {
                    break;
                }
                let event = host.events.remove(0);
                for (path, file) in event.write {
                    host.changed.insert(path.clone(), at);
                    host.files.insert(path, file);
                }
                for gone in event.delete {
                    let gone = gone.trim_end_matches('/').to_string();
                    let inside = format!("{gone}/");
                    host.files.retain(|p, _| *p != gone && !p.starts_with(&inside));
                    host.changed.insert(gone, at);
                }
            }
        }
    }

    /// Whether `from` can log in to `to` over ssh: `Some(what ssh says)`
    /// when `to` does not accept `from`'s key; an error when `to` cannot be
    /// reached.
    pub fn refused_login(&self, from: &str, to: &str) -> Result<Option<String>, Error> {
        let host = self.host(to)?;
        let accepted = host.accepts.as_ref().is_none_or(|keys| keys.iter().any(|k| k == from));
        Ok((!accepted).then(|| format!("{to}: Permission denied (publickey).")))
    }

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

    /// The folders directly in `root` on `host` (`find ROOT -mindepth 1
    /// -maxdepth 1 -type d`), sorted; `None` when `root` holds nothing.
    pub fn folders(&self, host: &str, root: &str) -> Result<Option<Vec<String>>, Error> {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        let files = &self.host(host)?.files;
        let mut names: Vec<String> = files
            .keys()
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once('/').map(|(dir, _)| dir.to_string()))
            .collect();
        names.dedup();
        let any = files.keys().any(|p| p.starts_with(&prefix));
        Ok(any.then_some(names))
    }

    /// The names directly in `root` on `host` under which something changed
    /// at or after `since` (`find ROOT -newerct @SINCE`, first component).
    pub fn changed_since(&self, host: &str, root: &str, since: Timestamp) -> Result<Vec<String>, Error> {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        let mut names: Vec<String> = self
            .host(host)?
            .changed
            .iter()
            .filter(|(_, at)| **at >= since)
            .filter_map(|(p, _)| p.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests;
