//! Many workers claiming from one queue at once.

use std::collections::BTreeMap;

use futures::future::join_all;

use super::*;

const JOBS: usize = 200;
const CLAIMERS: usize = 50;

/// 50 workers claim and complete concurrently until the queue is empty: every job is handed
/// out and completed exactly once, and no claim or completion fails except as the contract
/// allows (a 503 under contention, which a worker retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_claimers_complete_two_hundred_jobs_exactly_once() {
    let fx = Fixture::new().await;
    let types = ["fetch_leads", "send_messages", "export_recipients"];
    let mut created: Vec<String> = Vec::new();
    // Ten at a time: creation is not what this test is about.
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(10) {
        let jobs = join_all(chunk.iter().map(|i| fx.create_job(&fx.campaign, types[i % 3]))).await;
        created.extend(jobs.iter().map(id_of));
    }
    assert_eq!(fx.active_job_count(&fx.campaign).await, JOBS as i64);

    let fx = &fx;
    let results = join_all((0..CLAIMERS).map(|w| work_until_empty(fx, format!("worker-{w}"), 1))).await;
    let retries: usize = results.iter().map(|(_, r)| r).sum();
    let done: usize = results.iter().map(|(d, _)| d.len()).sum();
    // A 503 may come after the claim committed (its answer lost to the request's time budget on
    // a starved machine): the worker never learns it holds the job, exactly as after a crash.
    // The contract's answer is the lease: once it runs out, another claim takes the job over.
    let mut results = results;
    if done < JOBS {
        assert!(
            retries > 0,
            "{} jobs left unclaimed although no claim failed",
            JOBS - done
        );
        fx.app.clock.advance(std::time::Duration::from_secs(901));
        results.extend(join_all((0..5).map(|w| work_until_empty(fx, format!("sweeper-{w}"), 2))).await);
    }

    let mut completions: BTreeMap<String, usize> = BTreeMap::new();
    let mut busy_workers = 0;
    for (done, _) in &results {
        busy_workers += usize::from(!done.is_empty());
        for id in done {
            *completions.entry(id.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        completions.len(),
        JOBS,
        "every job was completed ({retries} claims answered 503)"
    );
    assert!(
        completions.values().all(|&n| n == 1),
        "no job was completed twice"
    );
    let mut expected = created.clone();
    expected.sort();
    assert_eq!(completions.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(busy_workers > 1, "the claimers really ran side by side");
    assert_eq!(fx.active_job_count(&fx.campaign).await, 0);
    let succeeded = walk_pages(
        fx.app,
        &format!("/v1/campaigns/{}/jobs?status=succeeded&limit=100", fx.campaign),
        &fx.user(),
    )
    .await;
    assert_eq!(succeeded.len(), JOBS);
    // Each result names the one worker that held the job.
    for job in &succeeded {
        let by = job["result"]["by"].as_str().unwrap();
        assert!(by.starts_with("worker-") || by.starts_with("sweeper-"), "{by}");
    }
    println!("{CLAIMERS} claimers, {JOBS} jobs: {retries} claims answered 503 and were retried");
}

/// One worker's loop: claim, complete, until a claim finds nothing. Returns the jobs it
/// completed and how many claims answered 503 (retried). `max_attempts`: 1 while no lease ran
/// out, 2 for jobs taken over after one did.
async fn work_until_empty(fx: &Fixture, name: String, max_attempts: u64) -> (Vec<String>, usize) {
    let mut done = Vec::new();
    let mut retries = 0;
    loop {
        let r = fx.claim(&name, json!({"lease_seconds": 900})).await;
        match r.status {
            StatusCode::NO_CONTENT => return (done, retries),
            StatusCode::SERVICE_UNAVAILABLE => {
                retries += 1;
                assert!(retries < 200, "{name} kept getting 503");
                continue;
            }
            StatusCode::OK => {}
            other => panic!("{name}: claim answered {other}: {}", r.body),
        }
        assert_eq!(r.body["worker"], name.as_str());
        let attempts = r.body["attempts"].as_u64().unwrap();
        assert!(
            (1..=max_attempts).contains(&attempts),
            "{name} got a job on attempt {attempts}: only a lost answer makes a second"
        );
        let id = id_of(&r.body);
        let c = fx
            .complete(&name, &id, json!({"status": "succeeded", "result": {"by": name}}))
            .await;
        assert_eq!(c.status, StatusCode::OK, "{name} completing {id}: {}", c.body);
        done.push(id);
    }
}
