//! Kind names as kubectl accepts them: `Pod`, `pod`, `pods`, `po`,
//! `deployments.apps`, `deploy.v1.apps`, `leases.coordination.k8s.io`.
//! Built-in kinds resolve from a table without asking the server; anything
//! else (CRDs) is found by the live backend through API discovery, or by the
//! world from the objects it holds.

use serde_json::Value;

/// A resolved kind: where its objects live in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// `Deployment`.
    pub kind: String,
    /// `deployments`.
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

/// What the name asks for, before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindQuery {
    /// Lowercase resource name: singular, plural, short or kind.
    pub name: String,
    /// Group given with the name (`deployments.apps`), if any.
    pub group: Option<String>,
    /// Version given with the name (`deployments.v1.apps`), if any.
    pub version: Option<String>,
}

// (kind, plural, short names, group, version, namespaced)
type Row = (&'static str, &'static str, &'static [&'static str], &'static str, &'static str, bool);

const BUILTIN: &[Row] = &[
    ("Pod", "pods", &["po"], "", "v1", true),
    ("Service", "services", &["svc"], "", "v1", true),
    ("Namespace", "namespaces", &["ns"], "", "v1", false),
    ("PersistentVolumeClaim", "persistentvolumeclaims", &["pvc"], "", "v1", true),
    ("PersistentVolume", "persistentvolumes", &["pv"], "", "v1", false),
    ("ConfigMap", "configmaps", &["cm"], "", "v1", true),
    ("Secret", "secrets", &[], "", "v1", true),
    ("ServiceAccount", "serviceaccounts", &["sa"], "", "v1", true),
    ("Node", "nodes", &["no"], "", "v1", false),
    ("Event", "events", &["ev"], "", "v1", true),
    ("Endpoints", "endpoints", &["ep"], "", "v1", true),
    ("ReplicationController", "replicationcontrollers", &["rc"], "", "v1", true),
    ("ResourceQuota", "resourcequotas", &["quota"], "", "v1", true),
    ("LimitRange", "limitranges", &["limits"], "", "v1", true),
    ("Deployment", "deployments", &["deploy"], "apps", "v1", true),
    ("StatefulSet", "statefulsets", &["sts"], "apps", "v1", true),
    ("DaemonSet", "daemonsets", &["ds"], "apps", "v1", true),
    ("ReplicaSet", "replicasets", &["rs"], "apps", "v1", true),
    ("Job", "jobs", &[], "batch", "v1", true),
    ("CronJob", "cronjobs", &["cj"], "batch", "v1", true),
    ("Ingress", "ingresses", &["ing"], "networking.k8s.io", "v1", true),
    ("NetworkPolicy", "networkpolicies", &["netpol"], "networking.k8s.io", "v1", true),
    ("StorageClass", "storageclasses", &["sc"], "storage.k8s.io", "v1", false),
    ("Role", "roles", &[], "rbac.authorization.k8s.io", "v1", true),
    ("RoleBinding", "rolebindings", &[], "rbac.authorization.k8s.io", "v1", true),
    ("ClusterRole", "clusterroles", &[], "rbac.authorization.k8s.io", "v1", false),
    ("ClusterRoleBinding", "clusterrolebindings", &[], "rbac.authorization.k8s.io", "v1", false),
    ("Lease", "leases", &[], "coordination.k8s.io", "v1", true),
    ("HorizontalPodAutoscaler", "horizontalpodautoscalers", &["hpa"], "autoscaling", "v2", true),
    ("PodDisruptionBudget", "poddisruptionbudgets", &["pdb"], "policy", "v1", true),
    ("CustomResourceDefinition", "customresourcedefinitions", &["crd", "crds"], "apiextensions.k8s.io", "v1", false),
];

impl ResourceKind {
    /// `v1`, `apps/v1`.
    #[must_use]
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `pods`, `deployments.apps`: how the API names it in messages.
    #[must_use]
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `pod daskhub/hub-0`, `namespace nublado2-x`: for plans and messages.
    #[must_use]
    pub fn describe(&self, ns: &str, name: &str) -> String {
        let kind = self.kind.to_ascii_lowercase();
        if self.namespaced && !ns.is_empty() {
            format!("{kind} {ns}/{name}")
        } else {
            format!("{kind} {name}")
        }
    }

    /// A name that resolves back to this kind: `deployments.v1.apps`.
    #[must_use]
    pub fn plural_query(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}.{}", self.plural, self.version, self.group)
        }
    }

    /// kube-rs's description of it.
    #[must_use]
    pub fn api_resource(&self) -> kube::core::ApiResource {
        kube::core::ApiResource {
            group: self.group.clone(),
            version: self.version.clone(),
            api_version: self.api_version(),
            kind: self.kind.clone(),
            plural: self.plural.clone(),
        }
    }

    /// Whether this kind is what `apiVersion`/`kind` of a manifest say.
    #[must_use]
    pub fn matches_object(&self, obj: &Value) -> bool {
        obj.get("kind").and_then(Value::as_str) == Some(self.kind.as_str())
            && obj.get("apiVersion").and_then(Value::as_str).map(group_of) == Some(self.group.as_str())
    }

    /// Whether deleting one of these destroys something that cannot be
    /// recreated from a manifest alone (data, addresses, running sessions).
    #[must_use]
    pub fn delete_is_destructive(&self) -> bool {
        self.group.is_empty()
            && matches!(
                self.kind.as_str(),
                "Namespace" | "Service" | "Pod" | "PersistentVolume" | "PersistentVolumeClaim"
            )
    }
}

