//! Shared ssh connections for a pass over many users. Without them every
//! user's copy opens two: hubops to the target server, and the target's
//! rsync to the source. Each costs a key exchange (about 0.1 s of CPU on
//! both ends), and a burst of 16 at once runs into sshd's stock
//! `MaxStartups 10:30:100`, which drops some of them (ssh exit 255, a
//! retry after a backoff, in the middle of the downtime).
//!
//! So both hops go through ssh's own connection sharing (`ControlMaster`):
//! a slot is one shared connection carrying at most [`PER_MASTER`] copies
//! at once, below sshd's stock `MaxSessions 10`; a pass at `parallel` 16
//! uses two. Each slot's connection is opened once, by the first copy that
//! takes it while the others wait ([`open`]), then persists
//! [`PERSIST_SECS`] after its last session (ssh ends it itself, also when
//! hubops is gone). hubops' own sockets live in a private folder of this
//! machine; the target server's, in the folder of the key it pulls with,
//! or its `~/.ssh` ([`remote_dir`]; never made by hubops: a run, and a dry
//! run above all, leaves the server's files as they were). When a shared
//! connection cannot be opened (no private folder, no such folder of the
//! user's own on the target, a path too long for a socket, a server that
//! refuses), the copy connects on its own as before, and says nothing: its
//! own connection reports the real error, if there is one.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::backends::shell::process;
use crate::cancel::Cancel;
use crate::effects::Permit;

/// Copies at once over one shared connection (sshd's stock `MaxSessions`
/// is 10).
pub const PER_MASTER: u32 = 8;
/// How long a shared connection stays open after its last session.
pub const PERSIST_SECS: u32 = 15;
/// The longest a socket path may be (Linux allows 108 bytes with the
/// terminating zero; ssh binds a temporary name 17 bytes longer first).
const SOCKET_PATH_MAX: usize = 107 - 17;
/// How long opening a shared connection may take (ssh's own connect
/// timeout is 30 s).
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(90);
/// An open connection found this recently is used without looking again:
/// a copy used it since, so it outlives this by `PERSIST_SECS` less this.
const TRUST_OPEN: Duration = Duration::from_secs(5);
/// A connection that would not open is not tried again for this long
/// (each copy would wait out the failure twice).
const TRUST_FAILED: Duration = Duration::from_mins(1);

/// ssh's options for sharing the connection whose socket is `path`.
#[must_use]
pub fn options(path: &str) -> Vec<String> {
    vec![
        "-o".into(),
        "ControlMaster=auto".into(),
        "-o".into(),
        format!("ControlPath={path}"),
        "-o".into(),
        format!("ControlPersist={PERSIST_SECS}"),
    ]
}

/// The socket of slot `slot` of the connection `key` (the host and the
/// whole ssh command line, key file included) in `dir`: named by a hash
/// of the key, so two logins to one host never share a connection.
#[must_use]
pub fn socket(dir: &str, key: &str, slot: u32) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    format!("{}/hubops-{:016x}-{slot}", dir.trim_end_matches('/'), h.finish())
}

/// The target server's `~/.ssh`, as ssh expands it there.
const REMOTE_HOME_DIR: &str = "%d/.ssh";

/// The folder on the target server for the sockets of its connections
/// made with `identity`: the key's own folder when the key is named by an
/// absolute path (the operator keeps a private key there; a server whose
/// user logs in with a named key may have no `~/.ssh`), else `~/.ssh`,
/// where ssh's default keys are. [`REMOTE_PREPARE`] checks it there.
#[must_use]
pub fn remote_dir(identity: Option<&str>) -> String {
    identity
        .filter(|key| key.starts_with('/'))
        .and_then(|key| std::path::Path::new(key).parent())
        .and_then(std::path::Path::to_str)
        .filter(|dir| !dir.is_empty() && *dir != "/")
        .map_or_else(|| REMOTE_HOME_DIR.to_string(), str::to_string)
}

/// Run as `sh -c REMOTE_PREPARE hubops-mux DIR COMMAND...` on the target:
/// runs the command when `DIR` (`%d/` standing for the home folder, as ssh
/// has it) is a folder of the user's own that nobody else may write in,
/// so no one else can put a socket where ssh will look for one. Otherwise
/// fails, makes nothing, and the copies connect on their own.
pub const REMOTE_PREPARE: &str = r#"d=$1; shift; case $d in "%d/"*) d=$HOME/${d#%d/};; esac; test -d "$d" && test -O "$d" && test -n "$(find -H "$d" -maxdepth 0 ! -perm /022)" && exec "$@""#;

