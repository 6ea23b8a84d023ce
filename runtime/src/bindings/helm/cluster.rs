//! `helm::` bound to a `Cluster`: release reads without the helm binary
//! (the `helm.sh/release.v1` Secrets are listed through the Kubernetes
//! family, live or on a world, and decoded natively), and upgrades and
//! rollbacks that take the handle. Live, writes run the `helm` CLI in the
//! cluster's context; on a world they write the new release records
//! themselves (see `backends::helm`).

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::{to_script, ScriptResult};
use crate::backends::helm::release::{self, Release};
use crate::backends::helm::{self as backend, Helm};
use crate::bindings::k8s::cluster::{namespace_arg, Cluster};
use crate::bindings::options::Options;
use crate::run::Run;

#[export_module]
pub(crate) mod helm_cluster {
    /// An open kube context.
    pub type Cluster = crate::bindings::k8s::cluster::Cluster;

    /// The newest revision of every Helm release in namespace `ns` (`""`:
    /// every namespace), read from the release Secrets without the helm
    /// binary; releases in every status are listed (unlike `helm list`).
    /// Each is `#{name, namespace, revision, status, chart, version,
    /// app_version, updated, description}`.
    ///
    /// ```rhai
    /// for r in helm::releases(k8s::cluster("blue"), "daskhub") { print(`${r.name} ${r.version} ${r.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn releases(ctx: NativeCallContext, cluster: Cluster, ns: Dynamic) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let ns = namespace_arg(&ns)?;
        let records = super::records(&run, &cluster, &ns, None)?;
        let list = release::releases(&records).map_err(|e| super::record_error(&run, &cluster, &ns, e))?;
        list.iter().map(|r| to_script(&r.summary())).collect()
    }

    /// The newest revision of release `name`: `#{name, namespace, revision,
    /// status, chart, version, app_version, updated, description}`.
    /// `NotFound` when the namespace holds no record of it.
    ///
    /// ```rhai
    /// let r = helm::release(k8s::cluster("blue"), "daskhub", "daskhub");
    /// if r.status != "deployed" { fail(`release is ${r.status}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn release(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let found = super::revision(&run, &cluster, ns, name, None)?;
        to_script(&found.summary())
    }

    /// Every revision of release `name`, oldest first (`helm history`).
    ///
    /// ```rhai
    /// let h = helm::history(k8s::cluster("blue"), "daskhub", "daskhub");
    /// let previous = h[h.len() - 2].revision;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn history(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        let records = super::records(&run, &cluster, ns, Some(name))?;
        let history = release::history(&records, name).map_err(|e| super::record_error(&run, &cluster, ns, e))?;
        history.iter().map(|r| to_script(&r.summary())).collect()
    }

    /// The values the user supplied to the newest revision of release
    /// `name` (`helm get values`), as a map.
    ///
    /// ```rhai
    /// let v = helm::values(k8s::cluster("blue"), "nublado", "nublado");
    /// print(v.jupyterhub.hub.baseUrl);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn values(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::values_of(&ctx, &cluster, ns, name, &rhai::Map::new())
    }

    /// `helm::values` with options: `all` (the chart's defaults merged under
    /// the user's values, `helm get values --all`) and `revision` (default:
    /// the newest).
    ///
    /// ```rhai
    /// let before = helm::values(k8s::cluster("blue"), "daskhub", "daskhub", #{ all: true, revision: 3 });
    /// ```
    #[rhai_fn(name = "values", return_raw)]
    pub fn values_with(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        options: rhai::Map,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        super::values_of(&ctx, &cluster, ns, name, &options)
    }

    /// Upgrades a release on an open cluster. Live: the `helm` CLI in the
    /// cluster's kube context; a dry run runs `helm upgrade --dry-run=server`
    /// and diffs the values against the release's records, read natively.
    /// On a world: a new release record with the merged values (the chart
    /// is not fetched or rendered; its version is recorded). Returns
    /// `#{name, namespace, revision, status, chart, version, app_version,
    /// updated, description, planned}`, and `values_diff` in a dry run.
    ///
    /// ```rhai
    /// let r = helm::upgrade(k8s::cluster("green"), "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub");
    /// ```
    #[rhai_fn(name = "upgrade", return_raw)]
    pub fn upgrade_on(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        chart: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade_on_cluster(&ctx, &cluster, (ns, name), chart, &rhai::Map::new())
    }

    /// `helm::upgrade` on an open cluster with options: `version`, `set`,
    /// `values` (file, array of files, or map), `reuse_values`, `install`,
    /// `wait`, `timeout` (as for the kube-context form).
    ///
    /// ```rhai
    /// helm::upgrade(k8s::cluster("green"), "nublado", "nublado", "lsst-sqre/nublado",
    ///     #{ reuse_values: true, set: #{ "jupyterhub.hub.baseUrl": "/n3" } });
    /// ```
    #[rhai_fn(name = "upgrade", return_raw)]
    pub fn upgrade_on_with(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        chart: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade_on_cluster(&ctx, &cluster, (ns, name), chart, &options)
    }

    /// Rolls a release on an open cluster back to `revision` (0: the one
    /// before the newest). Live: `helm rollback` in the cluster's context;
    /// on a world: a new revision with that revision's chart and values.
    /// Returns `#{name, revision, planned}` (`revision`: the one rolled back
    /// to).
    ///
    /// ```rhai
    /// helm::rollback(k8s::cluster("green"), "jupyterhub", "jupyterhub", 0);
    /// ```
    #[rhai_fn(name = "rollback", return_raw)]
    pub fn rollback_on(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        revision: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback_on_cluster(&ctx, &cluster, (ns, name), revision, &rhai::Map::new())
    }

    /// `helm::rollback` on an open cluster with options: `wait`, `timeout`.
    ///
    /// ```rhai
    /// helm::rollback(k8s::cluster("green"), "jupyterhub", "jupyterhub", 3, #{ wait: true });
    /// ```
    #[rhai_fn(name = "rollback", return_raw)]
    pub fn rollback_on_with(
        ctx: NativeCallContext,
        cluster: Cluster,
        ns: &str,
        name: &str,
        revision: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback_on_cluster(&ctx, &cluster, (ns, name), revision, &options)
    }
}

