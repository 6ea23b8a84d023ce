//! `ec2::` - EBS volumes and snapshots of an account: reads, creates with
//! idempotency tokens, in-place modification, tags, deletes, and waits with
//! progress. Every mutation goes through the gate; its check sends the same
//! call with EC2's `DryRun=true` (on worlds: the same validation, no change).

use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};
use serde_json::json;

use super::aws::{
    aws_error, boxed, check_options, is_planned, opt_bool, opt_int, opt_str, planned_id, planning, tags_arg,
    timeout_opt, to_dynamic, wait_until, would_wait, Account, Cause, Poll,
};
use super::{script_error, ScriptResult};
use crate::backends::aws::{
    self as backend, ec2 as live, NewVolume, Query, Snapshot, Tags, Volume, VolumeChange, RUN_TAG, TOKEN_TAG,
};
use crate::effects::{Change, Outcome};
use crate::run::Run;

/// The EC2 of an account: `aws::account(...).ec2()`.
#[derive(Debug, Clone)]
pub struct Ec2(pub(crate) Account);

const WAIT_SNAPSHOT: Duration = Duration::from_secs(2 * 3600);
const WAIT_VOLUME: Duration = Duration::from_secs(600);
const WAIT_MODIFY: Duration = Duration::from_secs(6 * 3600);

#[export_module]
pub(crate) mod ec2 {
    pub type Ec2 = super::Ec2;

