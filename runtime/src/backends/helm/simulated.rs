//! Helm on a world: an upgrade or rollback computes the new release records
//! from those the world's cluster holds ([`super::world`]) and writes them
//! as Secrets into that cluster with the gate's permit; under
//! `Permit::Check` the writes are validated on a copy of the cluster and
//! the world keeps its records. Values files named by an upgrade are read
//! from disk (a read of the site's checkout).

use serde_json::Value;

use super::cli::Target;
use super::release::{Release, LABEL_SELECTOR};
use super::world::{self, Upgrade};
use super::{current_values, Error, RolledBack, UpgradeSpec, Upgraded, Values};
use crate::backends::k8s::world_cluster::WorldCluster;
use crate::backends::k8s::{self, kinds, Selector};
use crate::effects::Permit;

/// What a world write does.
#[derive(Debug, Clone)]
pub(super) enum Write {
    /// `helm upgrade`.
    Upgrade(Upgrade),
    /// `helm rollback` to a revision (0: the one before the newest).
    Rollback(i64),
}

/// An upgrade's values as a world merges them: the files (or the inline
/// map), then the `set` keys laid over them.
pub(super) fn from_spec(spec: &UpgradeSpec) -> Result<Upgrade, Error> {
    let mut up = Upgrade {
        chart: spec.chart.clone(),
        version: spec.version.clone(),
        reuse_values: spec.reuse_values,
        install: spec.install,
        ..Upgrade::default()
    };
    let layers = match &spec.values {
        Values::None => Vec::new(),
        Values::Inline(values) => vec![values.clone()],
        Values::Files(files) => files.iter().map(|f| values_file(f)).collect::<Result<_, _>>()?,
    };
    for layer in layers {
        match layer {
            Value::Object(map) => world::merge(&mut up.values, map),
            Value::Null => {}
            _ => return Err(Error::Values { kind: "Invalid", message: "a values file must hold a mapping".into() }),
        }
    }
    for (key, value) in &spec.set {
        world::set_dotted(&mut up.values, key, value.clone());
    }
    Ok(up)
}

fn values_file(path: &str) -> Result<Value, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Values { kind: "NotFound", message: format!("cannot read values file `{path}`: {e}") })?;
    let yaml: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| Error::Values { kind: "Invalid", message: format!("values file `{path}` is not YAML: {e}") })?;
    serde_json::to_value(yaml)
        .map_err(|e| Error::Values { kind: "Invalid", message: format!("values file `{path}`: {e}") })
}

fn secrets() -> Result<k8s::ResourceKind, Error> {
    Ok(kinds::builtin(&kinds::parse("secrets")).ok_or_else(|| k8s::Error::UnknownKind { kind: "secrets".into() })?)
}

/// The release's records as the world holds them, and those `write` would
/// leave, newest last.
fn compute(cluster: &WorldCluster, (ns, name): (&str, &str), write: &Write) -> Result<(Vec<Value>, Vec<Value>), Error> {
    let selector = Selector { labels: Some(format!("{LABEL_SELECTOR},name={name}")), fields: None };
    let objects = cluster.list(&secrets()?, ns, &selector)?;
    let history = world::history(&objects, name).map_err(|e| Error::record(e, ns, cluster.context()))?;
    let now = cluster.shared().now().to_string();
    let records = match write {
        Write::Upgrade(up) => world::upgrade(&history, ns, name, up, &now),
        Write::Rollback(revision) => world::rollback(&history, name, *revision, &now),
    }
    .map_err(|e| Error::from_world(e, ns, cluster.context()))?;
    Ok((objects, records))
}

/// What reading the records can refuse (no such release or revision, an
/// operation in progress), before the gate.
pub(super) fn plan(cluster: &WorldCluster, at: (&str, &str), write: &Write) -> Result<(), Error> {
    compute(cluster, at, write).map(|_| ())
}

