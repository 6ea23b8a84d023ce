//! `k8s::` commands in pods and verified file copies.

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::cluster::{to_dynamic, Cluster};
use super::copy;
use crate::backends::k8s::copy::PodPath;
use crate::backends::k8s::exec::ExecTarget;
use crate::bindings::options::Options;
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

#[export_module]
pub(crate) mod k8s_exec {
    /// An open kube context.
    pub type Cluster = super::Cluster;

    /// Runs a command in a pod's container: an array of words, or a string
    /// run by `sh -c`. Returns `#{stdout, stderr, status}`; a non-zero
    /// status is an answer, not an error. In a dry run nothing runs: the
    /// pod is checked and `#{planned: true, status: ()}` is returned.
    ///
    /// ```rhai
    /// let r = blue.exec("jupyterhub", hub_pod, ["ls", "/srv/jupyterhub"]);
    /// if r.status != 0 { fail(r.stderr); }
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn exec(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        cmd: Dynamic,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::exec(&ctx, c, (ns, pod), &cmd, &rhai::Map::new())
    }

    /// Runs a command with options: `container`, `stdin` (a string sent
    /// to the command, then closed).
    ///
    /// ```rhai
    /// blue.exec("jupyterhub", hub_pod, "cat > /tmp/note", #{ container: "hub", stdin: "moved\n" });
    /// ```
    #[rhai_fn(global, name = "exec", return_raw, pure)]
    pub fn exec_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        cmd: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::exec(&ctx, c, (ns, pod), &cmd, &options)
    }

    /// Copies a file from a pod to a pod, on the same or another cluster,
    /// streamed through hubops (no temporary file) and verified by SHA-256.
    /// Returns `#{bytes, sha256}`. This is how a runbook moves the hub
    /// database between hub pods.
    ///
    /// ```rhai
    /// blue.copy("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite",
    ///           green, "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    #[allow(clippy::too_many_arguments)] // source and destination, as kubectl cp names them
    pub fn copy(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        to: Cluster,
        to_ns: &str,
        to_pod: &str,
        to_path: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_pods(&ctx, (c, ns, pod, path), (&to, to_ns, to_pod, to_path), &rhai::Map::new())
    }

    /// Pod-to-pod copy with options: `container` (source), `to_container`.
    ///
    /// ```rhai
    /// blue.copy("daskhub", old_hub, db, green, "jupyterhub", new_hub, db, #{ container: "hub", to_container: "hub" });
    /// ```
    #[rhai_fn(global, name = "copy", return_raw, pure)]
    #[allow(clippy::too_many_arguments)] // source and destination, as kubectl cp names them
    pub fn copy_with(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        to: Cluster,
        to_ns: &str,
        to_pod: &str,
        to_path: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::copy_pods(&ctx, (c, ns, pod, path), (&to, to_ns, to_pod, to_path), &options)
    }

    /// Copies a file out of a pod to a local path (see the next form).
    ///
    /// ```rhai
    /// blue.copy_from("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite", "./jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, name = "copy_from", return_raw, pure)]
    pub fn copy_from_plain(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        local: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy_from(ctx, c, ns, pod, path, local, rhai::Map::new())
    }

    /// Copies a file out of a pod to a local path, verified by SHA-256
    /// (`kubectl cp ns/pod:path local`); options: `container`. On a world
    /// the file lands in the run's scratch space (where `copy_to` finds
    /// it), never on disk.
    ///
    /// ```rhai
    /// blue.copy_from("daskhub", old_hub, "/srv/jupyterhub/jupyterhub.sqlite", "./jupyterhub.sqlite", #{ container: "hub" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn copy_from(
        ctx: NativeCallContext,
        c: &mut Cluster,
        ns: &str,
        pod: &str,
        path: &str,
        local: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let options = Options::new("copy_from", &options, &["container"])?;
        let from = PodPath { cluster: &c.0, target: target(ns, pod, options.str("container")?), path: path.into() };
        map_of(&copy::copy_from(&run, &from, local)?)
    }

    /// Copies a local file into a pod (see the next form).
    ///
    /// ```rhai
    /// green.copy_to("./jupyterhub.sqlite", "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite");
    /// ```
    #[rhai_fn(global, name = "copy_to", return_raw, pure)]
    pub fn copy_to_plain(
        ctx: NativeCallContext,
        c: &mut Cluster,
        local: &str,
        ns: &str,
        pod: &str,
        path: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        copy_to(ctx, c, local, ns, pod, path, rhai::Map::new())
    }

    /// Copies a local file into a pod, verified by SHA-256
    /// (`kubectl cp local ns/pod:path`); options: `container`.
    ///
    /// ```rhai
    /// green.copy_to("./jupyterhub.sqlite", "jupyterhub", new_hub, "/srv/jupyterhub/jupyterhub.sqlite", #{ container: "hub" });
    /// ```
    #[rhai_fn(global, return_raw, pure)]
    pub fn copy_to(
        ctx: NativeCallContext,
        c: &mut Cluster,
        local: &str,
        ns: &str,
        pod: &str,
        path: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let options = Options::new("copy_to", &options, &["container"])?;
        let to = PodPath { cluster: &c.0, target: target(ns, pod, options.str("container")?), path: path.into() };
        map_of(&copy::copy_to(&run, local, &to)?)
    }
}

fn target(ns: &str, pod: &str, container: Option<String>) -> ExecTarget {
    ExecTarget { ns: ns.into(), pod: pod.into(), container }
}

fn map_of(value: &Value) -> ScriptResult<rhai::Map> {
    to_dynamic(value).try_cast::<rhai::Map>().ok_or_else(|| script_error("Internal", "expected a map"))
}

fn exec(
    ctx: &NativeCallContext,
    c: &Cluster,
    (ns, pod): (&str, &str),
    cmd: &Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("exec", options, &["container", "stdin"])?;
    let words = copy::command_arg(cmd)?;
    let stdin = options.get("stdin").map(ToString::to_string).unwrap_or_default();
    let out = copy::exec(&run, c, &target(ns, pod, options.str("container")?), &words, stdin.as_bytes())?;
    let mut map = rhai::Map::new();
    if let Some(out) = out {
        map.insert("stdout".into(), String::from_utf8_lossy(&out.stdout).into_owned().into());
        map.insert("stderr".into(), String::from_utf8_lossy(&out.stderr).into_owned().into());
        map.insert("status".into(), out.status.into());
    } else {
        map.insert("stdout".into(), "".into());
        map.insert("stderr".into(), "".into());
        map.insert("status".into(), Dynamic::UNIT);
        map.insert("planned".into(), true.into());
    }
    Ok(map)
}

type PodArg<'a> = (&'a Cluster, &'a str, &'a str, &'a str);

fn copy_pods(
    ctx: &NativeCallContext,
    from: PodArg<'_>,
    to: PodArg<'_>,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("copy", options, &["container", "to_container"])?;
    let src =
        PodPath { cluster: &from.0 .0, target: target(from.1, from.2, options.str("container")?), path: from.3.into() };
    let dst =
        PodPath { cluster: &to.0 .0, target: target(to.1, to.2, options.str("to_container")?), path: to.3.into() };
    map_of(&copy::copy(&run, &src, &dst)?)
}
