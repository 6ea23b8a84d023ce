//! The systems behind the bindings. Each family is one value that owns live
//! vs simulated (`enum Cluster { Live(..), World(..) }`), chosen once when
//! the handle is made from the run's [`Target`]; bindings never branch on it.
//! The simulated half of a family lives in `<family>/world.rs`
//! (`aws/world/` is the model). Nothing here knows Rhai, the run or the
//! bindings; every call that changes something takes an
//! [`effects::Permit`](crate::effects::Permit) and reads the mode from it;
//! every error type implements [`effects::Failure`](crate::effects::Failure).
//!
//! Adding a family, in order:
//! 1. `backends/<family>/mod.rs`: the plain types scripts will see, the
//!    error enum (`thiserror`, one documented variant per case, `impl
//!    Failure` with the `kind` scripts see), and the family value
//!    (`enum Family { Live(..), World(..) }`) with one async method per verb;
//!    mutating verbs take `&Permit` first and, under `Permit::Check`, ask the
//!    system to validate (or validate on the world) without changing it.
//! 2. `backends/<family>/live.rs`: the SDK or protocol calls. Add each
//!    mutating SDK call to `clippy.toml` and put `#[allow(clippy::disallowed_methods)]`
//!    only on the function that takes the `&Permit`.
//! 3. `backends/<family>/world.rs`: the world section (`serde`, `deny_unknown_fields`),
//!    its loader, and the same verbs on virtual time; world mutators take `&Permit`.
//!    Register the section in `bindings::world_sections`.
//! 4. `bindings/<family>.rs`: an `#[export_module]` of thin verbs: read the
//!    options with `bindings::options::Options`, open the family value from
//!    `run.target()`, hand each mutation to `run.change(change, async |p| ..)`
//!    and each wait to `run.wait(..)`, convert errors with `run.fail` (the one converter is `script`).
//!    Every function has a `///` doc with a runbook example.
//! 5. Tests: the world behaviour (unit), the live backend against a real local
//!    server, a dry run that sends no mutating request, a rehearsal.

pub mod argocd;
pub mod aws;
pub mod dns;
pub mod git;
pub mod helm;
pub mod homes;
pub mod http;
pub mod k8s;
pub mod shell;
pub(crate) mod site;
pub mod yaml;

use std::path::PathBuf;

/// Where a run's systems are, as every family's value is made from it.
#[derive(Debug, Clone)]
pub enum Target {
    /// The real systems.
    Live(Live),
    /// The simulated world.
    World(crate::world::Shared),
}

/// What the live families need to find their systems.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// `--kubeconfig` (else `KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
}
