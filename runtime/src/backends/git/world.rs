//! Git on a world: the `git:` section holds each checkout's history (its
//! commits with their trees), its branches, what `origin` has and what was
//! last fetched from it; the working tree is host `local`'s files under the
//! checkout's path (the ones `yaml::` edits). The world also plays the
//! people around the repository: with `review: merge` a pushed branch is
//! merged into the default branch at once (someone reviewed it), and
//! Argo CD applications that follow the repository see the new revision
//! `refresh` later (its polling; a webhook makes it seconds).
//!
//! ```yaml
//! git:
//!   phalanx:                                   # the checkout's path
//!     url: https://github.com/lsst-sqre/phalanx.git
//!     review: merge                            # or `wait` (default): pushed branches stay unmerged
//!     refresh: 1m                              # Argo CD sees a new revision (default 3m)
//!     commits:                                 # optional: the checkout's files are the first commit
//!       - {id: 6f1c..., message: "...", parents: [], tree: {environments/values.yaml: "..."}}
//!     branches: {main: 6f1c...}                # local branches (default: main at the last commit)
//!     head: main                               # the branch checked out
//!     remote: {main: 6f1c...}                  # origin's branches (default: the local ones)
//!     fetched: {main: 6f1c...}                 # refs/remotes/origin/* (default: `remote`)
//! ```
//!
//! Changes take the gate's permit; under `Permit::Check` nothing changes.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{relative, valid_branch, Committed, Error, Head, Pushed};
use crate::backends::shell::world::HostsWorld;
use crate::effects::Permit;
use crate::world::{Shared, World, WorldPart};

/// The section this module owns.
pub const SECTION: &str = "git";
/// How long Argo CD takes to see a new revision when the world does not say.
const DEFAULT_REFRESH: Duration = Duration::from_mins(3);

/// Files of a tree: path relative to the repository -> text.
pub type Tree = BTreeMap<String, String>;

/// What happens to a pushed branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Review {
    /// It stays a branch: someone has yet to review and merge it.
    #[default]
    Wait,
    /// It is merged into the default branch at once.
    Merge,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    /// Its id (40 hex digits; made from its content when not given).
    #[serde(default)]
    pub id: String,
    /// What the commit message says.
    #[serde(default)]
    pub message: String,
    /// Its parents' ids.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Every file it holds; the first commit may leave it out, and then
    /// holds the checkout's files as the world has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<Tree>,
}

/// One checkout and its remote.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepoWorld {
    /// `origin`'s URL (Argo CD's `repoURL`).
    pub url: String,
    /// The branch pushed branches are merged into.
    #[serde(default = "main")]
    pub default_branch: String,
    /// What happens to a pushed branch.
    #[serde(default)]
    pub review: Review,
    /// How long Argo CD takes to see a new revision (`1m`; default 3m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
    /// The history, oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
    /// Local branches.
    #[serde(default)]
    pub branches: BTreeMap<String, String>,
    /// The branch checked out.
    #[serde(default = "main")]
    pub head: String,
    /// `origin`'s branches.
    #[serde(default)]
    pub remote: BTreeMap<String, String>,
    /// `origin`'s branches as last fetched.
    #[serde(default)]
    pub fetched: BTreeMap<String, String>,
}

fn main() -> String {
    "main".into()
}

/// The `git:` section: checkouts by path.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct GitWorld {
    /// By the checkout's path, as runbooks name it.
    pub repos: BTreeMap<String, RepoWorld>,
}

impl WorldPart for GitWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A commit's id, from what it is.
fn id_of(parents: &[String], message: &str, tree: &Tree) -> String {
    let text = serde_json::json!({ "parents": parents, "message": message, "tree": tree }).to_string();
    crate::digest::sha256_hex(text.as_bytes(), 20)
}

