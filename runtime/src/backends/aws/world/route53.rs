//! The Route53 half of a world account: zones, records, change batches with
//! Route53's strict rules, and the change log every change lands in.

use jiff::Timestamp;

use super::{api, parse, Account, RecordChange, WorldZone, FOREVER};
use crate::backends::aws::{fqdn, Action, ChangeInfo, Error, Record, Zone};
use crate::effects::Permit;

impl Account {
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
    /// Under `Permit::Check` the batch is validated the same way and nothing
    /// is changed.
    pub fn change(
        &mut self,
        permit: &Permit,
        zone_id: &str,
        actions: &[Action],
        now: Timestamp,
        stuck: Option<Option<std::time::Duration>>,
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
            // A change stuck by a fault: `20m` late, or `forever`.
            let stuck = stuck.map(|d| d.map_or_else(|| FOREVER.to_string(), crate::duration::format));
            log.push(RecordChange {
                change: change_id.clone(),
                at: now.to_string(),
                name,
                record_type,
                before,
                after,
                stuck,
            });
        }
        if !permit.is_check() {
            zone.records = records;
            zone.changes.extend(log);
        }
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
        let insync = change.effective().and_then(|at| {
            let d = jiff::SignedDuration::try_from(parse(&self.timing.insync)).ok()?;
            at.checked_add(d).ok()
        });
        let status = if insync.is_some_and(|at| at <= now) { "INSYNC" } else { "PENDING" };
        Ok(ChangeInfo { id: id.to_string(), status: status.into() })
    }
}
