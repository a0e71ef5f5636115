//! The last-owner rule, alone and under concurrency.

use super::*;

#[tokio::test]
async fn the_last_active_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let alice = tok("alice", &t);
    let ta = tenant_admin(&t);
    let org = org_owned_by(&app, &t, "alice").await;
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
    let org = org_owned_by(app, t, "a").await;
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
