//! Random sequences of creates, claims, heartbeats, completions, cancellations and clock
//! advances, checked against the contract after every step.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use proptest::prelude::*;

use super::*;

static PROPERTY_APP: tokio::sync::OnceCell<TestApp> = tokio::sync::OnceCell::const_new();

const WORKERS: [&str; 3] = ["w0", "w1", "w2"];
const TYPES: [&str; 2] = ["fetch_leads", "send_messages"];
// Leases are never a multiple of ten seconds and advances always are, so no lease ends within
// milliseconds of "now" and the real time a step takes cannot tip a comparison.
const LEASES: [i64; 2] = [45, 95];
const ADVANCES: [u64; 3] = [20, 50, 130];

#[derive(Debug, Clone, Copy)]
enum Op {
    Create {
        ty: usize,
    },
    Claim {
        worker: usize,
        lease: usize,
        only: Option<usize>,
    },
    Heartbeat {
        worker: usize,
        job: usize,
        lease: usize,
    },
    Complete {
        worker: usize,
        job: usize,
        ok: bool,
    },
    Cancel {
        job: usize,
    },
    Advance {
        by: usize,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let w = 0..WORKERS.len();
    prop_oneof![
        3 => (0..TYPES.len()).prop_map(|ty| Op::Create { ty }),
        4 => (w.clone(), 0..LEASES.len(), proptest::option::of(0..TYPES.len()))
            .prop_map(|(worker, lease, only)| Op::Claim { worker, lease, only }),
        2 => (w.clone(), 0..8usize, 0..LEASES.len())
            .prop_map(|(worker, job, lease)| Op::Heartbeat { worker, job, lease }),
        2 => (w, 0..8usize, any::<bool>()).prop_map(|(worker, job, ok)| Op::Complete { worker, job, ok }),
        1 => (0..8usize).prop_map(|job| Op::Cancel { job }),
        3 => (0..ADVANCES.len()).prop_map(|by| Op::Advance { by }),
    ]
}

fn time_of(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a time"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Whether `worker` holds a live lease on `job` at `now`, as the job reads.
fn held_by(job: &Value, worker: &str, now: DateTime<Utc>) -> bool {
    job["status"] == "running" && job["worker"] == worker && time_of(&job["lease_expires_at"]) > now
}

/// The one state the contract allows that the job is in, or a panic naming what is off.
fn check_shape(job: &Value) {
    let set = |f: &str| !job[f].is_null();
    let attempts = job["attempts"].as_u64().expect("attempts");
    let ok = match job["status"].as_str().expect("status") {
        "pending" => {
            attempts == 0
                && !set("worker")
                && !set("lease_expires_at")
                && !set("started_at")
                && !set("finished_at")
        }
        "running" => {
            attempts >= 1
                && set("worker")
                && set("lease_expires_at")
                && set("started_at")
                && !set("finished_at")
        }
        "succeeded" => !set("worker") && !set("lease_expires_at") && set("finished_at") && !set("error"),
        "failed" | "cancelled" => !set("worker") && !set("lease_expires_at") && set("finished_at"),
        _ => false,
    };
    assert!(ok, "a job in no allowed state: {job}");
}

struct Run<'a> {
    fx: &'a Fixture,
    ids: Vec<String>,
    /// The jobs as read after the last step.
    jobs: Vec<Value>,
    /// Who the API last granted each job to, and until when: the worker that must be the only
    /// holder.
    holders: HashMap<String, (String, DateTime<Utc>)>,
}

impl Run<'_> {
    fn pick(&self, job: usize) -> Option<usize> {
        (!self.ids.is_empty()).then(|| job % self.ids.len())
    }

    /// What the contract says a claim of `only` (or any type) at `now` hands out: the oldest
    /// claimable job, skipping (and failing) any whose third lease ran out.
    fn expected_claim(&self, only: Option<&str>, now: DateTime<Utc>) -> Option<String> {
        let mut claimable: Vec<(String, String, bool)> = self
            .jobs
            .iter()
            .filter(|j| only.is_none_or(|t| j["job_type"] == t))
            .filter_map(|j| {
                let id = id_of(j);
                match j["status"].as_str() {
                    Some("pending") => Some((j["inserted_at"].as_str()?.to_owned(), id, false)),
                    Some("running") if time_of(&j["lease_expires_at"]) <= now => {
                        let last = j["attempts"].as_u64()? >= 3;
                        Some((j["lease_expires_at"].as_str()?.to_owned(), id, last))
                    }
                    _ => None,
                }
            })
            .collect();
        claimable.sort();
        claimable
            .into_iter()
            .find(|(_, _, last)| !last)
            .map(|(_, id, _)| id)
    }

