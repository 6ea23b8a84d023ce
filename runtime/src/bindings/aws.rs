//! `aws::` - AWS accounts, and the plumbing the `ec2::` and `route53::`
//! families share: which backend an account uses (live SDK clients, or an
//! account of the world's `aws:` section), idempotency tokens, AWS errors as
//! script errors, and bounded waits with progress on the run's clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rhai::plugin::*;
use rhai::{Dynamic, EvalAltResult, NativeCallContext};

use super::{duration_arg, error_map, script_error, ScriptResult};
use crate::backends::aws::{self as backend, world::AwsWorld, AccountSpec, Clients, Error};
use crate::output::Tone;
use crate::run::journal::Event;
use crate::run::Run;

/// An AWS account handle: `aws::account(#{profile: "prod"})`.
#[derive(Debug, Clone)]
pub struct Account(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    name: String,
    region: String,
    backend: Backend,
    /// What this run created in this account, by idempotency token.
    pub(crate) ledger: std::sync::Mutex<Ledger>,
}

/// The creates of this run in one account, by token, so that a create asks
/// AWS "did I make this already?" once per run instead of once per call:
/// the first lookup loads everything tagged with the run's id (a resumed run
/// keeps its id and finds what it made), later creates are added as they
/// are answered, and a token whose create got no clear answer is looked up
/// for real.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Kinds (`volume`, `snapshot`) already loaded from AWS.
    pub(crate) loaded: std::collections::BTreeSet<&'static str>,
    /// Token -> id of what it made.
    pub(crate) made: std::collections::HashMap<String, String>,
    /// Tokens whose create failed or got no answer: it may have been made.
    pub(crate) in_doubt: std::collections::HashSet<String>,
}

#[derive(Debug)]
enum Backend {
    Live(Clients),
    /// The world account of this name.
    World,
}

#[export_module]
pub(crate) mod aws {
    pub type Account = super::Account;
    pub type Ec2 = super::super::ec2::Ec2;
    pub type Route53 = super::super::route53::Route53;

    /// Opens the default AWS account: credentials and region from the
    /// environment and `~/.aws` (or `HUBOPS_AWS_ENDPOINT` for an emulator).
    /// On a world, the account named `default`.
    ///
    /// ```rhai
    /// let ec2 = aws::account().ec2();
    /// ```
    #[rhai_fn(name = "account", return_raw)]
    pub fn account_default(ctx: NativeCallContext) -> Result<Account, Box<EvalAltResult>> {
        super::open(&ctx, &rhai::Map::new())
    }

    /// Opens an AWS account: `profile` (a shared-config profile, and the
    /// account's name on worlds), `region`, `endpoint` (an emulator such as
    /// moto; `HUBOPS_AWS_ENDPOINT` also sets it). Several accounts can be
    /// open at once.
    ///
    /// ```rhai
    /// let prod = aws::account(#{ profile: "prod", region: "us-west-2" });
    /// let dev = aws::account(#{ profile: "dev", region: "us-west-2" });
    /// ```
    #[rhai_fn(name = "account", return_raw)]
    pub fn account(ctx: NativeCallContext, options: rhai::Map) -> Result<Account, Box<EvalAltResult>> {
        super::open(&ctx, &options)
    }

    /// The account's name (its profile, or `default`).
    #[rhai_fn(global, get = "name", pure)]
    pub fn name(account: &mut Account) -> String {
        account.name().to_string()
    }

    /// The account's region.
    #[rhai_fn(global, get = "region", pure)]
    pub fn region(account: &mut Account) -> String {
        account.0.region.clone()
    }

    /// The account's EC2 (volumes and snapshots).
    ///
    /// ```rhai
    /// let ec2 = aws::account(#{ profile: "prod" }).ec2();
    /// ```
    #[rhai_fn(global)]
    pub fn ec2(account: Account) -> Ec2 {
        super::super::ec2::Ec2(account)
    }

