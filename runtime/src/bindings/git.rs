//! `git::` - a site's `GitOps` checkout: where it stands (branch, revisions,
//! whether one commit contains another, uncommitted files), and the
//! changes a runbook makes to it (fetch, a new branch, a commit of named
//! files, removing files, a push), each through the effects gate with ONE
//! closure that calls the family value ([`Git`]: this machine, or the
//! world's `git:` section). A dry run writes nothing: git itself checks
//! what it can (`ls-remote`, `push --dry-run`, the committer) and the plan
//! lists what would be committed.

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::{script_error, ScriptResult};
use crate::backends::git::{self, Git};
use crate::effects::{Change, Outcome, Permit};
use crate::run::Run;

/// A checkout: `git::repo("phalanx")`.
#[derive(Debug, Clone)]
pub struct Repo {
    path: String,
}

#[export_module]
pub(crate) mod git_api {
    /// A git checkout.
    pub type Repo = super::Repo;

    /// Opens the git checkout at `path` (on a world, one of its `git:`
    /// repositories). `NotFound` when it is not one.
    ///
    /// ```rhai
    /// let phalanx = git::repo("phalanx");
    /// print(phalanx.head().branch);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn repo(ctx: NativeCallContext, path: &str) -> Result<Repo, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let head = super::family(&run).head(path).map_err(|e| run.fail(&e))?;
        run.note_target(&format!("git/{path}"), head.url.as_deref().unwrap_or("(no origin)"))?;
        Ok(Repo { path: path.to_string() })
    }

    /// The checkout's path, as opened.
    ///
    /// ```rhai
    /// print(git::repo("phalanx").path);
    /// ```
    #[rhai_fn(global, get = "path", pure)]
    pub fn get_path(repo: &mut Repo) -> String {
        repo.path.clone()
    }

    /// Where the checkout stands: `#{branch, revision, url}` (`branch` `()`
    /// when detached, `url` the `origin` remote's).
    ///
    /// ```rhai
    /// let head = git::repo("phalanx").head();
    /// print(`${head.branch} at ${head.revision}`);
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn head(ctx: NativeCallContext, repo: &mut Repo) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        super::to_map(&super::family(&run).head(&repo.path).map_err(|e| run.fail(&e))?)
    }

    /// The commit a revision names (`main`, `origin/main`, a branch, a tag,
    /// a full id), or `()` when it names none.
    ///
    /// ```rhai
    /// let id = git::repo("phalanx").revision("origin/main");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn revision(ctx: NativeCallContext, repo: &mut Repo, revision: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let id = super::family(&run).resolve(&repo.path, revision).map_err(|e| run.fail(&e))?;
        Ok(id.map_or(Dynamic::UNIT, Dynamic::from))
    }

    /// Whether commit `ancestor` is `descendant` or one of its ancestors
    /// ("Argo CD deploys that revision or a newer one"); `()` when the
    /// checkout does not have `descendant` (fetch first).
    ///
    /// ```rhai
    /// let repo = git::repo("phalanx");
    /// if repo.contains(repo.revision("hubops/nublado-enable"), app.revision) != true { fail("not deployed yet"); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn contains(
        ctx: NativeCallContext,
        repo: &mut Repo,
        ancestor: &str,
        descendant: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let found = super::family(&run).contains(&repo.path, ancestor, descendant).map_err(|e| run.fail(&e))?;
        Ok(found.map_or(Dynamic::UNIT, Dynamic::from))
    }

    /// Which of `files` (paths under the checkout, or relative to it) have
    /// uncommitted changes: they differ from the checked-out commit.
    ///
    /// ```rhai
    /// let dirty = git::repo("phalanx").changed(["phalanx/environments/values-idfdev.yaml"]);
    /// if !dirty.is_empty() { fail(`uncommitted changes in ${dirty}`); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn changed(ctx: NativeCallContext, repo: &mut Repo, files: Array) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let files = super::strings("changed", files)?;
        let changed = super::family(&run).changed(&repo.path, &files).map_err(|e| run.fail(&e))?;
        Ok(changed.into_iter().map(Dynamic::from).collect())
    }

    /// Fetches `origin` (a mutation: it moves the checkout's
    /// remote-tracking branches; a dry run only asks the remote, with `git
    /// ls-remote`). Returns `head()`.
    ///
    /// ```rhai
    /// git::repo("phalanx").fetch();
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn fetch(ctx: NativeCallContext, repo: &mut Repo) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let git = super::family(&run);
        let change = Change::new("git", "fetch", format!("origin in {}", repo.path));
        let head = super::change(&run, change, async |p: &Permit| git.fetch(p, &repo.path))?;
        super::to_map(&head.into_inner())
    }

    /// Creates branch `name` at `start` (`origin/main`) and checks it out:
    /// `git switch -c name start`. A mutation; a dry run checks the name,
    /// the start and that the branch does not exist yet (`Conflict` when it
    /// does). Returns `head()` (as it would be).
    ///
    /// ```rhai
    /// git::repo("phalanx").branch("hubops/nublado-enable", "origin/main");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn branch(
        ctx: NativeCallContext,
        repo: &mut Repo,
        name: &str,
        start: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let git = super::family(&run);
        let change = Change::new("git", "branch", format!("{name} from {start} in {}", repo.path));
        let head = super::change(&run, change, async |p: &Permit| git.branch(p, &repo.path, name, start))?;
        super::to_map(&head.into_inner())
    }

    /// Commits `files` (and only them) on the checked-out branch with
    /// `message`: `git add` and `git commit` of those paths. A mutation; a
    /// dry run writes nothing and checks that the files are inside the
    /// checkout and that git knows a committer. `Conflict` when none of
    /// them changed. Returns `#{branch, revision, files, planned}`.
    ///
    /// ```rhai
    /// git::repo("phalanx").commit("Enable nublado v3 at /n3", ["phalanx/environments/values-idfdev.yaml"]);
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn commit(
        ctx: NativeCallContext,
        repo: &mut Repo,
        message: &str,
        files: Array,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        if message.trim().is_empty() {
            return Err(script_error("Invalid", "a commit needs a message"));
        }
        let files = super::strings("commit", files)?;
        let rel = git::relative(&repo.path, &files).map_err(|e| run.fail(&e))?;
        let git = super::family(&run);
        let change = Change::new("git", "commit", format!("{} in {}", rel.join(", "), repo.path))
            .before_after(None, Some(message.into()));
        let outcome = super::change(&run, change, async |p: &Permit| git.commit(p, &repo.path, message, &files))?;
        let planned = outcome.is_planned();
        let mut map = super::to_map(&outcome.into_inner())?;
        map.insert("planned".into(), planned.into());
        Ok(map)
    }

    /// Removes tracked files or folders from the checkout (`git rm -r`);
    /// commit them after. A mutation; a dry run checks that each is
    /// tracked (`NotFound` otherwise). Returns the paths, relative to the
    /// checkout.
    ///
    /// ```rhai
    /// let repo = git::repo("phalanx");
    /// repo.remove(["applications/nublado2"]);
    /// repo.commit("Remove nublado2", ["applications/nublado2"]);
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn remove(ctx: NativeCallContext, repo: &mut Repo, files: Array) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let files = super::strings("remove", files)?;
        let rel = git::relative(&repo.path, &files).map_err(|e| run.fail(&e))?;
        let git = super::family(&run);
        let change = Change::new("git", "remove", format!("{} in {}", rel.join(", "), repo.path));
        let removed = super::change(&run, change, async |p: &Permit| git.remove(p, &repo.path, &files))?;
        Ok(removed.into_inner().into_iter().map(Dynamic::from).collect())
    }

    /// Pushes `branch` to `origin`. A mutation; a dry run is `git push
    /// --dry-run` (the remote is asked, nothing is sent). Returns
    /// `#{branch, revision, url, planned}`.
    ///
    /// ```rhai
    /// let pushed = git::repo("phalanx").push("hubops/nublado-enable");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn push(ctx: NativeCallContext, repo: &mut Repo, branch: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let git = super::family(&run);
        let change = Change::new("git", "push", format!("{branch} to origin from {}", repo.path));
        let outcome = super::change(&run, change, async |p: &Permit| git.push(p, &repo.path, branch))?;
        let planned = outcome.is_planned();
        let mut map = super::to_map(&outcome.into_inner())?;
        map.insert("planned".into(), planned.into());
        Ok(map)
    }
}

fn family(run: &Run) -> Git {
    Git::new(run.target(), run.cancel.clone())
}

/// A change through the gate, the backend's refusal as the script's error.
fn change<T: serde::Serialize + serde::de::DeserializeOwned>(
    run: &Run,
    change: Change,
    op: impl AsyncFnOnce(&Permit) -> Result<T, git::Error>,
) -> ScriptResult<Outcome<T>> {
    run.change(change, op)
}

fn strings(function: &str, files: Array) -> ScriptResult<Vec<String>> {
    if files.is_empty() {
        return Err(script_error("Invalid", &format!("`{function}` needs at least one file")));
    }
    files
        .into_iter()
        .map(|f| {
            f.into_immutable_string()
                .map(|s| s.to_string())
                .map_err(|t| script_error("Invalid", &format!("`{function}` takes file paths (strings), not {t}")))
        })
        .collect()
}

fn to_map<T: serde::Serialize>(value: &T) -> ScriptResult<rhai::Map> {
    rhai::serde::to_dynamic(value)?
        .try_cast::<rhai::Map>()
        .ok_or_else(|| script_error("Internal", "a git answer is not a map"))
}
