//! `route53::` - hosted zones and records of an account: reads, upserts,
//! alias records, deletes, and `swap`, the compare-and-swap a cutover needs.
//! Route53 has no dry run: the gate's check reads the preconditions for real
//! (the zone exists, the record is what the runbook expects), and the apply
//! reads them again just before sending. That second read matters on moto,
//! which accepts a DELETE whose values no longer match the record.

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::aws::{
    boxed, check_options, opt_bool, opt_int, opt_str, strings_arg, timeout_opt, to_dynamic, wait_until, would_wait,
    Account, Cause, Poll,
};
use super::{script_error, ScriptResult};
use crate::backends::aws::{self as backend, fqdn, route53 as live, Action, Alias, ChangeInfo, Error, Record};
use crate::effects::{Change, Outcome, Permit};
use crate::run::Run;

/// The Route53 of an account: `aws::account(...).route53()`.
#[derive(Debug, Clone)]
pub struct Route53(pub(crate) Account);

/// A hosted zone: `route53.zone("cal-adapt.org")`.
#[derive(Debug, Clone)]
pub struct Zone {
    account: Account,
    zone: backend::Zone,
}

const WAIT_INSYNC: Duration = Duration::from_secs(300);

#[export_module]
pub(crate) mod route53 {
    pub type Route53 = super::Route53;
    pub type Zone = super::Zone;

    /// The hosted zone named `name`. If a public and a private zone share
    /// the name, this fails (`kind: "Invalid"`, `candidates`) and the
    /// two-argument form picks one with `visibility`.
    ///
    /// ```rhai
    /// let zone = aws::account(#{ profile: "prod" }).route53().zone("cal-adapt.org");
    /// ```
    #[rhai_fn(global, name = "zone", return_raw)]
    pub fn zone_plain(ctx: NativeCallContext, r53: Route53, name: &str) -> Result<Zone, Box<EvalAltResult>> {
        super::zone(&ctx, &r53, name, &rhai::Map::new())
    }

    /// The hosted zone named `name` with `visibility: "public"` or
    /// `"private"`.
    ///
    /// ```rhai
    /// let inside = r53.zone("cal-adapt.org", #{ visibility: "private" });
    /// ```
    #[rhai_fn(global, name = "zone", return_raw)]
    pub fn zone(
        ctx: NativeCallContext,
        r53: Route53,
        name: &str,
        options: rhai::Map,
    ) -> Result<Zone, Box<EvalAltResult>> {
        super::zone(&ctx, &r53, name, &options)
    }

    /// The zone's id.
    #[rhai_fn(global, get = "id", pure)]
    pub fn id(zone: &mut Zone) -> String {
        zone.zone.id.clone()
    }

    /// The zone's name, with its trailing dot.
    #[rhai_fn(global, get = "name", pure)]
    pub fn name(zone: &mut Zone) -> String {
        zone.zone.name.clone()
    }

    /// `"public"` or `"private"` (`private` is a Rhai keyword).
    #[rhai_fn(global, get = "visibility", pure)]
    pub fn visibility(zone: &mut Zone) -> String {
        if zone.zone.private { "private" } else { "public" }.into()
    }