    /// The account's Route53 (hosted zones and records).
    ///
    /// ```rhai
    /// let zone = aws::account(#{ profile: "prod" }).route53().zone("cal-adapt.org");
    /// ```
    #[rhai_fn(global)]
    pub fn route53(account: Account) -> Route53 {
        super::super::route53::Route53(account)
    }

    /// `Account(prod, us-west-2)`.
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(account: &mut Account) -> String {
        format!("Account({}, {})", account.name(), account.0.region)
    }
}

const OPTIONS: [&str; 3] = ["profile", "region", "endpoint"];

fn open(ctx: &NativeCallContext, options: &rhai::Map) -> ScriptResult<Account> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    check_options("aws::account", options, &OPTIONS)?;
    let text = |key: &str| options.get(key).filter(|v| !v.is_unit()).map(ToString::to_string);
    let spec = AccountSpec {
        profile: text("profile"),
        region: text("region"),
        endpoint: text("endpoint").or_else(|| std::env::var("HUBOPS_AWS_ENDPOINT").ok().filter(|e| !e.is_empty())),
    };
    let name = spec.name().to_string();
    if let Some(world) = run.world() {
        let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(part) = world.part_mut::<AwsWorld>("aws") else {
            return Err(script_error("NotFound", &format!("AWS account `{name}`: the world has no `aws:` section")));
        };
        let account = part.account(&name).map_err(|e| aws_error(&run, &e))?;
        if let Some(region) = spec.region.as_ref().filter(|r| **r != account.region) {
            return Err(script_error(
                "Invalid",
                &format!("AWS account `{name}` is in region `{}` on this world, not `{region}`", account.region),
            ));
        }
        let region = account.region.clone();
        return Ok(Account(Arc::new(Inner {
            name,
            region,
            backend: Backend::World,
            ledger: std::sync::Mutex::default(),
        })));
    }
    let clients = run.block_on(backend::connect(&spec))?.map_err(|e| aws_error(&run, &e))?;
    Ok(Account(Arc::new(Inner {
        name,
        region: clients.region.clone(),
        backend: Backend::Live(clients),
        ledger: std::sync::Mutex::default(),
    })))
}

impl Account {
    /// Whether the account talks to AWS (not a world).
    pub(crate) fn is_live(&self) -> bool {
        matches!(self.0.backend, Backend::Live(_))
    }

    /// The run's ledger of creates in this account.
    pub(crate) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.0.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account's name.
    pub(crate) fn name(&self) -> &str {
        &self.0.name
    }

    /// Runs a call on the account's backend: `live` with the SDK clients, or
    /// `world` on the world's account at the run clock's time. The outer
    /// error is an interruption; the inner one is AWS's answer.
    pub(crate) fn call<T>(
        &self,
        run: &Run,
        live: impl AsyncFnOnce(&Clients) -> Result<T, Error>,
        on_world: impl FnOnce(&mut backend::world::Account, jiff::Timestamp) -> Result<T, Error>,
    ) -> ScriptResult<Result<T, Error>> {
        match &self.0.backend {
            Backend::Live(clients) => run.block_on(live(clients)),
            Backend::World => {
                let Some(world) = run.world() else {
                    return Err(script_error("Usage", "a world account was used outside its world"));
                };
                let now = run.clock().now();
                let mut world = world.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let Some(part) = world.part_mut::<AwsWorld>("aws") else {
                    return Err(script_error("NotFound", "the world has no `aws:` section"));
                };
                let account = match part.account(&self.0.name) {
                    Ok(a) => a,
                    Err(e) => return Ok(Err(e)),
                };
                account.advance(now);
                Ok(on_world(account, now))
            }
        }
    }

    /// [`Account::call`] for reads: AWS errors become script errors.
    pub(crate) fn read<T>(
        &self,
        run: &Run,
        live: impl AsyncFnOnce(&Clients) -> Result<T, Error>,
        world: impl FnOnce(&mut backend::world::Account, jiff::Timestamp) -> Result<T, Error>,
    ) -> ScriptResult<T> {
        self.call(run, live, world)?.map_err(|e| aws_error(run, &e))
    }
}