/// Loads the `git:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let mut world: GitWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (path, repo) in &mut world.repos {
        let at = format!("repository `{path}`");
        if let Some(t) = &repo.refresh {
            crate::duration::parse(t).map_err(|e| format!("{at}: `refresh`: {e}"))?;
        }
        let mut known = HashSet::new();
        for (i, commit) in repo.commits.iter_mut().enumerate() {
            if commit.tree.is_none() && i > 0 {
                return Err(format!("{at}: commit {} has no `tree` (only the first may leave it out)", i + 1));
            }
            if commit.id.is_empty() {
                if let Some(tree) = &commit.tree {
                    commit.id = id_of(&commit.parents, &commit.message, tree);
                }
            } else if !super::objects::is_id(&commit.id) {
                return Err(format!("{at}: `{}` is not a commit id (40 hex digits)", commit.id));
            }
            if let Some(p) = commit.parents.iter().find(|p| !known.contains(*p)) {
                return Err(format!("{at}: commit {} names parent `{p}`, which comes later or not at all", i + 1));
            }
            known.insert(commit.id.clone());
        }
        for (what, refs) in [("branches", &repo.branches), ("remote", &repo.remote), ("fetched", &repo.fetched)] {
            if let Some((name, id)) = refs.iter().find(|(_, id)| !known.contains(*id) && !id.is_empty()) {
                return Err(format!("{at}: `{what}.{name}` names `{id}`, which is not one of its commits"));
            }
        }
    }
    Ok(Box::new(world))
}

/// The checkout's working tree: host `local`'s files under its path.
fn working(world: &World, path: &str) -> Tree {
    world.part::<HostsWorld>("hosts").map(|h| h.local_tree(path)).unwrap_or_default()
}

/// The key `path` has in the section (given as written, or with `./` or a
/// trailing `/`).
fn key(world: &GitWorld, path: &str) -> Option<String> {
    let want = path.strip_prefix("./").unwrap_or(path).trim_end_matches('/');
    world.repos.keys().find(|k| k.strip_prefix("./").unwrap_or(k).trim_end_matches('/') == want).cloned()
}

/// Fills in what a world file may leave out: the first commit's tree (the
/// checkout's files), its id, and the refs.
fn settle(repo: &mut RepoWorld, work: &Tree) {
    if repo.commits.is_empty() {
        repo.commits.push(Commit {
            id: String::new(),
            message: "the checkout as the world has it".into(),
            parents: Vec::new(),
            tree: None,
        });
    }
    if let Some(first) = repo.commits.first_mut() {
        if first.tree.is_none() {
            first.tree = Some(work.clone());
            if first.id.is_empty() {
                first.id = id_of(&first.parents, &first.message, first.tree.as_ref().unwrap_or(work));
            }
        }
    }
    let last = repo.commits.last().map(|c| c.id.clone()).unwrap_or_default();
    if repo.branches.is_empty() {
        repo.branches.insert(repo.head.clone(), last);
    }
    if repo.remote.is_empty() {
        repo.remote.clone_from(&repo.branches);
    }
    if repo.fetched.is_empty() {
        repo.fetched.clone_from(&repo.remote);
    }
}

/// Runs `f` on the repository at `path` and its working tree.
pub(crate) fn read<T>(
    shared: &Shared,
    path: &str,
    f: impl FnOnce(&RepoWorld, &Tree) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut world = shared.lock();
    let work = working(&world, path);
    let not_repo = || Error::NotARepo { path: path.into() };
    let part = world.part_mut::<GitWorld>(SECTION).ok_or_else(not_repo)?;
    let k = key(part, path).ok_or_else(not_repo)?;
    // A read leaves the section as it is (a dry run saves the world it
    // loaded): what a world file left out is filled in on a copy.
    let mut repo = part.repos.get(&k).cloned().ok_or_else(not_repo)?;
    settle(&mut repo, &work);
    f(&repo, &work)
}

