//! AWS: EC2 volumes and snapshots, Route53 zones and records. One
//! [`Account`] value per account owns live vs simulated, chosen once when it
//! is opened from the run's target: the live arm talks to AWS (or an
//! emulator such as moto) through the AWS SDK (`ec2/live.rs`,
//! `route53/live.rs`); the world arm (`aws:` section of a world file,
//! `world/`) simulates the same behaviour on virtual time. Both speak the
//! plain types defined here, which cross into scripts as maps; nothing here
//! knows Rhai or the run.
//!
//! Every mutating verb takes an [`effects::Permit`](crate::effects::Permit)
//! and reads the mode from it: under `Permit::Check`, EC2 calls are sent
//! with EC2's own `DryRun=true` (`DryRunOperation` means they would
//! succeed), Route53 changes read their preconditions instead of being sent
//! (Route53 has no dry run), and the world validates without changing
//! anything. What a check would have made comes back as a placeholder
//! ([`planned_id`]).

mod account;
pub mod ec2;
mod error;
pub mod route53;
pub mod world;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

pub use account::{Account, AccountSpec, Clients};
pub use error::Error;
pub use route53::{normal, Edit, EditAction, Expect, Expected, Pointer};

/// Tags of a resource, as a map.
pub type Tags = BTreeMap<String, String>;

/// The tag hubops puts on what it creates, holding the idempotency token, so
/// that a retried create finds the first one (moto, and EC2's `CreateSnapshot`,
/// do not honour client tokens).
pub const TOKEN_TAG: &str = "hubops:token";

/// The tag hubops puts on what it creates, holding the run's id, so that a
/// run finds everything it made with one lookup.
pub const RUN_TAG: &str = "hubops:run";

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// `vol-...`.
    pub id: String,
    /// `creating`, `available`, `in-use`, `deleting`, `deleted`, `error`.
    pub state: String,
    /// GiB.
    pub size: i64,
    /// `gp2`, `gp3`, `io1`, ...
    #[serde(rename = "type")]
    pub volume_type: String,
    /// Availability zone.
    pub az: String,
    /// Provisioned IOPS, where the type has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// Throughput in MiB/s (gp3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    /// Whether it is encrypted.
    #[serde(default)]
    pub encrypted: bool,
    /// The snapshot it was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
}

/// An EBS snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// `snap-...`.
    pub id: String,
    /// The volume it was taken of.
    pub volume: String,
    /// `pending`, `completed`, `error`.
    pub state: String,
    /// 0 to 100.
    pub progress: i64,
    /// GiB of the volume.
    pub size: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// When it was started, RFC 3339: the instant its data is from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
}

/// The state of a volume modification (`ModifyVolume`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Modification {
    /// The volume.
    pub volume: String,
    /// `modifying`, `optimizing`, `completed`, `failed`.
    pub state: String,
    /// 0 to 100.
    pub progress: i64,
    /// The type asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// The IOPS asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_iops: Option<i64>,
    /// The throughput asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_throughput: Option<i64>,
}

/// What `volumes(...)` and `snapshots(...)` select.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only these ids.
    pub ids: Vec<String>,
    /// EC2 filters: name -> values.
    pub filters: BTreeMap<String, Vec<String>>,
    /// Only resources with all these tags.
    pub tags: Tags,
}

/// What `create_volume` asks for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewVolume {
    /// Availability zone.
    pub az: String,
    /// Snapshot to restore.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Type (`gp3` unless given).
    #[serde(rename = "type")]
    pub volume_type: String,
    /// GiB (defaults to the snapshot's size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// IOPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// MiB/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    /// Encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Tags (the token tag is added).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: Tags,
}

/// What `modify_volume` asks for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VolumeChange {
    /// New type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub volume_type: Option<String>,
    /// New IOPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iops: Option<i64>,
    /// New throughput.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throughput: Option<i64>,
    /// New size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// A hosted zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Zone {
    /// The id without `/hostedzone/`.
    pub id: String,
    /// The name with its trailing dot: `cal-adapt.org.`.
    pub name: String,
    /// Whether it is private (VPC).
    pub private: bool,
}

