//! `/v1/campaigns`, `/v1/campaigns/{id}` and `/v1/organizations/{id}/campaigns`.

use http::{header, StatusCode};
use lambda_http::{Body, Response};
use serde_json::Value;

use super::{addressed_org, id_param, if_match, with_header};
use crate::{
    app::Ctx,
    campaigns::{self, check_dates, unknown_org, Campaign, CampaignFields, CampaignRecord, CampaignStatus},
    error::ApiError,
    http::{json_object, json_response, no_content, Query},
    organizations::{new_id, parse_id},
    pagination::PageParams,
    store::time,
    validate::known_fields,
};

pub async fn dispatch(cx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    let tenant = cx.active_tenant().await?;
    let tenant = tenant.id.as_str();
    match (cx.matched.route.path, cx.matched.method.as_str()) {
        ("/v1/campaigns", "POST") => create(cx, tenant).await,
        ("/v1/campaigns", "GET") => list(cx, tenant).await,
        ("/v1/campaigns/{id}", "GET") => get(cx, tenant).await,
        ("/v1/campaigns/{id}", "PATCH" | "PUT") => update(cx, tenant).await,
        ("/v1/campaigns/{id}", "DELETE") => delete(cx, tenant).await,
        ("/v1/organizations/{id}/campaigns", "GET") => list_for_org(cx, tenant).await,
        _ => Err(ApiError::NotFound),
    }
}

fn campaign_response(status: StatusCode, record: &CampaignRecord) -> Result<Response<Body>, ApiError> {
    Ok(with_header(
        json_response(status, &record.campaign)?,
        header::ETAG,
        &record.etag(),
    ))
}

/// The campaign the path names; 404 when there is none.
async fn addressed_campaign(cx: &Ctx<'_>, tenant: &str) -> Result<CampaignRecord, ApiError> {
    let id = id_param(cx)?;
    cx.app
        .store
        .get_campaign(tenant, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn create(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let body = known_fields(json_object(cx.req)?, campaigns::WRITABLE, &[])?;
    let fields = CampaignFields::parse(&body, true)?;
    let now = time::now();
    let mut campaign = Campaign {
        id: new_id(&now),
        tenant_id: tenant.to_owned(),
        organization_id: String::new(),
        name: String::new(),
        description: None,
        start_time: None,
        end_time: None,
        status: CampaignStatus::Active,
        metadata: Value::Object(Default::default()),
        inserted_at: now,
        updated_at: now,
    };
    fields.apply(&mut campaign);
    check_dates(&campaign)?;
    let record = CampaignRecord { campaign, version: 1 };
    let location = format!("/v1/campaigns/{}", record.campaign.id);
    let response = with_header(
        campaign_response(StatusCode::CREATED, &record)?,
        header::LOCATION,
        &location,
    );
    cx.app
        .store
        .create_campaign(&record, cx.receipt(&response)?)
        .await?;
    Ok(response)
}

async fn get(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let record = addressed_campaign(cx, tenant).await?;
    campaign_response(StatusCode::OK, &record)
}

async fn update(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let current = addressed_campaign(cx, tenant).await?;
    let body = known_fields(json_object(cx.req)?, campaigns::WRITABLE, &[])?;
    let fields = CampaignFields::parse(&body, false)?;
    let record = cx
        .app
        .store
        .update_campaign(current, if_match(cx).as_ref(), &fields)
        .await?;
    campaign_response(StatusCode::OK, &record)
}

async fn delete(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let id = id_param(cx)?;
    cx.app
        .store
        .delete_campaign(tenant, &id, if_match(cx).as_ref())
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

async fn list(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor", "organization_id", "status"])?;
    let params = PageParams::from_query(&query)?;
    let status = status_filter(&query)?;
    let organization_id = match query.get("organization_id") {
        None => None,
        Some(raw) => {
            let id = parse_id(raw).ok_or_else(unknown_org)?;
            cx.app.store.get_org(tenant, &id).await?.ok_or_else(unknown_org)?;
            Some(id)
        }
    };
    let page = cx
        .app
        .store
        .list_campaigns(
            tenant,
            organization_id.as_deref(),
            status,
            &params,
            &cx.app.cursors,
        )
        .await?;
    json_response(StatusCode::OK, &page)
}

async fn list_for_org(cx: &Ctx<'_>, tenant: &str) -> Result<Response<Body>, ApiError> {
    let org_id = addressed_org(cx, tenant).await?.org.id;
    let query = Query::from_request(cx.req)?;
    query.only(&["limit", "cursor", "status"])?;
    let params = PageParams::from_query(&query)?;
    let status = status_filter(&query)?;
    let page = cx
        .app
        .store
        .list_campaigns(tenant, Some(&org_id), status, &params, &cx.app.cursors)
        .await?;
    json_response(StatusCode::OK, &page)
}