/// Runs `f` on the repository at `path` and a copy of its working tree;
/// the files `f` changed in the copy are written back to host `local`
/// under the permit (under `Permit::Check`, `f` changes nothing).
pub(crate) fn change<T>(
    shared: &Shared,
    permit: &Permit,
    path: &str,
    f: impl FnOnce(&mut RepoWorld, &mut Tree) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut world = shared.lock();
    let before = working(&world, path);
    let not_repo = || Error::NotARepo { path: path.into() };
    let part = world.part_mut::<GitWorld>(SECTION).ok_or_else(not_repo)?;
    let k = key(part, path).ok_or_else(not_repo)?;
    if permit.is_check() {
        let mut repo = part.repos.get(&k).cloned().ok_or_else(not_repo)?;
        settle(&mut repo, &before);
        return f(&mut repo, &mut before.clone());
    }
    let repo = part.repos.get_mut(&k).ok_or_else(not_repo)?;
    settle(repo, &before);
    let mut after = before.clone();
    let out = f(repo, &mut after)?;
    if after == before {
        return Ok(out);
    }
    let root = k.trim_end_matches('/').to_string();
    let hosts = world.part_mut::<HostsWorld>("hosts").ok_or(crate::backends::shell::process::Error::NoHosts)?;
    for (rel, text) in &after {
        if before.get(rel) != Some(text) {
            hosts.write_local(permit, &format!("{root}/{rel}"), text.clone())?;
        }
    }
    for rel in before.keys().filter(|r| !after.contains_key(*r)) {
        hosts.remove_local(permit, &format!("{root}/{rel}"))?;
    }
    Ok(out)
}

/// The tree under `rel` (a file, or a folder's files).
fn under<'a>(tree: &'a Tree, rel: &'a str) -> impl Iterator<Item = (&'a String, &'a String)> + 'a {
    tree.iter().filter(move |(p, _)| *p == rel || p.starts_with(&format!("{rel}/")))
}

impl RepoWorld {
    fn commit_of(&self, id: &str) -> Option<&Commit> {
        self.commits.iter().find(|c| c.id == id)
    }

    /// A commit's files.
    #[must_use]
    pub fn tree(&self, id: &str) -> Option<&Tree> {
        self.commit_of(id).and_then(|c| c.tree.as_ref())
    }

    fn head_tree(&self) -> Tree {
        self.branches.get(&self.head).and_then(|id| self.tree(id)).cloned().unwrap_or_default()
    }

    /// Where the checkout stands.
    #[must_use]
    pub fn head(&self) -> Head {
        Head {
            branch: Some(self.head.clone()),
            revision: self.branches.get(&self.head).cloned(),
            url: Some(self.url.clone()),
        }
    }

    /// The commit `revision` names here.
    #[must_use]
    pub fn resolve(&self, revision: &str) -> Option<String> {
        let branch = |refs: &BTreeMap<String, String>, name: &str| refs.get(name).cloned();
        if revision == "HEAD" {
            return branch(&self.branches, &self.head);
        }
        if let Some(name) = revision.strip_prefix("refs/heads/") {
            return branch(&self.branches, name);
        }
        if let Some(name) = revision.strip_prefix("refs/remotes/origin/").or_else(|| revision.strip_prefix("origin/")) {
            return branch(&self.fetched, name);
        }
        if let Some(id) = branch(&self.branches, revision) {
            return Some(id);
        }
        let id = revision.to_ascii_lowercase();
        (super::objects::is_id(&id) && self.known().contains(&id)).then_some(id)
    }

    /// Commits the checkout has: those reachable from its branches and
    /// what it fetched.
    fn known(&self) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<String> = self.branches.values().chain(self.fetched.values()).cloned().collect();
        while let Some(id) = queue.pop_front() {
            if seen.insert(id.clone()) {
                queue.extend(self.commit_of(&id).map(|c| c.parents.clone()).unwrap_or_default());
            }
        }
        seen
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors; `None`
    /// when the checkout does not have `descendant`.
    #[must_use]
    pub fn contains(&self, ancestor: &str, descendant: &str) -> Option<bool> {
        if !self.known().contains(descendant) {
            return None;
        }
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([descendant.to_string()]);
        while let Some(id) = queue.pop_front() {
            if id == ancestor {
                return Some(true);
            }
            if seen.insert(id.clone()) {
                queue.extend(self.commit_of(&id).map(|c| c.parents.clone()).unwrap_or_default());
            }
        }
        Some(false)
    }

    /// Which files differ from the checked-out commit.
    pub(crate) fn changed(&self, path: &str, files: &[String], work: &Tree) -> Result<Vec<String>, Error> {
        let head = self.head_tree();
        Ok(relative(path, files)?.into_iter().filter(|rel| work.get(rel) != head.get(rel)).collect())
    }

    pub(crate) fn fetch(&mut self, permit: &Permit) -> Head {
        if !permit.is_check() {
            self.fetched.clone_from(&self.remote);
        }
        self.head()
    }

