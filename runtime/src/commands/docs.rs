//! `hubops docs`: the binding reference, the editors' definition files,
//! the engine's metadata, and the world file format (reference and JSON
//! Schema), printed or written into a folder with `--out DIR`.

use std::path::Path;

use crate::bindings::Extension;
use crate::config::DocsFormat;
use crate::engine::{self, Build};
use crate::output::{Printer, Tone};
use crate::Error;

pub(super) fn docs(
    format: DocsFormat,
    out: Option<&Path>,
    extensions: &[Extension],
    printer: Printer,
) -> Result<(), Error> {
    let (resolver, _) = engine::resolver(None, Vec::new());
    let engine = engine::build(Build { resolver, extensions, run: None, optimize: true });
    let json = |value: &serde_json::Value| serde_json::to_string_pretty(value).unwrap_or_default();
    let files: Vec<(String, String)> = match format {
        DocsFormat::Json => vec![(
            "metadata.json".into(),
            engine.gen_fn_metadata_to_json(false).map_err(|e| Error::Internal(e.to_string()))?,
        )],
        // One file per module (`k8s.d.rhai`, ...) and the global ones, as
        // the Rhai language server reads them from a folder.
        DocsFormat::Definitions if out.is_some() => engine.definitions().iter_files().collect(),
        DocsFormat::Definitions => vec![("hubops.d.rhai".into(), engine.definitions().single_file())],
        DocsFormat::Markdown => vec![("reference.md".into(), crate::bindings::reference_markdown(&engine))],
        DocsFormat::World => vec![("world.md".into(), crate::bindings::world_reference())],
        DocsFormat::WorldSchema => vec![("world.schema.json".into(), json(&crate::bindings::world_schema()))],
    };
    let Some(dir) = out else {
        for (_, text) in &files {
            printer.result(text.trim_end());
        }
        return Ok(());
    };
    crate::state::create_dir_all(dir).map_err(|source| Error::Write { path: dir.to_path_buf(), source })?;
    for (name, text) in &files {
        let path = dir.join(name);
        crate::state::write_file(&path, text.as_bytes(), true)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        printer.status(Tone::Progress, "Wrote", &path.display().to_string());
    }
    Ok(())
}