    /// Every record set of the zone: `#{name, type, ttl, values, alias}`.
    ///
    /// ```rhai
    /// for r in zone.records() { print(`${r.name} ${r.type}`); }
    /// ```
    #[rhai_fn(global, name = "records", return_raw)]
    pub fn records_all(ctx: NativeCallContext, zone: Zone) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::records(&ctx, &zone, &rhai::Map::new())
    }

    /// Record sets selected by `name` and `type`.
    ///
    /// ```rhai
    /// let hub = zone.records(#{ name: "hub.cal-adapt.org" });
    /// ```
    #[rhai_fn(global, name = "records", return_raw)]
    pub fn records(ctx: NativeCallContext, zone: Zone, query: rhai::Map) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::records(&ctx, &zone, &query)
    }

    /// One record set (`kind: "NotFound"` if there is none).
    ///
    /// ```rhai
    /// let now = zone.record("hub.cal-adapt.org", "CNAME").values[0];
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn record(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        let run = Run::from_context(&ctx)?;
        run.check_cancelled()?;
        let r =
            super::current(&run, &zone, name, record_type)?.ok_or_else(|| super::missing(&zone, name, record_type))?;
        Ok(to_dynamic(&r)?.cast())
    }

    /// Creates or replaces a record set (`values`: a string or an array) and
    /// waits until the change is INSYNC (at most 5 minutes). Returns
    /// `#{id, status}` of the change.
    ///
    /// ```rhai
    /// zone.upsert("hub.cal-adapt.org", "CNAME", green_lb, 60);
    /// ```
    #[rhai_fn(global, name = "upsert", return_raw)]
    pub fn upsert_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        values: Dynamic,
        ttl: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upsert(&ctx, &zone, name, record_type, &values, ttl, &rhai::Map::new())
    }

    /// `upsert` with options: `wait: false` returns without waiting for
    /// INSYNC; `timeout` bounds the wait.
    ///
    /// ```rhai
    /// zone.upsert("hub.cal-adapt.org", "A", ["192.0.2.10", "192.0.2.11"], 60, #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "upsert", return_raw)]
    pub fn upsert(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        values: Dynamic,
        ttl: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::upsert(&ctx, &zone, name, record_type, &values, ttl, &options)
    }

    /// Creates or replaces an alias record pointing at an ELB (or any alias
    /// target): `#{dns_name, zone_id, evaluate_health}`, where `zone_id` is
    /// the load balancer's canonical hosted zone id. Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.alias("hub.cal-adapt.org", "A", #{ dns_name: lb, zone_id: "Z1H1FL5HABSF5" });
    /// ```
    #[rhai_fn(global, name = "alias", return_raw)]
    pub fn alias_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        target: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::alias(&ctx, &zone, name, record_type, &target, &rhai::Map::new())
    }

    /// `alias` with options (`wait`, `timeout`).
    ///
    /// ```rhai
    /// zone.alias("hub.cal-adapt.org", "A", #{ dns_name: lb, zone_id: "Z1H1FL5HABSF5" }, #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "alias", return_raw)]
    pub fn alias(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        target: rhai::Map,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::alias(&ctx, &zone, name, record_type, &target, &options)
    }

    /// Deletes a record set, exactly as it is now (destructive: asks unless
    /// `--yes`). Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.delete("old-hub.cal-adapt.org", "CNAME");
    /// ```
    #[rhai_fn(global, name = "delete", return_raw)]
    pub fn delete_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::delete(&ctx, &zone, name, record_type, &rhai::Map::new())
    }

    /// `delete` with options (`wait`, `timeout`).
    ///
    /// ```rhai
    /// zone.delete("old-hub.cal-adapt.org", "CNAME", #{ wait: false });
    /// ```
    #[rhai_fn(global, name = "delete", return_raw)]
    pub fn delete(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::delete(&ctx, &zone, name, record_type, &options)
    }

    /// Compare-and-swap: replaces the record set only if its values are now
    /// `expected_old` (a string or an array; or a map `#{values, ttl}` /
    /// `#{alias}`), in one change batch that DELETEs the exact current set
    /// and CREATEs the new one (`new`: values, or an alias map). If the
    /// record is anything else, nothing is sent and the error has
    /// `kind: "Conflict"`. Waits for INSYNC.
    ///
    /// ```rhai
    /// zone.swap("hub.cal-adapt.org", "CNAME", blue_lb, green_lb, 60);
    /// ```
    #[rhai_fn(global, name = "swap", return_raw)]
    pub fn swap_plain(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        expected_old: Dynamic,
        new: Dynamic,
        ttl: i64,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::swap(&ctx, &zone, name, record_type, &expected_old, &new, ttl, &rhai::Map::new())
    }

    /// `swap` with options (`wait`, `timeout`).
    ///
    /// ```rhai
    /// zone.swap("hub.cal-adapt.org", "CNAME", blue_lb, green_lb, 60, #{ timeout: "10m" });
    /// ```
    #[rhai_fn(global, name = "swap", return_raw)]
    #[allow(clippy::too_many_arguments)] // the script's signature: handle, five arguments, options
    pub fn swap(
        ctx: NativeCallContext,
        zone: Zone,
        name: &str,
        record_type: &str,
        expected_old: Dynamic,
        new: Dynamic,
        ttl: i64,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::swap(&ctx, &zone, name, record_type, &expected_old, &new, ttl, &options)
    }

    /// `Zone(cal-adapt.org., Z123)`.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(zone: &mut Zone) -> String {
        format!("Zone({}, {})", zone.zone.name, zone.zone.id)
    }
}

