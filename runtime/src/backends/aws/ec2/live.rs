//! Live EC2: EBS volumes and snapshots through the AWS SDK. Reads are plain
//! functions; every mutating function takes a [`Permit`] and sends
//! `DryRun` as the permit says (EC2's own validation under
//! `Permit::Check`), answering `None` for a check that would succeed.
//!
//! The SDK's mutating senders are in `clippy.toml` `disallowed-methods`: the
//! `#[allow]`s below are on functions that take a `Permit`, and nowhere else.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VolumeType};
use aws_sdk_ec2::Client;

use crate::backends::aws::{Error, Modification, NewVolume, Query, Snapshot, Tags, Volume, VolumeChange};
use crate::effects::{Failure, Permit};

/// Reads the volumes `query` selects.
pub(super) async fn volumes(client: &Client, query: &Query) -> Result<Vec<Volume>, Error> {
    let mut stream = client
        .describe_volumes()
        .set_volume_ids(non_empty(&query.ids))
        .set_filters(filters(query))
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push(volume_of(&item.map_err(|e| Error::from_sdk("DescribeVolumes", e))?));
    }
    Ok(out)
}

/// Reads one volume.
pub(super) async fn volume(client: &Client, id: &str) -> Result<Volume, Error> {
    let query = Query { ids: vec![id.to_string()], ..Query::default() };
    match volumes(client, &query).await {
        Ok(found) => found.into_iter().next().ok_or_else(|| Error::NotFound { what: format!("volume `{id}`") }),
        Err(e) if e.kind() == "NotFound" => Err(Error::NotFound { what: format!("volume `{id}`") }),
        Err(e) => Err(e),
    }
}

/// Reads the snapshots `query` selects (owned by the account).
pub(super) async fn snapshots(client: &Client, query: &Query) -> Result<Vec<Snapshot>, Error> {
    let mut stream = client
        .describe_snapshots()
        .owner_ids("self")
        .set_snapshot_ids(non_empty(&query.ids))
        .set_filters(filters(query))
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        out.push(snapshot_of(&item.map_err(|e| Error::from_sdk("DescribeSnapshots", e))?));
    }
    Ok(out)
}

/// Reads one snapshot.
pub(super) async fn snapshot(client: &Client, id: &str) -> Result<Snapshot, Error> {
    let query = Query { ids: vec![id.to_string()], ..Query::default() };
    match snapshots(client, &query).await {
        Ok(found) => found.into_iter().next().ok_or_else(|| Error::NotFound { what: format!("snapshot `{id}`") }),
        Err(e) if e.kind() == "NotFound" => Err(Error::NotFound { what: format!("snapshot `{id}`") }),
        Err(e) => Err(e),
    }
}

/// The latest modification of a volume, if it was ever modified.
pub(super) async fn modification(client: &Client, volume_id: &str) -> Result<Option<Modification>, Error> {
    let out = client
        .describe_volumes_modifications()
        .volume_ids(volume_id)
        .send()
        .await
        .map_err(|e| Error::from_sdk("DescribeVolumesModifications", e))?;
    Ok(out.volumes_modifications().last().map(|m| Modification {
        volume: m.volume_id().unwrap_or_default().to_string(),
        state: m.modification_state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        progress: m.progress().unwrap_or_default(),
        target_type: m.target_volume_type().map(|t| t.as_str().to_string()),
        target_iops: m.target_iops().map(i64::from),
        target_throughput: m.target_throughput().map(i64::from),
    }))
}

/// Snapshots a volume.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn create_snapshot(
    permit: &Permit,
    client: &Client,
    volume_id: &str,
    description: &str,
    tags: &Tags,
) -> Result<Option<Snapshot>, Error> {
    let sent = client
        .create_snapshot()
        .volume_id(volume_id)
        .description(description)
        .set_tag_specifications(tag_spec(ResourceType::Snapshot, tags))
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateSnapshot", e));
    answer(permit, "CreateSnapshot", sent, |out| Snapshot {
        id: out.snapshot_id().unwrap_or_default().to_string(),
        volume: out.volume_id().unwrap_or_default().to_string(),
        state: out.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        progress: percent(out.progress()),
        size: out.volume_size().map(i64::from).unwrap_or_default(),
        description: out.description().unwrap_or_default().to_string(),
        start_time: out.start_time().map(rfc3339),
        tags: tags_of(out.tags()),
    })
}

/// Creates a volume; `token` goes in as EC2's `ClientToken`.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn create_volume(
    permit: &Permit,
    client: &Client,
    new: &NewVolume,
    token: &str,
) -> Result<Option<Volume>, Error> {
    let sent = client
        .create_volume()
        .availability_zone(&new.az)
        .set_snapshot_id(new.snapshot.clone())
        .volume_type(VolumeType::from(new.volume_type.as_str()))
        .set_size(int32(new.size, "size")?)
        .set_iops(int32(new.iops, "iops")?)
        .set_throughput(int32(new.throughput, "throughput")?)
        .set_encrypted(new.encrypted)
        .set_tag_specifications(tag_spec(ResourceType::Volume, &new.tags))
        .client_token(token)
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateVolume", e));
    answer(permit, "CreateVolume", sent, |out| Volume {
        id: out.volume_id().unwrap_or_default().to_string(),
        state: out.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        size: out.size().map(i64::from).unwrap_or_default(),
        volume_type: out.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        az: out.availability_zone().unwrap_or_default().to_string(),
        iops: out.iops().map(i64::from),
        throughput: out.throughput().map(i64::from),
        encrypted: out.encrypted().unwrap_or_default(),
        snapshot: out.snapshot_id().filter(|s| !s.is_empty()).map(ToString::to_string),
        tags: tags_of(out.tags()),
    })
}