fn upgrade_on_cluster(
    ctx: &NativeCallContext,
    c: &Cluster,
    at: (&str, &str),
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    super::writes::upgrade(&run, &Helm::on(&c.0, run.cancel.clone()), at, chart, options)
}

fn rollback_on_cluster(
    ctx: &NativeCallContext,
    c: &Cluster,
    at: (&str, &str),
    revision: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    super::writes::rollback(&run, &Helm::on(&c.0, run.cancel.clone()), at, revision, options)
}

/// A record error as scripts see it; a missing release names where it was
/// looked for.
fn record_error(run: &Run, c: &Cluster, ns: &str, e: release::Error) -> Box<EvalAltResult> {
    run.fail(&backend::Error::record(e, ns, c.context()))
}

/// The release records in `ns`: every release, or release `name` (whose
/// name must be one a label selector can carry).
fn records(run: &Run, c: &Cluster, ns: &str, name: Option<&str>) -> ScriptResult<Vec<Value>> {
    if let Some(name) = name {
        backend::check_name(name).map_err(|e| run.fail(&e))?;
    }
    c.read(run, async |k| backend::records(k, ns, name).await)
}

fn revision(run: &Run, c: &Cluster, ns: &str, name: &str, revision: Option<i64>) -> ScriptResult<Release> {
    let records = records(run, c, ns, Some(name))?;
    release::release(&records, name, revision).map_err(|e| record_error(run, c, ns, e))
}

fn values_of(ctx: &NativeCallContext, c: &Cluster, ns: &str, name: &str, options: &rhai::Map) -> ScriptResult<Dynamic> {
    let run = Run::from_context(ctx)?;
    let options = Options::new("helm::values", options, &["all", "revision"])?;
    let all = options.bool("all")?.unwrap_or(false);
    let wanted = options.int("revision")?;
    to_script(&revision(&run, c, ns, name, wanted)?.values(all))
}
