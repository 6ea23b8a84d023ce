//! Helm writes through the `helm` CLI (the only complete implementation of
//! an upgrade): the argv of `helm upgrade` and `helm rollback`, and of
//! their checks. Pure functions; running them is [`super::live`]'s job,
//! with the gate's permit. The
//! kube context is passed on every call so a run never acts on whatever
//! context happens to be current.

use std::time::Duration;

/// Helm's own `--timeout` when the caller gives none (Helm's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_mins(5);
/// How long past Helm's own timeout the process may run before it is
/// stopped (Helm finishes its bookkeeping after a failed wait).
pub const PROCESS_MARGIN: Duration = Duration::from_mins(2);

/// Where a release lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kube context (`--kube-context`).
    pub context: String,
    /// The namespace (`--namespace`).
    pub namespace: String,
    /// The release name.
    pub release: String,
}

/// `helm upgrade`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// Chart reference: `repo/name`, a path, an OCI or https URL.
    pub chart: String,
    /// `--version`.
    pub version: Option<String>,
    /// `--set KEY=VALUE`, in order.
    pub set: Vec<(String, String)>,
    /// `--values FILE`, in order.
    pub values: Vec<String>,
    /// `--reuse-values`.
    pub reuse_values: bool,
    /// `--install`.
    pub install: bool,
    /// `--wait`.
    pub wait: bool,
    /// `--timeout`.
    pub timeout: Option<Duration>,
}

/// A value that cannot be passed to helm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Empty, starting with `-` (it would be read as a flag), or holding
    /// whitespace or control characters.
    #[error("`{value}` is not a valid {what}")]
    Invalid {
        /// `release`, `namespace`, `chart`, ...
        what: &'static str,
        /// The value.
        value: String,
    },
}

fn check(what: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.starts_with('-') || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::Invalid { what, value: value.into() });
    }
    Ok(())
}

fn common(target: &Target, args: &mut Vec<String>) -> Result<(), Error> {
    check("kube context", &target.context)?;
    check("namespace", &target.namespace)?;
    args.extend(["--kube-context".into(), target.context.clone(), "--namespace".into(), target.namespace.clone()]);
    Ok(())
}

fn timeout(d: Option<Duration>) -> String {
    format!("{}s", d.unwrap_or(DEFAULT_TIMEOUT).as_secs().max(1))
}

/// Helm's `--set` reads `,` as a separator and `\` as an escape; values
/// are escaped so each arrives whole.
fn escape_set(value: &str) -> String {
    value.replace('\\', r"\\").replace(',', r"\,")
}

/// The argv (program excluded) of `helm upgrade`. Output is JSON, the
/// release as Helm stored it. [`server_dry_run`] turns it into the check.
pub fn upgrade(target: &Target, upgrade: &Upgrade) -> Result<Vec<String>, Error> {
    check("release name", &target.release)?;
    check("chart", &upgrade.chart)?;
    let mut args = vec!["upgrade".to_string(), target.release.clone(), upgrade.chart.clone()];
    common(target, &mut args)?;
    if upgrade.install {
        args.push("--install".into());
    }
    if let Some(version) = &upgrade.version {
        check("chart version", version)?;
        args.extend(["--version".into(), version.clone()]);
    }
    for file in &upgrade.values {
        check("values file", file)?;
        args.extend(["--values".into(), file.clone()]);
    }
    for (key, value) in &upgrade.set {
        check("--set key", key)?;
        if key.contains(['=', ',']) {
            return Err(Error::Invalid { what: "--set key", value: key.clone() });
        }
        args.extend(["--set".into(), format!("{key}={}", escape_set(value))]);
    }
    if upgrade.reuse_values {
        args.push("--reuse-values".into());
    }
    if upgrade.wait {
        args.push("--wait".into());
    }
    args.extend(["--timeout".into(), timeout(upgrade.timeout)]);
    args.extend(["--output".into(), "json".into()]);
    Ok(args)
}

/// An upgrade's argv as its check: Helm renders the release and asks the
/// API server to validate every object (`--dry-run=server`); nothing
/// changes.
#[must_use]
pub fn server_dry_run(mut args: Vec<String>) -> Vec<String> {
    let at = args.iter().position(|a| a == "--output").unwrap_or(args.len());
    args.insert(at, "--dry-run=server".into());
    args
}

/// The argv (program excluded) of `helm get values` as JSON: the values
/// the user supplied to the current revision (a read; a dry run compares
/// them with the would-be release's).
pub fn get_values(target: &Target) -> Result<Vec<String>, Error> {
    check("release name", &target.release)?;
    let mut args = vec!["get".to_string(), "values".into(), target.release.clone()];
    common(target, &mut args)?;
    args.extend(["--output".into(), "json".into()]);
    Ok(args)
}

/// The argv (program excluded) of `helm rollback` to `revision` (0: the
/// previous one, as Helm reads it). [`simulated`] turns it into the check.
pub fn rollback(target: &Target, revision: i64, wait: bool, limit: Option<Duration>) -> Result<Vec<String>, Error> {
    check("release name", &target.release)?;
    let mut args = vec!["rollback".to_string(), target.release.clone(), revision.max(0).to_string()];
    common(target, &mut args)?;
    if wait {
        args.push("--wait".into());
    }
    args.extend(["--timeout".into(), timeout(limit)]);
    Ok(args)
}

/// A rollback's argv as its check: Helm's own simulation (`--dry-run`;
/// rollbacks have no server-side dry run).
#[must_use]
pub fn simulated(mut args: Vec<String>) -> Vec<String> {
    args.push("--dry-run".into());
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target { context: "green".into(), namespace: "jupyterhub".into(), release: "jupyterhub".into() }
    }

    #[test]
    fn upgrade_argv() {
        let up = Upgrade {
            chart: "jupyterhub/jupyterhub".into(),
            version: Some("3.3.7".into()),
            set: vec![("hub.baseUrl".into(), "/n2".into()), ("hub.extra".into(), "a,b".into())],
            values: vec!["values/prod.yaml".into()],
            reuse_values: true,
            install: false,
            wait: true,
            timeout: Some(Duration::from_mins(10)),
        };
        assert_eq!(
            server_dry_run(upgrade(&target(), &up).unwrap()).join(" "),
            "upgrade jupyterhub jupyterhub/jupyterhub --kube-context green --namespace jupyterhub --version 3.3.7 \
             --values values/prod.yaml --set hub.baseUrl=/n2 --set hub.extra=a\\,b --reuse-values --wait \
             --timeout 600s --dry-run=server --output json"
        );
    }

    #[test]
    fn rollback_argv() {
        assert_eq!(
            rollback(&target(), 3, false, None).unwrap().join(" "),
            "rollback jupyterhub 3 --kube-context green --namespace jupyterhub --timeout 300s"
        );
        assert!(simulated(rollback(&target(), 0, true, None).unwrap())
            .join(" ")
            .ends_with("--wait --timeout 300s --dry-run"));
    }

    #[test]
    fn values_cannot_become_flags() {
        let mut t = target();
        t.release = "--post-renderer=x".into();
        assert_eq!(
            rollback(&t, 1, false, None).unwrap_err().to_string(),
            "`--post-renderer=x` is not a valid release name"
        );
        let up = Upgrade { chart: "-x".into(), ..Upgrade::default() };
        assert!(upgrade(&target(), &up).is_err());
        let up = Upgrade { chart: "c".into(), set: vec![("a=b".into(), "c".into())], ..Upgrade::default() };
        assert!(upgrade(&target(), &up).is_err());
    }
}
