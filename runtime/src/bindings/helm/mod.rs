//! `helm::` - Helm releases. Reads take an open `Cluster` and decode the
//! release Secrets natively (no helm binary; see [`cluster`]). Writes
//! (`upgrade`, `rollback`) take a `Cluster` or a kube context name; live
//! they run the `helm` CLI through the effects gate, and a dry run asks
//! Helm to validate against the API server (`helm upgrade
//! --dry-run=server`, `helm rollback --dry-run`). On a world they write the
//! new release records themselves. `decode`, `history_of`, ... decode
//! records a script already holds. A missing helm binary is an error only
//! when a live write needs it.
//!
//! hubops' tests run the CLI paths against a stand-in `helm` on `PATH` that
//! records its argv and exit codes; no real helm binary runs in them.

mod cluster;
mod world;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::shell::{bool_option, gated, known_options, string_option, timeout_option};
use super::{script_error, ScriptResult};
use crate::backends::helm::cli::{self, Target, Upgrade};
use crate::backends::helm::release::{self, Release};
use crate::backends::shell::process::{self, Invocation};
use crate::bindings::k8s::cluster::Cluster;
use crate::effects::{Change, Outcome};
use crate::run::Run;

#[export_module]
pub(crate) mod helm {
    /// Upgrades a release with the `helm` CLI in kube context `context`.
    /// Returns the release as Helm reports it: `#{name, namespace, revision,
    /// status, chart, version, app_version, updated, description, planned}`.
    /// A mutation: a dry run runs `helm upgrade --dry-run=server` (the API
    /// server validates the rendered objects; nothing changes) and returns
    /// the would-be release with `planned: true` and `values_diff`, the
    /// user-supplied values that would change (`hub.baseUrl: "/nb" -> "/n2"`;
    /// read with `helm get values`; values of keys that look like
    /// credentials are shown as `***`). (hubops' own tests check
    /// the exact argv against a stand-in `helm`, not a real one.)
    ///
    /// ```rhai
    /// let r = helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub");
    /// log::info(`now at revision ${r.revision}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn upgrade(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        chart: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade(&ctx, context, namespace, name, chart, &rhai::Map::new())
    }

    /// `helm::upgrade` with options: `version` (chart version), `set` (map
    /// of `--set` keys to values), `values` (a values file, an array of
    /// files, or a map of values written to a private temporary file),
    /// `reuse_values`, `install`, `wait`, `timeout` (Helm's, default
    /// `"5m"`; the process is stopped 2 minutes after it).
    ///
    /// ```rhai
    /// helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub",
    ///     #{ version: "3.3.7", values: ["config/prod.yaml"], set: #{ "hub.baseUrl": "/n2" },
    ///        wait: true, timeout: "10m" });
    /// ```
    #[rhai_fn(name = "upgrade", return_raw)]
    pub fn upgrade_with(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        chart: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade(&ctx, context, namespace, name, chart, &options)
    }

    /// Rolls a release back to `revision` (0: the previous one) with the
    /// `helm` CLI. Returns `#{name, revision, planned}`. A dry run runs
    /// `helm rollback --dry-run`.
    ///
    /// ```rhai
    /// helm::rollback("green", "jupyterhub", "jupyterhub", 3);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rollback(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        revision: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback(&ctx, context, namespace, name, revision, &rhai::Map::new())
    }

    /// `helm::rollback` with options: `wait`, `timeout` (default `"5m"`).
    ///
    /// ```rhai
    /// helm::rollback("green", "jupyterhub", "jupyterhub", 0, #{ wait: true, timeout: "10m" });
    /// ```
    #[rhai_fn(name = "rollback", return_raw)]
    pub fn rollback_with(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        revision: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback(&ctx, context, namespace, name, revision, &options)
    }

    /// Decodes one Helm release record (a `helm.sh/release.v1` Secret, or a
    /// `ConfigMap` of Helm's `configmap` driver, as a map the API returned) to
    /// `#{name, namespace, revision, status, chart, version, app_version,
    /// updated, description}`.
    ///
    /// ```rhai
    /// let r = helm::decode(#{ kind: "ConfigMap", metadata: #{ name: "r" }, data: #{ release: "e30=" } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn decode(record: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let record = super::json(&Dynamic::from_map(record))?;
        super::to_script(&release::decode(&record).map_err(|e| super::release_error(&e))?.summary())
    }

    /// The values of a release record: user-supplied, or with `all` the
    /// chart's defaults merged under them (`helm get values --all`).
    ///
    /// ```rhai
    /// let v = helm::decode_values(#{ kind: "ConfigMap", metadata: #{ name: "r" }, data: #{ release: "e30=" } }, true);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn decode_values(record: rhai::Map, all: bool) -> Result<Dynamic, Box<EvalAltResult>> {
        let record = super::json(&Dynamic::from_map(record))?;
        super::to_script(&release::decode(&record).map_err(|e| super::release_error(&e))?.values(all))
    }

    /// Every revision of release `name` among `records`, oldest first
    /// (`helm history`); records of other releases are skipped.
    ///
    /// ```rhai
    /// let h = helm::history_of([], "jupyterhub");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn history_of(records: Array, name: &str) -> Result<Array, Box<EvalAltResult>> {
        let records = super::records(records)?;
        let history = release::history(&records, name).map_err(|e| super::release_error(&e))?;
        history.iter().map(|r| super::to_script(&r.summary())).collect()
    }

    /// The newest revision of every release among `records`, by name (in
    /// every status, unlike `helm list`).
    ///
    /// ```rhai
    /// let all = helm::list_of([]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list_of(records: Array) -> Result<Array, Box<EvalAltResult>> {
        let records = super::records(records)?;
        let list = release::releases(&records).map_err(|e| super::release_error(&e))?;
        list.iter().map(|r| super::to_script(&r.summary())).collect()
    }
}

