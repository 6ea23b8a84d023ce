//! SHA-256 digests in hex, for change keys, world digests and lock file
//! names. A leaf: it imports nothing of hubops.

use std::fmt::Write as _;

use sha2::Digest as _;

/// The first `bytes` bytes of the SHA-256 of `data`, in hex (all 32 for a
/// full digest).
pub(crate) fn sha256_hex(data: &[u8], bytes: usize) -> String {
    sha2::Sha256::digest(data).iter().take(bytes).fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}
