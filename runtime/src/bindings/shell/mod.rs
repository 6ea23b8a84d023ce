//! `sh::` - local commands: `run`, `rsync`, `ssh`. Every command is a
//! mutation handed to the effects gate; a dry run plans the exact command
//! line (and for `rsync`, runs rsync's own `--dry-run`, which changes
//! nothing). Arguments are argv entries, never a shell string.
//!
//! Thin: options are checked and converted here; processes, argv and output
//! parsing live in `backends::shell`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, NativeCallContext};

use super::{duration_arg, error_map, script_error, ScriptResult};
use crate::backends::shell::process::{self, Invocation, Output};
use crate::backends::shell::ssh::{self as ssh_args, Login};
use crate::backends::shell::world::{HostsWorld, LOCAL};
use crate::effects::{Change, Permit};
use crate::run::compat::LegacyOutcome as Outcome;
use crate::run::Run;
use crate::world::World;

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
pub(crate) const LOGIN_OPTIONS: [&str; 3] = ["identity", "user", "port"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rejects options a function does not have, naming the ones it has.
pub(crate) fn known_options(function: &str, options: &rhai::Map, known: &[&str]) -> ScriptResult<()> {
    crate::bindings::options::Options::new(function, options, known).map(|_| ())
}

pub(crate) fn string_option(options: &rhai::Map, key: &str) -> ScriptResult<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) if v.is_string() => Ok(Some(v.to_string())),
        Some(v) => Err(script_error("Invalid", &format!("`{key}` must be a string, not {}", v.type_name()))),
    }
}

pub(crate) fn bool_option(options: &rhai::Map, key: &str, default: bool) -> ScriptResult<bool> {
    match options.get(key) {
        None => Ok(default),
        Some(v) if v.is_unit() => Ok(default),
        Some(v) => v.as_bool().map_err(|t| script_error("Invalid", &format!("`{key}` must be true or false, not {t}"))),
    }
}

pub(crate) fn timeout_option(options: &rhai::Map, default: Duration) -> ScriptResult<Duration> {
    match options.get("timeout") {
        None => Ok(default),
        Some(v) if v.is_unit() => Ok(default),
        Some(v) => {
            let d = duration_arg(v, "`timeout`")?;
            if d.is_zero() {
                return Err(script_error("Invalid", "`timeout` must be longer than zero"));
            }
            Ok(d)
        }
    }
}

/// Argument lists: strings and numbers, each one argv entry.
pub(crate) fn argv(function: &str, args: Array) -> ScriptResult<Vec<String>> {
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

fn env_option(options: &rhai::Map) -> ScriptResult<Vec<(String, String)>> {
    let Some(value) = options.get("env").filter(|v| !v.is_unit()) else { return Ok(Vec::new()) };
    let map = value.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", "`env` must be a map"))?;
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
pub(crate) fn shown(inv: &Invocation) -> String {
    let mut text: String = inv.env.iter().flat_map(|(k, _)| [k.as_str(), "=*** "]).collect();
    text.push_str(&inv.display());
    if let Some(cwd) = &inv.cwd {
        text.push_str(&format!(" (in {})", cwd.display()));
    }
    text
}

/// An error's message followed by its causes, for one-line reports.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    message
}

/// Hands a command to the gate, keeping the kind of a backend error
/// (`Timeout`, `Failed`, `NotFound`, ...) for the script: the gate's own
/// errors only say that a change was refused.
pub(crate) fn gated<T>(
    run: &Run,
    change: Change,
    check: impl FnOnce(&Permit) -> Result<(), process::Error>,
    apply: impl FnOnce(&Permit) -> Result<T, process::Error>,
) -> ScriptResult<Outcome<T>> {
    let failure: Arc<Mutex<Option<rhai::Map>>> = Arc::default();
    let slot = failure.clone();
    let redactor = run.redactor().clone();
    let apply = move |permit: &Permit| -> Result<T, BoxError> {
        apply(permit).map_err(|e| {
            let message = with_causes(&e);
            let mut map = error_map(e.kind(), &redactor.redact(&message));
            if let process::Error::Failed { status, stderr_tail, .. } = &e {
                map.insert("status".into(), i64::from(*status).into());
                map.insert("stderr".into(), redactor.redact(stderr_tail).into());
            }
            *slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(map);
            BoxError::from(message)
        })
    };
    let check = |permit: &Permit| check(permit).map_err(|e| BoxError::from(with_causes(&e)));
    run.change_legacy(change, check, apply).map_err(|gate_error| {
        match failure.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            Some(map) => Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE)),
            None => gate_error,
        }
    })
}

