//! `/v1/campaigns`, `/v1/campaigns/{id}` and `/v1/organizations/{id}/campaigns`.

use http::{header, StatusCode};

use super::{unknown_org, CampaignFields, CampaignRecord, CampaignStatus, READ_ONLY, WRITABLE};
use crate::{
    pagination::PageParams,
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

/// `filters` of an organization's campaigns, read while the organization is checked: the two
/// calls run side by side, so an organization-scoped list costs no more time than a plain one.
/// `missing` is the answer when the organization is not live, and it wins over any error of the
/// list (a page of a dead organization is never shown).
async fn org_campaigns(
    cx: &Ctx<'_>,
    org_id: &str,
    filters: Result<(PageParams, Option<CampaignStatus>), ApiError>,
    missing: fn() -> ApiError,
) -> Reply {
    let tenant = cx.tenant()?;
    let live = cx.store().get_org(tenant, org_id);
    let (live, page) = match &filters {
        Ok((params, status)) => {
            let list = cx
                .store()
                .list_campaigns(tenant, Some(org_id), *status, params, &cx.app.cursors);
            let (live, page) = futures::join!(live, list);
            (live, Some(page))
        }
        Err(_) => (live.await, None),
    };
    if live?.is_none() {
        return Err(missing());
    }
    filters?;
    match page {
        Some(page) => json(StatusCode::OK, &page?),
        None => Err(ApiError::Internal),
    }
}

async fn list(cx: &Ctx<'_>) -> Reply {
    let tenant = cx.tenant()?;
    let query = cx.query()?;
    query.only(&["limit", "cursor", "organization_id", "status"])?;
    let params = query.page()?;
    let status = status_filter(&query)?;
    match query.get("organization_id") {
        None => {
            let page = cx
                .store()
                .list_campaigns(tenant, None, status, &params, &cx.app.cursors)
                .await?;
            json(StatusCode::OK, &page)
        }
        Some(raw) => {
            let unknown = || ApiError::from(unknown_org());
            let org_id = parse_id(raw).ok_or_else(unknown)?;
            org_campaigns(cx, &org_id, Ok((params, status)), unknown).await
        }
    }
}

async fn list_for_org(cx: &Ctx<'_>) -> Reply {
    let org_id = parse_id(cx.param("id")).ok_or(ApiError::NotFound)?;
    let filters = cx.query().and_then(|query| {
        query.only(&["limit", "cursor", "status"])?;
        Ok((query.page()?, status_filter(&query)?))
    });
    org_campaigns(cx, &org_id, filters, || ApiError::NotFound).await
}
