//! Views across a world's parts, for simulations that need more than one
//! family: DNS answers come from the hosted zones; an HTTPS request to a
//! hub goes where DNS points. Each family's part stays the only owner of its
//! state; this module only reads them together.

use jiff::Timestamp;

use super::World;

/// `(ttl, values)` of record `name`/`rtype` as it was at `at`, from the
/// world's hosted zones.
pub(crate) fn record_at(world: &World, name: &str, rtype: &str, at: Timestamp) -> Option<(u32, Vec<String>)> {
    let _ = (world, name, rtype, at);
    None
}
