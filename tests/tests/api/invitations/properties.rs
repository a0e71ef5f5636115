//! Random sequences of invite, resend, revoke, accept and clock advances: every request
//! answers as the contract says, each invitation ends in exactly one state, and a membership
//! exists exactly when one of its invitations was accepted.

use super::*;

const PEOPLE: [&str; 3] = ["ann", "ben", "cy"];
const ROLES: [&str; 3] = ["owner", "admin", "member"];

#[derive(Debug, Clone, Copy)]
enum Op {
    Invite {
        person: usize,
        role: usize,
        days: i64,
    },
    Resend {
        person: usize,
    },
    Revoke {
        person: usize,
    },
    /// With the latest invitation's current token, or with a token a resend replaced.
    Accept {
        person: usize,
        old_token: bool,
    },
    Advance {
        days: u64,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let person = 0..PEOPLE.len();
    prop_oneof![
        3 => (person.clone(), 0..ROLES.len(), 1..=3i64)
            .prop_map(|(person, role, days)| Op::Invite { person, role, days }),
        2 => person.clone().prop_map(|person| Op::Resend { person }),
        1 => person.clone().prop_map(|person| Op::Revoke { person }),
        3 => (person, any::<bool>()).prop_map(|(person, old_token)| Op::Accept { person, old_token }),
        2 => (0..=3u64).prop_map(|days| Op::Advance { days }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Pending,
    Accepted,
    Revoked,
}

struct Inv {
    id: String,
    /// The model's day on which it expires (whole days from the start of the case).
    expires_day: i64,
    state: State,
    token: String,
    old_tokens: Vec<String>,
}

impl Inv {
    fn status(&self, day: i64) -> &'static str {
        match self.state {
            State::Pending if day >= self.expires_day => "expired",
            State::Pending => "pending",
            State::Accepted => "accepted",
            State::Revoked => "revoked",
        }
    }
}

#[derive(Default)]
struct Model {
    day: i64,
    /// Per person, their invitations, latest last.
    invitations: BTreeMap<usize, Vec<Inv>>,
    members: BTreeMap<usize, &'static str>,
}

impl Model {
    fn latest(&mut self, person: usize) -> Option<&mut Inv> {
        self.invitations.get_mut(&person).and_then(|l| l.last_mut())
    }
}

async fn run_op(app: &TestApp, t: &str, org: &str, model: &mut Model, op: Op) -> Result<(), String> {
    let owner = tok("owner", t);
    let day = model.day;
    let check = |r: &TestResponse, want: u16| -> Result<(), String> {
        if r.status.as_u16() == want {
            Ok(())
        } else {
            Err(format!("{op:?}: want {want}, got {} {}", r.status, r.body))
        }
    };
    match op {
        Op::Invite { person, role, days } => {
            let r = app
                .post(
                    &invitations_path(org),
                    &owner,
                    json!({"email": format!("{}@example.com", PEOPLE[person]), "role": ROLES[role], "expires_in_days": days}),
                )
                .await;
            let live = model
                .invitations
                .get(&person)
                .is_some_and(|l| l.iter().any(|i| i.status(day) == "pending"));
            if model.members.contains_key(&person) || live {
                return check(&r, 409);
            }
            check(&r, 201)?;
            model.invitations.entry(person).or_default().push(Inv {
                id: r.body["id"].as_str().unwrap().to_owned(),
                expires_day: day + days,
                state: State::Pending,
                token: r.body["token"].as_str().unwrap().to_owned(),
                old_tokens: Vec::new(),
            });
        }
        Op::Resend { person } => {
            let Some(inv) = model.latest(person) else {
                return Ok(());
            };
            let r = resend(app, org, &inv.id, &owner).await;
            if inv.status(day) != "pending" {
                return check(&r, 409);
            }
            check(&r, 200)?;
            let fresh = r.body["token"].as_str().unwrap().to_owned();
            inv.old_tokens.push(std::mem::replace(&mut inv.token, fresh));
            inv.expires_day = day + 7;
        }
        Op::Revoke { person } => {
            let Some(inv) = model.latest(person) else {
                return Ok(());
            };
            let r = app.delete(&invitation_path(org, &inv.id), &owner).await;
            if inv.status(day) != "pending" {
                return check(&r, 409);
            }
            check(&r, 204)?;
            inv.state = State::Revoked;
        }
        Op::Accept { person, old_token } => {
            let email = format!("{}@example.com", PEOPLE[person]);
            let caller = tok_email(PEOPLE[person], t, &email);
            let Some(inv) = model.latest(person) else {
                return Ok(());
            };
            if old_token {
                let Some(old) = inv.old_tokens.last() else {
                    return Ok(());
                };
                let r = accept(app, &caller, old).await;
                return check(&r, 404);
            }
            let r = accept(app, &caller, &inv.token).await;
            if inv.status(day) != "pending" {
                return check(&r, 410);
            }
            check(&r, 200)?;
            inv.state = State::Accepted;
            model.members.insert(person, "active");
        }
        Op::Advance { days } => {
            app.clock.advance(DAY * days as u32);
            model.day += days as i64;
        }
    }
    Ok(())
}

/// One table for all property cases of this file (each case uses a fresh tenant).
static PROPERTY_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_invitation_sequences_end_in_exactly_one_state(ops in prop::collection::vec(op_strategy(), 1..=25)) {
        api_tests::property_runtime().block_on(async {
            let app = api_tests::shared_app(&PROPERTY_APP).await;
            let t = tenant_id();
            let org = org_of(app, &t, "owner").await;
            let mut model = Model::default();
            for (step, op) in ops.iter().enumerate() {
                if let Err(e) = run_op(app, &t, &org, &mut model, *op).await {
                    panic!("step {step}: {e}");
                }
            }
            let day = model.day;
            // Every invitation is in exactly one status list, the one the model says.
            let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for status in ["pending", "accepted", "revoked", "expired"] {
                for inv in listed(app, &t, &org, &format!("status={status}")).await {
                    assert_eq!(inv["status"], status, "{inv}");
                    seen.entry(inv["id"].as_str().unwrap().to_owned()).or_default().push(status.to_owned());
                }
            }
            let all = listed(app, &t, &org, "").await;
            let expected: BTreeMap<String, Vec<String>> = model
                .invitations
                .values()
                .flatten()
                .map(|i| (i.id.clone(), vec![i.status(day).to_owned()]))
                .collect();
            assert_eq!(seen, expected);
            assert_eq!(all.len(), expected.len());
            for inv in &all {
                assert_eq!(vec![inv["status"].as_str().unwrap().to_owned()], expected[inv["id"].as_str().unwrap()]);
            }
            // A membership exists exactly for the people whose invitation was accepted.
            for (i, person) in PEOPLE.iter().enumerate() {
                let m = membership(app, &t, &org, person).await;
                assert_eq!(m.is_some(), model.members.contains_key(&i), "{person}: {m:?}");
            }
            assert_eq!(member_count(app, &t, &org).await, 1 + model.members.len() as u64);
        });
    }
}
