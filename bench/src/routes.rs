//! Every route of the API, run through the real handler with the counting proxy: the DynamoDB
//! calls each one makes (warm container, tenant already looked up) and the capacity DynamoDB
//! reports for them (`ReturnConsumedCapacity = INDEXES`).

use serde_json::json;

use crate::inproc::{tenant_id, token, InProcess, Measured};

/// The data every case works on: one tenant with an organization (its admin is the owner) and
/// 60 campaigns in it.
pub struct Fixture {
    pub tenant: String,
    pub admin: String,
    pub admin_sub: &'static str,
    pub platform: String,
    pub org: String,
    pub campaign: String,
}

impl Fixture {
    pub async fn new(ip: &InProcess) -> Result<Self, String> {
        let tenant = tenant_id("routes");
        let admin_sub = "bench-admin";
        let admin = token(&tenant, admin_sub, &["tenant_admin"]);
        let platform = local::token::dev_token(
            local::token::DEV_JWT_SECRET.as_bytes(),
            "bench-root",
            None,
            &["platform_admin"],
            4 * 3600,
        );
        let org = ip.create_org(&admin, "Routes org").await?;
        let campaign = ip.create_campaign(&admin, &org, "Routes campaign").await?;
        // Lists read full pages (the default limit is 50), as an active tenant's would.
        ip.clone_campaign(&tenant, &campaign, 60).await?;
        Ok(Fixture {
            tenant,
            admin,
            admin_sub,
            platform,
            org,
            campaign,
        })
    }
}

