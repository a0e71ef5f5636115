//! The worker protocol: claim, heartbeat, complete, leases running out and being taken over,
//! and the third expiry failing the job. Time moves with the injected clock.

use super::*;

#[tokio::test]
async fn only_job_workers_claim_heartbeat_and_complete() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let admin = token_at(&fx.app.clock, "admin", Some(&fx.tenant), &["tenant_admin"]);
    for token in [fx.user(), admin] {
        for (path, body) in [
            ("/v1/jobs/claim".to_owned(), json!({})),
            (format!("/v1/jobs/{job}/heartbeat"), json!({})),
            (format!("/v1/jobs/{job}/complete"), json!({"status": "succeeded"})),
        ] {
            let r = fx.app.post(&path, &token, body).await;
            assert_problem(&r, StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert_eq!(fx.job(&job).await.body["status"], "pending");
    let r = fx.app.get("/v1/jobs/claim", &fx.worker("w1")).await;
    assert_problem(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn a_claim_takes_the_oldest_pending_job_of_the_requested_types() {
    let fx = Fixture::new().await;
    assert_eq!(fx.claim("w1", json!({})).await.status, StatusCode::NO_CONTENT);
    let a = fx.create_job(&fx.campaign, "send_messages").await;
    let b = fx.create_job(&fx.campaign, "fetch_leads").await;
    let c = fx.create_job(&fx.campaign, "fetch_leads").await;

    let r = fx
        .claim("w1", json!({"job_types": ["fetch_leads", "export_recipients"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], b["id"]);
    assert_eq!(r.body["status"], "running");
    assert_eq!(r.body["attempts"], 1);
    assert_eq!(r.body["worker"], "w1");
    assert_eq!(
        seconds_between(&r.body["started_at"], &r.body["lease_expires_at"]),
        300
    );
    assert_eq!(fx.job(&id_of(&b)).await.body, r.body);

    // No body at all is the same as `{}`: every type, the default lease.
    let r = fx
        .app
        .call(Method::POST, "/v1/jobs/claim", Some(&fx.worker("w2")), None)
        .await;
    assert_eq!(r.body["id"], a["id"], "{}", r.body);
    let r = fx.claim("w3", json!({"lease_seconds": 10})).await;
    assert_eq!(r.body["id"], c["id"]);
    assert_eq!(
        seconds_between(&r.body["started_at"], &r.body["lease_expires_at"]),
        10
    );
    assert_eq!(fx.claim("w4", json!({})).await.status, StatusCode::NO_CONTENT);
    // Running jobs are still active.
    assert_eq!(fx.active_job_count(&fx.campaign).await, 3);
}

#[tokio::test]
async fn bad_worker_bodies_are_422() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    for body in [
        json!({"lease_seconds": 9}),
        json!({"lease_seconds": 901}),
        json!({"lease_seconds": "60"}),
        json!({"lease_seconds": 30.5}),
        json!({"job_types": ["fetch_leads", "dig"]}),
        json!({"job_types": []}),
        json!({"job_types": "fetch_leads"}),
        json!({"limit": 1}),
    ] {
        let r = fx.claim("w1", body.clone()).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(
        fx.job(&job).await.body["status"],
        "pending",
        "no bad claim took it"
    );
    let claimed = fx.claim("w1", json!({"lease_seconds": 900})).await;
    assert_eq!(claimed.status, StatusCode::OK);
    for body in [
        json!({"lease_seconds": 5}),
        json!({"lease_seconds": 1000}),
        json!({"attempt": 0}),
    ] {
        let r = fx.heartbeat("w1", &job, body).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for (body, field) in [
        (json!({"status": "succeeded", "error": "it broke"}), "error"),
        (json!({"status": "cancelled"}), "status"),
        (json!({}), "status"),
        (json!({"status": "failed", "result": "text"}), "result"),
        (json!({"status": "failed", "error": 5}), "error"),
        (json!({"status": "failed", "extra": 1}), "extra"),
    ] {
        let r = fx.complete("w1", &job, body.clone()).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    assert_eq!(fx.job(&job).await.body["status"], "running");
}

#[tokio::test]
async fn heartbeats_extend_the_lease_and_completion_finishes_the_job() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "export_recipients").await);
    let claimed = fx.claim("w1", json!({"lease_seconds": 60})).await.body;
    fx.advance(50);
    let r = fx.heartbeat("w1", &job, json!({"lease_seconds": 120})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        seconds_between(&claimed["lease_expires_at"], &r.body["lease_expires_at"]),
        110
    );
    // Past the first lease, within the second.
    fx.advance(100);
    let r = fx.heartbeat("w1", &job, json!({"attempt": 1})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_problem(
        &fx.heartbeat("w2", &job, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_problem(
        &fx.complete("w2", &job, json!({"status": "succeeded"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );

    let r = fx
        .complete(
            "w1",
            &job,
            json!({"status": "succeeded", "result": {"rows": 1200}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let done = r.body;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["result"], json!({"rows": 1200}));
    assert!(done["error"].is_null() && done["worker"].is_null() && done["lease_expires_at"].is_null());
    assert!(done["finished_at"].is_string());
    assert_eq!(fx.active_job_count(&fx.campaign).await, 0);
    // Finished: no second report, no heartbeat, no cancel.
    assert_problem(
        &fx.complete("w1", &job, json!({"status": "failed"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_problem(
        &fx.heartbeat("w1", &job, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_problem(&fx.cancel(&job).await, StatusCode::CONFLICT, "conflict");
    assert_eq!(fx.job(&job).await.body, done);

    let other = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    fx.claim("w1", json!({})).await;
    let r = fx
        .complete("w1", &other, json!({"status": "failed", "error": "CRM said 503"}))
        .await;
    assert_eq!(r.body["status"], "failed");
    assert_eq!(r.body["error"], "CRM said 503");
}

#[tokio::test]
async fn a_lost_lease_is_taken_over_and_the_old_worker_is_refused() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let first = fx.claim("w1", json!({"lease_seconds": 60})).await;
    assert_eq!(first.body["worker"], "w1");
    fx.advance(30);
    assert_eq!(
        fx.claim("w2", json!({})).await.status,
        StatusCode::NO_CONTENT,
        "lease still runs"
    );
    fx.advance(31);
    // Expired but not yet taken: still the old worker's job on paper, but its lease is gone.
    assert_problem(
        &fx.heartbeat("w1", &job, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let second = fx.claim("w2", json!({"lease_seconds": 60})).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.body["id"], job.as_str());
    assert_eq!(second.body["worker"], "w2");
    assert_eq!(second.body["attempts"], 2);
    assert_eq!(second.body["started_at"], first.body["started_at"]);
    assert_problem(
        &fx.complete("w1", &job, json!({"status": "succeeded"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_eq!(fx.heartbeat("w2", &job, json!({})).await.status, StatusCode::OK);
    let done = fx.complete("w2", &job, json!({"status": "succeeded"})).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(done.body["attempts"], 2);
}

#[tokio::test]
async fn the_attempt_fences_off_an_older_process_of_the_same_worker() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let first = fx.claim("pool", json!({"lease_seconds": 10})).await.body;
    fx.advance(11);
    let second = fx.claim("pool", json!({"lease_seconds": 60})).await.body;
    assert_eq!(second["attempts"], 2);
    let stale = fx
        .complete(
            "pool",
            &job,
            json!({"status": "succeeded", "attempt": first["attempts"]}),
        )
        .await;
    assert_problem(&stale, StatusCode::CONFLICT, "conflict");
    let fresh = fx
        .complete("pool", &job, json!({"status": "succeeded", "attempt": 2}))
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
}

#[tokio::test]
async fn the_third_expired_lease_fails_the_job() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "send_messages").await);
    for (n, worker) in ["w1", "w2", "w3"].into_iter().enumerate() {
        let r = fx.claim(worker, json!({"lease_seconds": 10})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["attempts"], n + 1);
        fx.advance(11);
    }
    // The third lease ran out: the next claim fails the job instead of handing it out.
    let later = id_of(&fx.create_job(&fx.campaign, "send_messages").await);
    let r = fx.claim("w4", json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["id"], later.as_str(), "the failed job is skipped");
    let failed = fx.job(&job).await.body;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "lease expired 3 times");
    assert_eq!(failed["attempts"], 3);
    assert!(failed["worker"].is_null() && failed["finished_at"].is_string());
    assert_problem(
        &fx.complete("w3", &job, json!({"status": "succeeded"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
}

#[tokio::test]
async fn an_idempotent_claim_hands_out_one_job_once() {
    let fx = Fixture::new().await;
    let a = fx.create_job(&fx.campaign, "fetch_leads").await;
    fx.create_job(&fx.campaign, "fetch_leads").await;
    let token = fx.worker("w1");
    let first = fx
        .app
        .post_with_key("/v1/jobs/claim", &token, &json!({}), "claim-1")
        .await;
    let again = fx
        .app
        .post_with_key("/v1/jobs/claim", &token, &json!({}), "claim-1")
        .await;
    assert_eq!(first.body["id"], a["id"]);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let pending = walk_pages(
        fx.app,
        &format!("/v1/campaigns/{}/jobs?status=pending", fx.campaign),
        &fx.user(),
    )
    .await;
    assert_eq!(pending.len(), 1, "the replay claimed nothing");
}
