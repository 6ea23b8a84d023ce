//! `yaml::` - values files in a site's git checkout: read a key, set or
//! remove one key keeping every other byte (comments, order, quoting). Writes
//! go through the effects gate; a dry run prints the unified diff the write
//! would make. On a world the files are host `local`'s in the `hosts:`
//! section.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::shell::with_hosts;
use super::{script_error, ScriptResult};
use crate::backends::yaml::diff;
use crate::backends::yaml::edit::{self, Op};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;
use crate::world::World;

#[export_module]
pub(crate) mod yaml {
    /// Reads one key of a YAML file; `()` when it is not there. `key_path`
    /// is dotted (`"jupyterhub.hub.baseUrl"`) or an array of keys (for keys
    /// that contain dots).
    ///
    /// ```rhai
    /// let url = yaml::get("applications/nublado2/values-idfdev.yaml", "jupyterhub.hub.baseUrl");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn get(ctx: NativeCallContext, path: &str, key_path: Dynamic) -> Result<Dynamic, Box<EvalAltResult>> {
        super::get(&ctx, path, &key_path)
    }

    /// Sets one key of a YAML file, creating missing mappings on the way,
    /// and leaves every other byte as it was. Returns `#{changed, planned,
    /// diff}` (`diff`: the unified diff of the file). A mutation: a dry run
    /// prints the diff and writes nothing. Edits that cannot be made in
    /// place (flow mappings, keys inside sequences, anchors) are refused
    /// with kind `Invalid`.
    ///
    /// ```rhai
    /// yaml::set("applications/nublado2/values-idfdev.yaml", "jupyterhub.hub.baseUrl", "/n2");
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
    /// there); a mapping left empty becomes `{}`. Returns `#{changed,
    /// planned, diff}` like `yaml::set`.
    ///
    /// ```rhai
    /// yaml::remove("applications/nublado/values-idfdev.yaml", "jupyterhub.hub.baseUrl");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn remove(ctx: NativeCallContext, path: &str, key_path: Dynamic) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::write(&ctx, path, &key_path, &Op::Remove)
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn keys(key_path: &Dynamic) -> ScriptResult<Vec<String>> {
    let invalid = |e: edit::Error| script_error("Invalid", &e.to_string());
    if key_path.is_string() {
        return edit::parse_path(&key_path.to_string()).map_err(invalid);
    }
    let Some(array) = key_path.read_lock::<rhai::Array>() else {
        return Err(script_error("Invalid", "a key path is a dotted string or an array of keys"));
    };
    let keys: Vec<String> = array.iter().map(ToString::to_string).collect();
    if keys.is_empty() || keys.iter().any(String::is_empty) {
        return Err(invalid(edit::Error::BadPath(keys.join("."))));
    }
    Ok(keys)
}

fn read(path: &str) -> ScriptResult<String> {
    std::fs::read_to_string(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound { "NotFound" } else { "Invalid" };
        script_error(kind, &format!("cannot read `{path}`: {e}"))
    })
}

/// The file's text: from disk, or on a world from host `local`'s files.
fn read_in(run: &Run, path: &str) -> ScriptResult<String> {
    let Some(world) = run.world() else { return read(path) };
    with_hosts(world, |h| Ok(h.read_local(path))).map_err(|e| script_error(e.kind(), &e.to_string()))?.ok_or_else(
        || script_error("NotFound", &format!("cannot read `{path}`: the world's host `local` has no such file")),
    )
}

fn get(ctx: &NativeCallContext, path: &str, key_path: &Dynamic) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let keys = keys(key_path)?;
    let doc = edit::parse(&read_in(&run, path)?).map_err(|e| script_error("Invalid", &format!("`{path}`: {e}")))?;
    match lookup(&doc, &keys) {
        Some(v) => rhai::serde::to_dynamic(v),
        None => Ok(Dynamic::UNIT),
    }
}

fn lookup<'a>(doc: &'a Value, keys: &[String]) -> Option<&'a Value> {
    keys.iter().try_fold(doc, |node, key| node.get(key))
}

fn write(ctx: &NativeCallContext, path: &str, key_path: &Dynamic, op: &Op) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let keys = keys(key_path)?;
    let old = read_in(&run, path)?;
    let new = edit::edit(&old, &keys, op).map_err(|e| script_error("Invalid", &format!("`{path}`: {e}")))?;
    if new == old {
        return Ok(result(false, false, String::new()));
    }
    let unified = diff::unified(&old, &new, path);
    let dotted = keys.join(".");
    let before = edit::parse(&old).ok().and_then(|doc| lookup(&doc, &keys).cloned());
    let after = match op {
        Op::Set(v) => Some(v.clone()),
        Op::Remove => None,
    };
    let verb = if *op == Op::Remove { "remove" } else { "set" };
    let change = Change::new("yaml", verb, format!("{dotted} in {path}")).before_after(before, after);
    let (check_path, check_old) = (path.to_string(), old.clone());
    let apply_path = path.to_string();
    let (world, check_world) = (run.world().cloned(), run.world().cloned());
    let outcome = run.change_legacy(
        change,
        move |_| match &check_world {
            Some(w) => world_unchanged(w, &check_path, &check_old),
            None => unchanged(&check_path, &check_old).and_then(|()| writable(&check_path)),
        },
        move |_| {
            if let Some(w) = &world {
                world_unchanged(w, &apply_path, &old)?;
                return with_hosts(w, |h| {
                    h.write_local(&apply_path, new);
                    Ok(())
                })
                .map_err(Into::into);
            }
            unchanged(&apply_path, &old)?;
            replace_file(Path::new(&apply_path), &new)
        },
    )?;
    Ok(match outcome {
        Outcome::Planned => {
            run.printer().note(&unified);
            result(true, true, unified)
        }
        Outcome::Applied(()) => result(true, false, unified),
    })
}

fn result(changed: bool, planned: bool, diff: String) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("changed".into(), changed.into());
    map.insert("planned".into(), planned.into());
    map.insert("diff".into(), diff.into());
    map
}

fn world_unchanged(world: &Arc<Mutex<World>>, path: &str, expected: &str) -> Result<(), BoxError> {
    let now = with_hosts(world, |h| Ok(h.read_local(path)))?;
    if now.as_deref() != Some(expected) {
        return Err(format!("`{path}` changed since it was read; run again").into());
    }
    Ok(())
}

/// The file must still be what the edit was computed from.
fn unchanged(path: &str, expected: &str) -> Result<(), BoxError> {
    let now = std::fs::read_to_string(path)?;
    if now != expected {
        return Err(format!("`{path}` changed since it was read; run again").into());
    }
    Ok(())
}

fn writable(path: &str) -> Result<(), BoxError> {
    let meta = std::fs::metadata(path)?;
    if meta.permissions().readonly() {
        return Err(format!("`{path}` is read-only").into());
    }
    let dir = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if std::fs::metadata(dir)?.permissions().readonly() {
        return Err(format!("the folder of `{path}` is read-only").into());
    }
    Ok(())
}

/// Writes next to the file and renames over it, so a crash leaves the old
/// file or the new one, never half of one; the file's permissions stay.
fn replace_file(path: &Path, text: &str) -> Result<(), BoxError> {
    // A symlinked values file stays a symlink: its target is replaced.
    let path = &std::fs::canonicalize(path)?;
    let permissions = std::fs::metadata(path)?.permissions();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.hubops-{}", std::process::id()));
    std::fs::write(&temp, text)?;
    std::fs::set_permissions(&temp, permissions)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })?;
    Ok(())
}
