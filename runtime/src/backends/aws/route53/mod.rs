//! The Route53 verbs of an [`Account`]: hosted zones, record sets, and
//! record changes with their preconditions, on AWS (`live.rs`) or on the
//! world's account.
//!
//! Route53 has no dry run, so a change is an [`Edit`] that says what the
//! record must be before it is changed ([`Expect`]): [`Account::change`]
//! reads the record and checks that precondition first, under either permit.
//! Under `Permit::Check` that read is the whole check live (nothing is
//! sent), and the world also validates the batch without changing
//! anything. Under `Permit::Apply` the read happens just before sending, and
//! the batch is built from the record as read: that matters on moto, which
//! accepts a DELETE whose values no longer match the record.
//!
//! Preconditions compare values as Route53 means them, not as spelled
//! ([`normal`]): a trailing dot, case, `dualstack.`, and an alias whose
//! target is the expected name all match.

mod live;
pub mod normal;

use super::{fqdn, Account, Action, Alias, ChangeInfo, Error, Record, Zone};
use crate::effects::Permit;
use crate::world::faults::Struck;

/// What the record must be before a change is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Anything, or nothing.
    Any,
    /// Exactly this (`None`: absent), as read when the change was described.
    Unchanged(Option<Record>),
    /// What a compare-and-swap expects.
    Values(Expected),
}

/// What a compare-and-swap expects the record to be: these values (in any
/// order, compared as [`normal`] says), and the TTL and alias when given.
/// One expected value also matches an alias record whose target it names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expected {
    /// The values.
    pub values: Vec<String>,
    /// The TTL, if it must match too.
    pub ttl: Option<i64>,
    /// The alias target, for alias records.
    pub alias: Option<Alias>,
}

impl Expected {
    fn matches(&self, r: &Record) -> bool {
        let target = match (&self.alias, &r.alias) {
            (Some(want), Some(have)) => normal::same_alias(want, have),
            (Some(_), None) => false,
            // A name given as the expected value of an alias record: the
            // alias must target it.
            (None, Some(have)) => {
                matches!(self.values.as_slice(), [one] if normal::canonical(one) == normal::canonical(&have.dns_name))
            }
            (None, None) => normal::values(&r.record_type, &self.values) == normal::values(&r.record_type, &r.values),
        };
        target && self.ttl.is_none_or(|t| r.ttl == Some(t))
    }

    fn describe(&self) -> String {
        match &self.alias {
            Some(a) => format!("alias {}", a.dns_name),
            None => self.values.join(", "),
        }
    }
}

/// What a name points at ([`Account::pointer`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pointer {
    /// The name, fully qualified.
    pub name: String,
    /// `CNAME`, or `A` / `AAAA` for alias records (`A` when it has both).
    #[serde(rename = "type")]
    pub record_type: String,
    /// Where it points, as compared ([`normal::canonical`]).
    pub target: String,
    /// The records that make it point there (an A and an AAAA alias can
    /// both be there).
    pub records: Vec<Record>,
}

/// One record change of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The record's name.
    pub name: String,
    /// Its type.
    pub record_type: String,
    /// What it must be before.
    pub expect: Expect,
    /// What is done to it.
    pub action: EditAction,
}

/// What an [`Edit`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditAction {
    /// Creates or replaces it with this.
    Upsert(Record),
    /// Deletes it, exactly as it is.
    Delete,
    /// Deletes it exactly as it is and creates this, in one batch.
    Swap(Record),
}

impl Edit {
    /// The batch that makes the change to the record as it is now.
    fn batch(&self, now: Option<Record>) -> Vec<Action> {
        match &self.action {
            EditAction::Upsert(r) => vec![Action::Upsert(r.clone())],
            EditAction::Delete => now.into_iter().map(Action::Delete).collect(),
            EditAction::Swap(r) => now.into_iter().map(Action::Delete).chain([Action::Create(r.clone())]).collect(),
        }
    }

    /// Checks the record as it is now against the precondition.
    fn verify(&self, now: Option<&Record>) -> Result<(), Error> {
        let what = format!("record `{}` {}", fqdn(&self.name), self.record_type.to_ascii_uppercase());
        match &self.expect {
            Expect::Any => Ok(()),
            Expect::Unchanged(before) => match (before, now) {
                (Some(b), Some(n)) if b.same_as(n) => Ok(()),
                (None, None) => Ok(()),
                _ => Err(Error::Conflict(format!(
                    "{what} changed while hubops was working on it: it was {}, it is now {}; nothing was sent",
                    describe(before.as_ref()),
                    describe(now)
                ))),
            },
            Expect::Values(spec) => match now {
                Some(n) if spec.matches(n) => Ok(()),
                _ => Err(Error::Conflict(format!(
                    "{what} is {}, not the expected {}; someone changed it, nothing was sent",
                    describe(now),
                    spec.describe()
                ))),
            },
        }
    }
}

fn describe(r: Option<&Record>) -> String {
    match r {
        None => "absent".into(),
        Some(r) => match &r.alias {
            Some(a) => format!("alias {}", a.dns_name),
            None => format!("{} (ttl {})", r.values.join(", "), r.ttl.unwrap_or_default()),
        },
    }
}

impl Account {
    /// The hosted zones named `name` (public and private ones can share a
    /// name).
    pub async fn zones(&self, name: &str) -> Result<Vec<Zone>, Error> {
        match self {
            Self::Live(c) => live::zones_named(&c.route53, name).await,
            Self::World { world, name: account, .. } => {
                Self::on_world(world, account, ("ListHostedZonesByName", name, None), |a, _, _| Ok(a.zones_named(name)))
            }
        }
    }

