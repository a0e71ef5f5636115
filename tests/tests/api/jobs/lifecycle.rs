//! Creating, reading, listing and cancelling jobs, and the 4xx answers to bad input.

use super::*;

#[tokio::test]
async fn a_new_job_is_pending_on_its_campaign_and_counted() {
    let fx = Fixture::new().await;
    let r = fx
        .app
        .post(
            &format!("/v1/campaigns/{}/jobs", fx.campaign),
            &fx.user(),
            json!({"name": "  Fetch leads ", "job_type": "fetch_leads", "description": "from the CRM",
                   "params": {"source": "crm", "limit": 500}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let job = r.body.clone();
    assert_eq!(
        r.header("location"),
        Some(format!("/v1/jobs/{}", id_of(&job)).as_str())
    );
    assert_eq!(job["name"], "Fetch leads");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["job_type"], "fetch_leads");
    assert_eq!(job["campaign_id"], fx.campaign.as_str());
    assert_eq!(job["organization_id"], fx.org.as_str());
    assert_eq!(job["tenant_id"], fx.tenant.as_str());
    assert_eq!(job["params"], json!({"source": "crm", "limit": 500}));
    assert_eq!(job["attempts"], 0);
    for empty in [
        "worker",
        "lease_expires_at",
        "result",
        "error",
        "started_at",
        "finished_at",
    ] {
        assert!(job[empty].is_null(), "{empty}: {job}");
    }
    let read = fx.job(&id_of(&job)).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, job);
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
}

#[tokio::test]
async fn jobs_need_an_active_campaign_of_the_callers_tenant() {
    let fx = Fixture::new().await;
    let body = json!({"name": "fetch", "job_type": "fetch_leads"});
    for campaign in ["not-a-uuid", "0193a4f2-7c1d-7b3e-9f20-5a6b7c8d9e0f"] {
        let r = fx
            .app
            .post(
                &format!("/v1/campaigns/{campaign}/jobs"),
                &fx.user(),
                body.clone(),
            )
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, foreign) = fx.other_tenant().await;
    let r = fx
        .app
        .post(&format!("/v1/campaigns/{foreign}/jobs"), &fx.user(), body.clone())
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");

    let paused = fx
        .app
        .patch(
            &format!("/v1/campaigns/{}", fx.campaign),
            &fx.user(),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK);
    let r = fx
        .app
        .post(&format!("/v1/campaigns/{}/jobs", fx.campaign), &fx.user(), body)
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "conflict");
    assert_eq!(fx.active_job_count(&fx.campaign).await, 0);
}

