//! `sh::rsync`: options to a [`Transfer`], the gate, and the report. Under
//! the gate's `Permit::Check` the backend runs rsync's own `--dry-run`; on a
//! world the copy is between host trees.

use std::time::Duration;

use rhai::{Array, Dynamic, NativeCallContext};

use super::{command, login_option, shell, timeout, LOGIN_OPTIONS};
use crate::backends::shell::rsync::{self as rsync_args, Report, Transfer};
use crate::backends::shell::ssh::{self as ssh_args, Login};
use crate::bindings::options::Options;
use crate::effects::{Change, Permit};
use crate::output::Tone;
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

/// `sh::rsync`'s timeout when none is given: a first copy of home
/// directories takes hours.
const RSYNC_TIMEOUT: Duration = Duration::from_hours(12);
const RSYNC_OPTIONS: [&str; 5] = ["delete", "ssh", "bwlimit", "dry_run", "timeout"];

fn remote_shell(o: Options<'_>) -> ScriptResult<Option<Vec<String>>> {
    let Some(value) = o.get("ssh") else { return Ok(None) };
    let login = if let Ok(on) = value.as_bool() {
        if !on {
            return Ok(None);
        }
        Login::default()
    } else if let Some(map) = value.read_lock::<rhai::Map>() {
        login_option("sh::rsync", Options::new("sh::rsync`'s `ssh", &map, &LOGIN_OPTIONS)?)?
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

fn bwlimit(o: Options<'_>) -> ScriptResult<Option<String>> {
    let Some(v) = o.get("bwlimit") else { return Ok(None) };
    let text = v.to_string();
    if !(v.is_int() || v.is_string()) || !rsync_args::valid_bwlimit(&text) {
        return Err(script_error("Invalid", &format!("`bwlimit` must be KiB/s or a size such as \"10M\", not {v}")));
    }
    Ok(Some(text))
}

pub(super) fn run(ctx: &NativeCallContext, src: &str, dst: &str, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("sh::rsync", options, &RSYNC_OPTIONS)?;
    let transfer = Transfer {
        src: path_arg("source", src)?,
        dst: path_arg("destination", dst)?,
        delete: o.bool("delete")?.unwrap_or(false),
        ssh: remote_shell(o)?,
        bwlimit: bwlimit(o)?,
        preview: o.bool("dry_run")?.unwrap_or(false),
        ..Transfer::default()
    };
    let timeout = timeout(o, RSYNC_TIMEOUT)?;
    let verb = if transfer.preview { "preview" } else { "rsync" };
    let mut change = Change::new("sh", verb, transfer.invocation(timeout).display());
    if transfer.delete && !transfer.preview {
        change = change.destructive();
    }
    let shell = shell(&run);
    let outcome = command(&run, change, async |p: &Permit| shell.rsync(p, &transfer, timeout))?;
    let planned = outcome.is_planned() || transfer.preview;
    let (report, status) = outcome.into_inner();
    if planned {
        run.printer().status(Tone::Plan, "Would move", &format!("{} ({src} -> {dst})", report.summary()));
    } else {
        run.printer().status(Tone::Progress, "Moved", &format!("{} ({src} -> {dst})", report.summary()));
    }
    Ok(report_map(report, status, planned))
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
