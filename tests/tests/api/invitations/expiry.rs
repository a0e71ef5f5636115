//! Expiry on the injected clock: read as `expired` without any job, refused with 410, left out
//! of `status=pending` with full pages, and given a time to live once no longer pending.

use super::*;

#[tokio::test]
async fn an_expired_invitation_reads_as_expired_and_is_gone() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (id, token) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let created = read_invitation(&app, &t, &org, &id).await;

    app.clock.advance(DAY * 7 - Duration::from_secs(5));
    assert_eq!(status_of(&app, &t, &org, &id).await, "pending", "just before");
    app.clock.advance(Duration::from_secs(5));
    let got = read_invitation(&app, &t, &org, &id).await;
    assert_eq!(got["status"], "expired", "at expires_at");
    assert_eq!(got["updated_at"], created["updated_at"], "nothing was written");

    let bob = tok_email("bob", &t, "bob@example.com");
    assert_status(
        &accept(&app, &bob, &token).await,
        StatusCode::GONE,
        "gone",
        "accept expired",
    );
    assert_status(
        &app.delete(&invitation_path(&org, &id), &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "revoke expired",
    );
    assert_status(
        &resend(&app, &org, &id, &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "resend expired",
    );
    assert!(membership(&app, &t, &org, "bob").await.is_none());
    assert_eq!(member_count(&app, &t, &org).await, 1);

    // The address is free again: a new invitation, and the old one is written as expired at
    // the moment it expired.
    let (again, token2) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let old = read_invitation(&app, &t, &org, &id).await;
    assert_eq!(old["status"], "expired");
    assert_eq!(old["updated_at"], old["expires_at"]);
    assert_eq!(accept(&app, &bob, &token2).await.status, StatusCode::OK);
    assert_eq!(status_of(&app, &t, &org, &again).await, "accepted");
    assert_status(
        &accept(&app, &bob, &token).await,
        StatusCode::GONE,
        "gone",
        "the old one stays gone",
    );
}

#[tokio::test]
async fn a_resend_moves_the_expiry() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (id, _) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    app.clock.advance(DAY * 6);
    let r = resend(&app, &org, &id, &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    app.clock.advance(DAY * 6);
    assert_eq!(status_of(&app, &t, &org, &id).await, "pending");
    let r = accept(&app, &tok_email("bob", &t, "bob@example.com"), &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn status_filters_are_exact_with_full_pages_while_time_passes() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    // Interleaved lifetimes, so expired and live ones alternate in list order.
    let mut short = Vec::new();
    let mut long = Vec::new();
    for i in 0..10 {
        let days = if i % 2 == 0 { 1 } else { 5 };
        let r = app
            .post(
                &invitations_path(&org),
                &alice,
                json!({"email": format!("u{i}@example.com"), "role": "member", "expires_in_days": days}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        if days == 1 {
            short.push(id)
        } else {
            long.push(id)
        }
    }
    // Newest first.
    short.reverse();
    long.reverse();
    let (revoked, _) = invited(&app, &org, &alice, "r@example.com", "member").await;
    assert_eq!(
        app.delete(&invitation_path(&org, &revoked), &alice).await.status,
        StatusCode::NO_CONTENT
    );

    app.clock.advance(DAY * 2);
    let path = |filter: &str| format!("{}?limit=2&{filter}", invitations_path(&org));
    let (pending, sizes) = api_tests::walk_pages_with_sizes(&app, &path("status=pending"), &alice).await;
    assert_eq!(ids(&pending), long, "pending");
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 2),
        "full pages: {sizes:?}"
    );
    assert!(pending.iter().all(|i| i["status"] == "pending"));
    let (expired, sizes) = api_tests::walk_pages_with_sizes(&app, &path("status=expired"), &alice).await;
    assert_eq!(ids(&expired), short, "expired");
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 2),
        "full pages: {sizes:?}"
    );
    assert!(expired.iter().all(|i| i["status"] == "expired"));
    assert_eq!(ids(&listed(&app, &t, &org, "status=revoked").await), [revoked]);
    assert!(listed(&app, &t, &org, "status=accepted").await.is_empty());
    let all = listed(&app, &t, &org, "").await;
    assert_eq!(all.len(), 11);
    let statuses: BTreeMap<String, String> = all
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for id in &short {
        assert_eq!(statuses[id], "expired");
    }
    for id in &long {
        assert_eq!(statuses[id], "pending");
    }

    // A cursor of the pending list stays valid while more invitations expire under it.
    let first = app.get(&path("status=pending"), &alice).await;
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    app.clock.advance(DAY * 4);
    let next = app
        .get(&format!("{}&cursor={cursor}", path("status=pending")), &alice)
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(next.body["data"], json!([]));
    assert_eq!(next.body["has_more"], false);
    assert!(listed(&app, &t, &org, "status=pending").await.is_empty());
    assert_eq!(listed(&app, &t, &org, "status=expired").await.len(), 10);
    // Another filter's cursor is refused.
    let r = app
        .get(&format!("{}&cursor={cursor}", path("status=expired")), &alice)
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn only_invitations_that_are_no_longer_pending_get_a_time_to_live() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (live, _) = invited(&app, &org, &alice, "a@example.com", "member").await;
    let (gone, _) = invited(&app, &org, &alice, "b@example.com", "member").await;
    assert_eq!(
        app.delete(&invitation_path(&org, &gone), &alice).await.status,
        StatusCode::NO_CONTENT
    );
    let ttl = |item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
        item.get("expires_at")
            .map(|v| v.as_n().expect("a number").parse::<i64>().unwrap())
    };
    let pk = format!("{t}#INVITATION");
    let live_item = app.raw_item(&pk, &live).await.expect("stored");
    assert_eq!(
        ttl(&live_item),
        None,
        "a pending invitation is never removed while counted"
    );
    let gone_item = app.raw_item(&pk, &gone).await.expect("stored");
    let at = ttl(&gone_item).expect("a revoked invitation has a time to live");
    let now = app.clock.now().timestamp();
    assert!(
        (now + 29 * 86_400..=now + 31 * 86_400 + 7 * 86_400).contains(&at),
        "{at} vs {now}"
    );
}
