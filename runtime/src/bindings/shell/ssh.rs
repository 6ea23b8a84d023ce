//! `sh::ssh`: options to an ssh argv, the gate, the answer. ssh's own
//! failure (exit 255) is `Unreachable`; on a world the host answers.

use rhai::{Array, Dynamic, NativeCallContext};

use super::{
    argv, bool_option, can_start, gated, known_options, login_option, output_map, planned_map, timeout_option,
    with_hosts, RUN_TIMEOUT,
};
use crate::backends::shell::process::{self, Invocation};
use crate::backends::shell::ssh::{self as ssh_args, Remote};
use crate::bindings::{script_error, ScriptResult};
use crate::effects::Change;
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;

const SSH_OPTIONS: [&str; 5] = ["identity", "user", "port", "timeout", "check"];
/// What ssh exits with when it, not the remote command, failed.
const SSH_FAILED: i32 = 255;

pub(super) fn run(
    ctx: &NativeCallContext,
    host: &str,
    command: Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    known_options("sh::ssh", options, &SSH_OPTIONS)?;
    let remote = if command.is_string() {
        Remote::Line(command.to_string())
    } else if command.is_array() {
        Remote::Words(argv("sh::ssh", command.cast::<Array>())?)
    } else {
        return Err(script_error(
            "Invalid",
            &format!("the command of `sh::ssh` must be a string or an array of words, not {}", command.type_name()),
        ));
    };
    let login = login_option("sh::ssh", options)?;
    let words =
        ssh_args::argv(host, &login, &remote).map_err(|e| script_error("Invalid", &format!("`sh::ssh`: {e}")))?;
    let check_exit = bool_option(options, "check", false)?;
    let timeout = timeout_option(options, RUN_TIMEOUT)?;
    let mut words = words.into_iter();
    let program = words.next().unwrap_or_else(|| "ssh".into());
    let inv = Invocation::new(program, words.collect(), timeout);
    let change = Change::new("sh", "ssh", inv.display());
    let cancel = run.cancel.clone();
    let probe = inv.clone();
    let host = host.to_string();
    let (world, check_world) = (run.world().cloned(), run.world().cloned());
    let (line, check_line, check_host) = (remote.line(), remote.line(), host.clone());
    let outcome = gated(
        &run,
        change,
        move |_| match &check_world {
            Some(w) => with_hosts(w, |h| h.answer(&check_host, &check_line)).map(|_| ()),
            None => can_start(&probe),
        },
        move |permit| {
            let output = match &world {
                Some(w) => with_hosts(w, |h| h.answer(&host, &line))?,
                None => process::run(permit, &inv, &cancel)?,
            };
            if output.status == SSH_FAILED {
                return Err(process::Error::Unreachable { host, stderr_tail: process::tail(&output.stderr) });
            }
            if check_exit {
                process::require_success(&inv.program, output)
            } else {
                Ok(output)
            }
        },
    )?;
    Ok(match outcome {
        Outcome::Applied(output) => output_map(output),
        Outcome::Planned => planned_map(),
    })
}
