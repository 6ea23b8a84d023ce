//! What one sync on a world will do, worked out before it starts: the
//! revision it deploys, the manifests that revision renders to (`when`
//! conditions read its values files from the world's `git:` section), how
//! long it takes, and whether it fails. Reading only; the sync itself is
//! `mod.rs`'s.

use std::time::Duration;

use serde_json::Value;

use super::{ArgoWorld, Clock, DEFAULT_SYNC_TIME, SECTION};
use crate::backends::git::world as git;
use crate::backends::k8s::kinds::ResourceKind;
use crate::backends::k8s::world::ScheduledEvent;
use crate::backends::k8s::world_cluster::WorldCluster;
use crate::backends::k8s::{name_of, Error};
use crate::backends::yaml::edit;

/// One sync, planned.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Whether the section names the Application (only then does a prune
    /// delete what it no longer desires).
    pub(crate) declared: bool,
    pub(crate) clock: Clock,
    pub(crate) sync_time: Duration,
    pub(crate) health: String,
    /// Why it fails, if it does.
    pub(crate) fails: Option<String>,
    pub(crate) revision: String,
    pub(crate) desired: Vec<Value>,
    pub(crate) then: Vec<ScheduledEvent>,
}

/// A desired entry as the section may write it: a manifest, or
/// `{when: {file, key, equals}, manifest}`.
pub(crate) fn check_desired(item: &Value) -> Result<(), String> {
    let manifest = |obj: &Value| {
        if obj.get("apiVersion").is_none() || obj.get("kind").is_none() || name_of(obj).is_none() {
            Err("a manifest needs `apiVersion`, `kind` and `metadata.name`".to_string())
        } else {
            Ok(())
        }
    };
    let Some(obj) = item.get("manifest") else { return manifest(item) };
    if let Some(extra) = item.as_object().and_then(|m| m.keys().find(|k| *k != "manifest" && *k != "when")) {
        return Err(format!("a conditional entry has `when` and `manifest`, not `{extra}`"));
    }
    let when = item.get("when").ok_or("a conditional entry needs `when`")?;
    let text = |k: &str| when.get(k).and_then(Value::as_str).ok_or(format!("`when` needs `{k}`"));
    text("file")?;
    edit::parse_path(text("key")?).map_err(|e| e.to_string())?;
    if when.get("equals").is_none() {
        return Err("`when` needs `equals` (`null`: the key is absent)".into());
    }
    manifest(obj)
}

impl Plan {
    /// Plans a sync of Application `(ns, name)` under operation `op` (the
    /// one being set; `None`: the one it has).
    pub(crate) fn make(
        cluster: &WorldCluster,
        app_kind: &ResourceKind,
        (ns, name): (&str, &str),
        op: Option<&Value>,
    ) -> Result<Self, Error> {
        let shared = cluster.shared();
        let clock = Clock { elapsed: shared.elapsed(), now: shared.now() };
        let app = cluster.get_opt(app_kind, ns, name)?.unwrap_or(Value::Null);
        let world = shared.lock();
        let section = world.part::<ArgoWorld>(SECTION).and_then(|a| a.app(cluster.context(), ns, name).cloned());
        let declared = section.is_some();
        let section = section.unwrap_or_default();
        let op = op.or_else(|| app.get("operation")).cloned().unwrap_or(Value::Null);
        let text =
            |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
        let url = text(&app, "/spec/source/repoURL");
        let target = text(&app, "/spec/source/targetRevision").unwrap_or_else(|| "HEAD".into());
        let revision = text(&op, "/sync/revision")
            .or_else(|| section.revision.clone())
            .or_else(|| url.as_deref().and_then(|u| git::remote_head(&world, u, &target)))
            .or_else(|| text(&app, "/status/sync/revision"))
            .or_else(|| text(&app, "/spec/source/targetRevision"))
            .unwrap_or_else(|| "HEAD".into());
        let mut fails = match section.fails_times {
            Some(0) => None,
            _ => section.fails.clone(),
        };
        let mut desired = Vec::new();
        for item in &section.desired {
            let (Some(manifest), Some(when)) = (item.get("manifest"), item.get("when")) else {
                desired.push(item.clone());
                continue;
            };
            let tree = url.as_deref().and_then(|u| git::tree_at(&world, u, &revision));
            let Some(tree) = tree else {
                fails.get_or_insert_with(|| {
                    format!(
                        "rpc error: unable to resolve revision `{revision}` of `{}`: the world's `git:` section has no files for it",
                        url.as_deref().unwrap_or("(no repoURL)")
                    )
                });
                continue;
            };
            if holds(&tree, when) {
                desired.push(manifest.clone());
            }
        }
        let sync_time =
            section.sync_time.as_deref().and_then(|t| crate::duration::parse(t).ok()).unwrap_or(DEFAULT_SYNC_TIME);
        Ok(Self {
            declared,
            clock,
            sync_time,
            health: section.health.clone().unwrap_or_else(|| "Healthy".into()),
            fails,
            revision,
            desired,
            then: section.then.clone(),
        })
    }

    /// A sync that failed as planned counts against `fails_times`.
    pub(crate) fn spend_failure(&self, cluster: &WorldCluster, (ns, name): (&str, &str)) {
        if self.fails.is_none() {
            return;
        }
        let mut world = cluster.shared().lock();
        let Some(argo) = world.part_mut::<ArgoWorld>(SECTION) else { return };
        let Some(app) = argo.apps.get_mut(cluster.context()).and_then(|a| a.get_mut(&format!("{ns}/{name}"))) else {
            return;
        };
        if let Some(n) = app.fails_times.as_mut() {
            *n = n.saturating_sub(1);
        }
    }
}

/// Whether a `when` condition holds for the files of a revision.
fn holds(tree: &git::Tree, when: &Value) -> bool {
    let file = when.get("file").and_then(Value::as_str).unwrap_or_default();
    let key = when.get("key").and_then(Value::as_str).unwrap_or_default();
    let want = when.get("equals").cloned().unwrap_or(Value::Null);
    let found = tree
        .get(file)
        .and_then(|text| edit::parse(text).ok())
        .and_then(|doc| edit::parse_path(key).ok().and_then(|path| edit::lookup(&doc, &path).cloned()))
        .unwrap_or(Value::Null);
    found == want
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_read_the_revisions_values() {
        let tree: git::Tree =
            [("environments/values.yaml".to_string(), "applications:\n  nublado2: true\n".to_string())].into();
        let when =
            |key: &str, equals: Value| json!({ "file": "environments/values.yaml", "key": key, "equals": equals });
        assert!(holds(&tree, &when("applications.nublado2", json!(true))));
        assert!(!holds(&tree, &when("applications.nublado2", json!(false))));
        assert!(holds(&tree, &when("applications.cachemachine", Value::Null)), "absent is null");
        let entry = json!({ "when": when("a", json!(1)), "manifest": { "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" } } });
        assert_eq!(check_desired(&entry), Ok(()));
        assert!(check_desired(&json!({ "when": {}, "manifest": {} })).is_err());
        assert_eq!(
            check_desired(
                &json!({ "manifest": { "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "c" } }, "if": 1 })
            ),
            Err("a conditional entry has `when` and `manifest`, not `if`".into())
        );
    }
}
