//! Membership routes: invitations, acceptance, roles, removal, the last-owner rule (also
//! under concurrency), list filters, a user's organizations and tenant isolation.

use std::collections::{BTreeMap, BTreeSet};

use api_tests::{claims, tenant_admin, tenant_id, token, walk_pages, TestApp, TestResponse, SECRET};
use futures::{future::join, stream, StreamExt};
use http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A plain (no roles) token for `sub` in tenant `t`.
fn tok(sub: &str, t: &str) -> String {
    token(sub, Some(t), &[])
}

/// A plain token that also carries an `email` claim.
fn tok_with_email(sub: &str, t: &str, email: &str) -> String {
    local::token::sign_hs256(
        SECRET.as_bytes(),
        &claims(json!({"sub": sub, "tenant_id": t, "email": email})),
    )
}

fn org_path(org: &str) -> String {
    format!("/v1/organizations/{org}")
}

fn members_path(org: &str) -> String {
    format!("/v1/organizations/{org}/members")
}

fn member_path(org: &str, user: &str) -> String {
    format!("/v1/organizations/{org}/members/{user}")
}

fn accept_path(org: &str, user: &str) -> String {
    format!("/v1/organizations/{org}/members/{user}/accept")
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> TestResponse {
    app.call(Method::POST, path, Some(token), Some(&body)).await
}

/// Creates an organization whose owner is `owner` and returns its id.
async fn create_org(app: &TestApp, t: &str, owner: &str) -> String {
    let name = format!("Org {}", uuid::Uuid::now_v7());
    let r = post(app, "/v1/organizations", &tok(owner, t), json!({ "name": name })).await;
    assert_eq!(r.status, StatusCode::CREATED, "creating an org: {}", r.body);
    r.body["id"].as_str().expect("org id").to_owned()
}

async fn invite(app: &TestApp, org: &str, by: &str, user: &str, role: &str) -> TestResponse {
    post(
        app,
        &members_path(org),
        by,
        json!({"user_id": user, "role": role}),
    )
    .await
}

async fn accept(app: &TestApp, org: &str, user: &str, token: &str) -> TestResponse {
    app.call(Method::POST, &accept_path(org, user), Some(token), None)
        .await
}

/// Invites `user` with `role` (by the holder of `by`) and accepts as `user`.
async fn join_org(app: &TestApp, t: &str, org: &str, by: &str, user: &str, role: &str) {
    let r = invite(app, org, by, user, role).await;
    assert_eq!(r.status, StatusCode::CREATED, "inviting {user}: {}", r.body);
    let r = accept(app, org, user, &tok(user, t)).await;
    assert_eq!(r.status, StatusCode::OK, "{user} accepting: {}", r.body);
}

/// The organization as the tenant admin reads it.
async fn org_json(app: &TestApp, t: &str, org: &str) -> Value {
    let r = app.get(&org_path(org), &tenant_admin(t)).await;
    assert_eq!(r.status, StatusCode::OK, "reading org {org}: {}", r.body);
    r.body
}

async fn member_count(app: &TestApp, t: &str, org: &str) -> u64 {
    org_json(app, t, org).await["member_count"]
        .as_u64()
        .expect("member_count")
}

/// One membership as the tenant admin reads it; `None` on 404.
async fn membership(app: &TestApp, t: &str, org: &str, user: &str) -> Option<Value> {
    let r = app.get(&member_path(org, user), &tenant_admin(t)).await;
    match r.status {
        StatusCode::OK => Some(r.body),
        StatusCode::NOT_FOUND => None,
        other => panic!("reading membership {user}: {other} {}", r.body),
    }
}

fn user_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|m| m["user_id"].as_str().expect("user_id").to_owned())
        .collect()
}

/// The active owners, through the role and status filters.
async fn active_owners(app: &TestApp, t: &str, org: &str) -> BTreeSet<String> {
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

fn assert_status(r: &TestResponse, status: StatusCode, code: &str, context: &str) {
    assert_eq!(r.status, status, "{context}: {}", r.body);
    assert_eq!(r.code(), code, "{context}: {}", r.body);
}

fn is_timestamp(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == "2026-11-22T08:15:30.123Z".len() && s.ends_with('Z'))
}

// ---------------------------------------------------------------------------------------------
// 1. Invite → accept
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invite_accept_and_remove_flow() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);

    let created = post(&app, "/v1/organizations", &alice, json!({"name": "Flow Inc"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let org = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.header("location"), Some(org_path(&org).as_str()));
    assert!(created.header("etag").is_some());
    assert_eq!(created.body["member_count"], 1);
    assert_eq!(created.body["campaign_count"], 0);
    assert_eq!(member_count(&app, &t, &org).await, 1, "create = 1");

    // The creator is the organization's active owner.
    let creator = app.get(&member_path(&org, "alice"), &alice).await;
    assert_eq!(creator.status, StatusCode::OK, "{}", creator.body);
    assert_eq!(creator.body["organization_id"], org);
    assert_eq!(creator.body["tenant_id"], t);
    assert_eq!(creator.body["role"], "owner");
    assert_eq!(creator.body["status"], "active");
    assert!(creator.body["invited_by_user_id"].is_null());
    assert!(is_timestamp(&creator.body["last_active_at"]), "{}", creator.body);

    // Invite bob as admin.
    let invited = post(
        &app,
        &members_path(&org),
        &alice,
        json!({"user_id": "bob", "role": "admin", "email": "bob@old.example"}),
    )
    .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(
        invited.header("location"),
        Some(member_path(&org, "bob").as_str())
    );
    let b = &invited.body;
    assert_eq!(b["organization_id"], org);
    assert_eq!(b["tenant_id"], t);
    assert_eq!(b["user_id"], "bob");
    assert_eq!(b["role"], "admin");
    assert_eq!(b["status"], "invited");
    assert_eq!(b["invited_by_user_id"], "alice");
    assert_eq!(b["email"], "bob@old.example");
    assert!(b["last_active_at"].is_null());
    assert!(is_timestamp(&b["inserted_at"]));
    assert_eq!(b["updated_at"], b["inserted_at"]);
    let mut fields: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "email",
            "inserted_at",
            "invited_by_user_id",
            "last_active_at",
            "organization_id",
            "role",
            "status",
            "tenant_id",
            "updated_at",
            "user_id"
        ]
    );
    assert_eq!(member_count(&app, &t, &org).await, 2, "invite = 2");
    assert_eq!(
        app.get(&member_path(&org, "bob"), &alice).await.body,
        invited.body
    );

    // Before accepting, bob has no rights, and nobody else can accept for him.
    let bob_plain = tok("bob", &t);
    assert_status(
        &app.get(&members_path(&org), &bob_plain).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "invited bob lists members",
    );
    for (who, tk) in [
        ("carol", tok("carol", &t)),
        ("owner alice", alice.clone()),
        ("tenant admin", tenant_admin(&t)),
    ] {
        assert_status(
            &accept(&app, &org, "bob", &tk).await,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("{who} accepts for bob"),
        );
    }
    assert_eq!(
        membership(&app, &t, &org, "bob").await.unwrap()["status"],
        "invited"
    );

    // Bob accepts; the e-mail of his token replaces the one of the invitation.
    let bob = tok_with_email("bob", &t, "bob@new.example");
    let accepted = accept(&app, &org, "bob", &bob).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let a = &accepted.body;
    assert_eq!(a["status"], "active");
    assert_eq!(a["role"], "admin");
    assert_eq!(a["user_id"], "bob");
    assert_eq!(a["invited_by_user_id"], "alice");
    assert_eq!(a["email"], "bob@new.example");
    assert_eq!(a["inserted_at"], b["inserted_at"]);
    assert!(is_timestamp(&a["last_active_at"]), "{a}");
    assert!(a["last_active_at"].as_str() >= b["inserted_at"].as_str());
    assert!(a["updated_at"].as_str() >= b["updated_at"].as_str());
    assert_eq!(
        member_count(&app, &t, &org).await,
        2,
        "accepting does not count again"
    );
    assert_eq!(
        app.get(&member_path(&org, "bob"), &alice).await.body,
        accepted.body
    );

    // Accepting again changes nothing.
    let again = accept(&app, &org, "bob", &bob).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, accepted.body);

    // Now bob is an active admin: he can list the members.
    let listed = app.get(&members_path(&org), &bob).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        user_ids(listed.body["data"].as_array().unwrap()),
        ["bob", "alice"]
    );

    // Removing him uncounts him.
    let removed = app.delete(&member_path(&org, "bob"), &alice).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(member_count(&app, &t, &org).await, 1, "remove = 1");
    assert_status(
        &app.get(&member_path(&org, "bob"), &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "removed bob",
    );
    assert_status(
        &accept(&app, &org, "bob", &bob).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "removed bob accepts",
    );
    assert_status(
        &app.get(&members_path(&org), &bob).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "removed bob lists members",
    );
}