/// An AWS error as a script error: `kind`, `message`, and `code` (AWS's
/// error code) where AWS gave one.
pub(crate) fn aws_error(run: &Run, err: &Error) -> Box<EvalAltResult> {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        // Layers of the HTTP stack often repeat their cause's text.
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    let mut map = error_map(err.kind(), &run.redactor().redact(&message));
    if let Some(code) = err.code() {
        map.insert("code".into(), code.into());
    }
    if let Error::Ambiguous { candidates, .. } = err {
        map.insert(
            "candidates".into(),
            candidates.iter().map(|c| Dynamic::from(c.clone())).collect::<rhai::Array>().into(),
        );
    }
    Box::new(EvalAltResult::ErrorRuntime(map.into(), rhai::Position::NONE))
}

/// Where a gate error came from: the AWS error the check or apply closure
/// hit, kept so the script sees AWS's `kind` and `code` rather than only
/// the gate's `Refused`/`WouldFail` (which stays in `outcome`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Cause(Arc<std::sync::Mutex<Option<Kept>>>);

/// An AWS error's `kind` and code.
type Kept = (&'static str, Option<String>);

impl Cause {
    /// Remembers `err` and boxes it for the gate.
    pub(crate) fn keep(&self, err: Error) -> Box<dyn std::error::Error + Send + Sync> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((err.kind(), err.code().map(ToString::to_string)));
        Box::new(err)
    }

    /// Rewrites a gate error map with the kept AWS kind and code.
    pub(crate) fn enrich(&self, err: Box<EvalAltResult>) -> Box<EvalAltResult> {
        let kept = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let Some((kind, code)) = kept else {
            return err;
        };
        let EvalAltResult::ErrorRuntime(value, pos) = err.as_ref() else {
            return err;
        };
        let Some(mut map) = value.clone().try_cast::<rhai::Map>() else {
            return err;
        };
        let pos = *pos;
        if let Some(outcome) = map.get("kind").cloned() {
            map.insert("outcome".into(), outcome);
        }
        map.insert("kind".into(), kind.into());
        if let Some(code) = code {
            map.insert("code".into(), code.into());
        }
        Box::new(EvalAltResult::ErrorRuntime(map.into(), pos))
    }
}

/// Boxes an interruption (or other script error) for the gate.
pub(crate) fn boxed(err: Box<EvalAltResult>) -> Box<dyn std::error::Error + Send + Sync> {
    err
}

/// Fails on options a function does not know.
pub(crate) fn check_options(function: &str, options: &rhai::Map, known: &[&str]) -> ScriptResult<()> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            return Err(script_error(
                "Invalid",
                &format!("`{function}` has no option `{key}` (options: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// A string option.
pub(crate) fn opt_str(options: &rhai::Map, key: &str) -> ScriptResult<Option<String>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .clone()
            .into_immutable_string()
            .map(|s| Some(s.to_string()))
            .map_err(|t| script_error("Invalid", &format!("`{key}` must be a string, not {t}"))),
    }
}

/// An integer option.
pub(crate) fn opt_int(options: &rhai::Map, key: &str) -> ScriptResult<Option<i64>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => {
            v.as_int().map(Some).map_err(|t| script_error("Invalid", &format!("`{key}` must be an integer, not {t}")))
        }
    }
}

/// A boolean option.
pub(crate) fn opt_bool(options: &rhai::Map, key: &str) -> ScriptResult<Option<bool>> {
    match options.get(key) {
        None => Ok(None),
        Some(v) if v.is_unit() => Ok(None),
        Some(v) => v
            .as_bool()
            .map(Some)
            .map_err(|t| script_error("Invalid", &format!("`{key}` must be true or false, not {t}"))),
    }
}

