//! DNS, as the `dns::` bindings see it: one [`Dns`] value, live (questions on
//! the wire to real servers, [`live`]) or on a world (answers from the
//! world's hosted zones as its `dns:` section says DNS sees them,
//! [`world`]), chosen once from the run's target. DNS is read-only: nothing
//! here changes anything, so no verb takes a `Permit`.
//!
//! A propagation check asks every authoritative server itself, with no
//! cache in between; [`Dns::look`] is one such round of questions.

pub mod live;
pub mod world;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::RecordType;

use super::Target;
use crate::effects::Failure;

/// How long one question may take on the wire.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a question got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name, type or server address that is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The server did not answer in time.
    #[error("DNS server {server} did not answer within {after}")]
    Timeout {
        /// The server.
        server: String,
        /// The timeout.
        after: String,
    },
    /// The server could not be reached or sent garbage.
    #[error("DNS server {server} is unreachable: {why}")]
    Unreachable {
        /// The server.
        server: String,
        /// Why.
        why: String,
    },
    /// No resolver is configured.
    #[error("no DNS resolver is configured (no nameserver in /etc/resolv.conf and HUBOPS_RESOLVER unset)")]
    NoResolver,
    /// The name has no such records.
    #[error("{0}")]
    NotFound(String),
}

impl Failure for Error {
    fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "Invalid",
            Self::Timeout { .. } => "Timeout",
            Self::Unreachable { .. } | Self::NoResolver => "Unreachable",
            Self::NotFound(_) => "NotFound",
        }
    }
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Owner name, without the trailing dot.
    pub name: String,
    /// `A`, `CNAME`, ...
    pub rtype: String,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The data as text: an address, a target name (no trailing dot), TXT text.
    pub value: String,
}

/// What one server answered.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `ip:port` of the server (its host name on a world).
    pub server: String,
    /// `NOERROR`, `NXDOMAIN`, `SERVFAIL`, ...
    pub rcode: String,
    /// Whether the server is authoritative for the name.
    pub authoritative: bool,
    /// The answer section.
    pub records: Vec<Rec>,
    /// The authority section (an SOA there names the zone).
    pub authority: Vec<Rec>,
}

impl Answer {
    /// The values of records of `rtype` for `name` (following a CNAME chain
    /// inside the answer when the type is not CNAME).
    #[must_use]
    pub fn values(&self, name: &str, rtype: &str) -> Vec<String> {
        let mut current = normalize(name);
        let mut hops = 0;
        loop {
            let direct: Vec<String> = self
                .records
                .iter()
                .filter(|r| normalize(&r.name) == current && r.rtype == rtype)
                .map(|r| r.value.clone())
                .collect();
            if !direct.is_empty() || rtype == "CNAME" || hops > 8 {
                return direct;
            }
            match self.records.iter().find(|r| normalize(&r.name) == current && r.rtype == "CNAME") {
                Some(cname) => current = normalize(&cname.value),
                None => return direct,
            }
            hops += 1;
        }
    }
}

/// Lowercase, without the trailing dot.
#[must_use]
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Parses a record type name (`A`, `cname`, ...).
pub fn record_type(text: &str) -> Result<RecordType, Error> {
    RecordType::from_str(&text.to_ascii_uppercase()).map_err(|_| {
        Error::Invalid(format!("`{text}` is not a DNS record type (A, AAAA, CNAME, NS, TXT, MX, SOA, ...)"))
    })
}

/// Parses `ip`, `ip:port` or `[v6]:port`, with `default_port` when none.
pub fn server_addr(text: &str, default_port: u16) -> Result<SocketAddr, Error> {
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Ok(addr);
    }
    IpAddr::from_str(text.trim_matches(['[', ']']))
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| Error::Invalid(format!("`{text}` is not a server address (ip or ip:port)")))
}

/// An authoritative server of a zone.
#[derive(Debug, Clone)]
pub struct NameServer {
    /// Its host name.
    pub host: String,
    /// Its addresses, with the port authoritative servers are asked on
    /// (none on a world, where servers are known by name only).
    pub addrs: Vec<SocketAddr>,
}

