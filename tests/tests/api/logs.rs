//! Log lines as CloudWatch Logs Insights reads them: one JSON object per line, `level` and
//! `message` at top level, and on every line of a request the request's context.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use api_tests::{tenant_id, token, TestApp, SECRET};
use lambda_http::{lambda_runtime::Config, Body, Context, RequestExt};
use serde_json::Value;
use shared::{
    logging::{subscriber, LogSettings},
    Function,
};
use tracing::instrument::WithSubscriber;

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"))
            })
            .collect()
    }
}

/// The invocation context the runtime attaches (`Context` is non-exhaustive: set field by field).
fn lambda_context() -> Context {
    let mut context = Context::default();
    context.request_id = "lambda-request-1".into();
    // The invocation's deadline, in Unix milliseconds: the handler's time budget ends before it.
    context.deadline = (chrono::Utc::now().timestamp_millis() + 10_000) as u64;
    context.xray_trace_id = Some("Root=1-67891233-abcdef012345678912345678".into());
    context.env_config = Arc::new(Config {
        function_name: "campaign-api-tenants".into(),
        ..Config::default()
    });
    context
}

fn lambda_request(path: &str, token: &str) -> lambda_http::Request {
    http::Request::builder()
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap()
        .with_lambda_context(lambda_context())
}

async fn served_lines(app: &TestApp, requests: Vec<lambda_http::Request>) -> (Vec<Value>, Vec<String>) {
    let captured = Captured::default();
    let writer = captured.clone();
    let settings = LogSettings {
        json: true,
        level: "info".into(),
    };
    let logs = subscriber(&settings, move || writer.clone());
    let mut ids = Vec::new();
    async {
        for request in requests {
            let r = app.send(Some(Function::Tenants), request).await;
            ids.push(r.header("x-request-id").unwrap().to_owned());
        }
    }
    .with_subscriber(logs)
    .await;
    (captured.lines(), ids)
}

#[tokio::test]
async fn every_request_line_is_flat_json_with_the_request_context_and_never_the_token() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let jwt = token("user-7", Some(&t), &[]);
    let (lines, ids) = served_lines(
        &app,
        vec![
            lambda_request("/v1/tenant", &jwt),
            lambda_request("/v1/tenant", &jwt),
        ],
    )
    .await;
    let served: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request served")
        .collect();
    assert_eq!(served.len(), 2, "{lines:#?}");
    for (line, id) in served.iter().zip(&ids) {
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["request_id"], id.as_str(), "the x-request-id the client got");
        assert_eq!(line["lambda_request_id"], "lambda-request-1");
        assert_eq!(line["xray_trace_id"], "Root=1-67891233-abcdef012345678912345678");
        assert_eq!(line["function"], "campaign-api-tenants");
        assert_eq!(line["route"], "GET /v1/tenant");
        assert_eq!(line["status"], 200);
        assert_eq!(line["tenant"], t.as_str());
        assert_eq!(line["sub"], "user-7");
        assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
        assert!(line["cold_start"].is_boolean(), "{line}");
        assert!(
            line.get("fields").is_none() && line.get("span").is_none(),
            "nested: {line}"
        );
    }
    assert_eq!(
        served[1]["cold_start"], false,
        "only a process's first request is cold"
    );
    let text = lines.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains(&jwt), "a token reached the logs");
    // The first request provisioned the tenant: that line carries the request's context too.
    let provisioned = lines
        .iter()
        .find(|l| l["message"] == "tenant provisioned just in time")
        .expect("provisioning line");
    assert_eq!(provisioned["request_id"], ids[0].as_str());
    assert_eq!(provisioned["route"], "GET /v1/tenant");
}

#[tokio::test]
async fn a_refused_request_is_logged_with_what_is_known() {
    let app = TestApp::new().await;
    let forged = local::token::sign_hs256(
        b"not-the-secret-at-all-not-the-secret",
        &api_tests::claims(serde_json::json!({})),
    );
    assert_ne!(SECRET.as_bytes(), b"not-the-secret-at-all-not-the-secret");
    let (lines, _) = served_lines(&app, vec![lambda_request("/v1/tenant", &forged)]).await;
    let served = lines
        .iter()
        .find(|l| l["message"] == "request served")
        .expect("served line");
    assert_eq!(served["status"], 401);
    assert_eq!(served["route"], "GET /v1/tenant");
    assert!(
        served.get("sub").is_none() && served.get("tenant").is_none(),
        "{served}"
    );
    assert!(!lines.iter().any(|l| l.to_string().contains(&forged)));
}
