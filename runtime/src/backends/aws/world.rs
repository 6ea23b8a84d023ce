//! The `aws:` section of a world: accounts with volumes, snapshots and hosted
//! zones, behaving like the live backend on virtual time. Snapshots progress
//! and complete, volumes become available, modifications settle and record
//! changes become INSYNC as the run's clock moves. Every record change is
//! logged with its time on the run clock, so a DNS simulation can ask what a
//! record looked like at any instant ([`AwsWorld::record_at`]).
//!
//! ```yaml
//! aws:
//!   accounts:
//!     prod:                      # the profile name scripts pass to aws::account
//!       region: us-west-2
//!       timing: { snapshot: 10m, volume: 1m, modify: 5m, insync: 60s }
//!       volumes:
//!         - { id: vol-home, az: us-west-2a, size: 100, type: gp2, state: in-use }
//!       snapshots: []
//!       zones:
//!         - id: Z123
//!           name: cal-adapt.org
//!           records:
//!             - { name: hub.cal-adapt.org, type: CNAME, ttl: 60, values: [blue.elb.amazonaws.com] }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    fqdn, Action, ChangeInfo, Error, Modification, NewVolume, Query, Record, Snapshot, Tags, Volume, VolumeChange, Zone,
};
use crate::effects::Permit;
use crate::world::WorldPart;

/// The `aws:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsWorld {
    /// Accounts by name (the profile scripts pass to `aws::account`).
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
}

/// One simulated account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Its region.
    #[serde(default = "default_region")]
    pub region: String,
    /// How long things take in virtual time.
    #[serde(default)]
    pub timing: Timing,
    /// EBS volumes.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// EBS snapshots.
    #[serde(default)]
    pub snapshots: Vec<WorldSnapshot>,
    /// Volume modifications in progress or done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifications: Vec<WorldModification>,
    /// Hosted zones.
    #[serde(default)]
    pub zones: Vec<WorldZone>,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// How long operations take, as durations (`10m`, `30s`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// A snapshot from `pending` to `completed`.
    #[serde(default = "five_minutes")]
    pub snapshot: String,
    /// A volume from `creating` to `available`.
    #[serde(default = "one_minute")]
    pub volume: String,
    /// A modification from `modifying` to `completed`.
    #[serde(default = "five_minutes")]
    pub modify: String,
    /// A record change from `PENDING` to `INSYNC`.
    #[serde(default = "one_minute")]
    pub insync: String,
}

impl Default for Timing {
    fn default() -> Self {
        Self { snapshot: five_minutes(), volume: one_minute(), modify: five_minutes(), insync: one_minute() }
    }
}

fn five_minutes() -> String {
    "5m".into()
}
fn one_minute() -> String {
    "60s".into()
}

/// A snapshot and, while pending, when it started (run clock).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldSnapshot {
    /// The snapshot.
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// When it was started, RFC 3339 (pending snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
}

/// A modification and when it started.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldModification {
    /// The modification.
    #[serde(flatten)]
    pub modification: Modification,
    /// When it was started, RFC 3339.
    pub started: String,
}

/// A hosted zone with its records and their change log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldZone {
    /// The zone id.
    pub id: String,
    /// The zone name.
    pub name: String,
    /// Whether it is private.
    #[serde(default)]
    pub private: bool,
    /// The records now.
    #[serde(default)]
    pub records: Vec<Record>,
    /// Every change made to a record, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<RecordChange>,
}

/// One change to one record set, on the run clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordChange {
    /// The change batch's id.
    pub change: String,
    /// When it was made, RFC 3339 (run clock).
    pub at: String,
    /// The record's name (FQDN).
    pub name: String,
    /// The record's type.
    #[serde(rename = "type")]
    pub record_type: String,
    /// The record before (none: it did not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Record>,
    /// The record after (none: deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Record>,
}

