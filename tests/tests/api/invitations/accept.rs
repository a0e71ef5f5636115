//! Accepting by token: the membership, the counters and every way a token can be refused.

use super::*;

#[tokio::test]
async fn accept_creates_an_active_membership_in_one_write() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (id, token) = invited(&app, &org, &alice, "Bob@Example.com", "admin").await;
    assert_eq!(
        member_count(&app, &t, &org).await,
        1,
        "an invitation is not a member"
    );

    // The claim matches case-insensitively.
    let bob = tok_email("bob-sub", &t, "bob@EXAMPLE.com");
    let r = accept(&app, &bob, &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let m = &r.body["membership"];
    assert_eq!(m["organization_id"], org);
    assert_eq!(m["user_id"], "bob-sub");
    assert_eq!(m["tenant_id"], t);
    assert_eq!(m["role"], "admin");
    assert_eq!(m["status"], "active");
    assert_eq!(m["email"], "bob@EXAMPLE.com");
    assert_eq!(m["invited_by_user_id"], "alice");
    assert!(m["last_active_at"].is_string());
    assert_eq!(r.body["organization"]["id"], org);
    assert_eq!(r.body["organization"]["member_count"], 2);

    assert_eq!(member_count(&app, &t, &org).await, 2);
    assert_eq!(membership(&app, &t, &org, "bob-sub").await.as_ref(), Some(m));
    let inv = read_invitation(&app, &t, &org, &id).await;
    assert_eq!(inv["status"], "accepted");
    assert_eq!(inv["accepted_by_user_id"], "bob-sub");

    // The new admin has an admin's rights at once.
    let r = app.get(&invitations_path(&org), &tok("bob-sub", &t)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A used token is gone, for anyone.
    assert_status(
        &accept(&app, &bob, &token).await,
        StatusCode::GONE,
        "gone",
        "second accept",
    );
    let other = tok_email("other", &t, "bob@example.com");
    assert_status(
        &accept(&app, &other, &token).await,
        StatusCode::GONE,
        "gone",
        "other accept",
    );
    assert_eq!(member_count(&app, &t, &org).await, 2);
}

#[tokio::test]
async fn an_owner_invitation_makes_an_owner_who_counts_for_the_last_owner_rule() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (_, token) = invited(&app, &org, &alice, "olga@example.com", "owner").await;
    let r = accept(&app, &tok_email("olga", &t, "olga@example.com"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // With two active owners, alice may leave; then olga is the last one.
    let r = app
        .delete(&format!("/v1/organizations/{org}/members/alice"), &alice)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app
        .delete(&format!("/v1/organizations/{org}/members/olga"), &tok("olga", &t))
        .await;
    assert_status(&r, StatusCode::CONFLICT, "conflict", "last owner leaves");
}

#[tokio::test]
async fn the_email_claim_must_match() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let (id, token) = invited(&app, &org, &tok("alice", &t), "bob@example.com", "member").await;
    for caller in [
        tok("bob", &t),
        tok_email("bob", &t, "bob@example.org"),
        tok_email("bob", &t, "bob+x@example.com"),
        tenant_admin(&t),
    ] {
        assert_status(
            &accept(&app, &caller, &token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
            "mismatch",
        );
    }
    assert_eq!(status_of(&app, &t, &org, &id).await, "pending");
    assert!(membership(&app, &t, &org, "bob").await.is_none());
    assert_eq!(member_count(&app, &t, &org).await, 1);
}

#[tokio::test]
async fn unknown_foreign_and_malformed_tokens_are_404s() {
    let app = TestApp::new().await;
    let (t1, t2) = (tenant_id(), tenant_id());
    let org = org_of(&app, &t1, "alice").await;
    let (id, token) = invited(&app, &org, &tok("alice", &t1), "bob@example.com", "member").await;
    // The same person in another tenant.
    let foreign = tok_email("bob", &t2, "bob@example.com");
    assert_status(
        &accept(&app, &foreign, &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "other tenant",
    );

    let bob = tok_email("bob", &t1, "bob@example.com");
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let other_id = format!(
        "inv_{}_{}",
        uuid::Uuid::now_v7().simple(),
        &token[token.len() - 43..]
    );
    for bad in [
        forged.as_str(),
        other_id.as_str(),
        "inv_",
        "x",
        "inv_0000_AAAA",
        &token[..token.len() - 1],
    ] {
        assert_status(
            &accept(&app, &bob, bad).await,
            StatusCode::NOT_FOUND,
            "not_found",
            bad,
        );
    }
    for body in [
        json!({}),
        json!({"token": ""}),
        json!({"token": 5}),
        json!({"token": token, "x": 1}),
    ] {
        let r = app.post(ACCEPT, &bob, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let r = app
        .call_raw(Method::POST, ACCEPT, Some(&bob), Some("{"), &[])
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad_request");
    let r = app.get(ACCEPT, &bob).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app
        .call(Method::POST, ACCEPT, None, Some(&json!({"token": token})))
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized");

    assert_eq!(status_of(&app, &t1, &org, &id).await, "pending");
    let r = accept(&app, &bob, &token).await;
    assert_eq!(r.status, StatusCode::OK, "the real token still works: {}", r.body);
}

#[tokio::test]
async fn an_existing_member_cannot_be_invited_or_accept_twice() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    // alice's membership carries her address once she has accepted something with it; here
    // bob joins by e-mail, and his address then belongs to an active member.
    let (_, token) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let bob = tok_email("bob", &t, "bob@example.com");
    assert_eq!(accept(&app, &bob, &token).await.status, StatusCode::OK);
    assert_status(
        &invite(&app, &org, &alice, "BOB@example.com", "admin").await,
        StatusCode::CONFLICT,
        "conflict",
        "inviting an active member",
    );
    // A second address of the same user: the invitation is fine, accepting it is a 409.
    let (id, token) = invited(&app, &org, &alice, "bob@work.example", "admin").await;
    let bob_work = tok_email("bob", &t, "bob@work.example");
    assert_status(
        &accept(&app, &bob_work, &token).await,
        StatusCode::CONFLICT,
        "conflict",
        "already a member",
    );
    assert_eq!(status_of(&app, &t, &org, &id).await, "pending");
    assert_eq!(member_count(&app, &t, &org).await, 2);
}

#[tokio::test]
async fn deleting_the_organization_makes_its_invitations_unusable() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (_, token) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let r = app.delete(&format!("/v1/organizations/{org}"), &alice).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let bob = tok_email("bob", &t, "bob@example.com");
    assert_status(
        &accept(&app, &bob, &token).await,
        StatusCode::GONE,
        "gone",
        "deleted org",
    );
    let r = app.get(&invitations_path(&org), &tenant_admin(&t)).await;
    assert_status(&r, StatusCode::NOT_FOUND, "not_found", "list of a deleted org");
    let r = app.get("/v1/users/me/organizations", &bob).await;
    assert_eq!(r.body["data"], json!([]), "{}", r.body);
}

#[tokio::test]
async fn an_idempotent_accept_replays_and_writes_once() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let (_, token) = invited(&app, &org, &tok("alice", &t), "bob@example.com", "member").await;
    let bob = tok_email("bob", &t, "bob@example.com");
    let body = json!({ "token": token });
    let first = app.post_with_key(ACCEPT, &bob, &body, "a1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = app.post_with_key(ACCEPT, &bob, &body, "a1").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(member_count(&app, &t, &org).await, 2);
}
