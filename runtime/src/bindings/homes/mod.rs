//! `homes::` - home directories copied between file servers: `tree` names
//! one (a server and the folder that holds one folder per user), `list`
//! reads its folders and the server's clock, `changed` finds the folders
//! changed since then, and `copy` copies one user's folder with rsync run
//! on the target server, retrying what rsync calls partial (exit 23/24) and
//! holding back deletions past the blast radius. Passes over many users,
//! forecasts and the questions to the operator are `stdlib/homes.rhai`.
//!
//! Thin: options are read here, one rsync attempt, a listing or a search is
//! one call to the family value ([`Homes`]) through the gate; the retry
//! loop waits through the run's wait path.

mod copy;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::feed::Feed;
use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::homes::{Homes, Pull, Tree as TreeSpec};
use crate::backends::shell::process::LineSink;
use crate::backends::shell::ssh::{self, Login};
use crate::effects::{Change, Permit};
use crate::run::Run;

/// A tree of home directories: `homes::tree("nfs-old", "/export/home-01/homes/hub")`.
#[derive(Debug, Clone)]
pub struct Tree(pub(crate) TreeSpec);

#[export_module]
pub(crate) mod homes {
    /// A tree of home directories.
    pub type Tree = super::Tree;

    /// A tree of home directories: `root` on `host` holds one folder per
    /// user. `host` is reached over ssh in batch mode (`local`: this
    /// machine). Nothing is contacted until the tree is used.
    ///
    /// ```rhai
    /// let from = homes::tree("nfs-old.example.org", "/export/home-01/homes/hub");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn tree(host: &str, root: &str) -> Result<Tree, Box<EvalAltResult>> {
        super::tree(host, root, &rhai::Map::new())
    }

    /// A tree with options: how hubops logs in (`user`, `port`,
    /// `identity`, `known_hosts`, `accept_new_host_key`), and `pull`, how the
    /// other server logs in here to pull from it (`address`, and the same
    /// login keys, with paths on that server: the seed's
    /// `nfs-transfer-key`).
    ///
    /// ```rhai
    /// let from = homes::tree("nfs-old.example.org", "/export/home-01/homes/hub", #{
    ///     user: "ubuntu", identity: "keys/nfs-old",
    ///     pull: #{ address: "10.128.0.5", user: "ubuntu", identity: "/home/ubuntu/nfs-transfer-key" },
    /// });
    /// ```
    #[rhai_fn(name = "tree", return_raw)]
    pub fn tree_with(host: &str, root: &str, options: rhai::Map) -> Result<Tree, Box<EvalAltResult>> {
        super::tree(host, root, &options)
    }

    /// The folders of a tree and its server's clock: `#{host, root, users,
    /// clock}` (`clock`: seconds since 1970 on that server, for
    /// `homes::changed`). A read, also in a dry run; a missing root is an
    /// error of kind `NotFound`.
    ///
    /// ```rhai
    /// let listing = homes::list(from);
    /// log::info(`${listing.users.len()} home directories`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list(ctx: NativeCallContext, tree: Tree) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::list(&ctx, &tree)
    }

    /// The folders of a tree in which anything changed (content, metadata,
    /// files added or removed) at or after `since`, seconds on the tree's
    /// server clock as `homes::list` gave it. A read, also in a dry run.
    ///
    /// ```rhai
    /// let changed = homes::changed(from, listing.clock);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn changed(ctx: NativeCallContext, tree: Tree, since: i64) -> Result<Array, Box<EvalAltResult>> {
        super::changed(&ctx, &tree, since)
    }

    /// The folders `first`, then, as the search finds them, every folder
    /// of the tree that changed at or after `since` (as `homes::changed`),
    /// each once: a feed that `parallel` starts work on while the search
    /// walks the tree (`copies::final_pass` copies while it looks).
    /// `feed.wait()` says whether the search looked at all of the tree.
    /// On a world the search is done before the feed is handed out.
    ///
    /// ```rhai
    /// let found = homes::changes(from, last.since, last.failed);
    /// let results = parallel(found, 16, |user| homes::copy(from, to, user));
    /// if found.wait().error != () { log::warn("the search did not finish"); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn changes(
        ctx: NativeCallContext,
        tree: Tree,
        since: i64,
        first: Array,
    ) -> Result<super::Feed, Box<EvalAltResult>> {
        super::changes(&ctx, tree, since, first)
    }

    /// Opens, all at once, the shared ssh connections that copies from
    /// `from` to `to`, `limit` at a time, will use, and checks that the
    /// server running the copies can log in to the source: if not, an error
    /// of kind `Unreachable` names the login that failed and what to do,
    /// before any user is tried. `copies::pass` and `copies::final_pass`
    /// call it. A read, also in a dry run. On a world there is nothing to
    /// open; the same logins are checked against its hosts' `reachable` and
    /// `accepts`.
    ///
    /// ```rhai
    /// homes::connect(from, to, 16);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn connect(ctx: NativeCallContext, from: Tree, to: Tree, limit: i64) -> Result<(), Box<EvalAltResult>> {
        super::connect(&ctx, &from, &to, limit)
    }

    /// Copies one user's folder from `from` to `to` (see the next form for
    /// the options and the result).
    ///
    /// ```rhai
    /// let r = homes::copy(from, to, "alice");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn copy(ctx: NativeCallContext, from: Tree, to: Tree, user: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy::copy(&ctx, &from, &to, user, &rhai::Map::new())
    }

    /// Copies one user's folder with rsync (`-a`, numeric ids, partial
    /// files kept), run on `to`'s server and pulling from `from`'s. Options:
    /// `delete` (default true: mirror deletions), `max_delete` (default
    /// "10%": a copy that would delete more of the user's files deletes none
    /// and is `held`), `retries` (default 3) and `backoff` (default "30s",
    /// doubling) for rsync's partial transfers (23, 24) and lost
    /// connections, `timeout` per attempt (default "24h"), `io_timeout`
    /// (default "10m" without data), `bwlimit`, `chown`, `rsync_path`.
    /// Returns `#{user, status, files, bytes, created, deleted,
    /// would_delete, total_files, total_bytes, seconds, exit, attempts,
    /// error, changed, planned}`, `status` one of `copied`, `missing` (no
    /// folder at the source), `held`, `failed`: one user's failure is an
    /// answer, not an error. In a dry run rsync runs with `--dry-run` and
    /// the result says what would move.
    ///
    /// ```rhai
    /// let r = homes::copy(from, to, "alice", #{ max_delete: "5%", bwlimit: "50M" });
    /// if r.status != "copied" { log::warn(`${r.user}: ${r.status} ${r.error}`); }
    /// ```
    #[rhai_fn(name = "copy", return_raw)]
    pub fn copy_with(
        ctx: NativeCallContext,
        from: Tree,
        to: Tree,
        user: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy::copy(&ctx, &from, &to, user, &options)
    }

    /// `nfs-old:/export/home-01/homes/hub`.
    ///
    /// ```rhai
    /// print(`${from}`);
    /// ```
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(tree: &mut Tree) -> String {
        tree.0.describe()
    }
}

