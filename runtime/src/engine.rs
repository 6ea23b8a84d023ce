//! Builds the Rhai engine: limits (strict variables, operations, call depth,
//! sizes), the module resolver, the binding families, and for a run, the tag
//! that carries the run to bindings, `print`, and Ctrl-C through
//! `on_progress`. The same builder serves `check` and `docs` (no run).

use std::sync::{Arc, Mutex};

use rhai::{Dynamic, Engine, OptimizationLevel};

use crate::bindings::{self, Extension};
use crate::diagnostics::Sources;
use crate::journal::Event;
use crate::resolver::Resolver;
use crate::run::{Run, RunRef};

/// Enough for any maintenance runbook; an endless loop hits it in seconds.
const MAX_OPERATIONS: u64 = 500_000_000;
const MAX_CALL_LEVELS: usize = 96;

/// What an engine is built for.
pub(crate) struct Build<'a> {
    pub(crate) resolver: Resolver,
    pub(crate) extensions: &'a [Extension],
    /// `None` for `check` and `docs`.
    pub(crate) run: Option<Arc<Run>>,
    /// Off for reading declarations: literal maps keep their source order.
    pub(crate) optimize: bool,
}

pub(crate) fn build(b: Build<'_>) -> Engine {
    let mut engine = Engine::new();
    engine.set_strict_variables(true);
    // Missing map properties read as `()`, like kubectl's jsonpath, so that
    // `svc.status?.loadBalancer?.ingress` works on objects that lack a field;
    // typos in variable names are still caught by strict variables.
    engine.set_fail_on_invalid_map_property(false);
    engine.set_max_operations(MAX_OPERATIONS);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(256, 128);
    engine.set_max_string_size(64 << 20);
    engine.set_max_array_size(1 << 20);
    engine.set_max_map_size(1 << 20);
    engine.set_max_modules(256);
    engine.set_optimization_level(if b.optimize { OptimizationLevel::Simple } else { OptimizationLevel::None });
    engine.set_module_resolver(b.resolver);
    engine.register_global_module(bindings::core_module().into());
    for (name, module) in bindings::families() {
        engine.register_static_module(name, module.into());
    }
    for ext in b.extensions {
        engine.register_static_module(ext.name, (ext.module)().into());
    }
    if let Some(run) = b.run {
        let watched = run.clone();
        engine.on_progress(move |ops| {
            if watched.cancel.is_cancelled() {
                return Some(Dynamic::from("interrupted"));
            }
            // Checking the time costs a little; every 1024 operations is often enough.
            if ops % 1024 == 0 && watched.limits.computing() > crate::run::MAX_COMPUTE {
                return Some(Dynamic::from("runaway"));
            }
            None
        });
        let printing = run.clone();
        engine.on_print(move |text| {
            let text = printing.redactor().redact(text);
            printing.record(&Event::Print { text: text.clone() });
            if !printing.printer().json() {
                printing.printer().result(&text);
            }
        });
        engine.on_debug(|text, source, pos| {
            tracing::debug!("{}:{pos}: {text}", source.unwrap_or("script"));
        });
        engine.set_default_tag(Dynamic::from(RunRef(run)));
    }
    engine
}

/// A resolver with a fresh source table.
pub(crate) fn resolver(
    script_dir: Option<std::path::PathBuf>,
    search_path: Vec<std::path::PathBuf>,
) -> (Resolver, Arc<Mutex<Sources>>) {
    let sources = Arc::new(Mutex::new(Sources::default()));
    (Resolver::new(script_dir, search_path, sources.clone()), sources)
}
