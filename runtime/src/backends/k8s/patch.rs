//! Patches applied by the world backend: RFC 7386 merge patches (also used,
//! as an approximation, for strategic merge patches: lists are replaced
//! rather than merged by key) and RFC 6902 JSON patches.

use serde_json::Value;

use super::Error;

/// Applies an RFC 7386 merge patch in place.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn invalid(message: String) -> Error {
    Error::api(422, "Invalid", message)
}

fn split(path: &str) -> Result<(String, String), Error> {
    let (parent, last) =
        path.rsplit_once('/').ok_or_else(|| invalid(format!("json patch path `{path}` must start with /")))?;
    Ok((parent.to_string(), last.replace("~1", "/").replace("~0", "~")))
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `test`).
pub fn json(target: &mut Value, ops: &Value) -> Result<(), Error> {
    let ops = ops.as_array().ok_or_else(|| invalid("a json patch is a list of operations".into()))?;
    let mut work = target.clone();
    for op in ops {
        let verb = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("json patch operation without `path`".into()))?;
        let value = op.get("value").cloned();
        match verb {
            "test" => {
                if work.pointer(path) != value.as_ref() {
                    return Err(invalid(format!("json patch test failed at `{path}`")));
                }
            }
            "remove" => {
                let (parent, last) = split(path)?;
                let removed = match work.pointer_mut(&parent) {
                    Some(Value::Object(m)) => m.remove(&last).is_some(),
                    Some(Value::Array(a)) => {
                        last.parse::<usize>().ok().filter(|i| *i < a.len()).map(|i| a.remove(i)).is_some()
                    }
                    _ => false,
                };
                if !removed {
                    return Err(invalid(format!("json patch: nothing to remove at `{path}`")));
                }
            }
            "add" | "replace" => {
                let value = value.ok_or_else(|| invalid(format!("json patch `{verb}` at `{path}` has no value")))?;
                let (parent, last) = split(path)?;
                match work.pointer_mut(&parent) {
                    Some(Value::Object(m)) => {
                        if verb == "replace" && !m.contains_key(&last) {
                            return Err(invalid(format!("json patch: nothing to replace at `{path}`")));
                        }
                        m.insert(last, value);
                    }
                    Some(Value::Array(a)) if last == "-" => a.push(value),
                    Some(Value::Array(a)) => match last.parse::<usize>() {
                        Ok(i) if verb == "replace" && i < a.len() => a[i] = value,
                        Ok(i) if verb == "add" && i <= a.len() => a.insert(i, value),
                        _ => return Err(invalid(format!("json patch: index out of range at `{path}`"))),
                    },
                    _ => return Err(invalid(format!("json patch: no parent for `{path}`"))),
                }
            }
            other => return Err(invalid(format!("json patch operation `{other}` is not supported"))),
        }
    }
    *target = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches() {
        let mut v = json!({"spec": {"replicas": 1, "x": 1}, "l": [1, 2]});
        merge(&mut v, &json!({"spec": {"replicas": 3, "x": null}}));
        assert_eq!(v, json!({"spec": {"replicas": 3}, "l": [1, 2]}));
        json(&mut v, &json!([{"op": "replace", "path": "/spec/replicas", "value": 0}, {"op": "add", "path": "/l/-", "value": 3}, {"op": "remove", "path": "/l/0"}])).unwrap();
        assert_eq!(v, json!({"spec": {"replicas": 0}, "l": [2, 3]}));
        assert!(json(&mut v, &json!([{"op": "test", "path": "/spec/replicas", "value": 5}])).is_err());
        assert_eq!(v, json!({"spec": {"replicas": 0}, "l": [2, 3]}));
    }
}
