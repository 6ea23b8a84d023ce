//! Git checkouts, as a `GitOps` runbook needs them: where a checkout stands
//! (its branch, revisions, whether one commit contains another, which files
//! have uncommitted changes), and the changes a runbook makes to it (fetch,
//! a new branch, a commit of named files, removing files, a push). One
//! family value, [`Git`]: a checkout on this machine ([`live`]: reads from
//! the repository's files, [`objects`]; changes by real `git`, started
//! through the gate's permit), or one of the world's `git:` repositories
//! ([`world`]), chosen once from the run's target.
//!
//! Every change takes the gate's [`Permit`]; under `Permit::Check` nothing
//! is written: live, git validates what it can without writing (`git
//! ls-remote`, `git push --dry-run`, `git check-ref-format`, `git var` for
//! the committer) and the rest is checked from the repository's files; on a
//! world, on the section as it is.

pub mod live;
pub(crate) mod objects;
pub mod world;

use serde::{Deserialize, Serialize};

use crate::backends::shell::process;
use crate::backends::Target;
use crate::cancel::Cancel;
use crate::effects::{Failure, Permit};

/// Why a git question or change failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path is not a git checkout.
    #[error("`{path}` is not a git checkout")]
    NotARepo {
        /// The path.
        path: String,
    },
    /// A repository this reader does not read.
    #[error("`{path}` cannot be read: {what}")]
    Unsupported {
        /// The checkout.
        path: String,
        /// Why not.
        what: String,
    },
    /// The repository's files are not what git writes.
    #[error("`{path}`: {what}")]
    Corrupt {
        /// The file or repository.
        path: String,
        /// What is wrong.
        what: String,
    },
    /// A file of the repository could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        reason: std::io::Error,
    },
    /// A revision that names no commit here.
    #[error("`{revision}` names no commit in `{path}`")]
    UnknownRevision {
        /// The checkout.
        path: String,
        /// The revision.
        revision: String,
    },
    /// The checkout has no such remote.
    #[error("`{path}` has no remote `{remote}`")]
    NoRemote {
        /// The checkout.
        path: String,
        /// The remote.
        remote: String,
    },
    /// Not a branch name git accepts.
    #[error("`{name}` is not a valid branch name")]
    BadBranch {
        /// The name.
        name: String,
    },
    /// The branch exists already.
    #[error("branch `{name}` already exists in `{path}` (at {revision})")]
    BranchExists {
        /// The checkout.
        path: String,
        /// The branch.
        name: String,
        /// Where it points.
        revision: String,
    },
    /// The branch does not exist.
    #[error("`{path}` has no branch `{name}`")]
    NoBranch {
        /// The checkout.
        path: String,
        /// The branch.
        name: String,
    },
    /// Uncommitted changes would be lost or mixed in.
    #[error("`{path}` has uncommitted changes in {}", list(.files))]
    Dirty {
        /// The checkout.
        path: String,
        /// The files.
        files: Vec<String>,
    },
    /// A path outside the checkout.
    #[error("`{file}` is not inside the checkout `{path}`")]
    Outside {
        /// The checkout.
        path: String,
        /// The file.
        file: String,
    },
    /// A commit of files that did not change.
    #[error("nothing to commit in `{path}`: {} are as committed", list(.files))]
    NothingToCommit {
        /// The checkout.
        path: String,
        /// The files.
        files: Vec<String>,
    },
    /// A file or folder to remove that the checkout does not track.
    #[error("`{file}` is not tracked in `{path}`")]
    Untracked {
        /// The checkout.
        path: String,
        /// The file.
        file: String,
    },
    /// The remote refused or could not be reached.
    #[error("the remote of `{path}` refused: {why}")]
    Remote {
        /// The checkout.
        path: String,
        /// What git said.
        why: String,
    },
    /// git could not be run, or failed.
    #[error(transparent)]
    Process(#[from] process::Error),
}

