//! Waits, in-place modification, tags and deletes of EC2 resources.

use rhai::{Dynamic, NativeCallContext};
use serde_json::json;

use super::super::aws::{
    aws_error, boxed, check_options, is_planned, opt_bool, opt_int, opt_str, planning, tags_arg, timeout_opt, to_map,
    wait_until, would_wait, Cause, Poll,
};
use super::super::{script_error, ScriptResult};
use super::{read_snapshot, read_volume, system, Ec2, Kind, WAIT_MODIFY, WAIT_SNAPSHOT, WAIT_VOLUME};
use crate::backends::aws::{self as backend, ec2 as live, VolumeChange};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

pub(super) fn wait_snapshot(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("wait_snapshot", options, &["timeout"])?;
    let timeout = timeout_opt(options, WAIT_SNAPSHOT)?;
    let what = format!("snapshot `{id}` completed");
    if is_planned(id) {
        would_wait(&run, &what);
        return Ok(rhai::Map::new());
    }
    if planning(&run) {
        let s = read_snapshot(&run, ec2, id)?;
        if s.state != "completed" {
            would_wait(&run, &what);
        }
        return to_map(&s);
    }
    let s = wait_until(&run, &what, timeout, || {
        let s = ec2.0.call(&run, async |c| live::snapshot(&c.ec2, id).await, |a, _| a.snapshot(id))?;
        Ok(s.and_then(|s| match s.state.as_str() {
            "completed" => Ok(Poll::Done(s)),
            "error" => Err(backend::Error::Failed(format!("snapshot `{id}` failed (state `error`)"))),
            _ => Ok(Poll::Pending(format!("{}%", s.progress))),
        }))
    })?;
    to_map(&s)
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
    check_options("wait_volume", options, &["timeout"])?;
    let timeout = timeout_opt(options, WAIT_VOLUME)?;
    let what = format!("volume `{id}` {state}");
    if is_planned(id) {
        would_wait(&run, &what);
        return Ok(rhai::Map::new());
    }
    if planning(&run) {
        let v = read_volume(&run, ec2, id)?;
        if v.state != state {
            would_wait(&run, &what);
        }
        return to_map(&v);
    }
    let v = wait_until(&run, &what, timeout, || {
        let v = ec2.0.call(&run, async |c| live::volume(&c.ec2, id).await, |a, _| a.volume(id))?;
        Ok(v.and_then(|v| {
            if v.state == state {
                Ok(Poll::Done(v))
            } else if v.state == "error" {
                Err(backend::Error::Failed(format!("volume `{id}` failed (state `error`)")))
            } else {
                Ok(Poll::Pending(v.state))
            }
        }))
    })?;
    to_map(&v)
}

