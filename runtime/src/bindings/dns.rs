//! `dns::` - lookups and propagation waits. A cutover is done when every
//! authoritative server of the zone answers the new value, not when one
//! resolver does; `wait_for` asks each of them itself and shows who agrees.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::{duration_arg, script_error, ScriptResult};
use crate::backends::dns::{self as backend, Answer};
use crate::backends::dns_world::DnsWorld;
use crate::backends::site;
use crate::journal::Event;
use crate::output::Tone;
use crate::run::Run;
use crate::world::World;

const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_WAIT: Duration = Duration::from_mins(15);
const DEFAULT_EVERY: Duration = Duration::from_secs(10);

#[export_module]
pub(crate) mod dns {
    /// Resolves a name through the system resolver (`HUBOPS_RESOLVER` or
    /// /etc/resolv.conf). Returns `#{name, type, values, chain, ttl, server}`;
    /// `chain` lists the CNAMEs followed. A name that does not exist is an
    /// error (`kind` `NotFound`); one without records of the type has no values.
    ///
    /// ```rhai
    /// let r = dns::resolve("hub.example.org", "CNAME");
    /// print(r.values);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn resolve(ctx: NativeCallContext, name: &str, rtype: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::resolve(&ctx, name, rtype)
    }

    /// Asks one server (`ip` or `ip:port`) one question, without recursion.
    /// Returns `#{server, rcode, authoritative, values, records}`.
    ///
    /// ```rhai
    /// let a = dns::query("hub.example.org", "CNAME", "205.251.192.1");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn query(
        ctx: NativeCallContext,
        name: &str,
        rtype: &str,
        server: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::query_one(&ctx, name, rtype, server)
    }

    /// The zone a name belongs to (the owner of its SOA).
    ///
    /// ```rhai
    /// let zone = dns::zone_of("hub.example.org");   // "example.org"
    /// ```
    #[rhai_fn(return_raw)]
    pub fn zone_of(ctx: NativeCallContext, name: &str) -> Result<String, Box<EvalAltResult>> {
        super::zone_of(&ctx, name)
    }

    /// The authoritative servers of a zone: `[#{host, addrs}]`.
    ///
    /// ```rhai
    /// for ns in dns::nameservers("example.org") { print(ns.host); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn nameservers(ctx: NativeCallContext, zone: &str) -> Result<Array, Box<EvalAltResult>> {
        super::nameservers(&ctx, zone)
    }

    /// Waits until `name` answers `expected` (a value or a list of values) on
    /// every authoritative server of its zone, for at most 15 minutes.
    ///
    /// ```rhai
    /// dns::wait_for("hub.example.org", green_lb);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn wait_for(ctx: NativeCallContext, name: &str, expected: Dynamic) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_for(&ctx, name, &expected, &rhai::Map::new())
    }

    /// Waits with options: `timeout` (default "15m"), `every` (default
    /// "10s"), `type` (default A for addresses, else CNAME), `via`:
    /// `"authoritative"` (default: every authoritative server must agree),
    /// `"resolver"`, or a list of servers. In a dry run it checks once and
    /// reports "would wait" instead of waiting.
    ///
    /// ```rhai
    /// dns::wait_for("hub.example.org", green_lb, #{ timeout: "20m", via: "resolver" });
    /// ```
    #[rhai_fn(name = "wait_for", return_raw)]
    pub fn wait_for_with(
        ctx: NativeCallContext,
        name: &str,
        expected: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_for(&ctx, name, &expected, &options)
    }
}

fn dns_error(run: &Run, e: &backend::Error) -> Box<EvalAltResult> {
    script_error(e.kind(), &run.redactor().redact(&e.to_string()))
}

fn rtype(text: &str) -> ScriptResult<hickory_proto::rr::RecordType> {
    backend::record_type(text).map_err(|e| script_error(e.kind(), &e.to_string()))
}

/// Where a question goes: a server on the network, or a simulated one.
#[derive(Debug, Clone)]
enum Server {
    /// A live server.
    Addr(SocketAddr, bool),
    /// A world's name server (by host), or its resolver.
    World(String),
}

fn world_dns<T>(
    run: &Run,
    f: impl FnOnce(&DnsWorld, &World, jiff::Timestamp) -> Result<T, backend::Error>,
) -> Option<Result<T, backend::Error>> {
    let world = run.world()?;
    let world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(f(&site::dns_view(&world), &world, run.clock().now()))
}

