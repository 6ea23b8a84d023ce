//! How the test API server reads queries and selectors, and what it
//! answers to discovery.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::KINDS;

pub(super) fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

pub(super) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Equality-based selectors only (`a=b,c!=d`, `metadata.name=x`), which is
/// what the tests send.
pub(super) fn selected(obj: &Value, query: &BTreeMap<String, String>) -> bool {
    let check = |selector: Option<&String>, lookup: &dyn Fn(&str) -> Option<String>| {
        selector.is_none_or(|s| {
            s.split(',').filter(|t| !t.is_empty()).all(|term| {
                if let Some((k, v)) = term.split_once("!=") {
                    lookup(k).as_deref() != Some(v)
                } else if let Some((k, v)) = term.split_once('=') {
                    lookup(k).as_deref() == Some(v.trim_start_matches('='))
                } else {
                    lookup(term).is_some()
                }
            })
        })
    };
    let label =
        |k: &str| obj.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str).map(String::from);
    let field = |k: &str| k.split('.').try_fold(obj, |v, p| v.get(p)).and_then(Value::as_str).map(String::from);
    check(query.get("labelSelector"), &label) && check(query.get("fieldSelector"), &field)
}

pub(super) fn discovery_groups() -> Value {
    let mut groups: Vec<Value> = Vec::new();
    for (group, version, ..) in KINDS.iter().filter(|k| !k.0.is_empty()) {
        if groups.iter().any(|g| g["name"] == json!(group)) {
            continue;
        }
        let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
        groups.push(json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv}));
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub(super) fn discovery_resources(group: &str, version: &str) -> Value {
    let resources: Vec<Value> = KINDS
        .iter()
        .filter(|k| k.0 == group && k.1 == version)
        .map(|(_, _, plural, kind, namespaced)| {
            let singular = kind.to_ascii_lowercase();
            let shorts: Vec<&str> = if *plural == "applications" { vec!["app", "apps"] } else { vec![] };
            json!({"name": plural, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": ["get", "list", "watch", "create", "patch", "delete"], "shortNames": shorts})
        })
        .collect();
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}
