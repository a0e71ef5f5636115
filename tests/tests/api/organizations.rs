use std::collections::HashSet;

use api_tests::{tenant_admin, tenant_id, token, walk_pages, TestApp};
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::store::counters::{org_counters, OrgCounts};

async fn create(app: &TestApp, token: &str, body: Value) -> api_tests::TestResponse {
    app.call(Method::POST, "/v1/organizations", Some(token), Some(&body))
        .await
}

async fn create_ok(app: &TestApp, token: &str, name: &str) -> Value {
    let r = create(app, token, json!({ "name": name })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test]
async fn create_returns_the_organization_and_makes_the_creator_owner() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = token("alice", Some(&t), &[]);
    let r = create(
        &app,
        &alice,
        json!({"name": "  Acme  ", "domain": "Acme.COM", "billing_email": "billing@acme.com",
               "billing_address": {"line1": "1 Main St", "country": "NL"}, "stripe_customer_id": "cus_123",
               "metadata": {"tier": "gold", "seats": 5}, "id": "ignored", "member_count": 99}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/organizations/{id}").as_str())
    );
    assert!(r.header("etag").is_some());
    assert_eq!(r.body["name"], "Acme");
    assert_eq!(r.body["domain"], "acme.com");
    assert_eq!(r.body["tenant_id"], t);
    assert_eq!(r.body["member_count"], 1);
    assert_eq!(r.body["campaign_count"], 0);
    assert_eq!(r.body["metadata"], json!({"tier": "gold", "seats": 5}));
    assert_eq!(r.body["billing_address"]["line1"], "1 Main St");
    let mut fields: Vec<_> = r.body.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "billing_address",
            "billing_email",
            "campaign_count",
            "domain",
            "id",
            "inserted_at",
            "member_count",
            "metadata",
            "name",
            "stripe_customer_id",
            "tenant_id",
            "updated_at"
        ]
    );
    let got = app.get(&format!("/v1/organizations/{id}"), &alice).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body);
    assert_eq!(got.header("etag"), r.header("etag"));

    let owner = app
        .get(&format!("/v1/organizations/{id}/members/alice"), &alice)
        .await;
    assert_eq!(owner.status, StatusCode::OK, "{}", owner.body);
    assert_eq!(
        (owner.body["role"].as_str(), owner.body["status"].as_str()),
        (Some("owner"), Some("active"))
    );

    let minimal = create_ok(&app, &alice, "Minimal").await;
    assert_eq!(minimal["metadata"], json!({}));
    for field in ["domain", "billing_email", "billing_address", "stripe_customer_id"] {
        assert!(minimal[field].is_null(), "{field}");
    }
}

#[tokio::test]
async fn invalid_bodies_are_rejected_and_write_nothing() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = token("alice", Some(&t), &[]);
    let many: serde_json::Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!({}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "A", "domain": "not a domain"}), "domain"),
        (json!({"name": "A", "domain": "acme"}), "domain"),
        (json!({"name": "A", "billing_email": "nope"}), "billing_email"),
        (json!({"name": "A", "metadata": []}), "metadata"),
        (json!({"name": "A", "metadata": "x"}), "metadata"),
        (json!({"name": "A", "metadata": many}), "metadata"),
        (
            json!({"name": "A", "metadata": {"big": "x".repeat(9000)}}),
            "metadata",
        ),
        (json!({"name": "A", "billing_address": 5}), "billing_address"),
        (
            json!({"name": "A", "stripe_customer_id": "cus 1"}),
            "stripe_customer_id",
        ),
        (json!({"name": "A", "colour": "red"}), "colour"),
    ];
    for (body, field) in cases {
        let r = create(&app, &alice, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    for raw in ["nope", "[]", "", "null"] {
        let r = app
            .call_raw(Method::POST, "/v1/organizations", Some(&alice), Some(raw), &[])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}");
    }
    let keys = app.all_partition_keys().await;
    assert!(
        keys.iter().all(|k| k.ends_with("#TENANT")),
        "only the tenant exists: {keys:?}"
    );
}

