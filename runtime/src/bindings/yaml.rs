//! `yaml::` - values files in a site's git checkout: read a key, set or
//! remove one key keeping every other byte (comments, order, quoting). Writes
//! go through the effects gate with ONE closure that calls the family value
//! ([`Files`]: disk, or on a world host `local`'s files in the `hosts:`
//! section); under `Permit::Check` it writes nothing, and a dry run prints
//! the unified diff the write would make.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::{script_error, ScriptResult};
use crate::backends::yaml::edit::{self, Op, Seg};
use crate::backends::yaml::{diff, Error, Files};
use crate::effects::{Change, Outcome, Permit};
use crate::run::Run;

#[export_module]
pub(crate) mod yaml {
    /// Reads one key of a YAML file; `()` when it is not there. `key_path`
    /// is dotted (`"jupyterhub.hub.baseUrl"`), with `[N]` for an entry of a
    /// sequence (`"config.autostart[0].name"`), or an array of keys and
    /// indices (for keys that contain dots: `["config", "autostart", 0]`).
    ///
    /// ```rhai
    /// let url = yaml::get("applications/nublado2/values-idfdev.yaml", "jupyterhub.hub.baseUrl");
    /// let flocks = yaml::get("applications/mobu/values-idfdev.yaml", "config.autostart");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, path: &str, key_path: Dynamic) -> Result<Dynamic, Box<EvalAltResult>> {
        super::get(&ctx, path, &key_path)
    }

    /// Sets one key (or one entry of a sequence) of a YAML file, creating
    /// missing mappings on the way, and leaves every other byte as it was.
    /// Returns `#{changed, planned, diff}` (`diff`: the unified diff of the
    /// file). A mutation: a dry run prints the diff and writes nothing.
    /// Edits that cannot be made in place (flow collections, nested
    /// sequences, anchors) are refused with kind `Invalid`, as is an index
    /// past the end of its sequence.
    ///
    /// ```rhai
    /// yaml::set("applications/nublado2/values-idfdev.yaml", "jupyterhub.hub.baseUrl", "/n2");
    /// yaml::set("applications/mobu/values-idfdev.yaml", "config.autostart[0].business.use_cachemachine", false);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn set(
        ctx: NativeCallContext,
        path: &str,
        key_path: Dynamic,
        value: Dynamic,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let value: Value = rhai::serde::from_dynamic(&value)
            .map_err(|e| super::script_error("Invalid", &format!("the value cannot be written as YAML: {e}")))?;
        super::write(&ctx, path, &key_path, &Op::Set(value))
    }

    /// Removes one key of a YAML file (nothing happens when it is not
    /// there), or one entry of a sequence (`"list[2]"`, which must exist;
    /// the entries after it move up); a mapping left empty becomes `{}`, a
    /// sequence `[]`. Returns `#{changed, planned, diff}` like `yaml::set`.
    ///
    /// ```rhai
    /// yaml::remove("applications/nublado/values-idfdev.yaml", "jupyterhub.hub.baseUrl");
    /// yaml::remove("environments/values-idfdev.yaml", "applications.cachemachine");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, path: &str, key_path: Dynamic) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, path, &key_path, &Op::Remove)
    }
}

fn keys(key_path: &Dynamic) -> ScriptResult<Vec<Seg>> {
    let invalid = |e: edit::Error| script_error("Invalid", &e.to_string());
    if key_path.is_string() {
        return edit::parse_path(&key_path.to_string()).map_err(invalid);
    }
    let Some(array) = key_path.read_lock::<rhai::Array>() else {
        return Err(script_error("Invalid", "a key path is a dotted string or an array of keys and indices"));
    };
    let keys: Vec<Seg> = array
        .iter()
        .map(|k| match k.as_int() {
            Ok(i) => usize::try_from(i).map(Seg::Index).map_err(|_| format!("[{i}]")),
            Err(_) => Ok(Seg::Key(k.to_string())),
        })
        .collect::<Result<_, String>>()
        .map_err(|bad| invalid(edit::Error::BadPath(bad)))?;
    if !matches!(keys.first(), Some(Seg::Key(k)) if !k.is_empty()) || keys.iter().any(|k| *k == Seg::Key(String::new()))
    {
        return Err(invalid(edit::Error::BadPath(edit::dotted(&keys))));
    }
    Ok(keys)
}

fn parse(run: &Run, path: &str, text: &str) -> ScriptResult<Value> {
    edit::parse(text).map_err(|reason| run.fail(&Error::Edit { path: path.into(), reason }))
}

fn get(ctx: &NativeCallContext, path: &str, key_path: &Dynamic) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let keys = keys(key_path)?;
    let text = Files::new(run.target()).read(path).map_err(|e| run.fail(&e))?;
    match edit::lookup(&parse(&run, path, &text)?, &keys) {
        Some(v) => rhai::serde::to_dynamic(v),
        None => Ok(Dynamic::UNIT),
    }
}

fn write(ctx: &NativeCallContext, path: &str, key_path: &Dynamic, op: &Op) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let keys = keys(key_path)?;
    let files = Files::new(run.target());
    let old = files.read(path).map_err(|e| run.fail(&e))?;
    let new = edit::edit(&old, &keys, op).map_err(|reason| run.fail(&Error::Edit { path: path.into(), reason }))?;
    if new == old {
        return Ok(result(false, false, String::new()));
    }
    let unified = diff::unified(&old, &new, path);
    let before = edit::parse(&old).ok().and_then(|doc| edit::lookup(&doc, &keys).cloned());
    let after = match op {
        Op::Set(v) => Some(v.clone()),
        Op::Remove => None,
    };
    let verb = if *op == Op::Remove { "remove" } else { "set" };
    let change = Change::new("yaml", verb, format!("{} in {path}", edit::dotted(&keys))).before_after(before, after);
    let outcome = run.change(change, async |p: &Permit| files.replace(p, path, &old, &new))?;
    Ok(match outcome {
        Outcome::Planned(()) => {
            run.printer().note(&unified);
            result(true, true, unified)
        }
        Outcome::Applied(()) | Outcome::Replayed(()) => result(true, false, unified),
    })
}

fn result(changed: bool, planned: bool, diff: String) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("changed".into(), changed.into());
    map.insert("planned".into(), planned.into());
    map.insert("diff".into(), diff.into());
    map
}
