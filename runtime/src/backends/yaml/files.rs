//! Where values files are: this machine's disk, or host `local`'s files on a
//! world. A write is a compare-and-swap (the file must still be the text the
//! edit was computed from) and replaces the whole file at once, so a crash
//! leaves the old file or the new one, never half of one. Under
//! `Permit::Check` nothing is written: live, the file and its folder must be
//! writable; on a world, the path must be one a host can hold.

use std::path::Path;

use crate::backends::shell::process;
use crate::backends::shell::world as hosts;
use crate::backends::Target;
use crate::effects::{Failure, Permit};

/// Why a values file could not be read, edited or written. The OS's words
/// are part of each message rather than a separate cause: they are the
/// whole story, and runbooks print `e.message` alone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        reason: std::io::Error,
    },
    /// On a world, host `local` has no such file.
    #[error("cannot read `{path}`: the world's host `local` has no such file")]
    NotInWorld {
        /// The file.
        path: String,
    },
    /// The file is not YAML, the key path is not one, or the edit cannot be
    /// made in place.
    #[error("`{path}`: {reason}")]
    Edit {
        /// The file.
        path: String,
        /// What the editor said.
        reason: super::edit::Error,
    },
    /// The file changed between reading it and writing it.
    #[error("`{path}` changed since it was read; run again")]
    Changed {
        /// The file.
        path: String,
    },
    /// The file, or its folder, cannot be written.
    #[error("{what} is read-only")]
    ReadOnly {
        /// ``the folder of `values.yaml` `` or `` `values.yaml` ``.
        what: String,
    },
    /// Writing failed.
    #[error("cannot write `{path}`: {reason}")]
    Write {
        /// The file.
        path: String,
        /// What the OS said.
        reason: std::io::Error,
    },
    /// The world's `hosts:` section is missing or refused the path.
    #[error(transparent)]
    World(#[from] process::Error),
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Read { reason, .. } if reason.kind() == std::io::ErrorKind::NotFound => "NotFound",
            Self::NotInWorld { .. } => "NotFound",
            Self::Read { .. } | Self::Edit { .. } => "Invalid",
            Self::Changed { .. } => "Conflict",
            Self::ReadOnly { .. } => "Forbidden",
            Self::Write { reason, .. } if reason.kind() == std::io::ErrorKind::PermissionDenied => "Forbidden",
            Self::Write { .. } => "Failed",
            Self::World(e) => e.kind(),
        }
    }
}

/// Where values files are, chosen once from the run's target.
#[derive(Debug, Clone)]
pub enum Files {
    /// This machine's disk.
    Live,
    /// Host `local` of the world's `hosts:` section.
    World(crate::world::Shared),
}

impl Files {
    /// The files of a run on `target`.
    #[must_use]
    pub fn new(target: &Target) -> Self {
        match target {
            Target::Live(_) => Self::Live,
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// A file's text.
    pub fn read(&self, path: &str) -> Result<String, Error> {
        match self {
            Self::Live => std::fs::read_to_string(path).map_err(|reason| Error::Read { path: path.into(), reason }),
            Self::World(world) => {
                hosts::read(world, |h| Ok(h.read_local(path)))?.ok_or_else(|| Error::NotInWorld { path: path.into() })
            }
        }
    }

    /// Replaces `path`, which must still hold `old`, with `new`. Under
    /// `Permit::Check` only checks that it would work.
    pub fn replace(&self, permit: &Permit, path: &str, old: &str, new: &str) -> Result<(), Error> {
        if self.read(path)? != old {
            return Err(Error::Changed { path: path.into() });
        }
        match self {
            Self::Live => replace_on_disk(permit, Path::new(path), new),
            Self::World(world) => Ok(hosts::change(world, |h, _| h.write_local(permit, path, new.to_string()))?),
        }
    }
}

/// Writes next to the file and renames over it, keeping the file's
/// permissions; under `Permit::Check` only checks that the file and its
/// folder are writable.
#[allow(clippy::disallowed_methods)] // writes the operator's file: takes the gate's Permit
fn replace_on_disk(permit: &Permit, path: &Path, text: &str) -> Result<(), Error> {
    let shown = path.display().to_string();
    let write = |reason| Error::Write { path: shown.clone(), reason };
    if permit.is_check() {
        return writable(path);
    }
    // A symlinked values file stays a symlink: its target is replaced.
    let path = &std::fs::canonicalize(path).map_err(write)?;
    let permissions = std::fs::metadata(path).map_err(write)?.permissions();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.hubops-{}", std::process::id()));
    let result = std::fs::write(&temp, text)
        .and_then(|()| std::fs::set_permissions(&temp, permissions))
        .and_then(|()| std::fs::rename(&temp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(write)
}

fn writable(path: &Path) -> Result<(), Error> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|reason| Error::Read { path: shown.clone(), reason })?;
    if meta.permissions().readonly() {
        return Err(Error::ReadOnly { what: format!("`{shown}`") });
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let folder = std::fs::metadata(dir).map_err(|reason| Error::Read { path: dir.display().to_string(), reason })?;
    if folder.permissions().readonly() {
        return Err(Error::ReadOnly { what: format!("the folder of `{shown}`") });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::world::{Shared, World};

    const WORLD: &str = "name: t
hosts:
  local:
    files:
      deploy/values.yaml: \"a: 1\\n\"
";

    fn world() -> Shared {
        let world = World::load(WORLD, "t.yaml", &[("hosts", hosts::load_world)]).unwrap();
        Shared::new(world, Arc::new(Clock::Live))
    }

    #[test]
    fn a_checked_replace_on_a_world_changes_nothing() {
        let shared = world();
        let files = Files::World(shared.clone());
        let before = shared.lock().to_yaml(jiff::Timestamp::UNIX_EPOCH);
        files.replace(&Permit::for_tests_check(), "deploy/values.yaml", "a: 1\n", "a: 2\n").unwrap();
        assert_eq!(shared.lock().to_yaml(jiff::Timestamp::UNIX_EPOCH), before);
        let err = files.replace(&Permit::for_tests_check(), "deploy/values.yaml", "a: 0\n", "a: 2\n").unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string().as_str()),
            ("Conflict", "`deploy/values.yaml` changed since it was read; run again")
        );
        files.replace(&Permit::for_tests(), "deploy/values.yaml", "a: 1\n", "a: 2\n").unwrap();
        assert_eq!(files.read("deploy/values.yaml").unwrap(), "a: 2\n");
        assert_eq!(files.read("nope.yaml").unwrap_err().kind(), "NotFound");
    }

    #[test]
    fn a_checked_replace_on_disk_writes_nothing() {
        let sh = crate::backends::shell::tests::sh;
        let dir = tempfile::tempdir().unwrap();
        sh(dir.path(), "printf 'a: 1\\n' > values.yaml");
        let path = dir.path().join("values.yaml");
        let shown = path.display().to_string();
        Files::Live.replace(&Permit::for_tests_check(), &shown, "a: 1\n", "a: 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file either");

        sh(dir.path(), "chmod 444 values.yaml");
        let err = Files::Live.replace(&Permit::for_tests_check(), &shown, "a: 1\n", "a: 2\n").unwrap_err();
        assert_eq!(err.kind(), "Forbidden");
        sh(dir.path(), "chmod 644 values.yaml");

        Files::Live.replace(&Permit::for_tests(), &shown, "a: 1\n", "a: 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a: 2\n");
    }
}