/// Which servers a propagation check asks.
#[derive(Debug, Clone)]
pub enum Via {
    /// Every authoritative server of the name's zone.
    Authoritative,
    /// The resolver (the first system resolver; the world's resolver).
    Resolver,
    /// These servers (`ip[:port]` live; host names on a world).
    Servers(Vec<String>),
}

/// A server to put a question to, as [`Dns::servers`] found it.
#[derive(Debug, Clone)]
pub struct Server {
    /// How people know it: a name server's host name, or an address.
    pub label: String,
    /// Where it is asked: `ip:port` live, the host name on a world.
    pub address: String,
    to: To,
}

/// Where a question goes.
#[derive(Debug, Clone)]
enum To {
    /// A live server; `true` asks for recursion (a resolver).
    Addr(SocketAddr, bool),
    /// A world's name server, by host name.
    Host(String),
    /// A world's resolver.
    Resolver,
}

impl To {
    /// A server a script names on a world: `resolver`, or a name server.
    fn on_world(text: &str) -> Self {
        match normalize(text) {
            host if host == "resolver" => Self::Resolver,
            host => Self::Host(host),
        }
    }
}

/// What one server answered in a [`Dns::look`].
#[derive(Debug, Clone)]
pub struct Seen {
    /// The server asked.
    pub server: Server,
    /// The values it answered (normalized).
    pub values: Vec<String>,
    /// The shortest TTL of its answer, if it answered records.
    pub ttl: Option<u32>,
    /// Why it gave no answer, if it did not.
    pub error: Option<String>,
    /// Whether its values are exactly the expected ones.
    pub agree: bool,
}

impl Seen {
    /// `ns2.example.org answers blue.lb, cached for up to 60s`.
    #[must_use]
    pub fn describe(&self) -> String {
        let now = if self.values.is_empty() {
            self.error.clone().unwrap_or_else(|| "nothing".into())
        } else {
            self.values.join(", ")
        };
        let ttl = self.ttl.map(|t| format!(", cached for up to {t}s")).unwrap_or_default();
        format!("{} answers {now}{ttl}", self.server.label)
    }
}

/// The DNS a run sees: live servers, or the world's.
#[derive(Debug, Clone)]
pub enum Dns {
    /// Questions on the wire.
    Live {
        /// How long one question may take.
        timeout: Duration,
    },
    /// Answers from the world.
    World(crate::world::Shared),
}

impl Dns {
    /// The DNS of `target`.
    #[must_use]
    pub fn new(target: &Target) -> Self {
        match target {
            Target::Live(_) => Self::Live { timeout: QUERY_TIMEOUT },
            Target::World(world) => Self::World(world.clone()),
        }
    }

    /// Asks the resolver (the system's, or the world's).
    pub async fn resolve(&self, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        match self {
            Self::Live { timeout } => live::resolve(name, rtype, *timeout).await,
            Self::World(w) => world::resolve(w, name, &rtype.to_string()),
        }
    }

    /// Asks one server (`ip[:port]` live, port 53 by default; a name server's
    /// host name, or `resolver`, on a world) without recursion.
    pub async fn query(&self, server: &str, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        let to = match self {
            Self::Live { .. } => To::Addr(server_addr(server, 53)?, false),
            Self::World(_) => To::on_world(server),
        };
        self.ask_to(&to, name, rtype).await
    }

    /// The zone a name belongs to (the owner of its SOA).
    pub async fn zone_of(&self, name: &str) -> Result<String, Error> {
        match self {
            Self::Live { timeout } => live::zone_of(name, *timeout).await,
            Self::World(w) => world::zone_of(w, name),
        }
    }

    /// The authoritative servers of `zone`.
    pub async fn nameservers(&self, zone: &str) -> Result<Vec<NameServer>, Error> {
        match self {
            Self::Live { timeout } => live::nameservers(zone, *timeout).await,
            Self::World(w) => Ok(world::nameservers(w, zone)?
                .into_iter()
                .map(|host| NameServer { host, addrs: Vec::new() })
                .collect()),
        }
    }