    /// The one hosted zone named `name` (only private or only public ones
    /// when `private` says): `NotFound` if there is none, `Ambiguous` (with
    /// the candidates) if there are several.
    pub async fn zone(&self, name: &str, private: Option<bool>) -> Result<Zone, Error> {
        let mut found: Vec<Zone> =
            self.zones(name).await?.into_iter().filter(|z| private.is_none_or(|p| p == z.private)).collect();
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::NotFound { what: format!("hosted zone `{}` in account `{}`", fqdn(name), self.name()) }),
            _ => Err(Error::Ambiguous {
                what: format!("hosted zone `{}`", fqdn(name)),
                candidates: found
                    .iter()
                    .map(|z| format!("{} ({})", z.id, if z.private { "private" } else { "public" }))
                    .collect(),
            }),
        }
    }

    /// The record sets of a zone, optionally only those named `name` (and
    /// of type `record_type`).
    pub async fn records(
        &self,
        zone_id: &str,
        name: Option<&str>,
        record_type: Option<&str>,
    ) -> Result<Vec<Record>, Error> {
        match self {
            Self::Live(c) => live::records(&c.route53, zone_id, name, record_type).await,
            Self::World { world, name: account, .. } => {
                Self::on_world(world, account, ("ListResourceRecordSets", zone_id, None), |a, _, _| {
                    a.records(zone_id, name, record_type)
                })
            }
        }
    }

    /// The record set `name`/`record_type` of a zone, if there is one.
    pub async fn current(&self, zone: &Zone, name: &str, record_type: &str) -> Result<Option<Record>, Error> {
        Ok(self.records(&zone.id, Some(name), Some(record_type)).await?.into_iter().next())
    }

    /// What `name` points at in a zone: its CNAME, or its A/AAAA alias
    /// records (found, not assumed). `NotFound` if it has neither; `Invalid`
    /// if it has plain addresses, or aliases to different targets.
    pub async fn pointer(&self, zone: &Zone, name: &str) -> Result<Pointer, Error> {
        let all = self.records(&zone.id, Some(name), None).await?;
        if let Some(cname) = all.iter().find(|r| r.record_type.eq_ignore_ascii_case("CNAME")) {
            let target = normal::target_of(cname).unwrap_or_default();
            return Ok(Pointer { name: fqdn(name), record_type: "CNAME".into(), target, records: vec![cname.clone()] });
        }
        let address = |r: &&Record| ["A", "AAAA"].iter().any(|t| r.record_type.eq_ignore_ascii_case(t));
        let found: Vec<Record> = all.iter().filter(address).cloned().collect();
        if found.is_empty() {
            return Err(Error::NoRecord {
                name: fqdn(name),
                record_type: "CNAME, A or AAAA".into(),
                zone: zone.name.clone(),
            });
        }
        if let Some(plain) = found.iter().find(|r| r.alias.is_none()) {
            return Err(Error::Invalid(format!(
                "`{}` is an {} record with addresses ({}), not a CNAME or an alias: it cannot be pointed at a load balancer's name",
                fqdn(name),
                plain.record_type,
                plain.values.join(", ")
            )));
        }
        let targets: std::collections::BTreeSet<String> = found.iter().filter_map(normal::target_of).collect();
        if targets.len() > 1 {
            return Err(Error::Invalid(format!(
                "the alias records of `{}` point at different targets ({}): make them agree first",
                fqdn(name),
                targets.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let record_type = if found.iter().any(|r| r.record_type.eq_ignore_ascii_case("A")) { "A" } else { "AAAA" };
        Ok(Pointer {
            name: fqdn(name),
            record_type: record_type.into(),
            target: targets.into_iter().next().unwrap_or_default(),
            records: found,
        })
    }

    /// The record set `name`/`record_type` of a zone (`NotFound` if there is
    /// none).
    pub async fn record(&self, zone: &Zone, name: &str, record_type: &str) -> Result<Record, Error> {
        self.current(zone, name, record_type).await?.ok_or_else(|| Error::NoRecord {
            name: fqdn(name),
            record_type: record_type.to_ascii_uppercase(),
            zone: zone.name.clone(),
        })
    }

    /// Makes one record change, in one batch, if the record is what the
    /// edit expects (`Conflict` otherwise, and nothing is sent). Checked, the
    /// answer is `#{id: "planned", status: "PLANNED"}`.
    pub async fn change(&self, permit: &Permit, zone: &Zone, edit: &Edit) -> Result<ChangeInfo, Error> {
        let now = self.current(zone, &edit.name, &edit.record_type).await?;
        edit.verify(now.as_ref())?;
        let batch = edit.batch(now);
        let made = match self {
            Self::Live(c) => live::change(permit, &c.route53, &zone.id, &batch).await?,
            Self::World { world, name, .. } => {
                let info =
                    Self::on_world(world, name, ("ChangeResourceRecordSets", &zone.id, Some(permit)), |a, t, f| {
                        let stuck = match f {
                            Some(Struck::Pending(d)) => Some(d),
                            _ => None,
                        };
                        a.change(permit, &zone.id, &batch, t, stuck)
                    })?;
                Some(info).filter(|_| !permit.is_check())
            }
        };
        Ok(made.unwrap_or_else(|| ChangeInfo { id: "planned".into(), status: "PLANNED".into() }))
    }

    /// The status of a change: `PENDING` or `INSYNC`.
    pub async fn change_status(&self, id: &str) -> Result<ChangeInfo, Error> {
        match self {
            Self::Live(c) => live::change_status(&c.route53, id).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("GetChange", id, None), |a, t, _| a.change_status(id, t))
            }
        }
    }
}