    /// All volumes of the account's region.
    ///
    /// ```rhai
    /// for v in ec2.volumes() { print(`${v.id} ${v.type} ${v.size}GiB`); }
    /// ```
    #[rhai_fn(global, name = "volumes", return_raw)]
    pub fn volumes_all(ctx: NativeCallContext, ec2: Ec2) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::volumes(&ctx, &ec2, &rhai::Map::new())
    }

    /// Volumes selected by `ids`, EC2 `filters` (name -> value or values)
    /// and `tags` (all must match). Each is `#{id, state, size, type, az,
    /// iops, throughput, encrypted, snapshot, tags}`.
    ///
    /// ```rhai
    /// let homes = ec2.volumes(#{ tags: #{ "kubernetes.io/created-for/pvc/namespace": "daskhub" },
    ///                            filters: #{ "volume-type": "gp2" } });
    /// ```
    #[rhai_fn(global, name = "volumes", return_raw)]
    pub fn volumes(ctx: NativeCallContext, ec2: Ec2, query: rhai::Map) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::volumes(&ctx, &ec2, &query)
    }

    /// One volume (`kind: "NotFound"` if it does not exist).
    ///
    /// ```rhai
    /// let v = ec2.volume("vol-0abc");
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn volume(ctx: NativeCallContext, ec2: Ec2, id: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::volume(&ctx, &ec2, id)
    }

    /// All snapshots the account owns.
    ///
    /// ```rhai
    /// let all = ec2.snapshots();
    /// ```
    #[rhai_fn(global, name = "snapshots", return_raw)]
    pub fn snapshots_all(ctx: NativeCallContext, ec2: Ec2) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::snapshots(&ctx, &ec2, &rhai::Map::new())
    }

    /// Snapshots the account owns, selected like `volumes`. Each is
    /// `#{id, volume, state, progress, size, description, tags}`.
    ///
    /// ```rhai
    /// let done = ec2.snapshots(#{ tags: #{ migration: "cae-2026" }, filters: #{ status: "completed" } });
    /// ```
    #[rhai_fn(global, name = "snapshots", return_raw)]
    pub fn snapshots(ctx: NativeCallContext, ec2: Ec2, query: rhai::Map) -> Result<rhai::Array, Box<EvalAltResult>> {
        super::snapshots(&ctx, &ec2, &query)
    }

    /// Snapshots a volume (returns at once, `state: "pending"`).
    ///
    /// ```rhai
    /// let s = ec2.snapshot("vol-0abc");
    /// ```
    #[rhai_fn(global, name = "snapshot", return_raw)]
    pub fn snapshot_plain(ctx: NativeCallContext, ec2: Ec2, volume_id: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::create_snapshot(&ctx, &ec2, volume_id, &rhai::Map::new())
    }

    /// Snapshots a volume with a `description` and `tags`. Idempotent within
    /// a step: the snapshot is tagged with a token derived from the run, the
    /// step and the arguments, and a retry finds it instead of making a
    /// second one (pass `token` to set it yourself).
    ///
    /// ```rhai
    /// let s = ec2.snapshot(v.id, #{ description: "before gp3", tags: #{ migration: "cae-2026" } });
    /// ec2.wait_snapshot(s.id);
    /// ```
    #[rhai_fn(global, name = "snapshot", return_raw)]
    pub fn snapshot(
        ctx: NativeCallContext,
        ec2: Ec2,
        volume_id: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::create_snapshot(&ctx, &ec2, volume_id, &options)
    }

    /// Waits until a snapshot is `completed` (default timeout 2h), showing
    /// its progress. Returns the snapshot.
    ///
    /// ```rhai
    /// ec2.wait_snapshot(s.id);
    /// ```
    #[rhai_fn(global, name = "wait_snapshot", return_raw)]
    pub fn wait_snapshot_plain(ctx: NativeCallContext, ec2: Ec2, id: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_snapshot(&ctx, &ec2, id, &rhai::Map::new())
    }

    /// Waits until a snapshot is `completed`, with `timeout` (`"30m"`).
    ///
    /// ```rhai
    /// ec2.wait_snapshot(s.id, #{ timeout: "30m" });
    /// ```
    #[rhai_fn(global, name = "wait_snapshot", return_raw)]
    pub fn wait_snapshot(
        ctx: NativeCallContext,
        ec2: Ec2,
        id: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_snapshot(&ctx, &ec2, id, &options)
    }

    /// Creates a volume: `az` (required), `snapshot`, `type` (default
    /// `gp3`), `size` (GiB; default the snapshot's), `iops`, `throughput`,
    /// `encrypted`, `tags`, `token`. Idempotent like `snapshot` (and sends
    /// EC2's `ClientToken`).
    ///
    /// ```rhai
    /// let v = ec2.create_volume(#{ snapshot: s.id, az: "us-west-2a", type: "gp3", throughput: 250 });
    /// ec2.wait_volume(v.id, "available");
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn create_volume(
        ctx: NativeCallContext,
        ec2: Ec2,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::create_volume(&ctx, &ec2, &options)
    }

    /// Waits until a volume is in `state` (`available`, `in-use`, ...;
    /// default timeout 10m).
    ///
    /// ```rhai
    /// ec2.wait_volume(v.id, "available");
    /// ```
    #[rhai_fn(global, name = "wait_volume", return_raw)]
    pub fn wait_volume_plain(
        ctx: NativeCallContext,
        ec2: Ec2,
        id: &str,
        state: &str,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_volume(&ctx, &ec2, id, state, &rhai::Map::new())
    }

    /// Waits until a volume is in `state`, with `timeout`.
    ///
    /// ```rhai
    /// ec2.wait_volume(v.id, "available", #{ timeout: "2m" });
    /// ```
    #[rhai_fn(global, name = "wait_volume", return_raw)]
    pub fn wait_volume(
        ctx: NativeCallContext,
        ec2: Ec2,
        id: &str,
        state: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::wait_volume(&ctx, &ec2, id, state, &options)
    }

    /// Changes a volume in place (`type`, `iops`, `throughput`, `size`) and
    /// waits until the modification is `optimizing` or `completed` (the
    /// volume is usable at its new settings); `wait: false` returns at once,
    /// `timeout` bounds the wait (default 6h). Returns the modification.
    ///
    /// ```rhai
    /// ec2.modify_volume(v.id, #{ type: "gp3", iops: 3000, throughput: 125 });
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn modify_volume(
        ctx: NativeCallContext,
        ec2: Ec2,
        id: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::modify_volume(&ctx, &ec2, id, &options)
    }

    /// Adds or replaces tags on a volume or snapshot.
    ///
    /// ```rhai
    /// ec2.tag(v.id, #{ migrated: "yes" });
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn tag(ctx: NativeCallContext, ec2: Ec2, resource: &str, tags: rhai::Map) -> Result<(), Box<EvalAltResult>> {
        super::tag(&ctx, &ec2, resource, &tags)
    }

    /// Deletes a volume (destructive: asks unless `--yes`).
    ///
    /// ```rhai
    /// ec2.delete_volume(old.id);
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn delete_volume(ctx: NativeCallContext, ec2: Ec2, id: &str) -> Result<(), Box<EvalAltResult>> {
        super::delete(&ctx, &ec2, id, Kind::Volume)
    }

    /// Deletes a snapshot (destructive: asks unless `--yes`).
    ///
    /// ```rhai
    /// ec2.delete_snapshot(s.id);
    /// ```
    #[rhai_fn(global, return_raw)]
    pub fn delete_snapshot(ctx: NativeCallContext, ec2: Ec2, id: &str) -> Result<(), Box<EvalAltResult>> {
        super::delete(&ctx, &ec2, id, Kind::Snapshot)
    }

    /// `Ec2(prod, us-west-2)`.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(ec2: &mut Ec2) -> String {
        format!("Ec2({})", ec2.0.name())
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Volume,
    Snapshot,
}

fn system(ec2: &Ec2) -> String {
    format!("ec2/{}", ec2.0.name())
}

fn query_arg(function: &str, options: &rhai::Map) -> ScriptResult<Query> {
    check_options(function, options, &["ids", "filters", "tags"])?;
    let mut query = Query::default();
    if let Some(ids) = options.get("ids").filter(|v| !v.is_unit()) {
        query.ids = super::aws::strings_arg(ids, "`ids`")?;
    }
    if let Some(filters) = options.get("filters").filter(|v| !v.is_unit()) {
        let map = filters.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", "`filters` must be a map"))?;
        for (name, values) in map.iter() {
            query.filters.insert(name.to_string(), super::aws::strings_arg(values, &format!("filter `{name}`"))?);
        }
    }
    query.tags = tags_arg(options.get("tags"), "`tags`")?;
    Ok(query)
}