    /// The servers a propagation check of `name` asks.
    pub async fn servers(&self, name: &str, via: &Via) -> Result<Vec<Server>, Error> {
        match (self, via) {
            (_, Via::Authoritative) => {
                let zone = self.zone_of(name).await?;
                let mut servers = Vec::new();
                for ns in self.nameservers(&zone).await? {
                    match self {
                        Self::World(_) => {
                            let to = To::Host(ns.host.clone());
                            servers.push(Server { label: ns.host.clone(), address: ns.host, to });
                        }
                        Self::Live { .. } => servers.extend(ns.addrs.iter().map(|a| Server {
                            label: ns.host.clone(),
                            address: a.to_string(),
                            to: To::Addr(*a, false),
                        })),
                    }
                }
                Ok(servers)
            }
            (Self::Live { .. }, Via::Resolver) => Ok(live::system_resolvers()?
                .into_iter()
                .take(1)
                .map(|a| Server { label: a.to_string(), address: a.to_string(), to: To::Addr(a, true) })
                .collect()),
            (Self::World(_), Via::Resolver) => {
                Ok(vec![Server { label: "resolver".into(), address: "resolver".into(), to: To::Resolver }])
            }
            (Self::Live { .. }, Via::Servers(list)) => list
                .iter()
                .map(|s| {
                    let addr = server_addr(s, 53)?;
                    Ok(Server { label: addr.to_string(), address: addr.to_string(), to: To::Addr(addr, false) })
                })
                .collect(),
            (Self::World(_), Via::Servers(list)) => Ok(list
                .iter()
                .map(|s| Server { label: normalize(s), address: normalize(s), to: To::on_world(s) })
                .collect()),
        }
    }

    /// Asks one server that [`Self::servers`] found.
    pub async fn ask(&self, server: &Server, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        self.ask_to(&server.to, name, rtype).await
    }

    /// Asks every server once and compares each answer with `expected`
    /// (normalized values): one round of a propagation check. A server that
    /// does not answer disagrees; it does not end the check.
    pub async fn look(
        &self,
        servers: &[Server],
        name: &str,
        rtype: RecordType,
        expected: &BTreeSet<String>,
    ) -> Vec<Seen> {
        let canonical = rtype.to_string();
        let mut seen = Vec::with_capacity(servers.len());
        for server in servers {
            let (values, ttl, error) = match self.ask(server, name, rtype).await {
                Ok(a) => (a.values(name, &canonical), a.records.iter().map(|r| r.ttl).min(), None),
                Err(e) => (Vec::new(), None, Some(e.to_string())),
            };
            let values: Vec<String> = values.iter().map(|v| normalize(v)).collect();
            let agree = values.iter().cloned().collect::<BTreeSet<_>>() == *expected;
            seen.push(Seen { server: server.clone(), values, ttl, error, agree });
        }
        seen
    }

