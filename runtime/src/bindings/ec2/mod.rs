//! `ec2::` - EBS volumes and snapshots of an account: reads, creates with
//! idempotency tokens, in-place modification, tags, deletes, and waits with
//! progress. Every mutation is one call of the backend account handed to the
//! gate; under the gate's check permit the backend sends it with EC2's
//! `DryRun=true` (on worlds: the same validation, no change).

use std::time::Duration;

use rhai::plugin::*;
use rhai::{EvalAltResult, NativeCallContext};

use super::aws::{read, strings_arg, tags_arg, to_dynamic, to_map, Account, Kind};
use super::options::Options;
use super::ScriptResult;
use crate::backends::aws::Query;
use crate::run::Run;

mod change;
mod create;

use change::{delete, modify_volume, tag, wait_snapshot, wait_volume};
use create::{create_snapshot, create_volume};

/// The EC2 of an account: `aws::account(...).ec2()`.
#[derive(Debug, Clone)]
pub struct Ec2(pub(crate) Account);

pub(super) const WAIT_SNAPSHOT: Duration = Duration::from_hours(2);
pub(super) const WAIT_VOLUME: Duration = Duration::from_mins(10);
pub(super) const WAIT_MODIFY: Duration = Duration::from_hours(6);

#[export_module]
pub(crate) mod ec2 {
    pub type Ec2 = super::Ec2;

    /// The account's EC2 (volumes and snapshots).
    ///
    /// ```rhai
    /// let ec2 = aws::account(#{ profile: "prod" }).ec2();
    /// ```
    #[rhai_fn(global)]
    pub fn ec2(account: super::Account) -> Ec2 {
        super::Ec2(account)
    }

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
    ///
    /// ```rhai
    /// print(`${prod.ec2()}`);
    /// ```
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(ec2: &mut Ec2) -> String {
        format!("Ec2({})", ec2.0.name())
    }
}

pub(super) fn system(ec2: &Ec2) -> String {
    format!("ec2/{}", ec2.0.name())
}

pub(super) fn query_arg(function: &str, options: &rhai::Map) -> ScriptResult<Query> {
    let o = Options::new(function, options, &["ids", "filters", "tags"])?;
    let mut query = Query { ids: o.strings("ids")?.unwrap_or_default(), ..Query::default() };
    for (name, values) in o.map("filters")?.unwrap_or_default() {
        query.filters.insert(name.to_string(), strings_arg(&values, &format!("filter `{name}`"))?);
    }
    query.tags = tags_arg(o.get("tags"), "`tags`")?;
    Ok(query)
}

fn volumes(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let query = query_arg("volumes", options)?;
    read(&run, ec2.0.backend().volumes(&query))?.iter().map(to_dynamic).collect()
}

fn volume(ctx: &NativeCallContext, ec2: &Ec2, id: &str) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    to_map(&read(&run, ec2.0.backend().volume(id))?)
}

fn snapshots(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Array> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let query = query_arg("snapshots", options)?;
    read(&run, ec2.0.backend().snapshots(&query))?.iter().map(to_dynamic).collect()
}
