//! `--resume RUN`: continue a failed or interrupted run. The earlier run's
//! journal says which steps finished and what they returned; those steps
//! are not run again (their results are handed back as recorded), and the
//! rest run as usual. A resumed run must be the same runbook, in the same
//! mode, with the same parameters (secrets, which the journal never holds,
//! are given again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::journal::{self, Event};

/// What a resumed run takes from the earlier one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resumed {
    /// The earlier run's id.
    pub(crate) from: String,
    /// The id idempotency tokens derive from: the first run of the chain.
    pub(crate) lineage: String,
    /// Finished steps and their results.
    pub(crate) steps: BTreeMap<String, Option<Value>>,
    /// The earlier run's parameters (secrets as `***`).
    pub(crate) params: BTreeMap<String, Value>,
    pub(crate) runbook: String,
    pub(crate) target: String,
    pub(crate) dry_run: bool,
}

/// Why a run cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] journal::Error),
    /// No journal by that id.
    #[error("no journal for run `{0}`")]
    NotFound(String),
    /// The journal does not start with `run_start`.
    #[error("`{0}` is not a hubops journal (it has no run_start)")]
    NotAJournal(String),
    /// The journal is of a run that succeeded.
    #[error("run `{0}` already succeeded: there is nothing to resume")]
    Succeeded(String),
    /// Different runbook, mode or parameters.
    #[error("run `{run}` cannot be resumed as asked: {why}")]
    Mismatch {
        /// The earlier run.
        run: String,
        /// What differs.
        why: String,
    },
}

/// Finds the journal of `run`: a path, or a run id in the default folder.
pub(crate) fn locate(run: &str) -> Result<PathBuf, Error> {
    let as_path = Path::new(run);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    let by_id = journal::default_dir().join(format!("{run}.jsonl"));
    if by_id.is_file() {
        Ok(by_id)
    } else {
        Err(Error::NotFound(run.to_string()))
    }
}

/// Reads what can be resumed from a journal.
pub(crate) fn load(path: &Path) -> Result<Resumed, Error> {
    let events = journal::read(path)?;
    let shown = path.display().to_string();
    let Some(Event::RunStart { run_id, runbook, params, target, dry_run, lineage, .. }) = events.first() else {
        return Err(Error::NotAJournal(shown));
    };
    if events.iter().any(|e| matches!(e, Event::RunEnd { status, .. } if status == "succeeded")) {
        return Err(Error::Succeeded(run_id.clone()));
    }
    let mut steps = BTreeMap::new();
    for event in &events {
        if let Event::StepEnd { step, status, result, .. } = event {
            if status == "ok" || status == "resumed" {
                steps.insert(step.clone(), result.clone());
            }
        }
    }
    Ok(Resumed {
        from: run_id.clone(),
        lineage: lineage.clone().unwrap_or_else(|| run_id.clone()),
        steps,
        params: params.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default(),
        runbook: runbook.clone(),
        target: target.clone(),
        dry_run: *dry_run,
    })
}

impl Resumed {
    /// The earlier run's parameter values that can be reused (not secrets).
    pub(crate) fn reusable_params(&self) -> BTreeMap<String, Value> {
        self.params.iter().filter(|(_, v)| v.as_str() != Some("***")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Refuses a resume with another runbook, mode or parameter values.
    pub(crate) fn check(&self, runbook: &str, target: &str, dry_run: bool, params: &Value) -> Result<(), Error> {
        let mismatch = |why: String| Err(Error::Mismatch { run: self.from.clone(), why });
        if self.runbook != runbook {
            return mismatch(format!("it ran `{}`, not `{runbook}`", self.runbook));
        }
        if self.target != target || self.dry_run != dry_run {
            let mode = |t: &str, d: bool| format!("{t}{}", if d { " dry run" } else { "" });
            return mismatch(format!("it ran {}, this is {}", mode(&self.target, self.dry_run), mode(target, dry_run)));
        }
        for (name, before) in &self.params {
            let now = params.get(name).cloned().unwrap_or(Value::Null);
            if before.as_str() != Some("***") && &now != before {
                return mismatch(format!("parameter `{name}` was {before}, now {now}"));
            }
        }
        Ok(())
    }
}
