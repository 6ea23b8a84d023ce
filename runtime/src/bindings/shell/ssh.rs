//! `sh::ssh`: options to an ssh [`Session`], the gate, the answer. ssh's
//! own failure (exit 255) is `Unreachable`; on a world the host answers.

use rhai::{Array, Dynamic, NativeCallContext};

use super::{argv, command, exit, login_option, ran, shell, timeout, RUN_TIMEOUT};
use crate::backends::shell::ssh::{Remote, Session};
use crate::bindings::options::Options;
use crate::effects::{Change, Permit};
use crate::run::Run;
use crate::script::{script_error, ScriptResult};

const SSH_OPTIONS: [&str; 5] = ["identity", "user", "port", "timeout", "check"];

pub(super) fn run(
    ctx: &NativeCallContext,
    host: &str,
    remote: Dynamic,
    options: &rhai::Map,
) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("sh::ssh", options, &SSH_OPTIONS)?;
    let remote = if remote.is_string() {
        Remote::Line(remote.to_string())
    } else if remote.is_array() {
        Remote::Words(argv("sh::ssh", remote.cast::<Array>())?)
    } else {
        return Err(script_error(
            "Invalid",
            &format!("the command of `sh::ssh` must be a string or an array of words, not {}", remote.type_name()),
        ));
    };
    let login = login_option("sh::ssh", o)?;
    let exit = exit(o)?;
    let timeout = timeout(o, RUN_TIMEOUT)?;
    let session = Session::new(host, &login, &remote, timeout)
        .map_err(|e| script_error("Invalid", &format!("`sh::ssh`: {e}")))?;
    let shell = shell(&run);
    let change = Change::new("sh", "ssh", session.invocation.display());
    let outcome = command(&run, change, async |p: &Permit| shell.ssh(p, &session, exit))?;
    Ok(ran(outcome))
}
