//! Member list filters and a user's organizations: full pages, newest first.

use super::*;

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
    let org = org_owned_by(&app, &t, "a0").await;
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
    let other_org = org_owned_by(&app, &t, "b1").await;
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
    let o1 = org_owned_by(&app, &t, "alice").await;
    let o2 = org_owned_by(&app, &t, "alice").await;
    let o3 = org_owned_by(&app, &t, "bob").await;
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
