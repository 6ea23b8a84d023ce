//! The commands a home-directory copy runs, as argv: the rsync of one
//! user's folder (run on the target server, pulling from the source, as
//! the seed's operator does by hand), the listing of a tree, and the search
//! for what changed since a pass began. Pure functions; running them is
//! [`Homes`](super::Homes)'s job.
//!
//! A command run on a server goes through `sh -c WRAPPER`, which ends it
//! when the ssh session ends: it watches the session's stdin (which hubops
//! holds open and never writes) and, when that closes, stops its whole
//! process group (the remote rsync and the ssh it opened to the source).
//! So Ctrl-C, a timeout, or hubops itself dying leaves no rsync behind on
//! either server; without it the remote rsync would run on until it next
//! wrote to the closed session.

use super::{Tree, LOCAL};
use crate::backends::shell::process::{quote, Invocation};
use crate::backends::shell::rsync::{self, Transfer};
use crate::backends::shell::ssh::{self, Login};

/// Seconds between ssh keepalives, and how many may go unanswered: a
/// dead link is noticed after five minutes, however long the copy runs.
const ALIVE_INTERVAL: u32 = 30;
const ALIVE_COUNT: u32 = 10;

/// Runs `"$@"` and ends it, with everything it started, when stdin closes.
const WRAPPER: &str = r#"exec 3<&0 0</dev/null
"$@" 3<&- &
r=$!
{ while read -r x <&3; do :; done; kill -TERM 0; } >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$r"
s=$?
kill "$w" 2>/dev/null
exit "$s""#;

/// Prints the server's clock (seconds since 1970), then the folders in
/// `$1`, one a line.
const LIST: &str = r#"date +%s && cd "$1" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n'"#;

/// Everything under `$1` whose status changed at or after `@$2` (ctime:
/// content, metadata, and entries added or removed in a folder), one path
/// a line; a line `hubops-find-failed N` if find failed, so a partial
/// answer is never taken for a whole one. The first component of each path
/// is the user's folder; hubops picks those out as the lines come (see
/// [`Search`]), so copies start while the walk goes on. (A filter on the
/// server would make less output, but awk, for one, reads a pipe in whole
/// blocks and would hold the names back until the walk ends.)
const CHANGED: &str =
    r#"cd "$1" && { find . -mindepth 1 -newerct "@$2" -printf '%P\n' || echo "hubops-find-failed $?"; }"#;

/// How the search says that find failed.
const FIND_FAILED: &str = "hubops-find-failed ";

/// Where a command runs: this machine, or a server over ssh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// This machine.
    Local,
    /// A server, with how hubops logs in to it.
    Remote {
        /// The host, as ssh is given it.
        host: String,
        /// The login.
        login: Login,
    },
}

impl Runner {
    /// The runner of commands on a tree's server.
    #[must_use]
    pub fn of(tree: &Tree) -> Self {
        if tree.host == LOCAL {
            Self::Local
        } else {
            Self::Remote { host: tree.host.clone(), login: tree.login.clone() }
        }
    }

    /// The host's name (`local` for this machine).
    #[must_use]
    pub fn host(&self) -> &str {
        match self {
            Self::Local => LOCAL,
            Self::Remote { host, .. } => host,
        }
    }

    /// `argv` (program first) run here, or on the server through the
    /// wrapper; the process holds its stdin for the wrapper to watch.
    pub fn invocation(&self, argv: &[String], timeout: std::time::Duration) -> Result<Invocation, ssh::Error> {
        self.invocation_through(argv, timeout, None)
    }

    /// [`Self::invocation`], through the shared connection whose socket is
    /// `socket` (see [`mux`](super::mux)) when there is one.
    pub fn invocation_through(
        &self,
        argv: &[String],
        timeout: std::time::Duration,
        socket: Option<&str>,
    ) -> Result<Invocation, ssh::Error> {
        let Some((program, rest)) = argv.split_first() else {
            return Ok(Invocation::new("true", Vec::new(), timeout));
        };
        match self {
            Self::Local => Ok(Invocation::new(program.clone(), rest.to_vec(), timeout)),
            Self::Remote { host, login } => {
                let mut words: Vec<String> = vec!["sh".into(), "-c".into(), WRAPPER.into(), "hubops".into()];
                words.extend(argv.iter().cloned());
                let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
                let mut full = keepalive(ssh::base(login)?);
                if let Some(socket) = socket {
                    full.extend(super::mux::options(socket));
                }
                if !is_valid_host(host) {
                    return Err(ssh::Error::Invalid { what: "host", value: host.clone() });
                }
                full.extend(["--".into(), host.clone(), line]);
                let mut inv = Invocation::new(full.remove(0), full, timeout);
                inv.hold_stdin = true;
                Ok(inv)
            }
        }
    }
}

