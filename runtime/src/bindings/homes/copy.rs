//! `homes::copy`: one user's copy. Each rsync attempt is one change through
//! the gate (so a resume hands back what an earlier run copied); rsync's
//! partial transfers (23, 24) and lost connections are tried again after a
//! backoff that waits on the run's clock; deletions are first only counted
//! (`--max-delete=-1`) and made in a second attempt when they stay within
//! the blast radius, else the user is `held` and nothing is deleted. One
//! user's failure is the answer for that user, never an error that stops
//! the others; only Ctrl-C and the gate's own refusals are.

use std::time::Duration;

use rhai::{Array, Dynamic, NativeCallContext};

use super::{family, positive, user_name, Tree};
use crate::backends::homes::{self as backend, Attempt, Homes, How, Job};
use crate::backends::shell::process;
use crate::backends::shell::rsync as rsync_args;
use crate::bindings::options::Options;
use crate::effects::{Change, GateError, Permit, Plain};
use crate::output::Tone;
use crate::run::{Poll, Run, Wait};
use crate::script::{self, script_error, ScriptResult};

const SYNC_OPTIONS: [&str; 9] =
    ["delete", "max_delete", "retries", "backoff", "timeout", "io_timeout", "bwlimit", "chown", "rsync_path"];
/// The share of a user's files a copy may delete before it stops and asks.
const MAX_DELETE: f64 = 0.10;
const RETRIES: i64 = 3;
const BACKOFF: Duration = Duration::from_secs(30);
/// One attempt may take a day: a first copy of a big home is long, and
/// ssh's own 10-minute default must not end it.
const TIMEOUT: Duration = Duration::from_hours(24);
const IO_TIMEOUT: Duration = Duration::from_mins(10);

