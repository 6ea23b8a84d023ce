//! The systems behind the bindings. Each family has a live implementation
//! and a simulated one that works on the world. Nothing here knows Rhai;
//! mutating calls take an `effects::Permit`.

pub mod argocd;
pub mod aws;
pub mod dns;
pub mod dns_world;
pub mod helm;
pub mod http;
pub mod k8s;
pub mod shell;
pub mod yaml;
