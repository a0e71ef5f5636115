use std::collections::HashSet;

use api_tests::{platform_admin, tenant_id, user, walk_pages, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use http::StatusCode;
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::{
    error::Error,
    pagination::{scope, PageParams},
    store::{from_item, keys::TABLE, pages::ListQuery},
};

async fn provision(app: &TestApp, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|_| tenant_id()).collect();
    for chunk in ids.chunks(25) {
        let responses = join_all(
            chunk
                .iter()
                .map(|t| async move { app.get("/v1/tenant", &user(t)).await }),
        )
        .await;
        assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    }
    ids
}

fn assert_newest_first(items: &[Value]) {
    for pair in items.windows(2) {
        let a = (
            pair[0]["inserted_at"].as_str().unwrap(),
            pair[0]["id"].as_str().unwrap(),
        );
        let b = (
            pair[1]["inserted_at"].as_str().unwrap(),
            pair[1]["id"].as_str().unwrap(),
        );
        assert!(a > b, "not newest first: {a:?} then {b:?}");
    }
}

#[tokio::test]
async fn walking_every_page_returns_each_tenant_exactly_once() {
    let app = TestApp::new().await;
    let ids = provision(&app, 300).await;
    let admin = platform_admin();
    for limit in [7usize, 50, 100] {
        let items = walk_pages(&app, &format!("/v1/tenants?limit={limit}"), &admin).await;
        let seen: Vec<&str> = items.iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(seen.len(), 300, "limit {limit}");
        let unique: HashSet<&str> = seen.iter().copied().collect();
        assert_eq!(unique.len(), 300, "no duplicates at limit {limit}");
        assert_eq!(unique, ids.iter().map(String::as_str).collect::<HashSet<_>>());
        assert_newest_first(&items);
    }
    // Default limit 50; above 100 is capped.
    let first = app.get("/v1/tenants", &admin).await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 50);
    let capped = app.get("/v1/tenants?limit=1000", &admin).await;
    assert_eq!(capped.body["data"].as_array().unwrap().len(), 100);
    assert_eq!(capped.body["has_more"], true);
}

#[tokio::test]
async fn walking_while_tenants_are_added_keeps_every_existing_one_once() {
    let app = TestApp::new().await;
    let ids = provision(&app, 120).await;
    let admin = platform_admin();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        provision(&app, 3).await;
        let url = match &cursor {
            Some(c) => format!("/v1/tenants?limit=10&cursor={c}"),
            None => "/v1/tenants?limit=10".to_owned(),
        };
        let page = app.get(&url, &admin).await;
        seen.extend(
            page.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    for id in &ids {
        assert_eq!(seen.iter().filter(|s| *s == id).count(), 1, "{id}");
    }
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no duplicates"
    );
}

