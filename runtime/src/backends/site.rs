//! Views across a world's parts, for simulations that need more than one
//! family: DNS answers come from the hosted zones (`aws:`), as the `dns:`
//! section says DNS sees them; an HTTPS request to a hub goes where DNS
//! points, to the cluster whose load balancer has that name, and its
//! `/hub/health` answers from that cluster's `hub` Deployment. Each family's
//! part stays the only owner of its state; this module reads them together.

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
/// chain, or `None` when DNS has never heard of it.
fn follow(world: &World, host: &str, now: Timestamp) -> Option<String> {
    let dns = dns_view(world);
    let lookup = |n: &str, t: &str, at: Timestamp| record_at(world, n, t, at);
    let mut name = host.to_ascii_lowercase();
    let mut known = false;
    for _ in 0..8 {
        let answer = dns.resolve(&name, "CNAME", now, &lookup);
        match answer.ok().and_then(|a| a.values(&name, "CNAME").into_iter().next()) {
            Some(target) => {
                known = true;
                name = target;
            }
            None => break,
        }
    }
    known.then_some(name)
}

fn service_behind(clusters: &K8sWorld, address: &str) -> Option<(String, String)> {
    for (context, cluster) in &clusters.clusters {
        for obj in &cluster.objects {
            if obj.get("kind").and_then(Value::as_str) != Some("Service") {
                continue;
            }
            let ingress = obj.pointer("/status/loadBalancer/ingress").and_then(Value::as_array);
            let matches = ingress.is_some_and(|list| {
                list.iter().any(|i| {
                    ["hostname", "ip"]
                        .iter()
                        .any(|k| i.get(*k).and_then(Value::as_str).is_some_and(|v| v.eq_ignore_ascii_case(address)))
                })
            });
            if matches {
                let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("default");
                return Some((context.clone(), ns.to_string()));
            }
        }
    }
    None
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
/// world's load balancers, or, pinned (`connect_to`), to that load balancer
/// whatever DNS says. `None` when the request leads nowhere in the world.
pub(crate) fn route(
    world: &mut World,
    url: &url::Url,
    connect_to: Option<&str>,
    now: Timestamp,
) -> Option<Result<Response, http::Error>> {
    let host = url.host_str()?.to_string();
    let address = match connect_to {
        Some(pinned) => match http::split_address(pinned) {
            Ok((address, _)) => address,
            Err(why) => return Some(Err(http::Error::Invalid(why))),
        },
        None => follow(world, &host, now).unwrap_or_else(|| host.clone()),
    };
    let elapsed = Duration::try_from(now.duration_since(world.start())).unwrap_or_default();
    let clusters = world.part_mut::<K8sWorld>("clusters")?;
    clusters.settle(elapsed);
    let (context, ns) = service_behind(clusters, &address)?;
    let text = |status: u16, body: &str| Response {
        status,
        headers: std::collections::BTreeMap::new(),
        body: body.into(),
        address: Some(address.clone()),
    };
    Some(Ok(match url.path() {
        "/hub/health" if hub_ready(clusters, &context, &ns) => text(200, ""),
        "/hub/health" => text(503, &format!("no ready hub in {ns} on {context}")),
        _ => text(404, "not found"),
    }))
}
