//! A checkout on this machine: questions answered from the repository's
//! files ([`objects`](super::objects)), changes made by the real `git`
//! (argv only, a deadline, Ctrl-C; never a prompt), started through the
//! gate's permit. Under `Permit::Check` only what writes nothing runs:
//! `git ls-remote`, `git check-ref-format`, `git var GIT_COMMITTER_IDENT`,
//! `git push --dry-run`.

use std::path::Path;
use std::time::Duration;

use super::objects::GitDir;
use super::{relative, Committed, Error, Head, Pushed, REMOTE};
use crate::backends::shell::process::{self, Invocation, Output};
use crate::cancel::Cancel;
use crate::effects::Permit;

/// How long a local git command may take.
const LOCAL: Duration = Duration::from_mins(1);
/// How long one that talks to the remote may take.
const NETWORK: Duration = Duration::from_mins(3);

fn dir(path: &str) -> Result<GitDir, Error> {
    GitDir::find(Path::new(path))
}

/// `git -C path ARGS`, never asking for a password on the terminal (a run
/// must not hang on a prompt), in the C locale (errors read the same).
fn git(permit: &Permit, path: &str, args: &[&str], timeout: Duration, cancel: &Cancel) -> Result<Output, Error> {
    let mut command_line = vec!["-C".to_string(), path.to_string()];
    command_line.extend(args.iter().map(ToString::to_string));
    let mut inv = Invocation::new("git", command_line, timeout);
    inv.env = vec![("GIT_TERMINAL_PROMPT".into(), "0".into()), ("LC_ALL".into(), "C".into())];
    Ok(process::run(permit, &inv, cancel)?)
}

fn succeed(output: Output) -> Result<Output, Error> {
    Ok(process::require_success("git", output)?)
}

/// Where the checkout stands.
pub(super) fn head(path: &str) -> Result<Head, Error> {
    let repo = dir(path)?;
    let (branch, revision) = repo.head()?;
    Ok(Head { branch, revision, url: repo.remote_url(REMOTE)? })
}

/// Which files differ from the checked-out commit.
pub(super) fn changed(path: &str, files: &[String]) -> Result<Vec<String>, Error> {
    let repo = dir(path)?;
    let head = repo.head()?.1;
    let mut out = Vec::new();
    for rel in relative(path, files)? {
        let on_disk = match std::fs::read(Path::new(path).join(&rel)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(reason) => return Err(Error::Io { path: rel, reason }),
        };
        let committed = match &head {
            Some(id) => repo.file_at(id, &rel)?,
            None => None,
        };
        if on_disk != committed {
            out.push(rel);
        }
    }
    Ok(out)
}

pub(super) fn fetch(permit: &Permit, path: &str, cancel: &Cancel) -> Result<Head, Error> {
    let repo = dir(path)?;
    if repo.remote_url(REMOTE)?.is_none() {
        return Err(Error::NoRemote { path: path.into(), remote: REMOTE.into() });
    }
    let args: &[&str] =
        if permit.is_check() { &["ls-remote", "--heads", REMOTE] } else { &["fetch", "--prune", REMOTE] };
    let output = git(permit, path, args, NETWORK, cancel)?;
    if output.status != 0 {
        return Err(Error::Remote { path: path.into(), why: process::tail(&output.stderr) });
    }
    head(path)
}

pub(super) fn branch(permit: &Permit, path: &str, name: &str, start: &str, cancel: &Cancel) -> Result<Head, Error> {
    let repo = dir(path)?;
    let format = git(permit, path, &["check-ref-format", "--branch", name], LOCAL, cancel)?;
    if format.status != 0 {
        return Err(Error::BadBranch { name: name.into() });
    }
    let Some(start_id) = repo.resolve(start)? else {
        return Err(Error::UnknownRevision { path: path.into(), revision: start.into() });
    };
    if let Some(revision) = repo.resolve(&format!("refs/heads/{name}"))? {
        return Err(Error::BranchExists { path: path.into(), name: name.into(), revision });
    }
    if permit.is_check() {
        return Ok(Head { branch: Some(name.into()), revision: Some(start_id), url: repo.remote_url(REMOTE)? });
    }
    succeed(git(permit, path, &["switch", "--quiet", "--no-track", "-c", name, &start_id], LOCAL, cancel)?)?;
    head(path)
}

