//! `helm::` - Helm releases. Reads take an open `Cluster` and decode the
//! release Secrets natively (no helm binary; see [`cluster`]). Writes
//! (`upgrade`, `rollback`) take a `Cluster` or a kube context name and
//! hand one change to the effects gate; the family value
//! (`backends::helm::Helm`, live or on the world) makes it: live the `helm`
//! CLI, where a dry run asks Helm to validate against the API server
//! (`helm upgrade --dry-run=server`, `helm rollback --dry-run`); on a world
//! new release records. `decode`, `history_of`, ... decode
//! records a script already holds. A missing helm binary is an error only
//! when a live write needs it.
//!
//! hubops' tests run the CLI paths against a stand-in `helm` on `PATH` that
//! records its argv and exit codes; no real helm binary runs in them.

mod cluster;
mod writes;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};
use serde_json::Value;

use super::{script_error, ScriptResult};
use crate::backends::helm::{self as backend, release, Helm};
use crate::run::Run;

#[export_module]
pub(crate) mod helm {
    /// Upgrades a release with the `helm` CLI in kube context `context`.
    /// Returns the release as Helm reports it: `#{name, namespace, revision,
    /// status, chart, version, app_version, updated, description, planned}`.
    /// A mutation: a dry run runs `helm upgrade --dry-run=server` (the API
    /// server validates the rendered objects; nothing changes) and returns
    /// the would-be release with `planned: true` and `values_diff`, the
    /// user-supplied values that would change (`hub.baseUrl: "/nb" -> "/n2"`;
    /// read with `helm get values`; values of keys that look like
    /// credentials are shown as `***`). (hubops' own tests check
    /// the exact argv against a stand-in `helm`, not a real one.)
    ///
    /// ```rhai
    /// let r = helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub");
    /// log::info(`now at revision ${r.revision}`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn upgrade(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        chart: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade(&ctx, context, (namespace, name), chart, &rhai::Map::new())
    }

    /// `helm::upgrade` with options: `version` (chart version), `set` (map
    /// of `--set` keys to values), `values` (a values file, an array of
    /// files, or a map of values written to a private temporary file),
    /// `reuse_values`, `install`, `wait`, `timeout` (Helm's, default
    /// `"5m"`; the process is stopped 2 minutes after it).
    ///
    /// ```rhai
    /// helm::upgrade("green", "jupyterhub", "jupyterhub", "jupyterhub/jupyterhub",
    ///     #{ version: "3.3.7", values: ["config/prod.yaml"], set: #{ "hub.baseUrl": "/n2" },
    ///        wait: true, timeout: "10m" });
    /// ```
    #[rhai_fn(name = "upgrade", return_raw)]
    pub fn upgrade_with(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        chart: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upgrade(&ctx, context, (namespace, name), chart, &options)
    }

    /// Rolls a release back to `revision` (0: the previous one) with the
    /// `helm` CLI. Returns `#{name, revision, planned}`. A dry run runs
    /// `helm rollback --dry-run`.
    ///
    /// ```rhai
    /// helm::rollback("green", "jupyterhub", "jupyterhub", 3);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rollback(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        revision: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback(&ctx, context, (namespace, name), revision, &rhai::Map::new())
    }

    /// `helm::rollback` with options: `wait`, `timeout` (default `"5m"`).
    ///
    /// ```rhai
    /// helm::rollback("green", "jupyterhub", "jupyterhub", 0, #{ wait: true, timeout: "10m" });
    /// ```
    #[rhai_fn(name = "rollback", return_raw)]
    pub fn rollback_with(
        ctx: NativeCallContext,
        context: &str,
        namespace: &str,
        name: &str,
        revision: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rollback(&ctx, context, (namespace, name), revision, &options)
    }

    /// Decodes one Helm release record (a `helm.sh/release.v1` Secret, or a
    /// `ConfigMap` of Helm's `configmap` driver, as a map the API returned) to
    /// `#{name, namespace, revision, status, chart, version, app_version,
    /// updated, description}`.
    ///
    /// ```rhai
    /// let r = helm::decode(#{ kind: "ConfigMap", metadata: #{ name: "r" }, data: #{ release: "e30=" } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn decode(ctx: NativeCallContext, record: rhai::Map) -> Result<Dynamic, Box<EvalAltResult>> {
        let record = super::json(&Dynamic::from_map(record))?;
        super::to_script(&release::decode(&record).map_err(|e| super::release_error(&ctx, e))?.summary())
    }

    /// The values of a release record: user-supplied, or with `all` the
    /// chart's defaults merged under them (`helm get values --all`).
    ///
    /// ```rhai
    /// let v = helm::decode_values(#{ kind: "ConfigMap", metadata: #{ name: "r" }, data: #{ release: "e30=" } }, true);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn decode_values(ctx: NativeCallContext, record: rhai::Map, all: bool) -> Result<Dynamic, Box<EvalAltResult>> {
        let record = super::json(&Dynamic::from_map(record))?;
        super::to_script(&release::decode(&record).map_err(|e| super::release_error(&ctx, e))?.values(all))
    }

    /// Every revision of release `name` among `records`, oldest first
    /// (`helm history`); records of other releases are skipped.
    ///
    /// ```rhai
    /// let h = helm::history_of([], "jupyterhub");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn history_of(ctx: NativeCallContext, records: Array, name: &str) -> Result<Array, Box<EvalAltResult>> {
        let records = super::records(records)?;
        let history = release::history(&records, name).map_err(|e| super::release_error(&ctx, e))?;
        history.iter().map(|r| super::to_script(&r.summary())).collect()
    }

    /// The newest revision of every release among `records`, by name (in
    /// every status, unlike `helm list`).
    ///
    /// ```rhai
    /// let all = helm::list_of([]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn list_of(ctx: NativeCallContext, records: Array) -> Result<Array, Box<EvalAltResult>> {
        let records = super::records(records)?;
        let list = release::releases(&records).map_err(|e| super::release_error(&ctx, e))?;
        list.iter().map(|r| super::to_script(&r.summary())).collect()
    }
}