#[tokio::test]
async fn names_are_unique_per_tenant_case_insensitively() {
    let app = TestApp::new().await;
    let (t, other) = (tenant_id(), tenant_id());
    let alice = token("alice", Some(&t), &[]);
    create_ok(&app, &alice, "Acme").await;
    for clash in ["Acme", "acme", "ACME", "  acme  "] {
        let r = create(&app, &alice, json!({ "name": clash })).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{clash}");
        assert_eq!(r.code(), "conflict");
    }
    // Another tenant may use the same name.
    create_ok(&app, &token("bob", Some(&other), &[]), "Acme").await;
}

#[tokio::test]
async fn concurrent_creates_with_one_name_give_exactly_one_success() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let tokens: Vec<String> = (0..10)
        .map(|i| token(&format!("user-{i}"), Some(&t), &[]))
        .collect();
    let responses = join_all(tokens.iter().enumerate().map(|(i, tok)| {
        let app = &app;
        async move {
            create(
                app,
                tok,
                json!({"name": if i % 2 == 0 { "Race" } else { "RACE" }}),
            )
            .await
        }
    }))
    .await;
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let conflicts = responses
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (created, conflicts),
        (1, 9),
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let listed = walk_pages(&app, "/v1/organizations", &tokens[0]).await;
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn concurrent_renames_to_one_name_give_exactly_one_success() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(
            create_ok(&app, &admin, &format!("Org {i}")).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let paths: Vec<String> = ids.iter().map(|id| format!("/v1/organizations/{id}")).collect();
    let responses = join_all(
        paths
            .iter()
            .map(|p| app.patch(p, &admin, json!({"name": "Target"}))),
    )
    .await;
    let ok = responses.iter().filter(|r| r.status == StatusCode::OK).count();
    let conflicts = responses
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 5));
    let names: Vec<String> = walk_pages(&app, "/v1/organizations", &admin)
        .await
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.iter().filter(|n| *n == "Target").count(), 1);
    // The losers kept their names, and every old name but the winner's is still taken.
    assert_eq!(names.len(), 6);
}

