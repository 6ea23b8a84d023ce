//! Test support for hubops: the `testkit::` binding family, a small
//! key-value store that is a real mutation target. Live, each key is a file
//! in `$HUBOPS_TESTKIT_DIR`; on a world, keys live in the world's `testkit:`
//! section. Its writes go through the effects gate like any family's, so
//! tests can prove that a dry run changes nothing and a rehearsal changes
//! only the world.

pub mod kube_api;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hubops::bindings::{run_of, script_error, ScriptResult};
use hubops::effects::{Change, Outcome, Permit};
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn dir() -> Result<PathBuf, BoxError> {
    std::env::var_os("HUBOPS_TESTKIT_DIR").map(PathBuf::from).ok_or_else(|| "HUBOPS_TESTKIT_DIR is not set".into())
}

fn valid(key: &str) -> Result<(), BoxError> {
    if key.is_empty() || key.contains(['/', '\\', '.']) {
        return Err(format!("`{key}` is not a valid key").into());
    }
    Ok(())
}

fn read(ctx: &NativeCallContext, key: &str) -> ScriptResult<Option<String>> {
    let run = run_of(ctx)?;
    if let Some(world) = run.world() {
        let world = world.lock().map_err(|_| script_error("Internal", "world lock poisoned"))?;
        return Ok(world.part::<Kit>("testkit").and_then(|k| k.values.get(key).cloned()));
    }
    let path = dir().map_err(|e| script_error("Usage", &e.to_string()))?.join(key);
    Ok(std::fs::read_to_string(path).ok())
}

fn write(ctx: &NativeCallContext, key: &str, value: Option<&str>) -> ScriptResult<bool> {
    let run = run_of(ctx)?;
    let before = read(ctx, key)?;
    let mut change = Change::new("testkit", if value.is_some() { "set" } else { "delete" }, format!("key {key}"))
        .before_after(before.clone().map(Into::into), value.map(Into::into));
    if value.is_none() {
        change = change.destructive();
    }
    let world = run.world().cloned();
    let key_owned = key.to_string();
    let value_owned = value.map(str::to_string);
    let apply = move |_: &Permit| -> Result<(), BoxError> {
        valid(&key_owned)?;
        if let Some(world) = world {
            let mut world = world.lock().map_err(|_| "world lock poisoned")?;
            let kit = world.part_mut::<Kit>("testkit").ok_or("the world has no `testkit` section")?;
            match value_owned {
                Some(v) => kit.values.insert(key_owned, v),
                None => kit.values.remove(&key_owned),
            };
            return Ok(());
        }
        let path = dir()?.join(&key_owned);
        match value_owned {
            Some(v) => std::fs::write(path, v)?,
            None => std::fs::remove_file(path)?,
        }
        Ok(())
    };
    let check_key = key.to_string();
    let outcome = run.change(change, move |_| valid(&check_key).and_then(|()| dir().map(|_| ())), apply)?;
    Ok(matches!(outcome, Outcome::Applied(())))
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

    /// Deletes a key (a destructive mutation).
    #[rhai_fn(return_raw)]
    pub fn delete(ctx: NativeCallContext, key: &str) -> Result<bool, Box<EvalAltResult>> {
        super::write(&ctx, key, None)
    }
}
