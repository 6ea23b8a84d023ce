//! The `helm` CLI, run through the shell family's process runner
//! (`shell::process::run`, which takes the gate's permit): the argv from
//! [`super::cli`], in the release's kube context. Under `Permit::Check` an
//! upgrade runs `helm upgrade --dry-run=server` (Helm renders the release
//! and the API server validates every object; nothing changes) and reads
//! the values the release has now, for the diff; a rollback runs Helm's
//! `--dry-run`. Inline values travel to helm in a private temporary file,
//! removed once helm has run.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::cli::{self, Target};
use super::release::Release;
use super::{Error, RolledBack, UpgradeSpec, Upgraded, Values};
use crate::backends::k8s;
use crate::backends::shell::process::{self, Invocation};
use crate::cancel::Cancel;
use crate::effects::Permit;

/// `helm get values` is a read; it gets less time than a write.
const READ_TIMEOUT: Duration = Duration::from_mins(2);

/// The `helm` CLI in one kube context.
#[derive(Debug, Clone)]
pub struct LiveHelm {
    context: String,
    /// The open cluster the release records are read from (a dry run's
    /// diff), when there is one; else `helm get values` reads them.
    records: Option<Arc<k8s::Cluster>>,
    cancel: Cancel,
}

/// Whether `helm` can be started: a write that needs it says so before the
/// gate rather than as a refused change.
pub(super) fn require_helm() -> Result<(), Error> {
    match process::resolve("helm") {
        Some(_) => Ok(()),
        None => Err(process::Error::NotFound { program: "helm".into() }.into()),
    }
}

/// A values map written to a private file for `--values`; removed by
/// [`ValuesFile::remove`] once helm has read it.
struct ValuesFile(PathBuf);

impl ValuesFile {
    /// Writes the file. Helm reads it in a check as in an apply, so both
    /// permits write it: it is hubops' own scratch, private to the user.
    #[allow(clippy::disallowed_methods)] // writes hubops' scratch values file; takes the Permit
    fn write(permit: &Permit, values: &Value) -> Result<Self, Error> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("hubops-values-{}-{n}.yaml", std::process::id()));
        let text = serde_norway::to_string(values).map_err(|e| Error::Values {
            kind: "Invalid",
            message: format!("`values` cannot be written as YAML: {e}"),
        })?;
        let unwritable = |e: std::io::Error| Error::Values {
            kind: "Unreachable",
            message: format!("cannot write `{}`: {e}", path.display()),
        };
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(unwritable)?;
        let written = Self(path.clone());
        if let Err(e) = file.write_all(text.as_bytes()) {
            written.remove(permit);
            return Err(unwritable(e));
        }
        Ok(written)
    }

    /// Removes the file (it may already be gone).
    #[allow(clippy::disallowed_methods)] // removes the scratch file `write` made; takes the Permit
    fn remove(self, _permit: &Permit) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl LiveHelm {
    pub(super) fn new(context: &str, records: Option<Arc<k8s::Cluster>>, cancel: Cancel) -> Self {
        Self { context: context.into(), records, cancel }
    }

    /// The kube context.
    #[must_use]
    pub fn context(&self) -> &str {
        &self.context
    }

    fn run(&self, permit: &Permit, args: Vec<String>, limit: Duration) -> Result<String, Error> {
        let inv = Invocation::new("helm", args, limit);
        Ok(process::require_success("helm", process::run(permit, &inv, &self.cancel)?)?.stdout)
    }

    /// `helm upgrade`, or under `Permit::Check` its server-side dry run and
    /// the release's current values.
    pub(super) async fn upgrade(
        &self,
        permit: &Permit,
        target: &Target,
        spec: &UpgradeSpec,
    ) -> Result<Upgraded, Error> {
        let inline = match &spec.values {
            Values::Inline(values) => Some(ValuesFile::write(permit, values)?),
            _ => None,
        };
        let path = inline.as_ref().map(|f| f.0.display().to_string()).unwrap_or_default();
        let ran = cli::upgrade(target, &spec.cli(&path)).map_err(Error::from).and_then(|args| {
            let args = if permit.is_check() { cli::server_dry_run(args) } else { args };
            self.run(permit, args, spec.timeout + cli::PROCESS_MARGIN)
        });
        if let Some(file) = inline {
            file.remove(permit);
        }
        let output = ran?;
        let release = serde_json::from_str::<Release>(&output).ok();
        let current = if permit.is_check() { Some(self.current_values(permit, target).await) } else { None };
        Ok(Upgraded { release, output, current })
    }

    /// The values the release has now, to show what would change: from the
    /// release records when a cluster is open, else `helm get values`. A
    /// failed read shows every value as new rather than failing the check.
    async fn current_values(&self, permit: &Permit, target: &Target) -> Value {
        if let Some(cluster) = &self.records {
            return match super::records(cluster, &target.namespace, Some(&target.release)).await {
                Ok(records) => super::current_values(&records, &target.release).unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
        }
        let Ok(args) = cli::get_values(target) else { return Value::Null };
        let inv = Invocation::new("helm", args, READ_TIMEOUT);
        match process::run(permit, &inv, &self.cancel) {
            Ok(out) if out.status == 0 => serde_json::from_str(&out.stdout).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    /// `helm rollback`, or under `Permit::Check` Helm's simulation of it.
    pub(super) fn rollback(
        &self,
        permit: &Permit,
        target: &Target,
        revision: i64,
        wait: bool,
        timeout: Duration,
    ) -> Result<RolledBack, Error> {
        let mut args = cli::rollback(target, revision, wait, Some(timeout))?;
        if permit.is_check() {
            args = cli::simulated(args);
        }
        self.run(permit, args, timeout + cli::PROCESS_MARGIN)?;
        Ok(RolledBack::default())
    }
}
