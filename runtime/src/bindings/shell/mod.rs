//! `sh::` - local commands: `run`, `rsync`, `ssh`. Every command is a
//! mutation handed to the effects gate with ONE closure that calls the
//! family value ([`Shell`]); under the gate's `Permit::Check` the backend
//! plans the exact command line and starts nothing (for `rsync`, it runs
//! rsync's own `--dry-run`, which changes nothing). Arguments are argv
//! entries, never a shell string.
//!
//! Thin: options are read and converted here; processes, argv, output
//! parsing and the world's hosts live in `backends::shell`.

use std::path::PathBuf;
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::options::Options;
use super::{script_error, ScriptResult};
use crate::backends::shell::process::{self, Invocation, Output};
use crate::backends::shell::ssh::{self as ssh_args, Login};
use crate::backends::shell::{Exit, Shell};
use crate::effects::{Change, GateError, Outcome, Permit};
use crate::run::Run;
use crate::script;

mod rsync;
mod ssh;

#[export_module]
pub(crate) mod sh {
    /// Runs a local program with arguments (each one argv entry: no shell,
    /// no `$VAR` or glob expansion) and returns `#{status, stdout, stderr,
    /// planned}`. A mutation: in a dry run the command line is planned, the
    /// program is looked up on `PATH` but not started, and `status` is `()`
    /// with `planned: true`. The default timeout is 10 minutes; on timeout or
    /// Ctrl-C the program and its children are stopped.
    ///
    /// ```rhai
    /// let r = sh::run("git", ["-C", "/srv/site", "pull", "--ff-only"]);
    /// if r.status != 0 { fail(`git pull failed: ${r.stderr}`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run(ctx: NativeCallContext, program: &str, args: Array) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::run_program(&ctx, program, args, &rhai::Map::new())
    }

    /// Runs a local program with options: `cwd` (working directory), `env`
    /// (map of extra variables; their values are shown as `***` in plans and
    /// the journal), `timeout` (default `"10m"`), `check` (default `false`;
    /// `true` makes a non-zero exit an error of kind `Failed` carrying
    /// `status` and the end of stderr).
    ///
    /// ```rhai
    /// sh::run("terraform", ["apply", "-auto-approve"],
    ///         #{ cwd: "/srv/infra", env: #{ TF_IN_AUTOMATION: "1" }, timeout: "30m", check: true });
    /// ```
    #[rhai_fn(name = "run", return_raw)]
    pub fn run_with(
        ctx: NativeCallContext,
        program: &str,
        args: Array,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::run_program(&ctx, program, args, &options)
    }

    /// Copies a tree with `rsync -a` and reports what moved:
    /// `#{files, bytes, created, deleted, total_files, total_bytes, sent,
    /// received, changed, status, planned}` (`bytes`: size of the files
    /// transferred; `changed`: the paths rsync itemized, at most 1000).
    /// `src` and `dst` are local paths or `[user@]host:path`; a trailing `/`
    /// on `src` copies its contents, as with rsync. A mutation: in a dry run
    /// rsync runs with its own `--dry-run` (which changes nothing) and the
    /// report says what would move, with `planned: true`. Exit status 24
    /// (source files vanished while copying, usual on a live home directory)
    /// is not an error. Needs the `rsync` program.
    ///
    /// ```rhai
    /// let r = sh::rsync("/export/homes/hub/", "/mnt/new/homes/hub/");
    /// log::info(`copied ${r.files} files, ${r.bytes} bytes`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn rsync(ctx: NativeCallContext, src: &str, dst: &str) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rsync::run(&ctx, src, dst, &rhai::Map::new())
    }

    /// `rsync` with options: `delete` (remove files the source lacks; a
    /// destructive change), `ssh` (`true`, or `#{identity, user, port}` for
    /// the remote shell, always in batch mode), `bwlimit` (KiB/s, or `"10M"`),
    /// `dry_run` (only report what would move, even when applying),
    /// `timeout` (default `"12h"`).
    ///
    /// ```rhai
    /// let r = sh::rsync("ubuntu@nfs-old:/export/home-01/homes/hub/", "/export/home-01/homes/hub/",
    ///                   #{ ssh: #{ identity: "nfs-transfer-key" }, delete: true, bwlimit: "50M" });
    /// ```
    #[rhai_fn(name = "rsync", return_raw)]
    pub fn rsync_with(
        ctx: NativeCallContext,
        src: &str,
        dst: &str,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::rsync::run(&ctx, src, dst, &options)
    }

    /// Runs a command on a host over ssh (batch mode: never a password
    /// prompt) and returns `#{status, stdout, stderr, planned}` like
    /// `sh::run`. `command` is an array of words, each quoted for the remote
    /// shell so it arrives as one argument, or a string the remote shell
    /// reads as written. ssh's own failure (exit 255: unreachable, refused
    /// key) is an error of kind `Unreachable`. A mutation; a dry run plans
    /// the ssh command line. Default timeout 10 minutes.
    ///
    /// ```rhai
    /// let r = sh::ssh("nfs-old.example.org", ["du", "-s", "/export/home-01/homes/hub"]);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn ssh(ctx: NativeCallContext, host: &str, command: Dynamic) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::ssh::run(&ctx, host, command, &rhai::Map::new())
    }

    /// `sh::ssh` with options: `identity` (private key file), `user`,
    /// `port`, `timeout` (default `"10m"`), `check` (a non-zero remote exit
    /// is an error of kind `Failed`).
    ///
    /// ```rhai
    /// sh::ssh("nfs-new", "df -h /export | tail -1",
    ///         #{ user: "ubuntu", identity: "nfs-transfer-key", port: 22, check: true });
    /// ```
    #[rhai_fn(name = "ssh", return_raw)]
    pub fn ssh_with(
        ctx: NativeCallContext,
        host: &str,
        command: Dynamic,
        options: rhai::Map,
    ) -> Result<rhai::Map, Box<EvalAltResult>> {
        super::ssh::run(&ctx, host, command, &options)
    }
}