const TREE_OPTIONS: [&str; 6] = ["user", "port", "identity", "known_hosts", "accept_new_host_key", "pull"];
const PULL_OPTIONS: [&str; 6] = ["address", "user", "port", "identity", "known_hosts", "accept_new_host_key"];

fn login(function: &str, o: Options<'_>) -> ScriptResult<Login> {
    let port = match o.int("port")? {
        None => None,
        Some(n) => Some(
            u16::try_from(n)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| script_error("Invalid", &format!("`port` must be a port number, not {n}")))?,
        ),
    };
    let login = Login {
        user: o.str("user")?,
        port,
        identity: o.str("identity")?,
        known_hosts: o.str("known_hosts")?,
        accept_new_host_key: o.bool("accept_new_host_key")?.unwrap_or(false),
    };
    ssh::base(&login).map_err(|e| script_error("Invalid", &format!("`{function}`: {e}")))?;
    Ok(login)
}

fn tree(host: &str, root: &str, options: &rhai::Map) -> ScriptResult<Tree> {
    let o = Options::new("homes::tree", options, &TREE_OPTIONS)?;
    let bad_host = host.is_empty()
        || host.starts_with('-')
        || host.contains(|c: char| c.is_whitespace() || c.is_control() || c == ':');
    if bad_host {
        return Err(script_error("Invalid", &format!("`{host}` is not a host name")));
    }
    if !root.starts_with('/') || root.contains(['\0', '\n']) || root.split('/').any(|part| part == "..") {
        return Err(script_error(
            "Invalid",
            &format!("the root of `homes::tree` must be an absolute folder path without `..`, not `{root}`"),
        ));
    }
    let pull = match o.map("pull")? {
        None => Pull::default(),
        Some(map) => {
            let p = Options::new("homes::tree`'s `pull", &map, &PULL_OPTIONS)?;
            let address = p.str("address")?;
            if let Some(a) = &address {
                if a.is_empty() || a.starts_with('-') || a.contains(|c: char| c.is_whitespace() || c == ':' || c == '@')
                {
                    return Err(script_error("Invalid", &format!("`{a}` is not an address")));
                }
            }
            Pull { address, login: login("homes::tree", p)? }
        }
    };
    let root = if root.len() > 1 { root.trim_end_matches('/') } else { root };
    Ok(Tree(TreeSpec { host: host.into(), login: login("homes::tree", o)?, root: root.into(), pull }))
}

