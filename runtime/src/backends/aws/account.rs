//! An AWS account, live or simulated, chosen once when it is opened from
//! the run's [`Target`]: live, credentials and region come through
//! aws-config (environment, profile files, web identity, instance metadata),
//! with an endpoint override for emulators and one HTTP client (rustls with
//! ring) shared by every service client of the account; on a world, the
//! account of the world's `aws:` section with the profile's name.
//!
//! The verbs are in `ec2/` and `route53/`; this file only opens accounts and
//! runs a world call on the world's account at the run clock's time.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use jiff::Timestamp;

use super::world::{self, AwsWorld};
use super::Error;
use crate::backends::Target;
use crate::effects::Permit;
use crate::world::faults::{self, Call, Struck};

/// What `aws::account(#{...})` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSpec {
    /// A shared-config profile.
    pub profile: Option<String>,
    /// The region (else from the profile or the environment).
    pub region: Option<String>,
    /// An endpoint override (moto, `LocalStack`).
    pub endpoint: Option<String>,
}

impl AccountSpec {
    /// A name for messages and change targets: the profile, else `default`.
    #[must_use]
    pub fn name(&self) -> &str {
        self.profile.as_deref().unwrap_or("default")
    }
}

/// The service clients of one live account.
#[derive(Debug, Clone)]
pub struct Clients {
    /// The account's name (its profile, or `default`).
    pub name: String,
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Route53.
    pub route53: aws_sdk_route53::Client,
    /// The region in use.
    pub region: String,
}

/// One AWS account: the value every EC2 and Route53 verb is a method of.
#[derive(Debug, Clone)]
pub enum Account {
    /// AWS itself (or an emulator), through the SDK.
    Live(Clients),
    /// An account of the world's `aws:` section.
    World {
        /// The world and the run's clock.
        world: crate::world::Shared,
        /// The account's name in the world.
        name: String,
        /// Its region.
        region: String,
    },
}

/// How often a wait looks again. Live AWS is polled every few seconds; on a
/// world time is virtual, so coarser steps cost nothing.
const LIVE_POLL: Duration = Duration::from_secs(2);
const WORLD_POLL: Duration = Duration::from_secs(15);

impl Account {
    /// Opens the account `spec` names on `target`. Live, nothing is sent
    /// until the first call (missing credentials show up then, as
    /// `Forbidden`); on a world, the account must exist and be in the region
    /// asked for.
    pub async fn open(target: &Target, spec: &AccountSpec) -> Result<Self, Error> {
        let name = spec.name().to_string();
        match target {
            Target::Live(_) => connect(spec).await.map(Self::Live),
            Target::World(shared) => {
                let mut world = shared.lock();
                let Some(part) = world.part_mut::<AwsWorld>("aws") else {
                    return Err(Error::NoWorldSection { account: name });
                };
                let region = part.account(&name)?.region.clone();
                if let Some(asked) = spec.region.as_ref().filter(|r| **r != region) {
                    return Err(Error::WrongRegion { account: name, region, asked: asked.clone() });
                }
                drop(world);
                Ok(Self::World { world: shared.clone(), name, region })
            }
        }
    }

    /// The account's name: its profile, or `default`.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Live(c) => &c.name,
            Self::World { name, .. } => name,
        }
    }

    /// The account's region.
    #[must_use]
    pub fn region(&self) -> &str {
        match self {
            Self::Live(c) => &c.region,
            Self::World { region, .. } => region,
        }
    }

    /// How long a wait on this account waits between looks.
    #[must_use]
    pub fn poll_interval(&self) -> Duration {
        match self {
            Self::Live(_) => LIVE_POLL,
            Self::World { .. } => WORLD_POLL,
        }
    }

    /// Runs `f` on the world's account, moved forward to the run clock's
    /// now, unless one of the world's faults strikes `call` (reads always
    /// meet faults; a change only under `Permit::Apply`, see
    /// `world::faults`). `f` is also told of a fault that changes how a
    /// call goes rather than failing it (a change stuck `PENDING`). Only
    /// for the `World` arm; the verbs match on the arm first.
    pub(super) fn on_world<T>(
        world: &crate::world::Shared,
        name: &str,
        call: (&'static str, &str, Option<&Permit>),
        f: impl FnOnce(&mut world::Account, Timestamp, Option<Struck>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let (operation, target, permit) = call;
        let now = world.now();
        let mut world = world.lock();
        let zone = zone_of(&world, name, target);
        let struck = faults::strike(
            &mut world,
            Call::Aws { operation, target, zone: zone.as_deref() },
            permit.is_none_or(|p| !p.is_check()),
        );
        if let Some(Struck::AwsError(_, code, message)) = &struck {
            return Err(Error::Api { operation, code: code.clone(), message: message.clone() });
        }
        let part = world.part_mut::<AwsWorld>("aws").ok_or_else(|| Error::NoWorldSection { account: name.into() })?;
        let account = part.account(name)?;
        account.advance(now);
        f(account, now, struck)
    }
}

/// The name of the zone `target` is the id of, in account `name`.
fn zone_of(world: &crate::world::World, name: &str, target: &str) -> Option<String> {
    let aws = world.part::<AwsWorld>("aws")?;
    aws.accounts.get(name)?.zones.iter().find(|z| z.id == target).map(|z| z.name.clone())
}

impl Account {}

/// Builds the clients of a live account.
async fn connect(spec: &AccountSpec) -> Result<Clients, Error> {
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(profile) = &spec.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &spec.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &spec.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    let Some(region) = config.region().map(ToString::to_string) else {
        return Err(Error::Config {
            account: spec.name().to_string(),
            message: "no region: pass `region`, or set AWS_REGION or a region in the profile".into(),
        });
    };
    Ok(Clients {
        name: spec.name().to_string(),
        ec2: aws_sdk_ec2::Client::new(&config),
        route53: aws_sdk_route53::Client::new(&config),
        region,
    })
}
