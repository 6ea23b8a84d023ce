//! hubops' own files: journals, lock files, saved worlds, ejected runbooks,
//! the folder of its shared ssh connections' sockets.
//! These are the run's record and the operator's copies, not the systems a
//! runbook operates on, so writing them needs no gate permit (a dry run must
//! still write its journal). They are the only file writes outside the
//! gate's backends, and they all live here, where the allow-list test
//! (`tests/e2e/gate_rules.rs`) expects them. A leaf: it imports nothing of
//! hubops but the YAML limits.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state folder: `$XDG_STATE_HOME/hubops`, or `~/.local/state/hubops`.
pub(crate) fn dir() -> PathBuf {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir)
        .join("hubops")
}

/// Reads a text file an operator hands hubops (`--params`, a world),
/// refusing one larger than the YAML limit instead of reading forever
/// (`--params /dev/zero`).
pub(crate) fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let limit = crate::yaml_limits::MAX_BYTES as u64;
    let mut bytes = Vec::new();
    File::open(path)?.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {} MiB hubops reads from a YAML file", limit >> 20),
        ));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// A path made absolute (and resolved, when it exists), so two spellings of
/// one file are one file (locks, journals that name each other).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if let Ok(c) = path.canonicalize() {
        return c;
    }
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path))
    };
    match (absolute.parent().and_then(|p| p.canonicalize().ok()), absolute.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => absolute,
    }
}

/// `mkdir -p`.
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// `mkdir -m 700`, when `dir` is missing (an existing one is left as it is,
/// for the caller to judge).
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Opens `path` for appending, creating it; never truncates.
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// Opens (creating) a lock file for reading and writing, without truncating
/// it: the holder's record is rewritten only once the lock is held.
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn lock_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
}

/// Replaces a held lock file's content with `text`.
pub(crate) fn rewrite(file: &mut File, text: &str) -> std::io::Result<()> {
    use std::io::Seek;
    file.set_len(0)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced,
/// then renamed over it, so a crash leaves the old or the new file, never a
/// torn one.
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map_or_else(|| "hubops".into(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes a new file; fails if it exists (`eject` without `--force`
/// checks first and passes `replace`).
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn write_file(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let mut file =
        if replace { File::create(path)? } else { OpenOptions::new().write(true).create_new(true).open(path)? };
    file.write_all(bytes)
}

/// Whether `path` can be written: checked before a run starts for
/// `--save-world`, without leaving a file behind that was not there.
#[allow(clippy::disallowed_methods)] // hubops' own state (see the module doc)
pub(crate) fn check_writable(path: &Path) -> std::io::Result<()> {
    let existed = path.exists();
    OpenOptions::new().append(true).create(true).open(path)?;
    if !existed {
        std::fs::remove_file(path)?;
    }
    Ok(())
}