impl WorldPart for AwsWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Loads the `aws:` section.
pub(crate) fn load_world(section: &Value) -> Result<Box<dyn WorldPart>, String> {
    let mut world: AwsWorld = serde_json::from_value(section.clone()).map_err(|e| e.to_string())?;
    for (name, account) in &mut world.accounts {
        let t = &account.timing;
        for (what, d) in
            [("snapshot", &t.snapshot), ("volume", &t.volume), ("modify", &t.modify), ("insync", &t.insync)]
        {
            crate::duration::parse(d).map_err(|e| format!("account `{name}`: `timing.{what}`: {e}"))?;
        }
        for s in &account.snapshots {
            if let Some(started) = &s.started {
                started.parse::<Timestamp>().map_err(|e| format!("snapshot `{}`: `started`: {e}", s.snapshot.id))?;
            }
        }
        for zone in &mut account.zones {
            zone.name = fqdn(&zone.name);
            for record in &mut zone.records {
                record.name = fqdn(&record.name);
                record.record_type = record.record_type.to_ascii_uppercase();
                if !record.name.ends_with(&zone.name) {
                    return Err(format!("record `{}` is not in zone `{}`", record.name, zone.name));
                }
            }
        }
    }
    Ok(Box::new(world))
}

fn elapsed_since(started: &str, now: Timestamp) -> Duration {
    started.parse::<Timestamp>().ok().and_then(|s| Duration::try_from(now.duration_since(s)).ok()).unwrap_or_default()
}

fn parse(d: &str) -> Duration {
    crate::duration::parse(d).unwrap_or_default()
}

fn fraction(elapsed: Duration, total: Duration) -> i64 {
    if total.is_zero() {
        return 100;
    }
    ((elapsed.as_secs_f64() / total.as_secs_f64()) * 100.0).clamp(0.0, 100.0) as i64
}

fn matches(id: &str, tags: &Tags, query: &Query, fields: &dyn Fn(&str) -> Option<String>) -> bool {
    (query.ids.is_empty() || query.ids.iter().any(|i| i == id))
        && query.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
        && query.filters.iter().all(|(name, values)| {
            let actual = match name.strip_prefix("tag:") {
                Some(key) => tags.get(key).cloned(),
                None => fields(name),
            };
            actual.is_some_and(|a| values.contains(&a))
        })
}

impl AwsWorld {
    /// An account by name.
    pub fn account(&mut self, name: &str) -> Result<&mut Account, Error> {
        let known: Vec<String> = self.accounts.keys().cloned().collect();
        self.accounts.get_mut(name).ok_or_else(|| Error::Config {
            account: name.to_string(),
            message: format!("the world has no such account (accounts: {})", known.join(", ")),
        })
    }

    /// What the record `name`/`record_type` looked like at `at` (run clock),
    /// in the most specific public zone holding `name`, across all accounts.
    /// `None`: no such record then (or no zone for the name).
    #[must_use]
    pub fn record_at(&self, name: &str, record_type: &str, at: Timestamp) -> Option<Record> {
        let zone = self.public_zone_for(name)?;
        zone.record_at(name, record_type, at)
    }

    /// Every logged change to the record `name`/`record_type` (oldest first).
    #[must_use]
    pub fn record_history(&self, name: &str, record_type: &str) -> Vec<RecordChange> {
        let (name, rtype) = (fqdn(name), record_type.to_ascii_uppercase());
        self.public_zone_for(&name)
            .map(|z| z.changes.iter().filter(|c| c.name == name && c.record_type == rtype).cloned().collect())
            .unwrap_or_default()
    }

    fn public_zone_for(&self, name: &str) -> Option<&WorldZone> {
        let name = fqdn(name);
        self.accounts
            .values()
            .flat_map(|a| &a.zones)
            .filter(|z| !z.private && (name == z.name || name.ends_with(&format!(".{}", z.name))))
            .max_by_key(|z| z.name.len())
    }
}

impl WorldZone {
    /// The record as it was at `at`: the current one with every later change
    /// undone.
    #[must_use]
    pub fn record_at(&self, name: &str, record_type: &str, at: Timestamp) -> Option<Record> {
        let (name, rtype) = (fqdn(name), record_type.to_ascii_uppercase());
        let mut state = self.records.iter().find(|r| r.name == name && r.record_type == rtype).cloned();
        for change in self.changes.iter().rev() {
            let when = change.at.parse::<Timestamp>().ok()?;
            if when <= at {
                break;
            }
            if change.name == name && change.record_type == rtype {
                state.clone_from(&change.before);
            }
        }
        state
    }

