//! What jobs do to their campaign: the active count, no delete or move while work is active,
//! a deleted campaign takes its finished jobs with it, and finished jobs expire.

use api_tests::Settings;

use super::*;

#[tokio::test]
async fn a_campaign_with_active_jobs_can_be_neither_deleted_nor_moved() {
    let fx = Fixture::new().await;
    let user = fx.user();
    let other_org = create_org(fx.app, &user, "Globex").await;
    let campaign_path = format!("/v1/campaigns/{}", fx.campaign);
    let pending = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let running = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    fx.claim("w1", json!({})).await;
    fx.claim("w1", json!({})).await;
    assert_eq!(fx.job(&running).await.body["status"], "running");

    for active in [2, 1] {
        let r = fx.app.delete(&campaign_path, &user).await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict");
        let r = fx
            .app
            .patch(&campaign_path, &user, json!({"organization_id": other_org}))
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict");
        // Other changes are fine.
        let r = fx
            .app
            .patch(&campaign_path, &user, json!({"name": "Renamed"}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["active_job_count"], active);
        fx.cancel(&pending).await;
        let _ = fx.cancel(&pending).await;
    }
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
    assert_eq!(
        fx.complete("w1", &running, json!({"status": "succeeded"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(fx.active_job_count(&fx.campaign).await, 0);
    // The job keeps the organization it was created under.
    let r = fx
        .app
        .patch(&campaign_path, &user, json!({"organization_id": other_org}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(fx.job(&running).await.body["organization_id"], fx.org.as_str());
    assert_eq!(
        fx.app.delete(&campaign_path, &user).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn each_job_write_changes_the_campaign_etag() {
    let fx = Fixture::new().await;
    let path = format!("/v1/campaigns/{}", fx.campaign);
    let before = fx.app.get(&path, &fx.user()).await;
    let etag = before.header("etag").unwrap().to_owned();
    fx.create_job(&fx.campaign, "fetch_leads").await;
    // A client holding the old representation (count 0) must not overwrite the new one.
    let r = fx
        .app
        .if_match(
            Method::PATCH,
            &path,
            &fx.user(),
            Some(&json!({"name": "Stale"})),
            &etag,
        )
        .await;
    assert_problem(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    let r = fx
        .app
        .if_match(Method::DELETE, &path, &fx.user(), None, &etag)
        .await;
    assert_problem(&r, StatusCode::PRECONDITION_FAILED, "precondition_failed");
    assert_eq!(fx.active_job_count(&fx.campaign).await, 1);
}

#[tokio::test]
async fn deleting_a_campaign_removes_its_finished_jobs() {
    let fx = Fixture::new().await;
    let user = fx.user();
    let mut jobs = Vec::new();
    for i in 0..30 {
        let job = id_of(&fx.create_job(&fx.campaign, "export_recipients").await);
        if i % 2 == 0 {
            assert_eq!(fx.cancel(&job).await.status, StatusCode::OK);
        } else {
            let claimed = fx.claim("w1", json!({})).await;
            assert_eq!(claimed.body["id"], job.as_str());
            fx.complete("w1", &job, json!({"status": "succeeded"})).await;
        }
        jobs.push(job);
    }
    let keep = create_campaign(fx.app, &user, &fx.org, "Kept").await;
    let kept = id_of(&fx.create_job(keep["id"].as_str().unwrap(), "fetch_leads").await);

    let r = fx
        .app
        .delete(&format!("/v1/campaigns/{}", fx.campaign), &user)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for job in &jobs {
        assert_problem(&fx.job(job).await, StatusCode::NOT_FOUND, "not_found");
        assert_problem(&fx.cancel(job).await, StatusCode::NOT_FOUND, "not_found");
        assert_problem(
            &fx.complete("w1", job, json!({"status": "failed"})).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert!(
            fx.app
                .raw_item(&format!("{}#JOB#{job}", fx.tenant), "JOB")
                .await
                .is_none(),
            "job {job} was removed from the table"
        );
    }
    let r = fx
        .app
        .get(&format!("/v1/campaigns/{}/jobs", fx.campaign), &user)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        fx.job(&kept).await.status,
        StatusCode::OK,
        "other campaigns keep theirs"
    );
}

#[tokio::test]
async fn finished_jobs_expire_after_the_retention_period() {
    let mut settings = Settings::default();
    settings.vars.insert("JOB_RETENTION_DAYS", "2".to_owned());
    let fx = Fixture::on(TestApp::with(settings).await).await;
    let done = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let cancelled = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    let active = id_of(&fx.create_job(&fx.campaign, "fetch_leads").await);
    fx.claim("w1", json!({})).await;
    let finished = fx
        .complete("w1", &done, json!({"status": "succeeded"}))
        .await
        .body;
    fx.cancel(&cancelled).await;

    // DynamoDB's TTL attribute: finished_at + 2 days, in epoch seconds.
    let item = fx
        .app
        .raw_item(&format!("{}#JOB#{done}", fx.tenant), "JOB")
        .await
        .expect("stored");
    let expires_at: i64 = match item.get("expires_at") {
        Some(aws_sdk_dynamodb::types::AttributeValue::N(n)) => n.parse().unwrap(),
        other => panic!("expires_at: {other:?}"),
    };
    let finished_at =
        chrono::DateTime::parse_from_rfc3339(finished["finished_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at, finished_at.timestamp() + 2 * 86_400);
    let active_item = fx
        .app
        .raw_item(&format!("{}#JOB#{active}", fx.tenant), "JOB")
        .await
        .expect("stored");
    assert!(
        !active_item.contains_key("expires_at"),
        "active jobs never expire"
    );

    let list = format!("/v1/campaigns/{}/jobs", fx.campaign);
    fx.advance(2 * 86_400 - 60);
    assert_eq!(fx.job(&done).await.status, StatusCode::OK);
    assert_eq!(walk_pages(fx.app, &list, &fx.user()).await.len(), 3);
    fx.advance(120);
    for job in [&done, &cancelled] {
        assert_problem(&fx.job(job).await, StatusCode::NOT_FOUND, "not_found");
        assert_problem(&fx.cancel(job).await, StatusCode::NOT_FOUND, "not_found");
    }
    let listed = walk_pages(fx.app, &format!("{list}?limit=1"), &fx.user()).await;
    assert_eq!(listed.iter().map(id_of).collect::<Vec<_>>(), vec![active.clone()]);
    let listed = walk_pages(fx.app, &format!("{list}?status=succeeded"), &fx.user()).await;
    assert!(listed.is_empty());
    assert_eq!(fx.job(&active).await.status, StatusCode::OK);
}
