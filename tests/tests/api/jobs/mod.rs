//! Campaign jobs: creation, lists, cancel, the worker protocol (claims, leases, heartbeats,
//! completion), the campaign rules, retention, concurrent claimers and a property test over
//! random sequences. One file per subject; the helpers they share are here.

mod campaigns;
mod claims;
mod concurrency;
mod lifecycle;
mod properties;

pub(super) use std::time::Duration;

pub(super) use api_tests::{
    assert_problem, create_campaign, create_org, tenant_id, token_at, walk_pages, walk_pages_with_sizes,
    TestApp, TestResponse,
};
pub(super) use http::{Method, StatusCode};
pub(super) use serde_json::{json, Value};

/// A tenant with one organization and one active campaign, and tokens minted at the app's
/// clock (tests move it past a token's lifetime).
pub(super) struct Fixture {
    /// Leaked, so a fixture can also sit on the property tests' shared app.
    pub app: &'static TestApp,
    pub tenant: String,
    pub org: String,
    pub campaign: String,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::on(TestApp::new().await).await
    }

    pub async fn on(app: TestApp) -> Self {
        Self::borrowed(Box::leak(Box::new(app))).await
    }

    /// A fresh tenant on `app`.
    pub async fn borrowed(app: &'static TestApp) -> Self {
        let tenant = tenant_id();
        let user = token_at(&app.clock, "user-1", Some(&tenant), &[]);
        let org = create_org(app, &user, "Acme").await;
        let campaign = create_campaign(app, &user, &org, "Spring launch").await["id"]
            .as_str()
            .expect("campaign id")
            .to_owned();
        Fixture {
            app,
            tenant,
            org,
            campaign,
        }
    }

    /// Another tenant on the same table, with a campaign of its own: `(tenant, campaign)`.
    pub async fn other_tenant(&self) -> (String, String) {
        let tenant = tenant_id();
        let user = token_at(&self.app.clock, "user-1", Some(&tenant), &[]);
        let org = create_org(self.app, &user, "Acme").await;
        let campaign = create_campaign(self.app, &user, &org, "Spring launch").await;
        (tenant, campaign["id"].as_str().expect("campaign id").to_owned())
    }

    /// A plain tenant caller.
    pub fn user(&self) -> String {
        token_at(&self.app.clock, "user-1", Some(&self.tenant), &[])
    }

    /// A worker token for `sub`.
    pub fn worker(&self, sub: &str) -> String {
        token_at(&self.app.clock, sub, Some(&self.tenant), &["job_worker"])
    }

    pub fn advance(&self, seconds: u64) {
        self.app.clock.advance(Duration::from_secs(seconds));
    }

    pub async fn create_job(&self, campaign: &str, job_type: &str) -> Value {
        let r = self
            .app
            .post(
                &format!("/v1/campaigns/{campaign}/jobs"),
                &self.user(),
                json!({"name": format!("{job_type} job"), "job_type": job_type}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "creating a job: {}", r.body);
        r.body
    }

    pub async fn job(&self, id: &str) -> TestResponse {
        self.app.get(&format!("/v1/jobs/{id}"), &self.user()).await
    }

    pub async fn claim(&self, worker: &str, body: Value) -> TestResponse {
        self.app.post("/v1/jobs/claim", &self.worker(worker), body).await
    }

    pub async fn heartbeat(&self, worker: &str, id: &str, body: Value) -> TestResponse {
        self.app
            .post(&format!("/v1/jobs/{id}/heartbeat"), &self.worker(worker), body)
            .await
    }

    pub async fn complete(&self, worker: &str, id: &str, body: Value) -> TestResponse {
        self.app
            .post(&format!("/v1/jobs/{id}/complete"), &self.worker(worker), body)
            .await
    }

    pub async fn cancel(&self, id: &str) -> TestResponse {
        self.app
            .post(&format!("/v1/jobs/{id}/cancel"), &self.user(), json!({}))
            .await
    }

    pub async fn active_job_count(&self, campaign: &str) -> i64 {
        let r = self
            .app
            .get(&format!("/v1/campaigns/{campaign}"), &self.user())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["active_job_count"].as_i64().expect("active_job_count")
    }
}

pub(super) fn id_of(job: &Value) -> String {
    job["id"].as_str().expect("job id").to_owned()
}

/// Seconds between two RFC 3339 times of the API.
pub(super) fn seconds_between(from: &Value, to: &Value) -> i64 {
    let parse =
        |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("a time")).expect("RFC 3339");
    (parse(to) - parse(from)).num_seconds()
}