/// The family value for this run.
fn family(run: &Run) -> Homes {
    Homes::new(run.target(), run.cancel.clone())
}

fn system(tree: &TreeSpec) -> String {
    format!("homes/{}", tree.host)
}

fn list(ctx: &NativeCallContext, tree: &Tree) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let homes = family(&run);
    let change = Change::new(system(&tree.0), "list", tree.0.describe()).idempotent();
    let listing = run.change(change, async |p: &Permit| homes.list(p, &tree.0))?.into_inner();
    let mut map = rhai::Map::new();
    map.insert("host".into(), tree.0.host.clone().into());
    map.insert("root".into(), tree.0.root.clone().into());
    map.insert("users".into(), listing.users.into_iter().map(Dynamic::from).collect::<Array>().into());
    map.insert("clock".into(), listing.clock.into());
    Ok(map)
}

fn changed(ctx: &NativeCallContext, tree: &Tree, since: i64) -> ScriptResult<Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let homes = family(&run);
    let names =
        run.change(find_changes(tree, since), async |p: &Permit| homes.changed(p, &tree.0, since, None))?.into_inner();
    Ok(names.into_iter().map(Dynamic::from).collect())
}

/// The search for what changed in `tree` since `since`, as the gate sees it
/// (`homes::changed` and `homes::changes` make the same one).
fn find_changes(tree: &Tree, since: i64) -> Change {
    Change::new(system(&tree.0), "find changes", format!("{} since {since}", tree.0.describe())).idempotent()
}

fn changes(ctx: &NativeCallContext, tree: Tree, since: i64, first: Array) -> ScriptResult<Feed> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let (feed, filler) = Feed::new();
    let handed = Arc::new(Mutex::new(BTreeSet::new()));
    let hand = {
        let (feed, handed) = (filler.clone(), handed.clone());
        move |name: &str| {
            if handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_string()) {
                feed.push(name.into());
            }
        }
    };
    for user in first {
        let name = user.into_string().map_err(|t| {
            script_error("Invalid", &format!("`homes::changes` takes folder names in `first`, not a {t}"))
        })?;
        user_name(&name)?;
        hand(&name);
    }
    // Its own flag: stopped on Ctrl-C, and when nobody holds the feed any more.
    let stop = run.cancel.child();
    let homes = Homes::new(run.target(), stop.clone());
    let on_world = matches!(homes, Homes::World(_));
    let search = {
        let feed = filler;
        move || {
            let found: LineSink = Box::new(hand.clone());
            let result = run
                .change(find_changes(&tree, since), async |p: &Permit| homes.changed(p, &tree.0, since, Some(found)));
            match result {
                Ok(outcome) => {
                    // A resume hands the earlier answer back without searching.
                    for name in &outcome.into_inner() {
                        hand(name);
                    }
                    feed.end(Ok(()));
                }
                Err(e) => feed.end(Err(caught(*e))),
            }
        }
    };
    if on_world {
        // Whole before it is handed out: a rehearsal's journal is the same
        // every time.
        search();
    } else {
        let thread = std::thread::Builder::new()
            .name("hubops-search".into())
            .spawn(search)
            .map_err(|e| script_error("Failed", &format!("cannot start the search for changes: {e}")))?;
        feed.filled_by(stop, thread);
    }
    Ok(feed)
}

/// An error as a script's `catch` gets it.
fn caught(e: EvalAltResult) -> Dynamic {
    match e {
        EvalAltResult::ErrorRuntime(value, _) => value,
        other => Dynamic::from_map(super::error_map("Failed", &other.to_string())),
    }
}

fn connect(ctx: &NativeCallContext, from: &Tree, to: &Tree, limit: i64) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let limit = u32::try_from(limit).ok().filter(|n| *n >= 1).ok_or_else(|| {
        script_error("Invalid", &format!("the limit of `homes::connect` must be at least 1, not {limit}"))
    })?;
    let homes = family(&run);
    let change =
        Change::new(system(&to.0), "connect", format!("{} from {}", to.0.describe(), from.0.describe())).idempotent();
    run.change(change, async |p: &Permit| homes.connect(p, &from.0, &to.0, limit))?;
    Ok(())
}

/// A folder name as a user's: one path component, no option, no dot name.
fn user_name(user: &str) -> ScriptResult<()> {
    let bad = user.is_empty()
        || user == "."
        || user == ".."
        || user.starts_with('-')
        || user.contains(|c: char| c == '/' || c.is_control());
    if bad {
        return Err(script_error("Invalid", &format!("`{user}` is not a user folder name")));
    }
    Ok(())
}

/// `timeout`-like options: longer than zero, or `default`.
fn positive(o: Options<'_>, key: &str, default: Duration) -> ScriptResult<Duration> {
    Ok(o.positive_duration(key)?.unwrap_or(default))
}
