//! The dry run's plan, rendered from what the gate kept ([`Planned`]): the
//! changes grouped by system, each with a mark (`+` create, `~` change,
//! `-` delete; `!` destructive), then field by field what it would do
//! (the paths added, changed and removed, values in YAML, long ones
//! folded), what the system said where it would refuse, and a count. The
//! same plan as JSON for review tools and tickets (`--plan-out FILE`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::diff::{self, Field};
use super::{Printer, Tone};
use crate::effects::Planned;

/// Where a change's lines start under its headline.
const INDENT: &str = "                ";

impl Printer {
    /// Prints the plan of a dry run.
    pub(crate) fn plan(self, plan: &[Planned]) {
        self.note(&self.plan_text(plan, false));
    }

    /// The plan as text; `stopped`: the run failed, so it is the plan up to
    /// the failure, not the whole plan.
    pub(crate) fn plan_text(self, plan: &[Planned], stopped: bool) -> String {
        let destructive = plan.iter().filter(|p| p.change.destructive).count();
        let failing = plan.iter().filter(|p| p.would_fail.is_some()).count();
        let confirmed = plan.iter().filter(|p| p.change.confirm.is_some() && !p.change.destructive).count();
        let mut text = String::from(if stopped { "\nPlan up to the error above:" } else { "\nPlan:" });
        if plan.is_empty() {
            text.push_str(" no changes");
        }
        for (system, items) in by_system(plan) {
            text.push_str(&format!("\n  {system}"));
            for item in items {
                let mark = if item.change.destructive {
                    self.paint(Tone::Bad, "!")
                } else if item.change.confirm.is_some() {
                    self.paint(Tone::Bad, "?")
                } else {
                    " ".into()
                };
                text.push_str(&format!("\n   {mark} {:<10} {}", item.change.verb, item.change.target));
                if let Some(reason) = &item.change.confirm {
                    text.push_str(&format!("\n{INDENT}asks first: {reason}"));
                }
                for line in field_lines(&fields(item)) {
                    text.push_str(&format!("\n{INDENT}{line}"));
                }
                if let Some(why) = &item.would_fail {
                    text.push_str(&format!("\n{INDENT}{}", self.paint(Tone::Bad, &format!("would fail: {why}"))));
                }
            }
        }
        let n = plan.len();
        text.push_str(&format!(
            "\n{n} change{} ({destructive} destructive{}{}); nothing was changed",
            if n == 1 { "" } else { "s" },
            if confirmed > 0 { format!(", {confirmed} to confirm") } else { String::new() },
            if failing > 0 { format!(", {failing} would fail") } else { String::new() },
        ));
        if stopped {
            text.push_str("; the run stopped at the error, so what came after it is not planned");
        }
        text
    }
}

/// The plan as JSON: every change with its fields, grouped as printed.
pub(crate) fn plan_json(plan: &[Planned]) -> Value {
    let changes: Vec<Value> = by_system(plan)
        .into_values()
        .flatten()
        .map(|item| {
            let c = &item.change;
            json!({
                "system": c.system,
                "verb": c.verb,
                "target": c.target,
                "destructive": c.destructive,
                "confirm": c.confirm,
                "would_fail": item.would_fail,
                "fields": fields(item),
                "before": c.before,
                "after": c.after,
            })
        })
        .collect();
    json!({
        "changes": changes,
        "count": plan.len(),
        "destructive": plan.iter().filter(|p| p.change.destructive).count(),
        "would_fail": plan.iter().filter(|p| p.would_fail.is_some()).count(),
    })
}

fn by_system(plan: &[Planned]) -> BTreeMap<&str, Vec<&Planned>> {
    let mut by_system: BTreeMap<&str, Vec<&Planned>> = BTreeMap::new();
    for item in plan {
        by_system.entry(item.change.system.as_str()).or_default().push(item);
    }
    by_system
}

fn fields(item: &Planned) -> Vec<Field> {
    diff::fields(item.change.before.as_ref(), item.change.after.as_ref())
}

/// `~ spec.replicas: 1 -> 3`, `+ metadata.labels.tier: web`, a block for a
/// map or list.
fn field_lines(fields: &[Field]) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        let (mark, value) = match f.op {
            "added" => ("+", f.after.as_ref()),
            "removed" => ("-", f.before.as_ref()),
            _ => ("~", f.after.as_ref()),
        };
        let head = if f.path.is_empty() { format!("{mark} ") } else { format!("{mark} {}: ", f.path) };
        if let (Some(before), Some(after)) = (&f.before, &f.after) {
            let (b, a) = (diff::yaml(before), diff::yaml(after));
            if b.len() == 1 && a.len() == 1 {
                out.push(format!("{head}{} -> {}", b[0], a[0]));
                continue;
            }
        }
        let lines = value.map(diff::yaml).unwrap_or_default();
        // A map or list goes below its path, even when it fits on one line.
        let block = value.is_some_and(|v| {
            matches!(v, serde_json::Value::Object(m) if !m.is_empty())
                || matches!(v, serde_json::Value::Array(a) if !a.is_empty())
        });
        match lines.as_slice() {
            [one] if !block => out.push(format!("{head}{one}")),
            many => {
                out.push(head.trim_end().to_string());
                out.extend(many.iter().map(|l| format!("    {l}")));
            }
        }
    }
    out
}
