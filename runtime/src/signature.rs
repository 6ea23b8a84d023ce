//! Every function a script can call, as a person writing Rhai thinks of it:
//! `cluster.get(kind: string, namespace: string, name: string) -> map`, not
//! the Rust signature behind it (`get(c: &mut Cluster, kind: &str, ..) ->
//! Result<Map, Box<EvalAltResult>>`). Read from the engine's own metadata,
//! so `check`, the reference (`hubops docs`) and the "cannot be called with"
//! errors of a run say the same thing. Reading only: it runs nothing.

use rhai::{Engine, FnNamespace};

/// One function the engine knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    /// The static module it is in (`k8s`), `None` for global functions.
    pub(crate) module: Option<String>,
    /// Its name (`get$name` for the getter of a property `name`).
    pub(crate) name: String,
    /// Every parameter, the receiver of a method first.
    pub(crate) params: Vec<Param>,
    /// What it returns, in Rhai terms (`map`, `array`, `Cluster`, `()`).
    pub(crate) returns: String,
    /// Callable without its module's name (the global namespace, or a
    /// module function marked global): as `f(..)` and as `x.f(..)`.
    pub(crate) global: bool,
    /// The `///` comments, as the engine keeps them.
    pub(crate) doc: Vec<String>,
    /// One of Rhai's own packages (`len`, `push`, ...), not a binding.
    pub(crate) standard: bool,
}

/// One parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// The name the binding gives it (`_` when it has none).
    pub(crate) name: String,
    /// Its type in Rhai terms.
    pub(crate) ty: String,
}

/// The types Rhai itself has; anything else is a binding's custom type.
const BUILTIN: [&str; 13] =
    ["string", "int", "float", "bool", "char", "map", "array", "blob", "any", "Fn", "timestamp", "range", "()"];

impl Signature {
    /// The custom type a method is called on (`Cluster`), if it is one.
    pub(crate) fn receiver(&self) -> Option<&str> {
        let first = self.params.first()?;
        (self.global && !BUILTIN.contains(&first.ty.as_str()) && first.ty.starts_with(char::is_uppercase))
            .then_some(first.ty.as_str())
    }

    /// The property a getter reads (`name` for `get$name`).
    pub(crate) fn property(&self) -> Option<&str> {
        self.name.strip_prefix("get$")
    }

    /// Whether scripts call it by name (not operators, indexers, setters).
    pub(crate) fn callable(&self) -> bool {
        self.name.starts_with(|c: char| c.is_alphabetic() || c == '_') && !self.name.contains('$')
    }

    /// How a script writes a call: `cluster.get(kind: string) -> map`,
    /// `k8s::cluster(context: string) -> Cluster`, `account.name -> string`.
    pub(crate) fn display(&self) -> String {
        let ret = if self.returns == "()" { String::new() } else { format!(" -> {}", self.returns) };
        if let (Some(property), Some(receiver)) = (self.property(), self.receiver()) {
            return format!("{}.{property}{ret}", receiver.to_lowercase());
        }
        let (head, params) = if let Some(receiver) = self.receiver() {
            (format!("{}.{}", receiver.to_lowercase(), self.name), &self.params[1..])
        } else {
            let module = self.module.as_ref().filter(|_| !self.global || self.receiver().is_none());
            (module.map_or_else(|| self.name.clone(), |m| format!("{m}::{}", self.name)), &self.params[..])
        };
        let params: Vec<String> = params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        format!("{head}({}){ret}", params.join(", "))
    }
}

/// Every function the engine knows: its global functions, Rhai's own
/// packages (when `standard`), and the functions of every static module.
pub(crate) fn of_engine(engine: &Engine, standard: bool) -> Vec<Signature> {
    engine
        .collect_fn_metadata(
            None,
            |info| {
                let meta = info.metadata;
                let module = (!info.namespace.is_empty()).then(|| info.namespace.to_string());
                let params = if meta.params_info.is_empty() {
                    (0..meta.num_params).map(|_| Param { name: "_".into(), ty: "any".into() }).collect()
                } else {
                    meta.params_info.iter().map(|p| param(p)).collect()
                };
                Some(Signature {
                    global: module.is_none() || meta.namespace == FnNamespace::Global,
                    module,
                    name: meta.name.to_string(),
                    params,
                    returns: rhai_type(&meta.return_type),
                    doc: meta.comments.iter().map(ToString::to_string).collect(),
                    standard: false,
                })
            },
            standard,
        )
        .into_iter()
        .zip(standard_flags(engine, standard))
        .map(|(mut s, standard)| {
            s.standard = standard;
            s
        })
        .collect()
}