/// `sh::run`'s timeout when none is given.
const RUN_TIMEOUT: Duration = Duration::from_mins(10);
const RUN_OPTIONS: [&str; 4] = ["cwd", "env", "timeout", "check"];
const LOGIN_OPTIONS: [&str; 3] = ["identity", "user", "port"];

/// The family value for this run.
fn shell(run: &Run) -> Shell {
    Shell::new(run.target(), run.cancel.clone())
}

/// Hands a command to the gate. A dry run's refusal reaches the script
/// through the one converter (`kind` from the backend, `gate: WouldFail`);
/// a command that fails while applying is the command's own error, as it
/// always was: its message and `status`/`stderr` are the answer a runbook
/// reads (`e.status == 4`), not "run ... failed".
fn command<T: serde::Serialize + serde::de::DeserializeOwned>(
    run: &Run,
    change: Change,
    op: impl AsyncFnOnce(&Permit) -> Result<T, process::Error>,
) -> ScriptResult<Outcome<T>> {
    run.try_change(change, op).map_err(|e| match &e {
        GateError::Refused { source, checked_only: false, .. } => run.fail(source),
        _ => script::gate(run.redactor(), &e),
    })
}

/// `timeout`, longer than zero, or `default`.
fn timeout(o: Options<'_>, default: Duration) -> ScriptResult<Duration> {
    Ok(o.positive_duration("timeout")?.unwrap_or(default))
}

/// `check: true` makes a non-zero exit an error.
fn exit(o: Options<'_>) -> ScriptResult<Exit> {
    Ok(if o.bool("check")?.unwrap_or(false) { Exit::Success } else { Exit::Any })
}

/// Argument lists: strings and numbers, each one argv entry.
fn argv(function: &str, args: Array) -> ScriptResult<Vec<String>> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            if arg.is_string() || arg.is_int() || arg.is_float() || arg.is_bool() {
                Ok(arg.to_string())
            } else {
                Err(script_error(
                    "Invalid",
                    &format!("argument {i} of `{function}` must be a string or a number, not {}", arg.type_name()),
                ))
            }
        })
        .collect()
}

fn env_option(o: Options<'_>) -> ScriptResult<Vec<(String, String)>> {
    let Some(map) = o.map("env")? else { return Ok(Vec::new()) };
    map.iter()
        .map(|(k, v)| {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(script_error("Invalid", &format!("`{k}` is not an environment variable name")));
            }
            if v.is_map() || v.is_array() || v.is_unit() {
                return Err(script_error("Invalid", &format!("`env.{k}` must be a string or a number")));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// How a command is shown in plans, the journal and errors: the command
/// line, environment values hidden (they are where tokens travel).
fn shown(inv: &Invocation) -> String {
    let mut text: String = inv.env.iter().flat_map(|(k, _)| [k.as_str(), "=*** "]).collect();
    text.push_str(&inv.display());
    if let Some(cwd) = &inv.cwd {
        text.push_str(&format!(" (in {})", cwd.display()));
    }
    text
}

fn run_program(ctx: &NativeCallContext, program: &str, args: Array, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("sh::run", options, &RUN_OPTIONS)?;
    if program.is_empty() {
        return Err(script_error("Invalid", "`sh::run` needs a program name"));
    }
    let mut inv = Invocation::new(program, argv("sh::run", args)?, timeout(o, RUN_TIMEOUT)?);
    inv.cwd = o.str("cwd")?.map(PathBuf::from);
    inv.env = env_option(o)?;
    let exit = exit(o)?;
    let shell = shell(&run);
    let outcome = command(&run, Change::new("sh", "run", shown(&inv)), async |p: &Permit| shell.run(p, &inv, exit))?;
    Ok(ran(outcome))
}

/// What a command left: its output, or a dry run's answer with no status,
/// because nothing ran.
fn ran(outcome: Outcome<Option<Output>>) -> rhai::Map {
    let mut map = rhai::Map::new();
    let (status, stdout, stderr, planned) = match outcome.into_inner() {
        Some(output) => (i64::from(output.status).into(), output.stdout, output.stderr, false),
        None => (Dynamic::UNIT, String::new(), String::new(), true),
    };
    map.insert("status".into(), status);
    map.insert("stdout".into(), stdout.into());
    map.insert("stderr".into(), stderr.into());
    map.insert("planned".into(), planned.into());
    map
}

/// `#{identity, user, port}` of `sh::ssh` and `sh::rsync`'s `ssh`.
fn login_option(function: &str, o: Options<'_>) -> ScriptResult<Login> {
    let port = match o.get("port") {
        None => None,
        Some(p) => Some(
            p.as_int()
                .ok()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| script_error("Invalid", &format!("`port` must be a port number, not {p}")))?,
        ),
    };
    let login = Login { user: o.str("user")?, port, identity: o.str("identity")?, ..Login::default() };
    ssh_args::base(&login).map_err(|e| script_error("Invalid", &format!("`{function}`: {e}")))?;
    Ok(login)
}
