//! Request parsing and response building shared by every handler.

use std::collections::BTreeMap;

use http::{header, HeaderValue, StatusCode};
use lambda_http::{request::RequestContext, Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The API Gateway request id when the request came through API Gateway, else a fresh one.
pub fn request_id(req: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(id) = ctx.request_id.as_deref().filter(|id| !id.is_empty()) {
            return id.to_owned();
        }
    }
    uuid::Uuid::now_v7().to_string()
}

pub fn set_request_id(response: &mut Response<Body>, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

/// The request path without an API Gateway stage prefix (`/prod/v1/...` → `/v1/...`).
pub fn route_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path() } else { raw };
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() {
        if let Some(stage) = ctx.stage.as_deref().filter(|s| *s != "$default" && !s.is_empty()) {
            let prefix = format!("/{stage}");
            if let Some(rest) = path.strip_prefix(&prefix) {
                if rest.starts_with('/') {
                    return rest.to_owned();
                }
            }
        }
    }
    path.to_owned()
}

/// A JSON response; a value that fails to serialise is logged and becomes a problem 500.
pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(|error| {
        tracing::error!(%error, "response serialisation failed");
        ApiError::Internal
    })?;
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The body as a JSON object; anything else is a 400, as the contract says.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// Query parameters, parsed strictly: a repeated name or broken percent-encoding is a 400.
#[derive(Debug, Default, Clone)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        Self::parse(req.uri().query().unwrap_or(""))
    }

    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut params = BTreeMap::new();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode_component(name)?;
            let value = decode_component(value)?;
            if params.insert(name.clone(), value).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "query parameter `{name}` is given more than once"
                )));
            }
        }
        Ok(Query(params))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Rejects parameters the route does not know, so a misspelt filter is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        let mut violations = crate::error::Violations::default();
        for name in self.0.keys() {
            if !known.contains(&name.as_str()) {
                violations.add(name, "unknown query parameter");
            }
        }
        violations.into_result()
    }
}

fn decode_component(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ApiError::BadRequest("malformed percent-encoding in the query string".into())
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::BadRequest("the query string is not valid UTF-8".into()))
}

/// Matches `/v1/tenants/{id}`-style patterns; returns the captured segments in order.
pub fn match_path(pattern: &str, path: &str) -> Option<Vec<String>> {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    let mut pattern_parts = pattern.split('/');
    let mut path_parts = path.split('/');
    let mut captures = Vec::new();
    loop {
        match (pattern_parts.next(), path_parts.next()) {
            (None, None) => return Some(captures),
            (Some(p), Some(s)) if p.starts_with('{') && p.ends_with('}') => {
                if s.is_empty() {
                    return None;
                }
                captures.push(decode_component(&s.replace('+', "%2B")).ok()?);
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_captures() {
        assert_eq!(
            match_path("/v1/tenants/{id}", "/v1/tenants/acme"),
            Some(vec!["acme".into()])
        );
        assert_eq!(
            match_path("/v1/tenants/{id}", "/v1/tenants/acme/"),
            Some(vec!["acme".into()])
        );
        assert_eq!(match_path("/v1/tenants/{id}", "/v1/tenants/"), None);
        assert_eq!(match_path("/v1/tenants/{id}", "/v1/tenants"), None);
        assert_eq!(match_path("/v1/tenant", "/v1/tenant"), Some(vec![]));
        assert_eq!(match_path("/v1/tenant", "/v1/tenants"), None);
        assert_eq!(
            match_path("/v1/users/{id}/organizations", "/v1/users/a%7Cb/organizations"),
            Some(vec!["a|b".into()])
        );
    }

    #[test]
    fn a_value_that_cannot_be_serialised_is_a_problem_500() {
        // JSON object keys must be strings; a map keyed by pairs cannot be written.
        let unserialisable: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            json_response(StatusCode::OK, &unserialisable),
            Err(ApiError::Internal)
        ));
        let ok = json_response(StatusCode::CREATED, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(ok.status(), StatusCode::CREATED);
    }

    #[test]
    fn query_is_strict() {
        let q = Query::parse("limit=10&status=active&cursor=a%2Bb").unwrap();
        assert_eq!(q.get("limit"), Some("10"));
        assert_eq!(q.get("cursor"), Some("a+b"));
        assert!(matches!(
            Query::parse("limit=1&limit=2"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(Query::parse("limit=%zz"), Err(ApiError::BadRequest(_))));
        assert!(matches!(Query::parse("limit=%ff"), Err(ApiError::BadRequest(_))));
        assert!(matches!(q.only(&["limit"]), Err(ApiError::Validation(_))));
        assert!(q.only(&["limit", "status", "cursor"]).is_ok());
    }
}
