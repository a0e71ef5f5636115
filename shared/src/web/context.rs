//! What a handler gets: the app, the request, its path parameters, the verified caller and,
//! behind the active-tenant gate, the caller's tenant.

use std::sync::OnceLock;

use aws_sdk_dynamodb::types::TransactWriteItem;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::{idempotency::Claim, request, ApiError};
use crate::{app::App, auth::Principal, etag::IfMatch, store::Store, tenants::Tenant};

pub struct Ctx<'a> {
    pub app: &'a App,
    pub req: &'a Request,
    pub principal: Principal,
    params: Vec<(String, String)>,
    tenant: Option<Tenant>,
    /// Set while an `Idempotency-Key` request runs.
    pub(super) idempotency: OnceLock<Claim>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(
        app: &'a App,
        req: &'a Request,
        principal: Principal,
        params: Vec<(String, String)>,
        tenant: Option<Tenant>,
    ) -> Self {
        Ctx {
            app,
            req,
            principal,
            params,
            tenant,
            idempotency: OnceLock::new(),
        }
    }

    /// The path parameter `name` of the route template (`{id}` → `param("id")`), decoded.
    pub fn param(&self, name: &str) -> &str {
        let value = self
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        debug_assert!(value.is_some(), "the route has no parameter {name}");
        value.unwrap_or_default()
    }

    /// The caller's active tenant, resolved by the route's gate.
    pub fn tenant(&self) -> Result<&str, ApiError> {
        self.tenant_record().map(|t| t.id.as_str())
    }

    pub fn tenant_record(&self) -> Result<&Tenant, ApiError> {
        self.tenant.as_ref().ok_or_else(|| {
            tracing::error!("a handler asked for the tenant on a route without the tenant gate");
            ApiError::Internal
        })
    }

    pub fn store(&self) -> &'a Store {
        &self.app.store
    }

    pub fn body(&self) -> Result<Map<String, Value>, ApiError> {
        request::json_object(self.req)
    }

    pub fn query(&self) -> Result<request::Query, ApiError> {
        request::Query::from_request(self.req)
    }

    pub fn if_match(&self) -> Option<IfMatch> {
        request::if_match(self.req)
    }

    /// The item that commits `response` as this request's idempotent outcome, for the handler
    /// to put into the transaction of its write; `None` without an `Idempotency-Key`.
    pub fn receipt(&self, response: &Response<Body>) -> Result<Option<TransactWriteItem>, ApiError> {
        self.idempotency
            .get()
            .map(|claim| claim.receipt(self, response))
            .transpose()
    }

    /// Like `receipt`, for a handler that tries several writes (or none) and only knows which
    /// response it records once one commits: it then calls `receipt_committed`.
    pub fn draft_receipt(&self, response: &Response<Body>) -> Result<Option<TransactWriteItem>, ApiError> {
        self.idempotency
            .get()
            .map(|claim| claim.draft(self, response))
            .transpose()
    }

    /// Records that a write carrying a drafted receipt committed.
    pub fn receipt_committed(&self) {
        if let Some(claim) = self.idempotency.get() {
            claim.committed();
        }
    }
}
