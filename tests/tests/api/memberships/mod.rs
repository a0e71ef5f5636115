//! Membership routes: invitations, acceptance, roles, removal, the last-owner rule (also
//! under concurrency), list filters, a user's organizations and tenant isolation. One file per
//! subject; the helpers they share are here.

mod invitations;
mod isolation;
mod lists;
mod owners;
mod permissions;
mod properties;

pub(super) use std::collections::{BTreeMap, BTreeSet};

pub(super) use api_tests::{
    claims, create_org, tenant_admin, tenant_id, token, walk_pages, TestApp, TestResponse, SECRET,
};
pub(super) use futures::{future::join, stream, StreamExt};
pub(super) use http::{Method, StatusCode};
pub(super) use proptest::prelude::*;
pub(super) use serde_json::{json, Value};

/// A plain (no roles) token for `sub` in tenant `t`.
pub(super) fn tok(sub: &str, t: &str) -> String {
    token(sub, Some(t), &[])
}

/// A plain token that also carries an `email` claim.
pub(super) fn tok_with_email(sub: &str, t: &str, email: &str) -> String {
    local::token::sign_hs256(
        SECRET.as_bytes(),
        &claims(json!({"sub": sub, "tenant_id": t, "email": email})),
    )
}

pub(super) fn org_path(org: &str) -> String {
    format!("/v1/organizations/{org}")
}

pub(super) fn members_path(org: &str) -> String {
    format!("/v1/organizations/{org}/members")
}

pub(super) fn member_path(org: &str, user: &str) -> String {
    format!("/v1/organizations/{org}/members/{user}")
}

pub(super) fn accept_path(org: &str, user: &str) -> String {
    format!("/v1/organizations/{org}/members/{user}/accept")
}

/// Creates an organization whose owner is `owner` and returns its id.
pub(super) async fn org_owned_by(app: &TestApp, t: &str, owner: &str) -> String {
    create_org(app, &tok(owner, t), &format!("Org {}", uuid::Uuid::now_v7())).await
}

pub(super) async fn invite(app: &TestApp, org: &str, by: &str, user: &str, role: &str) -> TestResponse {
    app.post(&members_path(org), by, json!({"user_id": user, "role": role}))
        .await
}

pub(super) async fn accept(app: &TestApp, org: &str, user: &str, token: &str) -> TestResponse {
    app.call(Method::POST, &accept_path(org, user), Some(token), None)
        .await
}

/// Invites `user` with `role` (by the holder of `by`) and accepts as `user`.
pub(super) async fn join_org(app: &TestApp, t: &str, org: &str, by: &str, user: &str, role: &str) {
    let r = invite(app, org, by, user, role).await;
    assert_eq!(r.status, StatusCode::CREATED, "inviting {user}: {}", r.body);
    let r = accept(app, org, user, &tok(user, t)).await;
    assert_eq!(r.status, StatusCode::OK, "{user} accepting: {}", r.body);
}

/// The organization as the tenant admin reads it.
pub(super) async fn org_json(app: &TestApp, t: &str, org: &str) -> Value {
    let r = app.get(&org_path(org), &tenant_admin(t)).await;
    assert_eq!(r.status, StatusCode::OK, "reading org {org}: {}", r.body);
    r.body
}

pub(super) async fn member_count(app: &TestApp, t: &str, org: &str) -> u64 {
    org_json(app, t, org).await["member_count"]
        .as_u64()
        .expect("member_count")
}

/// One membership as the tenant admin reads it; `None` on 404.
pub(super) async fn membership(app: &TestApp, t: &str, org: &str, user: &str) -> Option<Value> {
    let r = app.get(&member_path(org, user), &tenant_admin(t)).await;
    match r.status {
        StatusCode::OK => Some(r.body),
        StatusCode::NOT_FOUND => None,
        other => panic!("reading membership {user}: {other} {}", r.body),
    }
}

pub(super) fn user_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|m| m["user_id"].as_str().expect("user_id").to_owned())
        .collect()
}

/// The active owners, through the role and status filters.
pub(super) async fn active_owners(app: &TestApp, t: &str, org: &str) -> BTreeSet<String> {
    let path = format!("{}?role=owner&status=active", members_path(org));
    let items = walk_pages(app, &path, &tenant_admin(t)).await;
    for m in &items {
        assert_eq!(
            (&m["role"], &m["status"]),
            (&json!("owner"), &json!("active")),
            "{m}"
        );
    }
    user_ids(&items).into_iter().collect()
}

pub(super) fn assert_status(r: &TestResponse, status: StatusCode, code: &str, context: &str) {
    assert_eq!(r.status, status, "{context}: {}", r.body);
    assert_eq!(r.code(), code, "{context}: {}", r.body);
}

/// A 422 that names `field` among its errors.
pub(super) fn assert_invalid(r: &TestResponse, field: &str, context: &str) {
    assert_status(r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", context);
    assert!(r.body["errors"][field].is_array(), "{context}: {}", r.body);
}

pub(super) fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == "2026-11-22T08:15:30.123Z".len() && s.ends_with('Z'))
}
