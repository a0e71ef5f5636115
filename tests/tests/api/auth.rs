use std::time::Duration;

use api_tests::{claims, keys, keys::SigningKey, token, JwksServer, Settings, TestApp, SECRET};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn hs256(claims: &Value) -> String {
    local::token::sign_hs256(SECRET.as_bytes(), claims)
}

async fn status_of(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let r = app.get("/v1/tenant", token).await;
    (r.status, r.body)
}

fn assert_unauthorized(result: (StatusCode, Value), what: &str) {
    assert_eq!(result.0, StatusCode::UNAUTHORIZED, "{what}: {}", result.1);
    assert_eq!(result.1["code"], "unauthorized", "{what}");
    assert_eq!(result.1["status"], 401, "{what}");
}

#[tokio::test]
async fn missing_or_malformed_authorization_is_401_problem() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/v1/tenant", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert!(r.header("x-request-id").is_some_and(|id| !id.is_empty()));
    assert_eq!(r.body["request_id"].as_str(), r.header("x-request-id"));
    for header in ["Basic abc", "Bearer", "Bearer not.a.jwt", "Bearer a.b", "token"] {
        let r = app
            .call_raw(
                Method::GET,
                "/v1/tenant",
                None,
                None,
                &[("authorization", header)],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{header}");
    }
}

#[tokio::test]
async fn time_claims_are_enforced_with_small_leeway() {
    let app = TestApp::new().await;
    let now = chrono::Utc::now().timestamp();
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"exp": now - 3600})))).await,
        "expired",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"nbf": now + 3600})))).await,
        "not yet valid",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"exp": null})))).await,
        "no exp",
    );
    // Within the 30 s leeway both are accepted.
    let t = tenant();
    let ok = hs256(&claims(json!({"exp": now - 5, "nbf": now + 5, "tenant_id": t})));
    assert_eq!(status_of(&app, &ok).await.0, StatusCode::OK);
}

fn tenant() -> String {
    api_tests::tenant_id()
}

#[tokio::test]
async fn wrong_signature_and_alg_none_are_rejected() {
    let app = TestApp::new().await;
    let c = claims(json!({"tenant_id": tenant()}));
    let forged = local::token::sign_hs256(b"some-other-secret-some-other-secret!!", &c);
    assert_unauthorized(status_of(&app, &forged).await, "wrong secret");

    // Same payload, signature of another token.
    let good = hs256(&c);
    let other = hs256(&claims(json!({"sub": "someone-else"})));
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert_unauthorized(status_of(&app, &spliced).await, "spliced signature");

    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(c.to_string());
    for token in [
        format!("{none_header}.{payload}."),
        format!("{none_header}.{payload}"),
    ] {
        assert_unauthorized(status_of(&app, &token).await, "alg none");
    }
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &c,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_unauthorized(status_of(&app, &hs512).await, "HS512 not on the allow-list");
    assert_eq!(status_of(&app, &good).await.0, StatusCode::OK);
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let mut settings = Settings::default();
    settings.vars.insert("JWT_ISSUER", "https://issuer.test/".into());
    settings.vars.insert("JWT_AUDIENCE", "campaign-api".into());
    let app = TestApp::with(settings).await;
    let t = tenant();
    let base = json!({"tenant_id": t, "iss": "https://issuer.test/", "aud": "campaign-api"});
    let with = |patch: Value| {
        let mut c = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        hs256(&claims(c))
    };
    assert_eq!(status_of(&app, &with(json!({}))).await.0, StatusCode::OK);
    assert_unauthorized(
        status_of(&app, &with(json!({"iss": "https://evil.test/"}))).await,
        "wrong iss",
    );
    assert_unauthorized(
        status_of(&app, &with(json!({"aud": "other-api"}))).await,
        "wrong aud",
    );
    assert_unauthorized(status_of(&app, &with(json!({"iss": null}))).await, "missing iss");
    assert_unauthorized(status_of(&app, &with(json!({"aud": null}))).await, "missing aud");
    assert_eq!(
        status_of(&app, &with(json!({"aud": ["x", "campaign-api"]})))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sub_and_tenant_claims_are_required_and_checked() {
    let app = TestApp::new().await;
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"sub": null})))).await,
        "no sub",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"sub": ""})))).await,
        "empty sub",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"sub": 42})))).await,
        "numeric sub",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"tenant_id": null})))).await,
        "no tenant",
    );
    let long = "x".repeat(129);
    for bad in [
        "a#b",
        "acme#TENANT",
        "",
        " acme",
        "a b",
        "-acme",
        "../x",
        "é",
        long.as_str(),
    ] {
        assert_unauthorized(
            status_of(&app, &hs256(&claims(json!({"tenant_id": bad})))).await,
            bad,
        );
    }
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"tenant_id": 7})))).await,
        "numeric tenant",
    );
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"roles": "tenant_admin"})))).await,
        "roles not an array",
    );
    // Nothing was written for any rejected token.
    assert!(app.all_partition_keys().await.is_empty());
}

