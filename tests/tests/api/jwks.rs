//! When the identity provider fails: one download in flight and one attempt per interval,
//! answers that never wait on someone else's download, stale keys while refreshes fail, and
//! recovery. A real HTTP endpoint in the harness serves, refuses, hangs or fails on demand; time
//! moves through the app's clock, never by sleeping.

use std::time::{Duration, Instant};

use api_tests::{
    assert_problem, claims, keys, keys::SigningKey, JwksMode, JwksServer, Settings, TestApp, SECRET,
};
use futures::future::join_all;
use http::StatusCode;
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

async fn jwks_app(server: &JwksServer, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::default();
    settings.vars.remove("JWT_HS256_SECRET");
    settings.vars.insert("JWT_JWKS_URL", server.url.clone());
    settings.vars.insert("JWT_JWKS_TIMEOUT_MS", "300".into());
    tweak(&mut settings);
    TestApp::with(settings).await
}

fn signed(key: &SigningKey, tenant: &str) -> String {
    key.sign(&claims(json!({ "tenant_id": tenant })))
}

/// `n` requests at once, each with its own forged `kid`; their answers and how long each took.
async fn forged_burst(app: &TestApp, tenant: &str, n: usize) -> Vec<(api_tests::TestResponse, Duration)> {
    let forged: Vec<String> = (0..n)
        .map(|i| signed(&SigningKey::ec(&format!("forged-{i}")), tenant))
        .collect();
    join_all(forged.iter().map(|token| async move {
        let started = Instant::now();
        let r = app.get("/v1/tenant", token).await;
        (r, started.elapsed())
    }))
    .await
}

/// An app whose key cache holds the issuer's keys, after one request with `key`, and the
/// tenant of that request.
async fn warmed_up(server: &JwksServer, key: &SigningKey) -> (TestApp, String) {
    let app = jwks_app(server, |_| {}).await;
    let t = api_tests::tenant_id();
    assert_eq!(
        app.get("/v1/tenant", &signed(key, &t)).await.status,
        StatusCode::OK
    );
    (app, t)
}

