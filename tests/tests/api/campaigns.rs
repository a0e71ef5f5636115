//! Campaigns, with the correctness properties of seed 003 (numbered P1..P26) and its four date
//! examples, through the real handler.

use std::collections::{HashMap, HashSet};

use api_tests::{
    create_org, platform_admin, property_runtime, shared_app, tenant_id, token, walk_pages, TestApp,
};
use futures::future::join_all;
use http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};

static PROPERTY_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

struct Tenant {
    token: String,
    org: String,
}

async fn setup(app: &TestApp) -> Tenant {
    let t = tenant_id();
    let token = token("owner", Some(&t), &["tenant_admin"]);
    let org = create_org(app, &token, "Org A").await;
    Tenant { token, org }
}

async fn create(app: &TestApp, t: &Tenant, body: Value) -> Value {
    let mut body = body;
    if body.get("organization_id").is_none() {
        body["organization_id"] = json!(t.org);
    }
    let r = app.post("/v1/campaigns", &t.token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

async fn campaign_count(app: &TestApp, token: &str, org: &str) -> i64 {
    app.get(&format!("/v1/organizations/{org}"), token).await.body["campaign_count"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn p7_p8_p19_create_associates_tenant_defaults_and_full_schema() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let r = app
        .post(
            "/v1/campaigns",
            &t.token,
            json!({"name": "Spring sale", "organization_id": t.org, "tenant_id": "evil", "id": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let c = &r.body;
    let id = c["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(r.header("location"), Some(format!("/v1/campaigns/{id}").as_str()));
    assert!(r.header("etag").is_some());
    assert_ne!(c["tenant_id"], "evil");
    assert_eq!(c["status"], "active", "P8: default status");
    assert_eq!(c["organization_id"], t.org.as_str());
    let mut fields: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "active_job_count",
            "description",
            "end_time",
            "id",
            "inserted_at",
            "metadata",
            "name",
            "organization_id",
            "start_time",
            "status",
            "tenant_id",
            "updated_at"
        ]
    );
    let got = app.get(&format!("/v1/campaigns/{id}"), &t.token).await;
    assert_eq!(got.body, r.body);
    assert_eq!(got.header("etag"), r.header("etag"));
    assert_eq!(campaign_count(&app, &t.token, &t.org).await, 1);
}

#[tokio::test]
async fn p10_four_date_examples_all_succeed() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let examples = [
        json!({"name": "No dates"}),
        json!({"name": "Start only", "start_time": "2026-12-01T00:00:00Z"}),
        json!({"name": "End only", "end_time": "2026-12-31T23:59:59Z"}),
        json!({"name": "Both", "start_time": "2026-12-01T00:00:00Z", "end_time": "2026-12-31T23:59:59.5Z", "description": "d"}),
    ];
    for example in examples {
        let c = create(&app, &t, example.clone()).await;
        for field in ["start_time", "end_time"] {
            assert_eq!(c[field].is_null(), example.get(field).is_none(), "{example}");
        }
    }
    let both = walk_pages(&app, "/v1/campaigns", &t.token).await;
    assert_eq!(both[0]["end_time"], "2026-12-31T23:59:59.500Z");
}

#[tokio::test]
async fn validation_rules_and_nothing_written_on_failure() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let o = t.org.as_str();
    let cases = [
        (json!({"organization_id": o}), "name"),
        (json!({"organization_id": o, "name": "ab"}), "name"),
        (json!({"organization_id": o, "name": "  ab  "}), "name"),
        (json!({"organization_id": o, "name": "x".repeat(201)}), "name"),
        (json!({"name": "Valid"}), "organization_id"),
        (
            json!({"organization_id": "nope", "name": "Valid"}),
            "organization_id",
        ),
        (
            json!({"organization_id": uuid::Uuid::now_v7().to_string(), "name": "Valid"}),
            "organization_id",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "status": "archived"}),
            "status",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "start_time": "2026-01-01T00:00:00"}),
            "start_time",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "end_time": "tomorrow"}),
            "end_time",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "start_time": "2026-01-02T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "start_time",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "start_time": "2026-01-01T00:00:00Z", "end_time": "2026-01-01T00:00:00Z"}),
            "start_time",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "budget": 5}),
            "budget",
        ),
        (
            json!({"organization_id": o, "name": "Valid", "metadata": [1]}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/v1/campaigns", &t.token, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/problem+json"), "P25");
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    assert!(walk_pages(&app, "/v1/campaigns", &t.token).await.is_empty());
    assert_eq!(campaign_count(&app, &t.token, &t.org).await, 0);
}