/// The `helm::` module: the kube-context functions and the ones bound to a
/// `Cluster`.
pub(crate) fn module() -> rhai::Module {
    let mut module = rhai::exported_module!(helm);
    module.combine_flatten(rhai::exported_module!(cluster::helm_cluster));
    module
}

/// `helm::upgrade(context, ...)`: Helm in kube context `context`.
fn upgrade(
    ctx: &NativeCallContext,
    context: &str,
    at: (&str, &str),
    chart: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let helm = Helm::open(run.target(), context, run.cancel.clone()).map_err(|e| run.fail(&e))?;
    writes::upgrade(&run, &helm, at, chart, options)
}

/// `helm::rollback(context, ...)`: Helm in kube context `context`.
fn rollback(
    ctx: &NativeCallContext,
    context: &str,
    at: (&str, &str),
    revision: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let helm = Helm::open(run.target(), context, run.cancel.clone()).map_err(|e| run.fail(&e))?;
    writes::rollback(&run, &helm, at, revision, options)
}

fn json(value: &Dynamic) -> ScriptResult<Value> {
    rhai::serde::from_dynamic(value).map_err(|e| script_error("Invalid", &format!("not a Kubernetes object: {e}")))
}

fn records(records: Array) -> ScriptResult<Vec<Value>> {
    records.iter().map(json).collect()
}

fn to_script(value: &Value) -> ScriptResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// A record a script handed over that cannot be read.
fn release_error(ctx: &NativeCallContext, e: release::Error) -> Box<EvalAltResult> {
    match Run::from_context(ctx) {
        Ok(run) => run.fail(&backend::Error::Record { source: e, location: None }),
        Err(outside) => outside,
    }
}
