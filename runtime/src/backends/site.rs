//! Views across a world's parts, for simulations that need more than one
//! family: DNS answers come from the hosted zones (`aws:`), as the `dns:`
//! section says DNS sees them; an HTTPS request to a hub goes where DNS
//! points (a CNAME chain, then its A records), to the cluster whose load
//! balancer has that name or address, or whose Ingress for that host has
//! it, and its `/hub/health` answers from the `hub` Deployment behind it.
//! A name that DNS leads to an address nothing in the world has is
//! unreachable, as it would be live. Each family's part stays the only
//! owner of its state; this module reads them together.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::backends::aws::world::AwsWorld;
use crate::backends::dns::world::{DnsWorld, DnsZone, Server};
use crate::backends::http::{self, Response};
use crate::backends::k8s::world::K8sWorld;
use crate::world::World;

/// `(ttl, values)` of record `name`/`rtype` as it was at `at`, from the
/// world's hosted zones.
pub(crate) fn record_at(world: &World, name: &str, rtype: &str, at: Timestamp) -> Option<(u32, Vec<String>)> {
    let record = world.part::<AwsWorld>("aws")?.record_at(name, rtype, at)?;
    // An alias answers with its target's name, as the records a resolver
    // would chase; Route53 gives aliases the target's TTL, 60s for an ELB.
    let values = match &record.alias {
        Some(alias) => vec![alias.dns_name.clone()],
        None => record.values.clone(),
    };
    let ttl = record.ttl.and_then(|t| u32::try_from(t).ok()).unwrap_or(60);
    Some((ttl, values))
}

/// How DNS sees the world: its `dns:` section, or, for a world without one,
/// one name server per public hosted zone that has every change at once.
pub(crate) fn dns_view(world: &World) -> DnsWorld {
    if let Some(dns) = world.part::<DnsWorld>("dns") {
        return dns.clone();
    }
    let mut view = DnsWorld::default();
    if let Some(aws) = world.part::<AwsWorld>("aws") {
        for zone in aws.accounts.values().flat_map(|a| &a.zones).filter(|z| !z.private) {
            let name = zone.name.trim_end_matches('.').to_string();
            let server = Server { host: format!("ns.{name}"), delay: "0s".into() };
            view.zones.insert(name, DnsZone { nameservers: vec![server] });
        }
    }
    view
}

/// Where `host` leads through the world's resolver: the end of its CNAME
/// chain and that name's A records, or `None` when DNS has never heard of
/// it (a name of no zone in the world, or one without records).
pub(crate) fn follow(world: &World, host: &str, now: Timestamp) -> Option<Vec<String>> {
    let dns = dns_view(world);
    let lookup = |n: &str, t: &str, at: Timestamp| record_at(world, n, t, at);
    let mut name = host.to_ascii_lowercase().trim_end_matches('.').to_string();
    let mut known = false;
    for _ in 0..8 {
        let answer = dns.resolve(&name, "CNAME", now, &lookup);
        match answer.ok().and_then(|a| a.values(&name, "CNAME").into_iter().next()) {
            Some(target) => {
                known = true;
                name = target.trim_end_matches('.').to_string();
            }
            None => break,
        }
    }
    let addresses: Vec<String> = ["A", "AAAA"]
        .iter()
        .filter_map(|t| dns.resolve(&name, t, now, &lookup).ok().map(|a| a.values(&name, t)))
        .flatten()
        .collect();
    if !known && addresses.is_empty() {
        return None;
    }
    Some(std::iter::once(name).chain(addresses).collect())
}

/// Whether a `status.loadBalancer.ingress` list has one of `addresses`.
fn has_address(obj: &Value, addresses: &[String]) -> bool {
    obj.pointer("/status/loadBalancer/ingress").and_then(Value::as_array).is_some_and(|list| {
        list.iter().any(|i| {
            ["hostname", "ip"].iter().any(|k| {
                i.get(*k).and_then(Value::as_str).is_some_and(|v| {
                    addresses.iter().any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(v.trim_end_matches('.')))
                })
            })
        })
    })
}

/// What a request for `host` reaches at `addresses`.
enum Reached {
    /// A `LoadBalancer` Service with one of them, or an Ingress with one of
    /// them and a rule for `host` (or for every host): its cluster and
    /// namespace.
    Hub(String, String),
    /// An Ingress with one of them but no rule for `host`: its controller
    /// answers 404.
    NoRule,
}

fn service_behind(clusters: &K8sWorld, host: &str, addresses: &[String]) -> Option<Reached> {
    let kind = |o: &Value| o.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let ns_of = |o: &Value| o.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default").to_string();
    let mut no_rule = false;
    for (context, cluster) in &clusters.clusters {
        for obj in &cluster.objects {
            let reached = match kind(obj).as_str() {
                "Service" => has_address(obj, addresses),
                "Ingress" if has_address(obj, addresses) => {
                    let rule = obj.pointer("/spec/rules").and_then(Value::as_array).is_some_and(|rules| {
                        rules
                            .iter()
                            .any(|r| r.get("host").and_then(Value::as_str).is_none_or(|h| h.eq_ignore_ascii_case(host)))
                    });
                    no_rule |= !rule;
                    rule
                }
                _ => false,
            };
            if reached {
                return Some(Reached::Hub(context.clone(), ns_of(obj)));
            }
        }
    }
    no_rule.then_some(Reached::NoRule)
}

fn hub_ready(clusters: &K8sWorld, context: &str, ns: &str) -> bool {
    clusters.clusters.get(context).is_some_and(|c| {
        c.objects.iter().any(|o| {
            o.get("kind").and_then(Value::as_str) == Some("Deployment")
                && o.pointer("/metadata/name").and_then(Value::as_str) == Some("hub")
                && o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
                && o.pointer("/status/readyReplicas").and_then(Value::as_i64).unwrap_or(0) >= 1
        })
    })
}

/// Answers an HTTP(S) request to a host that DNS leads to one of the
/// world's load balancers or ingresses, or, pinned (`connect_to`), to that
/// address whatever DNS says. `None` when the request leads to nothing in
/// the world.
pub(crate) fn route(
    world: &mut World,
    url: &url::Url,
    connect_to: Option<&str>,
    now: Timestamp,
) -> Option<Result<Response, http::Error>> {
    let host = url.host_str()?.to_string();
    let addresses = match connect_to {
        Some(pinned) => match http::split_address(pinned) {
            Ok((address, _)) => vec![address],
            Err(why) => return Some(Err(http::Error::Invalid(why))),
        },
        None => follow(world, &host, now).unwrap_or_else(|| vec![host.clone()]),
    };
    // Which address answered: the load balancer's name DNS led to (or the
    // pinned address), as a check compares it.
    let address = addresses.first().cloned().unwrap_or_else(|| host.clone());
    let elapsed = Duration::try_from(now.duration_since(world.start())).unwrap_or_default();
    let clusters = world.part_mut::<K8sWorld>("clusters")?;
    clusters.settle(elapsed);
    let text = |status: u16, body: &str| Response {
        status,
        headers: std::collections::BTreeMap::new(),
        body: body.into(),
        address: Some(address.clone()),
    };
    let (context, ns) = match service_behind(clusters, &host, &addresses)? {
        Reached::Hub(context, ns) => (context, ns),
        Reached::NoRule => return Some(Ok(text(404, "default backend - 404"))),
    };
    Some(Ok(match url.path() {
        "/hub/health" if hub_ready(clusters, &context, &ns) => text(200, ""),
        "/hub/health" => text(503, &format!("no ready hub in {ns} on {context}")),
        _ => text(404, "not found"),
    }))
}
