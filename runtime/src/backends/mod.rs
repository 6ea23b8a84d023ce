//! The systems behind the bindings. Each family has a live implementation
//! and a simulated one that works on the world. Nothing here knows Rhai;
//! mutating calls take an `effects::Permit`.

pub mod aws;
pub mod http;
