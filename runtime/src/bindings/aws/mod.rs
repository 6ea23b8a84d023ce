//! `aws::` - AWS accounts, and the plumbing the `ec2::` and `route53::`
//! families share: which backend an account uses (live SDK clients, or an
//! account of the world's `aws:` section), idempotency tokens, AWS errors as
//! script errors, and bounded waits with progress on the run's clock.

use std::sync::Arc;

use rhai::plugin::*;
use rhai::{EvalAltResult, NativeCallContext};

use super::{script_error, ScriptResult};
use crate::backends::aws::{self as backend, world::AwsWorld, AccountSpec, Clients, Error};
use crate::run::Run;

mod args;
mod wait;

pub(crate) use args::{
    aws_error, boxed, check_options, is_planned, opt_bool, opt_int, opt_str, planned_id, strings_arg, tags_arg,
    to_dynamic, to_map, Cause,
};
pub(crate) use wait::{planning, timeout_opt, wait_until, would_wait, Poll};

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
    /// Signalled when a token's create settles.
    settled: std::sync::Condvar,
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
    /// Tokens whose create is being made now (by a `parallel` worker).
    in_flight: std::collections::HashSet<String>,
}

/// A token whose create this call is making; a second create with the same
/// token waits until this one settles, then finds what it made.
pub(crate) struct Claim<'a> {
    account: &'a Account,
    token: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.account.ledger().in_flight.remove(&self.token);
        self.account.0.settled.notify_all();
    }
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
    ///
    /// ```rhai
    /// log::info(`working in ${prod.name}`);
    /// ```
    #[rhai_fn(global, get = "name", pure)]
    pub fn name(account: &mut Account) -> String {
        account.name().to_string()
    }

    /// The account's region.
    ///
    /// ```rhai
    /// print(prod.region);   // "us-west-2"
    /// ```
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
    ///
    /// ```rhai
    /// print(`${prod}`);
    /// ```
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
            settled: std::sync::Condvar::new(),
        })));
    }
    let clients = run.block_on(backend::connect(&spec))?.map_err(|e| aws_error(&run, &e))?;
    Ok(Account(Arc::new(Inner {
        name,
        region: clients.region.clone(),
        backend: Backend::Live(clients),
        ledger: std::sync::Mutex::default(),
        settled: std::sync::Condvar::new(),
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

    /// Claims `token` for one create, waiting while another call (a
    /// `parallel` worker) is making a create with the same token.
    pub(crate) fn claim(&self, run: &Run, token: &str) -> ScriptResult<Claim<'_>> {
        let mut ledger = self.ledger();
        while ledger.in_flight.contains(token) {
            run.check_cancelled()?;
            ledger = match self.0.settled.wait_timeout(ledger, std::time::Duration::from_millis(200)) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        ledger.in_flight.insert(token.to_string());
        Ok(Claim { account: self, token: token.to_string() })
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
