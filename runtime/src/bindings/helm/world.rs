//! `helm::upgrade` and `helm::rollback` on a world: the new release
//! records are computed from the ones the world's cluster holds (see
//! `backends::helm::world`) and written as Secrets through the effects
//! gate; a dry run computes them and writes nothing. Values files named by
//! an upgrade are read from disk (a read of the site's checkout).

use std::cell::{Cell, RefCell};

use rhai::{Array, EvalAltResult};
use serde_json::Value;

use super::cluster::{check_name, record_error};
use super::ScriptResult;
use crate::backends::helm::release::{Release, LABEL_SELECTOR};
use crate::backends::helm::world;
use crate::backends::k8s::{self, Selector};
use crate::bindings::k8s::cluster::Cluster;
use crate::bindings::k8s::writes;
use crate::bindings::script_error;
use crate::bindings::shell::{bool_option, known_options, string_option};
use crate::effects::{Change, Permit};
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

/// `helm::upgrade`'s options as a world upgrade: values files are read
/// (a read, not a change), then `set` keys are laid over them.
pub(super) fn world_upgrade(chart: &str, options: &rhai::Map) -> ScriptResult<world::Upgrade> {
    known_options("helm::upgrade", options, &super::UPGRADE_OPTIONS)?;
    let mut up = world::Upgrade {
        chart: chart.into(),
        version: string_option(options, "version")?,
        reuse_values: bool_option(options, "reuse_values", false)?,
        install: bool_option(options, "install", false)?,
        ..world::Upgrade::default()
    };
    let bad = || script_error("Invalid", "`values` must be a file, an array of files, or a map of values");
    let mut layers: Vec<Value> = Vec::new();
    match options.get("values").filter(|v| !v.is_unit()) {
        None => {}
        Some(v) if v.is_map() => layers.push(super::json(v)?),
        Some(v) if v.is_string() => layers.push(values_file(&v.to_string())?),
        Some(v) if v.is_array() => {
            for file in v.clone().cast::<Array>() {
                if !file.is_string() {
                    return Err(bad());
                }
                layers.push(values_file(&file.to_string())?);
            }
        }
        Some(_) => return Err(bad()),
    }
    for layer in layers {
        match layer {
            Value::Object(map) => world::merge(&mut up.values, map),
            Value::Null => {}
            _ => return Err(script_error("Invalid", "a values file must hold a mapping")),
        }
    }
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
            world::set_dotted(&mut up.values, key, super::json(value)?);
        }
    }
    Ok(up)
}

fn values_file(path: &str) -> ScriptResult<Value> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| script_error("NotFound", &format!("cannot read values file `{path}`: {e}")))?;
    let yaml: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| script_error("Invalid", &format!("values file `{path}` is not YAML: {e}")))?;
    serde_json::to_value(yaml).map_err(|e| script_error("Invalid", &format!("values file `{path}`: {e}")))
}

/// What a world write does: the release records it writes, newest last.
pub(super) enum WorldWrite {
    Upgrade(world::Upgrade),
    Rollback(i64),
}

/// Writes new release records on a world cluster, through the gate.
/// Returns the new revision and whether it was only planned.
pub(super) fn write_world(
    run: &Run,
    c: &Cluster,
    ns: &str,
    name: &str,
    write: &WorldWrite,
    change: Change,
) -> ScriptResult<(Release, bool)> {
    check_name(name)?;
    let secrets = c.kind(run, "secrets")?;
    let now = run.clock().now().to_string();
    let selector = Selector { labels: Some(format!("{LABEL_SELECTOR},name={name}")), fields: None };
    // The records as the world holds them now; the list can only fail on
    // a bad selector, and the name was checked.
    let compute = |w: &k8s::world::ClusterWorld| -> Result<Result<Vec<Value>, world::Error>, k8s::Error> {
        let objects = w.list(&secrets, ns, &selector)?;
        let history = match world::history(&objects, name) {
            Ok(history) => history,
            Err(e) => return Ok(Err(e.into())),
        };
        Ok(match write {
            WorldWrite::Upgrade(up) => world::upgrade(&history, ns, name, up, &now),
            WorldWrite::Rollback(revision) => world::rollback(&history, name, *revision, &now),
        })
    };
    // Refusals a read can tell (no such release, an operation in
    // progress) are errors before anything reaches the gate.
    c.world(run, |w, _| compute(w))?.map_err(|e| world_error(c, ns, &e))?;
    let failed: Cell<Option<&'static str>> = Cell::new(None);
    let planned: RefCell<Option<Value>> = RefCell::new(None);
    let op = |p: &Permit, dry: bool| -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let out = c.world_raw(run, |w, _| {
            // Checked above; only a change since then (none on a world, where
            // the run is the only actor) could fail here.
            let records = compute(w)?.map_err(|e| k8s::Error::api(409, "Conflict", e.to_string()))?;
            let newest = records.last().cloned().unwrap_or(Value::Null);
            if !dry {
                for record in &records {
                    let secret = world::encode(record).map_err(|e| k8s::Error::Usage(e.to_string()))?;
                    w.apply(p, &secrets, ns, &secret)?;
                }
            }
            Ok(newest)
        });
        out.map_err(|e| {
            failed.set(Some(e.kind()));
            Box::new(e) as Box<dyn std::error::Error + Send + Sync>
        })
    };
    let outcome = run
        .change_legacy(
            change,
            |p| {
                *planned.borrow_mut() = Some(op(p, true)?);
                Ok(())
            },
            |p| op(p, false),
        )
        .map_err(|e| writes::retag(e, failed.get()))?;
    let (raw, was_planned) = match outcome {
        Outcome::Applied(raw) => (raw, false),
        Outcome::Planned => (planned.take().unwrap_or(Value::Null), true),
    };
    let release: Release = serde_json::from_value(raw)
        .map_err(|e| script_error("Internal", &format!("the new revision of `{name}` is not a release: {e}")))?;
    Ok((release, was_planned))
}

fn world_error(c: &Cluster, ns: &str, e: &world::Error) -> Box<EvalAltResult> {
    match e {
        world::Error::Record(e) => record_error(c, ns, e),
        other => script_error(other.kind(), &other.to_string()),
    }
}