/// One case: a label for the tables and the route it exercises.
pub struct Case {
    pub label: &'static str,
    pub route: &'static str,
    /// What its DynamoDB calls are compared with in the main table (the target for this kind
    /// of request), if it is shown there.
    pub compare_calls: Option<(&'static str, usize)>,
}

pub const CASES: &[Case] = &[
    case("GET campaign", "GET /v1/campaigns/{id}", ONE),
    case("POST campaign", "POST /v1/campaigns", ONE),
    case(
        "POST campaign, Idempotency-Key",
        "POST /v1/campaigns",
        Some(("target", 2)),
    ),
    case("POST campaign, replay", "POST /v1/campaigns", ONE),
    case("PATCH campaign", "PATCH /v1/campaigns/{id}", ONE),
    case("PUT campaign", "PUT /v1/campaigns/{id}", None),
    case("DELETE campaign", "DELETE /v1/campaigns/{id}", ONE),
    case("list campaigns", "GET /v1/campaigns", ONE),
    case(
        "list an organization's campaigns",
        "GET /v1/organizations/{id}/campaigns",
        Some(("plain list", 1)),
    ),
    case("GET organization", "GET /v1/organizations/{id}", ONE),
    case("list organizations", "GET /v1/organizations", None),
    case("POST organization", "POST /v1/organizations", None),
    case("PATCH organization", "PATCH /v1/organizations/{id}", None),
    case("PUT organization", "PUT /v1/organizations/{id}", None),
    case("DELETE organization", "DELETE /v1/organizations/{id}", None),
    case("list members", "GET /v1/organizations/{id}/members", None),
    case("invite member", "POST /v1/organizations/{id}/members", None),
    case("GET member", "GET /v1/organizations/{id}/members/{user_id}", None),
    case(
        "PATCH member",
        "PATCH /v1/organizations/{id}/members/{user_id}",
        None,
    ),
    case(
        "DELETE member",
        "DELETE /v1/organizations/{id}/members/{user_id}",
        None,
    ),
    case(
        "accept invitation",
        "POST /v1/organizations/{id}/members/{user_id}/accept",
        None,
    ),
    case(
        "list a user's organizations",
        "GET /v1/users/{user_id}/organizations",
        None,
    ),
    case("GET own tenant", "GET /v1/tenant", None),
    case("PATCH own tenant", "PATCH /v1/tenant", None),
    case("list tenants", "GET /v1/tenants", None),
    case("GET tenant", "GET /v1/tenants/{id}", None),
    case("PATCH tenant", "PATCH /v1/tenants/{id}", None),
    case("DELETE tenant", "DELETE /v1/tenants/{id}", None),
];

const fn case(
    label: &'static str,
    route: &'static str,
    compare_calls: Option<(&'static str, usize)>,
) -> Case {
    Case {
        label,
        route,
        compare_calls,
    }
}

/// A single-entity read or write, or a plain list: one call.
const ONE: Option<(&str, usize)> = Some(("target", 1));

/// Sets up what case `label` needs (not measured) and measures its request; `n` makes names
/// unique across repetitions.
pub async fn run(ip: &InProcess, fx: &Fixture, label: &str, n: usize) -> Result<Measured, String> {
    let (admin, org, campaign) = (fx.admin.as_str(), fx.org.as_str(), fx.campaign.as_str());
    let unique = format!("{n}-{}", uuid::Uuid::now_v7().simple());
    let campaign_path = format!("/v1/campaigns/{campaign}");
    let org_path = format!("/v1/organizations/{org}");
    let new_campaign = json!({ "organization_id": org, "name": format!("New {unique}") });
    match label {
        "GET campaign" => ip.measured("GET", &campaign_path, admin, None, &[]).await,
        "POST campaign" => {
            ip.measured("POST", "/v1/campaigns", admin, Some(&new_campaign), &[])
                .await
        }
        "POST campaign, Idempotency-Key" | "POST campaign, replay" => {
            let key = [("idempotency-key", unique.as_str())];
            if label.ends_with("replay") {
                ip.expect(201, "POST", "/v1/campaigns", admin, Some(&new_campaign), &key)
                    .await?;
            }
            let measured = ip
                .measured("POST", "/v1/campaigns", admin, Some(&new_campaign), &key)
                .await?;
            Ok(measured)
        }
        "PATCH campaign" | "PUT campaign" => {
            let method = &label[..label.find(' ').unwrap_or(0)];
            let body = json!({ "name": format!("Renamed {unique}") });
            ip.measured(method, &campaign_path, admin, Some(&body), &[]).await
        }
        "DELETE campaign" => {
            let id = ip
                .create_campaign(admin, org, &format!("Doomed {unique}"))
                .await?;
            ip.measured("DELETE", &format!("/v1/campaigns/{id}"), admin, None, &[])
                .await
        }
        "list campaigns" => ip.measured("GET", "/v1/campaigns", admin, None, &[]).await,
        "list an organization's campaigns" => {
            ip.measured("GET", &format!("{org_path}/campaigns"), admin, None, &[])
                .await
        }
        "GET organization" => ip.measured("GET", &org_path, admin, None, &[]).await,
        "list organizations" => ip.measured("GET", "/v1/organizations", admin, None, &[]).await,
        "POST organization" => {
            let body = json!({ "name": format!("Org {unique}") });
            ip.measured("POST", "/v1/organizations", admin, Some(&body), &[])
                .await
        }
        "PATCH organization" | "PUT organization" => {
            let method = &label[..label.find(' ').unwrap_or(0)];
            let id = ip.create_org(admin, &format!("Org {unique}")).await?;
            let body = json!({ "name": format!("Renamed org {unique}") });
            ip.measured(
                method,
                &format!("/v1/organizations/{id}"),
                admin,
                Some(&body),
                &[],
            )
            .await
        }
        "DELETE organization" => {
            let id = ip.create_org(admin, &format!("Doomed org {unique}")).await?;
            ip.measured("DELETE", &format!("/v1/organizations/{id}"), admin, None, &[])
                .await
        }
        "list members" => {
            ip.measured("GET", &format!("{org_path}/members"), admin, None, &[])
                .await
        }
        "invite member" => {
            let body = json!({ "user_id": format!("user-{unique}"), "role": "member" });
            ip.measured("POST", &format!("{org_path}/members"), admin, Some(&body), &[])
                .await
        }
        "GET member" => {
            let path = format!("{org_path}/members/{}", fx.admin_sub);
            ip.measured("GET", &path, admin, None, &[]).await
        }
        "PATCH member" | "DELETE member" | "accept invitation" => {
            let user = format!("user-{unique}");
            let body = json!({ "user_id": user, "role": "member" });
            ip.expect(
                201,
                "POST",
                &format!("{org_path}/members"),
                admin,
                Some(&body),
                &[],
            )
            .await?;
            let path = format!("{org_path}/members/{user}");
            match label {
                "PATCH member" => {
                    let body = json!({ "role": "admin" });
                    ip.measured("PATCH", &path, admin, Some(&body), &[]).await
                }
                "DELETE member" => ip.measured("DELETE", &path, admin, None, &[]).await,
                _ => {
                    let invited = token(&fx.tenant, &user, &[]);
                    // The invited user's first request looks their tenant up; not measured.
                    ip.call("GET", "/v1/tenant", &invited, None, &[]).await?;
                    ip.measured("POST", &format!("{path}/accept"), &invited, None, &[])
                        .await
                }
            }
        }
        "list a user's organizations" => {
            let path = format!("/v1/users/{}/organizations", fx.admin_sub);
            ip.measured("GET", &path, admin, None, &[]).await
        }
        "GET own tenant" => ip.measured("GET", "/v1/tenant", admin, None, &[]).await,
        "PATCH own tenant" => {
            let body = json!({ "name": format!("Tenant {unique}") });
            ip.measured("PATCH", "/v1/tenant", admin, Some(&body), &[]).await
        }
        "list tenants" => {
            ip.measured("GET", "/v1/tenants?limit=20", &fx.platform, None, &[])
                .await
        }
        "GET tenant" => {
            let path = format!("/v1/tenants/{}", fx.tenant);
            ip.measured("GET", &path, &fx.platform, None, &[]).await
        }
        "PATCH tenant" => {
            let path = format!("/v1/tenants/{}", fx.tenant);
            let body = json!({ "name": format!("Renamed tenant {unique}") });
            ip.measured("PATCH", &path, &fx.platform, Some(&body), &[]).await
        }
        "DELETE tenant" => {
            let doomed = tenant_id("doomed");
            ip.call("GET", "/v1/tenant", &token(&doomed, "someone", &[]), None, &[])
                .await?;
            ip.measured(
                "DELETE",
                &format!("/v1/tenants/{doomed}"),
                &fx.platform,
                None,
                &[],
            )
            .await
        }
        other => Err(format!("no case {other}")),
    }
}

/// A number for the tables: `1`, `0.5`, `2.5`.
pub fn units(value: f64) -> String {
    // `+ 0.0` turns a sum of no terms (-0.0) into 0.
    let text = format!("{:.2}", value + 0.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}