fn zone(ctx: &NativeCallContext, r53: &Route53, name: &str, options: &rhai::Map) -> ScriptResult<Zone> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("zone", options, &["visibility"])?;
    let private = match opt_str(options, "visibility")?.as_deref() {
        None => None,
        Some("private") => Some(true),
        Some("public") => Some(false),
        Some(other) => {
            return Err(script_error(
                "Invalid",
                &format!("`visibility` must be \"public\" or \"private\", not `{other}`"),
            ))
        }
    };
    let found =
        r53.0.read(&run, async |c| live::zones_named(&c.route53, name).await, |a, _| Ok(a.zones_named(name)))?;
    let mut found: Vec<backend::Zone> = found.into_iter().filter(|z| private.is_none_or(|p| p == z.private)).collect();
    match found.len() {
        1 => Ok(Zone { account: r53.0.clone(), zone: found.remove(0) }),
        0 => Err(super::aws::aws_error(
            &run,
            &Error::NotFound { what: format!("hosted zone `{}` in account `{}`", fqdn(name), r53.0.name()) },
        )),
        _ => {
            let candidates =
                found.iter().map(|z| format!("{} ({})", z.id, if z.private { "private" } else { "public" })).collect();
            let err = Error::Ambiguous { what: format!("hosted zone `{}`", fqdn(name)), candidates };
            let mut e = super::aws::aws_error(&run, &err);
            if let EvalAltResult::ErrorRuntime(value, _) = e.as_mut() {
                if let Some(mut map) = value.clone().try_cast::<rhai::Map>() {
                    map.insert(
                        "hint".into(),
                        "pick one: `zone(name, #{ visibility: \"private\" })` or `#{ visibility: \"public\" }`".into(),
                    );
                    *value = map.into();
                }
            }
            Err(e)
        }
    }
}

fn system(zone: &Zone) -> String {
    format!("route53/{}", zone.account.name())
}

fn missing(zone: &Zone, name: &str, record_type: &str) -> Box<EvalAltResult> {
    script_error(
        "NotFound",
        &format!("record `{}` {} not found in zone `{}`", fqdn(name), record_type.to_ascii_uppercase(), zone.zone.name),
    )
}

fn read_records(
    run: &Run,
    zone: &Zone,
    name: Option<&str>,
    record_type: Option<&str>,
) -> ScriptResult<Result<Vec<Record>, Error>> {
    let id = zone.zone.id.clone();
    zone.account.call(
        run,
        async |c| live::records(&c.route53, &id, name, record_type).await,
        |a, _| a.records(&id, name, record_type),
    )
}

fn current(run: &Run, zone: &Zone, name: &str, record_type: &str) -> ScriptResult<Option<Record>> {
    let found = read_records(run, zone, Some(name), Some(record_type))?.map_err(|e| super::aws::aws_error(run, &e))?;
    Ok(found.into_iter().next())
}

fn records(ctx: &NativeCallContext, zone: &Zone, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("records", options, &["name", "type"])?;
    let name = opt_str(options, "name")?;
    let record_type = opt_str(options, "type")?;
    let found = read_records(&run, zone, name.as_deref(), record_type.as_deref())?
        .map_err(|e| super::aws::aws_error(&run, &e))?;
    found.iter().map(to_dynamic).collect()
}

/// What the record must be before a change is sent.
enum Expect {
    /// Anything, or nothing.
    Any,
    /// The record as read when the change was described, exactly.
    Unchanged(Option<Record>),
    /// Values (and TTL/alias when given) the runbook expects.
    Old(OldSpec),
}

/// What `swap` expects the record to be.
struct OldSpec {
    values: Vec<String>,
    ttl: Option<i64>,
    alias: Option<Alias>,
}

impl OldSpec {
    fn matches(&self, r: &Record) -> bool {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        sorted(&self.values) == sorted(&r.values) && self.ttl.is_none_or(|t| r.ttl == Some(t)) && self.alias == r.alias
    }

