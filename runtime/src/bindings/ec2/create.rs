//! Creates (snapshots, volumes) made idempotent by tokens: a ledger per run
//! and account remembers what each token made, so a retried or resumed
//! create finds the first one instead of making a second.

use rhai::NativeCallContext;
use serde_json::json;

use super::super::aws::{
    boxed, check_options, is_planned, opt_bool, opt_int, opt_str, planned_id, tags_arg, to_map, Cause,
};
use super::super::{script_error, ScriptResult};
use super::{read_snapshot, read_volume, system, Ec2, Kind};
use crate::backends::aws::{
    self as backend, ec2 as live, NewVolume, Query, Snapshot, Tags, Volume, RUN_TAG, TOKEN_TAG,
};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

/// What the run knows about a create's token.
enum Earlier {
    /// Nothing was made with it.
    Nothing,
    /// This id was made with it.
    Made(String),
    /// Maybe something was: look it up.
    Unknown,
}

/// Whether a create with `token` was made before, from the run's ledger
/// (loading it with one lookup the first time). Tokens given by the script
/// may come from other runs, so they are always looked up.
fn earlier(run: &Run, ec2: &Ec2, kind: Kind, token: &str, explicit: bool) -> ScriptResult<Earlier> {
    if explicit {
        return Ok(Earlier::Unknown);
    }
    let mut ledger = ec2.0.ledger();
    if ledger.in_doubt.contains(token) {
        return Ok(Earlier::Unknown);
    }
    let name = match kind {
        Kind::Volume => "volume",
        Kind::Snapshot => "snapshot",
    };
    if !ledger.loaded.contains(name) {
        let ours = Query { tags: [(RUN_TAG.to_string(), run.lineage().to_string())].into(), ..Query::default() };
        let found: Vec<(String, Tags)> = match kind {
            Kind::Volume => ec2
                .0
                .read(run, async |c| live::volumes(&c.ec2, &ours).await, |a, _| Ok(a.volumes(&ours)))?
                .into_iter()
                .map(|v| (v.id, v.tags))
                .collect(),
            Kind::Snapshot => ec2
                .0
                .read(run, async |c| live::snapshots(&c.ec2, &ours).await, |a, _| Ok(a.snapshots(&ours)))?
                .into_iter()
                .map(|s| (s.id, s.tags))
                .collect(),
        };
        for (id, tags) in found {
            if let Some(t) = tags.get(TOKEN_TAG) {
                ledger.made.insert(t.clone(), id);
            }
        }
        ledger.loaded.insert(name);
    }
    Ok(ledger.made.get(token).map_or(Earlier::Nothing, |id| Earlier::Made(id.clone())))
}

/// The volume an earlier attempt made with `token`, if any.
fn earlier_volume(run: &Run, ec2: &Ec2, token: &str, explicit: bool) -> ScriptResult<Option<Volume>> {
    Ok(match earlier(run, ec2, Kind::Volume, token, explicit)? {
        Earlier::Nothing => None,
        Earlier::Made(id) => Some(read_volume(run, ec2, &id)?),
        Earlier::Unknown => {
            let mine = Query { tags: [(TOKEN_TAG.to_string(), token.to_string())].into(), ..Query::default() };
            ec2.0
                .read(run, async |c| live::volumes(&c.ec2, &mine).await, |a, _| Ok(a.volumes(&mine)))?
                .into_iter()
                .next()
        }
    })
}

/// Notes how a create with `token` ended.
fn remember<T>(ec2: &Ec2, token: &str, outcome: &ScriptResult<Outcome<T>>, id: impl FnOnce(&T) -> String) {
    let mut ledger = ec2.0.ledger();
    match outcome {
        Ok(Outcome::Applied(made)) => {
            ledger.made.insert(token.to_string(), id(made));
        }
        Ok(Outcome::Planned) => {}
        Err(_) => {
            ledger.in_doubt.insert(token.to_string());
        }
    }
}