/// An alias target (an ELB, a `CloudFront` distribution, another record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// The target's DNS name.
    pub dns_name: String,
    /// The target's hosted zone id (the ELB's `CanonicalHostedZoneId`).
    pub zone_id: String,
    /// Whether Route53 evaluates the target's health.
    #[serde(default)]
    pub evaluate_health: bool,
}

/// A record set (simple routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Fully qualified, with the trailing dot.
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `TXT`, ...
    #[serde(rename = "type")]
    pub record_type: String,
    /// TTL in seconds (none for aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    /// The values (empty for aliases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// The alias target, for alias records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<Alias>,
}

impl Record {
    /// Whether two records are the same set as Route53 compares them for a
    /// DELETE: same name, type, TTL, alias and values (in any order).
    #[must_use]
    pub fn same_as(&self, other: &Record) -> bool {
        let sorted = |r: &Record| {
            let mut v = r.values.clone();
            v.sort();
            v
        };
        fqdn(&self.name) == fqdn(&other.name)
            && self.record_type.eq_ignore_ascii_case(&other.record_type)
            && self.ttl == other.ttl
            && self.alias == other.alias
            && sorted(self) == sorted(other)
    }
}

/// A record change and when it settles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChangeInfo {
    /// The change id.
    pub id: String,
    /// `PENDING` or `INSYNC`.
    pub status: String,
}

/// One action of a change batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create or replace.
    Upsert(Record),
    /// Create; fails if it exists.
    Create(Record),
    /// Delete this exact record.
    Delete(Record),
}

/// `hub.example.org` -> `hub.example.org.`, lowercase.
#[must_use]
pub fn fqdn(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// An idempotency token: the same run, step, operation and arguments give the
/// same token, so a retried step (or a resumed run, which keeps its id)
/// finds what the first attempt made instead of making it again. FNV-1a, so
/// it does not change between Rust releases.
#[must_use]
pub fn token(run_id: &str, step: Option<&str>, operation: &str, args: &str) -> String {
    let hash = |seed: u64| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for part in [run_id, step.unwrap_or(""), operation, args] {
            for b in part.bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    };
    format!("hubops-{:016x}{:016x}", hash(0), hash(0x9e37_79b9_7f4a_7c15))
}

/// A placeholder id for something a dry run only planned: `vol-planned-1`.
/// One counter for the process, so two plans never share an id.
#[must_use]
pub fn planned_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-planned-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Whether `id` is a placeholder of something only planned: there is
/// nothing to check or wait for on AWS yet.
#[must_use]
pub fn is_planned(id: &str) -> bool {
    id.contains("-planned-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_every_part() {
        let t = token("run-1", Some("snap"), "create_snapshot", "vol-1");
        assert_eq!(t, token("run-1", Some("snap"), "create_snapshot", "vol-1"));
        assert_eq!(t.len(), "hubops-".len() + 32);
        assert_ne!(t, token("run-2", Some("snap"), "create_snapshot", "vol-1"));
        assert_ne!(t, token("run-1", Some("snap2"), "create_snapshot", "vol-1"));
        assert_ne!(t, token("run-1", None, "create_snapshot", "vol-1"));
        assert_ne!(t, token("run-1", Some("snap"), "create_volume", "vol-1"));
        assert_ne!(t, token("run-1", Some("snap"), "create_snapshot", "vol-2"));
        // parts do not run into each other
        assert_ne!(token("ab", Some("c"), "x", ""), token("a", Some("bc"), "x", ""));
    }

    #[test]
    fn records_compare_like_route53() {
        let r = |ttl, values: &[&str]| Record {
            name: "Hub.example.org".into(),
            record_type: "A".into(),
            ttl: Some(ttl),
            values: values.iter().map(ToString::to_string).collect(),
            alias: None,
        };
        assert!(r(60, &["1.1.1.1", "2.2.2.2"]).same_as(&r(60, &["2.2.2.2", "1.1.1.1"])));
        assert!(!r(60, &["1.1.1.1"]).same_as(&r(300, &["1.1.1.1"])));
        assert!(!r(60, &["1.1.1.1"]).same_as(&r(60, &["1.1.1.2"])));
        assert_eq!(fqdn("Hub.Example.org"), "hub.example.org.");
        assert_eq!(fqdn("hub.example.org."), "hub.example.org.");
    }
}