fn volumes(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let query = query_arg("volumes", options)?;
    let found = ec2.0.read(&run, async |c| live::volumes(&c.ec2, &query).await, |a, _| Ok(a.volumes(&query)))?;
    found.iter().map(to_dynamic).collect()
}

fn volume(ctx: &NativeCallContext, ec2: &Ec2, id: &str) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let v = read_volume(&run, ec2, id)?;
    Ok(to_dynamic(&v)?.cast())
}

fn read_volume(run: &Run, ec2: &Ec2, id: &str) -> ScriptResult<Volume> {
    ec2.0.read(run, async |c| live::volume(&c.ec2, id).await, |a, _| a.volume(id))
}

fn read_snapshot(run: &Run, ec2: &Ec2, id: &str) -> ScriptResult<Snapshot> {
    ec2.0.read(run, async |c| live::snapshot(&c.ec2, id).await, |a, _| a.snapshot(id))
}

fn snapshots(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let query = query_arg("snapshots", options)?;
    let found = ec2.0.read(&run, async |c| live::snapshots(&c.ec2, &query).await, |a, _| Ok(a.snapshots(&query)))?;
    found.iter().map(to_dynamic).collect()
}

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
        let ours = Query { tags: [(RUN_TAG.to_string(), run.id().to_string())].into(), ..Query::default() };
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
        None => backend::token(run.id(), run.current_step().as_deref(), operation, &args.to_string()),
    })
}

fn create_snapshot(
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
        return Ok(to_dynamic(&s)?.cast());
    }
    tags.insert(RUN_TAG.into(), run.id().to_string());
    tags.insert(TOKEN_TAG.into(), token.clone());
    let size = std::cell::Cell::new(0);
    let change = Change::new(system(ec2), "snapshot", format!("volume `{volume_id}`"))
        .before_after(None, Some(json!({"description": description, "tags": tags})));
    let cause = Cause::default();
    let outcome = run
        .change(
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
    Ok(to_dynamic(&snapshot)?.cast())
}

fn wait_snapshot(ctx: &NativeCallContext, ec2: &Ec2, id: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
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
        return Ok(to_dynamic(&s)?.cast());
    }
    let s = wait_until(&run, &what, timeout, || {
        let s = ec2.0.call(&run, async |c| live::snapshot(&c.ec2, id).await, |a, _| a.snapshot(id))?;
        Ok(s.and_then(|s| match s.state.as_str() {
            "completed" => Ok(Poll::Done(s)),
            "error" => Err(backend::Error::Failed(format!("snapshot `{id}` failed (state `error`)"))),
            _ => Ok(Poll::Pending(format!("{}%", s.progress))),
        }))
    })?;
    Ok(to_dynamic(&s)?.cast())
}

fn create_volume(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Map> {
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
    let found = earlier_volume(&run, ec2, &token, options.contains_key("token"))?;
    if let Some(v) = found {
        run.printer().status(
            crate::output::Tone::Progress,
            "Found",
            &format!("volume `{}` (made by an earlier attempt)", v.id),
        );
        return Ok(to_dynamic(&v)?.cast());
    }
    if let Some(snapshot) = new.snapshot.as_deref().filter(|s| !is_planned(s)) {
        read_snapshot(&run, ec2, snapshot)?;
    }
    new.tags.insert(TOKEN_TAG.into(), token.clone());
    new.tags.insert(RUN_TAG.into(), run.id().to_string());
    let target = match &new.snapshot {
        Some(s) => format!("{} volume from `{s}` in {}", new.volume_type, new.az),
        None => format!("{} volume in {}", new.volume_type, new.az),
    };
    let change = Change::new(system(ec2), "create", target).before_after(None, serde_json::to_value(&new).ok());
    let cause = Cause::default();
    let from_planned = new.snapshot.as_deref().is_some_and(is_planned);
    let outcome = run
        .change(
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
    Ok(to_dynamic(&volume)?.cast())
}

fn wait_volume(
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
        return Ok(to_dynamic(&v)?.cast());
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
    Ok(to_dynamic(&v)?.cast())
}

fn modify_volume(ctx: &NativeCallContext, ec2: &Ec2, id: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
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
        .change(
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
    Ok(to_dynamic(&modification)?.cast())
}

fn tag(ctx: &NativeCallContext, ec2: &Ec2, resource: &str, tags: &rhai::Map) -> ScriptResult<()> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let tags = tags_arg(Some(&Dynamic::from_map(tags.clone())), "`tags`")?;
    let change =
        Change::new(system(ec2), "tag", format!("`{resource}`")).before_after(None, serde_json::to_value(&tags).ok());
    let cause = Cause::default();
    let planned = is_planned(resource);
    run.change(
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

fn delete(ctx: &NativeCallContext, ec2: &Ec2, id: &str, kind: Kind) -> ScriptResult<()> {
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
    run.change(
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
