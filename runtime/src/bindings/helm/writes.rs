//! `helm::upgrade` and `helm::rollback`: the options as a plain upgrade,
//! prepared by the family value (`backends::helm::Helm`: the argv checked,
//! and on a world what the records refuse) and handed to the gate as one
//! change with one closure. Live the `helm` CLI runs (under the gate's
//! check, `--dry-run=server`); on a world new release records are written.

use rhai::Array;
use serde_json::Value;

use super::{json, to_script};
use crate::backends::helm::{cli, values, Helm, UpgradeSpec, Values};
use crate::bindings::options::Options;
use crate::effects::{Change, Permit};
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

const UPGRADE_OPTIONS: [&str; 7] = ["version", "set", "values", "reuse_values", "install", "wait", "timeout"];
const ROLLBACK_OPTIONS: [&str; 2] = ["wait", "timeout"];

/// `helm::upgrade`'s options as an upgrade.
fn spec(chart: &str, options: &rhai::Map) -> ScriptResult<UpgradeSpec> {
    let options = Options::new("helm::upgrade", options, &UPGRADE_OPTIONS)?;
    let mut spec = UpgradeSpec {
        chart: chart.into(),
        version: options.str("version")?,
        reuse_values: options.bool("reuse_values")?.unwrap_or(false),
        install: options.bool("install")?.unwrap_or(false),
        wait: options.bool("wait")?.unwrap_or(false),
        timeout: options.positive_duration("timeout")?.unwrap_or(cli::DEFAULT_TIMEOUT),
        ..UpgradeSpec::default()
    };
    if let Some(set) = options.map("set")? {
        for (key, value) in &set {
            if value.is_map() || value.is_array() || value.is_unit() {
                return Err(script_error(
                    "Invalid",
                    &format!("`set.{key}` must be a string, number or bool; use `values` for structures"),
                ));
            }
            spec.set.push((key.to_string(), json(value)?));
        }
    }
    let bad = || script_error("Invalid", "`values` must be a file, an array of files, or a map of values");
    spec.values = match options.get("values") {
        None => Values::None,
        Some(v) if v.is_string() => Values::Files(vec![v.to_string()]),
        Some(v) if v.is_map() => Values::Inline(json(v)?),
        Some(v) if v.is_array() => Values::Files(
            v.clone()
                .cast::<Array>()
                .iter()
                .map(|f| if f.is_string() { Ok(f.to_string()) } else { Err(bad()) })
                .collect::<ScriptResult<_>>()?,
        ),
        Some(_) => return Err(bad()),
    };
    Ok(spec)
}

/// Upgrades release `name` in `ns`; returns its summary with `planned`,
/// and in a dry run `values_diff`.
pub(super) fn upgrade(
    run: &Run,
    helm: &Helm,
    (ns, name): (&str, &str),
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    run.check_cancelled()?;
    let plan = helm.prepare_upgrade(ns, name, spec(chart, options)?).map_err(|e| run.fail(&e))?;
    // A release lives on its cluster: a live upgrade holds the cluster's
    // Lease in the release's namespace, as the cluster's own writes do.
    let change = Change::new(format!("helm/{}", helm.context()), "upgrade", plan.display())
        .scoped(ns)
        .locked_by(format!("k8s/{}", helm.context()));
    let outcome = run.change(change, async |p: &Permit| helm.upgrade(p, &plan).await)?;
    let planned = outcome.is_planned();
    let up = outcome.into_inner();
    let mut summary = match &up.release {
        Some(r) => r.summary(),
        // Helm answered, but not with a release (a plugin, an old Helm):
        // say what is known.
        None => serde_json::json!({ "name": name, "namespace": ns, "output": up.output }),
    };
    summary["planned"] = Value::Bool(planned);
    if let (Some(current), Some(release)) = (&up.current, &up.release) {
        summary["values_diff"] = values_diff(run, name, current, &release.values(false));
    }
    to_script(&summary)?.try_cast::<rhai::Map>().ok_or_else(|| script_error("Internal", "release summary is not a map"))
}

/// Rolls release `name` back to `revision` (0: the previous one).
pub(super) fn rollback(
    run: &Run,
    helm: &Helm,
    (ns, name): (&str, &str),
    revision: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    run.check_cancelled()?;
    let options = Options::new("helm::rollback", options, &ROLLBACK_OPTIONS)?;
    if revision < 0 {
        return Err(script_error("Invalid", "a revision is 1 or more (0: the previous one)"));
    }
    let wait = options.bool("wait")?.unwrap_or(false);
    let timeout = options.positive_duration("timeout")?.unwrap_or(cli::DEFAULT_TIMEOUT);
    let plan = helm.prepare_rollback(ns, name, revision, wait, timeout).map_err(|e| run.fail(&e))?;
    let change = Change::new(format!("helm/{}", helm.context()), "rollback", plan.display())
        .scoped(ns)
        .locked_by(format!("k8s/{}", helm.context()));
    let outcome = run.change(change, async |p: &Permit| helm.rollback(p, &plan))?;
    let planned = outcome.is_planned();
    let done = outcome.into_inner();
    let mut map = rhai::Map::new();
    map.insert("name".into(), name.into());
    map.insert("revision".into(), done.to.unwrap_or(revision).into());
    if let Some(new) = done.new_revision {
        map.insert("new_revision".into(), new.into());
    }
    map.insert("planned".into(), planned.into());
    Ok(map)
}

/// The lines of a dry run's values diff, printed as a note and returned.
fn values_diff(run: &Run, name: &str, current: &Value, next: &Value) -> Value {
    let changes = values::diff(current, next);
    let mut text = format!("values of release `{name}` that would change:");
    if changes.is_empty() {
        text.push_str(" none");
    }
    for change in &changes {
        text.push_str(&format!("\n  {}", change.line()));
    }
    run.printer().note(&run.redactor().redact(&text));
    changes.iter().map(|c| Value::String(run.redactor().redact(&c.line()))).collect()
}
