//! Creating, reading, listing, revoking and resending invitations, and who may do it.

use super::*;

#[tokio::test]
async fn create_shows_the_token_once_and_stores_only_its_hash() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);

    let r = app
        .post(
            &invitations_path(&org),
            &alice,
            json!({"email": "  Bob@Example.COM ", "role": "admin", "id": "ignored", "status": "accepted"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let b = &r.body;
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location"), Some(invitation_path(&org, &id).as_str()));
    assert_eq!(b["organization_id"], org);
    assert_eq!(b["tenant_id"], t);
    assert_eq!(b["email"], "Bob@Example.COM");
    assert_eq!(b["role"], "admin");
    assert_eq!(b["status"], "pending");
    assert_eq!(b["invited_by_user_id"], "alice");
    assert!(b["accepted_by_user_id"].is_null());
    let token = b["token"].as_str().unwrap().to_owned();
    // `inv_` + 32 hex digits of the id + `_` + 256 bits in base64url.
    assert!(
        token.starts_with("inv_") && token.len() == 4 + 32 + 1 + 43,
        "{token}"
    );
    let inserted = chrono::DateTime::parse_from_rfc3339(b["inserted_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(b["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - inserted, chrono::Duration::days(7), "default lifetime");
    let mut fields: Vec<&str> = b.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "accepted_by_user_id",
            "email",
            "expires_at",
            "id",
            "inserted_at",
            "invited_by_user_id",
            "organization_id",
            "role",
            "status",
            "tenant_id",
            "token",
            "updated_at"
        ]
    );

    // Reads never show the token.
    let got = read_invitation(&app, &t, &org, &id).await;
    assert!(got.get("token").is_none(), "{got}");
    let mut without = b.clone();
    without.as_object_mut().unwrap().remove("token");
    assert_eq!(got, without);
    let list = app.get(&invitations_path(&org), &alice).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["data"], json!([without]));

    // Nowhere in the table is the token in clear; its digest is.
    let mut pages = Vec::new();
    let mut start = None;
    loop {
        let out = app
            .client
            .scan()
            .table_name(&app.table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        pages.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => break,
        }
    }
    let dump = format!("{pages:?}");
    let secret = token.rsplit('_').next().unwrap();
    assert!(!dump.contains(secret), "the token's secret is stored");
    let digest: String = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(dump.contains(&digest), "the token's digest is not stored");
}