pub(super) fn modify_volume(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("modify_volume", options, &["type", "iops", "throughput", "size", "wait", "timeout"])?;
    let change_to = VolumeChange {
        volume_type: opt_str(options, "type")?,
        iops: opt_int(options, "iops")?,
        throughput: opt_int(options, "throughput")?,
        size: opt_int(options, "size")?,
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
    let wait = opt_bool(options, "wait")?.unwrap_or(true);
    let timeout = timeout_opt(options, WAIT_MODIFY)?;
    let before = if is_planned(id) { None } else { Some(read_volume(&run, ec2, id)?) };
    let before_json = before
        .as_ref()
        .map(|v| json!({"type": v.volume_type, "iops": v.iops, "throughput": v.throughput, "size": v.size}));
    let change = Change::new(system(ec2), "modify", format!("volume `{id}`"))
        .before_after(before_json, serde_json::to_value(&change_to).ok());
    let cause = Cause::default();
    let outcome = run
        .change_legacy(
            change,
            |p| {
                if before.is_none() {
                    return Ok(());
                }
                let answer = ec2
                    .0
                    .call(
                        &run,
                        async |c| live::modify_volume(p, &c.ec2, id, &change_to, true).await,
                        |a, now| a.modify_volume(p, id, &change_to, now, true),
                    )
                    .map_err(boxed)?;
                let answer = if ec2.0.is_live() { live::dry_run_answer(answer, "ModifyVolume") } else { answer };
                answer.map_err(|e| cause.keep(e))
            },
            |p| {
                ec2.0
                    .call(
                        &run,
                        async |c| live::modify_volume(p, &c.ec2, id, &change_to, false).await,
                        |a, now| a.modify_volume(p, id, &change_to, now, false),
                    )
                    .map_err(boxed)?
                    .map_err(|e| cause.keep(e))
            },
        )
        .map_err(|e| cause.enrich(e))?;
    let what = format!("modification of volume `{id}`");
    if matches!(outcome, Outcome::Planned) {
        if wait {
            would_wait(&run, &what);
        }
        return Ok(rhai::Map::from_iter([
            ("volume".into(), Dynamic::from(id.to_string())),
            ("state".into(), "planned".into()),
        ]));
    }
    let poll = || {
        let m = ec2.0.call(&run, async |c| live::modification(&c.ec2, id).await, |a, _| Ok(a.modification(id)))?;
        Ok(m.and_then(|m| match m {
            None => Err(backend::Error::NotFound { what: format!("modification of volume `{id}`") }),
            Some(m) if m.state == "failed" => {
                Err(backend::Error::Failed(format!("modification of volume `{id}` failed")))
            }
            Some(m) if m.state == "optimizing" || m.state == "completed" => Ok(Poll::Done(m)),
            Some(m) => Ok(Poll::Pending(format!("{} {}%", m.state, m.progress))),
        }))
    };
    let modification = if wait {
        wait_until(&run, &what, timeout, poll)?
    } else {
        match poll()?.map_err(|e| aws_error(&run, &e))? {
            Poll::Done(m) => m,
            Poll::Pending(_) => ec2
                .0
                .read(&run, async |c| live::modification(&c.ec2, id).await, |a, _| Ok(a.modification(id)))?
                .ok_or_else(|| script_error("NotFound", &format!("modification of volume `{id}` not found")))?,
        }
    };
    to_map(&modification)
}

pub(super) fn tag(ctx: &NativeCallContext, ec2: &Ec2, resource: &str, tags: &rhai::Map) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let tags = tags_arg(Some(&Dynamic::from_map(tags.clone())), "`tags`")?;
    let change =
        Change::new(system(ec2), "tag", format!("`{resource}`")).before_after(None, serde_json::to_value(&tags).ok());
    let cause = Cause::default();
    let planned = is_planned(resource);
    run.change_legacy(
        change,
        |p| {
            if planned {
                return Ok(());
            }
            let answer = ec2
                .0
                .call(
                    &run,
                    async |c| live::tag(p, &c.ec2, resource, &tags, true).await,
                    |a, _| a.tag(p, resource, &tags, true),
                )
                .map_err(boxed)?;
            let answer = if ec2.0.is_live() { live::dry_run_answer(answer, "CreateTags") } else { answer };
            answer.map_err(|e| cause.keep(e))
        },
        |p| {
            ec2.0
                .call(
                    &run,
                    async |c| live::tag(p, &c.ec2, resource, &tags, false).await,
                    |a, _| a.tag(p, resource, &tags, false),
                )
                .map_err(boxed)?
                .map_err(|e| cause.keep(e))
        },
    )
    .map_err(|e| cause.enrich(e))?;
    Ok(())
}

pub(super) fn delete(ctx: &NativeCallContext, ec2: &Ec2, id: &str, kind: Kind) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    // Read first: the plan shows what goes, and moto's DryRun does not
    // check that it exists.
    let before = match kind {
        Kind::Volume => serde_json::to_value(read_volume(&run, ec2, id)?).ok(),
        Kind::Snapshot => serde_json::to_value(read_snapshot(&run, ec2, id)?).ok(),
    };
    let noun = match kind {
        Kind::Volume => "volume",
        Kind::Snapshot => "snapshot",
    };
    let change = Change::new(system(ec2), "delete", format!("{noun} `{id}`")).destructive().before_after(before, None);
    let cause = Cause::default();
    let send = |p: &crate::effects::Permit, dry_run: bool| {
        ec2.0.call(
            &run,
            async |c| match kind {
                Kind::Volume => live::delete_volume(p, &c.ec2, id, dry_run).await,
                Kind::Snapshot => live::delete_snapshot(p, &c.ec2, id, dry_run).await,
            },
            |a, _| match kind {
                Kind::Volume => a.delete_volume(p, id, dry_run),
                Kind::Snapshot => a.delete_snapshot(p, id, dry_run),
            },
        )
    };
    run.change_legacy(
        change,
        |p| {
            let answer = send(p, true).map_err(boxed)?;
            let answer = if ec2.0.is_live() { live::dry_run_answer(answer, "Delete") } else { answer };
            answer.map_err(|e| cause.keep(e))
        },
        |p| send(p, false).map_err(boxed)?.map_err(|e| cause.keep(e)),
    )
    .map_err(|e| cause.enrich(e))?;
    Ok(())
}
