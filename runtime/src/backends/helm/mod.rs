//! Helm: release records read natively from their Secrets ([`release`],
//! listed through the Kubernetes family by [`records`]), what an upgrade
//! would change in them ([`values`]), and writes: the family value
//! [`Helm`], live the `helm` CLI ([`cli`] builds the argv, [`live`] runs
//! it), on a world new release records ([`world`] computes them,
//! `simulated.rs` writes them into the world's cluster). Nothing here
//! knows Rhai.
//!
//! A write is prepared first ([`Helm::prepare_upgrade`],
//! [`Helm::prepare_rollback`]: the argv is checked, and on a world what
//! reading the records can refuse is refused), then made with the gate's
//! permit ([`Helm::upgrade`], [`Helm::rollback`]). Under `Permit::Check`,
//! live runs `helm upgrade --dry-run=server` (`helm rollback --dry-run`);
//! a world computes the new records and writes nothing.

pub mod cli;
mod error;
pub mod live;
pub mod release;
mod simulated;
pub mod values;
pub mod world;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::backends::k8s::world_cluster::WorldCluster;
use crate::backends::k8s::{self, kinds, Selector};
use crate::backends::shell::process;
use crate::backends::Target;
use crate::cancel::Cancel;
use crate::effects::Permit;
pub use error::Error;
use release::{Release, LABEL_SELECTOR};

/// Checks that a release name can travel in a label selector (records are
/// found by their `name` label).
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(cli::Error::Invalid { what: "release name", value: name.into() }.into());
    }
    Ok(())
}

/// The release records in `ns`: every release, or release `name`. Helm's
/// default storage is Secrets; when there are none, `ConfigMap`s (Helm's
/// `configmap` driver) are read instead, so the usual case costs one list.
pub async fn records(cluster: &k8s::Cluster, ns: &str, name: Option<&str>) -> Result<Vec<Value>, k8s::Error> {
    let labels = match name {
        Some(name) => format!("{LABEL_SELECTOR},name={name}"),
        None => LABEL_SELECTOR.to_string(),
    };
    let selector = Selector { labels: Some(labels), fields: None };
    let kind =
        |text: &str| kinds::builtin(&kinds::parse(text)).ok_or_else(|| k8s::Error::UnknownKind { kind: text.into() });
    let secrets = cluster.list(&kind("secrets")?, ns, &selector).await?;
    if !secrets.is_empty() {
        return Ok(secrets);
    }
    cluster.list(&kind("configmaps")?, ns, &selector).await
}

/// The user-supplied values of the newest revision of `name` among
/// `records`; `Null` (everything would be new) when there is none yet.
pub fn current_values(records: &[Value], name: &str) -> Result<Value, release::Error> {
    match release::release(records, name, None) {
        Ok(r) => Ok(r.values(false)),
        Err(release::Error::NotFound { .. }) => Ok(Value::Null),
        Err(e) => Err(e),
    }
}

/// Values given to an upgrade.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Values {
    /// None.
    #[default]
    None,
    /// Values files, in order (`--values FILE`).
    Files(Vec<String>),
    /// A map of values (live: written to a private file for `--values`).
    Inline(Value),
}

/// An upgrade as a script asks for it, whatever runs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpgradeSpec {
    /// Chart reference: `repo/name`, a path, an OCI or https URL.
    pub chart: String,
    /// Chart version.
    pub version: Option<String>,
    /// `--set KEY=VALUE`, in order (scalars).
    pub set: Vec<(String, Value)>,
    /// `--values`.
    pub values: Values,
    /// `--reuse-values`.
    pub reuse_values: bool,
    /// `--install`.
    pub install: bool,
    /// `--wait`.
    pub wait: bool,
    /// Helm's `--timeout`.
    pub timeout: Duration,
}

impl UpgradeSpec {
    /// The CLI's form; inline values are named by `inline` (a file path,
    /// or `(values)` in plans).
    fn cli(&self, inline: &str) -> cli::Upgrade {
        let values = match &self.values {
            Values::None => Vec::new(),
            Values::Files(files) => files.clone(),
            Values::Inline(_) => vec![inline.to_string()],
        };
        let set =
            self.set.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from))).collect();
        cli::Upgrade {
            chart: self.chart.clone(),
            version: self.version.clone(),
            set,
            values,
            reuse_values: self.reuse_values,
            install: self.install,
            wait: self.wait,
            timeout: Some(self.timeout),
        }
    }
}

/// An upgrade ready for the gate: checked, with the command line the plan
/// shows.
#[derive(Debug, Clone)]
pub struct UpgradePlan {
    target: cli::Target,
    spec: UpgradeSpec,
    display: String,
    world: Option<world::Upgrade>,
}

impl UpgradePlan {
    /// The command line, as the plan and journal show it (inline values as
    /// `(values)`, so the change is the same on every run).
    #[must_use]
    pub fn display(&self) -> &str {
        &self.display
    }
}

/// A rollback ready for the gate.
#[derive(Debug, Clone)]
pub struct RollbackPlan {
    target: cli::Target,
    revision: i64,
    wait: bool,
    timeout: Duration,
    display: String,
}

impl RollbackPlan {
    /// The command line, as the plan and journal show it.
    #[must_use]
    pub fn display(&self) -> &str {
        &self.display
    }
}

