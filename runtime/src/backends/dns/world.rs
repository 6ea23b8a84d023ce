//! DNS on a world. The records themselves live in the world's hosted zones
//! (the `aws:` section, Route53); this part says how DNS *sees* them: which
//! authoritative servers each zone has and how long a change takes to reach
//! each one, plus a resolver that may hold an answer for its TTL. So a
//! rehearsal shows what a live cutover shows: one server agreeing before
//! another, and resolvers holding the old answer until it expires.
//!
//! The verbs at the end ([`resolve`], [`authoritative`], [`zone_of`],
//! [`nameservers`]) answer on the run's clock from the whole world (see
//! `backends::site`); like DNS itself they only read.
//!
//! ```yaml
//! dns:
//!   zones:
//!     cal-adapt.org:
//!       nameservers:
//!         - { host: ns-101.awsdns-12.com, delay: 20s }
//!         - { host: ns-1602.awsdns-08.co.uk, delay: 2m }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{normalize, Answer, Error, Rec};
use crate::backends::site;
use crate::world::{Shared, WorldPart};

/// How records look at an instant: `(ttl, values)` of `name`/`type` at `at`.
pub type Lookup<'a> = &'a dyn Fn(&str, &str, Timestamp) -> Option<(u32, Vec<String>)>;

/// The `dns:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsWorld {
    /// Zones by name, with their authoritative servers.
    #[serde(default)]
    pub zones: BTreeMap<String, DnsZone>,
}

/// A zone as DNS serves it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsZone {
    /// The authoritative servers.
    pub nameservers: Vec<Server>,
}

/// An authoritative server and how late changes reach it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Its host name.
    pub host: String,
    /// How long after a change it answers the new value: `20s`, `2m`.
    #[serde(default = "no_delay")]
    pub delay: String,
}

fn no_delay() -> String {
    "0s".into()
}

