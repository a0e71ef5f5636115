use api_tests::{platform_admin, tenant_admin, tenant_id, user, TestApp};
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn first_request_provisions_the_tenant_once() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let first = app.get("/v1/tenant", &user(&t)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["id"], t);
    assert_eq!(first.body["name"], t);
    assert_eq!(first.body["status"], "active");
    assert!(first.body["deleted_at"].is_null());
    let inserted = first.body["inserted_at"].as_str().unwrap().to_owned();
    assert_eq!(inserted.len(), "2026-11-22T08:15:30.123Z".len(), "{inserted}");
    assert!(inserted.ends_with('Z'));
    assert_eq!(first.body["updated_at"], first.body["inserted_at"]);
    let mut fields: Vec<_> = first.body.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["deleted_at", "id", "inserted_at", "name", "status", "updated_at"]
    );

    for _ in 0..3 {
        let again = app.get("/v1/tenant", &user(&t)).await;
        assert_eq!(again.body, first.body, "later requests load the same record");
    }
    assert_eq!(app.items_in_partition(&format!("{t}#TENANT")).await.len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_first_requests_create_exactly_one_tenant() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let token = user(&t);
    let responses = join_all((0..20).map(|_| app.get("/v1/tenant", &token))).await;
    let first = &responses[0].body;
    for r in &responses {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["inserted_at"], first["inserted_at"],
            "every request sees the one winner"
        );
    }
    assert_eq!(app.items_in_partition(&format!("{t}#TENANT")).await.len(), 1);
    let listed = app.get("/v1/tenants?limit=100", &platform_admin()).await;
    let ids: Vec<_> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["id"] == t)
        .collect();
    assert_eq!(ids.len(), 1);
}

#[tokio::test]
async fn suspended_and_deleted_tenants_get_403_on_every_tenant_route() {
    let app = TestApp::new().await;
    for action in ["suspend", "delete"] {
        let t = tenant_id();
        assert_eq!(app.get("/v1/tenant", &user(&t)).await.status, StatusCode::OK);
        let admin = platform_admin();
        let changed = match action {
            "suspend" => {
                app.patch(
                    &format!("/v1/tenants/{t}"),
                    &admin,
                    json!({"status": "suspended"}),
                )
                .await
            }
            _ => app.delete(&format!("/v1/tenants/{t}"), &admin).await,
        };
        assert!(changed.status.is_success(), "{action}: {}", changed.body);

        let requests = [
            (Method::GET, "/v1/tenant", None),
            (Method::PATCH, "/v1/tenant", Some(json!({"name": "New name"}))),
        ];
        for token in [user(&t), tenant_admin(&t)] {
            for (method, path, body) in &requests {
                let r = app.call(method.clone(), path, Some(&token), body.as_ref()).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{action} {method} {path}");
                assert_eq!(r.code(), "tenant_inactive");
            }
        }
        // The data is kept: the admin still sees the record, unchanged but for the status.
        let record = app.get(&format!("/v1/tenants/{t}"), &admin).await;
        assert_eq!(record.body["name"], t);
        assert_eq!(
            record.body["status"],
            if action == "suspend" {
                "suspended"
            } else {
                "deleted"
            }
        );

        // Reactivation opens the door again.
        let r = app
            .patch(&format!("/v1/tenants/{t}"), &admin, json!({"status": "active"}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body["deleted_at"].is_null());
        assert_eq!(app.get("/v1/tenant", &user(&t)).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_tenant_cache_is_bounded_in_time() {
    // Another container (here: another app over the same table) suspends the tenant; this
    // one keeps serving from its cache for at most the TTL, then sees the change.
    let mut settings = api_tests::Settings::default();
    settings.vars.insert("TENANT_CACHE_TTL_SECONDS", "1".into());
    let app = TestApp::with(settings).await;
    let t = tenant_id();
    assert_eq!(app.get("/v1/tenant", &user(&t)).await.status, StatusCode::OK);
    app.app
        .store
        .update_tenant(
            &t,
            &shared::tenants::TenantChanges {
                name: None,
                status: Some(shared::tenants::TenantStatus::Suspended),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        app.get("/v1/tenant", &user(&t)).await.status,
        StatusCode::FORBIDDEN
    );
}
