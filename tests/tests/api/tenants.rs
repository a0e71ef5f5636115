use api_tests::{platform_admin, tenant_admin, tenant_id, token, user, TestApp};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn tenant_admin_renames_the_tenant() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let r = app
        .patch(
            "/v1/tenant",
            &tenant_admin(&t),
            json!({"name": "  Acme Corp  ", "id": "ignored", "updated_at": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Acme Corp");
    assert_eq!(r.body["id"], t);
    assert_eq!(app.get("/v1/tenant", &user(&t)).await.body["name"], "Acme Corp");
}

#[tokio::test]
async fn only_tenant_admins_rename() {
    let app = TestApp::new().await;
    let t = tenant_id();
    for roles in [&[][..], &["platform_admin"][..], &["member"][..]] {
        let r = app
            .patch(
                "/v1/tenant",
                &token("u", Some(&t), roles),
                json!({"name": "Nope"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{roles:?}");
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(app.get("/v1/tenant", &user(&t)).await.body["name"], t);
}

#[tokio::test]
async fn bad_tenant_bodies_change_nothing() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let before = app.get("/v1/tenant", &admin).await.body;
    let cases: Vec<(Option<&str>, StatusCode, Option<&str>)> = vec![
        (Some("not json"), StatusCode::BAD_REQUEST, None),
        (Some("[1,2]"), StatusCode::BAD_REQUEST, None),
        (Some("\"name\""), StatusCode::BAD_REQUEST, None),
        (None, StatusCode::BAD_REQUEST, None),
        (
            Some(r#"{"name": ""}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            Some(r#"{"name": "   "}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            Some(r#"{"name": 12}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            Some(r#"{"name": null}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("name"),
        ),
        (
            Some(r#"{"nmae": "typo"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("nmae"),
        ),
    ];
    let long = json!({"name": "x".repeat(201)}).to_string();
    let mut cases = cases;
    cases.push((
        Some(long.as_str()),
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("name"),
    ));
    for (body, status, field) in cases {
        let r = app
            .call_raw(Method::PATCH, "/v1/tenant", Some(&admin), body, &[])
            .await;
        assert_eq!(r.status, status, "{body:?}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        if let Some(field) = field {
            assert_eq!(r.code(), "validation_failed");
            assert!(r.body["errors"][field].is_array(), "{body:?}: {}", r.body);
        } else {
            assert_eq!(r.code(), "bad_request");
            assert!(r.body.get("errors").is_none());
        }
    }
    assert_eq!(app.get("/v1/tenant", &admin).await.body, before);
}

#[tokio::test]
async fn platform_routes_need_platform_admin() {
    let app = TestApp::new().await;
    let t = tenant_id();
    app.get("/v1/tenant", &user(&t)).await;
    for token in [user(&t), tenant_admin(&t), token("x", None, &["admin"])] {
        for (method, path) in [
            (Method::GET, "/v1/tenants".to_owned()),
            (Method::GET, format!("/v1/tenants/{t}")),
            (Method::PATCH, format!("/v1/tenants/{t}")),
            (Method::DELETE, format!("/v1/tenants/{t}")),
        ] {
            let body = (method == Method::PATCH).then(|| json!({"status": "suspended"}));
            let r = app.call(method.clone(), &path, Some(&token), body.as_ref()).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(r.code(), "forbidden");
        }
    }
    assert_eq!(app.get("/v1/tenant", &user(&t)).await.body["status"], "active");
    // The platform admin needs no tenant claim, but cannot use the tenant's own routes without one.
    assert_eq!(
        app.get("/v1/tenants", &platform_admin()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/tenant", &platform_admin()).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn platform_admin_manages_tenants() {
    let app = TestApp::new().await;
    let admin = platform_admin();
    let t = tenant_id();
    app.get("/v1/tenant", &user(&t)).await;
    let path = format!("/v1/tenants/{t}");

    let got = app.get(&path, &admin).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["id"], t);

    let r = app
        .patch(&path, &admin, json!({"status": "suspended", "name": "Renamed"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        (r.body["status"].as_str(), r.body["name"].as_str()),
        (Some("suspended"), Some("Renamed"))
    );
    assert!(r.body["updated_at"].as_str() >= got.body["updated_at"].as_str());

    for bad in [
        json!({"status": "deleted"}),
        json!({"status": "archived"}),
        json!({"status": 1}),
        json!({"name": ""}),
        json!({"owner": "x"}),
    ] {
        let r = app.patch(&path, &admin, bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    assert_eq!(app.get(&path, &admin).await.body["status"], "suspended");

    let deleted = app.delete(&path, &admin).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.header("x-request-id").is_some());
    let record = app.get(&path, &admin).await.body;
    assert_eq!(record["status"], "deleted");
    let deleted_at = record["deleted_at"].as_str().unwrap().to_owned();
    // Deleting again is harmless and keeps the first deletion time.
    assert_eq!(app.delete(&path, &admin).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path, &admin).await.body["deleted_at"], deleted_at);
}

#[tokio::test]
async fn unknown_and_malformed_tenant_ids_are_404() {
    let app = TestApp::new().await;
    let admin = platform_admin();
    for id in ["nobody-here", "a%23b", "%20", "x".repeat(200).as_str()] {
        let path = format!("/v1/tenants/{id}");
        assert_eq!(app.get(&path, &admin).await.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(
            app.patch(&path, &admin, json!({"status": "suspended"}))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{id}"
        );
        assert_eq!(
            app.delete(&path, &admin).await.status,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
    assert!(app.all_partition_keys().await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let r = app
        .call(Method::POST, "/v1/tenant", Some(&user(&t)), Some(&json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, PATCH"));
    let r = app.call(Method::GET, "/v1/nothing", Some(&user(&t)), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "not_found");
    assert!(r.header("x-request-id").is_some());
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() {
    let app = TestApp::new().await;
    let request = http::Request::builder()
        .uri("/v1/tenant")
        .body(lambda_http::Body::Empty)
        .unwrap();
    // There is no other function yet; a path outside the route table is a 404 for it too.
    let r = shared::web::handle(&app.app, shared::Function::Tenants.router(), request).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let request = http::Request::builder()
        .uri("/v1/organizations")
        .body(lambda_http::Body::Empty)
        .unwrap();
    let r = shared::web::handle(&app.app, shared::Function::Tenants.router(), request).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