#[tokio::test]
async fn forged_kids_against_a_failing_issuer_make_one_download_and_answer_at_once() {
    for failure in [JwksMode::Fail, JwksMode::Refuse] {
        let known = SigningKey::ec("known");
        let server = JwksServer::start(keys::jwks(&[&known]));
        let (app, t) = warmed_up(&server, &known).await;
        assert_eq!(server.hits(), 1);

        server.set_mode(failure);
        // Past the minimum interval, so exactly one of them may try.
        app.clock.advance(Duration::from_secs(11));
        let hits = server.hits();
        for (r, took) in forged_burst(&app, &t, 20).await {
            assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(
                took < Duration::from_millis(100),
                "{failure:?}: answered after {took:?}"
            );
        }
        assert!(
            server.hits() - hits <= 1,
            "{failure:?}: {} downloads",
            server.hits() - hits
        );
        // And the next twenty, in the same interval, make none.
        let hits = server.hits();
        for (r, _) in forged_burst(&app, &t, 20).await {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            server.hits(),
            hits,
            "{failure:?}: a failed attempt counts against the interval"
        );
        // The real key still works throughout.
        assert_eq!(
            app.get("/v1/tenant", &signed(&known, &t)).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn without_any_key_set_a_failing_issuer_is_503_never_500() {
    let known = SigningKey::rsa("known");
    let server = JwksServer::start(keys::jwks(&[&known]));
    server.set_mode(JwksMode::Fail);
    let app = jwks_app(&server, |_| {}).await;
    let t = api_tests::tenant_id();
    let burst = forged_burst(&app, &t, 20).await;
    for (r, took) in &burst {
        assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(r.header("retry-after").is_some());
        assert!(*took < Duration::from_millis(100), "{took:?}");
    }
    assert!(server.hits() <= 1, "{} downloads", server.hits());
    let r = app.get("/v1/tenant", &signed(&known, &t)).await;
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");

    // Failures back off: 10 s after the first, 20 s after the second...
    server.set_mode(JwksMode::Serve);
    assert_eq!(
        app.get("/v1/tenant", &signed(&known, &t)).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    app.clock.advance(Duration::from_secs(11));
    let r = app.get("/v1/tenant", &signed(&known, &t)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "recovered once the issuer serves: {}",
        r.body
    );
}

#[tokio::test]
async fn a_hanging_issuer_holds_up_only_the_request_that_asked() {
    let known = SigningKey::ec("known");
    let server = JwksServer::start(keys::jwks(&[&known]));
    let (app, t) = warmed_up(&server, &known).await;
    server.set_mode(JwksMode::Hang);
    app.clock.advance(Duration::from_secs(11));
    let burst = forged_burst(&app, &t, 5).await;
    let slow = burst
        .iter()
        .filter(|(_, took)| *took >= Duration::from_millis(100))
        .count();
    assert!(
        slow <= 1,
        "only the one that started the download waits: {slow} slow"
    );
    for (r, took) in &burst {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert!(
            *took < Duration::from_millis(1500),
            "bounded by the download timeout: {took:?}"
        );
    }
    // A known kid never waits, even while the download hangs.
    let started = Instant::now();
    assert_eq!(
        app.get("/v1/tenant", &signed(&known, &t)).await.status,
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn stale_keys_keep_working_while_refreshes_fail_for_a_bounded_time() {
    let known = SigningKey::rsa("known");
    let server = JwksServer::start(keys::jwks(&[&known]));
    let app = jwks_app(&server, |_| {}).await;
    let t = api_tests::tenant_id();
    let token = || signed(&known, &t);
    assert_eq!(app.get("/v1/tenant", &token()).await.status, StatusCode::OK);

    server.set_mode(JwksMode::Fail);
    app.clock.advance(2 * HOUR);
    let r = app.get("/v1/tenant", &token()).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "past the hour, the keys in memory still serve: {}",
        r.body
    );
    wait_for_hits(&server, 2).await;
    app.clock.advance(20 * HOUR);
    assert_eq!(app.get("/v1/tenant", &token()).await.status, StatusCode::OK);
    wait_for_hits(&server, 3).await;

    // Past the hour of freshness plus a day of grace: no usable keys any more.
    app.clock.advance(3 * HOUR);
    let r = app.get("/v1/tenant", &token()).await;
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");

    // Recovery, with a rotation in the meantime.
    let rotated = SigningKey::ec("rotated");
    server.set(keys::jwks(&[&rotated]));
    server.set_mode(JwksMode::Serve);
    app.clock.advance(Duration::from_secs(600));
    let r = app.get("/v1/tenant", &signed(&rotated, &t)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app.get("/v1/tenant", &token()).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_age() {
    let first = SigningKey::ec("first");
    let server = JwksServer::start(keys::jwks(&[&first]));
    server.set_cache_control(Some("public, max-age=120"));
    let app = jwks_app(&server, |_| {}).await;
    let t = api_tests::tenant_id();
    assert_eq!(
        app.get("/v1/tenant", &signed(&first, &t)).await.status,
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(
        app.get("/v1/tenant", &signed(&first, &t)).await.status,
        StatusCode::OK
    );
    assert_eq!(server.hits(), 1, "fresh for 120 s");
    app.clock.advance(Duration::from_secs(90));
    assert_eq!(
        app.get("/v1/tenant", &signed(&first, &t)).await.status,
        StatusCode::OK
    );
    // The stale set served at once and started a refresh in the background.
    wait_for_hits(&server, 2).await;
}

/// Background refreshes finish on their own time: waits (boundedly) until `n` downloads came.
async fn wait_for_hits(server: &JwksServer, n: usize) {
    for _ in 0..200 {
        if server.hits() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.hits(), n, "downloads");
}

#[tokio::test]
async fn crit_header_parameters_are_refused() {
    let app = TestApp::new().await;
    let t = api_tests::tenant_id();
    let c = claims(json!({ "tenant_id": t }));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.crit = Some(vec!["exp-x".into()]);
    let token = jsonwebtoken::encode(
        &header,
        &c,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let r = app.get("/v1/tenant", &token).await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");
    let plain = local::token::sign_hs256(SECRET.as_bytes(), &c);
    assert_eq!(app.get("/v1/tenant", &plain).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_dev_secret_is_accepted_only_without_any_key_source() {
    let dev = |t: &str| {
        local::token::sign_hs256(
            shared::config::DEV_JWT_SECRET.as_bytes(),
            &claims(json!({ "tenant_id": t })),
        )
    };
    let t = api_tests::tenant_id();
    let server = JwksServer::start(keys::jwks(&[&SigningKey::ec("k")]));
    let jwks_only = jwks_app(&server, |s| {
        s.vars.insert("JWT_HS256_SECRET", String::new());
    })
    .await;
    assert_problem(
        &jwks_only.get("/v1/tenant", &dev(&t)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let mut nothing = Settings::default();
    nothing.vars.remove("JWT_HS256_SECRET");
    let dev_app = TestApp::with(nothing).await;
    assert_eq!(dev_app.get("/v1/tenant", &dev(&t)).await.status, StatusCode::OK);
    let own = TestApp::new().await;
    assert_eq!(
        own.get("/v1/tenant", &dev(&t)).await.status,
        StatusCode::UNAUTHORIZED
    );
}
