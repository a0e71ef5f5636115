//! Reference: a `lambda_http` function answering 200 with a small JSON body (the floor of an API
//! Gateway function: event decoding and response encoding, no SDK).

use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(r#"{"message":"hello"}"#))
            .map_err(Error::from)
    }))
    .await
}
