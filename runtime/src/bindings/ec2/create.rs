//! Creates (snapshots, volumes) made idempotent by tokens: the run's ledger
//! of the account remembers what each token made, so a retried or resumed
//! create finds the first one instead of making a second.

use rhai::NativeCallContext;
use serde_json::json;

use super::super::aws::{read, tags_arg, to_map, Earlier, Kind};
use super::super::options::Options;
use super::super::{script_error, ScriptResult};
use super::{system, Ec2};
use crate::backends::aws::{self as backend, is_planned, NewVolume, Query, RUN_TAG, TOKEN_TAG};
use crate::effects::{Change, Permit};
use crate::output::Tone;
use crate::run::Run;

/// The token for a create: given, or derived from the run, the step and
/// the call's arguments.
fn token_for(run: &Run, given: Option<String>, operation: &str, args: &serde_json::Value) -> String {
    given.unwrap_or_else(|| backend::token(run.lineage(), run.current_step().as_deref(), operation, &args.to_string()))
}

/// A tag query for what `token` made.
fn made_with(token: &str) -> Query {
    Query { tags: [(TOKEN_TAG.to_string(), token.to_string())].into(), ..Query::default() }
}

pub(super) fn create_snapshot(
    ctx: &NativeCallContext,
    ec2: &Ec2,
    volume_id: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("snapshot", options, &["description", "tags", "token"])?;
    let description = o.str("description")?.unwrap_or_default();
    let mut tags = tags_arg(o.get("tags"), "`tags`")?;
    let given = o.str("token")?;
    let explicit = given.is_some();
    let token = token_for(&run, given, "create_snapshot", &json!([volume_id, description, tags]));
    let account = ec2.0.backend();
    let ledger = ec2.0.ledger();
    let _claim = ledger.claim(&run, &token)?;
    let found = match ledger.earlier(&run, account, Kind::Snapshot, &token, explicit)? {
        Earlier::Nothing => None,
        Earlier::Made(id) => Some(read(&run, account.snapshot(&id))?),
        Earlier::Unknown => {
            // The volume filter first: it keeps the lookup cheap (moto scans
            // every snapshot it knows for a tag filter alone).
            let mut mine = made_with(&token);
            mine.filters.insert("volume-id".into(), vec![volume_id.to_string()]);
            read(&run, account.snapshots(&mine))?.into_iter().next()
        }
    };
    if let Some(s) = found {
        run.printer().status(
            Tone::Progress,
            "Found",
            &format!("snapshot `{}` of `{volume_id}` (made by an earlier attempt)", s.id),
        );
        return to_map(&s);
    }
    tags.insert(RUN_TAG.into(), run.lineage().to_string());
    tags.insert(TOKEN_TAG.into(), token.clone());
    let change = Change::new(system(ec2), "snapshot", format!("volume `{volume_id}`"))
        .before_after(None, Some(json!({"description": description, "tags": tags})));
    let outcome =
        run.change(change, async |p: &Permit| account.create_snapshot(p, volume_id, &description, &tags).await);
    ledger.remember(&token, &outcome, |s| s.id.clone());
    to_map(&outcome?.into_inner())
}

pub(super) fn create_volume(ctx: &NativeCallContext, ec2: &Ec2, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new(
        "create_volume",
        options,
        &["az", "snapshot", "type", "size", "iops", "throughput", "encrypted", "tags", "token"],
    )?;
    let Some(az) = o.str("az")? else {
        return Err(script_error("Invalid", "`create_volume` needs `az` (the availability zone)"));
    };
    let mut new = NewVolume {
        az,
        snapshot: o.str("snapshot")?,
        volume_type: o.str("type")?.unwrap_or_else(|| "gp3".into()),
        size: o.int("size")?,
        iops: o.int("iops")?,
        throughput: o.int("throughput")?,
        encrypted: o.bool("encrypted")?,
        tags: tags_arg(o.get("tags"), "`tags`")?,
    };
    let given = o.str("token")?;
    let explicit = given.is_some();
    let token = token_for(&run, given, "create_volume", &serde_json::to_value(&new).unwrap_or_default());
    let account = ec2.0.backend();
    let ledger = ec2.0.ledger();
    let _claim = ledger.claim(&run, &token)?;
    let found = match ledger.earlier(&run, account, Kind::Volume, &token, explicit)? {
        Earlier::Nothing => None,
        Earlier::Made(id) => Some(read(&run, account.volume(&id))?),
        Earlier::Unknown => read(&run, account.volumes(&made_with(&token)))?.into_iter().next(),
    };
    if let Some(v) = found {
        run.printer().status(Tone::Progress, "Found", &format!("volume `{}` (made by an earlier attempt)", v.id));
        return to_map(&v);
    }
    if let Some(snapshot) = new.snapshot.as_deref().filter(|s| !is_planned(s)) {
        read(&run, account.snapshot(snapshot))?;
    }
    new.tags.insert(TOKEN_TAG.into(), token.clone());
    new.tags.insert(RUN_TAG.into(), run.lineage().to_string());
    let target = match &new.snapshot {
        Some(s) => format!("{} volume from `{s}` in {}", new.volume_type, new.az),
        None => format!("{} volume in {}", new.volume_type, new.az),
    };
    let change = Change::new(system(ec2), "create", target).before_after(None, serde_json::to_value(&new).ok());
    let outcome = run.change(change, async |p: &Permit| account.create_volume(p, &new, &token).await);
    ledger.remember(&token, &outcome, |v| v.id.clone());
    to_map(&outcome?.into_inner())
}
