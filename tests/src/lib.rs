//! Test support for hubops: the `testkit::` binding family, a small
//! key-value store that is a real mutation target. Live, each key is a file
//! in `$HUBOPS_TESTKIT_DIR`; on a world, keys live in the world's `testkit:`
//! section. Its writes go through the effects gate like any family's, so
//! tests can prove that a dry run changes nothing and a rehearsal changes
//! only the world.

pub mod kube_api;
pub mod sshd;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hubops::backends::Target;
use hubops::bindings::{run_of, script_error, ScriptResult};
use hubops::effects::{Change, Outcome, Permit, Plain};
use hubops::world::WorldPart;
use hubops::Extension;
use rhai::plugin::*;
use rhai::EvalAltResult;
use serde::{Deserialize, Serialize};

/// The extension to pass to `hubops::main`.
#[must_use]
pub fn testkit() -> Extension {
    Extension { name: "testkit", module: || rhai::exported_module!(kit), world_section: Some(("testkit", load)) }
}

/// The world part: keys and values.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kit {
    /// The stored values.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

impl WorldPart for Kit {
    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn load(v: &serde_json::Value) -> Result<Box<dyn WorldPart>, String> {
    serde_json::from_value::<Kit>(v.clone()).map(|k| Box::new(k) as Box<dyn WorldPart>).map_err(|e| e.to_string())
}

/// Where the keys are, chosen once from the run's target: the family value
/// every hubops family has (live or world, never both).
enum Store {
    Live(PathBuf),
    World(hubops::world::Shared),
}

fn store(ctx: &NativeCallContext) -> ScriptResult<Store> {
    let run = run_of(ctx)?;
    Ok(match run.target() {
        Target::World(world) => Store::World(world.clone()),
        Target::Live(_) => Store::Live(
            std::env::var_os("HUBOPS_TESTKIT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| script_error("Usage", "HUBOPS_TESTKIT_DIR is not set"))?,
        ),
    })
}

fn valid(key: &str) -> Result<(), Plain> {
    if key.is_empty() || key.contains(['/', '\\', '.']) {
        return Err(Plain::new("Invalid", format!("`{key}` is not a valid key")));
    }
    Ok(())
}

impl Store {
    fn get(&self, key: &str) -> Option<String> {
        match self {
            Self::World(world) => world.lock().part::<Kit>("testkit").and_then(|k| k.values.get(key).cloned()),
            Self::Live(dir) => std::fs::read_to_string(dir.join(key)).ok(),
        }
    }

    /// Sets (or with `None` deletes) a key; under `Permit::Check` only
    /// validates.
    #[allow(clippy::disallowed_methods)] // writes the store's files: takes the gate's Permit
    fn put(&self, permit: &Permit, key: &str, value: Option<&str>) -> Result<(), Plain> {
        valid(key)?;
        if permit.is_check() {
            return Ok(());
        }
        match self {
            Self::World(world) => {
                let mut world = world.lock();
                let kit = world
                    .part_mut::<Kit>("testkit")
                    .ok_or_else(|| Plain::new("NotFound", "the world has no `testkit` section"))?;
                match value {
                    Some(v) => kit.values.insert(key.to_string(), v.to_string()),
                    None => kit.values.remove(key),
                };
                Ok(())
            }
            Self::Live(dir) => {
                let path = dir.join(key);
                match value {
                    Some(v) => std::fs::write(path, v),
                    None => std::fs::remove_file(path),
                }
                .map_err(|e| Plain::new("Unavailable", e.to_string()))
            }
        }
    }
}

fn read(ctx: &NativeCallContext, key: &str) -> ScriptResult<Option<String>> {
    Ok(store(ctx)?.get(key))
}

fn write(ctx: &NativeCallContext, key: &str, value: Option<&str>) -> ScriptResult<bool> {
    let run = run_of(ctx)?;
    let store = store(ctx)?;
    let before = store.get(key);
    let mut change = Change::new("testkit", if value.is_some() { "set" } else { "delete" }, format!("key {key}"))
        .before_after(before.map(Into::into), value.map(Into::into));
    if value.is_none() {
        change = change.destructive();
    }
    let outcome = run.change(change, async |p: &Permit| store.put(p, key, value))?;
    Ok(matches!(outcome, Outcome::Applied(()) | Outcome::Replayed(())))
}

fn append(ctx: &NativeCallContext, key: &str, line: &str) -> ScriptResult<bool> {
    let run = run_of(ctx)?;
    let store = store(ctx)?;
    let before = store.get(key).unwrap_or_default();
    let after = format!("{before}{line}\n");
    let change = Change::new("testkit", "append", format!("key {key}")).before_after(None, Some(line.into()));
    let outcome = run.change(change, async |p: &Permit| store.put(p, key, Some(&after)))?;
    Ok(matches!(outcome, Outcome::Applied(()) | Outcome::Replayed(())))
}

#[export_module]
mod kit {
    /// Reads a key; `()` when it is not set.
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, key: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        Ok(super::read(&ctx, key)?.map_or(Dynamic::UNIT, Into::into))
    }

    /// Sets a key (a mutation). Returns true when applied, false when planned.
    #[rhai_fn(return_raw)]
    pub fn set(ctx: NativeCallContext, key: &str, value: &str) -> Result<bool, Box<EvalAltResult>> {
        super::write(&ctx, key, Some(value))
    }

    /// Appends a line to a key: a change that is not idempotent (like a
    /// POST), so sending it twice shows.
    #[rhai_fn(return_raw)]
    pub fn append(ctx: NativeCallContext, key: &str, line: &str) -> Result<bool, Box<EvalAltResult>> {
        super::append(&ctx, key, line)
    }

    /// Deletes a key (a destructive mutation).
    #[rhai_fn(return_raw)]
    pub fn delete(ctx: NativeCallContext, key: &str) -> Result<bool, Box<EvalAltResult>> {
        super::write(&ctx, key, None)
    }
}