pub(super) const UPGRADE_OPTIONS: [&str; 7] =
    ["version", "set", "values", "reuse_values", "install", "wait", "timeout"];
/// The `helm::` module: the kube-context functions and the ones bound to a
/// `Cluster`.
pub(crate) fn module() -> rhai::Module {
    let mut module = rhai::exported_module!(helm);
    module.combine_flatten(rhai::exported_module!(cluster::helm_cluster));
    module
}

const ROLLBACK_OPTIONS: [&str; 2] = ["wait", "timeout"];
/// `helm get values` is a read; it gets less time than a write.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

fn json(value: &Dynamic) -> ScriptResult<Value> {
    rhai::serde::from_dynamic(value).map_err(|e| script_error("Invalid", &format!("not a Kubernetes object: {e}")))
}

fn records(records: Array) -> ScriptResult<Vec<Value>> {
    records.iter().map(json).collect()
}

fn to_script(value: &Value) -> ScriptResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

fn release_error(e: &release::Error) -> Box<EvalAltResult> {
    let mut message = e.to_string();
    if let Some(cause) = std::error::Error::source(e) {
        message.push_str(&format!(": {cause}"));
    }
    script_error(e.kind(), &message)
}

fn target(context: &str, namespace: &str, name: &str) -> Target {
    Target { context: context.into(), namespace: namespace.into(), release: name.into() }
}

fn invalid(e: &cli::Error) -> Box<EvalAltResult> {
    script_error("Invalid", &e.to_string())
}

/// A values map written to a private file for `--values`, removed when the
/// call ends.
struct ValuesFile(PathBuf);

impl ValuesFile {
    fn write(values: &Value) -> ScriptResult<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hubops-values-{}-{n}.yaml", std::process::id()));
        let text = serde_norway::to_string(values)
            .map_err(|e| script_error("Invalid", &format!("`values` cannot be written as YAML: {e}")))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| script_error("Unreachable", &format!("cannot write `{}`: {e}", path.display())))?;
        file.write_all(text.as_bytes())
            .map_err(|e| script_error("Unreachable", &format!("cannot write `{}`: {e}", path.display())))?;
        Ok(Self(path))
    }
}

impl Drop for ValuesFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `helm::upgrade`'s options as an [`Upgrade`], and the private file that
/// carries inline values (removed when dropped).
fn upgrade_spec(chart: &str, options: &rhai::Map) -> ScriptResult<(Upgrade, Option<ValuesFile>)> {
    known_options("helm::upgrade", options, &UPGRADE_OPTIONS)?;
    let mut spec = Upgrade {
        chart: chart.into(),
        version: string_option(options, "version")?,
        reuse_values: bool_option(options, "reuse_values", false)?,
        install: bool_option(options, "install", false)?,
        wait: bool_option(options, "wait", false)?,
        timeout: Some(timeout_option(options, cli::DEFAULT_TIMEOUT)?),
        ..Upgrade::default()
    };
    if let Some(set) = options.get("set").filter(|v| !v.is_unit()) {
        let map = set
            .read_lock::<rhai::Map>()
            .ok_or_else(|| script_error("Invalid", "`set` must be a map of keys to values"))?;
        for (key, value) in map.iter() {
            if value.is_map() || value.is_array() || value.is_unit() {
                return Err(script_error(
                    "Invalid",
                    &format!("`set.{key}` must be a string, number or bool; use `values` for structures"),
                ));
            }
            spec.set.push((key.to_string(), value.to_string()));
        }
    }
    let mut inline = None;
    match options.get("values").filter(|v| !v.is_unit()) {
        None => {}
        Some(v) if v.is_string() => spec.values.push(v.to_string()),
        Some(v) if v.is_array() => {
            for file in v.clone().cast::<Array>() {
                if !file.is_string() {
                    return Err(script_error(
                        "Invalid",
                        "`values` must be a file, an array of files, or a map of values",
                    ));
                }
                spec.values.push(file.to_string());
            }
        }
        Some(v) if v.is_map() => {
            let file = ValuesFile::write(&json(v)?)?;
            spec.values.push(file.0.display().to_string());
            inline = Some(file);
        }
        Some(_) => {
            return Err(script_error("Invalid", "`values` must be a file, an array of files, or a map of values"))
        }
    }
    Ok((spec, inline))
}

