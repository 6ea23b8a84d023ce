//! Helm: release records read natively from their Secrets ([`release`]),
//! and writes through the `helm` CLI, the only complete implementation of
//! an upgrade. Nothing here knows Rhai or Kubernetes clients: the Kubernetes
//! family lists the records and hands them over as JSON.

pub mod cli;
pub mod release;
pub mod values;
