//! The Lambda entry point every function's `main` calls.

use std::{convert::Infallible, sync::Arc};

use lambda_http::{service_fn, Request};

use crate::{
    app::App,
    web::{Route, Router},
};

/// Loads the configuration (a bad one stops the cold start with a message naming the variable)
/// and serves the function's route `tables` until the runtime shuts the container down.
pub async fn run(function: &'static str, tables: &[&'static [Route]]) -> Result<(), lambda_http::Error> {
    crate::logging::init();
    let router = Arc::new(Router::new(tables));
    if let Some(namespace) = std::env::var("METRICS_NAMESPACE").ok().filter(|n| !n.is_empty()) {
        crate::telemetry::init(&namespace, function);
    }
    let app = match App::from_env().await {
        Ok(app) => Arc::new(app),
        Err(error) => {
            tracing::error!(%error, function, "cold start aborted");
            return Err(error.into());
        }
    };
    lambda_http::run(service_fn(move |req: Request| {
        let (app, router) = (Arc::clone(&app), Arc::clone(&router));
        async move {
            let response = crate::web::handle(&app, &router, req).await;
            // One EMF document per dimension set, on stdout, after every invocation.
            crate::telemetry::flush(std::io::stdout().lock());
            Ok::<_, Infallible>(response)
        }
    }))
    .await
}
