//! Home directories copied between file servers: one rsync per user
//! folder, run ON the target server over ssh and pulling from the source
//! with the target's own key (the seed's NFS steps), or on one server that
//! mounts both trees (Filestore, Azure Files), or on this machine. [`Homes`]
//! is the family value, live or on a world's `hosts:`; it runs one rsync
//! attempt, lists a tree, or finds what changed in one. Retries, the
//! blast-radius rule and passes over many users are the binding's and the
//! stdlib's (`stdlib/homes.rhai`); what runs where is [`remote`].
//!
//! Every verb takes the gate's [`Permit`]. Under `Permit::Check` the rsync
//! runs with its own `--dry-run` (it reads both trees and writes neither);
//! listings and searches are reads and run as they are. Nothing here knows
//! Rhai, the run, or whether a run is a dry run.

pub mod mux;
pub mod remote;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backends::shell::process::{self, Invocation};
use crate::backends::shell::rsync::{self, Report, Transfer};
use crate::backends::shell::ssh::{self, Login};
use crate::backends::shell::world as hosts;
use crate::backends::shell::SSH_FAILED;
use crate::backends::Target;
use crate::cancel::Cancel;
use crate::effects::{Failure, Permit};
use remote::Runner;

/// The host that stands for this machine.
pub const LOCAL: &str = hosts::LOCAL;
/// How long a listing or a search may take.
const READ_TIMEOUT: Duration = Duration::from_mins(30);

/// A tree of home directories: one folder per user under `root` on `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// The server, as hubops reaches it over ssh (`local`: this machine).
    pub host: String,
    /// How hubops logs in to it.
    pub login: Login,
    /// The folder that holds the users' folders.
    pub root: String,
    /// How the other server reaches this one to pull from it.
    pub pull: Pull,
}

/// How the target server logs in to the source to pull from it: the
/// address it knows the source by and a login whose key is on the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pull {
    /// The address (default: the tree's host).
    pub address: Option<String>,
    /// The login, with paths on the target server.
    pub login: Login,
}

impl Tree {
    /// `nfs-old:/export/home-01/homes/hub`.
    #[must_use]
    pub fn describe(&self) -> String {
        format!("{}:{}", self.host, self.root)
    }

    fn folder(&self, user: &str) -> String {
        format!("{}/{user}/", self.root.trim_end_matches('/'))
    }
}

/// How every user of a pass is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct How {
    /// Mirror deletions (`--delete`).
    pub delete: bool,
    /// `--bwlimit`.
    pub bwlimit: Option<String>,
    /// rsync's own `--timeout`: no data for this long ends the attempt.
    pub io_timeout: Duration,
    /// `--chown` (`1000:1000`), when the runner's rsync runs as root.
    pub chown: Option<String>,
    /// The rsync program on the runner.
    pub rsync_path: String,
    /// The longest one attempt may take.
    pub timeout: Duration,
}

/// One user's copy: what runs where.
#[derive(Debug, Clone)]
pub struct Job {
    /// The user's folder name.
    pub user: String,
    /// Where rsync runs.
    pub runner: Runner,
    /// What it copies.
    pub transfer: Transfer,
    /// The rsync program on the runner.
    pub rsync_path: String,
    /// The longest the attempt may take.
    pub timeout: Duration,
    /// `from` and `to`, for messages.
    pub shown: String,
    /// The server rsync's own ssh connects to, and how, when it does.
    pub peer: Option<(String, Login)>,
}