/// The token for a create: given, or derived from the run, the step and
/// the call's arguments.
fn token_for(run: &Run, options: &rhai::Map, operation: &str, args: &serde_json::Value) -> ScriptResult<String> {
    Ok(match opt_str(options, "token")? {
        Some(t) => t,
        None => backend::token(run.lineage(), run.current_step().as_deref(), operation, &args.to_string()),
    })
}

pub(super) fn create_snapshot(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    volume_id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("snapshot", options, &["description", "tags", "token"])?;
    let description = opt_str(options, "description")?.unwrap_or_default();
    let mut tags = tags_arg(options.get("tags"), "`tags`")?;
    let token = token_for(&run, options, "create_snapshot", &json!([volume_id, description, tags]))?;
    let _claim = ec2.0.claim(&run, &token)?;
    let found = match earlier(&run, ec2, Kind::Snapshot, &token, options.contains_key("token"))? {
        Earlier::Nothing => None,
        Earlier::Made(id) => Some(read_snapshot(&run, ec2, &id)?),
        Earlier::Unknown => {
            // The volume filter first: it keeps the lookup cheap (moto scans
            // every snapshot it knows for a tag filter alone).
            let mine = Query {
                filters: [("volume-id".to_string(), vec![volume_id.to_string()])].into(),
                tags: [(TOKEN_TAG.to_string(), token.clone())].into(),
                ..Query::default()
            };
            ec2.0
                .read(&run, async |c| live::snapshots(&c.ec2, &mine).await, |a, _| Ok(a.snapshots(&mine)))?
                .into_iter()
                .next()
        }
    };
    if let Some(s) = found {
        run.printer().status(
            crate::output::Tone::Progress,
            "Found",
            &format!("snapshot `{}` of `{volume_id}` (made by an earlier attempt)", s.id),
        );
        return to_map(&s);
    }
    tags.insert(RUN_TAG.into(), run.lineage().to_string());
    tags.insert(TOKEN_TAG.into(), token.clone());
    let size = std::cell::Cell::new(0);
    let change = Change::new(system(ec2), "snapshot", format!("volume `{volume_id}`"))
        .before_after(None, Some(json!({"description": description, "tags": tags})));
    let cause = Cause::default();
    let outcome = run
        .change_legacy(
            change,
            |p| {
                // moto's DryRun does not look at the volume; real EC2 does.
                // Read it so that a missing volume fails the same way
                // everywhere (when applying, CreateSnapshot itself says so).
                let volume = ec2
                    .0
                    .call(&run, async |c| live::volume(&c.ec2, volume_id).await, |a, _| a.volume(volume_id))
                    .map_err(boxed)?
                    .map_err(|e| cause.keep(e))?;
                size.set(volume.size);
                let answer = ec2
                    .0
                    .call(
                        &run,
                        async |c| live::create_snapshot(p, &c.ec2, volume_id, &description, &tags, true).await,
                        |a, now| a.create_snapshot(p, volume_id, &description, &tags, now, true),
                    )
                    .map_err(boxed)?;
                let answer =
                    if ec2.0.is_live() { live::dry_run_answer(answer, "CreateSnapshot") } else { answer.map(|_| ()) };
                answer.map_err(|e| cause.keep(e))
            },
            |p| {
                ec2.0
                    .call(
                        &run,
                        async |c| live::create_snapshot(p, &c.ec2, volume_id, &description, &tags, false).await,
                        |a, now| a.create_snapshot(p, volume_id, &description, &tags, now, false),
                    )
                    .map_err(boxed)?
                    .map_err(|e| cause.keep(e))
            },
        )
        .map_err(|e| cause.enrich(e));
    remember(ec2, &token, &outcome, |s: &Snapshot| s.id.clone());
    let outcome = outcome?;
    let snapshot = match outcome {
        Outcome::Applied(s) => s,
        Outcome::Planned => Snapshot {
            id: planned_id("snap"),
            volume: volume_id.to_string(),
            state: "planned".into(),
            progress: 0,
            size: size.get(),
            description,
            tags,
        },
    };
    to_map(&snapshot)
}