#[tokio::test]
async fn tenant_claim_name_is_configurable() {
    let mut settings = Settings::default();
    settings.vars.insert("TENANT_CLAIM", "custom:tenant_id".into());
    let app = TestApp::with(settings).await;
    let t = tenant();
    let r = app
        .get(
            "/v1/tenant",
            &hs256(&claims(json!({"tenant_id": null, "custom:tenant_id": t}))),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], t);
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"tenant_id": t})))).await,
        "default claim ignored",
    );
}

async fn jwks_app(server: &JwksServer, hs_secret: bool, min_refresh: Duration) -> TestApp {
    let mut settings = Settings::default();
    if !hs_secret {
        settings.vars.remove("JWT_HS256_SECRET");
    }
    settings.vars.insert("JWT_JWKS_URL", server.url.clone());
    settings.jwks_min_refresh = min_refresh;
    TestApp::with(settings).await
}

#[tokio::test]
async fn jwks_tokens_verify_and_keys_are_cached() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let server = JwksServer::start(keys::jwks(&[&rsa, &ec]));
    let app = jwks_app(&server, false, Duration::from_secs(10)).await;
    let t = tenant();
    for key in [&rsa, &ec] {
        for _ in 0..3 {
            let r = app
                .get("/v1/tenant", &key.sign(&claims(json!({"tenant_id": t}))))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}: {}", key.alg, r.body);
        }
    }
    assert_eq!(server.hits(), 1, "the key set is downloaded once and cached");

    // HS256 is refused outright when no shared secret is configured.
    assert_unauthorized(
        status_of(&app, &hs256(&claims(json!({"tenant_id": t})))).await,
        "HS256 without secret",
    );
}

#[tokio::test]
async fn unknown_kid_refreshes_the_key_set() {
    let old = SigningKey::ec("old");
    let new = SigningKey::rsa("new");
    let server = JwksServer::start(keys::jwks(&[&old]));
    let app = jwks_app(&server, false, Duration::ZERO).await;
    let t = tenant();
    assert_eq!(
        app.get("/v1/tenant", &old.sign(&claims(json!({"tenant_id": t}))))
            .await
            .status,
        StatusCode::OK
    );
    server.set(keys::jwks(&[&old, &new]));
    let r = app
        .get("/v1/tenant", &new.sign(&claims(json!({"tenant_id": t}))))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(server.hits(), 2);
    // A kid that is nowhere is still a 401 after the refresh.
    let stranger = SigningKey::ec("stranger");
    assert_unauthorized(
        status_of(&app, &stranger.sign(&claims(json!({"tenant_id": t})))).await,
        "unknown kid",
    );
}

#[tokio::test]
async fn unknown_kid_floods_do_not_flood_the_identity_provider() {
    let known = SigningKey::ec("known");
    let server = JwksServer::start(keys::jwks(&[&known]));
    let app = jwks_app(&server, false, Duration::from_secs(60)).await;
    let t = tenant();
    assert_eq!(
        app.get("/v1/tenant", &known.sign(&claims(json!({"tenant_id": t}))))
            .await
            .status,
        StatusCode::OK
    );
    for i in 0..10 {
        let forged = SigningKey::ec(&format!("forged-{i}"));
        assert_unauthorized(
            status_of(&app, &forged.sign(&claims(json!({"tenant_id": t})))).await,
            "forged kid",
        );
    }
    assert_eq!(server.hits(), 1, "no refresh inside the minimum interval");
}

#[tokio::test]
async fn algorithm_confusion_is_rejected() {
    let rsa = SigningKey::rsa("rsa-1");
    let ec = SigningKey::ec("ec-1");
    let server = JwksServer::start(keys::jwks(&[&rsa, &ec]));
    let app = jwks_app(&server, true, Duration::from_secs(10)).await;
    let c = claims(json!({"tenant_id": tenant()}));

    // HS256 "signed" with the RSA public key material, kid pointing at the RSA key.
    let public = rsa.jwk().to_string();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(&header, &c, &EncodingKey::from_secret(public.as_bytes())).unwrap();
    assert_unauthorized(
        status_of(&app, &confused).await,
        "HS256 with the public key as secret",
    );

    // An ES256 token whose kid names the RSA key, and the other way round.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rsa-1".into());
    assert_unauthorized(
        status_of(&app, &ec.sign_with_header(header, &c)).await,
        "ES256 against an RSA key",
    );
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ec-1".into());
    assert_unauthorized(
        status_of(&app, &rsa.sign_with_header(header, &c)).await,
        "RS256 against an EC key",
    );

    // The honest tokens pass.
    assert_eq!(status_of(&app, &rsa.sign(&c)).await.0, StatusCode::OK);
    assert_eq!(status_of(&app, &ec.sign(&c)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_token_for_another_secret_cannot_read_anything() {
    let app = TestApp::new().await;
    let t = tenant();
    assert_eq!(
        app.get("/v1/tenant", &token("u", Some(&t), &[])).await.status,
        StatusCode::OK
    );
    let forged = local::token::dev_token(
        b"guessed-secret-guessed-secret-guessed",
        "u",
        Some(&t),
        &["platform_admin"],
        600,
    );
    for path in ["/v1/tenant", "/v1/tenants", &format!("/v1/tenants/{t}")] {
        assert_eq!(
            app.get(path, &forged).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
}
