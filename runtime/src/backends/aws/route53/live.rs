//! Live Route53: hosted zones, record sets, change batches and their
//! propagation status, through the AWS SDK. Route53 has no dry run: under
//! `Permit::Check` a batch is not sent at all (the precondition read in
//! `Account::change` is the check).
//!
//! Names are sent without their trailing dot: Route53 accepts both, and moto
//! matches DELETEs against the names as they were sent.

use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use aws_sdk_route53::Client;

use crate::backends::aws::{fqdn, Action, Alias, ChangeInfo, Error, Record, Zone};
use crate::effects::Permit;

/// The hosted zones named `name` (public and private ones can share a name).
pub(super) async fn zones_named(client: &Client, name: &str) -> Result<Vec<Zone>, Error> {
    let wanted = fqdn(name);
    let out = client
        .list_hosted_zones_by_name()
        .dns_name(&wanted)
        .max_items(100)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ListHostedZonesByName", e))?;
    Ok(out
        .hosted_zones()
        .iter()
        .filter(|z| fqdn(z.name()) == wanted)
        .map(|z| Zone {
            id: z.id().trim_start_matches("/hostedzone/").to_string(),
            name: fqdn(z.name()),
            private: z.config().is_some_and(aws_sdk_route53::types::HostedZoneConfig::private_zone),
        })
        .collect())
}

/// The record sets of a zone, optionally only those named `name` (and of
/// type `record_type`).
pub(super) async fn records(
    client: &Client,
    zone_id: &str,
    name: Option<&str>,
    record_type: Option<&str>,
) -> Result<Vec<Record>, Error> {
    let wanted = name.map(fqdn);
    let mut start_name = wanted.clone();
    let mut start_type = record_type.filter(|_| wanted.is_some()).map(RrType::from);
    let mut out = Vec::new();
    loop {
        let page = client
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .set_start_record_name(start_name.take())
            .set_start_record_type(start_type.take())
            .send()
            .await
            .map_err(|e| Error::from_sdk("ListResourceRecordSets", e))?;
        let mut past = false;
        for set in page.resource_record_sets() {
            let record = record_of(set);
            if let Some(w) = &wanted {
                if &record.name != w {
                    past = true;
                    continue;
                }
            }
            if record_type.is_some_and(|t| !t.eq_ignore_ascii_case(&record.record_type)) {
                continue;
            }
            out.push(record);
        }
        if past || !page.is_truncated() {
            return Ok(out);
        }
        start_name = page.next_record_name().map(ToString::to_string);
        start_type = page.next_record_type().cloned();
        if start_name.is_none() {
            return Ok(out);
        }
    }
}

/// Sends one change batch, which Route53 applies all or nothing; `None`
/// under `Permit::Check`, when nothing is sent.
#[allow(clippy::disallowed_methods)] // takes a Permit: only the gate calls it
pub(super) async fn change(
    permit: &Permit,
    client: &Client,
    zone_id: &str,
    actions: &[Action],
) -> Result<Option<ChangeInfo>, Error> {
    let mut changes = Vec::new();
    for action in actions {
        let (kind, record) = match action {
            Action::Upsert(r) => (ChangeAction::Upsert, r),
            Action::Create(r) => (ChangeAction::Create, r),
            Action::Delete(r) => (ChangeAction::Delete, r),
        };
        let change = Change::builder()
            .action(kind)
            .resource_record_set(record_set(record)?)
            .build()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        changes.push(change);
    }
    let batch = ChangeBatch::builder()
        .set_changes(Some(changes))
        .comment("hubops")
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if permit.is_check() {
        return Ok(None);
    }
    let out = client
        .change_resource_record_sets()
        .hosted_zone_id(zone_id)
        .change_batch(batch)
        .send()
        .await
        .map_err(|e| Error::from_sdk("ChangeResourceRecordSets", e))?;
    Ok(Some(change_info(out.change_info())))
}

/// The status of a change.
pub(super) async fn change_status(client: &Client, id: &str) -> Result<ChangeInfo, Error> {
    let out = client.get_change().id(id).send().await.map_err(|e| Error::from_sdk("GetChange", e))?;
    Ok(change_info(out.change_info()))
}

fn change_info(info: Option<&aws_sdk_route53::types::ChangeInfo>) -> ChangeInfo {
    ChangeInfo {
        id: info.map(|i| i.id().trim_start_matches("/change/").to_string()).unwrap_or_default(),
        status: info.map(|i| i.status().as_str().to_string()).unwrap_or_default(),
    }
}

fn record_set(record: &Record) -> Result<ResourceRecordSet, Error> {
    let invalid = |e: aws_sdk_route53::error::BuildError| Error::Invalid(e.to_string());
    let values = if record.values.is_empty() {
        None
    } else {
        Some(
            record
                .values
                .iter()
                .map(|v| ResourceRecord::builder().value(v).build().map_err(invalid))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let alias = record
        .alias
        .as_ref()
        .map(|a| {
            AliasTarget::builder()
                .dns_name(&a.dns_name)
                .hosted_zone_id(&a.zone_id)
                .evaluate_target_health(a.evaluate_health)
                .build()
                .map_err(invalid)
        })
        .transpose()?;
    ResourceRecordSet::builder()
        .name(record.name.trim_end_matches('.'))
        .r#type(RrType::from(record.record_type.to_ascii_uppercase().as_str()))
        .set_ttl(record.ttl)
        .set_resource_records(values)
        .set_alias_target(alias)
        .build()
        .map_err(invalid)
}

fn record_of(set: &ResourceRecordSet) -> Record {
    Record {
        name: fqdn(set.name()),
        record_type: set.r#type().as_str().to_string(),
        ttl: set.ttl(),
        values: set.resource_records().iter().map(|r| r.value().to_string()).collect(),
        alias: set.alias_target().map(|a| Alias {
            dns_name: a.dns_name().to_string(),
            zone_id: a.hosted_zone_id().to_string(),
            evaluate_health: a.evaluate_target_health(),
        }),
    }
}
