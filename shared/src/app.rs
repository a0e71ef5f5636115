//! Per-container state, built once per cold start and shared by every invocation.

use crate::{
    auth::Verifier,
    clock::Clock,
    config::{Config, ConfigError},
    pagination::CursorSigner,
    store::Store,
    tenancy::TenantDirectory,
};

pub struct App {
    pub config: Config,
    pub clock: Clock,
    pub store: Store,
    pub verifier: Verifier,
    pub tenants: TenantDirectory,
    pub cursors: CursorSigner,
}

impl App {
    pub fn new(config: Config, client: aws_sdk_dynamodb::Client) -> Self {
        Self::with_clock(config, client, Clock::system())
    }

    /// An app whose time comes from `clock` (tests move it forward).
    pub fn with_clock(config: Config, client: aws_sdk_dynamodb::Client, clock: Clock) -> Self {
        let verifier = Verifier::new(&config.jwt, clock.clone());
        App {
            clock,
            store: Store::new(client, config.table_name.clone()),
            tenants: TenantDirectory::new(config.tenant_cache_ttl),
            cursors: CursorSigner::new(&config.cursor_secret),
            verifier,
            config,
        }
    }

    /// Reads the environment and the AWS SDK's standard settings (region, credentials,
    /// `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(crate::https::client(crate::https::Roots::from_env()))
            .load()
            .await;
        let dynamodb = crate::store::configure((&sdk).into(), &config.dynamodb).build();
        Ok(App::new(config, aws_sdk_dynamodb::Client::from_conf(dynamodb)))
    }
}