/// Writes the records (under `Permit::Check`: validates them on a copy of
/// the cluster); returns the new revision.
fn write(cluster: &WorldCluster, permit: &Permit, target: &Target, records: &[Value]) -> Result<Release, Error> {
    let secrets = secrets()?;
    for record in records {
        let secret = world::encode(record).map_err(Error::World)?;
        cluster.apply(permit, &secrets, &target.namespace, &secret)?;
    }
    let newest = records.last().cloned().unwrap_or(Value::Null);
    serde_json::from_value(newest).map_err(|e| Error::NotARelease { name: target.release.clone(), why: e.to_string() })
}

/// An upgrade on a world.
pub(super) fn upgrade(
    cluster: &WorldCluster,
    permit: &Permit,
    target: &Target,
    up: &Upgrade,
) -> Result<Upgraded, Error> {
    let at = (target.namespace.as_str(), target.release.as_str());
    let (objects, records) = compute(cluster, at, &Write::Upgrade(up.clone()))?;
    let current = if permit.is_check() {
        Some(current_values(&objects, &target.release).map_err(|e| Error::record(e, at.0, cluster.context()))?)
    } else {
        None
    };
    let release = write(cluster, permit, target, &records)?;
    let output = records.last().map(Value::to_string).unwrap_or_default();
    Ok(Upgraded { release: Some(release), output, current })
}

/// A rollback on a world.
pub(super) fn rollback(
    cluster: &WorldCluster,
    permit: &Permit,
    target: &Target,
    revision: i64,
) -> Result<RolledBack, Error> {
    let at = (target.namespace.as_str(), target.release.as_str());
    let (_, records) = compute(cluster, at, &Write::Rollback(revision))?;
    let release = write(cluster, permit, target, &records)?;
    let to = release.info.description.strip_prefix("Rollback to ").and_then(|n| n.parse::<i64>().ok());
    Ok(RolledBack { to, new_revision: Some(release.revision) })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::backends::k8s::world_cluster::SECTION;
    use crate::clock::Clock;
    use crate::world::{Shared, World};

    fn cluster() -> WorldCluster {
        let first = json!({
            "name": "hub", "namespace": "jh", "version": 1,
            "info": { "status": "deployed", "last_deployed": "2026-01-01T00:00:00Z" },
            "chart": { "metadata": { "name": "jupyterhub", "version": "3.3.7" } },
            "config": { "hub": { "baseUrl": "/nb" } }
        });
        let text = serde_norway::to_string(&json!({
            "name": "helm",
            "clusters": { "green": { "objects": [
                { "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "jh" } },
                world::encode(&first).unwrap(),
            ] } }
        }))
        .unwrap();
        let world = World::load(&text, "helm.yaml", &[(SECTION, crate::backends::k8s::world::load_world)]).unwrap();
        let clock = Arc::new(Clock::starting_at(world.start()));
        WorldCluster::open(&Shared::new(world, clock), Some("green")).unwrap()
    }

    fn saved(c: &WorldCluster) -> String {
        let world = c.shared().lock();
        world.to_yaml(world.start())
    }

    #[test]
    fn a_checked_upgrade_computes_the_revision_and_writes_no_record() {
        let c = cluster();
        let target = Target { context: "green".into(), namespace: "jh".into(), release: "hub".into() };
        let spec = UpgradeSpec {
            chart: "jupyterhub/jupyterhub".into(),
            set: vec![("hub.baseUrl".into(), json!("/n2"))],
            ..UpgradeSpec::default()
        };
        let up = from_spec(&spec).unwrap();
        let before = saved(&c);
        let checked = upgrade(&c, &Permit::for_tests_check(), &target, &up).unwrap();
        assert_eq!(checked.release.as_ref().map(|r| r.revision), Some(2));
        assert_eq!(checked.current, Some(json!({ "hub": { "baseUrl": "/nb" } })));
        assert_eq!(saved(&c), before);
        let rolled = rollback(&c, &Permit::for_tests_check(), &target, 0);
        assert!(rolled.is_err(), "one revision: nothing to roll back to");
        let applied = upgrade(&c, &Permit::for_tests(), &target, &up).unwrap();
        assert_eq!((applied.release.map(|r| r.revision), applied.current), (Some(2), None));
        assert!(saved(&c).contains("sh.helm.release.v1.hub.v2"));
    }
}
