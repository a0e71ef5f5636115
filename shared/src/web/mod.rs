//! The HTTP layer: routing, request parsing, the pipeline every request runs through,
//! idempotency, and problem+json. The only layer that knows about status codes.

pub mod context;
pub mod idempotency;
pub mod pipeline;
pub mod problem;
pub mod request;
pub mod response;
pub mod router;

pub use context::Ctx;
pub use pipeline::handle;
pub use problem::ApiError;
pub use router::{Function, Reply, Route, Router};
