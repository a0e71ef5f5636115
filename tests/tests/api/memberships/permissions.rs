//! Who may do what: the permission matrix and the admin/owner boundary.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Member,
    Admin,
    Owner,
    TenantAdmin,
    Outsider,
    InvitedAdmin,
    InvitedOwner,
}

const ACTORS: [Actor; 7] = [
    Actor::Member,
    Actor::Admin,
    Actor::Owner,
    Actor::TenantAdmin,
    Actor::Outsider,
    Actor::InvitedAdmin,
    Actor::InvitedOwner,
];

impl Actor {
    fn sub(self) -> &'static str {
        match self {
            Actor::Member => "member",
            Actor::Admin => "admin",
            Actor::Owner => "owner",
            Actor::TenantAdmin => "admin-1",
            Actor::Outsider => "outsider",
            Actor::InvitedAdmin => "inv-admin",
            Actor::InvitedOwner => "inv-owner",
        }
    }

    fn token(self, t: &str) -> String {
        match self {
            Actor::TenantAdmin => tenant_admin(t),
            other => tok(other.sub(), t),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Action {
    InviteMember,
    InviteOwner,
    MemberToAdmin,
    AdminToOwner,
    DemoteOwner,
    RemoveMember,
    RemoveOwner,
    DeleteOrg,
}

impl Action {
    /// The target, its role before and the role asked for, of the role-change actions.
    fn role_change(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            Action::MemberToAdmin => Some(("target-member", "member", "admin")),
            Action::AdminToOwner => Some(("target-admin", "admin", "owner")),
            Action::DemoteOwner => Some(("owner2", "owner", "admin")),
            _ => None,
        }
    }
}

/// Expected status per action, in the order of `ACTORS`:
/// member, admin, owner, tenant_admin, outsider, invited admin, invited owner.
const MATRIX: [(Action, [u16; 7]); 8] = [
    (Action::InviteMember, [403, 201, 201, 201, 403, 403, 403]),
    (Action::InviteOwner, [403, 403, 201, 201, 403, 403, 403]),
    (Action::MemberToAdmin, [403, 200, 200, 200, 403, 403, 403]),
    (Action::AdminToOwner, [403, 403, 200, 200, 403, 403, 403]),
    (Action::DemoteOwner, [403, 403, 200, 200, 403, 403, 403]),
    (Action::RemoveMember, [403, 204, 204, 204, 403, 403, 403]),
    (Action::RemoveOwner, [403, 403, 204, 204, 403, 403, 403]),
    (Action::DeleteOrg, [403, 403, 204, 204, 403, 403, 403]),
];

/// A fresh organization with every actor and target of the matrix: `owner` (the creator),
/// `owner2` (a second active owner, the target of owner actions), `admin`, `member`,
/// `target-member`, `target-admin` (all active), and `inv-admin`, `inv-owner` (invited only).
async fn matrix_org(app: &TestApp, t: &str) -> String {
    let org = org_owned_by(app, t, "owner").await;
    let owner = tok("owner", t);
    for (user, role) in [
        ("owner2", "owner"),
        ("admin", "admin"),
        ("member", "member"),
        ("target-member", "member"),
        ("target-admin", "admin"),
    ] {
        join_org(app, t, &org, &owner, user, role).await;
    }
    for (user, role) in [("inv-admin", "admin"), ("inv-owner", "owner")] {
        let r = invite(app, &org, &owner, user, role).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    org
}

async fn role_of(app: &TestApp, t: &str, org: &str, user: &str) -> Option<String> {
    membership(app, t, org, user)
        .await
        .map(|m| m["role"].as_str().unwrap().to_owned())
}

/// Runs one cell on its own organization; returns what went wrong.
async fn matrix_cell(app: &TestApp, t: &str, actor: Actor, action: Action, expected: u16) -> Vec<String> {
    let org = matrix_org(app, t).await;
    let before = member_count(app, t, &org).await;
    let tk = actor.token(t);
    let r = match action {
        Action::InviteMember => invite(app, &org, &tk, "newcomer", "member").await,
        Action::InviteOwner => invite(app, &org, &tk, "newcomer", "owner").await,
        Action::MemberToAdmin | Action::AdminToOwner | Action::DemoteOwner => {
            let (target, _, to) = action.role_change().unwrap();
            app.patch(&member_path(&org, target), &tk, json!({"role": to}))
                .await
        }
        Action::RemoveMember => app.delete(&member_path(&org, "target-member"), &tk).await,
        Action::RemoveOwner => app.delete(&member_path(&org, "owner2"), &tk).await,
        Action::DeleteOrg => app.delete(&org_path(&org), &tk).await,
    };
    let cell = format!("{actor:?} × {action:?}");
    let mut failures = Vec::new();
    if r.status.as_u16() != expected {
        failures.push(format!(
            "{cell}: expected {expected}, got {} {}",
            r.status, r.body
        ));
    }
    if expected == 403 && r.code() != "forbidden" {
        failures.push(format!("{cell}: expected code forbidden, got {:?}", r.code()));
    }
    let done = (200..300).contains(&expected);
    let mut check = |what: &str, got: String, want: String| {
        if got != want {
            failures.push(format!("{cell}: {what}: expected {want}, got {got}"));
        }
    };
    match action {
        Action::InviteMember | Action::InviteOwner => {
            let m = membership(app, t, &org, "newcomer").await;
            let want_role = if matches!(action, Action::InviteOwner) {
                "owner"
            } else {
                "member"
            };
            let want = done.then(|| format!("{want_role}/invited/{}", actor.sub()));
            let got = m.map(|m| {
                format!(
                    "{}/{}/{}",
                    m["role"].as_str().unwrap_or("?"),
                    m["status"].as_str().unwrap_or("?"),
                    m["invited_by_user_id"].as_str().unwrap_or("?")
                )
            });
            check("newcomer", format!("{got:?}"), format!("{want:?}"));
            let count = member_count(app, t, &org).await;
            check(
                "member_count",
                count.to_string(),
                (before + u64::from(done)).to_string(),
            );
        }
        Action::MemberToAdmin | Action::AdminToOwner | Action::DemoteOwner => {
            let (target, from, to) = action.role_change().unwrap();
            let got = role_of(app, t, &org, target).await;
            check(
                &format!("{target} role"),
                format!("{got:?}"),
                format!("{:?}", Some(if done { to } else { from })),
            );
        }
        Action::RemoveMember | Action::RemoveOwner => {
            let (target, role) = if matches!(action, Action::RemoveMember) {
                ("target-member", "member")
            } else {
                ("owner2", "owner")
            };
            let got = role_of(app, t, &org, target).await;
            check(
                target,
                format!("{got:?}"),
                format!("{:?}", (!done).then_some(role)),
            );
            let count = member_count(app, t, &org).await;
            check(
                "member_count",
                count.to_string(),
                (before - u64::from(done)).to_string(),
            );
        }
        Action::DeleteOrg => {
            let got = app.get(&org_path(&org), &tenant_admin(t)).await.status.as_u16();
            check(
                "GET org",
                got.to_string(),
                if done { "404" } else { "200" }.to_owned(),
            );
        }
    }
    failures
}

#[tokio::test]
async fn permission_matrix() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let cells: Vec<(Actor, Action, u16)> = MATRIX
        .iter()
        .flat_map(|(action, row)| {
            ACTORS
                .iter()
                .zip(row)
                .map(|(actor, status)| (*actor, *action, *status))
        })
        .collect();
    assert_eq!(cells.len(), 56);
    let failures: Vec<String> = stream::iter(cells)
        .map(|(actor, action, expected)| {
            let (app, t) = (&app, t.as_str());
            async move { matrix_cell(app, t, actor, action, expected).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cells:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn admins_manage_members_and_admins_but_not_owners() {
    let app = TestApp::new().await;
    let t = tenant_id();
    let owner = tok("owner", &t);
    let org = org_owned_by(&app, &t, "owner").await;
    for (user, role) in [("adm", "admin"), ("adm2", "admin"), ("mem", "member")] {
        join_org(&app, &t, &org, &owner, user, role).await;
    }
    let adm = tok("adm", &t);
    // An admin demotes another admin and promotes a member to admin.
    for (user, role) in [("adm2", "member"), ("mem", "admin")] {
        let r = app
            .patch(&member_path(&org, user), &adm, json!({ "role": role }))
            .await;
        assert_eq!(
            (r.status, r.body["role"].as_str()),
            (StatusCode::OK, Some(role)),
            "{user}: {}",
            r.body
        );
    }
    // ... but cannot make anyone (itself included) an owner, nor touch the owner.
    for (user, role) in [
        ("adm", "owner"),
        ("mem", "owner"),
        ("owner", "admin"),
        ("owner", "member"),
    ] {
        let r = app
            .patch(&member_path(&org, user), &adm, json!({"role": role}))
            .await;
        assert_status(
            &r,
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("admin sets {user} to {role}"),
        );
    }
    assert_status(
        &app.delete(&member_path(&org, "owner"), &adm).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        "admin removes the owner",
    );
    // A member can do none of it, but can leave.
    let mem2 = tok("adm2", &t); // demoted to member above
    let r = app
        .patch(&member_path(&org, "adm2"), &mem2, json!({"role": "admin"}))
        .await;
    assert_status(&r, StatusCode::FORBIDDEN, "forbidden", "member promotes self");
    assert_eq!(
        app.get(&members_path(&org), &mem2).await.status,
        StatusCode::OK,
        "members can list"
    );
    assert_eq!(
        app.get(&member_path(&org, "owner"), &mem2).await.status,
        StatusCode::OK,
        "members can read"
    );
    assert_eq!(
        app.delete(&member_path(&org, "adm2"), &mem2).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(member_count(&app, &t, &org).await, 3);
    // An admin may demote itself.
    let r = app
        .patch(&member_path(&org, "adm"), &adm, json!({"role": "member"}))
        .await;
    assert_eq!(
        (r.status, r.body["role"].as_str()),
        (StatusCode::OK, Some("member")),
        "{}",
        r.body
    );
    // Sending the current role (or nothing) changes nothing; bad roles and unknown fields are 422.
    let before = membership(&app, &t, &org, "mem").await.unwrap();
    for body in [json!({"role": "admin"}), json!({})] {
        let r = app.patch(&member_path(&org, "mem"), &owner, body.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{body}: {}", r.body);
        assert_eq!(r.body, before, "{body}");
    }
    for (body, field) in [
        (json!({"role": "boss"}), "role"),
        (json!({"role": null}), "role"),
        (json!({"role": 3}), "role"),
        (json!({"role": "member", "nickname": "x"}), "nickname"),
    ] {
        let r = app.patch(&member_path(&org, "mem"), &owner, body.clone()).await;
        assert_invalid(&r, field, &body.to_string());
    }
    assert_eq!(membership(&app, &t, &org, "mem").await.unwrap(), before);
}