fn ask_resolver(
    run: &Run,
    name: &str,
    rt: hickory_proto::rr::RecordType,
) -> ScriptResult<Result<Answer, backend::Error>> {
    let rtype = rt.to_string();
    if let Some(answer) =
        world_dns(run, |dns, world, now| dns.resolve(name, &rtype, now, &|n, t, at| site::record_at(world, n, t, at)))
    {
        return Ok(answer);
    }
    run.block_on(backend::resolve(name, rt, QUERY_TIMEOUT))
}

fn ask(
    run: &Run,
    server: &Server,
    name: &str,
    rt: hickory_proto::rr::RecordType,
) -> ScriptResult<Result<Answer, backend::Error>> {
    match server {
        Server::Addr(addr, recursion) => run.block_on(backend::query(*addr, name, rt, QUERY_TIMEOUT, *recursion)),
        Server::World(host) if host == "resolver" => ask_resolver(run, name, rt),
        Server::World(host) => {
            let rtype = rt.to_string();
            Ok(world_dns(run, |dns, world, now| {
                dns.authoritative(host, name, &rtype, now, &|n, t, at| site::record_at(world, n, t, at))
            })
            .unwrap_or_else(|| Err(backend::Error::Invalid(format!("`{host}` is not a server address")))))
        }
    }
}

fn zone_of_any(run: &Run, name: &str) -> ScriptResult<Result<String, backend::Error>> {
    if let Some(found) = world_dns(run, |dns, _, _| {
        dns.zone_of(name).ok_or_else(|| backend::Error::NotFound(format!("no zone found for `{name}` (no SOA record)")))
    }) {
        return Ok(found);
    }
    run.block_on(backend::zone_of(name, QUERY_TIMEOUT))
}

/// An authoritative server: its host, and where to ask it.
type NameServer = (String, Vec<Server>);

/// The authoritative servers of a zone.
fn nameservers_any(run: &Run, zone: &str) -> ScriptResult<Result<Vec<NameServer>, backend::Error>> {
    if let Some(found) = world_dns(run, |dns, _, _| dns.nameservers(zone)) {
        return Ok(found.map(|hosts| hosts.into_iter().map(|h| (h.clone(), vec![Server::World(h)])).collect()));
    }
    Ok(run.block_on(backend::nameservers(zone, QUERY_TIMEOUT))?.map(|ns| {
        ns.into_iter().map(|n| (n.host, n.addrs.into_iter().map(|a| Server::Addr(a, false)).collect())).collect()
    }))
}

fn strings(values: &[String]) -> Array {
    values.iter().map(|v| Dynamic::from(v.clone())).collect()
}

fn resolve(ctx: &NativeCallContext, name: &str, rtype_text: &str) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let rt = rtype(rtype_text)?;
    let answer = ask_resolver(&run, name, rt)?.map_err(|e| dns_error(&run, &e))?;
    // A name that does not exist is an error; a name without records of
    // this type (NODATA) is an empty answer.
    if answer.rcode == "NXDOMAIN" {
        return Err(script_error("NotFound", &format!("`{name}` does not exist (NXDOMAIN from {})", answer.server)));
    }
    let canonical = rt.to_string();
    let values = answer.values(name, &canonical);
    let chain: Vec<String> =
        answer.records.iter().filter(|r| r.rtype == "CNAME" && canonical != "CNAME").map(|r| r.value.clone()).collect();
    let ttl = answer.records.iter().map(|r| i64::from(r.ttl)).min().unwrap_or(0);
    let mut map = rhai::Map::new();
    map.insert("name".into(), backend::normalize(name).into());
    map.insert("type".into(), canonical.into());
    map.insert("values".into(), strings(&values).into());
    map.insert("chain".into(), strings(&chain).into());
    map.insert("ttl".into(), ttl.into());
    map.insert("server".into(), answer.server.into());
    map.insert("rcode".into(), answer.rcode.into());
    Ok(map)
}

fn answer_map(answer: &Answer, name: &str, rtype: &str) -> rhai::Map {
    let records: Array = answer
        .records
        .iter()
        .map(|r| {
            let mut m = rhai::Map::new();
            m.insert("name".into(), r.name.clone().into());
            m.insert("type".into(), r.rtype.clone().into());
            m.insert("ttl".into(), i64::from(r.ttl).into());
            m.insert("value".into(), r.value.clone().into());
            Dynamic::from_map(m)
        })
        .collect();
    let mut map = rhai::Map::new();
    map.insert("server".into(), answer.server.clone().into());
    map.insert("rcode".into(), answer.rcode.clone().into());
    map.insert("authoritative".into(), answer.authoritative.into());
    map.insert("values".into(), strings(&answer.values(name, rtype)).into());
    map.insert("records".into(), records.into());
    map
}