    fn info(&self) -> Zone {
        Zone { id: self.id.clone(), name: self.name.clone(), private: self.private }
    }
}

impl Account {
    /// Moves pending things forward to `now`.
    pub fn advance(&mut self, now: Timestamp) {
        let t = self.timing.clone();
        for s in &mut self.snapshots {
            if let (Some(started), "pending") = (&s.started, s.snapshot.state.as_str()) {
                s.snapshot.progress = fraction(elapsed_since(started, now), parse(&t.snapshot));
                if s.snapshot.progress >= 100 {
                    s.snapshot.state = "completed".into();
                    s.started = None;
                }
            }
        }
        for m in &mut self.modifications {
            if m.modification.state == "modifying" || m.modification.state == "optimizing" {
                m.modification.progress = fraction(elapsed_since(&m.started, now), parse(&t.modify));
                if m.modification.progress >= 100 {
                    m.modification.state = "completed".into();
                }
            }
        }
        let creating: Vec<String> =
            self.volumes.iter().filter(|v| v.state == "creating").map(|v| v.id.clone()).collect();
        for id in creating {
            let started = self.volumes.iter().find(|v| v.id == id).and_then(|v| v.tags.get(CREATED_TAG).cloned());
            if started.is_none_or(|s| elapsed_since(&s, now) >= parse(&t.volume)) {
                if let Some(v) = self.volumes.iter_mut().find(|v| v.id == id) {
                    v.state = "available".into();
                    v.tags.remove(CREATED_TAG);
                }
            }
        }
    }

    /// Volumes `query` selects.
    #[must_use]
    pub fn volumes(&self, query: &Query) -> Vec<Volume> {
        self.volumes
            .iter()
            .filter(|v| {
                matches(&v.id, &v.tags, query, &|f| match f {
                    "volume-id" => Some(v.id.clone()),
                    "status" => Some(v.state.clone()),
                    "availability-zone" => Some(v.az.clone()),
                    "volume-type" => Some(v.volume_type.clone()),
                    "snapshot-id" => v.snapshot.clone(),
                    _ => None,
                })
            })
            .map(visible)
            .collect()
    }

    /// One volume.
    pub fn volume(&self, id: &str) -> Result<Volume, Error> {
        self.volumes.iter().find(|v| v.id == id).map(visible).ok_or_else(|| not_found("volume", id))
    }

    /// Snapshots `query` selects.
    #[must_use]
    pub fn snapshots(&self, query: &Query) -> Vec<Snapshot> {
        self.snapshots
            .iter()
            .map(|s| &s.snapshot)
            .filter(|s| {
                matches(&s.id, &s.tags, query, &|f| match f {
                    "snapshot-id" => Some(s.id.clone()),
                    "volume-id" => Some(s.volume.clone()),
                    "status" => Some(s.state.clone()),
                    "description" => Some(s.description.clone()),
                    _ => None,
                })
            })
            .cloned()
            .collect()
    }

    /// One snapshot.
    pub fn snapshot(&self, id: &str) -> Result<Snapshot, Error> {
        self.snapshots
            .iter()
            .find(|s| s.snapshot.id == id)
            .map(|s| s.snapshot.clone())
            .ok_or_else(|| not_found("snapshot", id))
    }

    /// The latest modification of a volume.
    #[must_use]
    pub fn modification(&self, volume: &str) -> Option<Modification> {
        self.modifications.iter().rev().find(|m| m.modification.volume == volume).map(|m| m.modification.clone())
    }

    fn new_id(&self, prefix: &str) -> String {
        let taken =
            |id: &str| self.volumes.iter().any(|v| v.id == id) || self.snapshots.iter().any(|s| s.snapshot.id == id);
        let mut n = self.volumes.len() + self.snapshots.len() + 1;
        loop {
            let id = format!("{prefix}-{n:017x}");
            if !taken(&id) {
                return id;
            }
            n += 1;
        }
    }

