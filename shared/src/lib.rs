//! The library every Lambda function of the API is a thin shell over: configuration, auth,
//! tenancy, the DynamoDB store, pagination, problem+json errors and the HTTP handlers.

pub mod api;
pub mod app;
pub mod auth;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod error;
pub mod etag;
pub mod http;
pub mod idempotency;
pub mod memberships;
pub mod organizations;
pub mod pagination;
pub mod routes;
pub mod runtime;
pub mod store;
pub mod tenancy;
pub mod validate;

pub use app::App;
pub use routes::Function;
