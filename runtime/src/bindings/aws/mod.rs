//! `aws::` - AWS accounts, and what the `ec2::` and `route53::` families
//! share: the account handle (the backend's [`backend::Account`], live or
//! on the world, chosen once when it is opened from the run's target), the
//! run's ledger of idempotent creates, argument conversions, and the way
//! their waits reach [`Run::wait`].

use std::sync::Arc;

use rhai::plugin::*;
use rhai::{EvalAltResult, NativeCallContext};

use super::options::Options;
use super::ScriptResult;
use crate::backends::aws::{self as backend, AccountSpec};
use crate::run::Run;

mod args;
mod ledger;
mod wait;

pub(crate) use args::{strings_arg, tags_arg, to_dynamic, to_map};
pub(crate) use ledger::{Earlier, Kind, Ledger};
pub(crate) use wait::{wait, wait_for};

/// An AWS account handle: `aws::account(#{profile: "prod"})`.
#[derive(Debug, Clone)]
pub struct Account(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    backend: backend::Account,
    ledger: Ledger,
}

#[export_module]
pub(crate) mod aws {
    pub type Account = super::Account;

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
        account.backend().region().to_string()
    }

    /// `Account(prod, us-west-2)`.
    ///
    /// ```rhai
    /// print(`${prod}`);
    /// ```
    #[rhai_fn(global, name = "to_string", pure)]
    pub fn to_string(account: &mut Account) -> String {
        format!("Account({}, {})", account.name(), account.backend().region())
    }
}

fn open(ctx: &NativeCallContext, options: &rhai::Map) -> ScriptResult<Account> {
    let run = Run::from_context(ctx)?;
    run.check_cancelled()?;
    let o = Options::new("aws::account", options, &["profile", "region", "endpoint"])?;
    let spec = AccountSpec {
        profile: o.str("profile")?,
        region: o.str("region")?,
        endpoint: o.str("endpoint")?.or_else(|| std::env::var("HUBOPS_AWS_ENDPOINT").ok().filter(|e| !e.is_empty())),
    };
    let backend = read(&run, backend::Account::open(run.target(), &spec))?;
    // A resumed run must work on the account the run it continues worked on.
    let identity = match &spec.endpoint {
        Some(endpoint) => format!("region {} at {endpoint}", backend.region()),
        None => format!("region {}", backend.region()),
    };
    run.note_target(&format!("aws/{}", backend.name()), &identity)?;
    Ok(Account(Arc::new(Inner { backend, ledger: Ledger::default() })))
}

impl Account {
    /// The account the verbs are methods of.
    pub(crate) fn backend(&self) -> &backend::Account {
        &self.0.backend
    }

    /// The run's ledger of creates in this account.
    pub(crate) fn ledger(&self) -> &Ledger {
        &self.0.ledger
    }

    /// The account's name.
    pub(crate) fn name(&self) -> &str {
        self.0.backend.name()
    }
}

/// Runs a backend read to completion: AWS errors become script errors.
pub(crate) fn read<T>(
    run: &Run,
    call: impl std::future::Future<Output = Result<T, backend::Error>>,
) -> ScriptResult<T> {
    run.block_on(call)?.map_err(|e| run.fail(&e))
}
