//! Random sequences of membership operations keep the counters and the owner rule.

use super::*;

const POOL: [&str; 5] = ["creator", "u1", "u2", "u3", "u4"];
const ROLES: [&str; 3] = ["owner", "admin", "member"];

/// `None` is the tenant admin, `Some(i)` the user `POOL[i]`.
type ActorIx = Option<usize>;

#[derive(Debug, Clone, Copy)]
enum Op {
    Invite {
        actor: ActorIx,
        user: usize,
        role: usize,
    },
    Accept {
        user: usize,
    },
    ChangeRole {
        actor: ActorIx,
        user: usize,
        role: usize,
    },
    Remove {
        actor: ActorIx,
        user: usize,
    },
}

fn actor_strategy() -> impl Strategy<Value = ActorIx> {
    prop_oneof![2 => Just(None), 3 => (0..POOL.len()).prop_map(Some)]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (actor_strategy(), 0..POOL.len(), 0..ROLES.len())
            .prop_map(|(actor, user, role)| Op::Invite { actor, user, role }),
        2 => (0..POOL.len()).prop_map(|user| Op::Accept { user }),
        2 => (actor_strategy(), 0..POOL.len(), 0..ROLES.len())
            .prop_map(|(actor, user, role)| Op::ChangeRole { actor, user, role }),
        1 => (actor_strategy(), 0..POOL.len()).prop_map(|(actor, user)| Op::Remove { actor, user }),
    ]
}

/// What the contract says should happen: user → (role, status).
struct Model {
    members: BTreeMap<&'static str, (&'static str, &'static str)>,
}

impl Model {
    fn new() -> Self {
        Model {
            members: [(POOL[0], ("owner", "active"))].into(),
        }
    }

    /// `None`: outsider; `Some(None)`: tenant admin; `Some(Some(role))`: active member.
    fn authority(&self, actor: ActorIx) -> Option<Option<&'static str>> {
        match actor {
            None => Some(None),
            Some(i) => match self.members.get(POOL[i]) {
                Some((role, "active")) => Some(Some(role)),
                _ => None,
            },
        }
    }

    fn allows(&self, actor: ActorIx, roles: &[&str]) -> bool {
        match self.authority(actor) {
            Some(None) => true,
            Some(Some(role)) => roles.contains(&role),
            None => false,
        }
    }

    fn active_owners(&self) -> usize {
        self.members
            .values()
            .filter(|m| **m == ("owner", "active"))
            .count()
    }

    /// Applies `op` and returns the status the API must answer.
    fn apply(&mut self, op: Op) -> u16 {
        const MANAGERS: &[&str] = &["owner", "admin"];
        const OWNERS: &[&str] = &["owner"];
        match op {
            Op::Invite { actor, user, role } => {
                let role = ROLES[role];
                if !self.allows(actor, MANAGERS) || (role == "owner" && !self.allows(actor, OWNERS)) {
                    403
                } else if self.members.contains_key(POOL[user]) {
                    409
                } else {
                    self.members.insert(POOL[user], (role, "invited"));
                    201
                }
            }
            Op::Accept { user } => match self.members.get_mut(POOL[user]) {
                None => 404,
                Some(m) => {
                    m.1 = "active";
                    200
                }
            },
            Op::ChangeRole { actor, user, role } => {
                let role = ROLES[role];
                if !self.allows(actor, MANAGERS) {
                    return 403;
                }
                let Some(&current) = self.members.get(POOL[user]) else {
                    return 404;
                };
                if current.0 == role {
                    return 200;
                }
                let needed = if role == "owner" || current.0 == "owner" {
                    OWNERS
                } else {
                    MANAGERS
                };
                if !self.allows(actor, needed) {
                    403
                } else if current == ("owner", "active") && self.active_owners() == 1 {
                    409
                } else {
                    self.members.insert(POOL[user], (role, current.1));
                    200
                }
            }
            Op::Remove { actor, user } => {
                let Some(&current) = self.members.get(POOL[user]) else {
                    return 404;
                };
                let leaving = actor == Some(user);
                let needed = if current.0 == "owner" { OWNERS } else { MANAGERS };
                if !leaving && !self.allows(actor, needed) {
                    403
                } else if current == ("owner", "active") && self.active_owners() == 1 {
                    409
                } else {
                    self.members.remove(POOL[user]);
                    204
                }
            }
        }
    }
}

fn actor_token(t: &str, actor: ActorIx) -> String {
    match actor {
        None => tenant_admin(t),
        Some(i) => tok(POOL[i], t),
    }
}

async fn run_op(app: &TestApp, t: &str, org: &str, op: Op) -> TestResponse {
    match op {
        Op::Invite { actor, user, role } => {
            invite(app, org, &actor_token(t, actor), POOL[user], ROLES[role]).await
        }
        Op::Accept { user } => accept(app, org, POOL[user], &tok(POOL[user], t)).await,
        Op::ChangeRole { actor, user, role } => {
            app.patch(
                &member_path(org, POOL[user]),
                &actor_token(t, actor),
                json!({"role": ROLES[role]}),
            )
            .await
        }
        Op::Remove { actor, user } => {
            app.delete(&member_path(org, POOL[user]), &actor_token(t, actor))
                .await
        }
    }
}

/// One table for all property cases of this file (each case uses fresh tenants).
static PROPERTY_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Any sequence of invitations, acceptances, role changes and removals answers as the
    /// contract says, keeps `member_count` equal to the listed memberships and never leaves
    /// the organization without an active owner.
    #[test]
    fn random_membership_sequences_keep_counters_and_an_owner(ops in prop::collection::vec(op_strategy(), 1..=25)) {
        api_tests::property_runtime().block_on(async {
            let app = api_tests::shared_app(&PROPERTY_APP).await;
            let t = tenant_id();
            let org = org_owned_by(app, &t, POOL[0]).await;
            let mut model = Model::new();
            for (step, op) in ops.iter().enumerate() {
                let expected = model.apply(*op);
                let r = run_op(app, &t, &org, *op).await;
                assert_eq!(r.status.as_u16(), expected, "step {step} {op:?}: {}", r.body);
            }
            let listed = walk_pages(app, &format!("{}?limit=3", members_path(&org)), &tenant_admin(&t)).await;
            let count = member_count(app, &t, &org).await;
            assert_eq!(count as usize, listed.len(), "member_count vs listed: {listed:?}");
            let got: BTreeMap<String, (String, String)> = listed
                .iter()
                .map(|m| {
                    (
                        m["user_id"].as_str().unwrap().to_owned(),
                        (m["role"].as_str().unwrap().to_owned(), m["status"].as_str().unwrap().to_owned()),
                    )
                })
                .collect();
            let want: BTreeMap<String, (String, String)> = model
                .members
                .iter()
                .map(|(u, (r, s))| ((*u).to_owned(), ((*r).to_owned(), (*s).to_owned())))
                .collect();
            assert_eq!(got, want);
            let owners = active_owners(app, &t, &org).await;
            assert!(!owners.is_empty(), "no active owner left");
            assert_eq!(owners.len(), model.active_owners());
        });
    }
}
