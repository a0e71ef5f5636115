//! `/v1/organizations` and `/v1/organizations/{id}`.

use http::{header, StatusCode};
use serde_json::Value;

use super::{valid_domain, OrgFields, OrgRecord, Organization, NAME_MAX, READ_ONLY, WRITABLE};
use crate::{
    error::Violations,
    memberships::{Authority, Membership, MANAGERS, OWNERS},
    pagination::Page,
    route, time,
    validate::{known_fields, new_id, trimmed_string},
    web::{
        response::{json, no_content, with_header},
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(GET "/v1/organizations" => list),
    route!(POST "/v1/organizations" => create),
    route!(GET "/v1/organizations/{id}" => get),
    route!(PATCH "/v1/organizations/{id}" => update),
    route!(PUT "/v1/organizations/{id}" => update),
    route!(DELETE "/v1/organizations/{id}" => delete),
];

fn org_response(status: StatusCode, record: &OrgRecord) -> Reply {
    Ok(with_header(
        json(status, &record.org)?,
        header::ETAG,
        &record.etag(),
    ))
}

async fn create(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let fields = OrgFields::parse(&known_fields(cx.body()?, WRITABLE, READ_ONLY)?, true)?;
    let now = time::now();
    let record = fields.create(new_id(&now), tenant, now);
    let owner = Membership::founder(&record.org, &cx.principal.sub, cx.principal.email.clone(), now);
    let response = with_header(
        org_response(StatusCode::CREATED, &record)?,
        header::LOCATION,
        &format!("/v1/organizations/{}", record.org.id),
    );
    cx.store()
        .create_org(&record, owner.item()?, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "name", "domain"])?;
    let params = query.page()?;
    let mut violations = Violations::default();
    let domain = query.get("domain").map(|raw| valid_domain(&mut violations, raw));
    violations.into_result()?;
    let domain = domain.flatten();
    if let Some(raw) = query.get("name") {
        // Names are unique: the filter is a key lookup with at most one result, never a page.
        if params.cursor.is_some() {
            return Err(crate::pagination::invalid_cursor().into());
        }
        // A value no organization could be named is a 422, like a malformed domain.
        let mut violations = Violations::default();
        let name = trimmed_string(
            &mut violations,
            "name",
            &Value::String(raw.to_owned()),
            1,
            NAME_MAX,
        );
        violations.into_result()?;
        let name = name.ok_or(ApiError::Internal)?;
        let found = cx.store().find_org_by_name(tenant, &name).await?;
        let data: Vec<Organization> = found
            .map(|r| r.org)
            .filter(|o| domain.is_none() || o.domain == domain)
            .into_iter()
            .collect();
        return json(StatusCode::OK, &Page::complete(data));
    }
    let page = cx
        .store()
        .list_orgs(tenant, domain.as_deref(), &params, &cx.app.cursors)
        .await?;
    json(StatusCode::OK, &page)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    let record = cx.store().live_org(cx.tenant()?, cx.param("id")).await?;
    org_response(StatusCode::OK, &record)
}

async fn update(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let current = cx.store().live_org(tenant, cx.param("id")).await?;
    let authority = Authority::of(cx.store(), &cx.principal, tenant, &current.org.id).await?;
    authority.require(&MANAGERS, "changing an organization")?;
    let fields = OrgFields::parse(&known_fields(cx.body()?, WRITABLE, READ_ONLY)?, false)?;
    let actor = authority.check(cx.store(), &cx.principal, tenant, &current.org.id, &MANAGERS)?;
    let record = cx
        .store()
        .update_org(current, cx.if_match().as_ref(), actor, |org| fields.apply(org))
        .await?;
    org_response(StatusCode::OK, &record)
}

async fn delete(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let current = cx.store().live_org(tenant, cx.param("id")).await?;
    let authority = Authority::of(cx.store(), &cx.principal, tenant, &current.org.id).await?;
    authority.require(&OWNERS, "deleting an organization")?;
    let actor = authority.check(cx.store(), &cx.principal, tenant, &current.org.id, &OWNERS)?;
    cx.store()
        .delete_org(current, cx.if_match().as_ref(), actor)
        .await?;
    Ok(no_content())
}