pub(super) fn commit(
    permit: &Permit,
    path: &str,
    message: &str,
    files: &[String],
    cancel: &Cancel,
) -> Result<Committed, Error> {
    let repo = dir(path)?;
    let rel = relative(path, files)?;
    // Fails, naming what to configure, when git knows no committer.
    succeed(git(permit, path, &["var", "GIT_COMMITTER_IDENT"], LOCAL, cancel)?)?;
    let branch = repo.head()?.0;
    if permit.is_check() {
        return Ok(Committed { branch, revision: None, files: rel });
    }
    let with_paths = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(ToString::to_string).collect();
        v.push("--".into());
        v.extend(rel.iter().cloned());
        v
    };
    let run = |args: Vec<String>| -> Result<Output, Error> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        git(permit, path, &args, LOCAL, cancel)
    };
    succeed(run(with_paths(&["add", "--all"]))?)?;
    if run(with_paths(&["diff", "--cached", "--quiet"]))?.status == 0 {
        return Err(Error::NothingToCommit { path: path.into(), files: rel });
    }
    succeed(run(with_paths(&["commit", "--quiet", "--no-verify", "-m", message]))?)?;
    let revision = repo.head()?.1;
    Ok(Committed { branch, revision, files: rel })
}

pub(super) fn remove(permit: &Permit, path: &str, files: &[String], cancel: &Cancel) -> Result<Vec<String>, Error> {
    let repo = dir(path)?;
    let rel = relative(path, files)?;
    let head = repo.head()?.1.unwrap_or_default();
    for file in &rel {
        if !repo.tracked(&head, file)? {
            return Err(Error::Untracked { path: path.into(), file: file.clone() });
        }
    }
    if permit.is_check() {
        return Ok(rel);
    }
    let mut args = vec!["rm", "-r", "--quiet", "--"];
    args.extend(rel.iter().map(String::as_str));
    succeed(git(permit, path, &args, LOCAL, cancel)?)?;
    Ok(rel)
}