/// The group of an `apiVersion`: `apps/v1` -> `apps`, `v1` -> empty.
#[must_use]
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Splits `deploy`, `deployments.apps`, `deployments.v1.apps`.
#[must_use]
pub fn parse(text: &str) -> KindQuery {
    let lower = text.trim().to_ascii_lowercase();
    let Some((name, rest)) = lower.split_once('.') else {
        return KindQuery { name: lower, group: None, version: None };
    };
    let (version, group) = match rest.split_once('.') {
        Some((v, g)) if is_version(v) => (Some(v.to_string()), g.to_string()),
        _ => (None, rest.to_string()),
    };
    KindQuery { name: name.to_string(), group: Some(group), version }
}

fn is_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// Resolves a built-in kind without asking anyone.
#[must_use]
pub fn builtin(query: &KindQuery) -> Option<ResourceKind> {
    BUILTIN
        .iter()
        .find(|(kind, plural, shorts, group, version, _)| {
            (kind.eq_ignore_ascii_case(&query.name) || *plural == query.name || shorts.contains(&query.name.as_str()))
                && query.group.as_deref().is_none_or(|g| g == *group || (g == "core" && group.is_empty()))
                && query.version.as_deref().is_none_or(|v| v == *version)
        })
        .map(|(kind, plural, _, group, version, namespaced)| ResourceKind {
            group: (*group).into(),
            version: (*version).into(),
            kind: (*kind).into(),
            plural: (*plural).into(),
            namespaced: *namespaced,
        })
}

/// The built-in kind of a manifest's `apiVersion` and `kind`.
#[must_use]
pub fn builtin_of_object(obj: &Value) -> Option<ResourceKind> {
    let kind = obj.get("kind").and_then(Value::as_str)?;
    let api_version = obj.get("apiVersion").and_then(Value::as_str)?;
    let found = builtin(&KindQuery {
        name: kind.to_ascii_lowercase(),
        group: Some(group_of(api_version).into()),
        version: None,
    })?;
    (found.kind == kind).then_some(found)
}

/// English plural of a lowercase kind, as CRDs usually name themselves.
#[must_use]
pub fn guess_plural(kind_lower: &str) -> String {
    if let Some(stem) = kind_lower.strip_suffix('y').filter(|s| !s.ends_with(['a', 'e', 'o', 'u'])) {
        format!("{stem}ies")
    } else if kind_lower.ends_with('s') || kind_lower.ends_with("ch") || kind_lower.ends_with('x') {
        format!("{kind_lower}es")
    } else {
        format!("{kind_lower}s")
    }
}

/// Whether a discovered resource answers to the query.
#[must_use]
pub fn discovered_matches(query: &KindQuery, plural: &str, singular: &str, kind: &str, shorts: &[String]) -> bool {
    query.name == plural
        || query.name == singular
        || query.name.eq_ignore_ascii_case(kind)
        || shorts.contains(&query.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Option<(String, String)> {
        builtin(&parse(text)).map(|k| (k.kind.clone(), k.api_version()))
    }

    #[test]
    fn kubectl_names_resolve() {
        for name in ["po", "pod", "pods", "Pod", "pods.v1.core"] {
            assert_eq!(resolve(name), Some(("Pod".into(), "v1".into())), "{name}");
        }
        for name in ["deploy", "deployment", "deployments.apps", "deployments.v1.apps"] {
            assert_eq!(resolve(name), Some(("Deployment".into(), "apps/v1".into())), "{name}");
        }
        assert_eq!(resolve("leases.coordination.k8s.io"), Some(("Lease".into(), "coordination.k8s.io/v1".into())));
        assert_eq!(resolve("sts").map(|k| k.0), Some("StatefulSet".into()));
        assert!(!builtin(&parse("ns")).unwrap().namespaced);
        assert!(!builtin(&parse("pv")).unwrap().namespaced);
        assert_eq!(resolve("applications.argoproj.io"), None);
        assert_eq!(resolve("deployments.batch"), None);
    }

    #[test]
    fn plurals_of_crds() {
        assert_eq!(guess_plural("application"), "applications");
        assert_eq!(guess_plural("policy"), "policies");
        assert_eq!(guess_plural("gateway"), "gateways");
        assert_eq!(guess_plural("ingress"), "ingresses");
    }
}
