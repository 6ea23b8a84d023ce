//! `helm::upgrade` and `helm::rollback`: live through the `helm` CLI in the
//! gate (a dry run is Helm's own `--dry-run=server` plus a values diff), on
//! worlds through [`super::world`]. Inline values travel to helm in a
//! private temporary file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Array, NativeCallContext};
use serde_json::Value;

use super::{cluster, invalid, json, target, to_script, world, READ_TIMEOUT, ROLLBACK_OPTIONS, UPGRADE_OPTIONS};
use crate::backends::helm::cli::{self, Upgrade};
use crate::backends::helm::release::Release;
use crate::backends::shell::process::{self, Invocation};
use crate::bindings::k8s::cluster::Cluster;
use crate::bindings::shell::{bool_option, gated, known_options, string_option, timeout_option};
use crate::bindings::{script_error, ScriptResult};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

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
        // TEMPORARY (issue 10): helm's private values file; the Helm migration moves it behind a Permit
        #[allow(clippy::disallowed_methods)]
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
        // TEMPORARY (issue 10): helm's private values file; the Helm migration moves it behind a Permit
        #[allow(clippy::disallowed_methods)]
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

pub(super) fn upgrade(
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
pub(super) fn upgrade_cluster(
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

pub(super) fn rollback(
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
pub(super) fn rollback_cluster(
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