#[tokio::test]
async fn accept_keeps_the_invited_email_when_the_token_has_none() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let org = create_org(&app, &t, "alice").await;

    let r = post(
        &app,
        &members_path(&org),
        &alice,
        json!({"user_id": "dave", "role": "member", "email": "  dave@invite.example "}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["email"], "dave@invite.example", "trimmed");
    let r = accept(&app, &org, "dave", &tok("dave", &t)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], "dave@invite.example");

    assert_eq!(
        invite(&app, &org, &alice, "erin", "member").await.status,
        StatusCode::CREATED
    );
    let r = accept(&app, &org, "erin", &tok("erin", &t)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["email"].is_null(), "{}", r.body);

    // The creator's membership takes the e-mail of the creating token.
    let org2 = post(
        &app,
        "/v1/organizations",
        &tok_with_email("frank", &t, "frank@example.com"),
        json!({"name": "Frank's"}),
    )
    .await;
    assert_eq!(org2.status, StatusCode::CREATED, "{}", org2.body);
    let org2 = org2.body["id"].as_str().unwrap();
    assert_eq!(
        membership(&app, &t, org2, "frank").await.unwrap()["email"],
        "frank@example.com"
    );
}

#[tokio::test]
async fn user_ids_with_special_characters_round_trip_through_the_location() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let org = create_org(&app, &t, "alice").await;
    let user = "auth0|42 x";
    let r = invite(&app, &org, &alice, user, "member").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(location, member_path(&org, "auth0%7C42%20x"));
    let got = app.get(&location, &alice).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(got.body["user_id"], user);
    let r = app
        .call(
            Method::POST,
            &format!("{location}/accept"),
            Some(&tok(user, &t)),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");
}

