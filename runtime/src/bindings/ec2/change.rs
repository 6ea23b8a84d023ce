//! Waits, in-place modification, tags and deletes of EC2 resources.

use rhai::{Dynamic, NativeCallContext};
use serde_json::json;

use super::super::aws::{read, tags_arg, to_map, wait, wait_for};
use super::super::options::Options;
use super::super::{script_error, ScriptResult};
use super::{system, Ec2, Kind, WAIT_MODIFY, WAIT_SNAPSHOT, WAIT_VOLUME};
use crate::backends::aws::{is_planned, Error, Modification, VolumeChange};
use crate::effects::{Change, Permit};
use crate::run::{Poll, Run, Waited};

pub(super) fn wait_snapshot(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("wait_snapshot", options, &["timeout"])?;
    let timeout = o.duration("timeout")?.unwrap_or(WAIT_SNAPSHOT);
    let account = ec2.0.backend();
    let w = wait_for(&format!("snapshot `{id}` completed"), timeout).planned(is_planned(id));
    // A dry run looks once; the script gets the snapshot as it is.
    let mut seen = None;
    let waited = wait(&run, &w, async |_| {
        let s = account.snapshot(id).await?;
        match s.state.as_str() {
            "completed" => Ok(Poll::Done(s)),
            "error" => Err(Error::Failed(format!("snapshot `{id}` failed (state `error`)"))),
            _ => {
                let progress = format!("{}%", s.progress);
                let state = s.state.clone();
                seen = Some(s);
                Ok(Poll::pending(progress, account.poll_interval()).state(state))
            }
        }
    })?;
    match waited {
        Waited::Done { value, .. } => to_map(&value),
        Waited::WouldWait { .. } => seen.map_or_else(|| Ok(rhai::Map::new()), |s| to_map(&s)),
    }
}

pub(super) fn wait_volume(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    id: &str,
    state: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("wait_volume", options, &["timeout"])?;
    let timeout = o.duration("timeout")?.unwrap_or(WAIT_VOLUME);
    let account = ec2.0.backend();
    let w = wait_for(&format!("volume `{id}` {state}"), timeout).planned(is_planned(id));
    let mut seen = None;
    let waited = wait(&run, &w, async |_| {
        let v = account.volume(id).await?;
        if v.state == state {
            Ok(Poll::Done(v))
        } else if v.state == "error" {
            Err(Error::Failed(format!("volume `{id}` failed (state `error`)")))
        } else {
            let progress = v.state.clone();
            seen = Some(v);
            Ok(Poll::pending(progress, account.poll_interval()))
        }
    })?;
    match waited {
        Waited::Done { value, .. } => to_map(&value),
        Waited::WouldWait { .. } => seen.map_or_else(|| Ok(rhai::Map::new()), |v| to_map(&v)),
    }
}

pub(super) fn modify_volume(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("modify_volume", options, &["type", "iops", "throughput", "size", "wait", "timeout"])?;
    let change_to = VolumeChange {
        volume_type: o.str("type")?,
        iops: o.int("iops")?,
        throughput: o.int("throughput")?,
        size: o.int("size")?,
    };
    if change_to.volume_type.is_none()
        && change_to.iops.is_none()
        && change_to.throughput.is_none()
        && change_to.size.is_none()
    {
        return Err(script_error(
            "Invalid",
            "`modify_volume` needs at least one of `type`, `iops`, `throughput`, `size`",
        ));
    }
    let wait_done = o.bool("wait")?.unwrap_or(true);
    let timeout = o.duration("timeout")?.unwrap_or(WAIT_MODIFY);
    let account = ec2.0.backend();
    let before = if is_planned(id) { None } else { Some(read(&run, account.volume(id))?) };
    let before_json = before
        .as_ref()
        .map(|v| json!({"type": v.volume_type, "iops": v.iops, "throughput": v.throughput, "size": v.size}));
    let change = Change::new(system(ec2), "modify", format!("volume `{id}`"))
        .before_after(before_json, serde_json::to_value(&change_to).ok());
    let outcome = run.change(change, async |p: &Permit| account.modify_volume(p, id, &change_to).await)?;
    let what = format!("modification of volume `{id}`");
    let planned = || {
        Ok(rhai::Map::from_iter([("volume".into(), Dynamic::from(id.to_string())), ("state".into(), "planned".into())]))
    };
    let settled = |m: Option<Modification>| match m {
        None => Err(Error::NotFound { what: what.clone() }),
        Some(m) if m.state == "failed" => Err(Error::Failed(format!("{what} failed"))),
        Some(m) => Ok(m),
    };
    if !wait_done {
        return if outcome.is_planned() {
            planned()
        } else {
            to_map(&read(&run, async { settled(account.modification(id).await?) })?)
        };
    }
    let w = wait_for(&what, timeout).planned(outcome.is_planned());
    let waited = wait(&run, &w, async |_| {
        let m = settled(account.modification(id).await?)?;
        if m.state == "optimizing" || m.state == "completed" {
            Ok(Poll::Done(m))
        } else {
            Ok(Poll::pending(format!("{} {}%", m.state, m.progress), account.poll_interval()).state(m.state))
        }
    })?;
    match waited {
        Waited::Done { value, .. } => to_map(&value),
        Waited::WouldWait { .. } => planned(),
    }
}

pub(super) fn tag(ctx: &NativeCallContext, ec2: &Ec2, resource: &str, tags: &rhai::Map) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let tags = tags_arg(Some(&Dynamic::from_map(tags.clone())), "`tags`")?;
    let change =
        Change::new(system(ec2), "tag", format!("`{resource}`")).before_after(None, serde_json::to_value(&tags).ok());
    let account = ec2.0.backend();
    run.change(change, async |p: &Permit| account.tag(p, resource, &tags).await)?;
    Ok(())
}

pub(super) fn delete(ctx: &NativeCallContext, ec2: &Ec2, id: &str, kind: Kind) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let account = ec2.0.backend();
    // Read first: the plan shows what goes, and moto's DryRun does not
    // check that it exists.
    let before = match kind {
        Kind::Volume => serde_json::to_value(read(&run, account.volume(id))?).ok(),
        Kind::Snapshot => serde_json::to_value(read(&run, account.snapshot(id))?).ok(),
    };
    let change =
        Change::new(system(ec2), "delete", format!("{} `{id}`", kind.noun())).destructive().before_after(before, None);
    run.change(change, async |p: &Permit| match kind {
        Kind::Volume => account.delete_volume(p, id).await,
        Kind::Snapshot => account.delete_snapshot(p, id).await,
    })?;
    Ok(())
}
