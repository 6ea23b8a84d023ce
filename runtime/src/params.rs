//! Parameters a runbook declares and the values a run supplies for them.
//!
//! A runbook declares its parameters once, with a literal map:
//! `let p = params(#{ zone: #{ doc: "Route53 zone", example: "example.org" } });`
//! (fields: `type`, `default_value`, `required`, `doc`, `example`, `choices`, `secret`)
//! The declaration is read from the compiled script without running it, so
//! `show`, `check` and `run --help` can list parameters, and every problem
//! with the supplied values (missing, unknown, ill-typed, not a choice) is
//! reported together before the first step. This module never runs a script.

use std::collections::BTreeMap;
use std::fmt;

use rhai::{ASTNode, Expr, Position, AST};
use serde_json::Value;

use crate::suggestion::closest;

/// The types a parameter can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamType {
    String,
    Int,
    Float,
    Bool,
    List,
    Map,
    Duration,
}

impl ParamType {
    const NAMES: [&'static str; 7] = ["string", "int", "float", "bool", "list", "map", "duration"];

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "int" => Self::Int,
            "float" => Self::Float,
            "bool" => Self::Bool,
            "list" => Self::List,
            "map" => Self::Map,
            "duration" => Self::Duration,
            _ => return None,
        })
    }

    fn of(value: &Value) -> Self {
        match value {
            Value::Bool(_) => Self::Bool,
            Value::Number(n) if n.is_i64() => Self::Int,
            Value::Number(_) => Self::Float,
            Value::Array(_) => Self::List,
            Value::Object(_) => Self::Map,
            Value::String(_) | Value::Null => Self::String,
        }
    }

    fn article(self) -> &'static str {
        if matches!(self, Self::Int) {
            "an"
        } else {
            "a"
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
            Self::List => "list",
            Self::Map => "map",
            Self::Duration => "duration",
        };
        f.write_str(name)
    }
}

/// One declared parameter.
#[derive(Debug, Clone)]
pub(crate) struct ParamDecl {
    pub(crate) name: String,
    pub(crate) ty: ParamType,
    pub(crate) default: Option<Value>,
    pub(crate) required: bool,
    pub(crate) doc: String,
    pub(crate) example: Option<Value>,
    pub(crate) choices: Vec<Value>,
    pub(crate) secret: bool,
}

/// A runbook's parameter declaration, in source order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declaration {
    pub(crate) params: Vec<ParamDecl>,
}

/// A problem in a declaration, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeclProblem {
    pub(crate) message: String,
    pub(crate) pos: Position,
}

// `default` is a reserved word in Rhai (it must be quoted as a map key), so
// the field is `default_value`; a quoted `"default"` is accepted too.
const FIELDS: [&str; 8] = ["type", "default_value", "default", "required", "doc", "example", "choices", "secret"];

/// Reads the `params(#{...})` declaration from a compiled script. `None` when
/// the script declares no parameters. The AST must come from an engine with
/// optimisation off, so literal maps keep their source order and positions.
pub(crate) fn extract(ast: &AST) -> Result<Option<Declaration>, Vec<DeclProblem>> {
    let mut calls: Vec<(Box<rhai::FnCallExpr>, Position)> = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        if let Some(ASTNode::Expr(Expr::FnCall(call, pos))) = path.last() {
            if call.name == "params" && call.namespace.is_empty() {
                calls.push((call.clone(), *pos));
            }
        }
        true
    });
    let Some((call, pos)) = calls.first() else { return Ok(None) };
    let mut problems = Vec::new();
    for (_, again) in calls.iter().skip(1) {
        problems.push(DeclProblem {
            message: "`params` is called more than once; declare every parameter in one call".into(),
            pos: *again,
        });
    }
    let entries = match call.args.as_slice() {
        [Expr::Map(map, _)] => &map.0,
        [other] => {
            problems.push(DeclProblem {
                message: "`params` takes a literal map, such as `params(#{ zone: #{ doc: \"...\" } })`, so that `hubops show` can read it without running the script".into(),
                pos: other.position(),
            });
            return Err(problems);
        }
        _ => {
            problems.push(DeclProblem {
                message: "`params` takes exactly one argument: a literal map of parameter declarations".into(),
                pos: *pos,
            });
            return Err(problems);
        }
    };
    let mut decl = Declaration::default();
    for (ident, expr) in entries {
        if let Some(param) = declare(ident.name.as_str(), ident.pos, expr, &mut problems) {
            decl.params.push(param);
        }
    }
    if problems.is_empty() {
        Ok(Some(decl))
    } else {
        Err(problems)
    }
}