#[tokio::test]
async fn invalid_invitations_and_duplicates_change_nothing() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let org = create_org(&app, &t, "alice").await;

    let cases = [
        (json!({"role": "member"}), "user_id"),
        (json!({"user_id": "x"}), "role"),
        (json!({"user_id": "x", "role": "boss"}), "role"),
        (json!({"user_id": "x", "role": "Owner"}), "role"),
        (json!({"user_id": "x", "role": null}), "role"),
        (json!({"user_id": "x", "role": 1}), "role"),
        (json!({"user_id": "", "role": "member"}), "user_id"),
        (json!({"user_id": 12, "role": "member"}), "user_id"),
        (json!({"user_id": "x".repeat(256), "role": "member"}), "user_id"),
        (
            json!({"user_id": "x", "role": "member", "email": "not-an-email"}),
            "email",
        ),
        (
            json!({"user_id": "x", "role": "member", "nickname": "x"}),
            "nickname",
        ),
    ];
    for (body, field) in cases {
        let r = post(&app, &members_path(&org), &alice, body.clone()).await;
        assert_status(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &body.to_string(),
        );
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    for raw in [Some("not json"), Some("[1]"), None] {
        let r = app
            .call_raw(Method::POST, &members_path(&org), Some(&alice), raw, &[])
            .await;
        assert_status(&r, StatusCode::BAD_REQUEST, "bad_request", &format!("{raw:?}"));
    }
    assert_eq!(member_count(&app, &t, &org).await, 1);
    assert!(membership(&app, &t, &org, "x").await.is_none());

    // Read-only fields are ignored.
    let r = post(
        &app,
        &members_path(&org),
        &alice,
        json!({
            "user_id": "ro", "role": "member", "status": "active", "invited_by_user_id": "mallory",
            "last_active_at": "2020-01-01T00:00:00Z", "organization_id": "other", "tenant_id": "other"
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "invited");
    assert_eq!(r.body["invited_by_user_id"], "alice");
    assert!(r.body["last_active_at"].is_null());
    assert_eq!(r.body["organization_id"], org);
    assert_eq!(r.body["tenant_id"], t);
    assert_eq!(member_count(&app, &t, &org).await, 2);

    // Already a member (invited or active): 409, and the existing membership is untouched.
    for (user, role) in [("ro", "admin"), ("alice", "member"), ("alice", "owner")] {
        let r = invite(&app, &org, &alice, user, role).await;
        assert_status(
            &r,
            StatusCode::CONFLICT,
            "conflict",
            &format!("re-inviting {user}"),
        );
    }
    assert_eq!(membership(&app, &t, &org, "ro").await.unwrap()["role"], "member");
    assert_eq!(
        membership(&app, &t, &org, "alice").await.unwrap()["role"],
        "owner"
    );
    assert_eq!(member_count(&app, &t, &org).await, 2);

    // Two concurrent invitations of the same user: one wins.
    let (r1, r2) = join(
        invite(&app, &org, &alice, "dup", "member"),
        invite(&app, &org, &tenant_admin(&t), "dup", "admin"),
    )
    .await;
    let mut statuses = [r1.status.as_u16(), r2.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{} / {}", r1.body, r2.body);
    assert_eq!(member_count(&app, &t, &org).await, 3);
}

#[tokio::test]
async fn invited_members_have_no_rights_until_they_accept() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let org = create_org(&app, &t, "alice").await;
    join_org(&app, &t, &org, &alice, "mem", "member").await;
    assert_eq!(
        invite(&app, &org, &alice, "ia", "admin").await.status,
        StatusCode::CREATED
    );
    let ia = tok("ia", &t);

    let checks = [
        ("list members", app.get(&members_path(&org), &ia).await),
        ("read a member", app.get(&member_path(&org, "alice"), &ia).await),
        (
            "read own membership",
            app.get(&member_path(&org, "ia"), &ia).await,
        ),
        ("invite", invite(&app, &org, &ia, "newbie", "member").await),
        (
            "change a role",
            app.patch(&member_path(&org, "mem"), &ia, json!({"role": "admin"}))
                .await,
        ),
        (
            "remove a member",
            app.delete(&member_path(&org, "mem"), &ia).await,
        ),
        (
            "promote self",
            app.patch(&member_path(&org, "ia"), &ia, json!({"role": "owner"}))
                .await,
        ),
        (
            "rename the org",
            app.patch(&org_path(&org), &ia, json!({"name": "Taken over"}))
                .await,
        ),
        ("delete the org", app.delete(&org_path(&org), &ia).await),
    ];
    for (what, r) in &checks {
        assert_status(r, StatusCode::FORBIDDEN, "forbidden", what);
    }
    assert!(membership(&app, &t, &org, "newbie").await.is_none());
    assert_eq!(membership(&app, &t, &org, "mem").await.unwrap()["role"], "member");
    assert_eq!(membership(&app, &t, &org, "ia").await.unwrap()["role"], "admin");
    assert_eq!(member_count(&app, &t, &org).await, 3);

    // Once accepted, the admin's rights apply.
    assert_eq!(accept(&app, &org, "ia", &ia).await.status, StatusCode::OK);
    assert_eq!(app.get(&members_path(&org), &ia).await.status, StatusCode::OK);
    assert_eq!(
        invite(&app, &org, &ia, "newbie", "member").await.status,
        StatusCode::CREATED
    );
    let r = app
        .patch(&member_path(&org, "mem"), &ia, json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["role"], "admin");

    // An invited member may decline (leave) though.
    assert_eq!(
        invite(&app, &org, &alice, "decliner", "member").await.status,
        StatusCode::CREATED
    );
    let r = app
        .delete(&member_path(&org, "decliner"), &tok("decliner", &t))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert!(membership(&app, &t, &org, "decliner").await.is_none());
    assert_eq!(member_count(&app, &t, &org).await, 4);
}

// ---------------------------------------------------------------------------------------------
// 2. Permission matrix
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Member,
    Admin,
    Owner,
    TenantAdmin,
    Outsider,
    InvitedAdmin,
    InvitedOwner,
}

const ACTORS: [Actor; 7] = [
    Actor::Member,
    Actor::Admin,
    Actor::Owner,
    Actor::TenantAdmin,
    Actor::Outsider,
    Actor::InvitedAdmin,
    Actor::InvitedOwner,
];

impl Actor {
    fn sub(self) -> &'static str {
        match self {
            Actor::Member => "member",
            Actor::Admin => "admin",
            Actor::Owner => "owner",
            Actor::TenantAdmin => "admin-1",
            Actor::Outsider => "outsider",
            Actor::InvitedAdmin => "inv-admin",
            Actor::InvitedOwner => "inv-owner",
        }
    }

    fn token(self, t: &str) -> String {
        match self {
            Actor::TenantAdmin => tenant_admin(t),
            other => tok(other.sub(), t),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    InviteMember,
    InviteOwner,
    MemberToAdmin,
    AdminToOwner,
    DemoteOwner,
    RemoveMember,
    RemoveOwner,
    DeleteOrg,
}

impl Action {
    /// The target, its role before and the role asked for, of the role-change actions.
    fn role_change(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Action::MemberToAdmin => Some(("target-member", "member", "admin")),
            Action::AdminToOwner => Some(("target-admin", "admin", "owner")),
            Action::DemoteOwner => Some(("owner2", "owner", "admin")),
            _ => None,
        }
    }
}

/// Expected status per action, in the order of `ACTORS`:
/// member, admin, owner, tenant_admin, outsider, invited admin, invited owner.
const MATRIX: [(Action, [u16; 7]); 8] = [
    (Action::InviteMember, [403, 201, 201, 201, 403, 403, 403]),
    (Action::InviteOwner, [403, 403, 201, 201, 403, 403, 403]),
    (Action::MemberToAdmin, [403, 200, 200, 200, 403, 403, 403]),
    (Action::AdminToOwner, [403, 403, 200, 200, 403, 403, 403]),
    (Action::DemoteOwner, [403, 403, 200, 200, 403, 403, 403]),
    (Action::RemoveMember, [403, 204, 204, 204, 403, 403, 403]),
    (Action::RemoveOwner, [403, 403, 204, 204, 403, 403, 403]),
    (Action::DeleteOrg, [403, 403, 204, 204, 403, 403, 403]),
];

/// A fresh organization with every actor and target of the matrix: `owner` (the creator),
/// `owner2` (a second active owner, the target of owner actions), `admin`, `member`,
/// `target-member`, `target-admin` (all active), and `inv-admin`, `inv-owner` (invited only).
async fn matrix_org(app: &TestApp, t: &str) -> String {
    let org = create_org(app, t, "owner").await;
    let owner = tok("owner", t);
    for (user, role) in [
        ("owner2", "owner"),
        ("admin", "admin"),
        ("member", "member"),
        ("target-member", "member"),
        ("target-admin", "admin"),
    ] {
        join_org(app, t, &org, &owner, user, role).await;
    }
    for (user, role) in [("inv-admin", "admin"), ("inv-owner", "owner")] {
        let r = invite(app, &org, &owner, user, role).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    org
}

async fn role_of(app: &TestApp, t: &str, org: &str, user: &str) -> Option<String> {
    membership(app, t, org, user)
        .await
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

/// Runs one cell on its own organization; returns what went wrong.
async fn matrix_cell(app: &TestApp, t: &str, actor: Actor, action: Action, expected: u16) -> Vec<String> {
    let org = matrix_org(app, t).await;
    let before = member_count(app, t, &org).await;
    let tk = actor.token(t);
    let r = match action {
        Action::InviteMember => invite(app, &org, &tk, "newcomer", "member").await,
        Action::InviteOwner => invite(app, &org, &tk, "newcomer", "owner").await,
        Action::MemberToAdmin | Action::AdminToOwner | Action::DemoteOwner => {
            let (target, _, to) = action.role_change().unwrap();
            app.patch(&member_path(&org, target), &tk, json!({"role": to}))
                .await
        }
        Action::RemoveMember => app.delete(&member_path(&org, "target-member"), &tk).await,
        Action::RemoveOwner => app.delete(&member_path(&org, "owner2"), &tk).await,
        Action::DeleteOrg => app.delete(&org_path(&org), &tk).await,
    };
    let cell = format!("{actor:?} × {action:?}");
    let mut failures = Vec::new();
    if r.status.as_u16() != expected {
        failures.push(format!(
            "{cell}: expected {expected}, got {} {}",
            r.status, r.body
        ));
    }
    if expected == 403 && r.code() != "forbidden" {
        failures.push(format!("{cell}: expected code forbidden, got {:?}", r.code()));
    }
    let done = (200..300).contains(&expected);
    let mut check = |what: &str, got: String, want: String| {
        if got != want {
            failures.push(format!("{cell}: {what}: expected {want}, got {got}"));
        }
    };
    match action {
        Action::InviteMember | Action::InviteOwner => {
            let m = membership(app, t, &org, "newcomer").await;
            let want_role = if matches!(action, Action::InviteOwner) {
                "owner"
            } else {
                "member"
            };
            let want = done.then(|| format!("{want_role}/invited/{}", actor.sub()));
            let got = m.map(|m| {
                format!(
                    "{}/{}/{}",
                    m["role"].as_str().unwrap_or("?"),
                    m["status"].as_str().unwrap_or("?"),
                    m["invited_by_user_id"].as_str().unwrap_or("?")
                )
            });
            check("newcomer", format!("{got:?}"), format!("{want:?}"));
            let count = member_count(app, t, &org).await;
            check(
                "member_count",
                count.to_string(),
                (before + u64::from(done)).to_string(),
            );
        }
        Action::MemberToAdmin | Action::AdminToOwner | Action::DemoteOwner => {
            let (target, from, to) = action.role_change().unwrap();
            let got = role_of(app, t, &org, target).await;
            check(
                &format!("{target} role"),
                format!("{got:?}"),
                format!("{:?}", Some(if done { to } else { from })),
            );
        }
        Action::RemoveMember | Action::RemoveOwner => {
            let (target, role) = if matches!(action, Action::RemoveMember) {
                ("target-member", "member")
            } else {
                ("owner2", "owner")
            };
            let got = role_of(app, t, &org, target).await;
            check(
                target,
                format!("{got:?}"),
                format!("{:?}", (!done).then_some(role)),
            );
            let count = member_count(app, t, &org).await;
            check(
                "member_count",
                count.to_string(),
                (before - u64::from(done)).to_string(),
            );
        }
        Action::DeleteOrg => {
            let got = app.get(&org_path(&org), &tenant_admin(t)).await.status.as_u16();
            check(
                "GET org",
                got.to_string(),
                if done { "404" } else { "200" }.to_owned(),
            );
        }
    }
    failures
}

#[tokio::test]
async fn permission_matrix() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let cells: Vec<(Actor, Action, u16)> = MATRIX
        .iter()
        .flat_map(|(action, row)| {
            ACTORS
                .iter()
                .zip(row)
                .map(|(actor, status)| (*actor, *action, *status))
        })
        .collect();
    assert_eq!(cells.len(), 56);
    let failures: Vec<String> = stream::iter(cells)
        .map(|(actor, action, expected)| {
            let (app, t) = (&app, t.as_str());
            async move { matrix_cell(app, t, actor, action, expected).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn admins_manage_members_and_admins_but_not_owners() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let owner = tok("owner", &t);
    let org = create_org(&app, &t, "owner").await;
    for (user, role) in [("adm", "admin"), ("adm2", "admin"), ("mem", "member")] {
        join_org(&app, &t, &org, &owner, user, role).await;
    }
    let adm = tok("adm", &t);
    // An admin demotes another admin and promotes a member to admin.
    let r = app
        .patch(&member_path(&org, "adm2"), &adm, json!({"role": "member"}))
        .await;
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (StatusCode::OK, Some("member")),
        "{}",
        r.body
    );
    let r = app
        .patch(&member_path(&org, "mem"), &adm, json!({"role": "admin"}))
        .await;
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (StatusCode::OK, Some("admin")),
        "{}",
        r.body
    );
    // ... but cannot make anyone (itself included) an owner, nor touch the owner.
    for (user, role) in [
        ("adm", "owner"),
        ("mem", "owner"),
        ("owner", "admin"),
        ("owner", "member"),
    ] {
        let r = app
            .patch(&member_path(&org, user), &adm, json!({"role": role}))
            .await;
        assert_status(
            &r,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("admin sets {user} to {role}"),
        );
    }
    assert_status(
        &app.delete(&member_path(&org, "owner"), &adm).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin removes the owner",
    );
    // A member can do none of it, but can leave.
    let mem2 = tok("adm2", &t); // demoted to member above
    let r = app
        .patch(&member_path(&org, "adm2"), &mem2, json!({"role": "admin"}))
        .await;
    assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "member promotes self");
    assert_eq!(
        app.get(&members_path(&org), &mem2).await.status,
        StatusCode::OK,
        "members can list"
    );
    assert_eq!(
        app.get(&member_path(&org, "owner"), &mem2).await.status,
        StatusCode::OK,
        "members can read"
    );
    assert_eq!(
        app.delete(&member_path(&org, "adm2"), &mem2).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(member_count(&app, &t, &org).await, 3);
    // An admin may demote itself.
    let r = app
        .patch(&member_path(&org, "adm"), &adm, json!({"role": "member"}))
        .await;
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (StatusCode::OK, Some("member")),
        "{}",
        r.body
    );
    // Sending the current role (or nothing) changes nothing; bad roles and unknown fields are 422.
    let before = membership(&app, &t, &org, "mem").await.unwrap();
    for body in [json!({"role": "admin"}), json!({})] {
        let r = app.patch(&member_path(&org, "mem"), &owner, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.body);
        assert_eq!(r.body, before, "{body}");
    }
    for (body, field) in [
        (json!({"role": "boss"}), "role"),
        (json!({"role": null}), "role"),
        (json!({"role": 3}), "role"),
        (json!({"role": "member", "nickname": "x"}), "nickname"),
    ] {
        let r = app.patch(&member_path(&org, "mem"), &owner, body.clone()).await;
        assert_status(
            &r,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            &body.to_string(),
        );
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    assert_eq!(membership(&app, &t, &org, "mem").await.unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// 3. The last owner
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let ta = tenant_admin(&t);
    let org = create_org(&app, &t, "alice").await;
    let sole_owner_refusals = |label: &'static str| {
        let (app, org, alice, ta) = (&app, org.clone(), alice.clone(), ta.clone());
        async move {
            let alice_path = member_path(&org, "alice");
            let attempts = [
                (
                    "owner demotes self to admin",
                    app.patch(&alice_path, &alice, json!({"role": "admin"})).await,
                ),
                (
                    "owner demotes self to member",
                    app.patch(&alice_path, &alice, json!({"role": "member"})).await,
                ),
                ("owner leaves", app.delete(&alice_path, &alice).await),
                (
                    "tenant admin demotes the owner",
                    app.patch(&alice_path, &ta, json!({"role": "member"})).await,
                ),
                (
                    "tenant admin removes the owner",
                    app.delete(&alice_path, &ta).await,
                ),
            ];
            for (what, r) in &attempts {
                assert_status(r, StatusCode::CONFLICT, "conflict", &format!("{label}: {what}"));
            }
        }
    };
    sole_owner_refusals("alone").await;
    assert_eq!(
        active_owners(&app, &t, &org).await,
        BTreeSet::from(["alice".to_owned()])
    );
    assert_eq!(
        membership(&app, &t, &org, "alice").await.unwrap()["role"],
        "owner"
    );
    assert_eq!(member_count(&app, &t, &org).await, 1);

    // An invited (not yet accepted) owner does not count.
    assert_eq!(
        invite(&app, &org, &alice, "bob", "owner").await.status,
        StatusCode::CREATED
    );
    sole_owner_refusals("with an invited owner").await;
    assert_eq!(member_count(&app, &t, &org).await, 2);

    // Once bob accepts there are two active owners: alice may step down.
    let bob = tok("bob", &t);
    assert_eq!(accept(&app, &org, "bob", &bob).await.status, StatusCode::OK);
    assert_eq!(
        active_owners(&app, &t, &org).await,
        BTreeSet::from(["alice".to_owned(), "bob".to_owned()])
    );
    let r = app
        .patch(&member_path(&org, "alice"), &alice, json!({"role": "admin"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["role"], "admin");
    assert_eq!(
        active_owners(&app, &t, &org).await,
        BTreeSet::from(["bob".to_owned()])
    );

    // Now bob is the last owner.
    let bob_path = member_path(&org, "bob");
    assert_status(
        &app.delete(&bob_path, &bob).await,
        StatusCode::CONFLICT,
        "conflict",
        "bob leaves",
    );
    assert_status(
        &app.patch(&bob_path, &ta, json!({"role": "member"})).await,
        StatusCode::CONFLICT,
        "conflict",
        "tenant admin demotes bob",
    );
    assert_status(
        &app.patch(&bob_path, &alice, json!({"role": "admin"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin alice demotes owner bob",
    );
    // Setting the owner role on the last owner is a no-op, not a conflict.
    assert_eq!(
        app.patch(&bob_path, &bob, json!({"role": "owner"})).await.status,
        StatusCode::OK
    );

    // Bob hands over: promotes alice back, then leaves.
    let r = app
        .patch(&member_path(&org, "alice"), &bob, json!({"role": "owner"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.delete(&bob_path, &bob).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        active_owners(&app, &t, &org).await,
        BTreeSet::from(["alice".to_owned()])
    );
    assert_eq!(member_count(&app, &t, &org).await, 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Concurrency
// ---------------------------------------------------------------------------------------------

/// A fresh organization with two active owners, `a` and `b`.
async fn two_owner_org(app: &TestApp, t: &str) -> String {
    let org = create_org(app, t, "a").await;
    join_org(app, t, &org, &tok("a", t), "b", "owner").await;
    assert_eq!(
        active_owners(app, t, &org).await,
        BTreeSet::from(["a".to_owned(), "b".to_owned()])
    );
    org
}

/// The invariant alone, whatever the losing request's status: one request wins, the other
/// is refused (409, or 403 since its caller lost the owner role meanwhile) and exactly one
/// active owner remains.
#[tokio::test]
async fn mutual_demotion_never_leaves_the_org_without_an_owner() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let (a, b) = (tok("a", &t), tok("b", &t));
    for round in 0..10 {
        let org = two_owner_org(&app, &t).await;
        let (ra, rb) = join(
            app.patch(&member_path(&org, "b"), &a, json!({"role": "member"})),
            app.patch(&member_path(&org, "a"), &b, json!({"role": "member"})),
        )
        .await;
        let oks = [&ra, &rb].iter().filter(|r| r.status == StatusCode::OK).count();
        assert_eq!(
            oks, 1,
            "round {round}: {} {} / {} {}",
            ra.status, ra.body, rb.status, rb.body
        );
        for r in [&ra, &rb] {
            assert!(
                [StatusCode::OK, StatusCode::CONFLICT, StatusCode::FORBIDDEN].contains(&r.status),
                "round {round}: {} {}",
                r.status,
                r.body
            );
        }
        assert_eq!(active_owners(&app, &t, &org).await.len(), 1, "round {round}");
        assert_eq!(member_count(&app, &t, &org).await, 2, "round {round}");
    }
}

#[tokio::test]
async fn concurrent_owner_exits_leave_exactly_one_owner() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let (a, b, ta) = (tok("a", &t), tok("b", &t), tenant_admin(&t));
    for round in 0..10 {
        // Both owners leave at once.
        let org = two_owner_org(&app, &t).await;
        let (ra, rb) = join(
            app.delete(&member_path(&org, "a"), &a),
            app.delete(&member_path(&org, "b"), &b),
        )
        .await;
        let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [204, 409],
            "round {round} leave: {} / {}",
            ra.body,
            rb.body
        );
        assert_eq!(
            active_owners(&app, &t, &org).await.len(),
            1,
            "round {round} leave"
        );
        assert_eq!(member_count(&app, &t, &org).await, 1, "round {round} leave");

        // The tenant admin demotes both owners at once.
        let org = two_owner_org(&app, &t).await;
        let (ra, rb) = join(
            app.patch(&member_path(&org, "a"), &ta, json!({"role": "admin"})),
            app.patch(&member_path(&org, "b"), &ta, json!({"role": "admin"})),
        )
        .await;
        let mut statuses = [ra.status.as_u16(), rb.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round} tenant admin: {} / {}",
            ra.body,
            rb.body
        );
        assert_eq!(
            active_owners(&app, &t, &org).await.len(),
            1,
            "round {round} tenant admin"
        );
        assert_eq!(
            member_count(&app, &t, &org).await,
            2,
            "round {round} tenant admin"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Property: random sequences keep the counters and the owner rule
// ---------------------------------------------------------------------------------------------

const POOL: [&str; 5] = ["creator", "u1", "u2", "u3", "u4"];
const ROLES: [&str; 3] = ["owner", "admin", "member"];

/// `None` is the tenant admin, `Some(i)` the user `POOL[i]`.
type ActorIx = Option<usize>;

#[derive(Debug, Clone, Copy)]
enum Op {
    Invite {
        actor: ActorIx,
        user: usize,
        role: usize,
    },
    Accept {
        user: usize,
    },
    ChangeRole {
        actor: ActorIx,
        user: usize,
        role: usize,
    },
    Remove {
        actor: ActorIx,
        user: usize,
    },
}

fn actor_strategy() -> impl Strategy<Value = ActorIx> {
    prop_oneof![2 => Just(None), 3 => (0..POOL.len()).prop_map(Some)]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (actor_strategy(), 0..POOL.len(), 0..ROLES.len())
            .prop_map(|(actor, user, role)| Op::Invite { actor, user, role }),
        2 => (0..POOL.len()).prop_map(|user| Op::Accept { user }),
        2 => (actor_strategy(), 0..POOL.len(), 0..ROLES.len())
            .prop_map(|(actor, user, role)| Op::ChangeRole { actor, user, role }),
        1 => (actor_strategy(), 0..POOL.len()).prop_map(|(actor, user)| Op::Remove { actor, user }),
    ]
}

/// What the contract says should happen: user → (role, status).
struct Model {
    members: BTreeMap<&'static str, (&'static str, &'static str)>,
}

impl Model {
    fn new() -> Self {
        Model {
            members: [(POOL[0], ("owner", "active"))].into(),
        }
    }

    /// `None`: outsider; `Some(None)`: tenant admin; `Some(Some(role))`: active member.
    fn authority(&self, actor: ActorIx) -> Option<Option<&'static str>> {
        match actor {
            None => Some(None),
            Some(i) => match self.members.get(POOL[i]) {
                Some((role, "active")) => Some(Some(role)),
                _ => None,
            },
        }
    }

    fn allows(&self, actor: ActorIx, roles: &[&str]) -> bool {
        match self.authority(actor) {
            Some(None) => true,
            Some(Some(role)) => roles.contains(&role),
            None => false,
        }
    }

    fn active_owners(&self) -> usize {
        self.members
            .values()
            .filter(|m| **m == ("owner", "active"))
            .count()
    }

    /// Applies `op` and returns the status the API must answer.
    fn apply(&mut self, op: Op) -> u16 {
        const MANAGERS: &[&str] = &["owner", "admin"];
        const OWNERS: &[&str] = &["owner"];
        match op {
            Op::Invite { actor, user, role } => {
                let role = ROLES[role];
                if !self.allows(actor, MANAGERS) || (role == "owner" && !self.allows(actor, OWNERS)) {
                    403
                } else if self.members.contains_key(POOL[user]) {
                    409
                } else {
                    self.members.insert(POOL[user], (role, "invited"));
                    201
                }
            }
            Op::Accept { user } => match self.members.get_mut(POOL[user]) {
                None => 404,
                Some(m) => {
                    m.1 = "active";
                    200
                }
            },
            Op::ChangeRole { actor, user, role } => {
                let role = ROLES[role];
                if !self.allows(actor, MANAGERS) {
                    return 403;
                }
                let Some(&current) = self.members.get(POOL[user]) else {
                    return 404;
                };
                if current.0 == role {
                    return 200;
                }
                let needed = if role == "owner" || current.0 == "owner" {
                    OWNERS
                } else {
                    MANAGERS
                };
                if !self.allows(actor, needed) {
                    403
                } else if current == ("owner", "active") && self.active_owners() == 1 {
                    409
                } else {
                    self.members.insert(POOL[user], (role, current.1));
                    200
                }
            }
            Op::Remove { actor, user } => {
                let Some(&current) = self.members.get(POOL[user]) else {
                    return 404;
                };
                let leaving = actor == Some(user);
                let needed = if current.0 == "owner" { OWNERS } else { MANAGERS };
                if !leaving && !self.allows(actor, needed) {
                    403
                } else if current == ("owner", "active") && self.active_owners() == 1 {
                    409
                } else {
                    self.members.remove(POOL[user]);
                    204
                }
            }
        }
    }
}

fn actor_token(t: &str, actor: ActorIx) -> String {
    match actor {
        None => tenant_admin(t),
        Some(i) => tok(POOL[i], t),
    }
}

async fn run_op(app: &TestApp, t: &str, org: &str, op: Op) -> TestResponse {
    match op {
        Op::Invite { actor, user, role } => {
            invite(app, org, &actor_token(t, actor), POOL[user], ROLES[role]).await
        }
        Op::Accept { user } => accept(app, org, POOL[user], &tok(POOL[user], t)).await,
        Op::ChangeRole { actor, user, role } => {
            app.patch(
                &member_path(org, POOL[user]),
                &actor_token(t, actor),
                json!({"role": ROLES[role]}),
            )
            .await
        }
        Op::Remove { actor, user } => {
            app.delete(&member_path(org, POOL[user]), &actor_token(t, actor))
                .await
        }
    }
}

/// One table for all property cases of this file (each case uses fresh tenants).
static PROPERTY_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Any sequence of invitations, acceptances, role changes and removals answers as the
    /// contract says, keeps `member_count` equal to the listed memberships and never leaves
    /// the organization without an active owner.
    #[test]
    fn random_membership_sequences_keep_counters_and_an_owner(ops in prop::collection::vec(op_strategy(), 1..=25)) {
        api_tests::property_runtime().block_on(async {
            let app = api_tests::shared_app(&PROPERTY_APP).await;
            let t = tenant_id();
            let org = create_org(app, &t, POOL[0]).await;
            let mut model = Model::new();
            for (step, op) in ops.iter().enumerate() {
                let expected = model.apply(*op);
                let r = run_op(app, &t, &org, *op).await;
                assert_eq!(r.status.as_u16(), expected, "step {step} {op:?}: {}", r.body);
            }
            let listed = walk_pages(app, &format!("{}?limit=3", members_path(&org)), &tenant_admin(&t)).await;
            let count = member_count(app, &t, &org).await;
            assert_eq!(count as usize, listed.len(), "member_count vs listed: {listed:?}");
            let got: BTreeMap<String, (String, String)> = listed
                .iter()
                .map(|m| {
                    (
                        m["user_id"].as_str().unwrap().to_owned(),
                        (m["role"].as_str().unwrap().to_owned(), m["status"].as_str().unwrap().to_owned()),
                    )
                })
                .collect();
            let want: BTreeMap<String, (String, String)> = model
                .members
                .iter()
                .map(|(u, (r, s))| ((*u).to_owned(), ((*r).to_owned(), (*s).to_owned())))
                .collect();
            assert_eq!(got, want);
            let owners = active_owners(app, &t, &org).await;
            assert!(!owners.is_empty(), "no active owner left");
            assert_eq!(owners.len(), model.active_owners());
        });
    }
}

// ---------------------------------------------------------------------------------------------
// 6. List filters
// ---------------------------------------------------------------------------------------------

/// A list query, its role and status filters and the page sizes it must give at limit 2.
type Filter = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static [usize],
);

#[tokio::test]
async fn member_list_filters_give_full_pages_newest_first() {
    let app = TestApp::new().await;
    let t = tenant_id();
    // Names sort in creation order, so "newest first" (ties broken by id) is the reverse order
    // of creation even when two memberships share a millisecond.
    let owner = tok("a0", &t);
    let org = create_org(&app, &t, "a0").await;
    let mut created: Vec<(&str, &str, &str)> = vec![("a0", "owner", "active")];
    for (user, role, active) in [
        ("b1", "member", true),
        ("b2", "member", true),
        ("b3", "member", false),
        ("b4", "member", true),
        ("b5", "member", false),
        ("c1", "admin", true),
        ("c2", "admin", false),
    ] {
        assert_eq!(
            invite(&app, &org, &owner, user, role).await.status,
            StatusCode::CREATED
        );
        if active {
            assert_eq!(
                accept(&app, &org, user, &tok(user, &t)).await.status,
                StatusCode::OK
            );
        }
        created.push((user, role, if active { "active" } else { "invited" }));
    }
    let reader = tok("b1", &t); // any active member may list
    let filters: [Filter; 10] = [
        ("", None, None, &[2, 2, 2, 2]),
        ("role=member", Some("member"), None, &[2, 2, 1]),
        ("status=active", None, Some("active"), &[2, 2, 1]),
        ("status=invited", None, Some("invited"), &[2, 1]),
        ("role=admin", Some("admin"), None, &[2]),
        ("role=owner", Some("owner"), None, &[1]),
        (
            "role=member&status=active",
            Some("member"),
            Some("active"),
            &[2, 1],
        ),
        (
            "role=member&status=invited",
            Some("member"),
            Some("invited"),
            &[2],
        ),
        ("role=admin&status=invited", Some("admin"), Some("invited"), &[1]),
        ("role=owner&status=invited", Some("owner"), Some("invited"), &[0]),
    ];
    for (query, role, status, sizes) in filters {
        let path = format!("{}?limit=2&{query}", members_path(&org));
        let (items, got_sizes) = api_tests::walk_pages_with_sizes(&app, &path, &reader).await;
        let expected: Vec<String> = created
            .iter()
            .rev()
            .filter(|(_, r, s)| role.is_none_or(|x| x == *r) && status.is_none_or(|x| x == *s))
            .map(|(u, _, _)| (*u).to_owned())
            .collect();
        assert_eq!(user_ids(&items), expected, "{query}");
        assert_eq!(got_sizes, sizes, "{query}: page sizes");
        for m in &items {
            if let Some(role) = role {
                assert_eq!(m["role"], role, "{query}");
            }
            if let Some(status) = status {
                assert_eq!(m["status"], status, "{query}");
            }
        }
        for pair in items.windows(2) {
            let key = |m: &Value| {
                (
                    m["inserted_at"].as_str().unwrap().to_owned(),
                    m["user_id"].as_str().unwrap().to_owned(),
                )
            };
            assert!(key(&pair[0]) > key(&pair[1]), "{query}: not newest first");
        }
    }

    // A cursor belongs to its list and filter.
    let first = app
        .get(&format!("{}?limit=2&role=member", members_path(&org)), &reader)
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let ok = app
        .get(
            &format!("{}?limit=2&role=member&cursor={cursor}", members_path(&org)),
            &reader,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let other_org = create_org(&app, &t, "b1").await;
    for path in [
        format!("{}?limit=2&status=active&cursor={cursor}", members_path(&org)),
        format!("{}?limit=2&role=admin&cursor={cursor}", members_path(&org)),
        format!(
            "{}?limit=2&role=member&status=active&cursor={cursor}",
            members_path(&org)
        ),
        format!("{}?limit=2&cursor={cursor}", members_path(&org)),
        format!("{}?limit=2&role=member&cursor={cursor}", members_path(&other_org)),
        format!("/v1/users/me/organizations?limit=2&cursor={cursor}"),
    ] {
        let r = app.get(&path, &reader).await;
        assert_status(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", &path);
        assert!(r.body["errors"]["cursor"].is_array(), "{path}: {}", r.body);
    }
    // And the other way round: a status cursor is refused by the role filter.
    let by_status = app
        .get(&format!("{}?limit=2&status=active", members_path(&org)), &reader)
        .await;
    let status_cursor = by_status.body["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!(
                "{}?limit=2&role=member&cursor={status_cursor}",
                members_path(&org)
            ),
            &reader,
        )
        .await;
    assert_status(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        "status cursor on role list",
    );

    // Invalid parameters.
    for (query, field) in [
        ("role=boss", "role"),
        ("status=deleted", "status"),
        ("status=Active", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("sort=name", "sort"),
    ] {
        let r = app.get(&format!("{}?{query}", members_path(&org)), &reader).await;
        assert_status(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", query);
        assert!(r.body["errors"][field].is_array(), "{query}: {}", r.body);
    }
    // Outsiders and invited members may not list.
    for who in ["stranger", "b3"] {
        let r = app.get(&members_path(&org), &tok(who, &t)).await;
        assert_status(&r, StatusCode::FORBIDDEN, "forbidden", who);
    }
    // The tenant admin may, without being a member.
    let all = walk_pages(&app, &members_path(&org), &tenant_admin(&t)).await;
    assert_eq!(all.len(), 8);
    assert_eq!(member_count(&app, &t, &org).await, 8);
}

// ---------------------------------------------------------------------------------------------
// 7. A user's organizations
// ---------------------------------------------------------------------------------------------

fn org_ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|x| {
            assert_eq!(x["organization"]["id"], x["membership"]["organization_id"], "{x}");
            x["organization"]["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn users_list_their_own_organizations() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let (alice, bob, ta) = (tok("alice", &t), tok("bob", &t), tenant_admin(&t));
    let o1 = create_org(&app, &t, "alice").await;
    let o2 = create_org(&app, &t, "alice").await;
    let o3 = create_org(&app, &t, "bob").await;
    join_org(&app, &t, &o3, &bob, "alice", "admin").await;

    let (mine, sizes) =
        api_tests::walk_pages_with_sizes(&app, "/v1/users/me/organizations?limit=2", &alice).await;
    assert_eq!(org_ids(&mine), [o3.clone(), o2.clone(), o1.clone()]);
    assert_eq!(sizes, [2, 1]);
    for x in &mine {
        assert_eq!(x["membership"]["user_id"], "alice", "{x}");
        assert_eq!(x["membership"]["status"], "active", "{x}");
        assert_eq!(x["organization"]["tenant_id"], t, "{x}");
    }
    let roles: Vec<&str> = mine
        .iter()
        .map(|x| x["membership"]["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["admin", "owner", "owner"]);
    assert_eq!(mine[0]["organization"]["member_count"], 2);

    // By id: the user themself or a tenant admin; nobody else.
    let by_id = walk_pages(&app, "/v1/users/alice/organizations", &alice).await;
    assert_eq!(by_id, mine);
    let by_admin = walk_pages(&app, "/v1/users/alice/organizations", &ta).await;
    assert_eq!(org_ids(&by_admin), [o3.clone(), o2.clone(), o1.clone()]);
    for (who, tk) in [("bob", &bob), ("an org owner", &tok("alice2", &t))] {
        let r = app.get("/v1/users/alice/organizations", tk).await;
        assert_status(&r, StatusCode::FORBIDDEN, "forbidden", who);
    }
    assert_eq!(
        org_ids(&walk_pages(&app, "/v1/users/me/organizations", &bob).await),
        [o3.as_str()]
    );
    for tk in [tok("nobody", &t), ta.clone()] {
        let r = app.get("/v1/users/me/organizations", &tk).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body,
            json!({"data": [], "next_cursor": null, "has_more": false})
        );
    }

    // A soft-deleted organization disappears from its members' lists.
    assert_eq!(
        app.delete(&org_path(&o2), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    let (mine, sizes) =
        api_tests::walk_pages_with_sizes(&app, "/v1/users/me/organizations?limit=1", &alice).await;
    assert_eq!(org_ids(&mine), [o3.clone(), o1.clone()]);
    assert_eq!(sizes, [1, 1]);
    assert_eq!(
        org_ids(&walk_pages(&app, "/v1/users/alice/organizations", &ta).await),
        [o3.clone(), o1.clone()]
    );
    assert_status(
        &app.get(&members_path(&o2), &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "members of a deleted org",
    );

    // Leaving an organization takes it off the list too.
    assert_eq!(
        app.delete(&member_path(&o3, "alice"), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        org_ids(&walk_pages(&app, "/v1/users/me/organizations", &alice).await),
        [o1.as_str()]
    );
    assert_eq!(member_count(&app, &t, &o3).await, 1);

    // Invalid list parameters.
    for query in ["limit=0", "cursor=garbage", "role=owner"] {
        let r = app
            .get(&format!("/v1/users/me/organizations?{query}"), &alice)
            .await;
        assert_status(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", query);
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Tenant isolation, malformed and unknown ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_tenants_organization_is_404_on_every_membership_route() {
    let app = TestApp::new().await;
    let (a, b) = (tenant_id(), tenant_id());
    let org = create_org(&app, &a, "alice").await;
    assert_eq!(
        invite(&app, &org, &tok("alice", &a), "bob", "member")
            .await
            .status,
        StatusCode::CREATED
    );
    let org_before = org_json(&app, &a, &org).await;
    let members_before = walk_pages(&app, &members_path(&org), &tenant_admin(&a)).await;

    // Tenant b exists (its first request provisions it) and has nothing else.
    assert_eq!(
        app.get("/v1/tenant", &tok("alice", &b)).await.status,
        StatusCode::OK
    );
    let mut keys_before = app.all_partition_keys().await;
    keys_before.sort();
    let b_prefix = format!("{b}#");
    let b_keys: Vec<&String> = keys_before.iter().filter(|k| k.starts_with(&b_prefix)).collect();
    assert_eq!(b_keys, [&format!("{b}#TENANT")]);

    for (who, tk) in [
        ("same sub in b", tok("alice", &b)),
        ("b's tenant admin", tenant_admin(&b)),
        ("invitee's sub in b", tok("bob", &b)),
    ] {
        let requests: Vec<(Method, String, Option<Value>)> = vec![
            (Method::GET, members_path(&org), None),
            (
                Method::GET,
                format!("{}?role=owner&status=active", members_path(&org)),
                None,
            ),
            (
                Method::POST,
                members_path(&org),
                Some(json!({"user_id": "mallory", "role": "owner"})),
            ),
            (Method::GET, member_path(&org, "alice"), None),
            (
                Method::PATCH,
                member_path(&org, "bob"),
                Some(json!({"role": "owner"})),
            ),
            (
                Method::PATCH,
                member_path(&org, "alice"),
                Some(json!({"role": "member"})),
            ),
            (Method::DELETE, member_path(&org, "bob"), None),
            (Method::DELETE, member_path(&org, "alice"), None),
            (Method::POST, accept_path(&org, "bob"), None),
            (Method::GET, org_path(&org), None),
            (Method::DELETE, org_path(&org), None),
        ];
        for (method, path, body) in requests {
            let r = app.call(method.clone(), &path, Some(&tk), body.as_ref()).await;
            assert_status(
                &r,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{who}: {method} {path}"),
            );
        }
    }
    for (tk, path) in [
        (tok("alice", &b), "/v1/users/me/organizations"),
        (tok("bob", &b), "/v1/users/bob/organizations"),
        (tenant_admin(&b), "/v1/users/alice/organizations"),
    ] {
        let r = app.get(path, &tk).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        assert_eq!(r.body["data"], json!([]), "{path}");
    }

    // Nothing was written in either tenant.
    let mut keys_after = app.all_partition_keys().await;
    keys_after.sort();
    assert_eq!(keys_after, keys_before);
    assert_eq!(org_json(&app, &a, &org).await, org_before);
    assert_eq!(
        walk_pages(&app, &members_path(&org), &tenant_admin(&a)).await,
        members_before
    );
}

#[tokio::test]
async fn malformed_and_unknown_ids_are_404() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let ta = tenant_admin(&t);
    let org = create_org(&app, &t, "alice").await;
    let upper = org.to_uppercase();
    let unhyphenated = org.replace('-', "");
    let unknown = uuid::Uuid::now_v7().to_string();
    for bad in [
        "not-a-uuid",
        upper.as_str(),
        unhyphenated.as_str(),
        unknown.as_str(),
        "a%23b",
        "%20",
    ] {
        for tk in [&alice, &ta] {
            let requests: Vec<(Method, String, Option<Value>)> = vec![
                (Method::GET, members_path(bad), None),
                (
                    Method::POST,
                    members_path(bad),
                    Some(json!({"user_id": "x", "role": "member"})),
                ),
                (Method::GET, member_path(bad, "alice"), None),
                (
                    Method::PATCH,
                    member_path(bad, "alice"),
                    Some(json!({"role": "admin"})),
                ),
                (Method::DELETE, member_path(bad, "alice"), None),
                (Method::POST, accept_path(bad, "alice"), None),
            ];
            for (method, path, body) in requests {
                let r = app.call(method.clone(), &path, Some(tk), body.as_ref()).await;
                assert_status(
                    &r,
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("{method} {path}"),
                );
            }
        }
    }
    // Unknown users in a real organization.
    let long = "u".repeat(300);
    for user in ["nobody", "%20", "a%2Fb", long.as_str()] {
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"role": "admin"}))),
            (Method::DELETE, None),
        ] {
            let path = member_path(&org, user);
            let r = app.call(method.clone(), &path, Some(&ta), body.as_ref()).await;
            assert_status(
                &r,
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{method} {path}"),
            );
        }
    }
    assert_status(
        &accept(&app, &org, "nobody", &tok("nobody", &t)).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "accepting without an invitation",
    );
    assert_eq!(member_count(&app, &t, &org).await, 1);
    assert!(
        !app.all_partition_keys()
            .await
            .iter()
            .any(|k| k.contains(&unknown)),
        "nothing was written for the unknown organization"
    );
}

#[tokio::test]
async fn membership_routes_need_a_token_an_active_tenant_and_a_known_method() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let org = create_org(&app, &t, "alice").await;
    assert_eq!(
        invite(&app, &org, &alice, "bob", "member").await.status,
        StatusCode::CREATED
    );
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, members_path(&org), None),
        (
            Method::POST,
            members_path(&org),
            Some(json!({"user_id": "carol", "role": "member"})),
        ),
        (Method::GET, member_path(&org, "bob"), None),
        (
            Method::PATCH,
            member_path(&org, "bob"),
            Some(json!({"role": "admin"})),
        ),
        (Method::DELETE, member_path(&org, "bob"), None),
        (Method::POST, accept_path(&org, "bob"), None),
        (Method::GET, "/v1/users/me/organizations".to_owned(), None),
    ];
    for (method, path, body) in &routes {
        let r = app.call(method.clone(), path, None, body.as_ref()).await;
        assert_status(
            &r,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            &format!("{method} {path}"),
        );
    }
    for (method, path, allow) in [
        (Method::PUT, member_path(&org, "bob"), "GET, PATCH, DELETE"),
        (Method::GET, accept_path(&org, "bob"), "POST"),
        (Method::DELETE, members_path(&org), "GET, POST"),
    ] {
        let r = app.call(method.clone(), &path, Some(&alice), None).await;
        assert_status(
            &r,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{method} {path}"),
        );
        assert_eq!(r.header("allow"), Some(allow), "{method} {path}");
    }

    // A suspended tenant can use none of them, not even its tenant admin.
    let r = app
        .patch(
            &format!("/v1/tenants/{t}"),
            &api_tests::platform_admin(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for tk in [tok("alice", &t), tok("bob", &t), tenant_admin(&t)] {
        for (method, path, body) in &routes {
            let r = app.call(method.clone(), path, Some(&tk), body.as_ref()).await;
            assert_status(
                &r,
                StatusCode::FORBIDDEN,
                "tenant_inactive",
                &format!("{method} {path}"),
            );
        }
    }
    let r = app
        .patch(
            &format!("/v1/tenants/{t}"),
            &api_tests::platform_admin(),
            json!({"status": "active"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        member_count(&app, &t, &org).await,
        2,
        "nothing changed while suspended"
    );
    assert_eq!(
        membership(&app, &t, &org, "bob").await.unwrap()["status"],
        "invited"
    );
}
