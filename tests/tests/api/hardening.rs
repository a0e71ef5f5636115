//! Hostile input and poisoned data: times outside 0001–9999, undecodable stored items,
//! preconditions that cannot be read, concurrent writers, replays after the tenant was shut.

use std::collections::HashSet;

use api_tests::{
    assert_problem, create_campaign, create_org, platform_admin, tenant_id, token, walk_pages, TestApp,
};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};

struct Tenant {
    id: String,
    token: String,
    org: String,
}

async fn tenant(app: &TestApp) -> Tenant {
    let id = tenant_id();
    let token = token("owner", Some(&id), &["tenant_admin"]);
    let org = create_org(app, &token, "Org A").await;
    Tenant { id, token, org }
}

#[tokio::test]
async fn times_outside_years_1_to_9999_in_utc_are_422_and_change_nothing() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let campaign = create_campaign(&app, &t.token, &t.org, "Timely").await;
    let path = format!("/v1/campaigns/{}", campaign["id"].as_str().unwrap());
    for (field, bad) in [
        ("end_time", "9999-12-31T23:59:59-23:59"),
        ("start_time", "0000-01-01T00:00:00+00:01"),
        ("start_time", "0001-01-01T00:00:00+00:01"),
        ("end_time", "+10000-01-01T00:00:00Z"),
    ] {
        let created = app
            .post(
                "/v1/campaigns",
                &t.token,
                json!({"organization_id": t.org, "name": "Out of range", field: bad}),
            )
            .await;
        assert_problem(&created, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(created.body["errors"][field].is_array(), "{}", created.body);
        let patched = app.patch(&path, &t.token, json!({ field: bad })).await;
        assert_problem(&patched, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    // The edges of the range are times, and read back as written.
    let r = app
        .patch(
            &path,
            &t.token,
            json!({"start_time": "0001-01-01T00:00:00Z", "end_time": "9999-12-31T23:59:59.999Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["end_time"], "9999-12-31T23:59:59.999Z");
    let list = walk_pages(&app, "/v1/campaigns", &t.token).await;
    assert_eq!(list.len(), 1, "the refused creates wrote nothing");
    assert_eq!(app.get(&path, &t.token).await.body, r.body);
}

/// Rewrites one attribute of a stored item the way no request can.
async fn corrupt(app: &TestApp, pk: &str, sk: &str, attribute: &str, value: AttributeValue) {
    let mut item = app.raw_item(pk, sk).await.expect("item to corrupt");
    item.insert(attribute.to_owned(), value);
    app.put_raw_item(item).await;
}

#[tokio::test]
async fn one_undecodable_campaign_does_not_break_lists_or_deletes() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            create_campaign(&app, &t.token, &t.org, &format!("Campaign {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let poisoned = ids[2].clone();
    let pk = format!("{}#CAMPAIGN", t.id);
    corrupt(
        &app,
        &pk,
        &poisoned,
        "end_time",
        AttributeValue::S("+10000-01-01T23:58:59.000Z".into()),
    )
    .await;

    let good: HashSet<String> = ids.iter().filter(|id| **id != poisoned).cloned().collect();
    for list in [
        "/v1/campaigns?limit=2".to_owned(),
        "/v1/campaigns?status=active&limit=2".to_owned(),
        format!("/v1/campaigns?organization_id={}&limit=2", t.org),
        format!("/v1/organizations/{}/campaigns?limit=2", t.org),
        format!("/v1/organizations/{}/campaigns?status=active&limit=3", t.org),
    ] {
        let (items, sizes) = api_tests::walk_pages_with_sizes(&app, &list, &t.token).await;
        let seen: HashSet<String> = items
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            seen, good,
            "{list}: every decodable campaign, the poisoned one left out"
        );
        let limit: usize = list.rsplit('=').next().unwrap().parse().unwrap();
        assert!(
            sizes[..sizes.len() - 1].iter().all(|s| *s == limit),
            "{list}: pages stay full around the poisoned item: {sizes:?}"
        );
    }

    let path = format!("/v1/campaigns/{poisoned}");
    assert_problem(
        &app.get(&path, &t.token).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
    );
    let deleted = app.delete(&path, &t.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert!(app.raw_item(&pk, &poisoned).await.is_none());
    let org = app.get(&format!("/v1/organizations/{}", t.org), &t.token).await;
    assert_eq!(org.body["campaign_count"], 4, "its organization's count follows");
    for id in good {
        assert_eq!(
            app.delete(&format!("/v1/campaigns/{id}"), &t.token).await.status,
            StatusCode::NO_CONTENT
        );
    }
    let r = app
        .delete(&format!("/v1/organizations/{}", t.org), &t.token)
        .await;
    assert_eq!(
        r.status,
        StatusCode::NO_CONTENT,
        "the organization can be deleted again: {}",
        r.body
    );
}

#[tokio::test]
async fn one_undecodable_organization_does_not_break_lists() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let second = create_org(&app, &t.token, "Org B").await;
    let third = create_org(&app, &t.token, "Org C").await;
    let pk = format!("{}#ORG", t.id);
    corrupt(
        &app,
        &pk,
        &second,
        "metadata_json",
        AttributeValue::S("{not json".into()),
    )
    .await;

    let orgs = walk_pages(&app, "/v1/organizations?limit=1", &t.token).await;
    let ids: Vec<&str> = orgs.iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [third.as_str(), t.org.as_str()]);
    let mine = walk_pages(&app, "/v1/users/me/organizations?limit=1", &t.token).await;
    let ids: Vec<&str> = mine
        .iter()
        .map(|m| m["organization"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [third.as_str(), t.org.as_str()]);
    // Left out, not forgotten: the membership stays in the user's list for when it is repaired.
    let membership = app
        .raw_item(&format!("{}#MEMBERS#{second}", t.id), "owner")
        .await
        .expect("membership");
    assert!(membership.contains_key("gsi5pk"));
}

#[tokio::test]
async fn an_idempotent_replay_passes_the_tenant_gate() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let owner = token("owner", Some(&t), &[]);
    let body = json!({"name": "Replayed"});
    let first = app.post_with_key("/v1/organizations", &owner, &body, "k").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let replay = app.post_with_key("/v1/organizations", &owner, &body, "k").await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));

    let admin = platform_admin();
    let path = format!("/v1/tenants/{t}");
    assert_eq!(
        app.patch(&path, &admin, json!({"status": "suspended"}))
            .await
            .status,
        StatusCode::OK
    );
    let suspended = app.post_with_key("/v1/organizations", &owner, &body, "k").await;
    assert_problem(&suspended, StatusCode::FORBIDDEN, "tenant_inactive");
    assert_eq!(suspended.header("idempotent-replayed"), None);

    assert_eq!(app.delete(&path, &admin).await.status, StatusCode::NO_CONTENT);
    let deleted = app.post_with_key("/v1/organizations", &owner, &body, "k").await;
    assert_problem(&deleted, StatusCode::FORBIDDEN, "tenant_inactive");
}

#[tokio::test]
async fn if_match_that_cannot_be_read_or_is_weak_is_412_and_writes_nothing() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let campaign = create_campaign(&app, &t.token, &t.org, "Guarded").await;
    let campaign_path = format!("/v1/campaigns/{}", campaign["id"].as_str().unwrap());
    let org_path = format!("/v1/organizations/{}", t.org);
    let body = json!({"description": "changed"}).to_string();
    let org_body = json!({"billing_email": "changed@acme.com"}).to_string();

    for (method, path, body) in [
        (Method::PATCH, &campaign_path, Some(body.as_str())),
        (Method::PUT, &campaign_path, Some(body.as_str())),
        (Method::PATCH, &org_path, Some(org_body.as_str())),
        (Method::DELETE, &campaign_path, None),
    ] {
        for if_match in [b"\"\xe9\"".as_slice(), b"\"\xff\"", b"W/\"1\"", b"1", b"\"1"] {
            let mut builder = http::Request::builder()
                .method(method.clone())
                .uri(path.as_str())
                .header("authorization", format!("Bearer {}", t.token))
                .header("content-type", "application/json");
            builder = builder.header("if-match", http::HeaderValue::from_bytes(if_match).unwrap());
            let request = builder
                .body(body.map_or(lambda_http::Body::Empty, |b| {
                    lambda_http::Body::Text(b.to_owned())
                }))
                .unwrap();
            let function = shared::Function::serving(path);
            let r = app.send(function, request).await;
            assert_problem(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
        }
    }
    let stored = app.get(&campaign_path, &t.token).await;
    assert_eq!(stored.body, campaign, "nothing changed, nothing deleted");
    assert_eq!(stored.header("etag"), Some("\"1\""));
    let org = app.get(&org_path, &t.token).await;
    assert!(org.body["billing_email"].is_null());
    // The strong tag itself still matches.
    let ok = app
        .call_raw(
            Method::PATCH,
            &campaign_path,
            Some(&t.token),
            Some(&body),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn concurrent_updates_without_if_match_all_succeed_last_writer_wins() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let campaign = create_campaign(&app, &t.token, &t.org, "Contended").await;
    let path = format!("/v1/campaigns/{}", campaign["id"].as_str().unwrap());
    let writers = 30;
    let results = join_all((0..writers).map(|i| {
        let (app, path, token) = (&app, &path, &t.token);
        async move {
            app.patch(path, token, json!({"description": format!("writer {i}")}))
                .await
        }
    }))
    .await;
    for r in &results {
        assert_eq!(
            r.status,
            StatusCode::OK,
            "no writer fails for being concurrent: {}",
            r.body
        );
    }
    let last = app.get(&path, &t.token).await;
    assert_eq!(
        last.header("etag"),
        Some(format!("\"{}\"", writers + 1).as_str()),
        "every write applied"
    );
    let descriptions: HashSet<Value> = results.iter().map(|r| r.body["description"].clone()).collect();
    assert!(descriptions.contains(&last.body["description"]));

    let org_path = format!("/v1/organizations/{}", t.org);
    let results = join_all((0..20).map(|i| {
        let (app, path, token) = (&app, &org_path, &t.token);
        async move { app.patch(path, token, json!({"metadata": {"writer": i}})).await }
    }))
    .await;
    for r in &results {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

#[tokio::test]
async fn bodies_over_1_mib_are_413_problems_through_the_handler() {
    let app = TestApp::new().await;
    let t = tenant(&app).await;
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"organization_id": t.org, "name": "Big", "description": padding}).to_string();
    let r = app
        .call_raw(Method::POST, "/v1/campaigns", Some(&t.token), Some(&body), &[])
        .await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(walk_pages(&app, "/v1/campaigns", &t.token).await.is_empty());
}

#[tokio::test]
async fn deleting_an_organization_costs_the_same_with_a_thousand_members() {
    let proxy = local::dynamo_proxy::DynamoProxy::start(api_tests::dynamodb_endpoint())
        .await
        .expect("proxy");
    let app = TestApp::with(api_tests::Settings {
        endpoint: Some(proxy.endpoint.clone()),
        ..Default::default()
    })
    .await;
    let t = tenant(&app).await;
    let other = create_org(&app, &t.token, "Org B").await;
    let members = 1000;
    // A thousand memberships, written as the invite transaction would, straight to the table.
    let now = shared::time::now();
    let mut writes = Vec::new();
    for i in 0..members {
        for org in [&t.org, &other] {
            let m = shared::memberships::Membership {
                organization_id: org.clone(),
                user_id: format!("user-{i}"),
                tenant_id: t.id.clone(),
                role: shared::memberships::Role::Member,
                status: shared::memberships::MemberStatus::Active,
                email: None,
                invited_by_user_id: Some("owner".into()),
                last_active_at: None,
                expires_at: None,
                inserted_at: now,
                updated_at: now,
            };
            writes.push(shared::memberships::store::member_item(&m).unwrap());
        }
    }
    for chunk in writes.chunks(25) {
        let requests = chunk
            .iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        let out = app
            .client
            .batch_write_item()
            .request_items(&app.table, requests)
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items.unwrap_or_default().is_empty());
    }
    for org in [&t.org, &other] {
        app.client
            .update_item()
            .table_name(&app.table)
            .key("pk", AttributeValue::S(format!("{}#ORG", t.id)))
            .key("sk", AttributeValue::S(org.clone()))
            .update_expression("ADD member_count :n")
            .expression_attribute_values(":n", AttributeValue::N(members.to_string()))
            .send()
            .await
            .unwrap();
    }

    proxy.reset_counts();
    let r = app
        .delete(&format!("/v1/organizations/{}", t.org), &t.token)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let calls = proxy.total();
    assert!(
        calls <= 4,
        "a constant number of DynamoDB calls, not one per member: {:?}",
        proxy.counts()
    );

    assert_problem(
        &app.get(&format!("/v1/organizations/{}/members", t.org), &t.token)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let remaining = walk_pages(&app, "/v1/organizations", &t.token).await;
    assert_eq!(remaining.len(), 1);
    assert_eq!(
        remaining[0]["member_count"],
        members + 1,
        "the other organization's count is intact"
    );
    for i in [0, 1, 499, 998, 999] {
        let user = token(&format!("user-{i}"), Some(&t.id), &[]);
        let mine = walk_pages(&app, "/v1/users/me/organizations", &user).await;
        let ids: Vec<&str> = mine
            .iter()
            .map(|m| m["organization"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [other.as_str()], "user-{i} sees only the live organization");
        // The next walk meets no stale entry at all: the first one took it out of the list.
        proxy.reset_counts();
        let again = walk_pages(&app, "/v1/users/me/organizations", &user).await;
        assert_eq!(again.len(), 1);
        assert_eq!(proxy.counts().get("UpdateItem"), None, "nothing left to detach");
    }
    let admin_view = walk_pages(&app, "/v1/users/user-7/organizations?limit=1", &t.token).await;
    assert_eq!(admin_view.len(), 1);
}