impl Job {
    /// `user`'s folder from `from` to `to`. rsync runs on the target (it
    /// pulls), or here when the source is this machine (it pushes); trees
    /// on one server are copied on that server.
    pub fn new(from: &Tree, to: &Tree, user: &str, how: &How) -> Result<Self, Error> {
        let push = from.host == LOCAL && to.host != LOCAL;
        let runner = if push { Runner::Local } else { Runner::of(to) };
        let mut ssh_words = None;
        let mut peer = None;
        let src = if from.host == runner.host() {
            from.folder(user)
        } else {
            let address = from.pull.address.clone().unwrap_or_else(|| from.host.clone());
            let login = if runner == Runner::Local { from.login.clone() } else { from.pull.login.clone() };
            ssh_words = Some(remote::rsh(&login)?);
            let folder = format!("{address}:{}", from.folder(user));
            peer = Some((address, login));
            folder
        };
        let dst = if to.host == runner.host() {
            to.folder(user)
        } else {
            ssh_words = Some(remote::rsh(&to.login)?);
            peer = Some((to.host.clone(), to.login.clone()));
            format!("{}:{}", to.host, to.folder(user))
        };
        if let Some(bad) = ssh_words.iter().flatten().find(|w| !rsync::valid_word(w)) {
            return Err(Error::Invalid { what: "word for rsync's remote shell", value: bad.clone() });
        }
        let mut extra = vec![
            "--numeric-ids".to_string(),
            "--partial".into(),
            format!("--timeout={}", how.io_timeout.as_secs().max(1)),
        ];
        if let Some(chown) = &how.chown {
            extra.push(format!("--chown={chown}"));
        }
        let transfer = Transfer {
            src,
            dst,
            delete: how.delete,
            ssh: ssh_words,
            bwlimit: how.bwlimit.clone(),
            preview: false,
            max_delete: how.delete.then_some(0),
            extra,
        };
        Ok(Self {
            user: user.to_string(),
            runner,
            transfer,
            rsync_path: how.rsync_path.clone(),
            timeout: how.timeout,
            shown: format!("{} -> {}", from.describe(), to.describe()),
            peer,
        })
    }

    /// The same copy, deleting at most `n` files the source no longer has.
    #[must_use]
    pub fn deleting(&self, n: u64) -> Self {
        let mut job = self.clone();
        job.transfer.max_delete = Some(n);
        job
    }

    /// `alice on nfs-new: rsync ... nfs-old:/export/homes/alice/ /export/homes/alice/`.
    #[must_use]
    pub fn describe(&self) -> String {
        let argv = remote::rsync_argv(&self.rsync_path, &self.transfer);
        let line = argv.iter().map(|w| process::quote(w)).collect::<Vec<_>>().join(" ");
        format!("{} on {}: {line}", self.user, self.runner.host())
    }
}

/// What one rsync attempt did (recorded in the journal, so a resume hands
/// it back instead of copying again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// rsync's exit status (255: ssh failed).
    pub status: i32,
    /// What moved (or, checked, would).
    pub report: Report,
    /// Deletions `--max-delete` held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_deletions: Option<u64>,
    /// The end of rsync's (and ssh's) stderr.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    /// Whether `took_ms` is a world's estimate that has not passed on the
    /// run's clock yet (the binding waits it there).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// A tree's folders and the server's clock when it was listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The folder names, sorted.
    pub users: Vec<String>,
    /// The server's clock, seconds since 1970.
    pub clock: i64,
}

/// Why a home-directory verb failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ssh or rsync could not run, or the server could not be reached.
    #[error(transparent)]
    Command(#[from] process::Error),
    /// A value that cannot be passed to ssh or rsync.
    #[error("`{value}` is not a valid {what}")]
    Invalid {
        /// What it was meant to be.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// The tree's folder cannot be listed (it does not exist, or is no folder).
    #[error("cannot list `{root}` on `{host}`{}", suffix(.stderr))]
    List {
        /// The server.
        host: String,
        /// The folder.
        root: String,
        /// What the server said.
        stderr: String,
    },
    /// The server that runs the copies cannot log in to the other one.
    #[error("`{runner}` cannot log in to `{peer}` to copy from it (ssh exit {status}){}; the copies run on `{runner}` with its own key: put that key's public half in `{peer}`'s authorized_keys, or name the key and the address with `pull`", suffix(.stderr))]
    Reach {
        /// Where the copies run.
        runner: String,
        /// The server it connects to.
        peer: String,
        /// ssh's exit status there.
        status: i32,
        /// What ssh said.
        stderr: String,
    },
    /// `find` could not look at all of the tree.
    #[error("cannot tell what changed in `{root}` on `{host}`: find failed (status {status}){}", suffix(.stderr))]
    Changed {
        /// The server.
        host: String,
        /// The folder.
        root: String,
        /// find's status.
        status: String,
        /// What the server said.
        stderr: String,
    },
}

fn suffix(text: &str) -> String {
    if text.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", text.trim())
    }
}

impl From<ssh::Error> for Error {
    fn from(e: ssh::Error) -> Self {
        let ssh::Error::Invalid { what, value } = e;
        Self::Invalid { what, value }
    }
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Command(e) => e.kind(),
            Self::Invalid { .. } => "Invalid",
            Self::List { .. } => "NotFound",
            Self::Changed { .. } => "Failed",
            Self::Reach { .. } => "Unreachable",
        }
    }
}

/// Where the copies run, chosen once from the run's target.
#[derive(Debug, Clone)]
pub enum Homes {
    /// Real servers; Ctrl-C stops what runs.
    Live(Cancel),
    /// The world's `hosts:`.
    World(crate::world::Shared),
}

