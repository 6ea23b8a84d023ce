//! `hubops eject`: a bundled runbook (with the modules it imports and its
//! world, when asked), a bundled world or a single stdlib module, written
//! out for a site to edit. A copy next to a runbook overrides the bundled
//! one of the same name. Never overwrites without `--force`.

use std::path::{Path, PathBuf};

use crate::catalog::{self, Catalog};
use crate::config::{EjectConfig, Ejected};
use crate::output::{Printer, Tone};
use crate::Error;

pub(super) fn eject(args: &EjectConfig, catalog: &Catalog, printer: Printer) -> Result<(), Error> {
    let (text, ext) = match args.what {
        Ejected::Runbook { .. } => (
            catalog::bundled_runbook(&args.runbook).ok_or_else(|| Error::UnknownRunbook {
                name: args.runbook.clone(),
                suggestion: crate::suggestion::closest(&args.runbook, catalog.list().iter().map(|r| r.name.as_str())),
            })?,
            "rhai",
        ),
        Ejected::World => (
            catalog::bundled_world(&args.runbook).ok_or_else(|| Error::UnknownBundled {
                what: "world",
                name: args.runbook.clone(),
                known: catalog::bundled_worlds().map(|(n, _)| n.to_string()).collect(),
            })?,
            "yaml",
        ),
        Ejected::Module => (
            catalog::bundled_module(&args.runbook).ok_or_else(|| Error::UnknownBundled {
                what: "module",
                name: args.runbook.clone(),
                known: catalog::bundled_modules().map(String::from).collect(),
            })?,
            "rhai",
        ),
    };
    if args.dest.as_deref() == Some(Path::new("-")) {
        printer.result(text.trim_end());
        return Ok(());
    }
    let file = format!("{}.{ext}", args.runbook);
    let dest = match &args.dest {
        None => PathBuf::from(&file),
        // An existing folder, or one named with a trailing slash (made here).
        Some(d) if d.is_dir() || d.to_string_lossy().ends_with(std::path::MAIN_SEPARATOR) => {
            crate::state::create_dir_all(d).map_err(|source| Error::Write { path: d.clone(), source })?;
            d.join(&file)
        }
        Some(d) => d.clone(),
    };
    let folder = dest.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut files = vec![(dest, text.to_string())];
    if let Ejected::Runbook { with_modules, with_world } = args.what {
        if with_modules {
            let mut pending: Vec<String> = imported_names(text);
            let mut seen = Vec::new();
            while let Some(name) = pending.pop() {
                if seen.contains(&name) {
                    continue;
                }
                if let Some(module) = catalog::bundled_module(&name) {
                    pending.extend(imported_names(module));
                    files.push((folder.join(format!("{name}.rhai")), module.to_string()));
                }
                seen.push(name);
            }
        }
        if with_world {
            let runbook = catalog.resolve(&args.runbook)?;
            let world = runbook
                .default_world()
                .ok_or_else(|| crate::world::Error::NoDefault { runbook: args.runbook.clone() })?;
            let text =
                catalog::bundled_world(&world).ok_or_else(|| crate::world::Error::NotFound { name: world.clone() })?;
            files.push((folder.join(format!("{world}.yaml")), text.to_string()));
        }
    }
    write_all(&files, args.force, printer)
}

/// Writes `files`, none if any is in the way (unless `force`).
pub(super) fn write_all(files: &[(PathBuf, String)], force: bool, printer: Printer) -> Result<(), Error> {
    for (path, _) in files {
        if path.exists() && !force {
            return Err(Error::Exists { path: path.clone() });
        }
    }
    for (path, content) in files {
        crate::state::write_file(path, content.as_bytes(), force)
            .map_err(|source| Error::Write { path: path.clone(), source })?;
        printer.status(Tone::Progress, "Wrote", &path.display().to_string());
    }
    Ok(())
}

/// The module names a script imports with a literal path.
fn imported_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("import"))
        .filter_map(|rest| rest.trim_start().strip_prefix('"'))
        .filter_map(|rest| rest.split('"').next())
        .map(|s| s.trim_end_matches(".rhai").to_string())
        .collect()
}
