//! YAML values files in a site's git checkout: lossless edits of one key
//! ([`edit`]) and the unified diff a dry run shows ([`diff`]). Pure text in,
//! text out; reading and writing the file is the binding's business, through
//! the effects gate.

pub mod diff;
pub mod edit;