#[tokio::test]
async fn bad_job_bodies_are_422_with_the_field() {
    let fx = Fixture::new().await;
    let path = format!("/v1/campaigns/{}/jobs", fx.campaign);
    let big = "x".repeat(8 * 1024);
    for (body, field) in [
        (json!({"name": "fetch", "job_type": "mine_bitcoin"}), "job_type"),
        (json!({"name": "fetch", "job_type": "FETCH_LEADS"}), "job_type"),
        (json!({"name": "fetch"}), "job_type"),
        (json!({"name": "fe", "job_type": "fetch_leads"}), "name"),
        (json!({"job_type": "fetch_leads"}), "name"),
        (
            json!({"name": "fetch", "job_type": "fetch_leads", "params": {"blob": big}}),
            "params",
        ),
        (
            json!({"name": "fetch", "job_type": "fetch_leads", "params": [1, 2]}),
            "params",
        ),
        (
            json!({"name": "fetch", "job_type": "fetch_leads", "priority": 1}),
            "priority",
        ),
        (
            json!({"name": "fetch", "job_type": "fetch_leads", "description": 5}),
            "description",
        ),
    ] {
        let r = fx.app.post(&path, &fx.user(), body.clone()).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(r.body["errors"][field].is_array(), "{body}: {}", r.body);
    }
    // Just under the limit is fine; read-only fields sent back are ignored.
    let fits = "x".repeat(8 * 1024 - 20);
    let r = fx
        .app
        .post(
            &path,
            &fx.user(),
            json!({"name": "fetch", "job_type": "fetch_leads", "params": {"blob": fits},
                   "status": "succeeded", "attempts": 7, "id": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.body["attempts"], 0);
    let r = fx
        .app
        .call_raw(Method::POST, &path, Some(&fx.user()), Some("[1]"), &[])
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
}

#[tokio::test]
async fn another_tenants_job_and_malformed_ids_are_404() {
    let fx = Fixture::new().await;
    let job = id_of(&fx.create_job(&fx.campaign, "send_messages").await);
    let (tenant, campaign) = fx.other_tenant().await;
    let stranger = Fixture {
        app: fx.app,
        tenant,
        org: String::new(),
        campaign,
    };
    assert_problem(&stranger.job(&job).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&stranger.cancel(&job).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(
        &stranger.heartbeat("w", &job, json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &stranger.job("not-a-uuid").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_problem(
        &stranger.job(&job.to_uppercase()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // A stranger's claim does not see it either.
    assert_eq!(
        stranger.claim("w", json!({})).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn lists_are_newest_first_with_filters_as_full_pages() {
    let fx = Fixture::new().await;
    let mut created = Vec::new();
    for i in 0..9 {
        let t = ["fetch_leads", "send_messages", "export_recipients"][i % 3];
        created.push(fx.create_job(&fx.campaign, t).await);
    }
    // Two more states: a cancelled fetch and a running one.
    assert_eq!(fx.cancel(&id_of(&created[0])).await.status, StatusCode::OK);
    let claimed = fx.claim("w1", json!({"job_types": ["fetch_leads"]})).await;
    assert_eq!(claimed.body["id"], created[3]["id"], "the oldest pending fetch");
    // A job of another campaign never shows.
    let user = fx.user();
    let second = create_campaign(fx.app, &user, &fx.org, "Autumn").await;
    fx.create_job(second["id"].as_str().unwrap(), "fetch_leads").await;

    let base = format!("/v1/campaigns/{}/jobs", fx.campaign);
    let ids = |items: &[Value]| items.iter().map(id_of).collect::<Vec<_>>();
    let mut newest_first = ids(&created);
    newest_first.reverse();
    let (all, sizes) = walk_pages_with_sizes(fx.app, &format!("{base}?limit=2"), &user).await;
    assert_eq!(ids(&all), newest_first);
    assert_eq!(sizes, vec![2, 2, 2, 2, 1]);

    let fetches = walk_pages(fx.app, &format!("{base}?limit=1&job_type=fetch_leads"), &user).await;
    assert_eq!(
        ids(&fetches),
        vec![id_of(&created[6]), id_of(&created[3]), id_of(&created[0])]
    );
    let pending = walk_pages(fx.app, &format!("{base}?limit=3&status=pending"), &user).await;
    assert_eq!(pending.len(), 7);
    assert!(pending.iter().all(|j| j["status"] == "pending"));
    let both = walk_pages(
        fx.app,
        &format!("{base}?status=running&job_type=fetch_leads"),
        &user,
    )
    .await;
    assert_eq!(ids(&both), vec![id_of(&created[3])]);
    let cancelled = walk_pages(fx.app, &format!("{base}?status=cancelled"), &user).await;
    assert_eq!(ids(&cancelled), vec![id_of(&created[0])]);

    // A cursor is bound to its list and filter.
    let page = fx.app.get(&format!("{base}?limit=1&status=pending"), &user).await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let r = fx
        .app
        .get(&format!("{base}?limit=1&cursor={cursor}"), &user)
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    for bad in ["status=done", "job_type=FETCH_LEADS", "limit=0", "sort=asc"] {
        let r = fx.app.get(&format!("{base}?{bad}"), &user).await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let r = fx
        .app
        .get("/v1/campaigns/0193a4f2-7c1d-7b3e-9f20-5a6b7c8d9e0f/jobs", &user)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn cancel_ends_pending_and_running_jobs_once() {
    let fx = Fixture::new().await;
    let pending = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let running = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    assert_eq!(fx.active_job_count(&fx.campaign).await, 2);
    let r = fx.cancel(&pending).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["finished_at"].is_string());
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
    assert_problem(&fx.cancel(&pending).await, StatusCode::CONFLICT, "conflict");

    let claimed = fx.claim("w1", json!({})).await;
    assert_eq!(claimed.body["id"], running.as_str());
    // An empty body is the same as `{}`; unknown fields are not.
    let r = fx
        .app
        .call(
            Method::POST,
            &format!("/v1/jobs/{running}/cancel"),
            Some(&fx.user()),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["worker"].is_null() && r.body["lease_expires_at"].is_null());
    assert_eq!(fx.active_job_count(&fx.campaign).await, 0);
    // The worker has lost it.
    assert_problem(
        &fx.heartbeat("w1", &running, json!({})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    assert_problem(
        &fx.complete("w1", &running, json!({"status": "succeeded"})).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let r = fx
        .app
        .post(
            &format!("/v1/jobs/{running}/cancel"),
            &fx.user(),
            json!({"reason": "x"}),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn an_idempotent_create_writes_one_job() {
    let fx = Fixture::new().await;
    let path = format!("/v1/campaigns/{}/jobs", fx.campaign);
    let body = json!({"name": "export", "job_type": "export_recipients"});
    let first = fx.app.post_with_key(&path, &fx.user(), &body, "k-1").await;
    let again = fx.app.post_with_key(&path, &fx.user(), &body, "k-1").await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
    assert_eq!(walk_pages(fx.app, &path, &fx.user()).await.len(), 1);
}
