//! Starting local processes: the only place in hubops allowed to. A process
//! can change anything, so making one takes a [`Permit`]; a backend started
//! under `Permit::Check` runs only what validates (`rsync --dry-run`,
//! `helm upgrade --dry-run=server`) or nothing at all.

use super::Permit;

/// A `std::process::Command` for `program`.
#[allow(clippy::disallowed_methods)]
#[must_use]
pub fn command(_permit: &Permit, program: &str) -> std::process::Command {
    std::process::Command::new(program)
}

/// A `tokio::process::Command` for `program`.
#[allow(clippy::disallowed_methods)]
#[must_use]
pub fn tokio_command(_permit: &Permit, program: &str) -> tokio::process::Command {
    tokio::process::Command::new(program)
}
