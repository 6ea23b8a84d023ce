//! Record changes: upsert, alias, delete and compare-and-swap. Each is one
//! [`Edit`] with its precondition, handed to the gate, then a wait for
//! INSYNC. A runbook marks a change to a name people use (`confirm:
//! "moves the production name"`): the gate then asks before it, as it does
//! before a delete, unless `--yes`.

use rhai::{Dynamic, NativeCallContext};

use super::super::aws::{read, strings_arg, to_map, wait, wait_for};
use super::super::options::Options;
use super::super::{script_error, ScriptResult};
use super::{system, Zone, WAIT_INSYNC};
use crate::backends::aws::{fqdn, Alias, Edit, EditAction, Expect, Expected, Record};
use crate::effects::{Change, Permit};
use crate::run::{Poll, Run, Waited};

/// Hands `edit` to the gate, then waits for INSYNC unless `wait: false`.
/// `before` is the record as the plan shows it (read here when `None`).
fn submit(
    ctx: &NativeCallContext,
    zone: &Zone,
    verb: &str,
    edit: &Edit,
    before: Option<Record>,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new(verb, options, &["wait", "timeout", "confirm"])?;
    let wait_done = o.bool("wait")?.unwrap_or(true);
    let confirm = o.str("confirm")?;
    let timeout = o.duration("timeout")?.unwrap_or(WAIT_INSYNC);
    let account = zone.account.backend();
    let (name, record_type) = (fqdn(&edit.name), edit.record_type.to_ascii_uppercase());
    let before = match before {
        Some(known) => Some(known),
        None => read(&run, account.current(&zone.zone, &name, &record_type))?,
    };
    let after = match &edit.action {
        EditAction::Upsert(r) | EditAction::Swap(r) => Some(r),
        EditAction::Delete => None,
    };
    let json = |r: Option<&Record>| r.and_then(|r| serde_json::to_value(r).ok());
    let mut change = Change::new(system(zone), verb, format!("{record_type} {name} in zone `{}`", zone.zone.name))
        .before_after(json(before.as_ref()), json(after));
    if matches!(edit.action, EditAction::Delete) {
        change = change.destructive();
    }
    if let Some(reason) = confirm {
        change = change.confirm(reason);
    }
    let outcome = run.change(change, async |p: &Permit| account.change(p, &zone.zone, edit).await)?;
    let planned = outcome.is_planned();
    let info = outcome.into_inner();
    if !wait_done || info.status == "INSYNC" {
        return to_map(&info);
    }
    let w = wait_for(&format!("{record_type} {name} change INSYNC"), timeout).planned(planned);
    let waited = wait(&run, &w, async |_| {
        let s = account.change_status(&info.id).await?;
        if s.status == "INSYNC" {
            Ok(Poll::Done(s))
        } else {
            Ok(Poll::pending(s.status, account.poll_interval()))
        }
    })?;
    match waited {
        Waited::Done { value, .. } => to_map(&value),
        Waited::WouldWait { .. } => to_map(&info),
    }
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
    let o = Options::new("alias", map, &["dns_name", "zone_id", "evaluate_health"])?;
    let (Some(dns_name), Some(zone_id)) = (o.str("dns_name")?, o.str("zone_id")?) else {
        return Err(script_error(
            "Invalid",
            "an alias target needs `dns_name` and `zone_id` (the target's hosted zone id)",
        ));
    };
    Ok(Alias { dns_name, zone_id, evaluate_health: o.bool("evaluate_health")?.unwrap_or(false) })
}

fn upsert_record(ctx: &NativeCallContext, zone: &Zone, record: Record, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let edit = Edit {
        name: record.name.clone(),
        record_type: record.record_type.clone(),
        expect: Expect::Any,
        action: EditAction::Upsert(record),
    };
    submit(ctx, zone, "upsert", &edit, None, options)
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
    upsert_record(ctx, zone, new_record(name, record_type, values, ttl)?, options)
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
    upsert_record(ctx, zone, record, options)
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
    let now = read(&run, zone.account.backend().record(&zone.zone, name, record_type))?;
    let edit = Edit {
        name: fqdn(name),
        record_type: record_type.to_ascii_uppercase(),
        expect: Expect::Unchanged(Some(now.clone())),
        action: EditAction::Delete,
    };
    submit(ctx, zone, "delete", &edit, Some(now), options)
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
    let expected = if let Some(map) = expected_old.read_lock::<rhai::Map>() {
        let o = Options::new("swap (expected_old)", &map, &["values", "ttl", "alias"])?;
        Expected {
            values: o.get("values").map(|v| strings_arg(v, "`values`")).transpose()?.unwrap_or_default(),
            ttl: o.int("ttl")?,
            alias: o.map("alias")?.map(|m| alias_arg(&m)).transpose()?,
        }
    } else {
        Expected { values: strings_arg(expected_old, "`expected_old`")?, ttl: None, alias: None }
    };
    let record = new_record(name, record_type, new, ttl)?;
    let edit = Edit {
        name: fqdn(name),
        record_type: record_type.to_ascii_uppercase(),
        expect: Expect::Values(expected),
        action: EditAction::Swap(record),
    };
    submit(ctx, zone, "swap", &edit, None, options)
}