fn upgrade(
    ctx: &NativeCallContext,
    context: &str,
    namespace: &str,
    name: &str,
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    if run.world().is_some() {
        let cluster = crate::bindings::k8s::cluster::open(&run, Some(context))?;
        return upgrade_world(&run, &cluster, namespace, name, chart, options);
    }
    upgrade_live(&run, context, namespace, name, chart, options, None)
}

/// `helm::upgrade(cluster, ...)`: the CLI in the cluster's context live,
/// new release records on a world.
fn upgrade_cluster(
    ctx: &NativeCallContext,
    c: &Cluster,
    namespace: &str,
    name: &str,
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    if c.live.is_none() {
        return upgrade_world(&run, c, namespace, name, chart, options);
    }
    upgrade_live(&run, &c.context, namespace, name, chart, options, Some(c))
}

fn upgrade_world(
    run: &Run,
    c: &Cluster,
    namespace: &str,
    name: &str,
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    // The options are checked as live (`wait` and `timeout` mean nothing
    // where nothing is rendered, but a typo is still a typo). Inline values
    // are shown in the plan as `(values)`, not as a temporary file.
    let (mut shown, inline) = upgrade_spec(chart, options)?;
    if let Some(file) = inline {
        let path = file.0.display().to_string();
        shown.values.retain(|v| *v != path);
        shown.values.push("(values)".into());
    }
    let up = world::world_upgrade(chart, options)?;
    let current = cluster::current_values(run, c, namespace, name)?;
    let argv = cli::upgrade(&target(&c.context, namespace, name), &shown, false).map_err(|e| invalid(&e))?;
    let display = Invocation::new("helm", argv, cli::DEFAULT_TIMEOUT).display();
    let change = Change::new(format!("helm/{}", c.context), "upgrade", display);
    let (release, planned) = world::write_world(run, c, namespace, name, &world::WorldWrite::Upgrade(up), change)?;
    let mut summary = release.summary();
    summary["planned"] = Value::Bool(planned);
    if planned {
        summary["values_diff"] = cluster::values_diff(run, name, &current, &release.values(false));
    }
    summary_map(&summary)
}

fn summary_map(summary: &Value) -> ScriptResult<rhai::Map> {
    to_script(summary)?.try_cast::<rhai::Map>().ok_or_else(|| script_error("Internal", "release summary is not a map"))
}

fn upgrade_live(
    run: &Run,
    context: &str,
    namespace: &str,
    name: &str,
    chart: &str,
    options: &rhai::Map,
    native: Option<&Cluster>,
) -> ScriptResult<rhai::Map> {
    let (spec, inline) = upgrade_spec(chart, options)?;
    let target = target(context, namespace, name);
    let apply_args = cli::upgrade(&target, &spec, false).map_err(|e| invalid(&e))?;
    let check_args = cli::upgrade(&target, &spec, true).map_err(|e| invalid(&e))?;
    let limit = spec.timeout.unwrap_or(cli::DEFAULT_TIMEOUT) + cli::PROCESS_MARGIN;
    let apply_inv = Invocation::new("helm", apply_args, limit);
    let check_inv = Invocation::new("helm", check_args, limit);
    let change = Change::new(format!("helm/{context}"), "upgrade", apply_inv.display());
    let values_inv = Invocation::new("helm", cli::get_values(&target).map_err(|e| invalid(&e))?, READ_TIMEOUT);
    let would_be: Arc<Mutex<Option<(String, Value)>>> = Arc::default();
    let slot = would_be.clone();
    let (cancel, check_cancel) = (run.cancel.clone(), run.cancel.clone());
    let outcome = gated(
        run,
        change,
        move |permit| {
            let out = process::require_success("helm", process::run(permit, &check_inv, &check_cancel)?)?;
            // The values the release has now, to show what would change; a
            // release that does not exist yet (`install`) has none. With a
            // cluster handle they are read from the release records;
            // otherwise `helm get values` reads them. A failed read shows
            // every value as new rather than failing the check.
            let current = if let Some(c) = native {
                cluster::current_values(run, c, namespace, name).unwrap_or(Value::Null)
            } else {
                let current = process::run(permit, &values_inv, &check_cancel)?;
                if current.status == 0 {
                    serde_json::from_str(&current.stdout).unwrap_or(Value::Null)
                } else {
                    Value::Null
                }
            };
            *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((out.stdout, current));
            Ok(())
        },
        move |permit| Ok(process::require_success("helm", process::run(permit, &apply_inv, &cancel)?)?.stdout),
    )?;
    drop(inline);
    let (stdout, current, planned) = match outcome {
        Outcome::Applied(stdout) => (stdout, None, false),
        Outcome::Planned => {
            let (stdout, current) =
                would_be.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take().unwrap_or_default();
            (stdout, Some(current), true)
        }
    };
    let release = serde_json::from_str::<Release>(&stdout).ok();
    let mut summary = match &release {
        Some(r) => r.summary(),
        // Helm answered, but not with a release (a plugin, an old Helm):
        // say what is known.
        None => serde_json::json!({ "name": name, "namespace": namespace, "output": stdout }),
    };
    summary["planned"] = Value::Bool(planned);
    if let (Some(current), Some(release)) = (current, &release) {
        summary["values_diff"] = cluster::values_diff(run, name, &current, &release.values(false));
    }
    summary_map(&summary)
}

