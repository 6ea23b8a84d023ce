//! The EC2 verbs of an [`Account`]: EBS volumes, snapshots and volume
//! modifications, on AWS (`live.rs`) or on the world's account. Each verb
//! picks the arm once; mutating verbs take the gate's [`Permit`]:
//!
//! - `Permit::Check`, live: the same call with EC2's `DryRun=true`
//!   (`DryRunOperation` means it would succeed, `UnauthorizedOperation` is
//!   `Forbidden`); on a world: the world's validation, nothing changed.
//!   What a create would have made comes back as a placeholder
//!   (`snap-planned-1`), and a check of something that is itself only a
//!   placeholder asks nobody: there is nothing to ask about yet.
//! - `Permit::Apply`: the change is made.

mod live;

use super::{
    is_planned, planned_id, Account, Error, Modification, NewVolume, Query, Snapshot, Tags, Volume, VolumeChange,
};
use crate::effects::Permit;

impl Account {
    /// The volumes `query` selects.
    pub async fn volumes(&self, query: &Query) -> Result<Vec<Volume>, Error> {
        match self {
            Self::Live(c) => live::volumes(&c.ec2, query).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DescribeVolumes", "", None), |a, _, _| Ok(a.volumes(query)))
            }
        }
    }

    /// One volume (`NotFound` if there is none).
    pub async fn volume(&self, id: &str) -> Result<Volume, Error> {
        match self {
            Self::Live(c) => live::volume(&c.ec2, id).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DescribeVolumes", id, None), |a, _, _| a.volume(id))
            }
        }
    }

    /// The snapshots `query` selects, of those the account owns.
    pub async fn snapshots(&self, query: &Query) -> Result<Vec<Snapshot>, Error> {
        match self {
            Self::Live(c) => live::snapshots(&c.ec2, query).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DescribeSnapshots", "", None), |a, _, _| Ok(a.snapshots(query)))
            }
        }
    }

    /// One snapshot (`NotFound` if there is none).
    pub async fn snapshot(&self, id: &str) -> Result<Snapshot, Error> {
        match self {
            Self::Live(c) => live::snapshot(&c.ec2, id).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DescribeSnapshots", id, None), |a, _, _| a.snapshot(id))
            }
        }
    }

    /// The latest modification of a volume, if it was ever modified.
    pub async fn modification(&self, volume_id: &str) -> Result<Option<Modification>, Error> {
        match self {
            Self::Live(c) => live::modification(&c.ec2, volume_id).await,
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DescribeVolumesModifications", volume_id, None), |a, _, _| {
                    Ok(a.modification(volume_id))
                })
            }
        }
    }

    /// Snapshots a volume (`state: "pending"`); checked, the snapshot it
    /// would start, with a placeholder id.
    pub async fn create_snapshot(
        &self,
        permit: &Permit,
        volume_id: &str,
        description: &str,
        tags: &Tags,
    ) -> Result<Snapshot, Error> {
        let planned = |size| Snapshot {
            id: planned_id("snap"),
            volume: volume_id.to_string(),
            state: "planned".into(),
            progress: 0,
            size,
            description: description.to_string(),
            start_time: None,
            tags: tags.clone(),
        };
        match self {
            Self::Live(c) => {
                // moto's DryRun does not look at the volume; real EC2 does.
                // Read it so that a missing volume fails the same way
                // everywhere (when applying, CreateSnapshot itself says so).
                let size = if permit.is_check() { live::volume(&c.ec2, volume_id).await?.size } else { 0 };
                let made = live::create_snapshot(permit, &c.ec2, volume_id, description, tags).await?;
                Ok(made.unwrap_or_else(|| planned(size)))
            }
            Self::World { world, name, .. } => {
                let made = Self::on_world(world, name, ("CreateSnapshot", volume_id, Some(permit)), |a, now, _| {
                    a.create_snapshot(permit, volume_id, description, tags, now)
                })?;
                Ok(if permit.is_check() { planned(made.size) } else { made })
            }
        }
    }

    /// Creates a volume (`state: "creating"`); `token` is EC2's
    /// `ClientToken`. Checked, the volume it would create, with a
    /// placeholder id.
    pub async fn create_volume(&self, permit: &Permit, new: &NewVolume, token: &str) -> Result<Volume, Error> {
        let planned = || Volume {
            id: planned_id("vol"),
            state: "planned".into(),
            size: new.size.unwrap_or_default(),
            volume_type: new.volume_type.clone(),
            az: new.az.clone(),
            iops: new.iops,
            throughput: new.throughput,
            encrypted: new.encrypted.unwrap_or(false),
            snapshot: new.snapshot.clone(),
            tags: new.tags.clone(),
        };
        if permit.is_check() && new.snapshot.as_deref().is_some_and(is_planned) {
            // Its snapshot is only planned: nothing to ask about yet.
            return Ok(planned());
        }
        match self {
            Self::Live(c) => Ok(live::create_volume(permit, &c.ec2, new, token).await?.unwrap_or_else(planned)),
            Self::World { world, name, .. } => {
                let from = new.snapshot.as_deref().unwrap_or_default();
                let made = Self::on_world(world, name, ("CreateVolume", from, Some(permit)), |a, now, _| {
                    a.create_volume(permit, new, now)
                })?;
                Ok(if permit.is_check() { planned() } else { made })
            }
        }
    }

    /// Changes a volume's type, IOPS, throughput or size in place; the
    /// modification then runs on its own (see [`Account::modification`]).
    pub async fn modify_volume(&self, permit: &Permit, id: &str, change: &VolumeChange) -> Result<(), Error> {
        if permit.is_check() && is_planned(id) {
            return Ok(());
        }
        match self {
            Self::Live(c) => live::modify_volume(permit, &c.ec2, id, change).await.map(drop),
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("ModifyVolume", id, Some(permit)), |a, now, _| {
                    a.modify_volume(permit, id, change, now)
                })
            }
        }
    }

    /// Adds or replaces tags on a volume or snapshot.
    pub async fn tag(&self, permit: &Permit, resource: &str, tags: &Tags) -> Result<(), Error> {
        if permit.is_check() && is_planned(resource) {
            return Ok(());
        }
        match self {
            Self::Live(c) => live::tag(permit, &c.ec2, resource, tags).await.map(drop),
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("CreateTags", resource, Some(permit)), |a, _, _| {
                    a.tag(permit, resource, tags)
                })
            }
        }
    }

    /// Deletes a volume (it must not be attached).
    pub async fn delete_volume(&self, permit: &Permit, id: &str) -> Result<(), Error> {
        match self {
            Self::Live(c) => live::delete_volume(permit, &c.ec2, id).await.map(drop),
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DeleteVolume", id, Some(permit)), |a, _, _| a.delete_volume(permit, id))
            }
        }
    }

    /// Deletes a snapshot.
    pub async fn delete_snapshot(&self, permit: &Permit, id: &str) -> Result<(), Error> {
        match self {
            Self::Live(c) => live::delete_snapshot(permit, &c.ec2, id).await.map(drop),
            Self::World { world, name, .. } => {
                Self::on_world(world, name, ("DeleteSnapshot", id, Some(permit)), |a, _, _| {
                    a.delete_snapshot(permit, id)
                })
            }
        }
    }
}
