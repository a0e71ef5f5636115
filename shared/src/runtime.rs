//! The Lambda entry point every function's `main` calls.

use std::{convert::Infallible, sync::Arc};

use lambda_http::{service_fn, Request};

use crate::{
    app::App,
    web::{Route, Router},
};

/// JSON logs in Lambda (for CloudWatch's JSON log format), readable text elsewhere; level from
/// `RUST_LOG` or `AWS_LAMBDA_LOG_LEVEL` (default `info`).
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("AWS_LAMBDA_LOG_LEVEL").map(|l| l.to_lowercase()))
        .unwrap_or_else(|_| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::new(level);
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let _ = if in_lambda || std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .try_init()
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .try_init()
    };
}

/// Loads the configuration (a bad one stops the cold start with a message naming the variable)
/// and serves the function's route `tables` until the runtime shuts the container down.
pub async fn run(function: &'static str, tables: &[&'static [Route]]) -> Result<(), lambda_http::Error> {
    init_tracing();
    let router = Arc::new(Router::new(tables));
    let app = match App::from_env().await {
        Ok(app) => Arc::new(app),
        Err(error) => {
            tracing::error!(%error, function, "cold start aborted");
            return Err(error.into());
        }
    };
    lambda_http::run(service_fn(move |req: Request| {
        let (app, router) = (Arc::clone(&app), Arc::clone(&router));
        async move { Ok::<_, Infallible>(crate::web::handle(&app, &router, req).await) }
    }))
    .await
}
