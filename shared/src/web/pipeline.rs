//! The request pipeline every function shares: body limit, routing, authentication, the tenant
//! gate, idempotency, the handler, and the problem+json answer for whatever went wrong, all
//! inside the request's time budget.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant, SystemTime},
};

use http::header::AUTHORIZATION;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::{field::Empty, Instrument, Span};

use super::{
    idempotency,
    problem::MAX_BODY_BYTES,
    request::{request_id, route_path},
    response::set_request_id,
    router::{Gate, Route, Router},
    ApiError, Ctx,
};
use crate::{app::App, telemetry};

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

/// Serves the request; `route` is set to the route it matched.
async fn serve(
    app: &App,
    router: &Router,
    req: &Request,
    path: &str,
    request_id: &str,
    route: &mut Option<&'static Route>,
) -> Result<Response<Body>, ApiError> {
    if req.body().len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let matched = router.resolve(req.method().as_str(), path).into_result()?;
    *route = Some(matched.route);
    let span = Span::current();
    span.record(
        "route",
        format!("{} {}", matched.route.method, matched.route.path),
    );
    let authorization = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let principal = app.verifier.verify(authorization).await?;
    span.record("sub", principal.sub.as_str());
    if let Some(tenant) = &principal.tenant_id {
        span.record("tenant", tenant.as_str());
    }
    let key = match matched.route.method {
        "POST" => idempotency::key_of(req)?,
        _ => None,
    };
    let tenant = match matched.route.gate {
        Gate::ActiveTenant => {
            let tenant_id = principal.tenant()?;
            Some(app.tenants.resolve_active(&app.store, tenant_id).await?)
        }
        Gate::Caller => None,
    };
    let cx = Ctx::new(app, req, principal, matched.params, tenant);
    let handler = matched.route.handler;
    match key {
        Some(key) => idempotency::run(&cx, &key, request_id, handler).await,
        None => handler(&cx).await,
    }
}

/// Whether no request has been served yet by this process (a cold start).
static COLD: AtomicBool = AtomicBool::new(true);

/// The span every line of a request's logs carries: who asked for what, and which invocation
/// of which function served it. `route`, `tenant` and `sub` are filled in once known; a token is
/// never logged.
fn request_span(req: &Request, request_id: &str, path: &str, cold_start: bool) -> Span {
    let lambda = req.lambda_context_ref();
    let function = lambda
        .map(|cx| cx.env_config.function_name.as_str())
        .filter(|name| !name.is_empty())
        .unwrap_or("local");
    tracing::info_span!(
        "request",
        request_id,
        lambda_request_id = lambda
            .map(|cx| cx.request_id.as_str())
            .filter(|id| !id.is_empty()),
        xray_trace_id = lambda.and_then(|cx| cx.xray_trace_id.as_deref()),
        function,
        cold_start,
        method = req.method().as_str(),
        path,
        route = Empty,
        tenant = Empty,
        sub = Empty,
    )
}

/// Serves one request with the routes of `router`.
pub async fn handle(app: &App, router: &Router, req: Request) -> Response<Body> {
    let started = Instant::now();
    let request_id = request_id(&req);
    let path = route_path(&req);
    let cold_start = COLD.swap(false, Ordering::Relaxed);
    let span = request_span(&req, &request_id, &path, cold_start);
    let mut route = None;

    let budget = time_budget(app, &req);
    // Past the budget the request is dropped where it stands: a transaction either committed
    // whole or not at all, and an idempotency claim left behind expires with its lock.
    let result = match tokio::time::timeout(budget, serve(app, router, &req, &path, &request_id, &mut route))
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
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "request served"));
    let (method, template) = route.map_or(("ANY", "unmatched"), |r| (r.method, r.path));
    telemetry::request(method, template, status, latency_ms, cold_start);
    response
}