fn query_one(ctx: &NativeCallContext, name: &str, rtype_text: &str, server: &str) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let rt = rtype(rtype_text)?;
    let target = if run.world().is_some() {
        Server::World(backend::normalize(server))
    } else {
        Server::Addr(backend::server_addr(server, 53).map_err(|e| dns_error(&run, &e))?, false)
    };
    let answer = ask(&run, &target, name, rt)?.map_err(|e| dns_error(&run, &e))?;
    Ok(answer_map(&answer, name, &rt.to_string()))
}

fn zone_of(ctx: &NativeCallContext, name: &str) -> ScriptResult<String> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    zone_of_any(&run, name)?.map_err(|e| dns_error(&run, &e))
}

fn nameservers(ctx: &NativeCallContext, zone: &str) -> ScriptResult<Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let servers = nameservers_any(&run, zone)?.map_err(|e| dns_error(&run, &e))?;
    Ok(servers
        .into_iter()
        .map(|(host, addrs)| {
            let mut m = rhai::Map::new();
            m.insert("host".into(), host.into());
            let addrs: Array = addrs
                .iter()
                .filter_map(|a| if let Server::Addr(a, _) = a { Some(Dynamic::from(a.to_string())) } else { None })
                .collect();
            m.insert("addrs".into(), addrs.into());
            Dynamic::from_map(m)
        })
        .collect())
}

/// Where `wait_for` looks.
enum Via {
    Authoritative,
    Resolver,
    Servers(Vec<SocketAddr>),
}

fn expected_values(expected: &Dynamic) -> ScriptResult<BTreeSet<String>> {
    let values: Vec<String> = if let Some(list) = expected.read_lock::<Array>() {
        list.iter().map(ToString::to_string).collect()
    } else if expected.is_string() {
        vec![expected.to_string()]
    } else {
        return Err(script_error("Invalid", "`expected` must be a string or a list of strings"));
    };
    if values.is_empty() {
        return Err(script_error("Invalid", "`expected` must name at least one value"));
    }
    Ok(values.iter().map(|v| backend::normalize(v)).collect())
}

const WAIT_OPTIONS: [&str; 4] = ["timeout", "every", "type", "via"];