#[tokio::test]
async fn status_filter_gives_full_pages_and_exact_has_more() {
    let app = TestApp::new().await;
    let ids = provision(&app, 45).await;
    let admin = platform_admin();
    let suspended: HashSet<String> = ids.iter().step_by(3).cloned().collect();
    for t in &suspended {
        let r = app
            .patch(
                &format!("/v1/tenants/{t}"),
                &admin,
                json!({"status": "suspended"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(suspended.len(), 15);
    let mut cursor: Option<String> = None;
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/v1/tenants?status=suspended&limit=4&cursor={c}"),
            None => "/v1/tenants?status=suspended&limit=4".to_owned(),
        };
        let page = app.get(&url, &admin).await;
        let data = page.body["data"].as_array().unwrap().clone();
        pages += 1;
        if page.body["has_more"] == true {
            assert_eq!(data.len(), 4, "only the last page may be short");
        }
        got.extend(data);
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4, "15 items at 4 a page: 4 pages, no empty last page");
    assert!(got.iter().all(|t| t["status"] == "suspended"));
    assert_eq!(
        got.iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect::<HashSet<_>>(),
        suspended
    );
    // An exact multiple of the limit ends with has_more false on the last full page.
    let exact = walk_pages(&app, "/v1/tenants?status=suspended&limit=5", &admin).await;
    assert_eq!(exact.len(), 15);
    let last = app.get("/v1/tenants?status=suspended&limit=15", &admin).await;
    assert_eq!(last.body["has_more"], false);
    assert!(last.body["next_cursor"].is_null());
}

#[tokio::test]
async fn tampered_and_foreign_cursors_are_422() {
    let app = TestApp::new().await;
    provision(&app, 12).await;
    let admin = platform_admin();
    let page = app.get("/v1/tenants?limit=5", &admin).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("/v1/tenants?limit=5&cursor={cursor}"), &admin)
            .await
            .status,
        StatusCode::OK
    );

    let mut bad = vec![
        "garbage".to_owned(),
        "a.b".to_owned(),
        format!("{cursor}x"),
        cursor.replacen('.', "", 1),
        cursor.chars().rev().collect(),
    ];
    // Flip one character of the payload and one of the signature.
    let (payload, tag) = cursor.split_once('.').unwrap();
    let flip = |s: &str| {
        let mut b = s.as_bytes().to_vec();
        b[0] = if b[0] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    };
    bad.push(format!("{}.{tag}", flip(payload)));
    bad.push(format!("{payload}.{}", flip(tag)));
    for c in &bad {
        let r = app.get(&format!("/v1/tenants?limit=5&cursor={c}"), &admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{c}");
        assert!(r.body["errors"]["cursor"].is_array());
    }
    // A cursor of the unfiltered list is refused by a filtered one, and the other way round.
    let r = app
        .get(
            &format!("/v1/tenants?status=active&limit=5&cursor={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let filtered = app.get("/v1/tenants?status=active&limit=5", &admin).await;
    let fc = filtered.body["next_cursor"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/v1/tenants?limit=5&cursor={fc}"), &admin)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A cursor signed by another deployment's secret is refused too.
    let other = shared::pagination::CursorSigner::new(b"another-deployment-cursor-secret-xyz");
    let key = [
        ("pk", "x#TENANT"),
        ("sk", "TENANT"),
        ("gsi1pk", "#PLATFORM#TENANTS"),
        ("gsi1sk", "z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let foreign = other.sign(&scope(None, "tenants", &[("status", None)]), &key);
    assert_eq!(
        app.get(&format!("/v1/tenants?cursor={foreign}"), &admin)
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn invalid_list_parameters() {
    let app = TestApp::new().await;
    let admin = platform_admin();
    for q in [
        "limit=0",
        "limit=-5",
        "limit=abc",
        "limit=2.5",
        "status=archived",
        "cursor=",
        "sort=name",
    ] {
        let r = app.get(&format!("/v1/tenants?{q}"), &admin).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {}", r.body);
        assert_eq!(r.code(), "validation_failed");
    }
    for q in ["limit=1&limit=2", "status=%zz"] {
        let r = app.get(&format!("/v1/tenants?{q}"), &admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[derive(Debug, Deserialize)]
struct Probe {
    sk: String,
}

async fn put_probes(app: &TestApp, tenant: &str, count: usize) {
    for i in 0..count {
        app.client
            .put_item()
            .table_name(&app.table)
            .item("pk", AttributeValue::S(format!("{tenant}#PROBE")))
            .item("sk", AttributeValue::S(format!("{i:05}")))
            .send()
            .await
            .unwrap();
    }
}

fn probe_list(tenant: &str) -> ListQuery {
    ListQuery {
        index: TABLE,
        partition: format!("{tenant}#PROBE"),
        scope: scope(Some(tenant), "probes", &[]),
        item_pk_prefix: Some(format!("{tenant}#")),
        newest_first: true,
        sk_range: None,
    }
}

/// One table for all property cases of this file (each case uses fresh tenants).
static PROBE_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Pagination completeness and isolation, for any collection size and page size: every
    /// item of the tenant's list once, in order, none of the other tenant's, and neither
    /// tenant's cursors open the other's list.
    #[test]
    fn pages_are_complete_ordered_and_tenant_bound(count_a in 0usize..40, count_b in 1usize..10, limit in 1usize..12) {
        api_tests::property_runtime().block_on(async {
            let app = api_tests::shared_app(&PROBE_APP).await;
            let (a, b) = (tenant_id(), tenant_id());
            put_probes(app, &a, count_a).await;
            put_probes(app, &b, count_b).await;
            let store = &app.app.store;
            let signer = &app.app.cursors;
            let mut seen = Vec::new();
            let mut params = PageParams { limit, cursor: None };
            let mut b_cursor_checked = false;
            loop {
                let page = store.query_page::<Probe>(&probe_list(&a), &params, signer, from_item).await.unwrap();
                assert!(page.data.len() <= limit);
                if page.has_more {
                    assert_eq!(page.data.len(), limit);
                }
                seen.extend(page.data.into_iter().map(|p| p.sk));
                match page.next_cursor {
                    Some(c) => {
                        let foreign = PageParams { limit, cursor: Some(c.clone()) };
                        let err = store.query_page::<Probe>(&probe_list(&b), &foreign, signer, from_item).await.unwrap_err();
                        assert!(matches!(err, Error::Invalid(ref e) if e.contains_key("cursor")));
                        b_cursor_checked = true;
                        params.cursor = Some(c);
                    }
                    None => break,
                }
            }
            let expected: Vec<String> = (0..count_a).rev().map(|i| format!("{i:05}")).collect();
            assert_eq!(seen, expected);
            assert_eq!(b_cursor_checked, count_a > limit);
        });
    }
}

#[tokio::test]
async fn a_validly_signed_cursor_cannot_point_into_another_tenant() {
    // Even a cursor signed with the real secret for tenant b's scope is refused when its key
    // lies in tenant a's partition: the partition check does not rely on the signature alone.
    let app = TestApp::new().await;
    let (a, b) = (tenant_id(), tenant_id());
    put_probes(&app, &a, 3).await;
    put_probes(&app, &b, 3).await;
    let key = [("pk", format!("{a}#PROBE")), ("sk", "00002".to_owned())]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let cursor = app.app.cursors.sign(&probe_list(&b).scope, &key);
    let params = PageParams {
        limit: 5,
        cursor: Some(cursor),
    };
    let err = app
        .app
        .store
        .query_page::<Probe>(&probe_list(&b), &params, &app.app.cursors, from_item)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));
}