    async fn step(&mut self, op: Op) {
        let fx = self.fx;
        let now = fx.app.clock.now();
        match op {
            Op::Create { ty } => {
                let job = fx.create_job(&fx.campaign, TYPES[ty]).await;
                self.ids.push(id_of(&job));
            }
            Op::Claim { worker, lease, only } => {
                let only = only.map(|t| TYPES[t]);
                let mut body = json!({"lease_seconds": LEASES[lease]});
                if let Some(t) = only {
                    body["job_types"] = json!([t]);
                }
                let expected = self.expected_claim(only, now);
                let r = fx.claim(WORKERS[worker], body).await;
                match &expected {
                    None => assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body),
                    Some(id) => {
                        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                        assert_eq!(&id_of(&r.body), id, "the oldest claimable job");
                        if let Some((previous, until)) = self.holders.get(id) {
                            assert!(
                                *until <= now,
                                "{id} handed to {} while {previous} held it",
                                WORKERS[worker]
                            );
                        }
                        self.holders.insert(
                            id.clone(),
                            (WORKERS[worker].to_owned(), time_of(&r.body["lease_expires_at"])),
                        );
                    }
                }
            }
            Op::Heartbeat { worker, job, lease } => {
                let Some(i) = self.pick(job) else { return };
                let allowed = held_by(&self.jobs[i], WORKERS[worker], now);
                let r = fx
                    .heartbeat(
                        WORKERS[worker],
                        &self.ids[i],
                        json!({"lease_seconds": LEASES[lease]}),
                    )
                    .await;
                if allowed {
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                    self.holders.insert(
                        self.ids[i].clone(),
                        (WORKERS[worker].to_owned(), time_of(&r.body["lease_expires_at"])),
                    );
                } else {
                    assert_problem(&r, StatusCode::CONFLICT, "conflict");
                }
            }
            Op::Complete { worker, job, ok } => {
                let Some(i) = self.pick(job) else { return };
                let allowed = held_by(&self.jobs[i], WORKERS[worker], now);
                let body = if ok {
                    json!({"status": "succeeded", "result": {"n": 1}})
                } else {
                    json!({"status": "failed", "error": "boom"})
                };
                let r = fx.complete(WORKERS[worker], &self.ids[i], body).await;
                if allowed {
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                    self.holders.remove(&self.ids[i]);
                } else {
                    assert_problem(&r, StatusCode::CONFLICT, "conflict");
                }
            }
            Op::Cancel { job } => {
                let Some(i) = self.pick(job) else { return };
                let active = matches!(self.jobs[i]["status"].as_str(), Some("pending" | "running"));
                let r = fx.cancel(&self.ids[i]).await;
                if active {
                    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
                    self.holders.remove(&self.ids[i]);
                } else {
                    assert_problem(&r, StatusCode::CONFLICT, "conflict");
                }
            }
            Op::Advance { by } => fx.advance(ADVANCES[by]),
        }
        self.sync_and_check().await;
    }

    async fn sync_and_check(&mut self) {
        let mut jobs = Vec::with_capacity(self.ids.len());
        for id in &self.ids {
            let r = self.fx.job(id).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            check_shape(&r.body);
            jobs.push(r.body);
        }
        for job in &jobs {
            let id = id_of(job);
            if job["status"] == "running" {
                // One holder: the worker the API last granted the job to, on that grant's lease.
                let (worker, until) = self.holders.get(&id).expect("a running job was granted");
                assert_eq!(job["worker"], worker.as_str(), "{job}");
                assert_eq!(time_of(&job["lease_expires_at"]), *until, "{job}");
            } else {
                self.holders.remove(&id);
            }
        }
        let active = jobs
            .iter()
            .filter(|j| matches!(j["status"].as_str(), Some("pending" | "running")))
            .count();
        assert_eq!(self.fx.active_job_count(&self.fx.campaign).await, active as i64);
        self.jobs = jobs;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the sequence, every job is in exactly one allowed state, has at most one
    /// holder, and the campaign's `active_job_count` is the number of unfinished jobs.
    #[test]
    fn random_job_sequences_keep_the_contract(ops in proptest::collection::vec(op_strategy(), 1..30)) {
        api_tests::property_runtime().block_on(async {
            let app = api_tests::shared_app(&PROPERTY_APP).await;
            let fx = Fixture::borrowed(app).await;
            let mut run = Run { fx: &fx, ids: Vec::new(), jobs: Vec::new(), holders: HashMap::new() };
            for op in ops {
                run.step(op).await;
            }
        });
    }
}
