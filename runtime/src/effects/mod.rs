//! THE gate every mutation passes. A binding describes a [`Change`] (system,
//! verb, target, before/after where known, destructive or not) and hands the
//! gate ONE closure that takes a [`Permit`]. The gate alone decides what the
//! permit allows: in a dry run `Permit::Check`, which the backend turns into
//! the system's own validation (`dryRun=All`, EC2 `DryRun=true`,
//! `rsync --dry-run`, a Route53 precondition read); otherwise
//! `Permit::Apply`. It asks before destructive changes, journals every
//! change, redacts secrets, and keeps the plan as data (output.rs renders it).
//!
//! This is mechanical, not a convention: only the gate can make a `Permit`;
//! every backend call that changes something takes `&Permit`; clippy's
//! `disallowed-methods` (see `clippy.toml`) forbids the mutating calls of the
//! SDKs, process spawning, raw HTTP methods and file writes everywhere but in
//! functions that take one, and a test checks where the `#[allow]`s sit. No
//! binding reads the run's mode.
//!
//! Nothing here imports the run or the bindings: the gate talks to a person
//! through [`Console`] (implemented by output.rs) and to the journal.

mod change;
mod command;
mod gate;

pub use change::{Answer, Change, Console, Failure, GateError, Outcome, Permit, Plain, Planned, Replay, Seal};
pub use command::{command, tokio_command};
pub use gate::Mode;
pub(crate) use gate::{Gate, GateContext};
