//! Building responses: JSON bodies, empty ones, and the headers every response carries.

use http::{header, HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use super::{request::REQUEST_ID_HEADER, ApiError};

/// A JSON response; a value that fails to serialise is logged and becomes a problem 500.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, ApiError> {
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

/// `response` with the header set; a value that is not a valid header value is left out.
pub fn with_header(mut response: Response<Body>, name: HeaderName, value: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

pub fn set_request_id(response: &mut Response<Body>, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_cannot_be_serialised_is_a_problem_500() {
        // JSON object keys must be strings; a map keyed by pairs cannot be written.
        let unserialisable: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            json(StatusCode::OK, &unserialisable),
            Err(ApiError::Internal)
        ));
        let ok = json(StatusCode::CREATED, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(ok.status(), StatusCode::CREATED);
    }
}
