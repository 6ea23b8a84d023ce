//! Record changes: upsert, alias, delete and compare-and-swap. Each reads
//! its precondition in the gate's check (Route53 has no dry run) and again
//! just before sending, then waits for INSYNC.

use rhai::{Dynamic, NativeCallContext};

use super::super::aws::{
    boxed, check_options, opt_bool, opt_int, opt_str, strings_arg, timeout_opt, to_map, wait_until, would_wait, Cause,
    Poll,
};
use super::super::{script_error, ScriptResult};
use super::{current, missing, read_records, system, Zone, WAIT_INSYNC};
use crate::backends::aws::{fqdn, route53 as live, Action, Alias, ChangeInfo, Error, Record};
use crate::effects::{Change, Permit};
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

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
        .change_legacy(
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
    to_map(&info)
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

pub(super) fn upsert(
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

pub(super) fn alias(
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

pub(super) fn delete(
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
pub(super) fn swap(
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