impl Homes {
    /// The family value of a run on `target`.
    #[must_use]
    pub fn new(target: &Target, cancel: Cancel) -> Self {
        match target {
            Target::Live(_) => Self::Live(cancel),
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// One rsync attempt of `job`; every exit status is an answer. Under
    /// `Permit::Check` rsync runs with `--dry-run`.
    pub fn rsync(&self, permit: &Permit, job: &Job) -> Result<Attempt, Error> {
        let transfer = if permit.is_check() { job.transfer.previewed() } else { job.transfer.clone() };
        match self {
            Self::Live(cancel) => {
                let started = std::time::Instant::now();
                let shared = Shared::take(permit, cancel, &job.runner);
                let mut transfer = transfer;
                // Held until the copy ends.
                let through = peer(permit, cancel, job, shared.as_ref());
                if let (Some(words), Some((socket, _))) = (&mut transfer.ssh, &through) {
                    words.extend(mux::options(socket));
                }
                let argv = remote::rsync_argv(&job.rsync_path, &transfer);
                let inv =
                    job.runner.invocation_through(&argv, job.timeout, shared.as_ref().map(|s| s.socket.as_str()))?;
                let out = process::run(permit, &inv, cancel)?;
                Ok(Attempt {
                    status: out.status,
                    report: rsync::parse(&out.stdout),
                    skipped_deletions: rsync::skipped_deletions(&out.stderr),
                    stderr: process::tail(&out.stderr),
                    took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    simulated: false,
                })
            }
            Self::World(world) => {
                let ran = hosts::change(world, |h, now| h.rsync_on(permit, job.runner.host(), &transfer, now))?;
                Ok(Attempt {
                    status: ran.status,
                    skipped_deletions: rsync::skipped_deletions(&ran.stderr),
                    stderr: process::tail(&ran.stderr),
                    report: ran.report,
                    took_ms: u64::try_from(ran.took.as_millis()).unwrap_or(u64::MAX),
                    simulated: true,
                })
            }
        }
    }

    /// The folders of `tree` and its server's clock. A read: it runs
    /// under either permit.
    pub fn list(&self, permit: &Permit, tree: &Tree) -> Result<Listing, Error> {
        match self {
            Self::Live(cancel) => {
                let out = read(permit, cancel, tree, &remote::list_argv(&tree.root))?;
                remote::parse_list(&out.stdout)
                    .filter(|_| out.status == 0)
                    .map(|(clock, users)| Listing { users, clock })
                    .ok_or_else(|| Error::List {
                        host: tree.host.clone(),
                        root: tree.root.clone(),
                        stderr: process::tail(&out.stderr),
                    })
            }
            Self::World(world) => {
                let clock = world.now().as_second();
                let folders = hosts::read(world, |h| h.folders(&tree.host, &tree.root))?;
                folders.map(|users| Listing { users, clock }).ok_or_else(|| Error::List {
                    host: tree.host.clone(),
                    root: tree.root.clone(),
                    stderr: format!("cd: {}: No such file or directory", tree.root),
                })
            }
        }
    }

    /// The folders of `tree` in which anything changed at or after `since`
    /// (the server's clock, seconds since 1970). A read. `found` is handed
    /// each folder as the search finds it (on a world, all at once); the
    /// answer is the whole list, or an error when the search could not
    /// look at all of the tree (what `found` was handed is right, but may
    /// not be all).
    pub fn changed(
        &self,
        permit: &Permit,
        tree: &Tree,
        since: i64,
        found: Option<process::LineSink>,
    ) -> Result<Vec<String>, Error> {
        match self {
            Self::Live(cancel) => {
                let search = Arc::new(Mutex::new(remote::Search::default()));
                let lines: process::LineSink = {
                    let search = search.clone();
                    let mut found = found;
                    Box::new(move |line: &str| {
                        let mut search = search.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                        if let (Some(name), Some(found)) = (search.line(line), found.as_mut()) {
                            found(name);
                        }
                    })
                };
                let argv = remote::changed_argv(&tree.root, since);
                let out = read_with_lines(permit, cancel, tree, &argv, Some(lines))?;
                let search = std::mem::take(&mut *search.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
                let failed = if out.status == 0 { search.failed } else { Some(out.status.to_string()) };
                if let Some(status) = failed {
                    return Err(Error::Changed {
                        host: tree.host.clone(),
                        root: tree.root.clone(),
                        status,
                        stderr: process::tail(&out.stderr),
                    });
                }
                Ok(search.names.into_iter().collect())
            }
            Self::World(world) => {
                let since = jiff::Timestamp::from_second(since).unwrap_or(jiff::Timestamp::MIN);
                let names = hosts::read(world, |h| h.changed_since(&tree.host, &tree.root, since))?;
                if let Some(mut found) = found {
                    for name in &names {
                        found(name);
                    }
                }
                Ok(names)
            }
        }
    }
}

impl Homes {
    /// Opens, all at once, the shared connections that copies from `from`
    /// to `to` with `limit` at a time will use (see [`mux`]): to the source
    /// (its listing), to the server that runs the copies, and from that
    /// one to the source, a connection per slot. Then checks what sharing
    /// could not show: that hubops can log in to the runner and the runner
    /// to the source. Under either permit: it reads nothing and writes
    /// nothing. A world has no connections to open; it checks the same
    /// logins against its hosts (`reachable`, `accepts`).
    pub fn connect(&self, permit: &Permit, from: &Tree, to: &Tree, limit: u32) -> Result<(), Error> {
        let how = How {
            delete: false,
            bwlimit: None,
            io_timeout: mux::OPEN_TIMEOUT,
            chown: None,
            rsync_path: "rsync".into(),
            timeout: mux::OPEN_TIMEOUT,
        };
        let job = Job::new(from, to, "hubops-connect", &how)?;
        match self {
            Self::Live(cancel) => connect_live(permit, cancel, &job, from, to, limit),
            Self::World(world) => connect_world(world, &job),
        }
    }
}

/// [`Homes::connect`] on a world: the runner must be reachable, and the
/// server its rsync connects to must accept the runner's key.
fn connect_world(world: &crate::world::Shared, job: &Job) -> Result<(), Error> {
    let runner = job.runner.host();
    let Some((address, _)) = &job.peer else {
        // Both trees on the runner: only the runner has to be reached.
        hosts::read(world, |h| h.refused_login(runner, runner))?;
        return Ok(());
    };
    // `user@host`, as the world's rsync reads it.
    let peer = address.rsplit_once('@').map_or(address.as_str(), |(_, h)| h);
    match hosts::read(world, |h| h.refused_login(runner, peer))? {
        None => Ok(()),
        Some(stderr) => Err(Error::Reach { runner: runner.into(), peer: peer.into(), status: SSH_FAILED, stderr }),
    }
}

/// [`Homes::connect`] on real servers.
fn connect_live(permit: &Permit, cancel: &Cancel, job: &Job, from: &Tree, to: &Tree, limit: u32) -> Result<(), Error> {
    let slots = limit.div_ceil(mux::PER_MASTER).max(1);
    let source = Runner::of(from);
    let reached: Vec<(bool, bool)> = std::thread::scope(|scope| {
        // The source's listing: opened alongside, nothing to check.
        scope.spawn(|| drop(Shared::take(permit, cancel, &source)));
        let copies: Vec<_> = (0..slots)
            .map(|slot| {
                scope.spawn(move || {
                    let shared = Shared::take_slot(permit, cancel, &job.runner, slot);
                    let through = peer(permit, cancel, job, shared.as_ref()).is_some();
                    (shared.is_some(), through)
                })
            })
            .collect();
        copies.into_iter().map(|h| h.join().unwrap_or((false, false))).collect()
    });
    if cancel.is_cancelled() {
        return Err(Error::Command(process::Error::Interrupted { program: "ssh".into() }));
    }
    // What did not open shared is tried on its own, so a refusal shows.
    let (runner_ok, peer_ok) = reached.first().copied().unwrap_or((false, false));
    if !runner_ok && job.runner != Runner::Local {
        read(permit, cancel, to, &["true".into()])?;
    }
    let Some((address, login)) = job.peer.as_ref().filter(|_| !peer_ok) else { return Ok(()) };
    let mut argv = remote::rsh(login)?;
    argv.extend(["--".into(), address.clone(), "true".into()]);
    let inv = job.runner.invocation(&argv, mux::OPEN_TIMEOUT)?;
    let out = process::run(permit, &inv, cancel)?;
    if out.status == 0 {
        return Ok(());
    }
    Err(Error::Reach {
        runner: job.runner.host().to_string(),
        peer: address.clone(),
        status: out.status,
        stderr: process::tail(&out.stderr),
    })
}

/// Runs a read-only command on a tree's server; ssh's own failure is
/// [`process::Error::Unreachable`].
fn read(permit: &Permit, cancel: &Cancel, tree: &Tree, argv: &[String]) -> Result<process::Output, Error> {
    read_with_lines(permit, cancel, tree, argv, None)
}

/// [`read`], handing each line of its output to `lines` as it comes.
fn read_with_lines(
    permit: &Permit,
    cancel: &Cancel,
    tree: &Tree,
    argv: &[String],
    lines: Option<process::LineSink>,
) -> Result<process::Output, Error> {
    let runner = Runner::of(tree);
    let shared = Shared::take(permit, cancel, &runner);
    let inv: Invocation = runner.invocation_through(argv, READ_TIMEOUT, shared.as_ref().map(|s| s.socket.as_str()))?;
    let out = process::run_with_lines(permit, &inv, cancel, lines)?;
    if out.status == SSH_FAILED && runner != Runner::Local {
        return Err(Error::Command(process::Error::Unreachable {
            host: tree.host.clone(),
            stderr_tail: process::tail(&out.stderr),
        }));
    }
    Ok(out)
}

/// A place in a shared connection from here to a runner (see [`mux`]).
struct Shared {
    /// The connection, as [`mux`] knows it.
    key: String,
    lease: mux::Lease,
    socket: String,
}

impl Shared {
    /// A place in a shared connection to `runner`, opened if it was not,
    /// or `None`: the command connects on its own.
    fn take(permit: &Permit, cancel: &Cancel, runner: &Runner) -> Option<Self> {
        Self::take_in(permit, cancel, runner, None)
    }

    /// [`Self::take`], in slot `slot`.
    fn take_slot(permit: &Permit, cancel: &Cancel, runner: &Runner, slot: u32) -> Option<Self> {
        Self::take_in(permit, cancel, runner, Some(slot))
    }

    fn take_in(permit: &Permit, cancel: &Cancel, runner: &Runner, slot: Option<u32>) -> Option<Self> {
        let Runner::Remote { host, login } = runner else { return None };
        let dir = mux::local_dir()?;
        let key = format!("{host} {}", remote::keepalive(ssh::base(login).ok()?).join(" "));
        let lease = slot.map_or_else(|| mux::Lease::take(&key), |n| mux::Lease::take_slot(&key, n));
        let socket = mux::socket(dir, &key, lease.slot);
        let inv = runner.invocation_through(&["true".to_string()], mux::OPEN_TIMEOUT, Some(&socket)).ok()?;
        mux::open(permit, cancel, &key, lease.slot, &inv).then_some(Self { key, lease, socket })
    }
}

/// The socket of the shared connection from the job's runner to the
/// server its rsync connects to (the source it pulls from), opened on the
/// runner if it was not, or `None`: rsync's ssh connects on its own. One
/// such connection per slot of the connection to the runner, so each
/// carries as many copies at once as that one. When rsync runs here, the
/// place it takes in its own slots comes back with the socket, to be held
/// as long as the copy runs.
fn peer(permit: &Permit, cancel: &Cancel, job: &Job, shared: Option<&Shared>) -> Option<(String, Option<mux::Lease>)> {
    let (address, login) = job.peer.as_ref()?;
    let words = remote::rsh(login).ok()?;
    let (name, dir, slot, lease) = match (&job.runner, shared) {
        (Runner::Remote { .. }, Some(s)) => (
            format!("{} -> {address} {}", s.key, words.join(" ")),
            mux::remote_dir(login.identity.as_deref()),
            s.lease.slot,
            None,
        ),
        (Runner::Local, _) => {
            let name = format!("{address} {}", words.join(" "));
            let lease = mux::Lease::take(&name);
            (name, mux::local_dir()?.to_string(), lease.slot, Some(lease))
        }
        (Runner::Remote { .. }, None) => return None,
    };
    let prepare = lease.is_none();
    let socket = mux::socket(&dir, &name, slot);
    if !rsync::valid_word(&socket) {
        return None;
    }
    let mut argv: Vec<String> = if prepare {
        vec!["sh".into(), "-c".into(), mux::REMOTE_PREPARE.into(), "hubops-mux".into(), dir]
    } else {
        Vec::new()
    };
    argv.extend(words);
    argv.extend(mux::options(&socket));
    argv.extend(["--".into(), address.clone(), "true".into()]);
    let inv = job.runner.invocation_through(&argv, mux::OPEN_TIMEOUT, shared.map(|s| s.socket.as_str())).ok()?;
    mux::open(permit, cancel, &name, slot, &inv).then_some((socket, lease))
}

#[cfg(test)]
mod tests;