pub(super) fn create_volume(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options(
        "create_volume",
        options,
        &["az", "snapshot", "type", "size", "iops", "throughput", "encrypted", "tags", "token"],
    )?;
    let Some(az) = opt_str(options, "az")? else {
        return Err(script_error("Invalid", "`create_volume` needs `az` (the availability zone)"));
    };
    let mut new = NewVolume {
        az,
        snapshot: opt_str(options, "snapshot")?,
        volume_type: opt_str(options, "type")?.unwrap_or_else(|| "gp3".into()),
        size: opt_int(options, "size")?,
        iops: opt_int(options, "iops")?,
        throughput: opt_int(options, "throughput")?,
        encrypted: opt_bool(options, "encrypted")?,
        tags: tags_arg(options.get("tags"), "`tags`")?,
    };
    let token = token_for(&run, options, "create_volume", &serde_json::to_value(&new).unwrap_or_default())?;
    let _claim = ec2.0.claim(&run, &token)?;
    let found = earlier_volume(&run, ec2, &token, options.contains_key("token"))?;
    if let Some(v) = found {
        run.printer().status(
            crate::output::Tone::Progress,
            "Found",
            &format!("volume `{}` (made by an earlier attempt)", v.id),
        );
        return to_map(&v);
    }
    if let Some(snapshot) = new.snapshot.as_deref().filter(|s| !is_planned(s)) {
        read_snapshot(&run, ec2, snapshot)?;
    }
    new.tags.insert(TOKEN_TAG.into(), token.clone());
    new.tags.insert(RUN_TAG.into(), run.lineage().to_string());
    let target = match &new.snapshot {
        Some(s) => format!("{} volume from `{s}` in {}", new.volume_type, new.az),
        None => format!("{} volume in {}", new.volume_type, new.az),
    };
    let change = Change::new(system(ec2), "create", target).before_after(None, serde_json::to_value(&new).ok());
    let cause = Cause::default();
    let from_planned = new.snapshot.as_deref().is_some_and(is_planned);
    let outcome = run
        .change_legacy(
            change,
            |p| {
                if from_planned {
                    // Its snapshot is only planned: nothing to ask EC2 about yet.
                    return Ok(());
                }
                let answer = ec2
                    .0
                    .call(
                        &run,
                        async |c| live::create_volume(p, &c.ec2, &new, &token, true).await,
                        |a, now| a.create_volume(p, &new, now, true),
                    )
                    .map_err(boxed)?;
                let answer =
                    if ec2.0.is_live() { live::dry_run_answer(answer, "CreateVolume") } else { answer.map(|_| ()) };
                answer.map_err(|e| cause.keep(e))
            },
            |p| {
                ec2.0
                    .call(
                        &run,
                        async |c| live::create_volume(p, &c.ec2, &new, &token, false).await,
                        |a, now| a.create_volume(p, &new, now, false),
                    )
                    .map_err(boxed)?
                    .map_err(|e| cause.keep(e))
            },
        )
        .map_err(|e| cause.enrich(e));
    remember(ec2, &token, &outcome, |v: &Volume| v.id.clone());
    let outcome = outcome?;
    let volume = match outcome {
        Outcome::Applied(v) => v,
        Outcome::Planned => Volume {
            id: planned_id("vol"),
            state: "planned".into(),
            size: new.size.unwrap_or_default(),
            volume_type: new.volume_type.clone(),
            az: new.az.clone(),
            iops: new.iops,
            throughput: new.throughput,
            encrypted: new.encrypted.unwrap_or(false),
            snapshot: new.snapshot.clone(),
            tags: new.tags.clone(),
        },
    };
    to_map(&volume)
}
