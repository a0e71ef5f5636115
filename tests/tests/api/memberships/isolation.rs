//! Tenant isolation, malformed and unknown ids, and the route gates.

use super::*;

#[tokio::test]
async fn another_tenants_organization_is_404_on_every_membership_route() {
    let app = TestApp::new().await;
    let (a, b) = (tenant_id(), tenant_id());
    let org = org_owned_by(&app, &a, "alice").await;
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
    let org = org_owned_by(&app, &t, "alice").await;
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
    let org = org_owned_by(&app, &t, "alice").await;
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