/// What rsync's exit status means for the copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Done,
    Again(&'static str),
    Missing,
    Failed(&'static str),
}

fn verdict(a: &Attempt) -> Verdict {
    match a.status {
        // 25: deletions held back by `--max-delete`, on purpose.
        0 | 25 => Verdict::Done,
        24 => Verdict::Again("files vanished while they were copied"),
        23 if a.stderr.contains("change_dir") && a.stderr.contains("No such file or directory") => Verdict::Missing,
        23 => Verdict::Again("some files were not transferred"),
        255 => Verdict::Again("ssh failed"),
        10 | 12 | 30 | 35 => Verdict::Again("the connection failed or timed out"),
        1 => Verdict::Failed("rsync refused its arguments"),
        3 => Verdict::Failed("the destination cannot be used"),
        5 => Verdict::Failed("rsync could not start on the other server"),
        11 => Verdict::Failed("a file could not be read or written"),
        127 => Verdict::Failed("rsync is not installed on the server"),
        _ => Verdict::Failed("rsync failed"),
    }
}

/// One attempt as the journal keeps it: rsync's answer, and when it ended
/// on the run's clock, so the backoff after it counts from then when a
/// resume hands it back.
#[derive(serde::Serialize, serde::Deserialize)]
struct Ran {
    #[serde(flatten)]
    attempt: Attempt,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended: Option<jiff::Timestamp>,
}

/// The attempts of one phase (`copy` or `delete`).
struct Tried {
    /// Every attempt, in order.
    all: Vec<Attempt>,
    attempts: u32,
    planned: bool,
    /// Why the gate or the system refused, when no attempt answered.
    refused: Option<String>,
}

struct Policy {
    retries: u32,
    backoff: Duration,
}

/// Attempts of `job` until one finishes, fails for good, or the retries
/// run out. On a resume, the attempts the earlier run made are handed back
/// in order (each journaled with its answer) and do not count against the
/// retries, so a copy that failed there is tried again here, `retries` more
/// times, its backoff starting again at `backoff`; the backoff after one
/// handed back counts from when it ended.
fn attempts(run: &Run, homes: &Homes, job: &Job, phase: &str, policy: &Policy) -> ScriptResult<Tried> {
    let mut tried = Tried { all: Vec::new(), attempts: 0, planned: false, refused: None };
    let mut fresh = 0;
    loop {
        tried.attempts += 1;
        let after = serde_json::json!({ "command": job.describe() });
        let change = Change::new(format!("homes/{}", job.runner.host()), phase, format!("{}: {}", job.user, job.shown))
            .before_after(None, Some(after))
            .idempotent();
        let copy = async |p: &Permit| {
            let attempt = homes.rsync(p, job)?;
            let took = if attempt.simulated { Duration::from_millis(attempt.took_ms) } else { Duration::ZERO };
            let ended = jiff::SignedDuration::try_from(took).ok().and_then(|d| run.clock().now().checked_add(d).ok());
            Ok::<_, backend::Error>(Ran { attempt, ended })
        };
        let (ran, replayed) = match run.try_change(change, copy) {
            Ok(outcome) => {
                tried.planned = outcome.is_planned();
                let replayed = outcome.is_replayed();
                (outcome.into_inner(), replayed)
            }
            Err(GateError::Refused { source: backend::Error::Command(process::Error::Interrupted { .. }), .. }) => {
                return Err(script_error("Interrupted", "interrupted"));
            }
            Err(GateError::Refused { source, .. }) => {
                tried.refused = Some(run.redactor().redact(&source.to_string()));
                return Ok(tried);
            }
            Err(other) => return Err(script::gate(run.redactor(), &other)),
        };
        if !replayed {
            fresh += 1;
        }
        let attempt = ran.attempt;
        if attempt.simulated && attempt.took_ms > 0 && !tried.planned {
            let took = Duration::from_millis(attempt.took_ms);
            let label =
                format!("for the copy of {} ({} at the world's speed)", job.user, crate::duration::format(took));
            pause(run, &format!("homes copy {}", job.user), &label, took)?;
        }
        let verdict = verdict(&attempt);
        let status = attempt.status;
        tried.all.push(attempt);
        let Verdict::Again(why) = verdict else { return Ok(tried) };
        if tried.planned || fresh > policy.retries {
            return Ok(tried);
        }
        // The backoff doubles along one series of attempts: a series the
        // earlier run gave up on starts again here, one it was in the middle
        // of goes on.
        let series = if tried.attempts - fresh > policy.retries { fresh } else { tried.attempts };
        let mut wait = policy.backoff.saturating_mul(1 << series.saturating_sub(1).min(10));
        if let (true, Some(ended)) = (replayed, ran.ended) {
            let since = run.clock().now().duration_since(ended);
            wait = wait.saturating_sub(Duration::try_from(since).unwrap_or_default());
        }
        if !wait.is_zero() {
            let label = format!("before trying {} again (rsync exit {status}: {why})", job.user);
            pause(run, &format!("homes retry {}", job.user), &label, wait)?;
        }
    }
}

/// Waits `d` on the run's clock, through the run's one wait path.
fn pause(run: &Run, journal: &str, label: &str, d: Duration) -> ScriptResult<()> {
    let wait = Wait::new(journal, d.saturating_mul(2).saturating_add(Duration::from_secs(1)))
        .label(label.to_string())
        .journal(journal.to_string());
    let mut looked = false;
    run.wait_or_fail(
        &wait,
        async |_| {
            if looked {
                Ok(Poll::Done(()))
            } else {
                looked = true;
                Ok(Poll::pending(None, d))
            }
        },
        |_| Plain::new("Timeout", format!("the wait {label} did not end")),
    )?;
    Ok(())
}

fn max_delete(o: Options<'_>) -> ScriptResult<f64> {
    let Some(text) = o.str("max_delete")? else { return Ok(MAX_DELETE) };
    let share = text
        .strip_suffix('%')
        .and_then(|n| n.trim().parse::<f64>().ok())
        .filter(|n| (0.0..=100.0).contains(n))
        .ok_or_else(|| {
            script_error("Invalid", &format!("`max_delete` must be a share such as \"10%\", not `{text}`"))
        })?;
    Ok(share / 100.0)
}

fn how(o: Options<'_>) -> ScriptResult<How> {
    let bwlimit = match o.get("bwlimit") {
        None => None,
        Some(v) if (v.is_int() || v.is_string()) && rsync_args::valid_bwlimit(&v.to_string()) => Some(v.to_string()),
        Some(v) => {
            return Err(script_error(
                "Invalid",
                &format!("`bwlimit` must be KiB/s or a size such as \"10M\", not {v}"),
            ));
        }
    };
    let chown = o.str("chown")?;
    if let Some(c) = &chown {
        let ok = c.split_once(':').is_some_and(|(u, g)| {
            let word = |w: &str| !w.is_empty() && w.chars().all(|ch| ch.is_ascii_alphanumeric() || "_-.".contains(ch));
            word(u) && word(g)
        });
        if !ok {
            return Err(script_error(
                "Invalid",
                &format!("`chown` must be `user:group` such as \"1000:1000\", not `{c}`"),
            ));
        }
    }
    let rsync_path = o.str("rsync_path")?.unwrap_or_else(|| "rsync".into());
    if rsync_path.is_empty() || rsync_path.starts_with('-') || rsync_path.contains(char::is_whitespace) {
        return Err(script_error("Invalid", &format!("`{rsync_path}` is not a program")));
    }
    Ok(How {
        delete: o.bool("delete")?.unwrap_or(true),
        bwlimit,
        io_timeout: positive(o, "io_timeout", IO_TIMEOUT)?,
        chown,
        rsync_path,
        timeout: positive(o, "timeout", TIMEOUT)?,
    })
}

fn policy(o: Options<'_>) -> ScriptResult<Policy> {
    let retries = o.int("retries")?.unwrap_or(RETRIES);
    let retries = u32::try_from(retries)
        .ok()
        .filter(|n| *n <= 20)
        .ok_or_else(|| script_error("Invalid", &format!("`retries` must be 0 to 20, not {retries}")))?;
    Ok(Policy { retries, backoff: positive(o, "backoff", BACKOFF)? })
}

/// What the copy of one user came to.
#[derive(Default)]
struct Outcome {
    status: &'static str,
    files: u64,
    bytes: u64,
    created: u64,
    deleted: u64,
    would_delete: u64,
    total_files: u64,
    total_bytes: u64,
    exit: i64,
    attempts: u32,
    error: Option<String>,
    changed: Vec<String>,
    planned: bool,
}

pub(super) fn copy(
    ctx: &NativeCallContext,
    from: &Tree,
    to: &Tree,
    user: &str,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    user_name(user)?;
    let o = Options::new("homes::copy", options, &SYNC_OPTIONS)?;
    let how = how(o)?;
    let threshold = max_delete(o)?;
    let policy = policy(o)?;
    let job = Job::new(&from.0, &to.0, user, &how).map_err(|e| run.fail(&e))?;
    let homes = family(&run);
    let started = run.clock().now();
    let copy = attempts(&run, &homes, &job, "copy", &policy)?;
    let mut out = Outcome { attempts: copy.attempts, planned: copy.planned, ..Outcome::default() };
    let Some(first) = copy.all.last().cloned() else {
        out.status = "failed";
        out.error = copy.refused;
        return Ok(finish(&run, &job, out, started));
    };
    out.exit = i64::from(first.status);
    add(&mut out, &copy.all);
    match verdict(&first) {
        Verdict::Missing => {
            out.status = "missing";
            out.error = Some(format!("no folder `{user}` in {}", from.0.describe()));
            return Ok(finish(&run, &job, out, started));
        }
        Verdict::Failed(why) | Verdict::Again(why) if first.status != 24 => {
            out.status = "failed";
            out.error = Some(format!("rsync exit {} ({why}): {}", first.status, said(&first.stderr)));
            return Ok(finish(&run, &job, out, started));
        }
        _ => out.status = "copied",
    }
    let pending = first.skipped_deletions.filter(|_| how.delete).unwrap_or(0);
    if pending == 0 {
        return Ok(finish(&run, &job, out, started));
    }
    let present = first.report.total_files.saturating_sub(first.report.created) + pending;
    let share = pending as f64 / present.max(1) as f64;
    if share > threshold {
        out.status = "held";
        out.would_delete = pending;
        out.error = Some(format!(
            "would delete {pending} of {present} files ({:.0}%, more than {:.0}%); nothing was deleted",
            share * 100.0,
            threshold * 100.0
        ));
        return Ok(finish(&run, &job, out, started));
    }
    // Deletions the source no longer has, within the blast radius: a second
    // attempt makes them, bounded again in case more appeared meanwhile. A
    // dry run plans it too (its own `--dry-run`), so the plan holds every
    // change the run would make.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a share of a count
    let allowed = pending.max((threshold * present as f64).floor() as u64);
    let delete = attempts(&run, &homes, &job.deleting(allowed), "delete", &policy)?;
    out.attempts += delete.attempts;
    if copy.planned || delete.planned {
        out.planned = true;
        out.would_delete = pending;
        return Ok(finish(&run, &job, out, started));
    }
    match delete.all.last().cloned() {
        Some(second) if matches!(verdict(&second), Verdict::Done) || second.status == 24 => {
            out.exit = i64::from(second.status);
            add(&mut out, &delete.all);
            if let Some(more) = second.skipped_deletions {
                out.status = "held";
                out.would_delete = more;
                out.error =
                    Some(format!("{more} more files would be deleted than the {allowed} allowed; they were kept"));
            }
        }
        Some(second) => {
            out.status = "failed";
            out.exit = i64::from(second.status);
            out.error = Some(format!("deleting: rsync exit {}: {}", second.status, said(&second.stderr)));
        }
        None => {
            out.status = "failed";
            out.error = delete.refused;
        }
    }
    Ok(finish(&run, &job, out, started))
}

/// Adds what every attempt of a phase moved (a retried copy goes on where
/// the one before stopped).
fn add(out: &mut Outcome, all: &[Attempt]) {
    for a in all {
        out.files += a.report.files;
        out.bytes += a.report.bytes;
        out.created += a.report.created;
        out.deleted += a.report.deleted;
        out.total_files = a.report.total_files;
        out.total_bytes = a.report.total_bytes;
        for path in &a.report.changed {
            if !out.changed.contains(path) && out.changed.len() < 1000 {
                out.changed.push(path.clone());
            }
        }
    }
}

/// What rsync said, on one line, for an error message.
fn said(stderr: &str) -> String {
    let text = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ");
    if text.chars().count() > 400 {
        format!("{}...", text.chars().take(400).collect::<String>())
    } else {
        text
    }
}

fn plural(n: u64, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn finish(run: &Run, job: &Job, out: Outcome, started: jiff::Timestamp) -> rhai::Map {
    let took = Duration::try_from(run.clock().now().duration_since(started)).unwrap_or_default();
    let summary = {
        let mut text = format!("{}: {}, {}", job.user, plural(out.files, "file"), plural(out.bytes, "byte"));
        if out.deleted > 0 {
            text.push_str(&format!(", {} deleted", out.deleted));
        }
        if out.would_delete > 0 && out.status != "held" {
            text.push_str(&format!(", {} to delete", out.would_delete));
        }
        text.push_str(&format!(" in {}", crate::duration::format(took)));
        if out.attempts > 1 {
            text.push_str(&format!(" ({} attempts)", out.attempts));
        }
        text
    };
    let error = out.error.clone().unwrap_or_default();
    match (out.status, out.planned) {
        ("copied", false) => run.printer().status(Tone::Progress, "Copied", &summary),
        ("copied", true) => run.printer().status(Tone::Plan, "Would copy", &summary),
        ("missing", _) => run.printer().status(Tone::Warn, "Missing", &format!("{}: {error}", job.user)),
        ("held", _) => run.printer().warn(&format!("{} held: {error}", job.user)),
        _ => run.printer().warn(&format!("{} not copied: {error}", job.user)),
    }
    let count = |n: u64| Dynamic::from(i64::try_from(n).unwrap_or(i64::MAX));
    let mut map = rhai::Map::new();
    map.insert("user".into(), job.user.clone().into());
    map.insert("status".into(), out.status.into());
    map.insert("files".into(), count(out.files));
    map.insert("bytes".into(), count(out.bytes));
    map.insert("created".into(), count(out.created));
    map.insert("deleted".into(), count(out.deleted));
    map.insert("would_delete".into(), count(out.would_delete));
    map.insert("total_files".into(), count(out.total_files));
    map.insert("total_bytes".into(), count(out.total_bytes));
    map.insert("seconds".into(), Dynamic::from_float(took.as_secs_f64()));
    map.insert("exit".into(), out.exit.into());
    map.insert("attempts".into(), i64::from(out.attempts).into());
    map.insert("error".into(), out.error.map_or(Dynamic::UNIT, Dynamic::from));
    map.insert("changed".into(), out.changed.into_iter().map(Dynamic::from).collect::<Array>().into());
    map.insert("planned".into(), out.planned.into());
    map
}
