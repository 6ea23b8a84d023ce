//! `k8s::` for moving a hub: what database the hub has, the safe copy of
//! its sqlite database between hub pods (destructive: it replaces the new
//! hub's, which is backed up first), and a pod's log saved to a file.
//! The work is the backend's (`backends::k8s::database`, `copy`); here the
//! options are read, a hub that is not on sqlite is refused with what to
//! do instead, and each change goes to the gate.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::cluster::Cluster;
use crate::backends::k8s::copy::{self, PodPath};
use crate::backends::k8s::database::{self, HubDatabase};
use crate::backends::k8s::exec::ExecTarget;
use crate::backends::k8s::LogOptions;
use crate::bindings::options::Options;
use crate::effects::{Change, Permit};
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

#[export_module]
pub(crate) mod k8s_database {
    /// An open kube context.
    pub type Cluster = super::Cluster;

    /// What database the hub in `ns` has, from its chart's configuration
    /// (the `hub` Secret's `values.yaml`; the chart's default without one):
    /// `#{type, file, scheme, source}`; `type` is `hub.db.type`
    /// (`sqlite-pvc`, `sqlite-memory`, `mysql`, `postgres`, `other`), `file`
    /// the sqlite file (or `()`), `scheme` that of `hub.db.url` (never the
    /// rest of it, which holds the password). A read.
    ///
    /// ```rhai
    /// let db = blue.hub_database("prod");
    /// if db.type != "sqlite-pvc" { log::warn(`the hub's database is ${db.type}`); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn hub_database(ctx: NativeCallContext, c: &mut Cluster, ns: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let db = c.read(&run, async |k| database::hub_database(k, ns).await)?;
        Ok(database_map(&db))
    }

    /// Copies the hub's sqlite database from this cluster's hub pod in
    /// `ns` to the hub pod `to_ns` of `to` (see the next form).
    ///
    /// ```rhai
    /// old.copy_database("prod", new, "prod");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn copy_database(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        to: Cluster,
        to_ns: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_database(&ctx, c, ns, &to, to_ns, &rhai::Map::new())
    }

    /// Copies the hub's sqlite database to another hub, safely: sqlite's
    /// own backup in the old pod (not a raw copy of the file the hub has
    /// open), streamed pod to pod, its SHA-256 and integrity checked, then
    /// moved over the new hub's database, whose current file is first
    /// backed up beside it (`PATH.before-hubops-STAMP`). Destructive:
    /// confirmed unless `--yes`, and in the plan. A hub on postgres or mysql
    /// is refused (kind `Unsupported`) with what to do instead. Options:
    /// `pod`, `to_pod` (default: the running `component=hub` pod), `path`,
    /// `to_path` (default: the hub's own), `container`, `to_container`.
    /// Returns `#{bytes, sha256, backup, tool}`, or `#{planned: true}` in a
    /// dry run. Restart the new hub's pod afterwards to open it.
    ///
    /// ```rhai
    /// let r = old.copy_database("prod", new, "prod", #{ container: "hub", to_container: "hub" });
    /// log::info(`copied ${r.bytes} bytes; the new hub's old database is at ${r.backup}`);
    /// ```
    #[rhai_fn(global, name = "copy_database", return_raw, pure)]
    pub fn copy_database_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        to: Cluster,
        to_ns: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_database(&ctx, c, ns, &to, to_ns, &options)
    }

    /// Saves a pod's log to a local file (folders made as needed); on a
    /// world it lands in the run's scratch space. Options: `container`.
    /// Returns `#{bytes}` (`#{planned: true}` in a dry run, which still reads
    /// the log).
    ///
    /// ```rhai
    /// blue.save_logs("prod", "hub-7d9f-abcde", "hub-move-logs/hub.log", #{ container: "hub" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn save_logs(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::save_logs(&ctx, c, (ns, pod), path, &options)
    }
}

fn database_map(db: &HubDatabase) -> rhai::Map {
    let mut map = rhai::Map::new();
    let opt = |v: &Option<String>| v.clone().map_or(Dynamic::UNIT, Dynamic::from);
    map.insert("type".into(), db.kind.clone().into());
    map.insert("file".into(), opt(&db.file));
    map.insert("scheme".into(), opt(&db.scheme));
    map.insert("source".into(), db.source.clone().into());
    map
}

