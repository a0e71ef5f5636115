//! The library every Lambda function of the API is a thin shell over.
//!
//! One folder per resource (`tenants`, `organizations`, `memberships`, `invitations`,
//! `campaigns`, `jobs`), each with its model and rules (`mod.rs`), its DynamoDB items and
//! queries (`store.rs`) and its HTTP handlers with their route table (`handlers.rs`). Layers
//! point one way: handlers → rules →
//! store. Around them the cross-cutting parts: `web` (routing, request parsing, the pipeline,
//! idempotency, problem+json), `auth`, `tenancy` (the tenant gate), `store` (DynamoDB
//! primitives), `pagination`, `validate`, `error`.

pub mod app;
pub mod auth;
pub mod campaigns;
pub mod clock;
pub mod config;
pub mod error;
pub mod etag;
pub mod https;
pub mod invitations;
pub mod jobs;
pub mod logging;
pub mod memberships;
pub mod organizations;
pub mod pagination;
pub mod runtime;
pub mod store;
pub mod telemetry;
pub mod tenancy;
pub mod tenants;
pub mod time;
pub mod validate;
pub mod web;

pub use app::App;
pub use web::Function;
