//! Membership invitations by user id expire the same way: `expires_at` seven days after the
//! invitation, read as `expired` without any write, refused with 410, and replaced by a new
//! invitation of the same user.

use super::*;

fn members_path(org: &str) -> String {
    format!("/v1/organizations/{org}/members")
}

async fn invite_user(app: &TestApp, org: &str, by: &str, user: &str, role: &str) -> Value {
    let r = app
        .post(&members_path(org), by, json!({"user_id": user, "role": role}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "inviting {user}: {}", r.body);
    r.body
}

async fn accept_user(app: &TestApp, t: &str, org: &str, user: &str) -> TestResponse {
    app.call(
        Method::POST,
        &format!("/v1/organizations/{org}/members/{user}/accept"),
        Some(&tok(user, t)),
        None,
    )
    .await
}

fn user_ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|m| m["user_id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_membership_invitation_expires_after_seven_days() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let invited = invite_user(&app, &org, &alice, "bob", "admin").await;
    let inserted = chrono::DateTime::parse_from_rfc3339(invited["inserted_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(invited["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - inserted, chrono::Duration::days(7));
    let founder = membership(&app, &t, &org, "alice").await.unwrap();
    assert!(founder["expires_at"].is_null(), "{founder}");

    app.clock.advance(DAY * 7);
    let got = membership(&app, &t, &org, "bob").await.unwrap();
    assert_eq!(got["status"], "expired");
    assert_eq!(got["expires_at"], invited["expires_at"]);
    assert_eq!(got["updated_at"], invited["updated_at"], "nothing was written");
    let r = accept_user(&app, &t, &org, "bob").await;
    assert_status(&r, StatusCode::GONE, "gone", "accepting an expired invitation");
    assert_eq!(
        membership(&app, &t, &org, "bob").await.unwrap()["status"],
        "expired"
    );
    // It still counts until it is removed or replaced (member_count equals the member list).
    assert_eq!(member_count(&app, &t, &org).await, 2);
    let mine = app.get("/v1/users/me/organizations", &tok("bob", &t)).await;
    assert_eq!(
        mine.body["data"][0]["membership"]["status"], "expired",
        "{}",
        mine.body
    );

    // Inviting the user again replaces the expired invitation.
    let again = invite_user(&app, &org, &alice, "bob", "member").await;
    assert_eq!(again["status"], "invited");
    assert_eq!(again["role"], "member");
    assert_eq!(member_count(&app, &t, &org).await, 2);
    let r = accept_user(&app, &t, &org, "bob").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["expires_at"].is_null());
    // A live invitation or a member is still a 409.
    let r = app
        .post(
            &members_path(&org),
            &alice,
            json!({"user_id": "bob", "role": "member"}),
        )
        .await;
    assert_status(&r, StatusCode::CONFLICT, "conflict", "inviting a member");
    invite_user(&app, &org, &alice, "cy", "member").await;
    let r = app
        .post(
            &members_path(&org),
            &alice,
            json!({"user_id": "cy", "role": "member"}),
        )
        .await;
    assert_status(&r, StatusCode::CONFLICT, "conflict", "inviting an invited user");
}

#[tokio::test]
async fn member_status_filters_split_live_and_expired_invitations() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    for u in ["old1", "old2", "old3"] {
        invite_user(&app, &org, &alice, u, "member").await;
    }
    invite_user(&app, &org, &alice, "old-admin", "admin").await;
    app.clock.advance(DAY * 4);
    for u in ["new1", "new2", "new3"] {
        invite_user(&app, &org, &alice, u, "member").await;
    }
    app.clock.advance(DAY * 4);
    let admin = tenant_admin(&t);
    let walk = |filter: &'static str| {
        let path = format!("{}?limit=2&{filter}", members_path(&org));
        let (app, admin) = (&app, &admin);
        async move { api_tests::walk_pages_with_sizes(app, &path, admin).await }
    };
    let (live, sizes) = walk("status=invited").await;
    assert_eq!(user_ids(&live), ["new3", "new2", "new1"]);
    assert_eq!(sizes, [2, 1]);
    assert!(live.iter().all(|m| m["status"] == "invited"));
    let (expired, sizes) = walk("status=expired").await;
    assert_eq!(user_ids(&expired), ["old-admin", "old3", "old2", "old1"]);
    assert_eq!(sizes, [2, 2]);
    assert!(expired.iter().all(|m| m["status"] == "expired"));
    let (expired_members, _) = walk("role=member&status=expired").await;
    assert_eq!(user_ids(&expired_members), ["old3", "old2", "old1"]);
    let (admins, _) = walk("role=admin&status=invited").await;
    assert!(admins.is_empty());
    let (active, _) = walk("status=active").await;
    assert_eq!(user_ids(&active), ["alice"]);
    let (all, _) = walk("role=member").await;
    assert_eq!(all.len(), 6);

    // A cursor whose next items expire meanwhile ends the walk instead of failing.
    let first = app
        .get(&format!("{}?limit=1&status=invited", members_path(&org)), &admin)
        .await;
    assert_eq!(first.body["has_more"], true, "{}", first.body);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    app.clock.advance(DAY * 4);
    let next = app
        .get(
            &format!("{}?limit=1&status=invited&cursor={cursor}", members_path(&org)),
            &admin,
        )
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(next.body["data"], json!([]));
    assert_eq!(next.body["has_more"], false);
    let (expired, _) = walk("status=expired").await;
    assert_eq!(expired.len(), 7);
    let r = app
        .get(&format!("{}?status=gone", members_path(&org)), &admin)
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