/// This machine's private folder for sockets, if it can have one:
/// `$TMPDIR/hubops-ssh-UID`, made with mode 0700, refused when it is not a
/// folder of this user's that only they can reach, or when its path leaves
/// no room for a socket name.
#[must_use]
pub fn local_dir() -> Option<&'static str> {
    static DIR: OnceLock<Option<String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let uid = nix::unistd::getuid().as_raw();
        private_dir(&std::env::temp_dir().join(format!("hubops-ssh-{uid}")), uid)
    })
    .as_deref()
}

/// `dir`, made with mode 0700 if it is missing, when it is a folder (not
/// a link) of `uid`'s that nobody else can reach and its path leaves room
/// for a socket's name.
fn private_dir(dir: &std::path::Path, uid: u32) -> Option<String> {
    let _ = crate::state::create_private_dir(dir);
    let meta = std::fs::symlink_metadata(dir).ok()?;
    let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode().trailing_zeros() >= 6;
    let text = dir.to_str()?.to_string();
    // `/hubops-` 16 hex digits `-NN`; rsync's `-e` splits on spaces.
    let fits = text.len() + 1 + 7 + 16 + 3 <= SOCKET_PATH_MAX;
    (private && fits && !text.contains(char::is_whitespace)).then_some(text)
}

/// Whether a slot's connection opened, and when that was last found; the
/// lock is held while it is being opened.
type Opened = Arc<Mutex<Option<(bool, Instant)>>>;

/// What the slots of every shared connection hold, and which are open.
#[derive(Default)]
struct Slots {
    /// Copies in each slot, by connection.
    busy: HashMap<String, Vec<u32>>,
    /// Whether each slot's connection opened, by connection and slot.
    open: HashMap<(String, u32), Opened>,
}

fn slots() -> &'static Mutex<Slots> {
    static SLOTS: OnceLock<Mutex<Slots>> = OnceLock::new();
    SLOTS.get_or_init(Mutex::default)
}

/// A place in one slot of the connection `key`, given back when dropped.
#[derive(Debug)]
pub struct Lease {
    key: String,
    /// The slot.
    pub slot: u32,
}

impl Lease {
    /// Takes the first slot of `key` with room.
    #[must_use]
    pub fn take(key: &str) -> Self {
        let mut all = slots().lock().unwrap_or_else(PoisonError::into_inner);
        let busy = all.busy.entry(key.to_string()).or_default();
        let slot = busy.iter().position(|n| *n < PER_MASTER).unwrap_or_else(|| {
            busy.push(0);
            busy.len() - 1
        });
        busy[slot] += 1;
        Self { key: key.to_string(), slot: u32::try_from(slot).unwrap_or(u32::MAX) }
    }

