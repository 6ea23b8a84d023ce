//! `sh::rsync`: options to a [`Transfer`], the gate, and the report. A dry
//! run's check runs rsync's own `--dry-run`; on a world the copy is between
//! host trees.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::{Array, Dynamic, NativeCallContext};

use super::{bool_option, gated, known_options, login_option, timeout_option, with_hosts, LOGIN_OPTIONS};
use crate::backends::shell::process::{self, Invocation};
use crate::backends::shell::rsync::{self as rsync_args, Report, Transfer};
use crate::backends::shell::ssh::{self as ssh_args, Login};
use crate::bindings::{script_error, ScriptResult};
use crate::effects::{Change, Permit};
use crate::output::Tone;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

/// `sh::rsync`'s timeout when none is given: a first copy of home
/// directories takes hours.
const RSYNC_TIMEOUT: Duration = Duration::from_hours(12);
const RSYNC_OPTIONS: [&str; 5] = ["delete", "ssh", "bwlimit", "dry_run", "timeout"];
/// rsync's "some source files vanished": normal on a live file system.
const RSYNC_VANISHED: i32 = 24;

fn remote_shell(options: &rhai::Map) -> ScriptResult<Option<Vec<String>>> {
    let Some(value) = options.get("ssh").filter(|v| !v.is_unit()) else { return Ok(None) };
    let login = if let Ok(on) = value.as_bool() {
        if !on {
            return Ok(None);
        }
        Login::default()
    } else if let Some(map) = value.read_lock::<rhai::Map>() {
        known_options("sh::rsync`'s `ssh", &map, &LOGIN_OPTIONS)?;
        login_option("sh::rsync", &map)?
    } else {
        return Err(script_error("Invalid", "`ssh` must be true or a map such as #{ identity: \"key\", port: 22 }"));
    };
    let words = ssh_args::base(&login).map_err(|e| script_error("Invalid", &format!("`sh::rsync`: {e}")))?;
    if let Some(bad) = words.iter().find(|w| !rsync_args::valid_word(w)) {
        return Err(script_error("Invalid", &format!("`{bad}` cannot be passed to rsync's remote shell")));
    }
    Ok(Some(words))
}

fn path_arg(what: &str, value: &str) -> ScriptResult<String> {
    if value.is_empty() || value.starts_with('-') || value.contains('\0') {
        return Err(script_error("Invalid", &format!("`{value}` is not a valid rsync {what}")));
    }
    Ok(value.to_string())
}

pub(super) fn run(ctx: &NativeCallContext, src: &str, dst: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    known_options("sh::rsync", options, &RSYNC_OPTIONS)?;
    let bwlimit = match options.get("bwlimit").filter(|v| !v.is_unit()) {
        None => None,
        Some(v) => {
            let text = v.to_string();
            if !(v.is_int() || v.is_string()) || !rsync_args::valid_bwlimit(&text) {
                return Err(script_error(
                    "Invalid",
                    &format!("`bwlimit` must be KiB/s or a size such as \"10M\", not {v}"),
                ));
            }
            Some(text)
        }
    };
    let sync = Transfer {
        src: path_arg("source", src)?,
        dst: path_arg("destination", dst)?,
        delete: bool_option(options, "delete", false)?,
        ssh: remote_shell(options)?,
        bwlimit,
        dry_run: bool_option(options, "dry_run", false)?,
    };
    let timeout = timeout_option(options, RSYNC_TIMEOUT)?;
    let apply_inv = Invocation::new("rsync", rsync_args::args(&sync), timeout);
    let check_inv = Invocation::new("rsync", rsync_args::args(&Transfer { dry_run: true, ..sync.clone() }), timeout);
    let mut change = Change::new("sh", if sync.dry_run { "preview" } else { "rsync" }, apply_inv.display());
    if sync.delete && !sync.dry_run {
        change = change.destructive();
    }
    let checked: Arc<Mutex<Option<(Report, i32)>>> = Arc::default();
    let slot = checked.clone();
    let (cancel, check_cancel) = (run.cancel.clone(), run.cancel.clone());
    let (world, check_world) = (run.world().cloned(), run.world().cloned());
    let check_sync = sync.clone();
    let apply_sync = sync.clone();
    let outcome = gated(
        &run,
        change,
        move |permit| {
            let found = match &check_world {
                Some(w) => with_hosts(w, |h| h.rsync(&check_sync, false))?,
                None => rsync_run(permit, &check_inv, &check_cancel)?,
            };
            *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(found);
            Ok(())
        },
        move |permit| match &world {
            Some(w) => with_hosts(w, |h| h.rsync(&apply_sync, true)),
            None => rsync_run(permit, &apply_inv, &cancel),
        },
    )?;
    let (report, status, planned) = match outcome {
        Outcome::Applied((report, status)) => (report, status, sync.dry_run),
        Outcome::Planned => {
            let (report, status) =
                checked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take().unwrap_or_default();
            (report, status, true)
        }
    };
    if planned {
        run.printer().status(Tone::Plan, "Would move", &format!("{} ({src} -> {dst})", report.summary()));
    } else {
        run.printer().status(Tone::Progress, "Moved", &format!("{} ({src} -> {dst})", report.summary()));
    }
    Ok(report_map(report, status, planned))
}

fn rsync_run(
    permit: &Permit,
    inv: &Invocation,
    cancel: &crate::cancel::Cancel,
) -> Result<(Report, i32), process::Error> {
    let output = process::run(permit, inv, cancel)?;
    let status = output.status;
    if status != 0 && status != RSYNC_VANISHED {
        let stderr_tail = process::tail(&output.stderr);
        return Err(process::Error::Failed { program: "rsync".into(), status, stderr_tail });
    }
    Ok((rsync_args::parse(&output.stdout), status))
}

fn report_map(report: Report, status: i32, planned: bool) -> rhai::Map {
    let count = |n: u64| Dynamic::from(i64::try_from(n).unwrap_or(i64::MAX));
    let mut map = rhai::Map::new();
    map.insert("files".into(), count(report.files));
    map.insert("bytes".into(), count(report.bytes));
    map.insert("created".into(), count(report.created));
    map.insert("deleted".into(), count(report.deleted));
    map.insert("total_files".into(), count(report.total_files));
    map.insert("total_bytes".into(), count(report.total_bytes));
    map.insert("sent".into(), count(report.sent));
    map.insert("received".into(), count(report.received));
    map.insert("changed".into(), report.changed.into_iter().map(Dynamic::from).collect::<Array>().into());
    map.insert("status".into(), i64::from(status).into());
    map.insert("planned".into(), planned.into());
    map
}
