//! Faults on real sockets: a DynamoDB that stalls, throttles, fails or is gone answers 503
//! promptly and leaves nothing half-written; a commit whose answer is lost replays on retry;
//! requests the local server refuses before the handler are still problem+json.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use api_tests::{
    assert_problem, create_campaign, create_org, tenant_id, token, walk_pages, Settings, TestApp,
};
use http::StatusCode;
use local::dynamo_proxy::{DynamoProxy, Mode};
use serde_json::json;
use shared::store::StoreError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Short SDK timeouts, so a stalled table is found out in well under a second per call.
fn impatient(endpoint: Option<String>) -> Settings {
    let mut settings = Settings {
        endpoint,
        ..Default::default()
    };
    for (name, value) in [
        ("DYNAMODB_CONNECT_TIMEOUT_MS", "200"),
        ("DYNAMODB_ATTEMPT_TIMEOUT_MS", "250"),
        ("DYNAMODB_OPERATION_TIMEOUT_MS", "600"),
        ("DYNAMODB_MAX_ATTEMPTS", "2"),
        ("TENANT_CACHE_TTL_SECONDS", "0"),
    ] {
        settings.vars.insert(name, value.to_owned());
    }
    settings
}

async fn proxied() -> (DynamoProxy, TestApp) {
    let proxy = DynamoProxy::start(api_tests::dynamodb_endpoint())
        .await
        .expect("proxy");
    let app = TestApp::with(impatient(Some(proxy.endpoint.clone()))).await;
    (proxy, app)
}

fn assert_unavailable(r: &api_tests::TestResponse) {
    assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    let detail = r.body["detail"].as_str().unwrap_or_default();
    assert!(
        !detail.contains("Exception") && !detail.contains("dispatch"),
        "no SDK text: {detail}"
    );
}

#[tokio::test]
async fn a_stalled_dynamodb_answers_503_promptly_and_writes_nothing_half() {
    let (proxy, app) = proxied().await;
    let t = tenant_id();
    let owner = token("owner", Some(&t), &[]);
    let org = create_org(&app, &owner, "Stalled").await;
    create_campaign(&app, &owner, &org, "Before").await;

    proxy.set_mode(Mode::Stall);
    for (method, path, body) in [
        (http::Method::GET, "/v1/organizations", None),
        (
            http::Method::POST,
            "/v1/campaigns",
            Some(json!({"organization_id": org, "name": "During"})),
        ),
    ] {
        let started = Instant::now();
        let r = app.call(method, path, Some(&owner), body.as_ref()).await;
        let took = started.elapsed();
        assert_unavailable(&r);
        assert!(took < Duration::from_secs(3), "{path}: answered after {took:?}");
    }

    proxy.set_mode(Mode::Pass);
    let campaigns = walk_pages(&app, "/v1/campaigns", &owner).await;
    let count = app.get(&format!("/v1/organizations/{org}"), &owner).await.body["campaign_count"].clone();
    assert_eq!(
        count,
        campaigns.len(),
        "the counter matches what exists: no half-written campaign"
    );
}

