//! Reading a request: its id, its route path, its JSON body, its query and its preconditions.
//! Everything a client can send wrongly is answered here with a 400 or 422, before a handler runs.

use std::collections::BTreeMap;

use http::header::IF_MATCH;
use lambda_http::{request::RequestContext, Request, RequestExt};
use serde_json::{Map, Value};

use super::ApiError;
use crate::{
    error::Violations,
    etag::IfMatch,
    pagination::{PageParams, DEFAULT_LIMIT, MAX_LIMIT},
};

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

/// The body as a JSON object; anything else is a 400, as the contract says.
pub fn json_object(req: &Request) -> Result<Map<String, Value>, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    let not_an_object = || ApiError::BadRequest("the request body must be a JSON object".into());
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(not_an_object());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(not_an_object()),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

/// The request's precondition, all `If-Match` lines together; `None` without one. A line that
/// is not text matches nothing, so the precondition is never silently dropped.
pub fn if_match(req: &Request) -> Option<IfMatch> {
    let mut lines = req.headers().get_all(IF_MATCH).iter().peekable();
    lines.peek()?;
    let mut joined = String::new();
    for line in lines {
        let Ok(text) = line.to_str() else {
            return Some(IfMatch::Unreadable);
        };
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(text);
    }
    Some(IfMatch::parse(&joined))
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
            let name = percent_decode(name)?;
            let value = percent_decode(value)?;
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
        let mut violations = Violations::default();
        for name in self.0.keys() {
            if !known.contains(&name.as_str()) {
                violations.add(name, "unknown query parameter");
            }
        }
        Ok(violations.into_result()?)
    }

    /// `limit` (default 50, capped at 100; zero, negatives and non-numbers are a 422) and
    /// `cursor` (non-empty).
    pub fn page(&self) -> Result<PageParams, ApiError> {
        let not_positive = || ApiError::field("limit", "must be a positive integer");
        let limit = match self.get("limit").map(str::trim) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
                Ok(_) => return Err(not_positive()),
                // All digits but too large for an i64: as large as a page gets.
                Err(_) if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) => MAX_LIMIT,
                Err(_) => return Err(not_positive()),
            },
        };
        let cursor = match self.get("cursor") {
            None => None,
            Some("") => return Err(ApiError::field("cursor", "must not be empty")),
            Some(c) => Some(c.to_owned()),
        };
        Ok(PageParams { limit, cursor })
    }
}

/// Decodes `%XX` escapes and `+`; the result must be UTF-8.
pub fn percent_decode(raw: &str) -> Result<String, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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

    #[test]
    fn limit_rules() {
        let p = |q: &str| Query::parse(q).unwrap().page();
        assert_eq!(p("").unwrap().limit, 50);
        assert_eq!(p("limit=7").unwrap().limit, 7);
        assert_eq!(p("limit=100").unwrap().limit, 100);
        assert_eq!(p("limit=101").unwrap().limit, 100);
        assert_eq!(p("limit=99999999999999999999999").unwrap().limit, 100);
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=1.5",
            "cursor=",
        ] {
            assert!(matches!(p(bad), Err(ApiError::Validation(_))), "{bad}");
        }
    }

    fn request_with_if_match(values: &[&[u8]]) -> Request {
        let mut builder = http::Request::builder().uri("/v1/campaigns/x");
        for value in values {
            builder = builder.header(IF_MATCH, HeaderValue::from_bytes(value).unwrap());
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn if_match_lines_combine_and_unreadable_ones_match_nothing() {
        let combined = if_match(&request_with_if_match(&[b"\"1\"", b"\"3\""])).unwrap();
        assert!(combined.matches("\"3\""));
        assert_eq!(
            if_match(&request_with_if_match(&[b"\"\xe9\""])),
            Some(IfMatch::Unreadable)
        );
        assert_eq!(if_match(&request_with_if_match(&[])), None);
    }
}