fn list(files: &[String]) -> String {
    files.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::NotARepo { .. }
            | Self::UnknownRevision { .. }
            | Self::NoRemote { .. }
            | Self::NoBranch { .. }
            | Self::Untracked { .. } => "NotFound",
            Self::Unsupported { .. } => "Usage",
            Self::Corrupt { .. } | Self::Io { .. } | Self::BadBranch { .. } | Self::Outside { .. } => "Invalid",
            Self::BranchExists { .. } | Self::Dirty { .. } | Self::NothingToCommit { .. } => "Conflict",
            Self::Remote { .. } => "Unreachable",
            Self::Process(e) => e.kind(),
        }
    }

    fn fields(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            Self::Dirty { files, .. } | Self::NothingToCommit { files, .. } => {
                vec![("files", serde_json::json!(files))]
            }
            Self::Process(e) => e.fields(),
            _ => Vec::new(),
        }
    }
}

/// Where a checkout stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The branch checked out (`None`: detached).
    pub branch: Option<String>,
    /// Its commit (`None`: a branch with no commit yet).
    pub revision: Option<String>,
    /// The `origin` remote's URL.
    pub url: Option<String>,
}

/// What a commit made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    /// The branch it is on.
    pub branch: Option<String>,
    /// The new commit (`None` when only checked).
    pub revision: Option<String>,
    /// The files committed, relative to the checkout.
    pub files: Vec<String>,
}

/// What a push sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// The branch.
    pub branch: String,
    /// The commit the remote's branch now has (`None` when only checked).
    pub revision: Option<String>,
    /// The remote's URL.
    pub url: Option<String>,
}

/// The checkouts a run works on: this machine's, or the world's.
#[derive(Debug, Clone)]
pub enum Git {
    /// Checkouts on this machine; Ctrl-C stops a running git.
    Live(Cancel),
    /// The world's `git:` section.
    World(crate::world::Shared),
}

/// The remote every verb talks to.
pub const REMOTE: &str = "origin";