/// Refuses a hub whose database is not a sqlite file, saying what to do.
fn sqlite_file(c: &Cluster, ns: &str, db: &HubDatabase) -> ScriptResult<String> {
    if let Some(file) = &db.file {
        return Ok(file.clone());
    }
    let at = format!("the hub in `{ns}` on `{}`", c.context());
    let message = match db.kind.as_str() {
        "sqlite-memory" => format!("{at} keeps its database in memory (`hub.db.type: sqlite-memory`): there is nothing to copy; run with `database=skip`"),
        "postgres" | "mysql" => format!(
            "{at} keeps its database in {} (`hub.db.type`), not in a sqlite file: point the new hub's `hub.db.url` at the same database, or dump it and restore it into the new hub's (`pg_dump` / `pg_restore`, `mysqldump`), then run with `database=skip`",
            db.kind
        ),
        other => format!(
            "{at} has `hub.db.type: {other}`{}: hubops copies only sqlite databases; copy it with its own tools and run with `database=skip`",
            db.scheme.as_ref().map(|s| format!(" (a `{s}` url)")).unwrap_or_default()
        ),
    };
    Err(script_error("Unsupported", &message))
}

fn hub_pod(
    run: &Run,
    c: &Cluster,
    ns: &str,
    given: Option<String>,
    container: Option<String>,
) -> ScriptResult<ExecTarget> {
    let mut target = match given {
        Some(pod) => ExecTarget { ns: ns.into(), pod, container: None },
        None => c.read(run, async |k| database::hub_pod(k, ns).await)?,
    };
    target.container = container;
    Ok(target)
}

const COPY_OPTIONS: [&str; 6] = ["pod", "to_pod", "path", "to_path", "container", "to_container"];

fn copy_database(
    ctx: &NativeCallContext,
    c: &Cluster,
    ns: &str,
    to: &Cluster,
    to_ns: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("copy_database", options, &COPY_OPTIONS)?;
    let old_db = c.read(&run, async |k| database::hub_database(k, ns).await)?;
    let new_db = to.read(&run, async |k| database::hub_database(k, to_ns).await)?;
    let path = match o.str("path")? {
        Some(p) => p,
        None => sqlite_file(c, ns, &old_db)?,
    };
    let to_path = match o.str("to_path")? {
        Some(p) => p,
        None => sqlite_file(to, to_ns, &new_db)?,
    };
    for p in [&path, &to_path] {
        if !database::valid_path(p) {
            return Err(script_error(
                "Invalid",
                &format!(
                    "`{p}` is not a database file path hubops can name safely (absolute, no quotes or backslashes)"
                ),
            ));
        }
    }
    let from_target = hub_pod(&run, c, ns, o.str("pod")?, o.str("container")?)?;
    let to_target = hub_pod(&run, to, to_ns, o.str("to_pod")?, o.str("to_container")?)?;
    let from = PodPath { cluster: &c.0, target: from_target, path };
    let to = PodPath { cluster: &to.0, target: to_target, path: to_path };
    // The backup's name: the run's lineage, so a resumed run names the same file.
    let stamp: String = run.lineage().chars().filter(char::is_ascii_alphanumeric).take(24).collect();
    let change = Change::new(
        format!("k8s/{}", to.cluster.context()),
        "replace database",
        format!("{} with {}", to.describe(), from.describe()),
    )
    .destructive();
    let moved = run.change(change, async |p: &Permit| database::copy_sqlite(p, &from, &to, &stamp).await)?.into_inner();
    let mut map = rhai::Map::new();
    match moved {
        Some(m) => {
            map.insert("bytes".into(), i64::try_from(m.bytes).unwrap_or(i64::MAX).into());
            map.insert("sha256".into(), m.sha256.into());
            map.insert("backup".into(), m.backup.map_or(Dynamic::UNIT, Dynamic::from));
            map.insert("tool".into(), m.tool.into());
        }
        None => {
            map.insert("planned".into(), true.into());
        }
    }
    Ok(map)
}

fn save_logs(
    ctx: &NativeCallContext,
    c: &Cluster,
    (ns, pod): (&str, &str),
    path: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("save_logs", options, &["container"])?;
    if path.is_empty() || path.ends_with('/') || path.contains('\0') {
        return Err(script_error("Invalid", &format!("`{path}` is not a file path")));
    }
    let log = LogOptions { container: o.str("container")?, tail: None };
    let change = Change::new("local", "save logs", format!("{}:{ns}/{pod} -> {path}", c.context()));
    let saved =
        run.change(change, async |p: &Permit| copy::save_logs(p, &c.0, (ns, pod), &log, path).await)?.into_inner();
    let mut map = rhai::Map::new();
    match saved {
        Some(bytes) => map.insert("bytes".into(), i64::try_from(bytes).unwrap_or(i64::MAX).into()),
        None => map.insert("planned".into(), true.into()),
    };
    Ok(map)
}
