//! One pending invitation per (organization, address), and at most 100 per organization.

use super::*;

#[tokio::test]
async fn one_pending_invitation_per_address_and_organization() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let other = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    invited(&app, &org, &alice, "bob@example.com", "member").await;
    for email in ["bob@example.com", "BOB@Example.Com", " bob@example.com "] {
        let r = invite(&app, &org, &alice, email, "admin").await;
        assert_status(&r, StatusCode::CONFLICT, "conflict", email);
    }
    // Another organization, or another address, is another invitation.
    invited(&app, &other, &alice, "bob@example.com", "member").await;
    invited(&app, &org, &alice, "bob@example.org", "member").await;
    assert_eq!(listed(&app, &t, &org, "status=pending").await.len(), 2);
}

#[tokio::test]
async fn at_most_100_pending_invitations_per_organization() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let mut ids = Vec::new();
    for i in 0..100 {
        // The first ten live one day, the rest the default week.
        let days = if i < 10 { 1 } else { 7 };
        let r = app
            .post(
                &invitations_path(&org),
                &alice,
                json!({"email": format!("u{i}@example.com"), "role": "member", "expires_in_days": days}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "invitation {i}: {}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let r = invite(&app, &org, &alice, "one-more@example.com", "member").await;
    assert_status(&r, StatusCode::CONFLICT, "conflict", "the 101st");
    // Another organization has its own cap.
    let other = org_of(&app, &t, "alice").await;
    invited(&app, &other, &alice, "one-more@example.com", "member").await;

    // A revoked invitation gives its place back.
    assert_eq!(
        app.delete(&invitation_path(&org, &ids[50]), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    invited(&app, &org, &alice, "one-more@example.com", "member").await;
    assert_status(
        &invite(&app, &org, &alice, "two-more@example.com", "member").await,
        StatusCode::CONFLICT,
        "conflict",
        "full again",
    );

    // So do expired ones, without anything having listed them.
    app.clock.advance(DAY * 2);
    for i in 0..10 {
        invited(&app, &org, &alice, &format!("later{i}@example.com"), "member").await;
    }
    assert_status(
        &invite(&app, &org, &alice, "later10@example.com", "member").await,
        StatusCode::CONFLICT,
        "conflict",
        "full after the expired ones",
    );
    assert_eq!(listed(&app, &t, &org, "status=pending").await.len(), 100);
    assert_eq!(listed(&app, &t, &org, "status=expired").await.len(), 10);
}
