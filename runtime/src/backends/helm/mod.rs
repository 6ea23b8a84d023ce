//! Helm: release records read natively from their Secrets ([`release`]),
//! what an upgrade would change in them ([`values`]), and writes through the
//! `helm` CLI ([`cli`]), the only complete implementation of an upgrade.
//! Nothing here knows Rhai or Kubernetes clients: the Kubernetes family
//! lists the records and hands them over as JSON.
//!
//! Wiring `helm::releases(cluster, ns)`, `release`, `values` and `history`
//! to a cluster: list Secrets in `ns` with label selector
//! [`release::LABEL_SELECTOR`] (add `,name=NAME` for one release), pass the
//! items to [`release::releases`], [`release::release`] or
//! [`release::history`]; on worlds the same Secrets live in the world's
//! cluster, so the same functions read them. On worlds, upgrades and
//! rollbacks write new records ([`world`]).

pub mod cli;
pub mod release;
pub mod values;
pub mod world;