    fn describe(&self) -> String {
        match &self.alias {
            Some(a) => format!("alias {}", a.dns_name),
            None => self.values.join(", "),
        }
    }
}

fn describe(r: Option<&Record>) -> String {
    match r {
        None => "absent".into(),
        Some(r) => match &r.alias {
            Some(a) => format!("alias {}", a.dns_name),
            None => format!("{} (ttl {})", r.values.join(", "), r.ttl.unwrap_or_default()),
        },
    }
}

/// Reads the record and checks it against `expect`: the precondition a
/// Route53 change has instead of a dry run.
fn verify(run: &Run, zone: &Zone, name: &str, record_type: &str, expect: &Expect) -> Result<Option<Record>, Error> {
    let found = read_records(run, zone, Some(name), Some(record_type)).map_err(|e| Error::Failed(e.to_string()))??;
    let now = found.into_iter().next();
    let what = format!("record `{}` {}", fqdn(name), record_type.to_ascii_uppercase());
    match expect {
        Expect::Any => Ok(now),
        Expect::Unchanged(before) => match (before, &now) {
            (Some(b), Some(n)) if b.same_as(n) => Ok(now),
            (None, None) => Ok(now),
            _ => Err(Error::Conflict(format!(
                "{what} changed while hubops was working on it: it was {}, it is now {}; nothing was sent",
                describe(before.as_ref()),
                describe(now.as_ref())
            ))),
        },
        Expect::Old(spec) => match &now {
            Some(n) if spec.matches(n) => Ok(now),
            _ => Err(Error::Conflict(format!(
                "{what} is {}, not the expected {}; someone changed it, nothing was sent",
                describe(now.as_ref()),
                spec.describe()
            ))),
        },
    }
}

/// Sends a change batch built from the record as verified, through the gate,
/// then waits for INSYNC unless `wait: false`.
#[allow(clippy::too_many_arguments)] // one private helper shared by the verbs
fn submit(
    ctx: &NativeCallContext,
    zone: &Zone,
    verb: &str,
    name: &str,
    record_type: &str,
    expect: &Expect,
    after: Option<&Record>,
    destructive: bool,
    options: &rhai::Map,
    actions: impl Fn(Option<Record>) -> Vec<Action>,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options(verb, options, &["wait", "timeout"])?;
    let wait = opt_bool(options, "wait")?.unwrap_or(true);
    let timeout = timeout_opt(options, WAIT_INSYNC)?;
    let before = current(&run, zone, name, record_type)?;
    let target = format!("{} {} in zone `{}`", record_type.to_ascii_uppercase(), fqdn(name), zone.zone.name);
    let json = |r: Option<&Record>| r.and_then(|r| serde_json::to_value(r).ok());
    let mut change = Change::new(system(zone), verb, target).before_after(json(before.as_ref()), json(after));
    if destructive {
        change = change.destructive();
    }
    let cause = Cause::default();
    let id = zone.zone.id.clone();
    let outcome = run
        .change(
            change,
            |_| verify(&run, zone, name, record_type, expect).map(|_| ()).map_err(|e| cause.keep(e)),
            |p: &Permit| {
                let now = verify(&run, zone, name, record_type, expect).map_err(|e| cause.keep(e))?;
                let batch = actions(now);
                zone.account
                    .call(
                        &run,
                        async |c| live::change(p, &c.route53, &id, &batch).await,
                        |a, t| a.change(p, &id, &batch, t),
                    )
                    .map_err(boxed)?
                    .map_err(|e| cause.keep(e))
            },
        )
        .map_err(|e| cause.enrich(e))?;
    let what = format!("{} {} change INSYNC", record_type.to_ascii_uppercase(), fqdn(name));
    let info = match outcome {
        Outcome::Planned => {
            if wait {
                would_wait(&run, &what);
            }
            ChangeInfo { id: "planned".into(), status: "PLANNED".into() }
        }
        Outcome::Applied(info) if !wait || info.status == "INSYNC" => info,
        Outcome::Applied(info) => wait_until(&run, &what, timeout, || {
            let status = zone.account.call(
                &run,
                async |c| live::change_status(&c.route53, &info.id).await,
                |a, t| a.change_status(&info.id, t),
            )?;
            Ok(status.map(|s| if s.status == "INSYNC" { Poll::Done(s) } else { Poll::Pending(s.status) }))
        })?,
    };
    Ok(to_dynamic(&info)?.cast())
}

