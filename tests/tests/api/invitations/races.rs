//! Concurrent requests on one invitation, or one address, have exactly one winner.

use futures::future::{join, join_all};

use super::*;

const ROUNDS: usize = 4;

#[tokio::test]
async fn concurrent_accepts_of_one_token() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    for round in 0..ROUNDS {
        let email = format!("bob{round}@example.com");
        let (id, token) = invited(&app, &org, &alice, &email, "member").await;
        // Different users with the same address, and the same user twice.
        let callers: Vec<String> = (0..6)
            .map(|i| tok_email(&format!("r{round}-u{}", i % 4), &t, &email))
            .collect();
        let results = join_all(callers.iter().map(|c| accept(&app, c, &token))).await;
        let winners: Vec<&TestResponse> = results.iter().filter(|r| r.status == StatusCode::OK).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {:?}",
            results
                .iter()
                .map(|r| (r.status, r.body.clone()))
                .collect::<Vec<_>>()
        );
        for r in results.iter().filter(|r| r.status != StatusCode::OK) {
            assert_status(r, StatusCode::GONE, "gone", "a losing accept");
        }
        let inv = read_invitation(&app, &t, &org, &id).await;
        assert_eq!(inv["status"], "accepted");
        assert_eq!(
            inv["accepted_by_user_id"],
            winners[0].body["membership"]["user_id"]
        );
    }
    assert_eq!(member_count(&app, &t, &org).await, 1 + ROUNDS as u64);
}

#[tokio::test]
async fn accept_against_revoke() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let mut accepted = 0;
    for round in 0..ROUNDS * 2 {
        let email = format!("bob{round}@example.com");
        let user = format!("bob{round}");
        let (id, token) = invited(&app, &org, &alice, &email, "member").await;
        let bob = tok_email(&user, &t, &email);
        let path = invitation_path(&org, &id);
        let (a, r) = join(accept(&app, &bob, &token), app.delete(&path, &alice)).await;
        let status = status_of(&app, &t, &org, &id).await;
        match (a.status, r.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                accepted += 1;
                assert_eq!(status, "accepted");
                assert!(membership(&app, &t, &org, &user).await.is_some());
            }
            (StatusCode::GONE, StatusCode::NO_CONTENT) => {
                assert_eq!(status, "revoked");
                assert!(membership(&app, &t, &org, &user).await.is_none());
            }
            other => panic!("round {round}: {other:?} {} {}", a.body, r.body),
        }
    }
    assert_eq!(member_count(&app, &t, &org).await, 1 + accepted);
}

#[tokio::test]
async fn accept_against_resend() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    for round in 0..ROUNDS * 2 {
        let email = format!("bob{round}@example.com");
        let user = format!("bob{round}");
        let (id, token) = invited(&app, &org, &alice, &email, "member").await;
        let bob = tok_email(&user, &t, &email);
        let (a, r) = join(accept(&app, &bob, &token), resend(&app, &org, &id, &alice)).await;
        match (a.status, r.status) {
            (StatusCode::OK, StatusCode::CONFLICT) => {
                assert_eq!(status_of(&app, &t, &org, &id).await, "accepted");
            }
            // The old token died with the resend; the new one works.
            (StatusCode::NOT_FOUND, StatusCode::OK) => {
                assert_eq!(status_of(&app, &t, &org, &id).await, "pending");
                assert!(membership(&app, &t, &org, &user).await.is_none());
                let fresh = r.body["token"].as_str().unwrap();
                assert_eq!(accept(&app, &bob, fresh).await.status, StatusCode::OK);
            }
            other => panic!("round {round}: {other:?} {} {}", a.body, r.body),
        }
        assert!(membership(&app, &t, &org, &user).await.is_some());
    }
    assert_eq!(member_count(&app, &t, &org).await, 1 + 2 * ROUNDS as u64);
}

#[tokio::test]
async fn concurrent_invites_of_one_address() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let admin = tenant_admin(&t);
    for round in 0..ROUNDS {
        let email = format!("Bob{round}@example.com");
        let variants = [
            email.clone(),
            email.to_lowercase(),
            email.to_uppercase(),
            email.clone(),
        ];
        let results = join_all(variants.iter().enumerate().map(|(i, e)| {
            let by = if i % 2 == 0 { &alice } else { &admin };
            invite(&app, &org, by, e, "member")
        }))
        .await;
        let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
        assert_eq!(
            created,
            1,
            "round {round}: {:?}",
            results.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        for r in results.iter().filter(|r| r.status != StatusCode::CREATED) {
            assert_status(r, StatusCode::CONFLICT, "conflict", "a losing invite");
        }
    }
    assert_eq!(listed(&app, &t, &org, "status=pending").await.len(), ROUNDS);
}

#[tokio::test]
async fn concurrent_invites_at_the_cap() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    for i in 0..98 {
        invited(&app, &org, &alice, &format!("u{i}@example.com"), "member").await;
    }
    let emails: Vec<String> = (0..6).map(|i| format!("late{i}@example.com")).collect();
    let results = join_all(emails.iter().map(|e| invite(&app, &org, &alice, e, "member"))).await;
    let created = results.iter().filter(|r| r.status == StatusCode::CREATED).count();
    assert_eq!(
        created,
        2,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(listed(&app, &t, &org, "status=pending").await.len(), 100);
}