#[tokio::test]
async fn an_idempotent_replay_does_not_show_the_token_again() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let body = json!({"email": "carol@example.com", "role": "member"});
    let first = app
        .post_with_key(&invitations_path(&org), &alice, &body, "k1")
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.body["token"].is_string());
    let replay = app
        .post_with_key(&invitations_path(&org), &alice, &body, "k1")
        .await;
    assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.body);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert!(replay.body["token"].is_null(), "{}", replay.body);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(listed(&app, &t, &org, "").await.len(), 1, "written once");
    // The first response's token is the one that works.
    let r = accept(
        &app,
        &tok_email("carol", &t, "carol@example.com"),
        first.body["token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn validation() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let path = invitations_path(&org);
    for (body, field) in [
        (json!({"role": "member"}), "email"),
        (json!({"email": "not-an-address", "role": "member"}), "email"),
        (json!({"email": 5, "role": "member"}), "email"),
        (json!({"email": "a@b.example"}), "role"),
        (json!({"email": "a@b.example", "role": "boss"}), "role"),
        (
            json!({"email": "a@b.example", "role": "member", "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"email": "a@b.example", "role": "member", "expires_in_days": 31}),
            "expires_in_days",
        ),
        (
            json!({"email": "a@b.example", "role": "member", "expires_in_days": 1.5}),
            "expires_in_days",
        ),
        (
            json!({"email": "a@b.example", "role": "member", "expires_in_days": "7"}),
            "expires_in_days",
        ),
        (
            json!({"email": "a@b.example", "role": "member", "expires_in_days": -3}),
            "expires_in_days",
        ),
        (
            json!({"email": "a@b.example", "role": "member", "extra": 1}),
            "extra",
        ),
    ] {
        let r = app.post(&path, &alice, body.clone()).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    let r = app
        .call_raw(Method::POST, &path, Some(&alice), Some("[1]"), &[])
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad_request");
    for days in [1, 30] {
        let r = app
            .post(
                &path,
                &alice,
                json!({"email": format!("d{days}@b.example"), "role": "member", "expires_in_days": days}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let inserted = chrono::DateTime::parse_from_rfc3339(r.body["inserted_at"].as_str().unwrap()).unwrap();
        let expires = chrono::DateTime::parse_from_rfc3339(r.body["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!(expires - inserted, chrono::Duration::days(days));
    }
    // Lists: unknown filter values and parameters are 422s; malformed ids are 404s.
    for query in ["status=open", "colour=red", "limit=0"] {
        let r = app.get(&format!("{path}?{query}"), &alice).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for bad in ["nope", "00000000-0000-0000-0000-00000000000G"] {
        let r = app.get(&invitation_path(&org, bad), &alice).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        let r = app.delete(&invitation_path(&org, bad), &alice).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
        let r = resend(&app, &org, bad, &alice).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let r = app.get(&invitations_path("nope"), &alice).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn who_may_manage_invitations() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "owner").await;
    let owner = tok("owner", &t);
    // An admin and a member joined through e-mail invitations.
    for (user, role) in [("adm", "admin"), ("mem", "member")] {
        let email = format!("{user}@example.com");
        let (_, token) = invited(&app, &org, &owner, &email, role).await;
        let r = accept(&app, &tok_email(user, &t, &email), &token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let (adm, mem, stranger) = (tok("adm", &t), tok("mem", &t), tok("stranger", &t));

    // Members and outsiders may do nothing, not even read.
    for who in [&mem, &stranger] {
        assert_status(
            &invite(&app, &org, who, "x@example.com", "member").await,
            StatusCode::FORBIDDEN,
            "forbidden",
            "invite",
        );
        assert_status(
            &app.get(&invitations_path(&org), who).await,
            StatusCode::FORBIDDEN,
            "forbidden",
            "list",
        );
    }
    // Admins invite admins and members, not owners; owners and tenant admins invite owners.
    let (member_inv, _) = invited(&app, &org, &adm, "m2@example.com", "member").await;
    invited(&app, &org, &adm, "a2@example.com", "admin").await;
    assert_status(
        &invite(&app, &org, &adm, "o2@example.com", "owner").await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin invites owner",
    );
    let (owner_inv, _) = invited(&app, &org, &owner, "o2@example.com", "owner").await;
    invited(&app, &org, &tenant_admin(&t), "o3@example.com", "owner").await;

    // The same rules for revoke and resend of an owner invitation.
    for who in [&mem, &stranger] {
        let r = resend(&app, &org, &member_inv, who).await;
        assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "resend");
        let r = app.delete(&invitation_path(&org, &member_inv), who).await;
        assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "revoke");
        let r = app.get(&invitation_path(&org, &member_inv), who).await;
        assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "get");
    }
    assert_status(
        &resend(&app, &org, &owner_inv, &adm).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin resends owner",
    );
    let r = app.delete(&invitation_path(&org, &owner_inv), &adm).await;
    assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "admin revokes owner");
    assert_eq!(resend(&app, &org, &member_inv, &adm).await.status, StatusCode::OK);
    assert_eq!(
        resend(&app, &org, &owner_inv, &owner).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&invitation_path(&org, &owner_inv), &owner)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&invitation_path(&org, &member_inv), &adm).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn revoke_kills_the_token_and_only_pending_invitations_change() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (id, token) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let r = app.delete(&invitation_path(&org, &id), &alice).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let got = read_invitation(&app, &t, &org, &id).await;
    assert_eq!(got["status"], "revoked");

    let bob = tok_email("bob", &t, "bob@example.com");
    assert_status(
        &accept(&app, &bob, &token).await,
        StatusCode::GONE,
        "gone",
        "accept revoked",
    );
    assert_status(
        &app.delete(&invitation_path(&org, &id), &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "revoke twice",
    );
    assert_status(
        &resend(&app, &org, &id, &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "resend revoked",
    );
    assert!(membership(&app, &t, &org, "bob").await.is_none());

    // The address is free again.
    let (again, token2) = invited(&app, &org, &alice, "BOB@example.com", "admin").await;
    assert_ne!(again, id);
    let r = accept(&app, &bob, &token2).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_status(
        &app.delete(&invitation_path(&org, &again), &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "revoke accepted",
    );
    assert_status(
        &resend(&app, &org, &again, &alice).await,
        StatusCode::CONFLICT,
        "conflict",
        "resend accepted",
    );
}

#[tokio::test]
async fn resend_issues_a_new_token_and_expiry_and_kills_the_old_token() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let org = org_of(&app, &t, "alice").await;
    let alice = tok("alice", &t);
    let (id, old) = invited(&app, &org, &alice, "bob@example.com", "member").await;
    let before = read_invitation(&app, &t, &org, &id).await;
    app.clock.advance(DAY * 3);

    let r = app
        .post(&resend_path(&org, &id), &alice, json!({"expires_in_days": 2}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let new = r.body["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["inserted_at"], before["inserted_at"]);
    let updated = chrono::DateTime::parse_from_rfc3339(r.body["updated_at"].as_str().unwrap()).unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(r.body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - updated, chrono::Duration::days(2));
    let mut without = r.body.clone();
    without.as_object_mut().unwrap().remove("token");
    assert_eq!(read_invitation(&app, &t, &org, &id).await, without);

    for body in [json!({"expires_in_days": 0}), json!({"email": "x@y.example"})] {
        let r = app.post(&resend_path(&org, &id), &alice, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    let bob = tok_email("bob", &t, "bob@example.com");
    assert_status(
        &accept(&app, &bob, &old).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "old token",
    );
    let r = accept(&app, &bob, &new).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn invitations_stay_in_their_tenant_and_organization() {
    let app = TestApp::new().await;
    let (t1, t2) = (tenant_id(), tenant_id());
    let org1 = org_of(&app, &t1, "alice").await;
    let org1b = org_of(&app, &t1, "alice").await;
    let org2 = org_of(&app, &t2, "alice").await;
    let (id, _) = invited(&app, &org1, &tok("alice", &t1), "bob@example.com", "member").await;
    // Another organization's path, or another tenant's admin, finds nothing.
    let r = app.get(&invitation_path(&org1b, &id), &tenant_admin(&t1)).await;
    assert_status(&r, StatusCode::NOT_FOUND, "not_found", "other org");
    let r = app
        .delete(&invitation_path(&org1b, &id), &tenant_admin(&t1))
        .await;
    assert_status(&r, StatusCode::NOT_FOUND, "not_found", "other org revoke");
    let r = app.get(&invitation_path(&org2, &id), &tenant_admin(&t2)).await;
    assert_status(&r, StatusCode::NOT_FOUND, "not_found", "other tenant");
    let r = app.get(&invitation_path(&org1, &id), &tenant_admin(&t2)).await;
    assert_status(&r, StatusCode::NOT_FOUND, "not_found", "other tenant, own path");
    assert!(listed(&app, &t2, &org2, "").await.is_empty());
    assert_eq!(status_of(&app, &t1, &org1, &id).await, "pending");
}