impl Git {
    /// The checkouts of a run on `target`.
    #[must_use]
    pub fn new(target: &Target, cancel: Cancel) -> Self {
        match target {
            Target::Live(_) => Self::Live(cancel),
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// Where the checkout at `path` stands.
    pub fn head(&self, path: &str) -> Result<Head, Error> {
        match self {
            Self::Live(_) => live::head(path),
            Self::World(w) => world::read(w, path, |r, _| Ok(r.head())),
        }
    }

    /// The commit `revision` names (`main`, `origin/main`, an id); `None`
    /// when it names none.
    pub fn resolve(&self, path: &str, revision: &str) -> Result<Option<String>, Error> {
        match self {
            Self::Live(_) => objects::GitDir::find(std::path::Path::new(path))?.resolve(revision),
            Self::World(w) => world::read(w, path, |r, _| Ok(r.resolve(revision))),
        }
    }

    /// Whether commit `ancestor` is `descendant` or one of its ancestors;
    /// `None` when the checkout does not have `descendant` (fetch first).
    pub fn contains(&self, path: &str, ancestor: &str, descendant: &str) -> Result<Option<bool>, Error> {
        match self {
            Self::Live(_) => objects::GitDir::find(std::path::Path::new(path))?.contains(ancestor, descendant),
            Self::World(w) => world::read(w, path, |r, _| Ok(r.contains(ancestor, descendant))),
        }
    }

    /// Which of `files` (paths under the checkout, or relative to it)
    /// differ from the checked-out commit: uncommitted changes.
    pub fn changed(&self, path: &str, files: &[String]) -> Result<Vec<String>, Error> {
        match self {
            Self::Live(_) => live::changed(path, files),
            Self::World(w) => world::read(w, path, |r, hosts| r.changed(path, files, hosts)),
        }
    }

    /// Fetches `origin`. Under `Permit::Check` only asks the remote for its
    /// branches (`git ls-remote`), which writes nothing.
    pub fn fetch(&self, permit: &Permit, path: &str) -> Result<Head, Error> {
        match self {
            Self::Live(cancel) => live::fetch(permit, path, cancel),
            Self::World(w) => world::change(w, permit, path, |r, _| Ok(r.fetch(permit))),
        }
    }

    /// Creates branch `name` at `start` and checks it out. Under
    /// `Permit::Check` only checks the name, the start and that the branch
    /// does not exist.
    pub fn branch(&self, permit: &Permit, path: &str, name: &str, start: &str) -> Result<Head, Error> {
        match self {
            Self::Live(cancel) => live::branch(permit, path, name, start, cancel),
            Self::World(w) => world::change(w, permit, path, |r, work| r.branch(permit, path, name, start, work)),
        }
    }

    /// Commits `files` (and only them) on the checked-out branch. Under
    /// `Permit::Check` only checks that they are inside the checkout and
    /// that a committer is configured.
    pub fn commit(&self, permit: &Permit, path: &str, message: &str, files: &[String]) -> Result<Committed, Error> {
        match self {
            Self::Live(cancel) => live::commit(permit, path, message, files, cancel),
            Self::World(w) => world::change(w, permit, path, |r, work| r.commit(permit, path, message, files, work)),
        }
    }

    /// Removes tracked files or folders from the working tree and the index
    /// (`git rm -r`); commit them afterwards. Under `Permit::Check` only
    /// checks that each is tracked.
    pub fn remove(&self, permit: &Permit, path: &str, files: &[String]) -> Result<Vec<String>, Error> {
        match self {
            Self::Live(cancel) => live::remove(permit, path, files, cancel),
            Self::World(w) => world::change(w, permit, path, |r, work| r.remove(permit, path, files, work)),
        }
    }

    /// Pushes `branch` to `origin`. Under `Permit::Check`, `git push
    /// --dry-run` (the remote is asked; nothing is sent), of `HEAD` under
    /// the branch's name when the branch was only planned.
    pub fn push(&self, permit: &Permit, path: &str, branch: &str) -> Result<Pushed, Error> {
        match self {
            Self::Live(cancel) => live::push(permit, path, branch, cancel),
            Self::World(w) => world::push(w, permit, path, branch),
        }
    }
}

/// `files` relative to the checkout at `path`: given either way
/// (`phalanx/environments/values.yaml` or `environments/values.yaml`);
/// `Err` for one outside it.
pub(crate) fn relative(path: &str, files: &[String]) -> Result<Vec<String>, Error> {
    let root = path.trim_end_matches('/');
    let root = root.strip_prefix("./").unwrap_or(root);
    files
        .iter()
        .map(|f| {
            let f = f.strip_prefix("./").unwrap_or(f);
            let rel = f.strip_prefix(&format!("{root}/")).unwrap_or(f).trim_end_matches('/');
            let outside = rel.is_empty()
                || rel.starts_with('/')
                || rel.split('/').any(|p| p == ".." || p.is_empty())
                || (root != "." && f.starts_with('/') && !f.starts_with(&format!("{root}/")));
            if outside {
                Err(Error::Outside { path: path.to_string(), file: f.to_string() })
            } else {
                Ok(rel.to_string())
            }
        })
        .collect()
}

/// Whether git would take `name` as a branch name (the rules of
/// `git check-ref-format --branch`, for checks that start no process).
#[must_use]
#[allow(clippy::case_sensitive_file_extension_comparisons)] // git's rule is case-sensitive: `x.LOCK` is a valid name
pub fn valid_branch(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '/'])
        && !name.ends_with(['/', '.'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("@{")
        && !name.contains("//")
        && name != "@"
        && !name.split('/').any(|p| p.starts_with('.') || p.ends_with(".lock"))
        && !name.chars().any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_taken_relative_to_the_checkout() {
        let files = |f: &[&str]| f.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            relative("phalanx", &files(&["phalanx/environments/values.yaml", "applications/nublado2/"])).unwrap(),
            ["environments/values.yaml", "applications/nublado2"]
        );
        assert_eq!(relative("/srv/phalanx/", &files(&["/srv/phalanx/a.yaml"])).unwrap(), ["a.yaml"]);
        for bad in ["/etc/passwd", "../x", "phalanx/../x", ""] {
            assert!(relative("/srv/phalanx", &files(&[bad])).is_err(), "{bad}");
        }
    }

    #[test]
    fn branch_names_follow_gits_rules() {
        for good in ["hubops/nublado-enable", "main", "a.b", "x-1"] {
            assert!(valid_branch(good), "{good}");
        }
        for bad in ["", "-x", "a..b", "a b", "a.lock", "a/", "x~1", "a:b", "@", ".hidden", "a/.b", "a@{1}"] {
            assert!(!valid_branch(bad), "{bad}");
        }
    }
}
