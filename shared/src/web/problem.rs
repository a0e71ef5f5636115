//! The HTTP layer's error, rendered as RFC 9457 problem details: the only place where a domain,
//! store or auth error becomes a status code and a body.

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::{
    auth::AuthError,
    error::{Error, FieldErrors},
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(String),
    TenantInactive,
    Forbidden(String),
    NotFound,
    MethodNotAllowed {
        allowed: Vec<&'static str>,
    },
    Conflict(String),
    /// An invitation that expired, was revoked or was already used.
    Gone(String),
    PreconditionFailed,
    Validation(FieldErrors),
    /// A request body over `MAX_BODY_BYTES`.
    PayloadTooLarge,
    /// A request line longer than the local server accepts (API Gateway has its own limit).
    UriTooLong,
    /// Request headers larger than the local server accepts.
    HeadersTooLarge,
    /// DynamoDB throttled, timed out or could not be reached after the SDK's retries, or the
    /// request ran out of its time budget. Safe to retry: the write happened once or not at all.
    Unavailable,
    /// Something unexpected; the cause has already been logged where it happened.
    Internal,
}

/// The largest request body accepted, by the local server and in Lambda alike.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// What a 503 asks the client to wait before retrying, in seconds.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl ApiError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        ApiError::Validation(errors)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TenantInactive | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::TenantInactive => "tenant_inactive",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "gone",
            ApiError::PreconditionFailed => "precondition_failed",
            ApiError::Validation(_) => "validation_failed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UriTooLong => "uri_too_long",
            ApiError::HeadersTooLarge => "headers_too_large",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Unauthorized(_) => "Unauthorized",
            ApiError::TenantInactive => "Tenant inactive",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::Gone(_) => "Gone",
            ApiError::PreconditionFailed => "Precondition failed",
            ApiError::Validation(_) => "Validation failed",
            ApiError::PayloadTooLarge => "Payload too large",
            ApiError::UriTooLong => "URI too long",
            ApiError::HeadersTooLarge => "Request headers too large",
            ApiError::Unavailable => "Service unavailable",
            ApiError::Internal => "Internal error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(d)
            | ApiError::Unauthorized(d)
            | ApiError::Forbidden(d)
            | ApiError::Conflict(d)
            | ApiError::Gone(d) => d.clone(),
            ApiError::TenantInactive => "the tenant is suspended or deleted".to_owned(),
            ApiError::NotFound => "no such resource".to_owned(),
            ApiError::MethodNotAllowed { allowed } => {
                format!("allowed methods: {}", allowed.join(", "))
            }
            ApiError::PreconditionFailed => {
                "If-Match does not match the current ETag of the resource".to_owned()
            }
            ApiError::Validation(errors) => errors
                .iter()
                .flat_map(|(field, messages)| messages.iter().map(move |m| format!("{field}: {m}")))
                .collect::<Vec<_>>()
                .join("; "),
            ApiError::PayloadTooLarge => format!("the request body is over {MAX_BODY_BYTES} bytes"),
            ApiError::UriTooLong => "the request line is too long".to_owned(),
            ApiError::HeadersTooLarge => "the request headers are too large".to_owned(),
            ApiError::Unavailable => {
                "the database is busy or unreachable; retry after the time in Retry-After".to_owned()
            }
            ApiError::Internal => "an unexpected error occurred".to_owned(),
        }
    }

    /// The problem+json response. `request_id` is echoed in the body and in `x-request-id`.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let problem = Problem {
            type_uri: format!(
                "https://errors.campaign-api.dev/{}",
                self.code().replace('_', "-")
            ),
            title: self.title(),
            status: self.status().as_u16(),
            code: self.code(),
            detail: self.detail(),
            errors: match &self {
                ApiError::Validation(errors) => Some(errors),
                _ => None,
            },
            request_id,
        };
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| "{}".to_owned());
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::MethodNotAllowed { allowed } = &self {
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                headers.insert(header::ALLOW, value);
            }
        }
        if let ApiError::Unauthorized(_) = &self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::Unavailable = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        super::response::set_request_id(&mut response, request_id);
        response
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    code: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a FieldErrors>,
    request_id: &'a str,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::Conflict(detail) => ApiError::Conflict(detail),
            Error::Gone(detail) => ApiError::Gone(detail),
            Error::PreconditionFailed => ApiError::PreconditionFailed,
            Error::Forbidden(detail) => ApiError::Forbidden(detail),
            Error::TenantInactive => ApiError::TenantInactive,
            Error::Invalid(errors) => ApiError::Validation(errors),
            Error::Unavailable => ApiError::Unavailable,
            Error::Internal => ApiError::Internal,
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized(detail) => ApiError::Unauthorized(detail),
            AuthError::Unavailable => ApiError::Unavailable,
        }
    }
}