    pub(crate) fn branch(
        &mut self,
        permit: &Permit,
        path: &str,
        name: &str,
        start: &str,
        work: &mut Tree,
    ) -> Result<Head, Error> {
        if !valid_branch(name) {
            return Err(Error::BadBranch { name: name.into() });
        }
        let id =
            self.resolve(start).ok_or_else(|| Error::UnknownRevision { path: path.into(), revision: start.into() })?;
        if let Some(revision) = self.branches.get(name) {
            return Err(Error::BranchExists { path: path.into(), name: name.into(), revision: revision.clone() });
        }
        let head = self.head_tree();
        let target = self.tree(&id).cloned().unwrap_or_default();
        let files: BTreeSet<String> = head.keys().chain(target.keys()).chain(work.keys()).cloned().collect();
        // As git refuses: local changes to a file the switch would overwrite.
        let conflicts: Vec<String> =
            files.iter().filter(|f| work.get(*f) != head.get(*f) && target.get(*f) != head.get(*f)).cloned().collect();
        if !conflicts.is_empty() {
            return Err(Error::Dirty { path: path.into(), files: conflicts });
        }
        if permit.is_check() {
            return Ok(Head { branch: Some(name.into()), revision: Some(id), url: Some(self.url.clone()) });
        }
        for f in files {
            if work.get(&f) == head.get(&f) {
                match target.get(&f) {
                    Some(text) => work.insert(f, text.clone()),
                    None => work.remove(&f),
                };
            }
        }
        self.branches.insert(name.into(), id);
        self.head = name.into();
        Ok(self.head())
    }

    pub(crate) fn commit(
        &mut self,
        permit: &Permit,
        path: &str,
        message: &str,
        files: &[String],
        work: &Tree,
    ) -> Result<Committed, Error> {
        let rel = relative(path, files)?;
        let branch = Some(self.head.clone());
        if permit.is_check() {
            return Ok(Committed { branch, revision: None, files: rel });
        }
        let old = self.head_tree();
        let mut tree = old.clone();
        for r in &rel {
            let gone: Vec<String> = under(&tree, r).map(|(p, _)| p.clone()).collect();
            for p in gone {
                tree.remove(&p);
            }
            tree.extend(under(work, r).map(|(p, t)| (p.clone(), t.clone())));
        }
        if tree == old {
            return Err(Error::NothingToCommit { path: path.into(), files: rel });
        }
        let parents: Vec<String> = self.branches.get(&self.head).cloned().into_iter().collect();
        let id = id_of(&parents, message, &tree);
        self.commits.push(Commit { id: id.clone(), message: message.into(), parents, tree: Some(tree) });
        self.branches.insert(self.head.clone(), id.clone());
        Ok(Committed { branch, revision: Some(id), files: rel })
    }

    pub(crate) fn remove(
        &mut self,
        permit: &Permit,
        path: &str,
        files: &[String],
        work: &mut Tree,
    ) -> Result<Vec<String>, Error> {
        let rel = relative(path, files)?;
        let head = self.head_tree();
        if let Some(file) = rel.iter().find(|r| under(&head, r).next().is_none()) {
            return Err(Error::Untracked { path: path.into(), file: file.clone() });
        }
        if !permit.is_check() {
            for r in &rel {
                let gone: Vec<String> = under(work, r).map(|(p, _)| p.clone()).collect();
                for p in gone {
                    work.remove(&p);
                }
            }
        }
        Ok(rel)
    }
}