impl WorldPart for DnsWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Loads the `dns:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let world: DnsWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (zone, z) in &world.zones {
        if z.nameservers.is_empty() {
            return Err(format!("zone `{zone}` has no nameservers"));
        }
        for ns in &z.nameservers {
            crate::duration::parse(&ns.delay)
                .map_err(|e| format!("zone `{zone}`, server `{}`: `delay`: {e}", ns.host))?;
        }
    }
    Ok(Box::new(world))
}

fn delay_of(server: &Server) -> Duration {
    crate::duration::parse(&server.delay).unwrap_or_default()
}

fn before(at: Timestamp, delay: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(delay).ok().and_then(|d| at.checked_sub(d).ok()).unwrap_or(Timestamp::MIN)
}

impl DnsWorld {
    /// The zone `name` is in (the longest matching zone).
    #[must_use]
    pub fn zone_of(&self, name: &str) -> Option<String> {
        let name = normalize(name);
        self.zones
            .keys()
            .map(|z| normalize(z))
            .filter(|z| name == *z || name.ends_with(&format!(".{z}")))
            .max_by_key(String::len)
    }

    fn zone(&self, zone: &str) -> Option<&DnsZone> {
        self.zones.iter().find(|(z, _)| normalize(z) == normalize(zone)).map(|(_, z)| z)
    }

    /// The authoritative servers of `zone`.
    pub fn nameservers(&self, zone: &str) -> Result<Vec<String>, Error> {
        self.zone(zone)
            .map(|z| z.nameservers.iter().map(|s| normalize(&s.host)).collect())
            .ok_or_else(|| Error::NotFound(format!("`{zone}` has no NS records: is it a zone?")))
    }

    /// What authoritative server `host` answers for `name`/`rtype` at `now`.
    pub fn authoritative(
        &self,
        host: &str,
        name: &str,
        rtype: &str,
        now: Timestamp,
        lookup: Lookup<'_>,
    ) -> Result<Answer, Error> {
        let zone = self.zone_of(name).ok_or_else(|| Error::Unreachable {
            server: host.into(),
            why: format!("it serves no zone holding `{name}`"),
        })?;
        let server = self
            .zone(&zone)
            .and_then(|z| z.nameservers.iter().find(|s| normalize(&s.host) == normalize(host)))
            .ok_or_else(|| Error::Unreachable {
                server: host.into(),
                why: format!("it is not a name server of `{zone}`"),
            })?;
        Ok(answer(host, true, name, rtype, lookup(name, rtype, before(now, delay_of(server)))))
    }

    /// What a resolver answers, in the worst case an operator must plan
    /// for: it fetched the record just before the change reached the zone's
    /// first server and keeps that answer for the record's TTL. So after a
    /// change the resolver answers the old value for one TTL more than the
    /// first server does.
    pub fn resolve(&self, name: &str, rtype: &str, now: Timestamp, lookup: Lookup<'_>) -> Result<Answer, Error> {
        let zone =
            self.zone_of(name).ok_or_else(|| Error::NotFound(format!("no zone found for `{name}` (no SOA record)")))?;
        let first = self.zone(&zone).and_then(|z| z.nameservers.first()).map(delay_of).unwrap_or_default();
        let served = before(now, first);
        let ttl = lookup(name, rtype, served).map_or(0, |(ttl, _)| ttl);
        let cached = lookup(name, rtype, before(served, Duration::from_secs(u64::from(ttl))));
        Ok(answer("resolver", false, name, rtype, cached.or_else(|| lookup(name, rtype, served))))
    }
}

fn answer(server: &str, authoritative: bool, name: &str, rtype: &str, found: Option<(u32, Vec<String>)>) -> Answer {
    let (rcode, records) = match found {
        Some((ttl, values)) => (
            "NOERROR",
            values
                .into_iter()
                .map(|v| Rec { name: normalize(name), rtype: rtype.to_ascii_uppercase(), ttl, value: normalize(&v) })
                .collect(),
        ),
        None => ("NXDOMAIN", Vec::new()),
    };
    Answer { server: server.into(), rcode: rcode.into(), authoritative, records, authority: Vec::new() }
}

/// What the world's resolver answers now.
pub(crate) fn resolve(world: &Shared, name: &str, rtype: &str) -> Result<Answer, Error> {
    let now = world.now();
    let w = world.lock();
    site::dns_view(&w).resolve(name, rtype, now, &|n, t, at| site::record_at(&w, n, t, at))
}

/// What the world's name server `host` answers now.
pub(crate) fn authoritative(world: &Shared, host: &str, name: &str, rtype: &str) -> Result<Answer, Error> {
    let now = world.now();
    let w = world.lock();
    site::dns_view(&w).authoritative(host, name, rtype, now, &|n, t, at| site::record_at(&w, n, t, at))
}

/// The world's zone of `name`.
pub(crate) fn zone_of(world: &Shared, name: &str) -> Result<String, Error> {
    site::dns_view(&world.lock())
        .zone_of(name)
        .ok_or_else(|| Error::NotFound(format!("no zone found for `{name}` (no SOA record)")))
}

/// The host names of the world's name servers of `zone`.
pub(crate) fn nameservers(world: &Shared, zone: &str) -> Result<Vec<String>, Error> {
    site::dns_view(&world.lock()).nameservers(zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    // hub -> blue until 06:00:00, green from then on.
    fn lookup(name: &str, _rtype: &str, at: Timestamp) -> Option<(u32, Vec<String>)> {
        (name == "hub.example.org")
            .then(|| (60, vec![if at < t("2026-11-21T06:00:00Z") { "blue.lb" } else { "green.lb" }.to_string()]))
    }

    fn world() -> DnsWorld {
        let section = serde_json::json!({ "zones": { "example.org": { "nameservers": [
            { "host": "ns1.example.net", "delay": "20s" }, { "host": "ns2.example.net", "delay": "2m" } ] } } });
        let part = load_world(&section).unwrap();
        part.as_any().downcast_ref::<DnsWorld>().unwrap().clone()
    }

    #[test]
    fn each_server_sees_a_change_after_its_own_delay() {
        let w = world();
        let at = t("2026-11-21T06:01:00Z");
        let ns1 = w.authoritative("ns1.example.net", "hub.example.org", "CNAME", at, &lookup).unwrap();
        let ns2 = w.authoritative("ns2.example.net", "hub.example.org", "CNAME", at, &lookup).unwrap();
        assert_eq!(ns1.values("hub.example.org", "CNAME"), ["green.lb"]);
        assert_eq!(ns2.values("hub.example.org", "CNAME"), ["blue.lb"]);
        assert!(w.authoritative("ns9.example.net", "hub.example.org", "CNAME", at, &lookup).is_err());
        assert_eq!(w.zone_of("Hub.Example.org.").as_deref(), Some("example.org"));
    }

    #[test]
    fn the_resolver_may_hold_the_old_answer_for_one_ttl() {
        let w = world();
        // The first server has the change at 06:00:20; the resolver's copy
        // from just before then lasts until 06:01:20.
        let at =
            |s: &str| w.resolve("hub.example.org", "CNAME", t(s), &lookup).unwrap().values("hub.example.org", "CNAME");
        assert_eq!(at("2026-11-21T05:59:50Z"), ["blue.lb"]);
        assert_eq!(at("2026-11-21T06:01:10Z"), ["blue.lb"]);
        assert_eq!(at("2026-11-21T06:01:20Z"), ["green.lb"]);
        assert!(w.resolve("nowhere.example.com", "CNAME", t("2026-11-21T06:00:00Z"), &lookup).is_err());
    }
}