#[tokio::test]
async fn rename_moves_the_name_and_case_changes_keep_it() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let id = create_ok(&app, &admin, "Old").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/organizations/{id}");
    assert_eq!(
        app.patch(&path, &admin, json!({"name": "OLD"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        create(&app, &admin, json!({"name": "old"})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.patch(&path, &admin, json!({"name": "New"})).await.status,
        StatusCode::OK
    );
    create_ok(&app, &admin, "Old").await;
    assert_eq!(
        create(&app, &admin, json!({"name": "new"})).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn patch_and_put_are_partial_null_clears_and_if_match_guards() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let created = create(
        &app,
        &admin,
        json!({"name": "Acme", "domain": "acme.com", "metadata": {"a": 1}}),
    )
    .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/organizations/{id}");
    let etag = created.header("etag").unwrap().to_owned();

    let r = app
        .patch(&path, &admin, json!({"billing_email": "b@acme.com"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["name"].as_str(), r.body["domain"].as_str()),
        (Some("Acme"), Some("acme.com"))
    );
    let new_etag = r.header("etag").unwrap().to_owned();
    assert_ne!(new_etag, etag);

    let r = app
        .call(Method::PUT, &path, Some(&admin), Some(&json!({"domain": null})))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["domain"].is_null());
    assert_eq!(r.body["billing_email"], "b@acme.com");
    assert_eq!(r.body["metadata"], json!({"a": 1}));

    let stale = json!({"name": "Stale"});
    let r = app
        .if_match(Method::PATCH, &path, &admin, Some(&stale), &etag)
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(r.code(), "precondition_failed");
    let r = app.if_match(Method::DELETE, &path, &admin, None, &etag).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let current = app.get(&path, &admin).await;
    assert_eq!(current.body["name"], "Acme");
    let tag = current.header("etag").unwrap().to_owned();
    let r = app
        .if_match(Method::PATCH, &path, &admin, Some(&stale), &tag)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "Stale");

    for bad in [
        json!({"name": null}),
        json!({"name": ""}),
        json!({"domain": "UPPER CASE"}),
        json!({"tenant": 1}),
    ] {
        assert_eq!(
            app.patch(&path, &admin, bad.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_eq!(app.get(&path, &admin).await.body["name"], "Stale");
}

#[tokio::test]
async fn soft_delete_hides_the_organization_everywhere_and_frees_its_name() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = token("alice", Some(&t), &[]);
    let id = create(&app, &alice, json!({"name": "Gone", "domain": "gone.com"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/organizations/{id}");
    let r = app.delete(&path, &alice).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get(&path, &alice).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, &alice, json!({"name": "X"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &alice).await.status, StatusCode::NOT_FOUND);
    for list in [
        "/v1/organizations",
        "/v1/organizations?name=gone",
        "/v1/organizations?domain=gone.com",
    ] {
        assert!(walk_pages(&app, list, &alice).await.is_empty(), "{list}");
    }
    assert_eq!(
        app.get(&format!("{path}/members"), &alice).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(app.get("/v1/users/me/organizations", &alice).await.body["data"]
        .as_array()
        .unwrap()
        .is_empty());
    // The data is kept, out of the live partition.
    assert_eq!(app.items_in_partition(&format!("{t}#ORG#DELETED")).await.len(), 1);
    create_ok(&app, &alice, "gone").await;
}

#[tokio::test]
async fn deleting_an_organization_with_campaigns_is_refused_until_they_are_gone() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let id = create_ok(&app, &admin, "Busy").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let store = &app.app.store;
    // The counter write campaigns use when they are created and deleted.
    let bump = |n| org_counters(store.table(), &t, &id, OrgCounts::campaigns(n)).unwrap();
    store.transact("test", vec![bump(2)], None).await.unwrap();
    let path = format!("/v1/organizations/{id}");
    let r = app.delete(&path, &admin).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.code(), "conflict");
    let org = app.get(&path, &admin).await;
    assert_eq!(org.body["campaign_count"], 2);
    store.transact("test", vec![bump(-1)], None).await.unwrap();
    assert_eq!(app.delete(&path, &admin).await.status, StatusCode::CONFLICT);
    store.transact("test", vec![bump(-1)], None).await.unwrap();
    assert_eq!(app.delete(&path, &admin).await.status, StatusCode::NO_CONTENT);
    // Once deleted, the organization accepts no new campaign.
    assert!(store.transact("test", vec![bump(1)], None).await.is_err());
}

#[tokio::test]
async fn lists_are_newest_first_and_filter_by_name_and_domain() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let admin = tenant_admin(&t);
    let mut ids = Vec::new();
    for i in 0..23 {
        let domain = if i % 3 == 0 { "three.com" } else { "other.org" };
        let r = create(
            &app,
            &admin,
            json!({"name": format!("Org {i}"), "domain": domain}),
        )
        .await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let all = walk_pages(&app, "/v1/organizations?limit=5", &admin).await;
    let listed: Vec<&str> = all.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(listed, expected, "newest first, each once");

    let three = walk_pages(&app, "/v1/organizations?domain=THREE.com&limit=3", &admin).await;
    assert_eq!(three.len(), 8);
    assert!(three.iter().all(|o| o["domain"] == "three.com"));
    let page = app
        .get("/v1/organizations?domain=three.com&limit=3", &admin)
        .await;
    assert_eq!(
        page.body["data"].as_array().unwrap().len(),
        3,
        "filtered pages are full"
    );

    let by_name = app.get("/v1/organizations?name=org%207", &admin).await;
    assert_eq!(by_name.body["data"][0]["name"], "Org 7");
    assert_eq!(by_name.body["has_more"], false);
    let both = app
        .get("/v1/organizations?name=Org%207&domain=three.com", &admin)
        .await;
    assert!(
        both.body["data"].as_array().unwrap().is_empty(),
        "Org 7 is not on three.com"
    );
    let none = app.get("/v1/organizations?name=nobody", &admin).await;
    assert!(none.body["data"].as_array().unwrap().is_empty());

    let cursor = app.get("/v1/organizations?limit=2", &admin).await.body["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(
            &format!("/v1/organizations?domain=three.com&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a cursor is bound to its filter"
    );
    for q in ["domain=bad", "limit=0", "sort=name", "name=a&name=b"] {
        let r = app.get(&format!("/v1/organizations?{q}"), &admin).await;
        assert!(
            r.status == StatusCode::UNPROCESSABLE_ENTITY || r.status == StatusCode::BAD_REQUEST,
            "{q}"
        );
    }
}

/// Found by schemathesis: `?name=` was a 500 (DynamoDB refuses an empty sort key).
#[tokio::test]
async fn a_name_filter_no_organization_could_have_is_a_422() {
    let app = TestApp::new().await;
    let admin = tenant_admin(&tenant_id());
    create_ok(&app, &admin, "Acme").await;
    let too_long = "a".repeat(201);
    for value in ["", "%20%20", "a%01b", too_long.as_str()] {
        let r = app.get(&format!("/v1/organizations?name={value}"), &admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "name={value}");
        assert!(r.body["errors"]["name"].is_array(), "name={value}: {}", r.body);
    }
    let r = app.get("/v1/organizations?name=%20ACME%20", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"][0]["name"], "Acme", "trimmed, case-insensitive");
}

#[tokio::test]
async fn other_tenants_see_nothing_and_touch_nothing() {
    let app = TestApp::new().await;
    let (a, b) = (tenant_id(), tenant_id());
    let owner_a = token("alice", Some(&a), &["tenant_admin"]);
    let id = create_ok(&app, &owner_a, "Private").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let keys_before: HashSet<String> = app.all_partition_keys().await.into_iter().collect();
    let b_admin = token("alice", Some(&b), &["tenant_admin"]);
    let path = format!("/v1/organizations/{id}");
    assert_eq!(app.get(&path, &b_admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, &b_admin, json!({"name": "Mine"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &b_admin).await.status, StatusCode::NOT_FOUND);
    assert!(walk_pages(&app, "/v1/organizations", &b_admin).await.is_empty());
    assert!(
        app.get("/v1/organizations?name=Private", &b_admin).await.body["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let a_prefix = format!("{a}#");
    let keys_after: HashSet<String> = app.all_partition_keys().await.into_iter().collect();
    let new_in_a: Vec<_> = keys_after
        .difference(&keys_before)
        .filter(|k| k.starts_with(&a_prefix))
        .collect();
    assert!(new_in_a.is_empty(), "tenant b wrote into tenant a: {new_in_a:?}");
    assert_eq!(app.get(&path, &owner_a).await.body["name"], "Private");
}

#[tokio::test]
async fn malformed_ids_are_404() {
    let app = TestApp::new().await;
    let admin = tenant_admin(&tenant_id());
    for id in [
        "nope",
        "123",
        "01234567-89ab-cdef-0123-456789abcdeg",
        "00000000-0000-0000-0000-000000000000",
    ] {
        let path = format!("/v1/organizations/{id}");
        assert_eq!(app.get(&path, &admin).await.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(
            app.patch(&path, &admin, json!({"name": "x"})).await.status,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
}

#[tokio::test]
async fn who_may_change_and_delete_an_organization() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let owner = token("owner", Some(&t), &[]);
    let id = create_ok(&app, &owner, "Perms").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/organizations/{id}");
    for (user, role) in [("adam", "admin"), ("mia", "member"), ("ivy", "admin")] {
        let r = app
            .call(
                Method::POST,
                &format!("{path}/members"),
                Some(&owner),
                Some(&json!({"user_id": user, "role": role})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        if user != "ivy" {
            let me = token(user, Some(&t), &[]);
            let r = app
                .call(
                    Method::POST,
                    &format!("{path}/members/{user}/accept"),
                    Some(&me),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
    }
    let as_user = |u: &str| token(u, Some(&t), &[]);
    // PATCH: owner/admin/tenant_admin; not a member, not an invited admin, not an outsider.
    for (who, expected) in [
        (as_user("mia"), StatusCode::FORBIDDEN),
        (as_user("ivy"), StatusCode::FORBIDDEN),
        (as_user("stranger"), StatusCode::FORBIDDEN),
        (as_user("adam"), StatusCode::OK),
        (as_user("owner"), StatusCode::OK),
        (tenant_admin(&t), StatusCode::OK),
    ] {
        let r = app
            .patch(&path, &who, json!({"billing_email": "x@perms.io"}))
            .await;
        assert_eq!(r.status, expected, "{}", r.body);
    }
    // DELETE: owner or tenant_admin only.
    for who in [
        as_user("mia"),
        as_user("ivy"),
        as_user("adam"),
        as_user("stranger"),
    ] {
        let r = app.delete(&path, &who).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.code(), "forbidden");
    }
    assert_eq!(app.get(&path, &owner).await.status, StatusCode::OK);
    assert_eq!(app.delete(&path, &owner).await.status, StatusCode::NO_CONTENT);
    let other = create_ok(&app, &owner, "Perms 2").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.delete(&format!("/v1/organizations/{other}"), &tenant_admin(&t))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
