//! `--resume RUN`: continue a failed or interrupted run, exactly once.
//!
//! The earlier run's journal is the history (Temporal's replay is the
//! model): steps that finished are not run again (their recorded results are
//! handed back), a step that was rolled back counts as not done, and inside
//! the steps that run again, every change the lineage already made is
//! handed back from the journal instead of being sent again (see
//! `effects::gate`). A resumed run must be the same runbook, in the same
//! mode, with the same parameters, against the same targets (on a world:
//! the world the earlier run left, by digest).
//!
//! One lineage has one head: a resume appends `continued` to the journal it
//! continues (under that journal's lock, after checking nobody did it
//! first), so a journal can be resumed once, never concurrently, never
//! after it succeeded, and never while its run still runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::effects::Replay;
use crate::journal::{self, Event};

/// What a resumed run takes from the earlier one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resumed {
    /// The earlier run's id.
    pub(crate) from: String,
    /// Its journal.
    pub(crate) journal: PathBuf,
    /// The id idempotency tokens and change keys derive from: the first run of the chain.
    pub(crate) lineage: String,
    /// Finished steps (not rolled back) and their results.
    pub(crate) steps: BTreeMap<String, Option<Value>>,
    /// Steps that finished but were rolled back: they run again.
    pub(crate) rolled_back: Vec<String>,
    /// The changes the lineage made, and those in doubt.
    pub(crate) replay: Replay,
    /// The earlier run's parameters (secrets as `***`).
    pub(crate) params: BTreeMap<String, Value>,
    pub(crate) runbook: String,
    pub(crate) target: String,
    pub(crate) dry_run: bool,
    /// The digest the world must have to be the one the earlier run left;
    /// `None` for live runs.
    pub(crate) world_digest: Option<String>,
    /// A world run that made changes but never saved its world: what it
    /// left is gone.
    pub(crate) world_lost: bool,
    /// The systems it opened: system -> identity.
    pub(crate) targets: BTreeMap<String, String>,
    /// A last line cut short and dropped.
    pub(crate) torn: Option<usize>,
    /// The latest time on the run clock the earlier runs recorded.
    pub(crate) last_clock: Option<jiff::Timestamp>,
    /// What the lineage recorded as "must undo" and did not undo.
    pub(crate) owed: super::undo::Ledger,
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
    /// The run was resumed already.
    #[error("run `{run}` was already resumed by run `{by}` (journal `{journal}`): resume that one instead")]
    Superseded {
        /// The run asked for.
        run: String,
        /// The newer run.
        by: String,
        /// Its journal.
        journal: String,
    },
    /// The run is still running (its journal is locked).
    #[error("run `{0}` is still running (its journal is locked by its process)")]
    Running(String),
    /// Different runbook, mode, parameters, world or targets.
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

/// The events of run `id` (or the last run) in the journal at `path`.
fn segment(path: &Path, id: Option<&str>) -> Result<(Vec<Event>, Option<usize>), Error> {
    let read = journal::read_all(path)?;
    let runs = journal::runs(&read.events);
    let chosen = match id {
        Some(id) => {
            runs.iter().rev().find(|r| matches!(r.first(), Some(Event::RunStart { run_id, .. }) if run_id == id))
        }
        None => runs.last(),
    };
    match chosen {
        Some(events) => Ok((events.to_vec(), read.torn)),
        None => Err(Error::NotAJournal(path.display().to_string())),
    }
}

/// The whole history of a lineage up to run `id` of `path`: the runs it
/// resumed (followed through `resumed_journal`), oldest first, then it. A
/// change in doubt in one run and never retried by the next stays in doubt.
fn history(path: &Path, id: Option<&str>) -> Result<(Vec<Event>, Option<usize>), Error> {
    let (newest, torn) = segment(path, id)?;
    let mut chain = vec![newest];
    let mut seen = std::collections::HashSet::new();
    while let Some(Event::RunStart { run_id, resumed_from: Some(from), resumed_journal: Some(journal), .. }) =
        chain.last().and_then(|s| s.first())
    {
        if !seen.insert(run_id.clone()) || chain.len() > 1000 {
            break;
        }
        let (from, journal) = (from.clone(), PathBuf::from(journal));
        match segment(&journal, Some(&from)) {
            Ok((older, _)) => chain.push(older),
            // An earlier journal moved away: what the later runs recorded
            // (they journal every change they hand back) still holds.
            Err(_) => break,
        }
    }
    Ok((chain.into_iter().rev().flatten().collect(), torn))
}

