//! `/v1/campaigns`, `/v1/campaigns/{id}` and `/v1/organizations/{id}/campaigns`.

use http::{header, StatusCode};

use super::{unknown_org, CampaignFields, CampaignRecord, CampaignStatus, READ_ONLY, WRITABLE};
use crate::{
    error::Error,
    route, time,
    validate::{known_fields, new_id, parse_id},
    web::{
        request::Query,
        response::{json, no_content, with_header},
        ApiError, Ctx, Reply, Route,
    },
};

pub const ROUTES: &[Route] = &[
    route!(GET "/v1/organizations/{id}/campaigns" => list_for_org),
    route!(GET "/v1/campaigns" => list),
    route!(POST "/v1/campaigns" => create),
    route!(GET "/v1/campaigns/{id}" => get),
    route!(PATCH "/v1/campaigns/{id}" => update),
    route!(PUT "/v1/campaigns/{id}" => update),
    route!(DELETE "/v1/campaigns/{id}" => delete),
];

fn campaign_response(status: StatusCode, record: &CampaignRecord) -> Reply {
    Ok(with_header(
        json(status, &record.campaign)?,
        header::ETAG,
        &record.etag(),
    ))
}

async fn create(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let fields = CampaignFields::parse(&known_fields(cx.body()?, WRITABLE, READ_ONLY)?, true)?;
    let now = time::now();
    let record = fields.create(new_id(&now), tenant, now)?;
    let location = format!("/v1/campaigns/{}", record.campaign.id);
    let response = with_header(
        campaign_response(StatusCode::CREATED, &record)?,
        header::LOCATION,
        &location,
    );
    cx.store()
        .create_campaign(&record, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn get(cx: &Ctx<'_>) -> Reply {
    let record = cx.store().live_campaign(cx.tenant()?, cx.param("id")).await?;
    campaign_response(StatusCode::OK, &record)
}

async fn update(cx: &Ctx<'_>) -> Reply {
    let current = cx.store().live_campaign(cx.tenant()?, cx.param("id")).await?;
    let fields = CampaignFields::parse(&known_fields(cx.body()?, WRITABLE, READ_ONLY)?, false)?;
    let record = cx
        .store()
        .update_campaign(current, cx.if_match().as_ref(), &fields)
        .await?;
    campaign_response(StatusCode::OK, &record)
}

async fn delete(cx: &Ctx<'_>) -> Reply {
    let id = parse_id(cx.param("id")).ok_or(ApiError::NotFound)?;
    cx.store()
        .delete_campaign(cx.tenant()?, &id, cx.if_match().as_ref())
        .await?;
    Ok(no_content())
}

fn status_filter(query: &Query) -> Result<Option<CampaignStatus>, ApiError> {
    match query.get("status") {
        None => Ok(None),
        Some(raw) => CampaignStatus::parse(raw)
            .map(Some)
            .ok_or_else(|| ApiError::field("status", "must be active or paused")),
    }
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "organization_id", "status"])?;
    let params = query.page()?;
    let status = status_filter(&query)?;
    let organization_id = match query.get("organization_id") {
        None => None,
        Some(raw) => match cx.store().live_org(tenant, raw).await {
            Ok(record) => Some(record.org.id),
            Err(Error::NotFound) => return Err(unknown_org().into()),
            Err(e) => return Err(e.into()),
        },
    };
    let page = cx
        .store()
        .list_campaigns(
            tenant,
            organization_id.as_deref(),
            status,
            &params,
            &cx.app.cursors,
        )
        .await?;
    json(StatusCode::OK, &page)
}

async fn list_for_org(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let org_id = cx.store().live_org(tenant, cx.param("id")).await?.org.id;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "status"])?;
    let params = query.page()?;
    let status = status_filter(&query)?;
    let page = cx
        .store()
        .list_campaigns(tenant, Some(&org_id), status, &params, &cx.app.cursors)
        .await?;
    json(StatusCode::OK, &page)
}
