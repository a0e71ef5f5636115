//! Per-container state and the request pipeline every function shares.

use std::{
    sync::OnceLock,
    time::{Duration, Instant, SystemTime},
};

use aws_sdk_dynamodb::types::TransactWriteItem;
use http::header::AUTHORIZATION;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::{
    api,
    auth::{Principal, Verifier},
    clock::Clock,
    config::{Config, ConfigError},
    error::{ApiError, MAX_BODY_BYTES},
    http::{request_id, route_path, set_request_id},
    idempotency,
    pagination::CursorSigner,
    routes::{self, Function, Matched},
    store::Store,
    tenancy::{Tenant, TenantDirectory},
};

/// Built once per cold start and shared by every invocation of the warm container.
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
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let dynamodb = crate::store::configure((&sdk).into(), &config.dynamodb).build();
        Ok(App::new(config, aws_sdk_dynamodb::Client::from_conf(dynamodb)))
    }
}

/// What a handler gets: the app, the request, the matched route and the verified caller.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a Request,
    pub matched: Matched,
    pub principal: Principal,
    /// Set while an `Idempotency-Key` request runs.
    pub idempotency: OnceLock<idempotency::Claim>,
}

impl Ctx<'_> {
    pub fn param(&self, index: usize) -> &str {
        self.matched
            .params
            .get(index)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The item that commits `response` as this request's idempotent outcome, for the handler
    /// to put into the transaction of its write; `None` without an `Idempotency-Key`.
    pub fn receipt(&self, response: &Response<Body>) -> Result<Option<TransactWriteItem>, ApiError> {
        self.idempotency
            .get()
            .map(|claim| claim.receipt(self.app.store.table(), response))
            .transpose()
    }

    /// The caller's tenant, provisioned on first sight; 403 unless it is active.
    pub async fn active_tenant(&self) -> Result<Tenant, ApiError> {
        let tenant_id = self.principal.tenant()?;
        self.app.tenants.resolve_active(&self.app.store, tenant_id).await
    }
}

async fn route(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    match cx.matched.route.function {
        Function::Tenants => api::tenants::dispatch(cx).await,
        Function::Organizations => api::organizations::dispatch(cx).await,
        Function::Memberships => api::memberships::dispatch(cx).await,
        Function::Campaigns => api::campaigns::dispatch(cx).await,
    }
}

/// How long this request may run: the configured budget, and in Lambda never past the
/// invocation's deadline (less a margin to send the answer).
fn time_budget(app: &App, req: &Request) -> Duration {
    const MARGIN: Duration = Duration::from_millis(300);
    let configured = app.config.request_timeout;
    match req.lambda_context_ref().map(|cx| cx.deadline()) {
        Some(deadline) => deadline
            .duration_since(SystemTime::now())
            .map(|left| left.saturating_sub(MARGIN).min(configured))
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_millis(100)),
        None => configured,
    }
}

/// Serves one request. `only` is the function this container runs (`None` in the local
/// server, which serves every route).
pub async fn handle(app: &App, only: Option<Function>, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let method = req.method().clone();
    let path = route_path(&req);
    let span = tracing::info_span!("request", %request_id, %method, %path);

    let budget = time_budget(app, &req);
    let result = async {
        if req.body().len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        let matched = routes::resolve(only, &method, &path)?;
        let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let principal = app.verifier.verify(authorization).await?;
        let cx = Ctx {
            app,
            req: &req,
            matched,
            principal,
            idempotency: OnceLock::new(),
        };
        let key = if cx.matched.method == http::Method::POST {
            idempotency::key_of(&cx)?
        } else {
            None
        };
        match key {
            Some(key) => idempotency::run(&cx, &key, &request_id, || route(&cx)).await,
            None => route(&cx).await,
        }
    };
    // Past the budget the request is dropped where it stands: a transaction either committed
    // whole or not at all, and an idempotency claim left behind expires with its lock.
    let result = match tokio::time::timeout(budget, result)
        .instrument(span.clone())
        .await
    {
        Ok(result) => result,
        Err(_) => {
            span.in_scope(|| {
                tracing::warn!(budget_ms = budget.as_millis() as u64, "request ran out of time")
            });
            Err(ApiError::Unavailable)
        }
    };

    let mut response = match result {
        Ok(response) => response,
        Err(error) => error.into_response(&request_id),
    };
    set_request_id(&mut response, &request_id);
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request served"
        )
    });
    response
}
