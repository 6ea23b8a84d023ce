//! YAML values files in a site's git checkout: lossless edits of one key
//! ([`edit`]), the unified diff a dry run shows ([`diff`]), and [`Files`],
//! the family value that reads and replaces a file on disk or, on a world,
//! on host `local` of the `hosts:` section. Replacing takes the gate's
//! `Permit`; under `Permit::Check` it only checks that the write would work.

pub mod diff;
pub mod edit;
mod files;

pub use files::{Error, Files};
