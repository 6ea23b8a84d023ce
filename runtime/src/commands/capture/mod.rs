//! `hubops capture RUNBOOK --set ...`: a world file of the live site a
//! runbook would act on, so that `--world FILE` rehearses against a copy of
//! it. What to read comes from the runbook's header (`//! capture:` lines
//! naming its parameters) and the values given; reading goes through the
//! same live backends a run uses, read verbs only (nothing here holds a
//! `Permit`). This module owns the header's grammar, the assembly of the
//! file and the refusal to write one that holds a secret; it must not
//! invent what it did not read: what it cannot capture is listed in the
//! file and the output as "not captured".
//!
//! ```text
//! //! capture: kube CONTEXT NAMESPACE...   objects of these namespaces, their PVs, the StorageClasses
//! //! capture: aws ACCOUNT REGION [ZONE]   EBS volumes the captured PVs name; the zone and its records
//! //! capture: dns ZONE                    the zone's authoritative servers
//! //! capture: hub URL [TOKEN]             /hub/health and every page of /hub/api/users
//! ```
//!
//! Each word after the kind is a parameter of the runbook (a list
//! parameter gives several values); an optional one left empty is skipped.

mod read;
mod timing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::bindings::Extension;
use crate::catalog::Catalog;
use crate::check::declaration;
use crate::output::{Printer, Tone};
use crate::params::{self, Supplied};

/// What `hubops capture` was asked.
#[derive(Debug, Clone)]
pub(crate) struct CaptureConfig {
    /// The runbook whose header says what to capture.
    pub(crate) runbook: String,
    /// `--set KEY=VALUE`s.
    pub(crate) sets: Vec<String>,
    /// `--params FILE`.
    pub(crate) params_file: Option<PathBuf>,
    /// `--out FILE`: where the world goes (`-`: stdout).
    pub(crate) out: PathBuf,
    /// `--kubeconfig`.
    pub(crate) kubeconfig: Option<PathBuf>,
    /// `--force`: overwrite `out`.
    pub(crate) force: bool,
    /// `--journals DIR`: where the live runs whose waits give the timings
    /// are journaled (default: hubops' journal folder).
    pub(crate) journals: Option<PathBuf>,
}

/// Why a capture wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The runbook declares nothing to capture.
    #[error("runbook `{runbook}` declares nothing to capture (no `//! capture:` lines in its header)")]
    NoCaptureLines {
        /// The runbook.
        runbook: String,
    },
    /// A `//! capture:` line is not of the grammar.
    #[error("`{runbook}`'s header line `capture: {line}`: {why}")]
    BadLine {
        /// The runbook.
        runbook: String,
        /// The line after `capture:`.
        line: String,
        /// What is wrong.
        why: String,
    },
    /// A kube context could not be read.
    #[error("cannot read kube context `{context}`")]
    Kube {
        /// The context.
        context: String,
        /// Why.
        #[source]
        source: crate::backends::k8s::Error,
    },
    /// A namespace named is not on the cluster.
    #[error("namespace `{namespace}` does not exist on kube context `{context}`")]
    NoNamespace {
        /// The context.
        context: String,
        /// The namespace.
        namespace: String,
    },
    /// An AWS account could not be read.
    #[error("cannot read AWS account `{account}`")]
    Aws {
        /// The account (profile).
        account: String,
        /// Why.
        #[source]
        source: crate::backends::aws::Error,
    },
    /// The zone's authoritative servers could not be found.
    #[error("cannot find the authoritative servers of `{zone}`")]
    Dns {
        /// The zone.
        zone: String,
        /// Why.
        #[source]
        source: crate::backends::dns::Error,
    },
    /// The hub did not answer as a JupyterHub does.
    #[error("cannot read the hub at `{url}`: {why}")]
    Hub {
        /// The URL asked.
        url: String,
        /// Why.
        why: String,
    },
    /// What was read holds a secret value: the file is not written.
    #[error("the captured world would hold the value of secret parameter `{name}`: nothing written")]
    SecretInWorld {
        /// The parameter.
        name: String,
    },
    /// The file made does not load as a world (a bug of this command).
    #[error("the captured world does not load: {0}")]
    NotAWorld(String),
    /// Something that cannot happen did.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One `//! capture:` line, with the parameters it names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    Kube { context: String, namespaces: Vec<String> },
    Aws { account: String, region: String, zone: Option<String> },
    Dns { zone: String },
    Hub { url: String, token: Option<String> },
}

