//! E-mail invitations: create, list, revoke, resend and accept by token, with expiry on an
//! injected clock, the limits, the races with one winner and a property test. One file per
//! subject; the helpers they share are here.

mod accept;
mod expiry;
mod limits;
mod manage;
mod members;
mod properties;
mod races;

pub(super) use std::{collections::BTreeMap, time::Duration};

pub(super) use api_tests::{
    assert_problem, claims, create_org, tenant_admin, tenant_id, token, walk_pages, TestApp, TestResponse,
    SECRET,
};
pub(super) use http::{Method, StatusCode};
pub(super) use proptest::prelude::*;
pub(super) use serde_json::{json, Value};

pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);

/// A plain (no roles) token for `sub` in tenant `t`.
pub(super) fn tok(sub: &str, t: &str) -> String {
    token(sub, Some(t), &[])
}

/// A plain token that also carries an `email` claim.
pub(super) fn tok_email(sub: &str, t: &str, email: &str) -> String {
    local::token::sign_hs256(
        SECRET.as_bytes(),
        &claims(json!({"sub": sub, "tenant_id": t, "email": email})),
    )
}

pub(super) fn invitations_path(org: &str) -> String {
    format!("/v1/organizations/{org}/invitations")
}

pub(super) fn invitation_path(org: &str, id: &str) -> String {
    format!("/v1/organizations/{org}/invitations/{id}")
}

pub(super) fn resend_path(org: &str, id: &str) -> String {
    format!("/v1/organizations/{org}/invitations/{id}/resend")
}

pub(super) const ACCEPT: &str = "/v1/invitations/accept";

/// An organization of tenant `t` owned by `owner`.
pub(super) async fn org_of(app: &TestApp, t: &str, owner: &str) -> String {
    create_org(app, &tok(owner, t), &format!("Org {}", uuid::Uuid::now_v7())).await
}

pub(super) async fn invite(app: &TestApp, org: &str, by: &str, email: &str, role: &str) -> TestResponse {
    app.post(&invitations_path(org), by, json!({"email": email, "role": role}))
        .await
}

/// Invites `email` and returns `(invitation id, token)`.
pub(super) async fn invited(app: &TestApp, org: &str, by: &str, email: &str, role: &str) -> (String, String) {
    let r = invite(app, org, by, email, role).await;
    assert_eq!(r.status, StatusCode::CREATED, "inviting {email}: {}", r.body);
    (
        r.body["id"].as_str().expect("id").to_owned(),
        r.body["token"].as_str().expect("token").to_owned(),
    )
}

pub(super) async fn accept(app: &TestApp, caller: &str, token: &str) -> TestResponse {
    app.post(ACCEPT, caller, json!({ "token": token })).await
}

pub(super) async fn resend(app: &TestApp, org: &str, id: &str, by: &str) -> TestResponse {
    app.call(Method::POST, &resend_path(org, id), Some(by), None)
        .await
}

/// The invitation as the tenant admin reads it.
pub(super) async fn read_invitation(app: &TestApp, t: &str, org: &str, id: &str) -> Value {
    let r = app.get(&invitation_path(org, id), &tenant_admin(t)).await;
    assert_eq!(r.status, StatusCode::OK, "reading invitation {id}: {}", r.body);
    r.body
}

pub(super) async fn status_of(app: &TestApp, t: &str, org: &str, id: &str) -> String {
    read_invitation(app, t, org, id).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

pub(super) async fn member_count(app: &TestApp, t: &str, org: &str) -> u64 {
    let r = app
        .get(&format!("/v1/organizations/{org}"), &tenant_admin(t))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["member_count"].as_u64().expect("member_count")
}

/// The membership of `user`, as the tenant admin reads it; `None` on 404.
pub(super) async fn membership(app: &TestApp, t: &str, org: &str, user: &str) -> Option<Value> {
    let r = app
        .get(
            &format!("/v1/organizations/{org}/members/{user}"),
            &tenant_admin(t),
        )
        .await;
    match r.status {
        StatusCode::OK => Some(r.body),
        StatusCode::NOT_FOUND => None,
        other => panic!("reading membership {user}: {other} {}", r.body),
    }
}

/// Every invitation of the organization with `filter` (e.g. `status=pending`), in list order.
pub(super) async fn listed(app: &TestApp, t: &str, org: &str, filter: &str) -> Vec<Value> {
    let path = format!("{}?limit=3&{filter}", invitations_path(org));
    walk_pages(app, &path, &tenant_admin(t)).await
}

pub(super) fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

pub(super) fn assert_status(r: &TestResponse, status: StatusCode, code: &str, context: &str) {
    assert_eq!(r.status, status, "{context}: {}", r.body);
    assert_eq!(r.code(), code, "{context}: {}", r.body);
}
