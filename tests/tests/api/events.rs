//! The sample events in `events/` (for `cargo lambda invoke --data-file`) decode as API Gateway
//! HTTP API payload 2.0 requests and get the expected answer from the function that owns the
//! route, so the README's invoke examples keep working.

use std::{collections::BTreeMap, path::PathBuf};

use api_tests::{Settings, TestApp};
use http::StatusCode;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use local::token::{DEV_CURSOR_SECRET, DEV_JWT_SECRET};
use serde_json::Value;
use shared::web::router::{table, Function};

/// What each event must produce on a fresh table. A new event file needs an entry here.
const EXPECTED: &[(&str, u16)] = &[
    ("tenants-get-current", 200),
    ("tenants-list", 200),
    ("organizations-create", 201),
    ("organizations-create-base64", 201),
    ("organizations-list", 200),
    ("memberships-my-organizations", 200),
    ("invitations-accept", 404),
    ("campaigns-list", 200),
    ("campaigns-list-staging", 200),
    ("campaigns-get", 404),
    ("jobs-get", 404),
];

fn events_dir() -> PathBuf {
    local::dynamodb_local::repo_root().join("events")
}

fn event_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(events_dir()).expect("events/ exists") {
        let path = entry.expect("readable events/").path();
        if path.extension().is_some_and(|e| e == "json") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(stem, std::fs::read_to_string(&path).expect("readable event"));
        }
    }
    files
}

fn dev_app_settings() -> Settings {
    let mut settings = Settings::default();
    settings
        .vars
        .insert("JWT_HS256_SECRET", DEV_JWT_SECRET.to_owned());
    settings
        .vars
        .insert("CURSOR_SECRET", DEV_CURSOR_SECRET.to_owned());
    settings
}

/// The function the template wires to the event's route key (`ANY /v1/...`).
fn function_of(event: &Value) -> Function {
    let route_key = event["routeKey"].as_str().expect("routeKey");
    let pattern = route_key
        .strip_prefix("ANY ")
        .expect("the template's routes are ANY");
    let route = table()
        .into_iter()
        .find(|r| r.path == pattern)
        .unwrap_or_else(|| panic!("{route_key} is not a route of the API"));
    let raw_path = event["rawPath"].as_str().expect("rawPath");
    // On a named stage, API Gateway's rawPath starts with the stage (`/staging/v1/...`).
    let raw_path = match event["requestContext"]["stage"].as_str() {
        Some(stage) if stage != "$default" => raw_path
            .strip_prefix(&format!("/{stage}"))
            .unwrap_or_else(|| panic!("rawPath {raw_path} lacks the stage {stage}")),
        _ => raw_path,
    };
    assert_eq!(
        Function::serving(raw_path),
        Some(route.function),
        "rawPath {raw_path} does not match {route_key}"
    );
    route.function
}

#[test]
fn every_event_has_an_expectation_and_every_function_an_event() {
    let files = event_files();
    let expected: Vec<&str> = EXPECTED.iter().map(|(name, _)| *name).collect();
    let mut names: Vec<&str> = files.keys().map(String::as_str).collect();
    let mut sorted_expected = expected.clone();
    names.sort();
    sorted_expected.sort();
    assert_eq!(names, sorted_expected, "events/*.json and EXPECTED differ");
    for function in Function::ALL {
        assert!(
            files.values().any(|raw| {
                let event: Value = serde_json::from_str(raw).expect("event is JSON");
                function_of(&event) == *function
            }),
            "no sample event for the {} function",
            function.name()
        );
    }
}

#[test]
fn event_tokens_verify_with_the_dev_secret_for_decades() {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_aud = false;
    let key = DecodingKey::from_secret(DEV_JWT_SECRET.as_bytes());
    let in_ten_years = chrono::Utc::now().timestamp() + 10 * 365 * 24 * 3600;
    for (name, raw) in event_files() {
        let event: Value = serde_json::from_str(&raw).unwrap();
        let header = event["headers"]["authorization"].as_str().unwrap_or_default();
        let token = header
            .strip_prefix("Bearer ")
            .unwrap_or_else(|| panic!("{name}: no bearer token"));
        let claims = decode::<Value>(token, &key, &validation)
            .unwrap_or_else(|e| panic!("{name}: token does not verify: {e}"))
            .claims;
        assert!(
            claims["exp"].as_i64().unwrap_or(0) > in_ten_years,
            "{name}: token expires too soon for a checked-in sample"
        );
    }
}

#[tokio::test]
async fn each_event_gets_its_answer_from_its_function() {
    let app = TestApp::with(dev_app_settings()).await;
    let expected: BTreeMap<&str, u16> = EXPECTED.iter().copied().collect();
    for (name, raw) in event_files() {
        let event: Value = serde_json::from_str(&raw).unwrap();
        let function = function_of(&event);
        let request = lambda_http::request::from_str(&raw)
            .unwrap_or_else(|e| panic!("{name}: not an API Gateway event: {e}"));
        let response = app.send(Some(function), request).await;
        let want = StatusCode::from_u16(expected[name.as_str()]).unwrap();
        assert_eq!(response.status, want, "{name}: {}", response.body);
        assert_eq!(
            response.header("x-request-id"),
            event["requestContext"]["requestId"].as_str(),
            "{name}: the API Gateway request id is echoed"
        );
        let content_type = response.header("content-type").unwrap_or_default();
        if want.is_success() {
            assert_eq!(content_type, "application/json", "{name}");
            if response.body.get("data").is_some() {
                assert!(response.body["has_more"].is_boolean(), "{name}: a page");
            } else {
                assert!(response.body["id"].is_string(), "{name}: a resource");
            }
        } else {
            assert_eq!(content_type, "application/problem+json", "{name}");
            assert_eq!(response.body["status"], want.as_u16(), "{name}");
        }
    }
}

#[tokio::test]
async fn replaying_the_create_event_returns_the_first_response() {
    let app = TestApp::with(dev_app_settings()).await;
    let raw = &event_files()["organizations-create"];
    let send = || async {
        let request = lambda_http::request::from_str(raw).unwrap();
        app.send(Some(Function::Organizations), request).await
    };
    let first = send().await;
    let second = send().await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(first.body["name"], "Acme Corporation");
}