/// The world's `hosts:` part, for a call on a world.
pub(crate) fn with_hosts<T>(
    world: &Arc<Mutex<World>>,
    f: impl FnOnce(&mut HostsWorld) -> Result<T, process::Error>,
) -> Result<T, process::Error> {
    let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let hosts = world.part_mut::<HostsWorld>("hosts").ok_or_else(|| process::Error::World {
        kind: "Usage",
        message: "the world has no `hosts:` section; add the hosts this runbook reaches (host `local` is this machine)"
            .into(),
    })?;
    f(hosts)
}

fn run_program(ctx: &NativeCallContext, program: &str, args: Array, options: &rhai::Map) -> ScriptResult<rhai::Map> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    known_options("sh::run", options, &RUN_OPTIONS)?;
    if program.is_empty() {
        return Err(script_error("Invalid", "`sh::run` needs a program name"));
    }
    let mut inv = Invocation::new(program, argv("sh::run", args)?, timeout_option(options, RUN_TIMEOUT)?);
    inv.cwd = string_option(options, "cwd")?.map(PathBuf::from);
    inv.env = env_option(options)?;
    let check_exit = bool_option(options, "check", false)?;
    let change = Change::new("sh", "run", shown(&inv));
    let cancel = run.cancel.clone();
    let probe = inv.clone();
    let (world, check_world) = (run.world().cloned(), run.world().cloned());
    let outcome = gated(
        &run,
        change,
        move |_| match &check_world {
            Some(w) => with_hosts(w, |h| h.answer(LOCAL, &probe.display())).map(|_| ()),
            None => can_start(&probe),
        },
        move |permit| {
            let output = match &world {
                Some(w) => with_hosts(w, |h| h.answer(LOCAL, &inv.display()))?,
                None => process::run(permit, &inv, &cancel)?,
            };
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

/// What a dry run can know without starting anything: the program exists
/// and the working directory is there.
pub(crate) fn can_start(inv: &Invocation) -> Result<(), process::Error> {
    if let Some(cwd) = &inv.cwd {
        if !cwd.is_dir() {
            return Err(process::Error::Spawn {
                program: inv.program.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("working directory `{}` does not exist", cwd.display()),
                ),
            });
        }
    }
    process::resolve(&inv.program).map(|_| ()).ok_or_else(|| process::Error::NotFound { program: inv.program.clone() })
}

pub(crate) fn output_map(output: Output) -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("status".into(), i64::from(output.status).into());
    map.insert("stdout".into(), output.stdout.into());
    map.insert("stderr".into(), output.stderr.into());
    map.insert("planned".into(), false.into());
    map
}

/// A dry run's answer: no status, because nothing ran.
pub(crate) fn planned_map() -> rhai::Map {
    let mut map = rhai::Map::new();
    map.insert("status".into(), Dynamic::UNIT);
    map.insert("stdout".into(), "".into());
    map.insert("stderr".into(), "".into());
    map.insert("planned".into(), true.into());
    map
}

/// `#{identity, user, port}` of `sh::ssh` and `sh::rsync`'s `ssh`.
pub(crate) fn login_option(function: &str, options: &rhai::Map) -> ScriptResult<Login> {
    let port = match options.get("port").filter(|p| !p.is_unit()) {
        None => None,
        Some(p) => Some(
            p.as_int()
                .ok()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| script_error("Invalid", &format!("`port` must be a port number, not {p}")))?,
        ),
    };
    let login = Login { user: string_option(options, "user")?, port, identity: string_option(options, "identity")? };
    ssh_args::base(&login).map_err(|e| script_error("Invalid", &format!("`{function}`: {e}")))?;
    Ok(login)
}
