//! API discovery for kinds the built-in table does not know (CRDs): the
//! API groups, then each group's preferred version's resources, first match
//! by plural, singular, kind or short name.

use super::kinds::{self, KindQuery, ResourceKind};
use super::live::LiveCluster;
use super::Error;

impl LiveCluster {
    pub(super) async fn discover(&self, query: &KindQuery) -> Result<Option<ResourceKind>, Error> {
        let groups = self.client.list_api_groups().await.map_err(|e| self.error(e))?;
        let mut versions: Vec<(String, String)> = Vec::new();
        for group in &groups.groups {
            if query.group.as_deref().is_some_and(|g| g != group.name) {
                continue;
            }
            let version = match &query.version {
                Some(v) => v.clone(),
                None => group
                    .preferred_version
                    .as_ref()
                    .map(|v| v.version.clone())
                    .or_else(|| group.versions.first().map(|v| v.version.clone()))
                    .unwrap_or_default(),
            };
            versions.push((group.name.clone(), version));
        }
        if query.group.is_none() {
            versions.insert(0, (String::new(), "v1".into()));
        }
        for (group, version) in versions {
            let list = if group.is_empty() {
                self.client.list_core_api_resources(&version).await
            } else {
                self.client.list_api_group_resources(&format!("{group}/{version}")).await
            };
            let list = list.map_err(|e| self.error(e))?;
            let found = list.resources.iter().find(|r| {
                !r.name.contains('/')
                    && kinds::discovered_matches(
                        query,
                        &r.name,
                        &r.singular_name,
                        &r.kind,
                        r.short_names.as_deref().unwrap_or_default(),
                    )
            });
            if let Some(r) = found {
                return Ok(Some(ResourceKind {
                    group,
                    version,
                    kind: r.kind.clone(),
                    plural: r.name.clone(),
                    namespaced: r.namespaced,
                }));
            }
        }
        Ok(None)
    }
}