/// A map of tags (`#{ Name: "home" }`).
pub(crate) fn tags_arg(value: Option<&Dynamic>, what: &str) -> ScriptResult<backend::Tags> {
    let Some(value) = value.filter(|v| !v.is_unit()) else {
        return Ok(backend::Tags::new());
    };
    let map =
        value.read_lock::<rhai::Map>().ok_or_else(|| script_error("Invalid", &format!("{what} must be a map")))?;
    Ok(map.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// A string or an array of strings.
pub(crate) fn strings_arg(value: &Dynamic, what: &str) -> ScriptResult<Vec<String>> {
    if let Some(array) = value.read_lock::<rhai::Array>() {
        return Ok(array.iter().map(ToString::to_string).collect());
    }
    value
        .clone()
        .into_immutable_string()
        .map(|s| vec![s.to_string()])
        .map_err(|t| script_error("Invalid", &format!("{what} must be a string or an array of strings, not {t}")))
}

/// Any serializable value as a script value.
pub(crate) fn to_dynamic<T: serde::Serialize>(value: &T) -> ScriptResult<Dynamic> {
    rhai::serde::to_dynamic(value)
}

/// A placeholder id for something a dry run only planned: `vol-planned-1`.
pub(crate) fn planned_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("{prefix}-planned-{}", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// Whether `id` is a placeholder of a planned resource.
pub(crate) fn is_planned(id: &str) -> bool {
    id.contains("-planned-")
}

/// How often waits poll: live systems every few seconds; on worlds and in dry
/// runs the clock is virtual, so coarser steps cost nothing.
fn poll_interval(run: &Run) -> Duration {
    if run.clock().is_virtual() {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(2)
    }
}

/// What one poll of a wait saw.
pub(crate) enum Poll<T> {
    /// Done, with the final value.
    Done(T),
    /// Not yet: a short status for progress lines (`42%`).
    Pending(String),
}

/// Polls `poll` until it is done or `timeout` passes on the run's clock,
/// printing progress when it changes and journaling the wait.
pub(crate) fn wait_until<T>(
    run: &Run,
    what: &str,
    timeout: Duration,
    mut poll: impl FnMut() -> ScriptResult<Result<Poll<T>, Error>>,
) -> ScriptResult<T> {
    let start = run.clock().now();
    let mut shown = String::new();
    loop {
        let status = poll()?.map_err(|e| aws_error(run, &e))?;
        let waited = Duration::try_from(run.clock().now().duration_since(start)).unwrap_or_default();
        let event = |outcome: &str| Event::Wait {
            what: what.to_string(),
            duration_ms: waited.as_millis() as u64,
            outcome: outcome.into(),
            virtual_time: run.clock().is_virtual(),
        };
        match status {
            Poll::Done(value) => {
                run.record(&event("done"));
                run.printer().status(Tone::Progress, "Done", &format!("{what} ({})", crate::duration::format(waited)));
                return Ok(value);
            }
            Poll::Pending(progress) => {
                if waited >= timeout {
                    run.record(&event("timeout"));
                    let err = Error::Timeout {
                        what: format!("{what}: still {progress}"),
                        after: crate::duration::format(timeout),
                    };
                    return Err(aws_error(run, &err));
                }
                if progress != shown {
                    run.printer().status(Tone::Progress, "Waiting", &format!("{what}: {progress}"));
                    shown = progress;
                }
                let step = poll_interval(run).min(timeout.saturating_sub(waited).max(Duration::from_millis(1)));
                run.clock().sleep(step, &run.cancel, |_| {}).map_err(|_| script_error("Interrupted", "interrupted"))?;
            }
        }
    }
}

/// A dry run's answer to a wait: nothing was changed, so there is nothing to
/// wait for; say what would have been waited for.
pub(crate) fn would_wait(run: &Run, what: &str) {
    run.record(&Event::Wait {
        what: what.to_string(),
        duration_ms: 0,
        outcome: "would_wait".into(),
        virtual_time: true,
    });
    run.printer().status(Tone::Plan, "Would wait", what);
}

/// Whether this run only plans changes (waits only; mutations never ask).
pub(crate) fn planning(run: &Run) -> bool {
    run.dry_run()
}

/// The `timeout` option of a wait.
pub(crate) fn timeout_opt(options: &rhai::Map, default: Duration) -> ScriptResult<Duration> {
    options.get("timeout").map_or(Ok(default), |t| duration_arg(t, "`timeout`"))
}