fn is_valid_host(host: &str) -> bool {
    !host.is_empty() && !host.starts_with('-') && !host.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// ssh's argv with keepalives: a long copy is bounded by its own timeout,
/// not by a link that died without a word.
pub(super) fn keepalive(mut argv: Vec<String>) -> Vec<String> {
    argv.extend([
        "-o".into(),
        format!("ServerAliveInterval={ALIVE_INTERVAL}"),
        "-o".into(),
        format!("ServerAliveCountMax={ALIVE_COUNT}"),
    ]);
    argv
}

/// The remote shell rsync on the runner uses to reach the other server.
pub fn rsh(login: &Login) -> Result<Vec<String>, ssh::Error> {
    ssh::base(login).map(keepalive)
}

/// The argv (program first) of `transfer` with the runner's rsync.
#[must_use]
pub fn rsync_argv(rsync_path: &str, transfer: &Transfer) -> Vec<String> {
    std::iter::once(rsync_path.to_string()).chain(rsync::args(transfer)).collect()
}

/// The argv of listing `root` (see [`LIST`]).
#[must_use]
pub fn list_argv(root: &str) -> Vec<String> {
    ["sh", "-c", LIST, "hubops-list", root].map(String::from).into()
}

/// The argv of finding what changed in `root` since `since` (see [`CHANGED`]).
#[must_use]
pub fn changed_argv(root: &str, since: i64) -> Vec<String> {
    vec!["sh".into(), "-c".into(), CHANGED.into(), "hubops-changed".into(), root.into(), since.to_string()]
}

/// A listing's output: the server's clock and the folders.
pub fn parse_list(stdout: &str) -> Option<(i64, Vec<String>)> {
    let mut lines = stdout.lines();
    let clock = lines.next()?.trim().parse().ok()?;
    let mut names: Vec<String> = lines.filter(|l| !l.is_empty()).map(str::to_string).collect();
    names.sort();
    Some((clock, names))
}

/// A search's output read line by line: the users' folders in which
/// something changed, and whether find failed.
#[derive(Debug, Default)]
pub struct Search {
    /// The folders found so far.
    pub names: std::collections::BTreeSet<String>,
    /// find's status, when it failed.
    pub failed: Option<String>,
}

impl Search {
    /// Reads one line; returns the folder it names when that one is new.
    pub fn line(&mut self, line: &str) -> Option<&str> {
        if let Some(status) = line.strip_prefix(FIND_FAILED) {
            self.failed = Some(status.trim().to_string());
            return None;
        }
        let name = line.split('/').next().filter(|n| !n.is_empty())?;
        if self.names.insert(name.to_string()) {
            self.names.get(name).map(String::as_str)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_remote_command_runs_in_the_wrapper_and_holds_stdin() {
        let runner =
            Runner::Remote { host: "nfs-new".into(), login: Login { user: Some("ubuntu".into()), ..Login::default() } };
        let inv = runner.invocation(&["rsync".into(), "a b".into()], Duration::from_secs(5)).unwrap();
        assert_eq!(inv.program, "ssh");
        assert!(inv.hold_stdin);
        assert_eq!(&inv.args[inv.args.len() - 2], "nfs-new");
        let line = inv.args.last().unwrap();
        assert!(line.starts_with("sh -c 'exec 3<&0"), "{line}");
        assert!(line.ends_with("' hubops rsync 'a b'"), "{line}");
        assert!(inv.args.contains(&"ServerAliveInterval=30".to_string()));
        let local = Runner::Local.invocation(&["rsync".into(), "x".into()], Duration::from_secs(5)).unwrap();
        assert_eq!((local.program.as_str(), local.hold_stdin), ("rsync", false));
        let bad = Runner::Remote { host: "-oProxyCommand=x".into(), login: Login::default() };
        assert!(bad.invocation(&["true".into()], Duration::from_secs(5)).is_err());
    }

    #[test]
    fn reads_listings_and_changes() {
        assert_eq!(parse_list("1763704800\nbob\nalice\n"), Some((1_763_704_800, vec!["alice".into(), "bob".into()])));
        assert_eq!(parse_list(""), None);
        let mut search = Search::default();
        let new: Vec<Option<String>> = ["bob/notebooks/n1.ipynb", "bob", "alice/.bashrc", "", "hubops-find-failed 1"]
            .iter()
            .map(|l| search.line(l).map(str::to_string))
            .collect();
        assert_eq!(new, [Some("bob".into()), None, Some("alice".into()), None, None]);
        assert_eq!(search.names.into_iter().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(search.failed.as_deref(), Some("1"));
    }
}