pub(super) fn push(permit: &Permit, path: &str, branch: &str, cancel: &Cancel) -> Result<Pushed, Error> {
    let repo = dir(path)?;
    let local = repo.resolve(&format!("refs/heads/{branch}"))?;
    // A dry run checks a push of a branch it only planned to make: the
    // remote is asked about HEAD under the branch's name.
    let source = match (&local, permit.is_check()) {
        (Some(_), _) => format!("refs/heads/{branch}"),
        (None, true) => "HEAD".to_string(),
        (None, false) => return Err(Error::NoBranch { path: path.into(), name: branch.into() }),
    };
    let url = repo.remote_url(REMOTE)?;
    if url.is_none() {
        return Err(Error::NoRemote { path: path.into(), remote: REMOTE.into() });
    }
    let refspec = format!("{source}:refs/heads/{branch}");
    let args: Vec<&str> = if permit.is_check() {
        vec!["push", "--dry-run", "--porcelain", REMOTE, &refspec]
    } else {
        vec!["push", "--porcelain", "--set-upstream", REMOTE, &refspec]
    };
    let output = git(permit, path, &args, NETWORK, cancel)?;
    if output.status != 0 {
        let why = process::tail(if output.stderr.trim().is_empty() { &output.stdout } else { &output.stderr });
        return Err(Error::Remote { path: path.into(), why });
    }
    Ok(Pushed { branch: branch.into(), revision: local.filter(|_| !permit.is_check()), url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::shell::tests::sh;

    const IDENTITY: &str = "git config user.name Tester && git config user.email tester@example.org";

    /// A bare remote and a clone with one commit pushed, then packed (so the
    /// reader meets packs, deltas and packed refs), and a second loose commit.
    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        sh(
            dir.path(),
            &format!(
                "git init -q --bare -b main remote.git && git clone -q remote.git work 2>/dev/null && cd work && {IDENTITY} \
                 && mkdir -p env && printf 'applications:\\n  nublado2: true\\n' > env/values.yaml \
                 && for i in 1 2 3 4 5 6; do printf 'line %s\\n' $i >> env/values.yaml; git add -A; git commit -qm c$i; done \
                 && git push -q origin main && git gc -q --aggressive && git pack-refs --all \
                 && printf 'notes\\n' > README && git add README && git commit -qm readme"
            ),
        );
        dir
    }

    fn rev(dir: &Path, what: &str) -> String {
        let out = dir.join("rev");
        sh(dir, &format!("git -C work rev-parse {what} > rev"));
        std::fs::read_to_string(out).unwrap().trim().to_string()
    }

    #[test]
    fn the_reader_agrees_with_git() {
        let site = site();
        let work = site.path().join("work");
        let repo = GitDir::find(&work).unwrap();
        let head = rev(site.path(), "HEAD");
        let packed = rev(site.path(), "HEAD~1");
        let first = rev(site.path(), "HEAD~6");
        assert_eq!(repo.head().unwrap(), (Some("main".into()), Some(head.clone())));
        assert_eq!(repo.resolve("origin/main").unwrap(), Some(packed.clone()));
        assert_eq!(repo.resolve("main").unwrap(), Some(head.clone()));
        assert_eq!(repo.resolve(&first).unwrap(), Some(first.clone()));
        assert_eq!(repo.contains(&first, &head).unwrap(), Some(true));
        assert_eq!(repo.contains(&head, &first).unwrap(), Some(false));
        assert_eq!(repo.contains(&first, &"0".repeat(40)).unwrap(), None);
        let text = repo.file_at(&packed, "env/values.yaml").unwrap().unwrap();
        assert!(String::from_utf8(text).unwrap().ends_with("line 6\n"));
        assert_eq!(repo.file_at(&first, "README").unwrap(), None);
        assert!(repo.tracked(&head, "env").unwrap() && repo.tracked(&head, "README").unwrap());
        assert!(!repo.tracked(&first, "README").unwrap());
        assert!(repo.remote_url("origin").unwrap().unwrap().ends_with("remote.git"));
        assert!(matches!(GitDir::find(site.path()), Err(Error::NotARepo { .. })));
    }

    #[test]
    fn checked_changes_write_nothing_and_applied_ones_do() {
        let site = site();
        let work = site.path().join("work").display().to_string();
        let snapshot = || {
            sh(
                site.path(),
                "cd work && (git status --porcelain; git for-each-ref; git -C ../remote.git for-each-ref) > ../state",
            );
            std::fs::read_to_string(site.path().join("state")).unwrap()
        };
        let cancel = Cancel::default();
        let check = Permit::for_tests_check();
        let apply = Permit::for_tests();
        let before = snapshot();
        fetch(&check, &work, &cancel).unwrap();
        let planned = branch(&check, &work, "hubops/nublado-enable", "origin/main", &cancel).unwrap();
        assert_eq!(planned.branch.as_deref(), Some("hubops/nublado-enable"));
        assert!(matches!(branch(&check, &work, "bad name", "main", &cancel), Err(Error::BadBranch { .. })));
        assert!(matches!(branch(&check, &work, "x", "nope", &cancel), Err(Error::UnknownRevision { .. })));
        assert!(matches!(branch(&check, &work, "main", "main", &cancel), Err(Error::BranchExists { .. })));
        sh(site.path(), "printf 'changed\\n' >> work/env/values.yaml");
        let files = vec![format!("{work}/env/values.yaml")];
        assert_eq!(changed(&work, &files).unwrap(), ["env/values.yaml"]);
        let dirty = snapshot();
        commit(&check, &work, "enable nublado", &files, &cancel).unwrap();
        remove(&check, &work, &["README".into()], &cancel).unwrap();
        assert!(matches!(remove(&check, &work, &["nope".into()], &cancel), Err(Error::Untracked { .. })));
        push(&check, &work, "main", &cancel).unwrap();
        assert_eq!(snapshot(), dirty, "checks wrote nothing");
        assert_ne!(dirty, before);

        branch(&apply, &work, "hubops/nublado-enable", "main", &cancel).unwrap();
        let done = commit(&apply, &work, "enable nublado", &files, &cancel).unwrap();
        assert_eq!(done.branch.as_deref(), Some("hubops/nublado-enable"));
        assert!(changed(&work, &files).unwrap().is_empty());
        assert!(matches!(commit(&apply, &work, "again", &files, &cancel), Err(Error::NothingToCommit { .. })));
        let pushed = push(&apply, &work, "hubops/nublado-enable", &cancel).unwrap();
        assert_eq!(pushed.revision, done.revision);
        sh(site.path(), "git -C remote.git rev-parse hubops/nublado-enable > remote-rev");
        assert_eq!(std::fs::read_to_string(site.path().join("remote-rev")).unwrap().trim(), done.revision.unwrap());
    }
}