    /// Starts a snapshot of a volume.
    pub fn create_snapshot(
        &mut self,
        _permit: &Permit,
        volume: &str,
        description: &str,
        tags: &Tags,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Snapshot, Error> {
        let size = self.volume(volume)?.size;
        let snapshot = Snapshot {
            id: self.new_id("snap"),
            volume: volume.to_string(),
            state: "pending".into(),
            progress: 0,
            size,
            description: description.to_string(),
            tags: tags.clone(),
        };
        if !dry_run {
            self.snapshots.push(WorldSnapshot { snapshot: snapshot.clone(), started: Some(now.to_string()) });
            self.advance(now);
        }
        Ok(snapshot)
    }

    /// Creates a volume (from a snapshot when one is named).
    pub fn create_volume(
        &mut self,
        _permit: &Permit,
        new: &NewVolume,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<Volume, Error> {
        let from = new.snapshot.as_deref().map(|id| self.snapshot(id)).transpose()?;
        if let Some(s) = &from {
            if s.state != "completed" {
                return Err(api(
                    "CreateVolume",
                    "IncorrectState",
                    &format!("Snapshot is in invalid state - {}", s.state),
                ));
            }
        }
        let size = new.size.or(from.as_ref().map(|s| s.size)).ok_or_else(|| {
            api("CreateVolume", "MissingParameter", "The request must contain the parameter size or snapshotId")
        })?;
        if from.as_ref().is_some_and(|s| size < s.size) {
            return Err(api(
                "CreateVolume",
                "InvalidParameterValue",
                "Volume size cannot be smaller than the snapshot size",
            ));
        }
        if !new.az.starts_with(&self.region) {
            return Err(api(
                "CreateVolume",
                "InvalidParameterValue",
                &format!("Invalid availability zone: [{}]", new.az),
            ));
        }
        check_type(&new.volume_type, "CreateVolume")?;
        let mut tags = new.tags.clone();
        tags.insert(CREATED_TAG.into(), now.to_string());
        let volume = Volume {
            id: self.new_id("vol"),
            state: "creating".into(),
            size,
            volume_type: new.volume_type.clone(),
            az: new.az.clone(),
            iops: new.iops,
            throughput: new.throughput,
            encrypted: new.encrypted.unwrap_or(false),
            snapshot: new.snapshot.clone(),
            tags,
        };
        if !dry_run {
            self.volumes.push(volume.clone());
            self.advance(now);
        }
        Ok(visible(&volume))
    }

    /// Modifies a volume in place.
    pub fn modify_volume(
        &mut self,
        _permit: &Permit,
        id: &str,
        change: &VolumeChange,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<(), Error> {
        let volume = self.volume(id)?;
        if let Some(t) = &change.volume_type {
            check_type(t, "ModifyVolume")?;
        }
        if self.modification(id).is_some_and(|m| m.state == "modifying") {
            return Err(api(
                "ModifyVolume",
                "IncorrectModificationState",
                &format!("Volume {id} is already being modified"),
            ));
        }
        if change.size.is_some_and(|s| s < volume.size) {
            return Err(api("ModifyVolume", "InvalidParameterValue", "New size cannot be smaller than existing size"));
        }
        if dry_run {
            return Ok(());
        }
        if let Some(v) = self.volumes.iter_mut().find(|v| v.id == id) {
            if let Some(t) = &change.volume_type {
                v.volume_type.clone_from(t);
            }
            v.iops = change.iops.or(v.iops);
            v.throughput = change.throughput.or(v.throughput);
            v.size = change.size.unwrap_or(v.size);
        }
        self.modifications.push(WorldModification {
            modification: Modification {
                volume: id.to_string(),
                state: "modifying".into(),
                progress: 0,
                target_type: change.volume_type.clone(),
                target_iops: change.iops,
                target_throughput: change.throughput,
            },
            started: now.to_string(),
        });
        self.advance(now);
        Ok(())
    }

    /// Tags a volume or snapshot.
    pub fn tag(&mut self, _permit: &Permit, resource: &str, tags: &Tags, dry_run: bool) -> Result<(), Error> {
        let target = if let Some(v) = self.volumes.iter_mut().find(|v| v.id == resource) {
            &mut v.tags
        } else if let Some(s) = self.snapshots.iter_mut().find(|s| s.snapshot.id == resource) {
            &mut s.snapshot.tags
        } else {
            let kind = if resource.starts_with("snap-") { "snapshot" } else { "volume" };
            return Err(not_found(kind, resource));
        };
        if !dry_run {
            target.extend(tags.clone());
        }
        Ok(())
    }

    /// Deletes a volume (only when it is not attached).
    pub fn delete_volume(&mut self, _permit: &Permit, id: &str, dry_run: bool) -> Result<(), Error> {
        let v = self.volume(id)?;
        if v.state == "in-use" {
            return Err(api("DeleteVolume", "VolumeInUse", &format!("Volume {id} is currently attached")));
        }
        if !dry_run {
            self.volumes.retain(|v| v.id != id);
        }
        Ok(())
    }

    /// Deletes a snapshot (only when no volume is being created from it).
    pub fn delete_snapshot(&mut self, _permit: &Permit, id: &str, dry_run: bool) -> Result<(), Error> {
        self.snapshot(id)?;
        if !dry_run {
            self.snapshots.retain(|s| s.snapshot.id != id);
        }
        Ok(())
    }

    /// Zones named `name`.
    #[must_use]
    pub fn zones_named(&self, name: &str) -> Vec<Zone> {
        let name = fqdn(name);
        self.zones.iter().filter(|z| z.name == name).map(WorldZone::info).collect()
    }

    fn zone(&self, id: &str) -> Result<&WorldZone, Error> {
        self.zones.iter().find(|z| z.id == id).ok_or_else(|| {
            api("ListResourceRecordSets", "NoSuchHostedZone", &format!("No hosted zone found with ID: {id}"))
        })
    }

    /// Records of a zone, optionally by name and type.
    pub fn records(&self, zone_id: &str, name: Option<&str>, record_type: Option<&str>) -> Result<Vec<Record>, Error> {
        let name = name.map(fqdn);
        Ok(self
            .zone(zone_id)?
            .records
            .iter()
            .filter(|r| name.as_ref().is_none_or(|n| &r.name == n))
            .filter(|r| record_type.is_none_or(|t| t.eq_ignore_ascii_case(&r.record_type)))
            .cloned()
            .collect())
    }

    /// Applies a change batch all or nothing, with Route53's strict rules:
    /// CREATE fails if the set exists, DELETE needs the exact current set.
    pub fn change(
        &mut self,
        _permit: &Permit,
        zone_id: &str,
        actions: &[Action],
        now: Timestamp,
    ) -> Result<ChangeInfo, Error> {
        let n: usize = self.zones.iter().map(|z| z.changes.len()).sum();
        let change_id = format!("C{:013X}", n + 1);
        let zone = self.zones.iter_mut().find(|z| z.id == zone_id).ok_or_else(|| {
            api("ChangeResourceRecordSets", "NoSuchHostedZone", &format!("No hosted zone found with ID: {zone_id}"))
        })?;
        let mut records = zone.records.clone();
        let mut log = Vec::new();
        for action in actions {
            let (Action::Upsert(r) | Action::Create(r) | Action::Delete(r)) = action;
            let mut r = r.clone();
            r.name = fqdn(&r.name);
            r.record_type = r.record_type.to_ascii_uppercase();
            if !r.name.ends_with(&zone.name) {
                return Err(api(
                    "ChangeResourceRecordSets",
                    "InvalidChangeBatch",
                    &format!("RRSet with DNS name {} is not permitted in zone {}", r.name, zone.name),
                ));
            }
            let at = records.iter().position(|x| x.name == r.name && x.record_type == r.record_type);
            let before = at.map(|i| records[i].clone());
            let after = match (action, at) {
                (Action::Create(_), Some(_)) => {
                    return Err(api(
                        "ChangeResourceRecordSets",
                        "InvalidChangeBatch",
                        &format!(
                            "Tried to create resource record set [name='{}', type='{}'] but it already exists",
                            r.name, r.record_type
                        ),
                    ));
                }
                (Action::Delete(_), None) => {
                    return Err(api(
                        "ChangeResourceRecordSets",
                        "InvalidChangeBatch",
                        &format!(
                            "Tried to delete resource record set [name='{}', type='{}'] but it was not found",
                            r.name, r.record_type
                        ),
                    ));
                }
                (Action::Delete(_), Some(i)) => {
                    if !records[i].same_as(&r) {
                        return Err(api("ChangeResourceRecordSets", "InvalidChangeBatch", &format!("Tried to delete resource record set [name='{}', type='{}'] but the values provided do not match the current values", r.name, r.record_type)));
                    }
                    records.remove(i);
                    None
                }
                (_, Some(i)) => {
                    records[i] = r.clone();
                    Some(r)
                }
                (_, None) => {
                    records.push(r.clone());
                    Some(r)
                }
            };
            let (name, record_type) = match (&before, &after) {
                (Some(x), _) | (None, Some(x)) => (x.name.clone(), x.record_type.clone()),
                (None, None) => continue,
            };
            log.push(RecordChange { change: change_id.clone(), at: now.to_string(), name, record_type, before, after });
        }
        zone.records = records;
        zone.changes.extend(log);
        Ok(ChangeInfo { id: change_id, status: "PENDING".into() })
    }

    /// The status of a change: INSYNC once `timing.insync` has passed.
    pub fn change_status(&self, id: &str, now: Timestamp) -> Result<ChangeInfo, Error> {
        let change = self
            .zones
            .iter()
            .flat_map(|z| &z.changes)
            .find(|c| c.change == id)
            .ok_or_else(|| api("GetChange", "NoSuchChange", &format!("Could not find change with ID {id}")))?;
        let status = if elapsed_since(&change.at, now) >= parse(&self.timing.insync) { "INSYNC" } else { "PENDING" };
        Ok(ChangeInfo { id: id.to_string(), status: status.into() })
    }
}

/// Marks when a world volume started being created (hidden from scripts).
const CREATED_TAG: &str = "hubops:world-created";

fn visible(v: &Volume) -> Volume {
    let mut v = v.clone();
    v.tags.remove(CREATED_TAG);
    v
}

fn check_type(t: &str, operation: &'static str) -> Result<(), Error> {
    const TYPES: [&str; 7] = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];
    if TYPES.contains(&t) {
        Ok(())
    } else {
        Err(api(operation, "InvalidParameterValue", &format!("Value ({t}) for parameter volumeType is invalid")))
    }
}

fn api(operation: &'static str, code: &str, message: &str) -> Error {
    Error::Api { operation, code: code.to_string(), message: message.to_string() }
}

fn not_found(kind: &str, id: &str) -> Error {
    Error::NotFound { what: format!("{kind} `{id}`") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORLD: &str = r#"{"accounts": {"prod": {"region": "us-west-2",
        "timing": {"snapshot": "10m", "insync": "30s"},
        "volumes": [{"id": "vol-1", "az": "us-west-2a", "size": 8, "type": "gp2", "state": "available"}],
        "zones": [{"id": "Z1", "name": "example.org", "records": [
            {"name": "hub.example.org", "type": "CNAME", "ttl": 60, "values": ["blue"]}]}]}}}"#;