/// Changes a volume's type, IOPS, throughput or size in place.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn modify_volume(
    permit: &Permit,
    client: &Client,
    volume_id: &str,
    change: &VolumeChange,
) -> Result<Option<()>, Error> {
    let sent = client
        .modify_volume()
        .volume_id(volume_id)
        .set_volume_type(change.volume_type.as_deref().map(VolumeType::from))
        .set_iops(int32(change.iops, "iops")?)
        .set_throughput(int32(change.throughput, "throughput")?)
        .set_size(int32(change.size, "size")?)
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("ModifyVolume", e));
    answer(permit, "ModifyVolume", sent, |_| ())
}

/// Adds or replaces tags on any EC2 resource.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn tag(permit: &Permit, client: &Client, resource: &str, tags: &Tags) -> Result<Option<()>, Error> {
    let sent = client
        .create_tags()
        .resources(resource)
        .set_tags(Some(tag_list(tags)))
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("CreateTags", e));
    answer(permit, "CreateTags", sent, |_| ())
}

/// Deletes a volume.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn delete_volume(permit: &Permit, client: &Client, id: &str) -> Result<Option<()>, Error> {
    let sent = client
        .delete_volume()
        .volume_id(id)
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("DeleteVolume", e));
    answer(permit, "DeleteVolume", sent, |_| ())
}

/// Deletes a snapshot.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn delete_snapshot(permit: &Permit, client: &Client, id: &str) -> Result<Option<()>, Error> {
    let sent = client
        .delete_snapshot()
        .snapshot_id(id)
        .dry_run(permit.is_check())
        .send()
        .await
        .map_err(|e| Error::from_sdk("DeleteSnapshot", e));
    answer(permit, "DeleteSnapshot", sent, |_| ())
}

/// EC2's answer to a call sent with `DryRun` as `permit` says: what was
/// made (`Apply`), `None` for a check EC2 says would succeed
/// (`DryRunOperation`), else why not. A server that made the change despite
/// `DryRun` is an error too: the plan must not claim nothing changed.
fn answer<O, T>(
    permit: &Permit,
    operation: &str,
    sent: Result<O, Error>,
    made: impl FnOnce(O) -> T,
) -> Result<Option<T>, Error> {
    match (sent, permit.is_check()) {
        (Err(e), true) if e.is_dry_run_ok() => Ok(None),
        (Err(e), _) => Err(e),
        (Ok(_), true) => Err(Error::Invalid(format!("{operation}: the server ignored DryRun and made the change"))),
        (Ok(out), false) => Ok(Some(made(out))),
    }
}

fn volume_of(v: &aws_sdk_ec2::types::Volume) -> Volume {
    Volume {
        id: v.volume_id().unwrap_or_default().to_string(),
        state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        size: v.size().map(i64::from).unwrap_or_default(),
        volume_type: v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        az: v.availability_zone().unwrap_or_default().to_string(),
        iops: v.iops().map(i64::from),
        throughput: v.throughput().map(i64::from),
        encrypted: v.encrypted().unwrap_or_default(),
        snapshot: v.snapshot_id().filter(|s| !s.is_empty()).map(ToString::to_string),
        tags: tags_of(v.tags()),
    }
}

fn snapshot_of(s: &aws_sdk_ec2::types::Snapshot) -> Snapshot {
    Snapshot {
        id: s.snapshot_id().unwrap_or_default().to_string(),
        volume: s.volume_id().unwrap_or_default().to_string(),
        state: s.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        progress: percent(s.progress()),
        size: s.volume_size().map(i64::from).unwrap_or_default(),
        description: s.description().unwrap_or_default().to_string(),
        start_time: s.start_time().map(rfc3339),
        tags: tags_of(s.tags()),
    }
}

/// An SDK time as RFC 3339 (`2026-11-21T06:00:00Z`).
fn rfc3339(t: &aws_sdk_ec2::primitives::DateTime) -> String {
    jiff::Timestamp::from_second(t.secs()).map_or_else(|_| t.to_string(), |ts| ts.to_string())
}

/// `"42%"` -> 42.
fn percent(progress: Option<&str>) -> i64 {
    progress.and_then(|p| p.trim_end_matches('%').trim().parse().ok()).unwrap_or_default()
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

fn tag_list(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn tag_spec(kind: ResourceType, tags: &Tags) -> Option<Vec<TagSpecification>> {
    (!tags.is_empty())
        .then(|| vec![TagSpecification::builder().resource_type(kind).set_tags(Some(tag_list(tags))).build()])
}

fn filters(query: &Query) -> Option<Vec<Filter>> {
    let mut out: Vec<Filter> = query
        .filters
        .iter()
        .map(|(name, values)| Filter::builder().name(name).set_values(Some(values.clone())).build())
        .collect();
    out.extend(query.tags.iter().map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build()));
    (!out.is_empty()).then_some(out)
}

fn non_empty(ids: &[String]) -> Option<Vec<String>> {
    (!ids.is_empty()).then(|| ids.to_vec())
}

fn int32(value: Option<i64>, what: &str) -> Result<Option<i32>, Error> {
    value.map(|v| i32::try_from(v).map_err(|_| Error::Invalid(format!("`{what}` {v} is out of range")))).transpose()
}