#[allow(clippy::too_many_lines)] // the wait loop reads best in one piece
fn wait_for(ctx: &NativeCallContext, name: &str, expected: &Dynamic, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    for key in options.keys() {
        if !WAIT_OPTIONS.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!("`dns::wait_for` has no option `{key}` (options: {})", WAIT_OPTIONS.join(", ")),
            ));
        }
    }
    let expected = expected_values(expected)?;
    let timeout = options.get("timeout").map_or(Ok(DEFAULT_WAIT), |t| duration_arg(t, "`timeout`"))?;
    let every =
        options.get("every").map_or(Ok(DEFAULT_EVERY), |t| duration_arg(t, "`every`"))?.max(Duration::from_secs(1));
    let rtype_text = match options.get("type") {
        Some(t) => t.to_string(),
        None if expected.iter().all(|v| v.parse::<std::net::Ipv4Addr>().is_ok()) => "A".into(),
        None if expected.iter().all(|v| v.parse::<std::net::Ipv6Addr>().is_ok()) => "AAAA".into(),
        None => "CNAME".into(),
    };
    let rt = rtype(&rtype_text)?;
    let canonical = rt.to_string();
    let via = match options.get("via") {
        None => Via::Authoritative,
        Some(v) if v.to_string() == "authoritative" => Via::Authoritative,
        Some(v) if v.to_string() == "resolver" => Via::Resolver,
        Some(v) if v.is_array() => {
            let list = v.read_lock::<Array>().map(|a| a.clone()).unwrap_or_default();
            let addrs: Result<Vec<SocketAddr>, _> =
                list.iter().map(|s| backend::server_addr(&s.to_string(), 53)).collect();
            Via::Servers(addrs.map_err(|e| dns_error(&run, &e))?)
        }
        Some(other) => {
            return Err(script_error(
                "Invalid",
                &format!("`via` must be \"authoritative\", \"resolver\" or a list of servers, not `{other}`"),
            ))
        }
    };
    let servers: Vec<(String, Server)> = match &via {
        Via::Authoritative => {
            let zone = zone_of_any(&run, name)?.map_err(|e| dns_error(&run, &e))?;
            let ns = nameservers_any(&run, &zone)?.map_err(|e| dns_error(&run, &e))?;
            ns.into_iter().flat_map(|(host, addrs)| addrs.into_iter().map(move |a| (host.clone(), a))).collect()
        }
        Via::Resolver if run.world().is_some() => vec![("resolver".into(), Server::World("resolver".into()))],
        Via::Resolver => backend::system_resolvers()
            .map_err(|e| dns_error(&run, &e))?
            .into_iter()
            .take(1)
            .map(|a| (a.to_string(), Server::Addr(a, true)))
            .collect(),
        Via::Servers(list) => list.iter().map(|a| (a.to_string(), Server::Addr(*a, false))).collect(),
    };
    let shown_expected = expected.iter().cloned().collect::<Vec<_>>().join(", ");
    let what = format!("{name} {canonical} -> {shown_expected}");
    let started = run.clock().now();
    let deadline = started
        .checked_add(jiff::SignedDuration::try_from(timeout).unwrap_or(jiff::SignedDuration::MAX))
        .unwrap_or(jiff::Timestamp::MAX);
    let mut last_agreeing: Option<usize> = None;
    loop {
        run.check_cancelled()?;
        let mut rows: Vec<rhai::Map> = Vec::new();
        let mut disagree: Vec<String> = Vec::new();
        for (label, server) in &servers {
            let answer = ask(&run, server, name, rt)?;
            let (values, ttl, error) = match &answer {
                Ok(a) => (a.values(name, &canonical), a.records.iter().map(|r| r.ttl).min(), None),
                Err(e) => (Vec::new(), None, Some(e.to_string())),
            };
            let got: BTreeSet<String> = values.iter().map(|v| backend::normalize(v)).collect();
            let agree = got == expected;
            if !agree {
                let now = if values.is_empty() {
                    error.clone().unwrap_or_else(|| "nothing".into())
                } else {
                    values.join(", ")
                };
                let ttl_note = ttl.map(|t| format!(", cached for up to {t}s")).unwrap_or_default();
                disagree.push(format!("{label} answers {now}{ttl_note}"));
            }
            let mut row = rhai::Map::new();
            row.insert("server".into(), label.clone().into());
            let address = match server {
                Server::Addr(a, _) => a.to_string(),
                Server::World(h) => h.clone(),
            };
            row.insert("address".into(), address.into());
            row.insert("values".into(), strings(&values).into());
            row.insert("agree".into(), agree.into());
            rows.push(row);
        }
        let agreeing = servers.len() - disagree.len();
        if last_agreeing != Some(agreeing) {
            run.printer().status(
                Tone::Progress,
                "Waiting",
                &format!("{what}: {agreeing}/{} servers agree", servers.len()),
            );
            for line in &disagree {
                run.printer().detail(line);
            }
            last_agreeing = Some(agreeing);
        }
        let waited = Duration::try_from(run.clock().now().duration_since(started)).unwrap_or_default();
        let result = |outcome: &str| {
            run.record(&Event::Wait {
                what: format!("dns {what}"),
                duration_ms: waited.as_millis() as u64,
                outcome: outcome.into(),
                virtual_time: run.clock().is_virtual(),
            });
            let mut map = rhai::Map::new();
            map.insert("name".into(), backend::normalize(name).into());
            map.insert("expected".into(), strings(&expected.iter().cloned().collect::<Vec<_>>()).into());
            map.insert("servers".into(), rows.iter().cloned().map(Dynamic::from_map).collect::<Array>().into());
            map.insert("waited".into(), crate::duration::format(waited).into());
            map.insert("would_wait".into(), (outcome == "would_wait").into());
            map
        };
        if disagree.is_empty() {
            return Ok(result("done"));
        }
        if run.dry_run() {
            run.printer().status(
                Tone::Plan,
                "Would wait",
                &format!("for {what} ({agreeing}/{} servers agree now)", servers.len()),
            );
            return Ok(result("would_wait"));
        }
        if run.clock().now() >= deadline {
            result("timeout");
            return Err(script_error(
                "Timeout",
                &format!(
                    "{what} not answered by every server after {}: {}",
                    crate::duration::format(timeout),
                    disagree.join("; ")
                ),
            ));
        }
        run.clock().sleep(every, &run.cancel, |_| {}).map_err(|_| script_error("Interrupted", "interrupted"))?;
    }
}
