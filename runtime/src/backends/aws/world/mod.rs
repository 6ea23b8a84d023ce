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

mod ec2;
mod route53;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{fqdn, Error, Modification, Query, Record, Snapshot, Tags, Volume, Zone};
use crate::world::WorldPart;

/// The `aws:` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsWorld {
    /// Accounts by name (the profile scripts pass to `aws::account`).
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
}

/// One simulated account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorldSnapshot {
    /// The snapshot.
    #[serde(flatten)]
    pub snapshot: Snapshot,
    /// When it was started, RFC 3339 (pending snapshots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<String>,
}

/// A modification and when it started.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorldModification {
    /// The modification.
    #[serde(flatten)]
    pub modification: Modification,
    /// When it was started, RFC 3339.
    pub started: String,
}

/// A hosted zone with its records and their change log.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// A change a fault holds `PENDING`: how long after `at` it reaches the
    /// name servers (`20m`), or `forever`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck: Option<String>,
}

/// How a change stuck for good is written.
pub(super) const FOREVER: &str = "forever";

impl RecordChange {
    /// When the change reaches DNS (and starts its way to `INSYNC`): when it
    /// was made, or later for a stuck one; `None`: never.
    #[must_use]
    pub fn effective(&self) -> Option<Timestamp> {
        let at = self.at.parse::<Timestamp>().ok()?;
        match self.stuck.as_deref() {
            None => Some(at),
            Some(FOREVER) => None,
            Some(d) => at.checked_add(jiff::SignedDuration::try_from(parse(d)).ok()?).ok(),
        }
    }
}

impl WorldPart for AwsWorld {
    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn settle(&mut self, _elapsed: Duration, now: Timestamp) {
        for account in self.accounts.values_mut() {
            account.advance(now);
        }
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

pub(super) fn elapsed_since(started: &str, now: Timestamp) -> Duration {
    started.parse::<Timestamp>().ok().and_then(|s| Duration::try_from(now.duration_since(s)).ok()).unwrap_or_default()
}

pub(super) fn parse(d: &str) -> Duration {
    crate::duration::parse(d).unwrap_or_default()
}

pub(super) fn fraction(elapsed: Duration, total: Duration) -> i64 {
    if total.is_zero() {
        return 100;
    }
    ((elapsed.as_secs_f64() / total.as_secs_f64()) * 100.0).clamp(0.0, 100.0) as i64
}

pub(super) fn matches(id: &str, tags: &Tags, query: &Query, fields: &dyn Fn(&str) -> Option<String>) -> bool {
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

    /// When the record `name`/`record_type` last changed (run clock), if
    /// it changed during a run on this world.
    #[must_use]
    pub fn record_changed_at(&self, name: &str, record_type: &str) -> Option<Timestamp> {
        self.record_history(name, record_type).last().and_then(|c| c.at.parse().ok())
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
    /// The record as DNS saw it at `at`: as it was before its first logged
    /// change, with every change that had reached DNS by `at` applied in
    /// order (a change a fault holds `PENDING` reaches it late, or never).
    #[must_use]
    pub fn record_at(&self, name: &str, record_type: &str, at: Timestamp) -> Option<Record> {
        let (name, rtype) = (fqdn(name), record_type.to_ascii_uppercase());
        let history: Vec<&RecordChange> =
            self.changes.iter().filter(|c| c.name == name && c.record_type == rtype).collect();
        let Some(first) = history.first() else {
            return self.records.iter().find(|r| r.name == name && r.record_type == rtype).cloned();
        };
        let mut state = first.before.clone();
        for change in history {
            if change.effective().is_some_and(|when| when <= at) {
                state.clone_from(&change.after);
            }
        }
        state
    }

    pub(super) fn info(&self) -> Zone {
        Zone { id: self.id.clone(), name: self.name.clone(), private: self.private }
    }
}

/// Marks when a world volume started being created (hidden from scripts).
pub(super) const CREATED_TAG: &str = "hubops:world-created";

pub(super) fn visible(v: &Volume) -> Volume {
    let mut v = v.clone();
    v.tags.remove(CREATED_TAG);
    v
}

pub(super) fn check_type(t: &str, operation: &'static str) -> Result<(), Error> {
    const TYPES: [&str; 7] = ["gp2", "gp3", "io1", "io2", "st1", "sc1", "standard"];
    if TYPES.contains(&t) {
        Ok(())
    } else {
        Err(api(operation, "InvalidParameterValue", &format!("Value ({t}) for parameter volumeType is invalid")))
    }
}

pub(super) fn api(operation: &'static str, code: &str, message: &str) -> Error {
    Error::Api { operation, code: code.to_string(), message: message.to_string() }
}

pub(super) fn not_found(kind: &str, id: &str) -> Error {
    Error::NotFound { what: format!("{kind} `{id}`") }
}