    fn world() -> AwsWorld {
        let part = load_world(&serde_json::from_str(WORLD).unwrap()).unwrap();
        part.as_any().downcast_ref::<AwsWorld>().unwrap().clone()
    }

    fn at(t: &str) -> Timestamp {
        t.parse().unwrap()
    }

    fn cname(value: &str, ttl: i64) -> Record {
        Record {
            name: "hub.example.org.".into(),
            record_type: "CNAME".into(),
            ttl: Some(ttl),
            values: vec![value.into()],
            alias: None,
        }
    }

    #[test]
    fn records_are_known_at_any_virtual_time() {
        let mut w = world();
        let p = Permit::for_tests();
        let prod = w.account("prod").unwrap();
        prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], at("2026-01-01T06:10:00Z")).unwrap();
        let swap = [Action::Delete(cname("green", 60)), Action::Create(cname("red", 30))];
        prod.change(&p, "Z1", &swap, at("2026-01-01T06:20:00Z")).unwrap();
        let value = |t: &str| w.record_at("Hub.Example.org", "cname", at(t)).map(|r| r.values[0].clone());
        assert_eq!(value("2026-01-01T06:00:00Z").as_deref(), Some("blue"));
        assert_eq!(value("2026-01-01T06:10:00Z").as_deref(), Some("green"));
        assert_eq!(value("2026-01-01T06:19:59Z").as_deref(), Some("green"));
        assert_eq!(value("2026-01-01T06:20:00Z").as_deref(), Some("red"));
        assert_eq!(w.record_at("other.example.org", "A", at("2026-01-01T06:20:00Z")), None);
        assert_eq!(w.record_at("hub.elsewhere.org", "CNAME", at("2026-01-01T06:20:00Z")), None);
        let history = w.record_history("hub.example.org", "CNAME");
        assert_eq!(history.len(), 3);
        assert_eq!(history[2].after.as_ref().and_then(|r| r.ttl), Some(30));
    }

    #[test]
    fn change_batches_are_strict_and_all_or_nothing() {
        let mut w = world();
        let p = Permit::for_tests();
        let prod = w.account("prod").unwrap();
        let t = at("2026-01-01T06:00:00Z");
        // A DELETE must name the exact current set (moto would accept this).
        let stale = [Action::Delete(cname("blue", 300)), Action::Create(cname("green", 60))];
        let err = prod.change(&p, "Z1", &stale, t).unwrap_err();
        assert_eq!(err.code(), Some("InvalidChangeBatch"));
        assert_eq!(prod.records("Z1", None, None).unwrap(), vec![cname("blue", 60)], "nothing applied");
        let err = prod.change(&p, "Z1", &[Action::Create(cname("x", 1))], t).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let info = prod.change(&p, "Z1", &[Action::Upsert(cname("green", 60))], t).unwrap();
        assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:29Z")).unwrap().status, "PENDING");
        assert_eq!(prod.change_status(&info.id, at("2026-01-01T06:00:30Z")).unwrap().status, "INSYNC");
    }

    #[test]
    fn snapshots_progress_over_virtual_time() {
        let mut w = world();
        let p = Permit::for_tests();
        let prod = w.account("prod").unwrap();
        let s = prod.create_snapshot(&p, "vol-1", "d", &Tags::new(), at("2026-01-01T06:00:00Z"), false).unwrap();
        prod.advance(at("2026-01-01T06:05:00Z"));
        assert_eq!(
            (prod.snapshot(&s.id).unwrap().state.as_str(), prod.snapshot(&s.id).unwrap().progress),
            ("pending", 50)
        );
        let new = NewVolume {
            az: "us-west-2a".into(),
            snapshot: Some(s.id.clone()),
            volume_type: "gp3".into(),
            ..NewVolume::default()
        };
        let err = prod.create_volume(&p, &new, at("2026-01-01T06:05:00Z"), true).unwrap_err();
        assert_eq!(err.code(), Some("IncorrectState"));
        prod.advance(at("2026-01-01T06:10:00Z"));
        assert_eq!(prod.snapshot(&s.id).unwrap().state, "completed");
        let v = prod.create_volume(&p, &new, at("2026-01-01T06:10:00Z"), false).unwrap();
        assert_eq!((v.size, v.state.as_str()), (8, "creating"));
        assert!(v.tags.is_empty(), "the world's bookkeeping tag is hidden");
        let before = prod.volumes(&Query::default()).len();
        prod.create_volume(&p, &new, at("2026-01-01T06:10:00Z"), true).unwrap();
        assert_eq!(prod.volumes(&Query::default()).len(), before, "a dry run changes nothing");
    }
}
