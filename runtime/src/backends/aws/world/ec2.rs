//! The EC2 half of a world account: volumes, snapshots and modifications,
//! progressing on virtual time, with EC2's validation. Every mutator takes
//! the gate's [`Permit`]: under `Permit::Check` it validates the same way and
//! answers the same, but changes nothing.

use jiff::Timestamp;

use super::{
    api, check_type, elapsed_since, fraction, matches, not_found, parse, visible, Account, WorldModification,
    WorldSnapshot, CREATED_TAG,
};
use crate::backends::aws::{Error, Modification, NewVolume, Query, Snapshot, Tags, Volume, VolumeChange};
use crate::effects::Permit;

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
        permit: &Permit,
        volume: &str,
        description: &str,
        tags: &Tags,
        now: Timestamp,
    ) -> Result<Snapshot, Error> {
        let size = self.volume(volume)?.size;
        let snapshot = Snapshot {
            id: self.new_id("snap"),
            volume: volume.to_string(),
            state: "pending".into(),
            progress: 0,
            size,
            description: description.to_string(),
            start_time: Some(now.to_string()),
            tags: tags.clone(),
        };
        if !permit.is_check() {
            self.snapshots.push(WorldSnapshot { snapshot: snapshot.clone(), started: Some(now.to_string()) });
            self.advance(now);
        }
        Ok(snapshot)
    }

    /// Creates a volume (from a snapshot when one is named).
    pub fn create_volume(&mut self, permit: &Permit, new: &NewVolume, now: Timestamp) -> Result<Volume, Error> {
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
        if !permit.is_check() {
            self.volumes.push(volume.clone());
            self.advance(now);
        }
        Ok(visible(&volume))
    }

    /// Modifies a volume in place.
    pub fn modify_volume(
        &mut self,
        permit: &Permit,
        id: &str,
        change: &VolumeChange,
        now: Timestamp,
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
        if permit.is_check() {
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
    pub fn tag(&mut self, permit: &Permit, resource: &str, tags: &Tags) -> Result<(), Error> {
        let target = if let Some(v) = self.volumes.iter_mut().find(|v| v.id == resource) {
            &mut v.tags
        } else if let Some(s) = self.snapshots.iter_mut().find(|s| s.snapshot.id == resource) {
            &mut s.snapshot.tags
        } else {
            let kind = if resource.starts_with("snap-") { "snapshot" } else { "volume" };
            return Err(not_found(kind, resource));
        };
        if !permit.is_check() {
            target.extend(tags.clone());
        }
        Ok(())
    }

    /// Deletes a volume (only when it is not attached).
    pub fn delete_volume(&mut self, permit: &Permit, id: &str) -> Result<(), Error> {
        let v = self.volume(id)?;
        if v.state == "in-use" {
            return Err(api("DeleteVolume", "VolumeInUse", &format!("Volume {id} is currently attached")));
        }
        if !permit.is_check() {
            self.volumes.retain(|v| v.id != id);
        }
        Ok(())
    }

    /// Deletes a snapshot (only when no volume is being created from it).
    pub fn delete_snapshot(&mut self, permit: &Permit, id: &str) -> Result<(), Error> {
        self.snapshot(id)?;
        if !permit.is_check() {
            self.snapshots.retain(|s| s.snapshot.id != id);
        }
        Ok(())
    }
}