/// What an upgrade answered (recorded in the journal for a resume).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Upgraded {
    /// The release as Helm (or the world) stored it, when the answer is one.
    pub release: Option<Release>,
    /// Helm's output, as it was.
    pub output: String,
    /// Under `Permit::Check`: the user-supplied values the release has now,
    /// to show what would change (`Null` when there is no release yet).
    pub current: Option<Value>,
}

/// What a rollback answered (recorded in the journal for a resume).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RolledBack {
    /// The revision rolled back to, where known (on a world).
    pub to: Option<i64>,
    /// The revision the rollback wrote, where known (on a world).
    pub new_revision: Option<i64>,
}

/// Helm in one kube context, live or on the world.
#[derive(Debug, Clone)]
pub enum Helm {
    /// The `helm` CLI.
    Live(live::LiveHelm),
    /// A world's cluster, whose release records upgrades write.
    World(WorldCluster),
}

impl Helm {
    /// Helm in kube context `context` (the context-name form of the
    /// bindings): live the CLI alone, on a world that cluster.
    pub fn open(target: &Target, context: &str, cancel: Cancel) -> Result<Self, Error> {
        match target {
            Target::Live(_) => Ok(Self::Live(live::LiveHelm::new(context, None, cancel))),
            Target::World(world) => Ok(Self::World(WorldCluster::open(world, Some(context))?)),
        }
    }

    /// Helm on an open cluster: live, the CLI in its context, reading the
    /// release records through it; on a world, that cluster.
    #[must_use]
    pub fn on(cluster: &Arc<k8s::Cluster>, cancel: Cancel) -> Self {
        match cluster.as_ref() {
            k8s::Cluster::Live(live) => Self::Live(live::LiveHelm::new(&live.context, Some(cluster.clone()), cancel)),
            k8s::Cluster::World(world) => Self::World(world.clone()),
        }
    }

    /// The kube context.
    #[must_use]
    pub fn context(&self) -> &str {
        match self {
            Self::Live(h) => h.context(),
            Self::World(w) => w.context(),
        }
    }

    fn target(&self, ns: &str, name: &str) -> cli::Target {
        cli::Target { context: self.context().into(), namespace: ns.into(), release: name.into() }
    }

    /// Checks an upgrade of release `name` in `ns` before the gate: the
    /// argv helm would get; live, that helm is installed; on a world, the
    /// values files and what the records can refuse (no such release, an
    /// operation in progress).
    pub fn prepare_upgrade(&self, ns: &str, name: &str, spec: UpgradeSpec) -> Result<UpgradePlan, Error> {
        let target = self.target(ns, name);
        let argv = cli::upgrade(&target, &spec.cli("(values)"))?;
        let display = process::Invocation::new("helm", argv, spec.timeout).display();
        let world = match self {
            Self::Live(_) => {
                live::require_helm()?;
                None
            }
            Self::World(w) => {
                check_name(name)?;
                let up = simulated::from_spec(&spec)?;
                simulated::plan(w, (ns, name), &simulated::Write::Upgrade(up.clone()))?;
                Some(up)
            }
        };
        Ok(UpgradePlan { target, spec, display, world })
    }

    /// Upgrades (under `Permit::Check`: has the upgrade checked, and reads
    /// the values the release has now, for the diff).
    pub async fn upgrade(&self, permit: &Permit, plan: &UpgradePlan) -> Result<Upgraded, Error> {
        match (self, &plan.world) {
            (Self::World(w), Some(up)) => simulated::upgrade(w, permit, &plan.target, up),
            (Self::World(w), None) => simulated::upgrade(w, permit, &plan.target, &simulated::from_spec(&plan.spec)?),
            (Self::Live(h), _) => h.upgrade(permit, &plan.target, &plan.spec).await,
        }
    }

    /// Checks a rollback of release `name` to `revision` (0: the one before
    /// the newest) before the gate.
    pub fn prepare_rollback(
        &self,
        ns: &str,
        name: &str,
        revision: i64,
        wait: bool,
        timeout: Duration,
    ) -> Result<RollbackPlan, Error> {
        let target = self.target(ns, name);
        let display = match self {
            Self::Live(_) => {
                let argv = cli::rollback(&target, revision, wait, Some(timeout))?;
                live::require_helm()?;
                process::Invocation::new("helm", argv, timeout).display()
            }
            Self::World(w) => {
                // Nothing is rendered or waited for on a world: the plan
                // shows the rollback as the records take it.
                let argv = cli::rollback(&target, revision, false, None)?;
                check_name(name)?;
                simulated::plan(w, (ns, name), &simulated::Write::Rollback(revision))?;
                process::Invocation::new("helm", argv, timeout).display()
            }
        };
        Ok(RollbackPlan { target, revision, wait, timeout, display })
    }

    /// Rolls back (under `Permit::Check`: Helm's simulation, or on a world
    /// the records computed and not written).
    pub fn rollback(&self, permit: &Permit, plan: &RollbackPlan) -> Result<RolledBack, Error> {
        match self {
            Self::Live(h) => h.rollback(permit, &plan.target, plan.revision, plan.wait, plan.timeout),
            Self::World(w) => simulated::rollback(w, permit, &plan.target, plan.revision),
        }
    }
}
