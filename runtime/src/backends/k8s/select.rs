//! Label and field selectors, parsed and matched the way the API server does
//! for the world backend (the live backend sends them as they are written).
//! Labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`.
//! Fields: `path=value`, `path==value`, `path!=value`, with dotted paths
//! (`metadata.name`, `status.phase`, `spec.nodeName`).

use serde_json::Value;

use super::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0_i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()
}

fn set_of(text: &str, selector: &str) -> Result<Vec<String>, Error> {
    let inner = text
        .trim()
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| Error::Usage(format!("label selector `{selector}`: expected a set such as `(a,b)`")))?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect())
}

impl Labels {
    /// Parses a label selector.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut reqs = Vec::new();
        for term in terms(text) {
            let req = if let Some((k, v)) = term.split_once("!=") {
                Requirement::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, set)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set_of(set, text)?)
            } else if let Some((k, set)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), set_of(set, text)?)
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::Absent(k.trim().into())
            } else if term.contains(char::is_whitespace) || term.contains(['(', ')']) {
                return Err(Error::Usage(format!("label selector `{text}`: cannot read `{term}`")));
            } else {
                Requirement::Exists(term)
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether an object's labels satisfy the selector.
    #[must_use]
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::Ne(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, set) => get(k).is_some_and(|x| set.iter().any(|s| s == x)),
            Requirement::NotIn(k, set) => get(k).is_none_or(|x| !set.iter().any(|s| s == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::Absent(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<(String, bool, String)>);

impl Fields {
    /// Parses a field selector.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut out = Vec::new();
        for term in terms(text) {
            let (path, equal, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, true, v)
            } else {
                return Err(Error::Usage(format!("field selector `{text}`: `{term}` is not `field=value`")));
            };
            out.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(Self(out))
    }

    /// Whether an object's fields satisfy the selector.
    #[must_use]
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let found = lookup(obj, path).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            (found.as_deref().unwrap_or("") == value) == *equal
        })
    }
}

/// A dotted path into an object: `status.loadBalancer.ingress.0.hostname`.
#[must_use]
pub fn lookup<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').filter(|p| !p.is_empty()).try_fold(obj, |v, part| match v {
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        other => other.get(part),
    })
}

/// Both selectors, parsed, for matching many objects.
#[derive(Debug, Clone)]
pub struct Matcher {
    labels: Option<Labels>,
    fields: Option<Fields>,
}

impl Matcher {
    /// Parses a [`super::Selector`].
    pub fn new(selector: &super::Selector) -> Result<Self, Error> {
        Ok(Self {
            labels: selector.labels.as_deref().map(Labels::parse).transpose()?,
            fields: selector.fields.as_deref().map(Fields::parse).transpose()?,
        })
    }

    /// Whether the object is selected.
    #[must_use]
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(obj)) && self.fields.as_ref().is_none_or(|f| f.matches(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors_match_like_the_api_server() {
        let pod = json!({"metadata": {"name": "jupyter-a", "labels": {"component": "singleuser-server", "app": "jupyterhub"}}, "status": {"phase": "Running"}});
        let yes = [
            "component=singleuser-server",
            "component==singleuser-server,app",
            "app in (jupyterhub, x)",
            "tier notin (db)",
            "!tier",
            "app!=x",
        ];
        for s in yes {
            assert!(Labels::parse(s).unwrap().matches(&pod), "{s}");
        }
        for s in ["component=hub", "app notin (jupyterhub)", "!app", "tier", "app in (x)"] {
            assert!(!Labels::parse(s).unwrap().matches(&pod), "{s}");
        }
        assert!(Labels::parse("app in x").is_err());
        assert!(Fields::parse("status.phase=Running,metadata.name!=hub").unwrap().matches(&pod));
        assert!(!Fields::parse("status.phase=Pending").unwrap().matches(&pod));
        assert!(Fields::parse("phase").is_err());
    }
}