#[tokio::test]
async fn the_request_budget_bounds_a_request_whatever_the_sdk_waits() {
    let (proxy, settings) = api_tests::proxied_settings(&[("REQUEST_TIMEOUT_MS", "400")]).await;
    let app = TestApp::with(settings).await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    proxy.set_mode(Mode::Stall);
    let started = Instant::now();
    let r = app.get("/v1/organizations", &owner).await;
    assert_unavailable(&r);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn throttling_and_dynamodb_errors_are_503_with_retry_after() {
    let (proxy, app) = proxied().await;
    let t = tenant_id();
    let owner = token("owner", Some(&t), &[]);
    let org = create_org(&app, &owner, "Throttled").await;
    for mode in [Mode::Throttle, Mode::ServerError] {
        proxy.set_mode(mode);
        assert_unavailable(&app.get(&format!("/v1/organizations/{org}"), &owner).await);
        assert_unavailable(
            &app.post(
                "/v1/campaigns",
                &owner,
                json!({"organization_id": org, "name": "Nope"}),
            )
            .await,
        );
    }
    proxy.set_mode(Mode::Pass);
    assert!(walk_pages(&app, "/v1/campaigns", &owner).await.is_empty());
}

#[tokio::test]
async fn a_dynamodb_that_is_gone_is_503_not_500() {
    let dead = format!("http://127.0.0.1:{}", local::dynamodb_local::free_port().unwrap());
    let app = TestApp::with(impatient(Some(dead))).await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    let started = Instant::now();
    assert_unavailable(&app.get("/v1/organizations", &owner).await);
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A fault after the commit: the SDK reports an error although the transaction went through.
fn lose_the_first_answer_of(operation: &'static str) -> (Settings, Arc<AtomicUsize>) {
    let fired = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&fired);
    let settings = Settings {
        after_commit: Some(Arc::new(move |op| {
            (op == operation && seen.fetch_add(1, Ordering::SeqCst) == 0).then_some(StoreError::Unavailable)
        })),
        ..Default::default()
    };
    (settings, fired)
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_replays_and_writes_once() {
    let (settings, fired) = lose_the_first_answer_of("create_org");
    let app = TestApp::with(settings).await;
    let t = tenant_id();
    let owner = token("owner", Some(&t), &[]);
    let body = json!({"name": "Exactly once"});
    let first = app
        .post_with_key("/v1/organizations", &owner, &body, "once")
        .await;
    assert_unavailable(&first);
    assert_eq!(fired.load(Ordering::SeqCst), 1);

    let retry = app
        .post_with_key("/v1/organizations", &owner, &body, "once")
        .await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let orgs = walk_pages(&app, "/v1/organizations", &owner).await;
    assert_eq!(orgs.len(), 1, "one organization, not two");
    assert_eq!(orgs[0]["id"], retry.body["id"]);
    assert_eq!(orgs[0]["member_count"], 1);
}

#[tokio::test]
async fn a_lost_campaign_commit_replays_and_counts_once() {
    let (settings, _) = lose_the_first_answer_of("create_campaign");
    let app = TestApp::with(settings).await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    let org = create_org(&app, &owner, "Org").await;
    let body = json!({"organization_id": org, "name": "Once"});
    assert_unavailable(&app.post_with_key("/v1/campaigns", &owner, &body, "c").await);
    let retry = app.post_with_key("/v1/campaigns", &owner, &body, "c").await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(walk_pages(&app, "/v1/campaigns", &owner).await.len(), 1);
    let org = app.get(&format!("/v1/organizations/{org}"), &owner).await;
    assert_eq!(org.body["campaign_count"], 1);
}

#[tokio::test]
async fn a_failure_before_the_commit_lets_the_retry_run() {
    let (proxy, app) = proxied().await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    let org = create_org(&app, &owner, "Org").await;
    let body = json!({"organization_id": org, "name": "Later"});
    // The claim goes through, the transaction is throttled: nothing committed, the key is free.
    proxy.set_mode(Mode::Throttle);
    assert_unavailable(&app.post_with_key("/v1/campaigns", &owner, &body, "k").await);
    proxy.set_mode(Mode::Pass);
    let retry = app.post_with_key("/v1/campaigns", &owner, &body, "k").await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(
        retry.header("idempotent-replayed"),
        None,
        "it ran, it was not replayed"
    );
    assert_eq!(walk_pages(&app, "/v1/campaigns", &owner).await.len(), 1);
}

#[tokio::test]
async fn a_replay_costs_one_dynamodb_call() {
    let (proxy, app) = proxied().await;
    let owner = token("owner", Some(&tenant_id()), &[]);
    let body = json!({"name": "Cheap replay"});
    assert_eq!(
        app.post_with_key("/v1/organizations", &owner, &body, "r")
            .await
            .status,
        StatusCode::CREATED
    );
    proxy.reset_counts();
    let replay = app.post_with_key("/v1/organizations", &owner, &body, "r").await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let counts = proxy.counts();
    // The tenant lookup (the cache is off here) and the failed claim, which returns the record.
    assert_eq!(counts.get("PutItem"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetItem"), Some(&1), "{counts:?}");
    assert_eq!(proxy.total(), 2, "{counts:?}");
}

#[tokio::test]
async fn deleting_a_campaign_queries_for_jobs_only_when_it_had_some() {
    let (proxy, settings) = api_tests::proxied_settings(&[("TENANT_CACHE_TTL_SECONDS", "0")]).await;
    let app = TestApp::with(settings).await;
    let owner = token("owner", Some(&tenant_id()), &["tenant_admin"]);
    let org = create_org(&app, &owner, "Deletes").await;
    let mut deletes = Vec::new();
    for with_job in [false, true] {
        let campaign = create_campaign(&app, &owner, &org, "Short-lived").await;
        let id = campaign["id"].as_str().unwrap().to_owned();
        if with_job {
            let job = json!({"name": "Export", "job_type": "export_recipients"});
            let r = app.post(&format!("/v1/campaigns/{id}/jobs"), &owner, job).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let r = app
                .post(
                    &format!("/v1/jobs/{}/cancel", r.body["id"].as_str().unwrap()),
                    &owner,
                    json!({}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        proxy.reset_counts();
        assert_eq!(
            app.delete(&format!("/v1/campaigns/{id}"), &owner).await.status,
            StatusCode::NO_CONTENT
        );
        deletes.push(proxy.counts());
    }
    // The tenant lookup (the cache is off here), the guarded read and the transaction; the
    // jobs query (and the removal of the finished job) only for the campaign that had one.
    assert_eq!(deletes[0].get("Query"), None, "{:?}", deletes[0]);
    assert_eq!(deletes[0].get("TransactWriteItems"), Some(&1), "{:?}", deletes[0]);
    assert_eq!(deletes[1].get("Query"), Some(&1), "{:?}", deletes[1]);
    assert_eq!(deletes[1].get("BatchWriteItem"), Some(&1), "{:?}", deletes[1]);
}

/// The local server on a free port, for requests only a real socket can send.
async fn local_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(local::server::serve(app.app.clone(), listener, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// Sends raw bytes and parses the answer's status, headers and body.
async fn raw_exchange(address: &str, request: &[u8]) -> (u16, Vec<(String, String)>, serde_json::Value) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // The server may answer before it has read everything; a write error then is expected.
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (
        status,
        headers,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_local_server_answers_oversized_requests_with_problems() {
    let (address, _stop) = local_server().await;
    let token = token("u", Some(&tenant_id()), &[]);
    let big_body = "x".repeat(2 * 1024 * 1024);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            format!(
                "POST /v1/organizations HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{big_body}",
                big_body.len()
            )
            .into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            format!("GET /v1/organizations?x={} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000)).into_bytes(),
            414,
            "uri_too_long",
        ),
        (
            format!("GET /v1/organizations HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(20_000)).into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /v1/organizations HTTP/1.1\r\nhost: x\r\n{}\r\n",
                (0..150).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
        (
            format!(
                "GET /v1/organizations HTTP/1.1\r\nhost: x\r\nx-huge: {}\r\n\r\n",
                "a".repeat(600_000)
            )
            .into_bytes(),
            431,
            "headers_too_large",
        ),
    ];
    for (request, status, code) in cases {
        let (got, headers, body) = raw_exchange(&address, &request).await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["code"], code);
        let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(header("content-type"), Some("application/problem+json"));
        assert_eq!(header("x-request-id"), body["request_id"].as_str());
    }
    // And an ordinary request still works on the same server.
    let (status, _, body) = raw_exchange(
        &address,
        format!("GET /v1/tenant HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