    /// Takes a place in slot `slot` of `key`, room or not (to open it).
    #[must_use]
    pub fn take_slot(key: &str, slot: u32) -> Self {
        let mut all = slots().lock().unwrap_or_else(PoisonError::into_inner);
        let busy = all.busy.entry(key.to_string()).or_default();
        let i = slot as usize;
        if busy.len() <= i {
            busy.resize(i + 1, 0);
        }
        busy[i] += 1;
        Self { key: key.to_string(), slot }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut all = slots().lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = all.busy.get_mut(&self.key).and_then(|b| b.get_mut(self.slot as usize)) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Whether the shared connection `name` in `slot` is open, opening it with
/// `inv` (a command that connects through it, sharing it if it is open
/// already, and ends) when it was not found open in the last seconds. One caller
/// opens it; the others wait for the answer. A failure is remembered for a
/// minute: the copies then connect on their own.
pub fn open(permit: &Permit, cancel: &Cancel, name: &str, slot: u32, inv: &process::Invocation) -> bool {
    let cell = {
        let mut all = slots().lock().unwrap_or_else(PoisonError::into_inner);
        all.open.entry((name.to_string(), slot)).or_default().clone()
    };
    let mut state = cell.lock().unwrap_or_else(PoisonError::into_inner);
    match *state {
        Some((true, at)) if at.elapsed() < TRUST_OPEN => {
            *state = Some((true, Instant::now()));
            return true;
        }
        Some((false, at)) if at.elapsed() < TRUST_FAILED => return false,
        _ => {}
    }
    let opened = process::run(permit, inv, cancel).is_ok_and(|out| out.status == 0);
    *state = (!cancel.is_cancelled()).then(|| (opened, Instant::now()));
    opened
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_carries_at_most_eight_copies_and_a_freed_place_is_taken_again() {
        let key = "slots-test host ssh -p 1";
        let first: Vec<Lease> = (0..8).map(|_| Lease::take(key)).collect();
        assert!(first.iter().all(|l| l.slot == 0));
        let ninth = Lease::take(key);
        assert_eq!(ninth.slot, 1);
        drop(first);
        assert_eq!(Lease::take(key).slot, 0, "slot 0 is free again");
        assert_eq!(Lease::take("slots-test other").slot, 0, "another connection has its own slots");
    }

    #[test]
    fn sockets_are_told_apart_by_the_whole_login_and_the_slot() {
        let a = socket("/tmp/d/", "nfs ssh -i /k1", 0);
        assert!(a.starts_with("/tmp/d/hubops-") && a.ends_with("-0"), "{a}");
        assert_eq!(a.len(), "/tmp/d/hubops-".len() + 16 + 2);
        assert_ne!(a, socket("/tmp/d", "nfs ssh -i /k2", 0), "another key, another connection");
        assert_ne!(a, socket("/tmp/d", "nfs ssh -i /k1", 1));
        assert_eq!(a, socket("/tmp/d", "nfs ssh -i /k1", 0), "the same name every time");
        assert_eq!(options(&a)[3], format!("ControlPath={a}"));
    }

    #[test]
    fn the_target_s_sockets_go_in_the_pull_key_s_folder_or_its_dot_ssh() {
        assert_eq!(remote_dir(Some("/srv/keys/nfs-new")), "/srv/keys");
        assert_eq!(remote_dir(Some("keys/nfs-new")), "%d/.ssh", "relative: the folder is not known here");
        assert_eq!(remote_dir(Some("/nfs-new")), "%d/.ssh", "never `/`");
        assert_eq!(remote_dir(None), "%d/.ssh");
    }

    #[test]
    fn the_target_shares_only_in_a_folder_of_its_own_and_makes_none() {
        let home = tempfile::tempdir().unwrap();
        let run = |dir: &str| {
            let words: Vec<String> =
                ["-c", REMOTE_PREPARE, "hubops-mux", dir, "echo", "shared"].iter().map(|w| (*w).to_string()).collect();
            let mut inv = process::Invocation::new("sh", words, Duration::from_secs(10));
            inv.env.push(("HOME".into(), home.path().display().to_string()));
            let out = process::run(&Permit::for_tests(), &inv, &Cancel::default()).unwrap();
            out.status == 0 && out.stdout == "shared\n"
        };
        assert!(!run("%d/.ssh"), "no ~/.ssh: the connection is not shared");
        assert!(!home.path().join(".ssh").exists(), "nothing made on the server");
        let made = tempfile::Builder::new().prefix(".ssh").tempdir_in(home.path()).unwrap();
        std::os::unix::fs::symlink(made.path(), home.path().join(".ssh")).unwrap();
        assert!(run("%d/.ssh"), "with one (a link to a private folder), the command runs");
        // Made and changed through the gated path, as a server's user would.
        let sh = |line: &str| {
            let inv = process::Invocation::new("sh", vec!["-c".into(), line.into()], Duration::from_secs(10));
            assert_eq!(process::run(&Permit::for_tests(), &inv, &Cancel::default()).unwrap().status, 0, "{line}");
        };
        let keys = home.path().join("keys");
        let shown = keys.to_str().unwrap();
        sh(&format!("mkdir -m 755 '{shown}'"));
        assert!(run(shown), "a key's folder only its user may write in");
        for mode in ["775", "757", "1777"] {
            sh(&format!("chmod {mode} '{shown}'"));
            assert!(!run(shown), "others may write in it ({mode})");
        }
        assert!(!run(home.path().join("missing").to_str().unwrap()));
        assert!(!home.path().join("missing").exists());
    }

    #[test]
    fn only_a_private_folder_of_ones_own_holds_sockets() {
        let uid = nix::unistd::getuid().as_raw();
        let scratch = tempfile::tempdir().unwrap();
        let made = scratch.path().join("new");
        assert_eq!(private_dir(&made, uid).as_deref(), made.to_str(), "made private");
        assert_eq!(std::fs::metadata(&made).unwrap().permissions().mode() & 0o777, 0o700);
        let open = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o755)).tempdir().unwrap();
        assert_eq!(private_dir(open.path(), uid), None, "others can reach it");
        let link = scratch.path().join("link");
        std::os::unix::fs::symlink(&made, &link).unwrap();
        assert_eq!(private_dir(&link, uid), None, "a link, maybe someone else's");
        assert_eq!(private_dir(&made, uid + 1), None, "not the user's own");
        let long = scratch.path().join("x".repeat(80));
        assert_eq!(private_dir(&long, uid), None, "no room for a socket's name");
    }
}