/// `git push origin BRANCH` on a world; with `review: merge` the branch is
/// merged into the default branch at once, and Argo CD applications that
/// follow the repository see the new revision `refresh` later.
pub(crate) fn push(shared: &Shared, permit: &Permit, path: &str, branch: &str) -> Result<Pushed, Error> {
    let elapsed = shared.elapsed();
    let mut world = shared.lock();
    let work = working(&world, path);
    let not_repo = || Error::NotARepo { path: path.into() };
    let part = world.part_mut::<GitWorld>(SECTION).ok_or_else(not_repo)?;
    let k = key(part, path).ok_or_else(not_repo)?;
    let repo = part.repos.get_mut(&k).ok_or_else(not_repo)?;
    let no_branch = || Error::NoBranch { path: path.into(), name: branch.into() };
    if permit.is_check() {
        // A dry run checks a push of a branch it may only have planned to make.
        return Ok(Pushed { branch: branch.into(), revision: None, url: Some(repo.url.clone()) });
    }
    settle(repo, &work);
    let id = repo.branches.get(branch).cloned().ok_or_else(no_branch)?;
    let url = Some(repo.url.clone());
    repo.remote.insert(branch.into(), id.clone());
    repo.fetched.insert(branch.into(), id.clone());
    let default = repo.default_branch.clone();
    let mut moved = None;
    if repo.review == Review::Merge && branch != default {
        let base = repo.remote.get(&default).cloned();
        let tree = repo.tree(&id).cloned().unwrap_or_default();
        let parents: Vec<String> = base.into_iter().chain([id.clone()]).collect();
        let message = format!("Merge branch '{branch}'");
        let merge = id_of(&parents, &message, &tree);
        repo.commits.push(Commit { id: merge.clone(), message, parents, tree: Some(tree) });
        repo.remote.insert(default.clone(), merge.clone());
        moved = Some(merge);
    } else if branch == default {
        moved = Some(id.clone());
    }
    if let Some(after) = moved {
        let refresh = repo.refresh.as_deref().and_then(|t| crate::duration::parse(t).ok()).unwrap_or(DEFAULT_REFRESH);
        let snapshot = repo.clone();
        let new_revision = after.clone();
        let changed_under = move |old: &str, app_path: &str| {
            let tree = |id: &str| snapshot.tree(id).cloned().unwrap_or_default();
            let (old, new) = (tree(old), tree(&after));
            let prefix = app_path.trim_matches('/');
            let pick = |t: &Tree| -> Tree {
                t.iter()
                    .filter(|(p, _)| prefix.is_empty() || p.starts_with(&format!("{prefix}/")))
                    .map(|(p, v)| (p.clone(), v.clone()))
                    .collect()
            };
            pick(&old) != pick(&new)
        };
        let url = repo.url.clone();
        crate::backends::argocd::world::refresh(
            &mut world,
            &url,
            &default,
            &new_revision,
            elapsed + refresh,
            &changed_under,
        );
    }
    Ok(Pushed { branch: branch.into(), revision: Some(id), url })
}

/// A repository URL as compared: no trailing `/` or `.git`.
#[must_use]
pub fn same_url(a: &str, b: &str) -> bool {
    let norm = |u: &str| u.trim().trim_end_matches('/').trim_end_matches(".git").to_ascii_lowercase();
    norm(a) == norm(b)
}

/// The world's repository at `url`: its files at `revision` (a commit id,
/// or a branch of `origin`).
pub(crate) fn tree_at(world: &World, url: &str, revision: &str) -> Option<Tree> {
    let part = world.part::<GitWorld>(SECTION)?;
    let repo = part.repos.values().find(|r| same_url(&r.url, url))?;
    let id = repo.remote.get(revision).cloned().unwrap_or_else(|| revision.to_string());
    match repo.tree(&id) {
        Some(tree) => Some(tree.clone()),
        // The first commit's tree is the checkout's files until a run settled it.
        None if repo.commits.first().is_some_and(|c| c.id == id || c.id.is_empty()) => {
            let path = part.repos.iter().find(|(_, r)| same_url(&r.url, url)).map(|(k, _)| k.clone())?;
            Some(working(world, &path))
        }
        None => None,
    }
}

/// The commit `origin`'s branch `name` is at, for the repository at `url`.
pub(crate) fn remote_head(world: &World, url: &str, name: &str) -> Option<String> {
    let part = world.part::<GitWorld>(SECTION)?;
    let repo = part.repos.values().find(|r| same_url(&r.url, url))?;
    let name = if name == "HEAD" { repo.default_branch.as_str() } else { name };
    // A world file may leave the refs out: the last commit is every branch's.
    let unsettled = repo.remote.is_empty().then(|| repo.commits.last().map(|c| c.id.clone())).flatten();
    repo.remote.get(name).cloned().or(unsettled).filter(|id| !id.is_empty())
}
