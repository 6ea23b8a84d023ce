//! `exec` and the copies built on it (`copy`, `copy_from`, `copy_to`): each
//! is one change through the gate, made by the backend
//! (`backends::k8s::copy`). A dry run checks that the pods (and the source
//! file) are there and reports what would run; nothing runs in the
//! containers.

use serde_json::Value;

use super::cluster::Cluster;
use crate::backends::k8s::copy::{self, Copied, PodPath};
use crate::backends::k8s::exec::{ExecTarget, Output};
use crate::effects::{Change, Permit};
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

/// `exec`: `None` when only planned (dry run).
pub(crate) fn exec(
    run: &Run,
    c: &Cluster,
    t: &ExecTarget,
    cmd: &[String],
    stdin: &[u8],
) -> ScriptResult<Option<Output>> {
    let change = c.change("exec", format!("pod {}/{}: {}", t.ns, t.pod, cmd.join(" ")), &t.ns);
    Ok(run.change(change, async |p: &Permit| c.0.exec(p, t, cmd, stdin).await)?.into_inner())
}

/// What a copy returns: `#{bytes, sha256}`, or `#{planned: true}` in a dry
/// run.
fn copied(out: Option<Copied>) -> Value {
    out.map_or_else(|| serde_json::json!({ "planned": true }), |c| c.to_value())
}

/// Pod to pod, across clusters; nothing is written locally.
pub(crate) fn copy(run: &Run, from: &PodPath<'_>, to: &PodPath<'_>) -> ScriptResult<Value> {
    let system = format!("k8s/{}", to.cluster.context());
    let change = Change::new(system, "copy", format!("{} -> {}", from.describe(), to.describe())).scoped(&to.target.ns);
    Ok(copied(run.change(change, async |p: &Permit| copy::copy(p, from, to).await)?.into_inner()))
}

/// Pod to a local file (on a world: to the run's scratch space).
pub(crate) fn copy_from(run: &Run, from: &PodPath<'_>, local: &str) -> ScriptResult<Value> {
    let system = format!("k8s/{}", from.cluster.context());
    let change = Change::new(system, "copy", format!("{} -> {local}", from.describe()));
    Ok(copied(run.change(change, async |p: &Permit| copy::copy_from(p, from, local).await)?.into_inner()))
}

/// A local file (on a world: the run's scratch space first) to a pod.
pub(crate) fn copy_to(run: &Run, local: &str, to: &PodPath<'_>) -> ScriptResult<Value> {
    let bytes = copy::read_local(to.cluster, local).map_err(|e| run.fail(&e))?;
    let system = format!("k8s/{}", to.cluster.context());
    let change = Change::new(system, "copy", format!("{local} -> {}", to.describe())).scoped(&to.target.ns);
    Ok(copied(run.change(change, async |p: &Permit| copy::copy_to(p, &bytes, to).await)?.into_inner()))
}

/// A command as a script gives it: an array of words, or a string run by
/// `sh -c`.
pub(crate) fn command_arg(cmd: &rhai::Dynamic) -> ScriptResult<Vec<String>> {
    if let Some(words) = cmd.read_lock::<rhai::Array>() {
        return Ok(words.iter().map(ToString::to_string).collect());
    }
    if cmd.is_string() {
        return Ok(vec!["sh".into(), "-c".into(), cmd.to_string()]);
    }
    Err(script_error("Invalid", "a command is an array of words such as [\"ls\", \"/srv\"] or a shell string"))
}