fn literal(expr: &Expr) -> Option<Value> {
    let value = expr.get_literal_value(None)?;
    rhai::serde::from_dynamic::<Value>(&value).ok()
}

#[allow(clippy::too_many_lines)] // one match arm per declaration field
fn declare(name: &str, pos: Position, expr: &Expr, problems: &mut Vec<DeclProblem>) -> Option<ParamDecl> {
    let mut param = ParamDecl {
        name: name.to_string(),
        ty: ParamType::String,
        default: None,
        required: true,
        doc: String::new(),
        example: None,
        choices: Vec::new(),
        secret: false,
    };
    let fields = match expr {
        // Shorthand: `zone: "the Route53 zone"` is a required string.
        Expr::StringConstant(doc, _) => {
            param.doc = doc.to_string();
            return Some(param);
        }
        Expr::Map(map, _) => &map.0,
        other => {
            problems.push(DeclProblem {
                message: format!("parameter `{name}` must be declared with a literal map such as `#{{ doc: \"...\" }}` or a doc string"),
                pos: other.position(),
            });
            return None;
        }
    };
    let mut ty: Option<(ParamType, Position)> = None;
    let mut required: Option<bool> = None;
    let before = problems.len();
    for (field, value_expr) in fields {
        let field_name = field.name.as_str();
        let Some(value) = literal(value_expr) else {
            problems.push(DeclProblem {
                message: format!("`{name}.{field_name}` must be a literal value (no variables or calls)"),
                pos: value_expr.position(),
            });
            continue;
        };
        let wrong = |expected: &str| DeclProblem {
            message: format!("`{name}.{field_name}` must be {expected}"),
            pos: value_expr.position(),
        };
        match field_name {
            "type" => match value.as_str().and_then(ParamType::parse) {
                Some(t) => ty = Some((t, value_expr.position())),
                None => problems.push(DeclProblem {
                    message: format!("`{name}.type` is {value}, not one of: {}", ParamType::NAMES.join(", ")),
                    pos: value_expr.position(),
                }),
            },
            "default_value" | "default" => param.default = Some(value),
            "required" => match value.as_bool() {
                Some(b) => required = Some(b),
                None => problems.push(wrong("true or false")),
            },
            "doc" => match value.as_str() {
                Some(s) => param.doc = s.to_string(),
                None => problems.push(wrong("a string")),
            },
            "example" => param.example = Some(value),
            "choices" => match value {
                Value::Array(items) if !items.is_empty() => param.choices = items,
                _ => problems.push(wrong("a non-empty list")),
            },
            "secret" => match value.as_bool() {
                Some(b) => param.secret = b,
                None => problems.push(wrong("true or false")),
            },
            other => {
                let hint = closest(other, FIELDS.into_iter())
                    .map_or_else(|| format!(" (fields: {})", FIELDS.join(", ")), |s| format!(" (did you mean `{s}`?)"));
                problems.push(DeclProblem {
                    message: format!("`{name}` has an unknown field `{other}`{hint}"),
                    pos: field.pos,
                });
            }
        }
    }
    param.ty = match (ty, &param.default, param.choices.first()) {
        (Some((t, _)), _, _) => t,
        (None, Some(d), _) | (None, None, Some(d)) => ParamType::of(d),
        (None, None, None) => ParamType::String,
    };
    param.required = match required {
        Some(true) if param.default.is_some() => {
            problems.push(DeclProblem {
                message: format!("`{name}` is `required: true` but has a `default_value`; drop one of them"),
                pos,
            });
            true
        }
        Some(r) => r,
        None => param.default.is_none(),
    };
    if let Some(default) = &param.default {
        if let Err(why) = coerce_value(&param, default) {
            problems.push(DeclProblem { message: format!("the default of `{name}` {why}"), pos });
        }
    }
    for choice in &param.choices {
        if let Err(why) = coerce_value(&ParamDecl { choices: Vec::new(), ..param.clone() }, choice) {
            problems.push(DeclProblem { message: format!("a choice of `{name}` {why}"), pos });
        }
    }
    (problems.len() == before).then_some(param)
}

/// Values supplied for a run: `--set` strings and a `--params` YAML file.
#[derive(Debug, Default)]
pub(crate) struct Supplied {
    pub(crate) sets: Vec<String>,
    pub(crate) file: Option<(String, String)>,
    /// Values the world offers for rehearsals: (world name, values).
    pub(crate) world: Option<(String, BTreeMap<String, Value>)>,
}

/// Everything wrong with the values supplied for a runbook's parameters.
#[derive(Debug, thiserror::Error)]
pub struct ParamProblems {
    pub(crate) runbook: String,
    pub(crate) problems: Vec<String>,
}