/// Reads what can be resumed from a journal: its last run, or the run
/// `id` when the journal holds several.
pub(crate) fn load(path: &Path, id: Option<&str>) -> Result<Resumed, Error> {
    let (newest, _) = segment(path, id)?;
    let shown = path.display().to_string();
    let Some(Event::RunStart { run_id, runbook, params, target, dry_run, lineage, .. }) = newest.first().cloned()
    else {
        return Err(Error::NotAJournal(shown));
    };
    check_head(&run_id, &newest)?;
    let (events, torn) = history(path, id)?;
    let world_digest = events.iter().find_map(|e| match e {
        Event::RunStart { world_digest, .. } => world_digest.clone(),
        _ => None,
    });
    let events = &events[..];
    let mut steps = BTreeMap::new();
    let mut rolled_back = Vec::new();
    let mut replay = Replay::default();
    let mut by_step: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut saved: Option<String> = None;
    let mut made_changes = false;
    let mut targets = BTreeMap::new();
    for event in events {
        match event {
            Event::StepEnd { step, status, result, .. } if status == "ok" || status == "resumed" => {
                steps.insert(step.clone(), result.clone());
            }
            Event::Rollback { step, .. } => {
                steps.remove(step);
                rolled_back.push(step.clone());
            }
            Event::Change { phase, key: Some(key), step, result, .. } => {
                match phase.as_str() {
                    "applied" | "replayed" => {
                        replay.in_doubt.remove(key);
                        replay.applied.insert(key.clone(), result.clone().unwrap_or(Value::Null));
                        made_changes = true;
                    }
                    "failed" => {
                        replay.in_doubt.remove(key);
                    }
                    _ => {}
                }
                if let Some(step) = step {
                    by_step.entry(step.clone()).or_default().push(key.clone());
                }
            }
            Event::ChangeStarted { key, step, .. } => {
                replay.in_doubt.insert(key.clone());
                made_changes = true;
                if let Some(step) = step {
                    by_step.entry(step.clone()).or_default().push(key.clone());
                }
            }
            Event::WorldSaved { digest, .. } => saved = Some(digest.clone()),
            Event::Target { system, identity } => {
                targets.insert(system.clone(), identity.clone());
            }
            _ => {}
        }
    }
    // What a rollback undid is not done: its changes are made again. And
    // the rollback's own changes are history too: if the step runs again
    // and has to be rolled back again, they must be sent again, not
    // handed back (that would leave the step's change in place).
    for step in &rolled_back {
        let undo = by_step.get(&format!("rollback:{step}"));
        for key in by_step.get(step).into_iter().chain(undo).flatten() {
            replay.applied.remove(key);
            replay.in_doubt.remove(key);
        }
    }
    let owed = super::undo::owed(events);
    let is_world = target == "world";
    let world_lost = is_world && saved.is_none() && made_changes && !dry_run;
    let last_clock = events
        .iter()
        .filter_map(|e| match e {
            Event::RunStart { clock, .. } | Event::StepStart { at: clock, .. } => Some(clock.as_str()),
            Event::StepEnd { at: Some(at), .. } => Some(at.as_str()),
            _ => None,
        })
        .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
        .max();
    Ok(Resumed {
        from: run_id.clone(),
        journal: crate::state::absolute(path),
        lineage: lineage.unwrap_or_else(|| run_id.clone()),
        steps,
        rolled_back,
        replay,
        params: params.as_object().map(|m| m.clone().into_iter().collect()).unwrap_or_default(),
        runbook,
        target,
        dry_run,
        world_digest: if is_world { saved.or(world_digest) } else { None },
        world_lost,
        targets,
        torn,
        last_clock,
        owed,
    })
}

/// Refuses a run that succeeded or was continued already.
fn check_head(run_id: &str, events: &[Event]) -> Result<(), Error> {
    for event in events {
        match event {
            Event::RunEnd { status, .. } if status == "succeeded" => return Err(Error::Succeeded(run_id.to_string())),
            Event::Continued { by, journal } => {
                return Err(Error::Superseded { run: run_id.to_string(), by: by.clone(), journal: journal.clone() })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Marks the earlier run as continued by `by` (journal `journal`): under the
/// earlier journal's lock, after reading it again, so only one resume wins.
pub(crate) fn claim(resumed: &Resumed, by: &str, journal: &Path) -> Result<(), Error> {
    let mut file = crate::state::append(&resumed.journal)
        .map_err(|source| journal::Error::Create { path: resumed.journal.clone(), source })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Running(resumed.from.clone())),
        Err(std::fs::TryLockError::Error(source)) => {
            return Err(journal::Error::Create { path: resumed.journal.clone(), source }.into())
        }
    }
    let again = journal::read_all(&resumed.journal)?;
    let runs = journal::runs(&again.events);
    if let Some(events) =
        runs.iter().find(|r| matches!(r.first(), Some(Event::RunStart { run_id, .. }) if *run_id == resumed.from))
    {
        check_head(&resumed.from, events)?;
    }
    let line = serde_json::to_string(&Event::Continued { by: by.to_string(), journal: journal.display().to_string() })
        .unwrap_or_default();
    // A torn last line (the earlier run died mid-write) must not swallow ours.
    let prefix = if again.torn.is_some() { "\n" } else { "" };
    writeln!(file, "{prefix}{line}")
        .and_then(|()| file.flush())
        .map_err(|source| journal::Error::Write { path: resumed.journal.clone(), source })?;
    Ok(())
}

impl Resumed {
    /// The earlier run's parameter values that can be reused (not secrets).
    pub(crate) fn reusable_params(&self) -> BTreeMap<String, Value> {
        self.params.iter().filter(|(_, v)| v.as_str() != Some("***")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Refuses a resume with another runbook, mode, parameter values or world.
    pub(crate) fn check(
        &self,
        runbook: &str,
        target: &str,
        dry_run: bool,
        params: &Value,
        world_digest: Option<&str>,
    ) -> Result<(), Error> {
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
        if self.world_lost {
            return mismatch(
                "it changed its world but never saved it (--save-world), so the world it left is gone; start a new run"
                    .into(),
            );
        }
        if let (Some(expected), Some(now)) = (&self.world_digest, world_digest) {
            if expected != now {
                return mismatch(format!(
                    "the world is not the one it left (digest {}, expected {}): pass the world file it saved",
                    short(now),
                    short(expected)
                ));
            }
        }
        Ok(())
    }

    /// Refuses a system that resolves to something else than in the earlier run.
    pub(crate) fn check_target(&self, system: &str, identity: &str) -> Result<(), Error> {
        match self.targets.get(system) {
            Some(before) if before != identity => Err(Error::Mismatch {
                run: self.from.clone(),
                why: format!("`{system}` was `{before}`, now `{identity}`"),
            }),
            _ => Ok(()),
        }
    }
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
