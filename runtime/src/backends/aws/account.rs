//! Connecting to an AWS account: credentials and region through aws-config
//! (environment, profile files, web identity, instance metadata), an endpoint
//! override for emulators, and one HTTP client (rustls with ring) shared by
//! every service client of the account.

use aws_config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

use super::Error;

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

/// The service clients of one account.
#[derive(Debug, Clone)]
pub struct Clients {
    /// EC2.
    pub ec2: aws_sdk_ec2::Client,
    /// Route53.
    pub route53: aws_sdk_route53::Client,
    /// The region in use.
    pub region: String,
}

/// Builds the clients. Nothing is sent until the first call; missing
/// credentials show up then, as `Forbidden`.
pub async fn connect(spec: &AccountSpec) -> Result<Clients, Error> {
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
    Ok(Clients { ec2: aws_sdk_ec2::Client::new(&config), route53: aws_sdk_route53::Client::new(&config), region })
}
