//! Invitations: invite, accept, remove, and what invited members may not do yet.

use super::*;

#[tokio::test]
async fn invite_accept_and_remove_flow() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);

    let created = app
        .post("/v1/organizations", &alice, json!({"name": "Flow Inc"}))
        .await;
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
    let invited = app
        .post(
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
            "expires_at",
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
    let org = org_owned_by(&app, &t, "alice").await;

    let r = app
        .post(
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
    let org2 = app
        .post(
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
    let org = org_owned_by(&app, &t, "alice").await;
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
    let org = org_owned_by(&app, &t, "alice").await;

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
        let r = app.post(&members_path(&org), &alice, body.clone()).await;
        assert_invalid(&r, field, &body.to_string());
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
    let r = app
        .post(
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
    let org = org_owned_by(&app, &t, "alice").await;
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
