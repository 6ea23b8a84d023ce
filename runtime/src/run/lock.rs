//! Locks, so that two operators cannot collide: a run holds a local lock on
//! each target it writes to (a world file, a kube context, an AWS account),
//! taken before its first change to that target and held until the run
//! ends. A second run is refused with the holder's name and since when.
//!
//! Local locks are advisory file locks (`flock`) on files under
//! `$XDG_STATE_HOME/hubops/locks/`; the kernel drops them when the holding
//! process dies, even by SIGKILL, so a crashed run never leaves a stale
//! local lock. The file holds the holder's record for the refusal message.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;

/// Who holds a lock.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Holder {
    /// The run.
    pub(crate) run: String,
    /// `user@host`.
    pub(crate) operator: String,
    /// The process.
    pub(crate) pid: u32,
    /// Since when (wall clock, RFC 3339).
    pub(crate) since: String,
}

impl Holder {
    /// The holder for this process's run `run`.
    pub(crate) fn this(run: &str) -> Self {
        Self {
            run: run.to_string(),
            operator: operator(),
            pid: std::process::id(),
            since: jiff::Timestamp::now().to_string(),
        }
    }

    /// `run X by user@host (pid N) since T`.
    pub(crate) fn describe(&self) -> String {
        format!("run `{}` by {} (pid {}) since {}", self.run, self.operator, self.pid, self.since)
    }
}

/// `user@host` of this process.
pub(crate) fn operator() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another run holds it.
    #[error("`{target}` is locked by {holder}")]
    Held {
        /// What is locked.
        target: String,
        /// Who holds it.
        holder: String,
    },
    /// The lock file could not be used.
    #[error("cannot lock `{target}` (lock file `{}`)", path.display())]
    Io {
        /// What was to be locked.
        target: String,
        /// The lock file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
}

/// The locks a run holds; dropping it releases them.
#[derive(Debug)]
pub(crate) struct Locks {
    holder: Holder,
    held: Mutex<BTreeMap<String, File>>,
}

impl Locks {
    pub(crate) fn new(holder: Holder) -> Self {
        Self { holder, held: Mutex::default() }
    }

    /// Takes the local lock on `target` unless this run holds it already;
    /// `Ok(true)` when it was taken now.
    pub(crate) fn take(&self, target: &str) -> Result<bool, Error> {
        let mut held = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.contains_key(target) {
            return Ok(false);
        }
        let path = path_of(target);
        let io = |source| Error::Io { target: target.to_string(), path: path.clone(), source };
        if let Some(dir) = path.parent() {
            crate::state::create_dir_all(dir).map_err(io)?;
        }
        let mut file = crate::state::lock_file(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = serde_json::from_str::<Holder>(&text)
                    .map_or_else(|_| "another run (no record of which)".to_string(), |h| h.describe());
                return Err(Error::Held { target: target.to_string(), holder });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        let record = serde_json::to_string(&self.holder).unwrap_or_default();
        crate::state::rewrite(&mut file, &record).map_err(io)?;
        held.insert(target.to_string(), file);
        Ok(true)
    }

    /// The targets held, for the journal at the end.
    pub(crate) fn held(&self) -> Vec<String> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).keys().cloned().collect()
    }
}

/// The lock file of a target: a readable slug and a hash, so that two
/// targets never share a file.
fn path_of(target: &str) -> PathBuf {
    let slug: String =
        target.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(60).collect();
    let hash = crate::digest::sha256_hex(target.as_bytes(), 6);
    crate::state::dir().join("locks").join(format!("{slug}-{hash}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_name() {
        let dir = tempfile::tempdir().unwrap();
        // The state folder comes from the environment; point it at a temp dir.
        std::env::set_var("XDG_STATE_HOME", dir.path());
        let first = Locks::new(Holder::this("run-a"));
        assert!(first.take("world /tmp/site.yaml").unwrap());
        assert!(!first.take("world /tmp/site.yaml").unwrap(), "taken once per run");
        let second = Locks::new(Holder::this("run-b"));
        let err = second.take("world /tmp/site.yaml").unwrap_err().to_string();
        assert!(err.starts_with("`world /tmp/site.yaml` is locked by run `run-a` by "), "{err}");
        drop(first);
        assert!(second.take("world /tmp/site.yaml").unwrap(), "released when the holder ends");
    }
}

/// What taking a remote lock found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Taken (or already ours).
    Taken,
    /// Another run held it but stopped renewing it: taken over.
    TakenOver(String),
    /// Another run holds it, alive; broken on request.
    Broken(String),
    /// Another run holds it.
    HeldBy(String),
}

/// A lock a system holds for a run (a Kubernetes Lease in a namespace), made
/// by the family that knows the system. Every call gets the gate's permit:
/// it writes to the system, though never as part of the plan.
pub(crate) trait RemoteLock: Send + Sync + std::fmt::Debug {
    /// Takes the lock in `scope` for `holder`; `force` breaks another run's.
    fn take<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a Holder,
        force: bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Remote, String>> + Send + 'a>>;

    /// Renews it; `Ok(false)` when it is no longer ours.
    fn renew<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a Holder,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, String>> + Send + 'a>>;

    /// Releases it.
    fn release<'a>(
        &'a self,
        permit: &'a crate::effects::Permit,
        scope: &'a str,
        holder: &'a Holder,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The remote locks of a run: who can make them per system, and which are held.
#[derive(Debug, Default)]
pub(crate) struct Remotes {
    pub(crate) makers: Mutex<BTreeMap<String, std::sync::Arc<dyn RemoteLock>>>,
    /// (system, scope) held now.
    pub(crate) held: Mutex<std::collections::BTreeSet<(String, String)>>,
    /// Set when the run ends, so the renewing thread stops.
    pub(crate) done: std::sync::atomic::AtomicBool,
    pub(crate) renewing: std::sync::atomic::AtomicBool,
}

impl Locks {
    /// The holder record of this run.
    pub(crate) fn holder(&self) -> &Holder {
        &self.holder
    }
}