/// Which of [`of_engine`]'s functions come from Rhai's own packages, in
/// the same order (the metadata does not say; the standard packages are
/// what the list without them lacks).
fn standard_flags(engine: &Engine, standard: bool) -> Vec<bool> {
    let all = engine.collect_fn_metadata(None, |info| Some(info.metadata.hash), standard);
    if !standard {
        return vec![false; all.len()];
    }
    let ours: std::collections::HashSet<u64> =
        engine.collect_fn_metadata(None, |info| Some(info.metadata.hash), false).into_iter().collect();
    all.into_iter().map(|hash| !ours.contains(&hash)).collect()
}

/// `kind: &str` -> `kind: string`.
fn param(text: &str) -> Param {
    match text.split_once(':') {
        Some((name, ty)) => Param { name: name.trim().to_string(), ty: rhai_type(ty) },
        None => Param { name: "_".into(), ty: rhai_type(text) },
    }
}

/// A Rust type as a Rhai script sees it.
pub(crate) fn rhai_type(rust: &str) -> String {
    let mut ty = rust.trim();
    ty = ty.strip_prefix("&mut ").or_else(|| ty.strip_prefix('&')).unwrap_or(ty).trim();
    if let Some(inner) = ty.strip_prefix("Result<").and_then(|s| s.strip_suffix('>')) {
        // `Result<T, Box<EvalAltResult>>`: a script sees `T` or an error.
        let ok = inner.rsplit_once(", Box<").map_or(inner, |(ok, _)| ok);
        return rhai_type(ok);
    }
    if let Some(inner) = ty.strip_prefix("RhaiResultOf<").and_then(|s| s.strip_suffix('>')) {
        return rhai_type(inner);
    }
    if let Some(inner) = ty.strip_prefix("Option<").and_then(|s| s.strip_suffix('>')) {
        return rhai_type(inner);
    }
    let last = ty.rsplit("::").next().unwrap_or(ty);
    match last {
        "" | "()" => "()",
        "str" | "String" | "ImmutableString" | "SmartString" => "string",
        "i64" | "i32" | "u64" | "u32" | "usize" | "isize" | "u8" | "INT" => "int",
        "f64" | "f32" | "FLOAT" => "float",
        "bool" => "bool",
        "char" => "char",
        "Map" => "map",
        "Blob" => "blob",
        "Dynamic" | "RhaiResult" => "any",
        "FnPtr" => "Fn",
        "Instant" => "timestamp",
        "ExclusiveRange" | "InclusiveRange" => "range",
        s if s == "Array" || s.starts_with("Vec<") => "array",
        s if s.starts_with("BTreeMap<") || s.starts_with("HashMap<") => "map",
        other => return other.to_string(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_types_become_rhai_words() {
        assert_eq!(rhai_type("Result<Map, Box<EvalAltResult>>"), "map");
        assert_eq!(rhai_type("&mut Cluster"), "Cluster");
        assert_eq!(rhai_type("&str"), "string");
        assert_eq!(rhai_type("Result<(), Box<EvalAltResult>>"), "()");
        assert_eq!(rhai_type("i64"), "int");
        assert_eq!(rhai_type("rhai::Array"), "array");
        assert_eq!(rhai_type("Result<Dynamic, Box<EvalAltResult>>"), "any");
    }

    #[test]
    fn methods_read_as_calls_on_their_receiver() {
        let sig = Signature {
            module: Some("k8s".into()),
            name: "get".into(),
            params: vec![
                Param { name: "c".into(), ty: "Cluster".into() },
                Param { name: "kind".into(), ty: "string".into() },
            ],
            returns: "map".into(),
            global: true,
            doc: Vec::new(),
            standard: false,
        };
        assert_eq!(sig.display(), "cluster.get(kind: string) -> map");
        let plain = Signature { global: false, name: "cluster".into(), params: vec![], ..sig.clone() };
        assert_eq!(plain.display(), "k8s::cluster() -> map");
        let getter = Signature { name: "get$name".into(), params: sig.params[..1].to_vec(), ..sig };
        assert_eq!(getter.display(), "cluster.name -> map");
    }
}