fn rollback(
    ctx: &NativeCallContext,
    context: &str,
    namespace: &str,
    name: &str,
    revision: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    known_options("helm::rollback", options, &ROLLBACK_OPTIONS)?;
    if revision < 0 {
        return Err(script_error("Invalid", "a revision is 1 or more (0: the previous one)"));
    }
    let wait = bool_option(options, "wait", false)?;
    let limit = timeout_option(options, cli::DEFAULT_TIMEOUT)?;
    if run.world().is_some() {
        let cluster = crate::bindings::k8s::cluster::open(&run, Some(context))?;
        return rollback_world(&run, &cluster, namespace, name, revision);
    }
    let target = target(context, namespace, name);
    let apply_args = cli::rollback(&target, revision, wait, Some(limit), false).map_err(|e| invalid(&e))?;
    let check_args = cli::rollback(&target, revision, wait, Some(limit), true).map_err(|e| invalid(&e))?;
    let apply_inv = Invocation::new("helm", apply_args, limit + cli::PROCESS_MARGIN);
    let check_inv = Invocation::new("helm", check_args, limit + cli::PROCESS_MARGIN);
    let change = Change::new(format!("helm/{context}"), "rollback", apply_inv.display());
    let (cancel, check_cancel) = (run.cancel.clone(), run.cancel.clone());
    let outcome = gated(
        &run,
        change,
        move |permit| process::require_success("helm", process::run(permit, &check_inv, &check_cancel)?).map(|_| ()),
        move |permit| process::require_success("helm", process::run(permit, &apply_inv, &cancel)?).map(|_| ()),
    )?;
    let mut map = rhai::Map::new();
    map.insert("name".into(), name.into());
    map.insert("revision".into(), revision.into());
    map.insert("planned".into(), matches!(outcome, Outcome::Planned).into());
    Ok(map)
}

/// `helm::rollback(cluster, ...)`: the CLI in the cluster's context live, a
/// new release record on a world.
fn rollback_cluster(
    ctx: &NativeCallContext,
    c: &Cluster,
    namespace: &str,
    name: &str,
    revision: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    if c.live.is_some() {
        return rollback(ctx, &c.context, namespace, name, revision, options);
    }
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    known_options("helm::rollback", options, &ROLLBACK_OPTIONS)?;
    if revision < 0 {
        return Err(script_error("Invalid", "a revision is 1 or more (0: the previous one)"));
    }
    timeout_option(options, cli::DEFAULT_TIMEOUT)?;
    rollback_world(&run, c, namespace, name, revision)
}

fn rollback_world(run: &Run, c: &Cluster, namespace: &str, name: &str, revision: i64) -> ScriptResult<rhai::Map> {
    let argv =
        cli::rollback(&target(&c.context, namespace, name), revision, false, None, false).map_err(|e| invalid(&e))?;
    let display = Invocation::new("helm", argv, cli::DEFAULT_TIMEOUT).display();
    let change = Change::new(format!("helm/{}", c.context), "rollback", display);
    let (release, planned) =
        world::write_world(run, c, namespace, name, &world::WorldWrite::Rollback(revision), change)?;
    let to = release.info.description.strip_prefix("Rollback to ").and_then(|n| n.parse::<i64>().ok());
    let mut map = rhai::Map::new();
    map.insert("name".into(), name.into());
    map.insert("revision".into(), to.unwrap_or(revision).into());
    map.insert("new_revision".into(), release.revision.into());
    map.insert("planned".into(), planned.into());
    Ok(map)
}