impl fmt::Display for ParamProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "{n} problem{} with the parameters of `{}`", if n == 1 { "" } else { "s" }, self.runbook)?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// Validated values, ready for the script, and the secret ones to redact.
#[derive(Debug, Clone, Default)]
pub(crate) struct Values {
    pub(crate) by_name: BTreeMap<String, Value>,
    /// The values of secret parameters, of any type.
    pub(crate) secrets: Vec<Value>,
    pub(crate) secret_names: Vec<String>,
}

impl Values {
    /// The values as the journal shows them: secrets replaced.
    pub(crate) fn redacted(&self) -> Value {
        let map = self
            .by_name
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_names.contains(k) { Value::from("***") } else { v.clone() };
                (k.clone(), shown)
            })
            .collect();
        Value::Object(map)
    }
}

/// Checks every supplied value against the declaration; all problems at once.
#[allow(clippy::too_many_lines)] // one pass over the sources, in priority order
pub(crate) fn validate(runbook: &str, decl: &Declaration, supplied: &Supplied) -> Result<Values, ParamProblems> {
    let mut problems = Vec::new();
    let names = || decl.params.iter().map(|p| p.name.as_str());
    let unknown = |key: &str, from: &str| {
        let hint = closest(key, names()).map_or_else(
            || {
                if decl.params.is_empty() {
                    " (this runbook takes no parameters)".to_string()
                } else {
                    format!(" (known: {})", names().collect::<Vec<_>>().join(", "))
                }
            },
            |s| format!(" (did you mean `{s}`?)"),
        );
        format!("unknown parameter `{key}` {from}{hint}")
    };

    let mut from_file: BTreeMap<String, Value> = BTreeMap::new();
    if let Some((path, text)) = &supplied.file {
        match crate::yaml_limits::check(text).and_then(|()| {
            serde_norway::from_str::<serde_norway::Value>(text).map_err(|e| format!("is not valid YAML: {e}"))
        }) {
            Ok(serde_norway::Value::Mapping(map)) => {
                for (k, v) in map {
                    let Some(key) = k.as_str().map(str::to_string) else {
                        problems.push(format!("`{path}`: parameter names must be strings, found {k:?}"));
                        continue;
                    };
                    match serde_json::to_value(&v) {
                        Ok(json) => {
                            from_file.insert(key, json);
                        }
                        Err(e) => problems.push(format!("`{path}`: value of `{key}`: {e}")),
                    }
                }
            }
            Ok(serde_norway::Value::Null) => {}
            Ok(_) => problems.push(format!("`{path}` must be a YAML mapping of parameter names to values")),
            Err(why) => problems.push(format!("`{path}` {why}")),
        }
        for key in from_file.keys() {
            if !decl.params.iter().any(|p| &p.name == key) {
                problems.push(unknown(key, &format!("in `{path}`")));
            }
        }
    }

    // A world may serve several runbooks: values this one does not declare
    // are for the others, not mistakes.
    let from_world: BTreeMap<String, Value> = supplied.world.as_ref().map_or_else(BTreeMap::new, |(_, values)| {
        values
            .iter()
            .filter(|(k, _)| decl.params.iter().any(|p| &p.name == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });

    let mut from_sets: BTreeMap<String, String> = BTreeMap::new();
    for set in &supplied.sets {
        let Some((key, value)) = set.split_once('=') else {
            problems.push(format!("`--set {set}` needs the form KEY=VALUE"));
            continue;
        };
        let key = key.trim();
        if !decl.params.iter().any(|p| p.name == key) {
            problems.push(unknown(key, "given with --set"));
            continue;
        }
        from_sets.insert(key.to_string(), value.to_string());
    }

    // Secrets are known before anything is checked, so that no message about
    // them (here or later) can show them.
    for param in decl.params.iter().filter(|p| p.secret) {
        if let Some(text) = from_sets.get(&param.name) {
            crate::redact::global().add(text);
        }
        if let Some(value) = from_file.get(&param.name).or_else(|| from_world.get(&param.name)) {
            crate::redact::global().add_value(value);
        }
        if let Some(value) = &param.default {
            crate::redact::global().add_value(value);
        }
    }

    let mut values = Values::default();
    for param in &decl.params {
        let value = if let Some(text) = from_sets.get(&param.name) {
            parse_text(param, text)
        } else if let Some(value) = from_file.get(&param.name).or_else(|| from_world.get(&param.name)) {
            coerce_value(param, value)
        } else if let Some(default) = &param.default {
            coerce_value(param, default)
        } else if param.required {
            let mut msg = format!("missing required parameter `{}`", param.name);
            if !param.doc.is_empty() {
                msg.push_str(&format!(": {}", param.doc));
            }
            let example = param.example.as_ref().map_or_else(|| "VALUE".to_string(), show_plain);
            msg.push_str(&format!(" (set it with --set {}={example})", param.name));
            problems.push(msg);
            continue;
        } else {
            Ok(Value::Null)
        };
        match value {
            Ok(v) => {
                if param.secret {
                    if !v.is_null() {
                        values.secrets.push(v.clone());
                    }
                    values.secret_names.push(param.name.clone());
                }
                values.by_name.insert(param.name.clone(), v);
            }
            Err(why) => problems.push(format!("parameter `{}` {why}", param.name)),
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(ParamProblems { runbook: runbook.to_string(), problems })
    }
}

fn expects(param: &ParamDecl, got: &str) -> String {
    let got = if param.secret { "a value that is not one".to_string() } else { format!("`{got}`") };
    format!("expects {} {}, got {got}", param.ty.article(), param.ty)
}

/// Parses a `--set` string as the parameter's type.
fn parse_text(param: &ParamDecl, text: &str) -> Result<Value, String> {
    let value = match param.ty {
        ParamType::String => Value::from(text),
        ParamType::Int => text.trim().parse::<i64>().map(Value::from).map_err(|_| expects(param, text))?,
        ParamType::Float => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .ok_or_else(|| expects(param, text))?,
        ParamType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Value::Bool(true),
            "false" | "no" | "0" | "off" => Value::Bool(false),
            _ => return Err(expects(param, text)),
        },
        ParamType::List if !text.trim_start().starts_with('[') => {
            Value::Array(text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(Value::from).collect())
        }
        ParamType::List | ParamType::Map => {
            let yaml: serde_norway::Value = serde_norway::from_str(text).map_err(|_| expects(param, text))?;
            let json = serde_json::to_value(yaml).map_err(|_| expects(param, text))?;
            coerce_value(param, &json)?
        }
        ParamType::Duration => {
            crate::duration::parse(text).map_err(|why| duration_problem(param, &why))?;
            Value::from(text.trim())
        }
    };
    check_choice(param, value)
}

/// Checks a typed value (from YAML or a default) against the parameter's type.
fn coerce_value(param: &ParamDecl, value: &Value) -> Result<Value, String> {
    let shown = show_plain(value);
    let ok = match (param.ty, value) {
        (ParamType::String, Value::String(_)) => value.clone(),
        (ParamType::Int, Value::Number(n)) if n.is_i64() => value.clone(),
        (ParamType::String, Value::Number(_) | Value::Bool(_)) => Value::from(shown.clone()),
        (ParamType::Float, Value::Number(n)) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| expects(param, &shown))?,
        (ParamType::Bool, Value::Bool(_)) | (ParamType::List, Value::Array(_)) | (ParamType::Map, Value::Object(_)) => {
            value.clone()
        }
        (ParamType::Duration, Value::String(s)) => {
            crate::duration::parse(s).map_err(|why| duration_problem(param, &why))?;
            value.clone()
        }
        (ParamType::Duration, Value::Number(n)) if n.is_u64() => Value::from(format!("{n}s")),
        _ => return Err(expects(param, &shown)),
    };
    check_choice(param, ok)
}

fn check_choice(param: &ParamDecl, value: Value) -> Result<Value, String> {
    if param.choices.is_empty() || param.choices.contains(&value) {
        return Ok(value);
    }
    if param.secret {
        // Neither the value nor the choices of a secret are shown.
        return Err("must be one of its declared choices, got a value that is not one".into());
    }
    let choices: Vec<String> = param.choices.iter().map(show_plain).collect();
    Err(format!("must be one of {}, got `{}`", choices.join(", "), show_plain(&value)))
}

/// A duration that does not parse; a secret's text is never echoed.
fn duration_problem(param: &ParamDecl, why: &str) -> String {
    if param.secret {
        "expects a duration, got a value that is not one".into()
    } else {
        format!("expects a duration: {why}")
    }
}

/// A value as a person types it: strings bare, the rest as JSON.
pub(crate) fn show_plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl_of(script: &str) -> Result<Option<Declaration>, Vec<DeclProblem>> {
        let mut engine = rhai::Engine::new_raw();
        engine.set_optimization_level(rhai::OptimizationLevel::None);
        let ast = engine.compile(script).expect("compiles");
        extract(&ast)
    }

    fn decl() -> Declaration {
        decl_of(
            r#"let p = params(#{
                zone: #{ doc: "Route53 zone", example: "example.org" },
                ttl: #{ type: "int", default_value: 60 },
                stage: #{ choices: ["prepare", "cutover"] },
                wait: #{ type: "duration", default_value: "15m" },
                token: #{ secret: true, required: false },
                users: #{ type: "list", default_value: [] },
            });"#,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn reads_declarations_in_source_order() {
        let d = decl();
        let names: Vec<_> = d.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["zone", "ttl", "stage", "wait", "token", "users"]);
        assert_eq!(d.params[1].ty, ParamType::Int);
        assert!(!d.params[1].required);
        assert!(d.params[0].required);
        assert_eq!(d.params[2].ty, ParamType::String);
    }

    #[test]
    fn reports_every_problem_together() {
        let supplied = Supplied {
            sets: vec!["ttl=abc".into(), "tll=5".into(), "stage=launch".into(), "oops".into()],
            file: None,
            world: None,
        };
        let err = validate("rb", &decl(), &supplied).unwrap_err();
        assert_eq!(
            err.problems,
            [
                "unknown parameter `tll` given with --set (did you mean `ttl`?)",
                "`--set oops` needs the form KEY=VALUE",
                "missing required parameter `zone`: Route53 zone (set it with --set zone=example.org)",
                "parameter `ttl` expects an int, got `abc`",
                "parameter `stage` must be one of prepare, cutover, got `launch`",
            ]
        );
    }

    #[test]
    fn types_values_from_sets_and_files() {
        let supplied = Supplied {
            sets: vec!["zone=example.org".into(), "users=alice, bob".into(), "token=s3cret".into()],
            file: Some(("p.yaml".into(), "ttl: 30\nstage: cutover\nwait: 90\n".into())),
            world: None,
        };
        let v = validate("rb", &decl(), &supplied).unwrap();
        assert_eq!(v.by_name["ttl"], Value::from(30));
        assert_eq!(v.by_name["users"], serde_json::json!(["alice", "bob"]));
        assert_eq!(v.by_name["wait"], Value::from("90s"));
        assert_eq!(v.secrets, [Value::from("s3cret")]);
        assert_eq!(v.redacted()["token"], Value::from("***"));
    }

    #[test]
    fn declaration_problems_have_positions() {
        let problems = decl_of("params(#{ a: #{ defualt_value: 1 }, b: #{ type: \"number\" }, c: 5 });").unwrap_err();
        let messages: Vec<_> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "`a` has an unknown field `defualt_value` (did you mean `default_value`?)",
                "`b.type` is \"number\", not one of: string, int, float, bool, list, map, duration",
                "parameter `c` must be declared with a literal map such as `#{ doc: \"...\" }` or a doc string",
            ]
        );
        assert_eq!(problems[0].pos.line(), Some(1));
    }

    #[test]
    fn non_literal_declarations_are_refused() {
        let problems = decl_of("let x = #{}; params(x);").unwrap_err();
        assert!(problems[0].message.starts_with("`params` takes a literal map"));
        assert!(decl_of("let a = 1;").unwrap().is_none());
    }

    proptest::proptest! {
        #[test]
        fn validate_never_panics(sets in proptest::collection::vec("\\PC{0,20}", 0..6), file in "\\PC{0,60}") {
            let supplied = Supplied { sets, file: Some(("f.yaml".into(), file)), world: None };
            let _ = validate("rb", &decl(), &supplied);
        }

        /// YAML-shaped files, nested and repeated as a generator or a hostile
        /// hand makes them: never a panic, never a slow answer.
        #[test]
        fn validate_of_yamlish_files_is_quick_and_never_panics(
            open in proptest::collection::vec(proptest::sample::select(vec!["[", "{", "- ", "  ", "a: ", "&x ", "*x ", "? "]), 0..400),
            tail in "[\\]\\}a-z0-9:, \n]{0,40}",
            repeat in 1usize..2000,
        ) {
            let file = format!("zone: {}{tail}\n", open.concat()).repeat(repeat);
            let started = std::time::Instant::now();
            let supplied = Supplied { sets: Vec::new(), file: Some(("f.yaml".into(), file)), world: None };
            let _ = validate("rb", &decl(), &supplied);
            proptest::prop_assert!(started.elapsed() < std::time::Duration::from_secs(1), "took {:?}", started.elapsed());
        }

        #[test]
        fn extract_never_panics(src in "params\\(#\\{[a-z: #{}\"0-9,\\[\\]]{0,40}\\}\\);") {
            let mut engine = rhai::Engine::new_raw();
            engine.set_optimization_level(rhai::OptimizationLevel::None);
            if let Ok(ast) = engine.compile(&src) {
                let _ = extract(&ast);
            }
        }
    }
}
