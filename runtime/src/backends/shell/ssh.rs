//! `ssh`: the argv hubops runs. Batch mode always (a runbook never waits on
//! a password prompt), values hubops passes are checked so none can turn
//! into an ssh option, and a remote command given as words is quoted for
//! the remote shell word by word. Pure functions.

use std::time::Duration;

use super::process::{quote, Invocation};

/// Seconds ssh waits for a connection before giving up.
const CONNECT_TIMEOUT_SECS: u32 = 30;

/// How to reach a host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login {
    /// The remote user (`-l`).
    pub user: Option<String>,
    /// The port (`-p`).
    pub port: Option<u16>,
    /// A private key file (`-i`).
    pub identity: Option<String>,
    /// The known-hosts file to check the host's key against
    /// (`UserKnownHostsFile`); ssh's own default when `None`.
    pub known_hosts: Option<String>,
    /// Accept and remember the key of a host seen for the first time
    /// (`StrictHostKeyChecking=accept-new`), as an operator answering "yes"
    /// once would; a changed key is still refused.
    pub accept_new_host_key: bool,
}

/// A remote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Words: each is quoted for the remote shell, so it arrives as one
    /// argument whatever it holds.
    Words(Vec<String>),
    /// A command line the runbook wrote for the remote shell, sent as it is.
    Line(String),
}

impl Remote {
    /// The single string ssh hands to the remote shell.
    #[must_use]
    pub fn line(&self) -> String {
        match self {
            Self::Words(words) => words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "),
            Self::Line(line) => line.clone(),
        }
    }
}

/// Why a value cannot be passed to ssh.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Empty, starting with `-` (it would be read as an option), or holding
    /// whitespace or control characters.
    #[error("`{value}` is not a valid {what}")]
    Invalid {
        /// `host`, `user`, `identity`.
        what: &'static str,
        /// The value.
        value: String,
    },
}

fn check(what: &'static str, value: &str) -> Result<(), Error> {
    let bad = value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_control() || (c.is_whitespace() && what != "identity"));
    if bad {
        Err(Error::Invalid { what, value: value.into() })
    } else {
        Ok(())
    }
}

/// `ssh` and its options, without a host: also the remote shell rsync is
/// given.
pub fn base(login: &Login) -> Result<Vec<String>, Error> {
    let mut argv: Vec<String> = vec![
        "ssh".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
    ];
    if let Some(identity) = &login.identity {
        check("identity", identity)?;
        argv.extend(["-i".into(), identity.clone()]);
    }
    if let Some(known) = &login.known_hosts {
        check("known-hosts file", known)?;
        argv.extend(["-o".into(), format!("UserKnownHostsFile={known}")]);
    }
    if login.accept_new_host_key {
        argv.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()]);
    }
    if let Some(port) = login.port {
        argv.extend(["-p".into(), port.to_string()]);
    }
    if let Some(user) = &login.user {
        check("user", user)?;
        argv.extend(["-l".into(), user.clone()]);
    }
    Ok(argv)
}

/// A command to run on a host, as [`Shell::ssh`](super::Shell::ssh) takes
/// it: the local `ssh` process, and what a world host matches its answers on.
#[derive(Debug, Clone)]
pub struct Session {
    /// The host, as ssh is given it (and as a world names it).
    pub host: String,
    /// The remote command line.
    pub line: String,
    /// The local `ssh` process.
    pub invocation: Invocation,
}

impl Session {
    /// `remote` on `host`, logging in with `login`; values that would turn
    /// into ssh options are refused.
    pub fn new(host: &str, login: &Login, remote: &Remote, timeout: Duration) -> Result<Self, Error> {
        let mut words = argv(host, login, remote)?.into_iter();
        let program = words.next().unwrap_or_else(|| "ssh".into());
        Ok(Self {
            host: host.into(),
            line: remote.line(),
            invocation: Invocation::new(program, words.collect(), timeout),
        })
    }
}

/// The full argv (program first) of running `remote` on `host`.
pub fn argv(host: &str, login: &Login, remote: &Remote) -> Result<Vec<String>, Error> {
    check("host", host)?;
    let mut argv = base(login)?;
    argv.push("--".into());
    argv.push(host.into());
    argv.push(remote.line());
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_batch_mode_argv() {
        let login = Login {
            user: Some("ubuntu".into()),
            port: Some(2222),
            identity: Some("/keys/nfs key".into()),
            ..Login::default()
        };
        let remote = Remote::Words(vec!["du".into(), "-sh".into(), "/export/home-01/homes/my hub".into()]);
        assert_eq!(
            argv("nfs-old", &login, &remote).unwrap(),
            [
                "ssh",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=30",
                "-i",
                "/keys/nfs key",
                "-p",
                "2222",
                "-l",
                "ubuntu",
                "--",
                "nfs-old",
                "du -sh '/export/home-01/homes/my hub'",
            ]
        );
    }

    #[test]
    fn words_arrive_as_words_and_lines_as_written() {
        assert_eq!(Remote::Words(vec!["echo".into(), "$(reboot)".into()]).line(), "echo '$(reboot)'");
        assert_eq!(Remote::Line("df -h | tail -1".into()).line(), "df -h | tail -1");
    }

    #[test]
    fn values_cannot_become_options() {
        for (host, user) in [("-oProxyCommand=x", None), ("a b", None), ("", None), ("h", Some("-l"))] {
            let login = Login { user: user.map(Into::into), ..Login::default() };
            assert!(argv(host, &login, &Remote::Line("true".into())).is_err(), "{host} {user:?}");
        }
        let err = argv("-x", &Login::default(), &Remote::Line(String::new())).unwrap_err();
        assert_eq!(err.to_string(), "`-x` is not a valid host");
    }
}
