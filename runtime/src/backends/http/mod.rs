//! HTTP, as the `http::` bindings see it: one [`Http`] value, live (reqwest,
//! [`live`]) or on a world (the world's `http:` endpoints and its load
//! balancers, [`world`]), chosen once from the run's target.
//!
//! Reads and changes are different verbs with different method types, so a
//! read cannot send a mutating method by mistake: [`Http::read`] takes a
//! [`Request<Read>`] (GET or HEAD), [`Http::send`] a [`Request<Write>`]
//! (POST, PUT, PATCH, DELETE) and the gate's [`Permit`]. HTTP has no dry run
//! of its own, so under `Permit::Check` `send` asks the URL with a HEAD
//! (which changes nothing) and reports what answered.
//!
//! A request can be pinned ([`Request::connect_to`]): sent to a given
//! address (a load balancer) while the URL's host is still the name TLS
//! (SNI, the certificate check) and `Host` carry, so a check can ask green
//! for `hub.example.org` before DNS says so. Every answer says which address
//! it came from ([`Response::address`]), so a check can tell which of two
//! clusters answered a public name ([`Http::answered_from`]).

pub mod live;
pub mod world;

use std::collections::BTreeMap;
use std::time::Duration;

use super::Target;
use crate::effects::{Failure, Permit};

/// A method that only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `GET`.
    Get,
    /// `HEAD`: the headers of a GET, without the body.
    Head,
}

/// A method that changes something: only [`Http::send`] takes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

/// What a request's method says about itself.
pub trait Method: Copy + std::fmt::Debug {
    /// The method as sent: `GET`, `POST`, ...
    fn name(self) -> &'static str;
}

impl Method for Read {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
        }
    }
}

impl Method for Write {
    fn name(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// A request.
#[derive(Debug, Clone)]
pub struct Request<M> {
    /// The method.
    pub method: M,
    /// The URL, already parsed.
    pub url: url::Url,
    /// A body, with its content type.
    pub body: Option<(String, Vec<u8>)>,
    /// Accept any TLS certificate (self-signed test hubs).
    pub insecure: bool,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// A bearer token (never printed).
    pub bearer: Option<String>,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
    /// Connect here (a host name, resolved by the system resolver, or an
    /// address; `:port` optional) instead of where the URL's host resolves,
    /// still sending the URL's host for TLS and `Host`.
    pub connect_to: Option<String>,
}

impl<M: Method> Request<M> {
    /// The same request as a HEAD without a body: what a check sends.
    #[must_use]
    pub fn head(&self) -> Request<Read> {
        Request {
            method: Read::Head,
            url: self.url.clone(),
            body: None,
            insecure: self.insecure,
            headers: self.headers.clone(),
            bearer: self.bearer.clone(),
            timeout: self.timeout,
            connect_to: self.connect_to.clone(),
        }
    }
}

/// `host`, `host:port`, `1.2.3.4:443` or `[::1]:443` -> (host, port if given).
pub(crate) fn split_address(text: &str) -> Result<(String, Option<u16>), String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not an address (host, host:port, IP or [IPv6]:port)");
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    if text.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((text.to_string(), None));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
        None => (text, None),
    };
    let host = host.trim_end_matches('.');
    if host.is_empty() || host.contains(['/', ' ', '@']) {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// An answer. Serialisable: a resumed run hands back the recorded answer
/// of a request the run it continues sent, instead of sending it again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
    /// The address that answered: live, the IP and port connected to; on a
    /// world, the load balancer of the cluster that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing answered at that address.
    #[error("`{url}` is unreachable")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// No answer within the timeout.
    #[error("`{url}` did not answer within {after}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout, as written.
        after: String,
    },
    /// An address to connect to or to compare with is not one.
    #[error("{0}")]
    Invalid(String),
    /// An address to connect to or to compare with has no addresses.
    #[error("`{address}` does not resolve")]
    Unresolved {
        /// The address as given.
        address: String,
        /// Why.
        #[source]
        source: Option<std::io::Error>,
    },
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "Unreachable",
            Self::Timeout { .. } => "Timeout",
            Self::Invalid(_) => "Invalid",
            Self::Unresolved { .. } => "NotFound",
        }
    }
}

/// The HTTP a run talks to: the network, or the world.
#[derive(Debug, Clone)]
pub enum Http {
    /// The network.
    Live(live::Client),
    /// The world's endpoints and load balancers.
    World(crate::world::Shared),
}

impl Http {
    /// The HTTP of `target`.
    #[must_use]
    pub fn new(target: &Target) -> Self {
        match target {
            Target::Live(_) => Self::Live(live::Client::default()),
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// Sends a GET or HEAD: any status is an answer; only no answer is an
    /// error.
    pub async fn read(&self, req: &Request<Read>) -> Result<Response, Error> {
        match self {
            Self::Live(client) => client.read(req).await,
            Self::World(w) => world::answer(w, req),
        }
    }

    /// Sends a request that changes something. Under `Permit::Check` it
    /// sends a HEAD to the URL instead (something must answer there) and
    /// returns that answer; nothing is changed, on a world nothing recorded.
    pub async fn send(&self, permit: &Permit, req: &Request<Write>) -> Result<Response, Error> {
        match self {
            Self::Live(client) => client.send(permit, req).await,
            Self::World(w) => world::send(w, permit, req),
        }
    }

    /// Whether `response` came from `address` (a host name or an IP, port
    /// optional): live, whether the IP it came from is one `address`
    /// resolves to now; on a world, whether it is that load balancer.
    pub async fn answered_from(&self, response: &Response, address: &str) -> Result<bool, Error> {
        let Some(came_from) = &response.address else { return Ok(false) };
        match self {
            Self::Live(_) => live::same_address(came_from, address).await,
            Self::World(_) => {
                let (a, _) = split_address(came_from).map_err(Error::Invalid)?;
                let (b, _) = split_address(address).map_err(Error::Invalid)?;
                Ok(a == b)
            }
        }
    }
}