    async fn ask_to(&self, to: &To, name: &str, rtype: RecordType) -> Result<Answer, Error> {
        match (self, to) {
            (Self::Live { timeout }, To::Addr(addr, recursion)) => {
                live::query(*addr, name, rtype, *timeout, *recursion).await
            }
            (Self::World(w), To::Host(host)) => world::authoritative(w, host, name, &rtype.to_string()),
            (Self::World(w), To::Resolver) => world::resolve(w, name, &rtype.to_string()),
            // Servers come from the same value's `servers`, so a live value
            // never holds a world's server or the other way round.
            (Self::Live { .. }, To::Host(host)) => Err(Error::Invalid(format!("`{host}` is not a server address"))),
            (Self::Live { .. }, To::Resolver) => Err(Error::Invalid("`resolver` is not a server address".into())),
            (Self::World(_), To::Addr(addr, _)) => {
                Err(Error::Invalid(format!("`{addr}` is not a name server of the world")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_cname_chains_inside_an_answer() {
        let rec = |name: &str, rtype: &str, value: &str| Rec {
            name: name.into(),
            rtype: rtype.into(),
            ttl: 60,
            value: value.into(),
        };
        let answer = Answer {
            server: "x".into(),
            rcode: "NOERROR".into(),
            authoritative: false,
            records: vec![rec("hub.example.org", "CNAME", "lb.aws.com"), rec("lb.aws.com", "A", "192.0.2.1")],
            authority: vec![],
        };
        assert_eq!(answer.values("Hub.Example.org.", "A"), ["192.0.2.1"]);
        assert_eq!(answer.values("hub.example.org", "CNAME"), ["lb.aws.com"]);
    }

    #[test]
    fn parses_server_addresses_and_types() {
        assert_eq!(server_addr("127.0.0.2", 5353).unwrap().to_string(), "127.0.0.2:5353");
        assert_eq!(server_addr("127.0.0.2:53", 1).unwrap().port(), 53);
        assert!(server_addr("ns1.example.org", 53).is_err());
        assert_eq!(record_type("cname").unwrap(), RecordType::CNAME);
        assert!(record_type("NOPE").unwrap_err().to_string().contains("not a DNS record type"));
    }

    /// `hub` moved from blue to green at the world's start; ns1 sees it
    /// 20s later, ns2 2m later.
    fn moved() -> crate::world::Shared {
        let text = "name: t\nstart: 2026-11-21T06:00:00Z\naws:\n  accounts:\n    a:\n      zones:\n        - id: Z1\n          name: example.org\n          records:\n            - { name: hub.example.org, type: CNAME, ttl: 60, values: [green.lb] }\n          changes:\n            - change: C1\n              at: 2026-11-21T06:00:00Z\n              name: hub.example.org.\n              type: CNAME\n              before: { name: hub.example.org., type: CNAME, ttl: 60, values: [blue.lb] }\n              after: { name: hub.example.org., type: CNAME, ttl: 60, values: [green.lb] }\ndns:\n  zones:\n    example.org:\n      nameservers:\n        - { host: ns1.example.net, delay: 20s }\n        - { host: ns2.example.net, delay: 2m }\n";
        let sections: &[(&str, crate::world::SectionLoader)] =
            &[("aws", crate::backends::aws::world::load_world), ("dns", world::load_world)];
        let w = crate::world::World::load(text, "t.yaml", sections).unwrap();
        let start = w.start();
        crate::world::Shared::new(w, std::sync::Arc::new(crate::clock::Clock::starting_at(start)))
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn a_world_dns_asks_each_name_server_on_the_run_clock() {
        let shared = moved();
        let dns = Dns::World(shared.clone());
        let green: BTreeSet<String> = ["green.lb".to_string()].into();
        let agree = |via: &Via| {
            block_on(async {
                let servers = dns.servers("hub.example.org", via).await.unwrap();
                let seen = dns.look(&servers, "hub.example.org", RecordType::CNAME, &green).await;
                seen.iter().map(|s| (s.server.label.clone(), s.agree)).collect::<Vec<_>>()
            })
        };
        let both = |a: bool, b: bool| vec![("ns1.example.net".to_string(), a), ("ns2.example.net".to_string(), b)];
        assert_eq!(agree(&Via::Authoritative), both(false, false));
        shared.clock().sleep(Duration::from_mins(1), &crate::cancel::Cancel::default(), |_| {}).unwrap();
        assert_eq!(agree(&Via::Authoritative), both(true, false));
        // The resolver may still hold blue for one TTL after ns1 has green.
        assert_eq!(agree(&Via::Resolver), [("resolver".to_string(), false)]);
        assert_eq!(agree(&Via::Servers(vec!["NS1.example.net.".into()])), [("ns1.example.net".to_string(), true)]);
        shared.clock().sleep(Duration::from_mins(1), &crate::cancel::Cancel::default(), |_| {}).unwrap();
        assert_eq!(agree(&Via::Authoritative), both(true, true));
        assert_eq!(agree(&Via::Resolver), [("resolver".to_string(), true)]);

        let seen = block_on(async {
            let servers = dns.servers("hub.example.org", &Via::Servers(vec!["ns9.example.net".into()])).await.unwrap();
            dns.look(&servers, "hub.example.org", RecordType::CNAME, &green).await
        });
        assert!(!seen[0].agree);
        assert_eq!(
            seen[0].describe(),
            "ns9.example.net answers DNS server ns9.example.net is unreachable: it is not a name server of `example.org`"
        );
        // A world never sends a question on the wire: an address is not one
        // of its servers.
        let err = block_on(dns.query("127.0.0.1:53", "hub.example.org", RecordType::CNAME)).unwrap_err();
        assert_eq!(err.kind(), "Unreachable", "{err}");
    }
}
