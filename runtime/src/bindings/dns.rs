//! `dns::` - lookups and propagation waits. A cutover is done when every
//! authoritative server of the zone answers the new value, not when one
//! resolver does; `wait_for` asks each of them itself and shows who agrees.
//! Live or on the world is the backend's [`Dns`] value, made from the run's
//! target; `wait_for` waits through the run's one wait path. DNS is
//! read-only, so nothing here passes the gate.

use std::collections::BTreeSet;
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::dns::{self as backend, Answer, Dns, Seen, Via};
use crate::run::{Poll, Run, Wait, WaitError, Waited};

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
    /// `"resolver"`, or a list of servers (`ip[:port]`; on a world, name
    /// servers by host name). Returns `#{name, expected, servers, waited,
    /// would_wait}`. In a dry run it checks once and reports "would wait"
    /// instead of waiting.
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

fn rtype(run: &Run, text: &str) -> ScriptResult<hickory_proto::rr::RecordType> {
    backend::record_type(text).map_err(|e| run.fail(&e))
}

fn strings(values: &[String]) -> Array {
    values.iter().map(|v| Dynamic::from(v.clone())).collect()
}

fn resolve(ctx: &NativeCallContext, name: &str, rtype_text: &str) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    let rt = rtype(&run, rtype_text)?;
    let dns = Dns::new(run.target());
    let answer = run.block_on(dns.resolve(name, rt))?.map_err(|e| run.fail(&e))?;
    // A name that does not exist is an error; a name without records of
    // this type (NODATA) is an empty answer.
    if answer.rcode == "NXDOMAIN" {
        return Err(
            run.fail(&backend::Error::NotFound(format!("`{name}` does not exist (NXDOMAIN from {})", answer.server)))
        );
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
    let rt = rtype(&run, rtype_text)?;
    let dns = Dns::new(run.target());
    let answer = run.block_on(dns.query(server, name, rt))?.map_err(|e| run.fail(&e))?;
    Ok(answer_map(&answer, name, &rt.to_string()))
}

fn zone_of(ctx: &NativeCallContext, name: &str) -> ScriptResult<String> {
    let run = Run::from_context(ctx)?;
    let dns = Dns::new(run.target());
    run.block_on(dns.zone_of(name))?.map_err(|e| run.fail(&e))
}

fn nameservers(ctx: &NativeCallContext, zone: &str) -> ScriptResult<Array> {
    let run = Run::from_context(ctx)?;
    let dns = Dns::new(run.target());
    let servers = run.block_on(dns.nameservers(zone))?.map_err(|e| run.fail(&e))?;
    Ok(servers
        .into_iter()
        .map(|ns| {
            let mut m = rhai::Map::new();
            m.insert("host".into(), ns.host.into());
            let addrs: Array = ns.addrs.iter().map(|a| Dynamic::from(a.to_string())).collect();
            m.insert("addrs".into(), addrs.into());
            Dynamic::from_map(m)
        })
        .collect())
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

fn via(opts: Options<'_>) -> ScriptResult<Via> {
    let Some(v) = opts.get("via") else { return Ok(Via::Authoritative) };
    if v.is_array() {
        return Ok(Via::Servers(opts.strings("via")?.unwrap_or_default()));
    }
    match v.to_string().as_str() {
        "authoritative" if v.is_string() => Ok(Via::Authoritative),
        "resolver" if v.is_string() => Ok(Via::Resolver),
        other => Err(script_error(
            "Invalid",
            &format!("`via` must be \"authoritative\", \"resolver\" or a list of servers, not `{other}`"),
        )),
    }
}

const WAIT_OPTIONS: [&str; 4] = ["timeout", "every", "type", "via"];

fn wait_for(ctx: &NativeCallContext, name: &str, expected: &Dynamic, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let opts = Options::new("dns::wait_for", options, &WAIT_OPTIONS)?;
    let expected = expected_values(expected)?;
    let timeout = opts.duration("timeout")?.unwrap_or(DEFAULT_WAIT);
    let every = opts.duration("every")?.unwrap_or(DEFAULT_EVERY).max(Duration::from_secs(1));
    let rtype_text = match opts.str("type")? {
        Some(t) => t,
        None if expected.iter().all(|v| v.parse::<std::net::Ipv4Addr>().is_ok()) => "A".into(),
        None if expected.iter().all(|v| v.parse::<std::net::Ipv6Addr>().is_ok()) => "AAAA".into(),
        None => "CNAME".into(),
    };
    let rt = rtype(&run, &rtype_text)?;
    let via = via(opts)?;
    let dns = Dns::new(run.target());
    let servers = run.block_on(dns.servers(name, &via))?.map_err(|e| run.fail(&e))?;

    let shown_expected = expected.iter().cloned().collect::<Vec<_>>().join(", ");
    let what = format!("{name} {rt} -> {shown_expected}");
    let wait = Wait::new(what.clone(), timeout).label(format!("for {what}")).journal(format!("dns {what}"));
    let mut last: Vec<Seen> = Vec::new();
    let waited = run.wait(&wait, async |_| {
        let seen = dns.look(&servers, name, rt, &expected).await;
        let agreeing = seen.iter().filter(|s| s.agree).count();
        let poll = if agreeing == seen.len() {
            Poll::Done(())
        } else {
            let progress = format!("{agreeing}/{} servers agree", seen.len());
            // Which servers disagree, and for how long they may be cached
            // (`-v`; the wait shows them when they change).
            let details = seen.iter().filter(|s| !s.agree).map(|s| run.redactor().redact(&s.describe())).collect();
            Poll::pending(progress, every).details(details)
        };
        last = seen;
        Ok::<_, std::convert::Infallible>(poll)
    });
    let result = |waited: Duration, would_wait: bool| {
        let rows: Array = last
            .iter()
            .map(|s| {
                let mut row = rhai::Map::new();
                row.insert("server".into(), s.server.label.clone().into());
                row.insert("address".into(), s.server.address.clone().into());
                row.insert("values".into(), strings(&s.values).into());
                row.insert("agree".into(), s.agree.into());
                Dynamic::from_map(row)
            })
            .collect();
        let mut map = rhai::Map::new();
        map.insert("name".into(), backend::normalize(name).into());
        map.insert("expected".into(), strings(&expected.iter().cloned().collect::<Vec<_>>()).into());
        map.insert("servers".into(), rows.into());
        map.insert("waited".into(), crate::duration::format(waited).into());
        map.insert("would_wait".into(), would_wait.into());
        map
    };
    match waited {
        Ok(Waited::Done { waited, .. }) => Ok(result(waited, false)),
        Ok(Waited::WouldWait { .. }) => Ok(result(Duration::ZERO, true)),
        Err(WaitError::Timeout { .. }) => Err(script_error(
            "Timeout",
            &run.redactor().redact(&format!(
                "{what} not answered by every server after {}: {}",
                crate::duration::format(timeout),
                last.iter().filter(|s| !s.agree).map(Seen::describe).collect::<Vec<_>>().join("; ")
            )),
        )),
        Err(WaitError::Interrupted) => Err(script_error("Interrupted", "interrupted")),
        Err(WaitError::Stopped(why)) => Err(script_error("Runaway", &why)),
        Err(WaitError::Failed(never)) => match never {},
    }
}