fn new_record(name: &str, record_type: &str, values: &Dynamic, ttl: i64) -> ScriptResult<Record> {
    if let Some(map) = values.read_lock::<rhai::Map>() {
        return Ok(Record {
            name: fqdn(name),
            record_type: record_type.to_ascii_uppercase(),
            ttl: None,
            values: Vec::new(),
            alias: Some(alias_arg(&map)?),
        });
    }
    let values = strings_arg(values, "the values")?;
    if values.is_empty() {
        return Err(script_error("Invalid", "a record needs at least one value"));
    }
    if ttl < 0 {
        return Err(script_error("Invalid", "`ttl` must not be negative"));
    }
    Ok(Record { name: fqdn(name), record_type: record_type.to_ascii_uppercase(), ttl: Some(ttl), values, alias: None })
}

fn alias_arg(map: &rhai::Map) -> ScriptResult<Alias> {
    check_options("alias", map, &["dns_name", "zone_id", "evaluate_health"])?;
    let (Some(dns_name), Some(zone_id)) = (opt_str(map, "dns_name")?, opt_str(map, "zone_id")?) else {
        return Err(script_error(
            "Invalid",
            "an alias target needs `dns_name` and `zone_id` (the target's hosted zone id)",
        ));
    };
    Ok(Alias { dns_name, zone_id, evaluate_health: opt_bool(map, "evaluate_health")?.unwrap_or(false) })
}

fn upsert(
    ctx: &NativeCallContext,
    zone: &Zone,
    name: &str,
    record_type: &str,
    values: &Dynamic,
    ttl: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let record = new_record(name, record_type, values, ttl)?;
    let r = record.clone();
    submit(ctx, zone, "upsert", name, record_type, &Expect::Any, Some(&record), false, options, move |_| {
        vec![Action::Upsert(r.clone())]
    })
}

fn alias(
    ctx: &NativeCallContext,
    zone: &Zone,
    name: &str,
    record_type: &str,
    target: &rhai::Map,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let record = Record {
        name: fqdn(name),
        record_type: record_type.to_ascii_uppercase(),
        ttl: None,
        values: Vec::new(),
        alias: Some(alias_arg(target)?),
    };
    let r = record.clone();
    submit(ctx, zone, "upsert", name, record_type, &Expect::Any, Some(&record), false, options, move |_| {
        vec![Action::Upsert(r.clone())]
    })
}

fn delete(
    ctx: &NativeCallContext,
    zone: &Zone,
    name: &str,
    record_type: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let now = current(&run, zone, name, record_type)?.ok_or_else(|| missing(zone, name, record_type))?;
    let expect = Expect::Unchanged(Some(now));
    submit(ctx, zone, "delete", name, record_type, &expect, None, true, options, |now| {
        now.into_iter().map(Action::Delete).collect()
    })
}

#[allow(clippy::too_many_arguments)] // the script signature
fn swap(
    ctx: &NativeCallContext,
    zone: &Zone,
    name: &str,
    record_type: &str,
    expected_old: &Dynamic,
    new: &Dynamic,
    ttl: i64,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let spec = if let Some(map) = expected_old.read_lock::<rhai::Map>() {
        check_options("swap (expected_old)", &map, &["values", "ttl", "alias"])?;
        OldSpec {
            values: map.get("values").map(|v| strings_arg(v, "`values`")).transpose()?.unwrap_or_default(),
            ttl: opt_int(&map, "ttl")?,
            alias: map.get("alias").and_then(|a| a.read_lock::<rhai::Map>().map(|m| alias_arg(&m))).transpose()?,
        }
    } else {
        OldSpec { values: strings_arg(expected_old, "`expected_old`")?, ttl: None, alias: None }
    };
    let record = new_record(name, record_type, new, ttl)?;
    let r = record.clone();
    submit(ctx, zone, "swap", name, record_type, &Expect::Old(spec), Some(&record), false, options, move |now| {
        // `verify` ran just before: `now` is the exact set to delete.
        now.into_iter().map(Action::Delete).chain(std::iter::once(Action::Create(r.clone()))).collect()
    })
}