#[tokio::test]
async fn p20_p21_updates_merge_validate_and_keep_identity() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let c = create(
        &app,
        &t,
        json!({"name": "Launch", "start_time": "2026-03-01T00:00:00Z", "description": "first"}),
    )
    .await;
    let path = format!("/v1/campaigns/{}", c["id"].as_str().unwrap());
    let r = app
        .patch(
            &path,
            &t.token,
            json!({"status": "paused", "id": "other", "tenant_id": "other"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (r.body["status"].as_str(), r.body["id"].as_str()),
        (Some("paused"), c["id"].as_str())
    );
    assert_eq!(r.body["tenant_id"], c["tenant_id"]);
    let r = app
        .call(
            Method::PUT,
            &path,
            Some(&t.token),
            Some(&json!({"status": "active", "description": null})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["description"].is_null());
    assert_eq!(r.body["name"], "Launch", "PUT is partial");
    // The date rule applies to the merged result.
    let r = app
        .patch(&path, &t.token, json!({"end_time": "2026-02-01T00:00:00Z"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["errors"]["start_time"].is_array());
    let r = app
        .patch(
            &path,
            &t.token,
            json!({"end_time": "2026-02-01T00:00:00Z", "start_time": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for bad in [
        json!({"name": "no"}),
        json!({"name": null}),
        json!({"organization_id": null}),
        json!({"x": 1}),
    ] {
        assert_eq!(
            app.patch(&path, &t.token, bad.clone()).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
    assert_eq!(
        app.get(&path, &t.token).await.body["end_time"],
        "2026-02-01T00:00:00.000Z"
    );
}

#[tokio::test]
async fn p22_p23_hard_delete() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let c = create(&app, &t, json!({"name": "Doomed"})).await;
    let path = format!("/v1/campaigns/{}", c["id"].as_str().unwrap());
    let r = app.delete(&path, &t.token).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_null());
    assert_eq!(app.get(&path, &t.token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path, &t.token).await.status, StatusCode::NOT_FOUND);
    assert!(walk_pages(&app, "/v1/campaigns", &t.token).await.is_empty());
    assert!(
        walk_pages(&app, &format!("/v1/organizations/{}/campaigns", t.org), &t.token)
            .await
            .is_empty()
    );
    assert_eq!(campaign_count(&app, &t.token, &t.org).await, 0);
    assert!(app
        .items_in_partition(&format!("{}#CAMPAIGN", c["tenant_id"].as_str().unwrap()))
        .await
        .is_empty());
}

#[tokio::test]
async fn p13_other_tenants_get_404_and_write_nothing() {
    let app = TestApp::new().await;
    let a = setup(&app).await;
    let b = setup(&app).await;
    let c = create(&app, &a, json!({"name": "Secret"})).await;
    let path = format!("/v1/campaigns/{}", c["id"].as_str().unwrap());
    let before = app.all_partition_keys().await.len();
    assert_eq!(app.get(&path, &b.token).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&path, &b.token, json!({"name": "Mine now"}))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&path, &b.token).await.status, StatusCode::NOT_FOUND);
    // b cannot file a campaign under a's organization either.
    let r = app
        .post(
            "/v1/campaigns",
            &b.token,
            json!({"name": "Sneaky", "organization_id": a.org}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .get(&format!("/v1/campaigns?organization_id={}", a.org), &b.token)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get(&format!("/v1/organizations/{}/campaigns", a.org), &b.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(walk_pages(&app, "/v1/campaigns", &b.token).await.is_empty());
    assert_eq!(app.all_partition_keys().await.len(), before);
    assert_eq!(app.get(&path, &a.token).await.body["name"], "Secret");
}

#[tokio::test]
async fn p5_inactive_tenants_cannot_use_campaign_routes() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let c = create(&app, &t, json!({"name": "Before"})).await;
    let tenant = c["tenant_id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/tenants/{tenant}"),
            &platform_admin(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let path = format!("/v1/campaigns/{}", c["id"].as_str().unwrap());
    for (method, p, body) in [
        (Method::GET, "/v1/campaigns".to_owned(), None),
        (
            Method::POST,
            "/v1/campaigns".to_owned(),
            Some(json!({"name": "Nope", "organization_id": t.org})),
        ),
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"name": "Nope"}))),
        (Method::DELETE, path.clone(), None),
        (
            Method::GET,
            format!("/v1/organizations/{}/campaigns", t.org),
            None,
        ),
        (Method::GET, "/v1/organizations".to_owned(), None),
        (Method::GET, format!("/v1/organizations/{}/members", t.org), None),
    ] {
        let r = app.call(method.clone(), &p, Some(&t.token), body.as_ref()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {p}");
        assert_eq!(r.code(), "tenant_inactive");
    }
}

#[tokio::test]
async fn p14_to_p18_lists_are_newest_first_with_exact_pages() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let other_org = create_org(&app, &t.token, "Org B").await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let org = if i % 5 == 0 {
            other_org.clone()
        } else {
            t.org.clone()
        };
        let status = if i % 2 == 0 { "active" } else { "paused" };
        let c = create(
            &app,
            &t,
            json!({"name": format!("Campaign {i}"), "organization_id": org, "status": status}),
        )
        .await;
        ids.push((c["id"].as_str().unwrap().to_owned(), org, status));
    }
    let first = app.get("/v1/campaigns?limit=10", &t.token).await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 10, "P16");
    assert_eq!(
        first.body["data"][0]["id"],
        ids[24].0.as_str(),
        "P18: first page starts at the newest"
    );
    assert_eq!(first.body["has_more"], true, "P17");
    let last_of_first = first.body["data"][9]["inserted_at"].as_str().unwrap().to_owned();
    let second = app
        .get(
            &format!(
                "/v1/campaigns?limit=10&cursor={}",
                first.body["next_cursor"].as_str().unwrap()
            ),
            &t.token,
        )
        .await;
    for c in second.body["data"].as_array().unwrap() {
        assert!(
            c["inserted_at"].as_str().unwrap() <= last_of_first.as_str(),
            "P15"
        );
    }
    let all = walk_pages(&app, "/v1/campaigns?limit=7", &t.token).await;
    let listed: Vec<&str> = all.iter().map(|c| c["id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = ids.iter().rev().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(listed, expected, "P14: newest first, each once");

    let pick = |f: &dyn Fn(&(String, String, &str)) -> bool| -> Vec<&str> {
        ids.iter()
            .rev()
            .filter(|x| f(x))
            .map(|(id, _, _)| id.as_str())
            .collect()
    };
    check(
        &app,
        &t.token,
        "/v1/campaigns?status=paused".to_owned(),
        pick(&|x| x.2 == "paused"),
    )
    .await;
    check(
        &app,
        &t.token,
        format!("/v1/campaigns?organization_id={other_org}"),
        pick(&|x| x.1 == other_org),
    )
    .await;
    check(
        &app,
        &t.token,
        format!("/v1/campaigns?organization_id={}&status=active", t.org),
        pick(&|x| x.1 == t.org && x.2 == "active"),
    )
    .await;
    check(
        &app,
        &t.token,
        format!("/v1/organizations/{other_org}/campaigns?status=active"),
        pick(&|x| x.1 == other_org && x.2 == "active"),
    )
    .await;

    let capped = app.get("/v1/campaigns?limit=500", &t.token).await;
    assert_eq!(capped.body["data"].as_array().unwrap().len(), 25);
    assert_eq!(capped.body["has_more"], false);
    for q in [
        "limit=0",
        "limit=-1",
        "limit=x",
        "status=done",
        "organization_id=nope",
        "colour=red",
    ] {
        assert_eq!(
            app.get(&format!("/v1/campaigns?{q}"), &t.token).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{q}"
        );
    }
    let unknown_org = uuid::Uuid::now_v7();
    assert_eq!(
        app.get(&format!("/v1/organizations/{unknown_org}/campaigns"), &t.token)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // A cursor from one filter does not open another.
    let cursor = app
        .get("/v1/campaigns?status=paused&limit=1", &t.token)
        .await
        .body["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(&format!("/v1/campaigns?status=active&cursor={cursor}"), &t.token)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The filtered list at `url` holds exactly `want`, in order, with full pages.
async fn check(app: &TestApp, token: &str, url: String, want: Vec<&str>) {
    let got: Vec<String> = walk_pages(app, &url, token)
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want, "{url}");
    let page = app.get(&format!("{url}&limit=2"), token).await;
    if want.len() > 2 {
        assert_eq!(
            page.body["data"].as_array().unwrap().len(),
            2,
            "full filtered pages: {url}"
        );
    }
}

#[tokio::test]
async fn walking_pages_while_campaigns_are_created_returns_each_existing_one_once() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let mut existing = HashSet::new();
    for chunk in 0..10 {
        let made = join_all((0..25).map(|i| {
            let body = json!({"name": format!("Existing {chunk}-{i}"), "organization_id": t.org});
            let (app, token) = (&app, &t.token);
            async move { app.post("/v1/campaigns", token, body).await }
        }))
        .await;
        for r in made {
            assert_eq!(r.status, StatusCode::CREATED);
            existing.insert(r.body["id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(existing.len(), 250);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut n = 0;
    loop {
        // A writer keeps adding campaigns between pages.
        for _ in 0..3 {
            n += 1;
            create(&app, &t, json!({"name": format!("Newcomer {n}")})).await;
        }
        let url = match &cursor {
            Some(c) => format!("/v1/campaigns?limit=20&cursor={c}"),
            None => "/v1/campaigns?limit=20".to_owned(),
        };
        let page = app.get(&url, &t.token).await;
        seen.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let counts: HashMap<&String, usize> = seen.iter().fold(HashMap::new(), |mut m, id| {
        *m.entry(id).or_default() += 1;
        m
    });
    assert!(counts.values().all(|&c| c == 1), "no duplicates");
    for id in &existing {
        assert_eq!(counts.get(id), Some(&1), "{id} missing");
    }
    assert_eq!(campaign_count(&app, &t.token, &t.org).await as usize, 250 + n);
}

#[tokio::test]
async fn deleting_an_organization_waits_for_its_last_campaign() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let a = create(&app, &t, json!({"name": "One"})).await;
    let b = create(&app, &t, json!({"name": "Two"})).await;
    let org_path = format!("/v1/organizations/{}", t.org);
    for c in [&a, &b] {
        let r = app.delete(&org_path, &t.token).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(app.get(&org_path, &t.token).await.status, StatusCode::OK);
        assert_eq!(
            app.delete(&format!("/v1/campaigns/{}", c["id"].as_str().unwrap()), &t.token)
                .await
                .status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(
        app.delete(&org_path, &t.token).await.status,
        StatusCode::NO_CONTENT
    );
    let r = app
        .post(
            "/v1/campaigns",
            &t.token,
            json!({"name": "Too late", "organization_id": t.org}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn concurrent_create_campaign_and_delete_organization_never_orphan_a_campaign() {
    let app = TestApp::new().await;
    for round in 0..12 {
        let t = setup(&app).await;
        let body = json!({"name": format!("Race {round}"), "organization_id": t.org});
        let org_path = format!("/v1/organizations/{}", t.org);
        let (created, deleted) = tokio::join!(
            app.post("/v1/campaigns", &t.token, body),
            app.delete(&org_path, &t.token)
        );
        let org_alive = app.get(&org_path, &t.token).await.status == StatusCode::OK;
        let campaigns = walk_pages(&app, "/v1/campaigns", &t.token).await;
        match (created.status, deleted.status) {
            (StatusCode::CREATED, StatusCode::CONFLICT) => {
                assert!(org_alive);
                assert_eq!(campaigns.len(), 1);
                assert_eq!(campaign_count(&app, &t.token, &t.org).await, 1);
            }
            (StatusCode::UNPROCESSABLE_ENTITY, StatusCode::NO_CONTENT) => {
                assert!(!org_alive);
                assert!(campaigns.is_empty());
            }
            other => panic!(
                "round {round}: unexpected outcome {other:?}: {} / {}",
                created.body, deleted.body
            ),
        }
    }
}

#[tokio::test]
async fn if_match_prevents_lost_updates() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let r = app
        .post(
            "/v1/campaigns",
            &t.token,
            json!({"name": "Guarded", "organization_id": t.org}),
        )
        .await;
    let path = format!("/v1/campaigns/{}", r.body["id"].as_str().unwrap());
    let etag = r.header("etag").unwrap().to_owned();
    let (a, b) = (json!({"name": "Writer A"}), json!({"name": "Writer B"}));
    let (ra, rb) = tokio::join!(
        app.if_match(Method::PATCH, &path, &t.token, Some(&a), &etag),
        app.if_match(Method::PATCH, &path, &t.token, Some(&b), &etag)
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::PRECONDITION_FAILED]);
    let winner = if ra.status == StatusCode::OK { &ra } else { &rb };
    let now = app.get(&path, &t.token).await;
    assert_eq!(now.body["name"], winner.body["name"]);
    assert_eq!(now.header("etag"), winner.header("etag"));
    assert_ne!(now.header("etag"), Some(etag.as_str()));
    // Stale tags are refused for PUT and DELETE too; a fresh one works.
    let r = app.if_match(Method::PUT, &path, &t.token, Some(&a), &etag).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = app.if_match(Method::DELETE, &path, &t.token, None, &etag).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let fresh = now.header("etag").unwrap().to_owned();
    let r = app.if_match(Method::DELETE, &path, &t.token, None, &fresh).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn moving_a_campaign_moves_the_counts() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let b = create_org(&app, &t.token, "Org B").await;
    let c = create(&app, &t, json!({"name": "Mover"})).await;
    let path = format!("/v1/campaigns/{}", c["id"].as_str().unwrap());
    let r = app.patch(&path, &t.token, json!({"organization_id": b})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        (
            campaign_count(&app, &t.token, &t.org).await,
            campaign_count(&app, &t.token, &b).await
        ),
        (0, 1)
    );
    let r = app
        .patch(
            &path,
            &t.token,
            json!({"organization_id": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["errors"]["organization_id"].is_array());
    assert_eq!(campaign_count(&app, &t.token, &b).await, 1);
    assert_eq!(
        walk_pages(&app, &format!("/v1/organizations/{b}/campaigns"), &t.token)
            .await
            .len(),
        1
    );
    assert!(
        walk_pages(&app, &format!("/v1/organizations/{}/campaigns", t.org), &t.token)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn idempotent_retries_create_one_campaign() {
    let app = TestApp::new().await;
    let t = setup(&app).await;
    let body = json!({"name": "Once", "organization_id": t.org}).to_string();
    let send = |key: &'static str, body: String| {
        let (app, token) = (&app, t.token.clone());
        async move {
            app.call_raw(
                Method::POST,
                "/v1/campaigns",
                Some(&token),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
        }
    };
    let first = send("key-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let retry = send("key-1", body.clone()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body, first.body, "same id, same response");
    assert_eq!(retry.header("location"), first.header("location"));
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    // Same JSON with the keys in another order is the same request.
    let reordered = format!(r#"{{"organization_id": "{}", "name": "Once"}}"#, t.org);
    assert_eq!(send("key-1", reordered).await.body["id"], first.body["id"]);
    let other = send(
        "key-1",
        json!({"name": "Twice", "organization_id": t.org}).to_string(),
    )
    .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(campaign_count(&app, &t.token, &t.org).await, 1);

    // Concurrent requests with one key write once.
    let responses = join_all((0..6).map(|_| send("key-2", body.clone()))).await;
    let created: HashSet<String> = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        created.len(),
        1,
        "one campaign id across all successful responses"
    );
    assert!(responses
        .iter()
        .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT));
    assert_eq!(walk_pages(&app, "/v1/campaigns", &t.token).await.len(), 2);
    assert_eq!(campaign_count(&app, &t.token, &t.org).await, 2);

    // Keys are per caller: another user's identical key runs anew.
    let tenant = first.body["tenant_id"].as_str().unwrap();
    let someone = token("someone-else", Some(tenant), &[]);
    let r = app
        .call_raw(
            Method::POST,
            "/v1/campaigns",
            Some(&someone),
            Some(&body),
            &[("idempotency-key", "key-1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_ne!(r.body["id"], first.body["id"]);
    // Organizations and members are covered by the same layer.
    let org_body = json!({"name": "Idem Org"}).to_string();
    let o1 = app
        .call_raw(
            Method::POST,
            "/v1/organizations",
            Some(&t.token),
            Some(&org_body),
            &[("idempotency-key", "org-1")],
        )
        .await;
    let o2 = app
        .call_raw(
            Method::POST,
            "/v1/organizations",
            Some(&t.token),
            Some(&org_body),
            &[("idempotency-key", "org-1")],
        )
        .await;
    assert_eq!((o1.status, o2.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(o1.body["id"], o2.body["id"]);
    let bad = app
        .call_raw(
            Method::POST,
            "/v1/organizations",
            Some(&t.token),
            Some(&org_body),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9éß]{0,8}"
}

fn offset_time() -> impl Strategy<Value = (i64, i32)> {
    (1_600_000_000i64..2_000_000_000, -12i32..14)
}

fn rfc3339(secs: i64, offset_hours: i32) -> String {
    let offset = chrono::FixedOffset::east_opt(offset_hours * 3600).unwrap();
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .with_timezone(&offset)
        .to_rfc3339()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    /// P9: names of fewer than 3 characters (after trimming) are refused, others accepted; P7:
    /// an accepted campaign belongs to the caller's tenant and has a UUID.
    #[test]
    fn p9_name_length_decides(name in name_strategy()) {
        property_runtime().block_on(async {
            let app = shared_app(&PROPERTY_APP).await;
            let t = setup(app).await;
            let r = app.post("/v1/campaigns", &t.token, json!({"name": name, "organization_id": t.org})).await;
            let len = name.trim().chars().count();
            if len >= 3 {
                assert_eq!(r.status, StatusCode::CREATED, "{name:?}: {}", r.body);
                assert_eq!(r.body["name"], name.trim());
                assert!(uuid::Uuid::parse_str(r.body["id"].as_str().unwrap()).is_ok());
            } else {
                assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
            }
        });
    }

    /// P11 and P12: with both times set, create and update succeed exactly when start < end;
    /// whatever offset the client used, times come back in UTC with a Z.
    #[test]
    fn p11_p12_date_order_and_utc(start in offset_time(), end in offset_time()) {
        property_runtime().block_on(async {
            let app = shared_app(&PROPERTY_APP).await;
            let t = setup(app).await;
            let (s, e) = (rfc3339(start.0, start.1), rfc3339(end.0, end.1));
            let r = app.post("/v1/campaigns", &t.token, json!({"name": "Dated", "organization_id": t.org, "start_time": s, "end_time": e})).await;
            if start.0 < end.0 {
                assert_eq!(r.status, StatusCode::CREATED, "{s} {e}: {}", r.body);
                let got = r.body["start_time"].as_str().unwrap();
                assert!(got.ends_with('Z'));
                assert_eq!(chrono::DateTime::parse_from_rfc3339(got).unwrap().timestamp(), start.0);
                // Swapping them on update is refused and changes nothing.
                let path = format!("/v1/campaigns/{}", r.body["id"].as_str().unwrap());
                let u = app.patch(&path, &t.token, json!({"start_time": e, "end_time": s})).await;
                assert_eq!(u.status, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(app.get(&path, &t.token).await.body["start_time"], got);
            } else {
                assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{s} {e}");
                assert!(r.body["errors"]["start_time"].is_array());
            }
        });
    }
}

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Move(usize, usize),
    Delete(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            (0usize..3).prop_map(Op::Create),
            (0usize..20, 0usize..3).prop_map(|(c, o)| Op::Move(c, o)),
            (0usize..20).prop_map(Op::Delete),
        ],
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, ..ProptestConfig::default() })]

    /// After any sequence of creates, moves and deletes, each organization's campaign_count is
    /// the number of campaigns listed under it.
    #[test]
    fn campaign_counts_stay_exact(ops in ops()) {
        property_runtime().block_on(async {
            let app = shared_app(&PROPERTY_APP).await;
            let t = setup(app).await;
            let orgs = vec![t.org.clone(), create_org(app, &t.token, "Second").await, create_org(app, &t.token, "Third").await];
            let mut live: Vec<String> = Vec::new();
            for op in ops {
                match op {
                    Op::Create(o) => {
                        let r = app.post("/v1/campaigns", &t.token, json!({"name": "Counted", "organization_id": orgs[o]})).await;
                        assert_eq!(r.status, StatusCode::CREATED);
                        live.push(r.body["id"].as_str().unwrap().to_owned());
                    }
                    Op::Move(c, o) if !live.is_empty() => {
                        let id = &live[c % live.len()];
                        let r = app.patch(&format!("/v1/campaigns/{id}"), &t.token, json!({"organization_id": orgs[o]})).await;
                        assert_eq!(r.status, StatusCode::OK);
                    }
                    Op::Delete(c) if !live.is_empty() => {
                        let id = live.remove(c % live.len());
                        assert_eq!(app.delete(&format!("/v1/campaigns/{id}"), &t.token).await.status, StatusCode::NO_CONTENT);
                    }
                    _ => {}
                }
            }
            let mut total = 0;
            for org in &orgs {
                let listed = walk_pages(app, &format!("/v1/organizations/{org}/campaigns"), &t.token).await.len();
                assert_eq!(campaign_count(app, &t.token, org).await as usize, listed);
                total += listed;
            }
            assert_eq!(total, live.len());
        });
    }
}