/// What kinds of source a line may name, for messages.
const KINDS: &str = "kube, aws, dns, hub";

/// What the world cannot be given by reading a site: listed in the file.
const NOT_CAPTURED: [&str; 4] = [
    "argocd: what a sync of each Application applies (write the `argocd:` section by hand)",
    "hosts: rsync hosts and their files",
    "git: repositories",
    "events and faults: what happens during the window",
];

pub(super) fn capture(
    args: &CaptureConfig,
    catalog: &Catalog,
    extensions: &[Extension],
    printer: Printer,
) -> Result<(), crate::Error> {
    let runbook = catalog.resolve(&args.runbook)?;
    let lines = runbook.capture_lines();
    if lines.is_empty() {
        return Err(Error::NoCaptureLines { runbook: runbook.name.clone() }.into());
    }
    let decl = declaration(&runbook, catalog, extensions)?.unwrap_or_default();
    let file = match &args.params_file {
        Some(path) => Some((
            path.display().to_string(),
            crate::state::read_bounded(path).map_err(|source| crate::Error::Read { path: path.clone(), source })?,
        )),
        None => None,
    };
    let values = params::validate(&runbook.name, &decl, &Supplied { sets: args.sets.clone(), file, world: None })?;
    let needs = lines.iter().map(|l| need(&runbook.name, l, &values.by_name)).collect::<Result<Vec<_>, _>>()?;
    if args.out != std::path::Path::new("-") && args.out.exists() && !args.force {
        return Err(crate::Error::Exists { path: args.out.clone() });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))?;
    let target = crate::backends::Target::Live(crate::backends::Live { kubeconfig: args.kubeconfig.clone() });
    let mut sections = runtime.block_on(read_all(&target, &needs, printer))?;
    let journals = args.journals.clone().unwrap_or_else(crate::journal::default_dir);
    measured_timing(&mut sections, &journals, printer);
    let secrets: Vec<(String, String)> = values
        .secret_names
        .iter()
        .filter_map(|n| match values.by_name.get(n) {
            Some(Value::String(s)) if !s.is_empty() => Some((n.clone(), s.clone())),
            _ => None,
        })
        .collect();
    let shown: Map<String, Value> = values
        .by_name
        .iter()
        .filter(|(k, _)| !values.secret_names.contains(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let text = assemble(&runbook.name, shown, sections)?;
    if let Some((name, _)) = secrets.iter().find(|(_, value)| holds(&text, value)) {
        return Err(Error::SecretInWorld { name: name.clone() }.into());
    }
    let mut loaders = crate::bindings::world_sections();
    loaders.extend(extensions.iter().filter_map(|e| e.world_section));
    crate::world::World::load(&text, "captured", &loaders).map_err(|e| Error::NotAWorld(e.to_string()))?;
    for note in NOT_CAPTURED {
        printer.note(&format!("not captured: {note}"));
    }
    if args.out == std::path::Path::new("-") {
        printer.result(text.trim_end());
        return Ok(());
    }
    crate::state::write_file(&args.out, text.as_bytes(), args.force)
        .map_err(|source| crate::Error::Write { path: args.out.clone(), source })?;
    printer.result(&format!(
        "wrote {} (rehearse on it: hubops run {} --world {})",
        args.out.display(),
        runbook.name,
        args.out.display()
    ));
    Ok(())
}

/// Whether `text` holds `secret` as written, or base64-encoded (as a
/// Secret's `data` holds it).
fn holds(text: &str, secret: &str) -> bool {
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    text.contains(secret) || text.contains(encoded.trim_end_matches('='))
}

/// The sections read, by world key.
#[derive(Debug, Default)]
struct Sections {
    clusters: Map<String, Value>,
    accounts: Map<String, Value>,
    zones: Map<String, Value>,
    endpoints: Vec<Value>,
}

async fn read_all(target: &crate::backends::Target, needs: &[Need], printer: Printer) -> Result<Sections, Error> {
    let mut out = Sections::default();
    // Namespaces per context, in the order named, each once.
    let mut kube: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for need in needs {
        if let Need::Kube { context, namespaces } = need {
            let list = kube.entry(context.as_str()).or_default();
            for ns in namespaces {
                if !list.contains(ns) {
                    list.push(ns.clone());
                }
            }
        }
    }
    for (context, namespaces) in &kube {
        printer.status(Tone::Progress, "Reading", &format!("kube context `{context}` ({})", namespaces.join(", ")));
        out.clusters.insert((*context).to_string(), read::cluster(target, context, namespaces).await?);
    }
    let volumes = read::volume_ids(&out.clusters);
    // Zones per account (an account named twice is read once).
    let mut accounts: BTreeMap<&str, (&str, Vec<String>)> = BTreeMap::new();
    for need in needs {
        if let Need::Aws { account, region, zone } = need {
            let entry = accounts.entry(account.as_str()).or_insert((region.as_str(), Vec::new()));
            if let Some(z) = zone.as_ref().filter(|z| !entry.1.contains(z)) {
                entry.1.push(z.clone());
            }
        }
    }
    for (account, (region, zones)) in &accounts {
        printer.status(
            Tone::Progress,
            "Reading",
            &format!("AWS account `{account}` ({} volumes, zones: {})", volumes.len(), zones.join(", ")),
        );
        out.accounts
            .insert((*account).to_string(), read::account(target, account, Some(region), &volumes, zones).await?);
    }
    for need in needs {
        match need {
            Need::Dns { zone } if !out.zones.contains_key(zone) => {
                printer.status(Tone::Progress, "Asking", &format!("for the authoritative servers of `{zone}`"));
                out.zones.insert(zone.clone(), read::nameservers(target, zone).await?);
            }
            Need::Hub { url, token } => {
                printer.status(Tone::Progress, "Reading", &format!("the hub at {url}"));
                let (endpoints, users) = read::hub(target, url, token.as_deref()).await?;
                if token.is_none() {
                    printer.warn("no hub token given: its users are not captured");
                } else {
                    printer.detail(&format!("{users} hub users"));
                }
                out.endpoints.extend(endpoints);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Each captured account's `timing:` from what live runs journaled in
/// `dir` (the keys nothing measured keep the world's defaults). A wait's
/// journal line does not name its account: every account captured gets
/// the same figures, and the output says which run measured each.
fn measured_timing(sections: &mut Sections, dir: &std::path::Path, printer: Printer) {
    let measured = timing::measured(dir);
    if measured.is_empty() || sections.accounts.is_empty() {
        return;
    }
    let mut timing = Map::new();
    for (key, m) in &measured {
        let took = crate::duration::format(m.took.max(std::time::Duration::from_millis(1)));
        printer.note(&format!("timing.{key}: {took}, as measured by live run {}", m.run));
        timing.insert((*key).to_string(), json!(took));
    }
    for account in sections.accounts.values_mut() {
        account["timing"] = Value::Object(timing.clone());
    }
}

/// The world file: a header, the parameters given (secrets left out) and
/// the sections read, with what is not captured said at the top.
fn assemble(runbook: &str, params: Map<String, Value>, s: Sections) -> Result<String, Error> {
    let now = jiff::Timestamp::now();
    let start = jiff::Timestamp::from_second(now.as_second()).unwrap_or(now);
    let mut world = Map::new();
    world.insert("world".into(), json!(1));
    world.insert("name".into(), json!(format!("{runbook}-captured")));
    world.insert(
        "description".into(),
        json!(format!("The live site `{runbook}` acts on, captured by `hubops capture` at {start}.")),
    );
    world.insert("start".into(), json!(start.to_string()));
    world.insert("params".into(), Value::Object(params));
    if !s.clusters.is_empty() {
        world.insert("clusters".into(), Value::Object(s.clusters));
    }
    if !s.accounts.is_empty() {
        world.insert("aws".into(), json!({ "accounts": s.accounts }));
    }
    if !s.zones.is_empty() {
        world.insert("dns".into(), json!({ "zones": s.zones }));
    }
    if !s.endpoints.is_empty() {
        world.insert("http".into(), json!({ "endpoints": s.endpoints }));
    }
    let body = serde_norway::to_string(&Value::Object(world)).map_err(|e| Error::Internal(e.to_string()))?;
    let mut text = format!("# Captured by `hubops capture {runbook}` at {start}. Not captured:\n");
    for note in NOT_CAPTURED {
        text.push_str(&format!("#   {note}\n"));
    }
    text.push_str(&body);
    Ok(text)
}

/// One header line, its parameters looked up in `values`.
fn need(runbook: &str, line: &str, values: &BTreeMap<String, Value>) -> Result<Need, Error> {
    let bad = |why: String| Error::BadLine { runbook: runbook.to_string(), line: line.to_string(), why };
    let mut words = line.split_whitespace();
    let kind = words.next().unwrap_or_default();
    let names: Vec<&str> = words.collect();
    // A parameter's values: a string, a list of strings; empty for unset.
    let get = |name: &str| -> Result<Vec<String>, Error> {
        match values.get(name) {
            None => Err(bad(format!("`{name}` is not a parameter of `{runbook}`"))),
            Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(if s.is_empty() { Vec::new() } else { vec![s.clone()] }),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(String::from).ok_or_else(|| bad(format!("`{name}` is not a list of strings"))))
                .collect(),
            Some(other) => Err(bad(format!("`{name}` is {other}, not a name"))),
        }
    };
    let one = |name: &str| -> Result<String, Error> {
        get(name)?
            .into_iter()
            .next()
            .ok_or_else(|| bad(format!("parameter `{name}` has no value: pass --set {name}=...")))
    };
    let optional = |i: usize| -> Result<Option<String>, Error> {
        names.get(i).map_or(Ok(None), |n| Ok(get(n)?.into_iter().next()))
    };
    let arity = |min: usize, max: Option<usize>| {
        if names.len() < min || max.is_some_and(|m| names.len() > m) {
            let wanted = match max {
                Some(m) if m == min => format!("{min}"),
                Some(m) => format!("{min} to {m}"),
                None => format!("at least {min}"),
            };
            let plural = if wanted == "1" { "" } else { "s" };
            Err(bad(format!("`{kind}` takes {wanted} parameter name{plural}, not {}", names.len())))
        } else {
            Ok(())
        }
    };
    match kind {
        "kube" => {
            arity(2, None)?;
            let mut namespaces = Vec::new();
            for n in &names[1..] {
                namespaces.extend(get(n)?);
            }
            Ok(Need::Kube { context: one(names[0])?, namespaces })
        }
        "aws" => {
            arity(2, Some(3))?;
            Ok(Need::Aws { account: one(names[0])?, region: one(names[1])?, zone: optional(2)? })
        }
        "dns" => {
            arity(1, Some(1))?;
            Ok(Need::Dns { zone: one(names[0])? })
        }
        "hub" => {
            arity(1, Some(2))?;
            Ok(Need::Hub { url: one(names[0])?, token: optional(1)? })
        }
        other => Err(bad(format!("`{other}` is not a source hubops captures (one of: {KINDS}); not captured yet"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, Value> {
        [
            ("blue", json!("cae-blue")),
            ("ns", json!(["daskhub", "support"])),
            ("zone", json!("cal-adapt.org")),
            ("token", json!(null)),
            ("hub", json!("https://hub.example.org")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    #[test]
    fn header_lines_name_parameters() {
        let v = values();
        assert_eq!(
            need("r", "kube blue ns", &v).unwrap(),
            Need::Kube { context: "cae-blue".into(), namespaces: vec!["daskhub".into(), "support".into()] }
        );
        assert_eq!(
            need("r", "hub hub token", &v).unwrap(),
            Need::Hub { url: "https://hub.example.org".into(), token: None }
        );
        assert_eq!(need("r", "dns zone", &v).unwrap(), Need::Dns { zone: "cal-adapt.org".into() });
    }

    #[test]
    fn bad_header_lines_say_what_is_wrong() {
        let v = values();
        let err = need("r", "kube green ns", &v).unwrap_err().to_string();
        assert!(err.contains("`green` is not a parameter of `r`"), "{err}");
        let err = need("r", "helm blue", &v).unwrap_err().to_string();
        assert!(err.contains("not captured yet"), "{err}");
        let err = need("r", "dns", &v).unwrap_err().to_string();
        assert!(err.contains("`dns` takes 1 parameter name, not 0"), "{err}");
    }

    #[test]
    fn secrets_are_found_as_written_and_in_base64() {
        assert!(holds("token: s3cret-value", "s3cret-value"));
        assert!(holds("data: {a: czNjcmV0LXZhbHVl}", "s3cret-value"));
        assert!(!holds("data: {a: ''}", "s3cret-value"));
    }
}
