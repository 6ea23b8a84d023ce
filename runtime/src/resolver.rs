//! Finds the modules a script imports: the runbook's folder first, then the
//! search path, then the embedded stdlib, so a site can override one module
//! without forking the rest. Compiled modules are cached for the run, and
//! their texts kept so errors inside them show the source line.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rhai::{Engine, EvalAltResult, Module, ModuleResolver, Position, Scope, Shared};

use crate::catalog::bundled_module;
use crate::diagnostics::Sources;

/// The module resolver of one engine.
#[derive(Debug)]
pub(crate) struct Resolver {
    script_dir: Option<PathBuf>,
    search_path: Vec<PathBuf>,
    sources: Arc<Mutex<Sources>>,
    cache: Mutex<HashMap<String, Shared<Module>>>,
}

impl Resolver {
    pub(crate) fn new(script_dir: Option<PathBuf>, search_path: Vec<PathBuf>, sources: Arc<Mutex<Sources>>) -> Self {
        Self { script_dir, search_path, sources, cache: Mutex::default() }
    }

    /// The source name and text of module `name`, wherever it is first found.
    pub(crate) fn find(&self, name: &str) -> Option<(String, String)> {
        let file = if crate::catalog::has_ext(name, "rhai") { name.to_string() } else { format!("{name}.rhai") };
        let dirs = self.script_dir.iter().chain(self.search_path.iter());
        for dir in dirs {
            let path = dir.join(&file);
            if let Ok(text) = std::fs::read_to_string(&path) {
                return Some((path.display().to_string(), text));
            }
        }
        bundled_module(name.trim_end_matches(".rhai")).map(|text| (format!("stdlib/{file}"), text.to_string()))
    }
}

impl ModuleResolver for Resolver {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        if let Some(module) = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(path) {
            return Ok(module.clone());
        }
        let (name, text) =
            self.find(path).ok_or_else(|| Box::new(EvalAltResult::ErrorModuleNotFound(path.to_string(), pos)))?;
        self.sources.lock().unwrap_or_else(std::sync::PoisonError::into_inner).add(&name, &text);
        let in_module = |err: Box<EvalAltResult>| Box::new(EvalAltResult::ErrorInModule(name.clone(), err, pos));
        let mut ast = engine.compile(&text).map_err(|e| in_module(e.into()))?;
        ast.set_source(name.as_str());
        let mut module = Module::eval_ast_as_new(Scope::new(), &ast, engine).map_err(in_module)?;
        module.build_index();
        let module: Shared<Module> = module.into();
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(path.to_string(), module.clone());
        Ok(module)
    }
}
