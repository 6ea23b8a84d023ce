//! The Rhai surface, one module per family. Bindings are thin: convert types,
//! reach the run ([`Run::from_context`]), call a backend, and hand every
//! mutation to the effects gate ([`Run::change`]). Policy and sequencing
//! belong in `stdlib/*.rhai`.
//!
//! Errors cross into scripts as maps with a `kind` and a `message`, so a
//! runbook can `catch (e) { if e.kind == "NotFound" { ... } }`.

mod argocd;
mod aws;
mod core;
mod dns;
mod ec2;
pub(crate) mod feed;
mod git;
mod helm;
mod homes;
mod http;
mod k8s;
pub(crate) mod options;
mod reference;
mod route53;
mod shell;
mod until;
mod world_schema;
mod yaml;

pub(crate) use reference::reference_markdown;
pub(crate) use world_schema::{reference_markdown as world_reference, schema as world_schema};

use rhai::Module;

use crate::run::Run;
use crate::world::SectionLoader;

pub use crate::script::{error_map, script_error, ScriptResult};

/// A binding family added from outside the crate (tests use this to register
/// a mutating test binding; sites could add their own).
#[derive(Clone, Copy)]
pub struct Extension {
    /// The module name scripts use: `name::function(...)`.
    pub name: &'static str,
    /// Builds the Rhai module.
    pub module: fn() -> Module,
    /// The world-file section the family owns, and its loader.
    pub world_section: Option<(&'static str, SectionLoader)>,
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension").field("name", &self.name).finish_non_exhaustive()
    }
}

pub(crate) use self::core::short_message as short_error;

/// The built-in families: (module name, module).
pub(crate) fn families() -> Vec<(&'static str, Module)> {
    vec![
        ("log", rhai::exported_module!(core::log)),
        ("http", rhai::exported_module!(http::http)),
        ("dns", rhai::exported_module!(dns::dns)),
        ("helm", helm::module()),
        ("sh", rhai::exported_module!(shell::sh)),
        ("homes", rhai::exported_module!(homes::homes)),
        ("yaml", rhai::exported_module!(yaml::yaml)),
        ("k8s", k8s::module()),
        ("aws", rhai::exported_module!(aws::aws)),
        ("ec2", rhai::exported_module!(ec2::ec2)),
        ("route53", rhai::exported_module!(route53::route53)),
        ("argocd", rhai::exported_module!(argocd::argocd)),
        ("git", rhai::exported_module!(git::git_api)),
    ]
}

/// Global functions every runbook has: `params`, `step`, `fail`, `confirm`,
/// `sleep`, `now`, `timestamp`, `parallel`.
pub(crate) fn core_module() -> Module {
    rhai::exported_module!(core::core)
}

/// The world sections the built-in families own.
pub(crate) fn world_sections() -> Vec<(&'static str, SectionLoader)> {
    vec![
        ("http", crate::backends::http::world::load_world),
        ("dns", crate::backends::dns::world::load_world),
        ("hosts", crate::backends::shell::world::load_world),
        (k8s::SECTION, crate::backends::k8s::world::load_world),
        ("aws", crate::backends::aws::world::load_world),
        (crate::backends::argocd::world::SECTION, crate::backends::argocd::world::load_world),
        (crate::world::faults::SECTION, crate::world::faults::load_world),
        (crate::backends::git::world::SECTION, crate::backends::git::world::load_world),
    ]
}

/// The run of a binding call (re-exported for extension families).
pub fn run_of(ctx: &rhai::NativeCallContext) -> ScriptResult<std::sync::Arc<Run>> {
    Run::from_context(ctx)
}

/// A duration argument: `"15m"` or a number of seconds (see [`options::duration`]).
pub(crate) use options::duration as duration_arg;
