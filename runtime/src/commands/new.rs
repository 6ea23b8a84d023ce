//! `hubops new NAME`: a runbook and the world it rehearses on, written as a
//! starting point that runs as written (`hubops run NAME.rhai --rehearse`):
//! parameters, a read, a change with its rollback, a wait. Never overwrites
//! without `--force`.

use std::path::PathBuf;

use crate::output::Printer;
use crate::Error;

const RUNBOOK: &str = include_str!("../../templates/new.rhai");
const WORLD: &str = include_str!("../../templates/new.yaml");

pub(super) fn new(name: &str, force: bool, printer: Printer) -> Result<(), Error> {
    let bad = |why: &str| Error::BadName { name: name.to_string(), why: why.into() };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        return Err(bad(&format!("`{c}` is not a letter, digit, `-` or `_`")));
    }
    let files = [
        (PathBuf::from(format!("{name}.rhai")), RUNBOOK.replace("NAME", name)),
        (PathBuf::from(format!("{name}.yaml")), WORLD.replace("NAME", name)),
    ];
    super::eject::write_all(&files, force, printer)?;
    printer.note(&format!("next: hubops run {name}.rhai --rehearse"));
    Ok(())
}
