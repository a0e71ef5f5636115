//! Metrics as CloudWatch reads them: Embedded Metric Format documents written after a request.
//! A test binary of its own, because installing the recorder is process-wide and permanent.

use api_tests::{tenant_id, token, TestApp};
use http::StatusCode;
use local::dynamo_proxy::Mode;
use serde_json::Value;

/// The EMF documents `flush` writes, one JSON object per line.
fn flushed() -> Vec<Value> {
    let mut out = Vec::new();
    shared::telemetry::flush(&mut out);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The document whose dimensions include `dimension = value`.
fn document<'a>(docs: &'a [Value], dimension: &str, value: &str) -> &'a Value {
    docs.iter()
        .find(|d| d[dimension] == value)
        .unwrap_or_else(|| panic!("no document for {dimension}={value}: {docs:#?}"))
}

#[tokio::test]
async fn requests_latency_5xx_and_throttles_become_emf_metrics() {
    assert!(shared::telemetry::init("CampaignApiTest", "tests"));
    let (proxy, settings) = api_tests::proxied_settings(&[("DYNAMODB_MAX_ATTEMPTS", "1")]).await;
    let app = TestApp::with(settings).await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    assert_eq!(app.get("/v1/tenant", &owner).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/nowhere", &owner).await.status, StatusCode::NOT_FOUND);
    proxy.set_mode(Mode::Throttle);
    assert_eq!(
        app.get("/v1/organizations", &owner).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let docs = flushed();
    for doc in &docs {
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "CampaignApiTest", "{doc}");
        assert_eq!(doc["function"], "tests", "{doc}");
        assert!(directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .contains(&Value::from("function")));
        assert!(doc["_aws"]["Timestamp"].as_u64().is_some(), "{doc}");
    }
    let ok = document(&docs, "route", "/v1/tenant");
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["requests"], 1);
    assert!(
        ok["latency"]
            .as_array()
            .is_some_and(|v| v.len() == 1 && v[0].as_f64().unwrap() >= 0.0),
        "{ok}"
    );
    assert!(ok.get("server_errors").is_none(), "{ok}");
    assert_eq!(document(&docs, "route", "unmatched")["requests"], 1);
    let failed = document(&docs, "route", "/v1/organizations");
    assert_eq!(
        (failed["requests"].clone(), failed["server_errors"].clone()),
        (1.into(), 1.into())
    );
    let throttled = docs
        .iter()
        .find(|d| d.get("dynamodb_throttles").is_some())
        .expect("a throttle");
    assert!(throttled["operation"].is_string(), "{throttled}");
    assert!(
        docs.iter().any(|d| d["cold_starts"] == 1),
        "the first request was a cold start"
    );
    // What was flushed is gone: the next flush has no requests.
    assert!(!flushed().iter().any(|d| d.get("requests").is_some()));
}
