//! HS256 tokens for local runs and tests.

use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

pub use shared::config::DEV_JWT_SECRET;
/// The cursor signing secret of local runs.
pub const DEV_CURSOR_SECRET: &str = "local-cursor-secret-change-me-0123456789";

/// A token for `sub` in `tenant` with `roles`, valid for `ttl_seconds`.
pub fn dev_token(secret: &[u8], sub: &str, tenant: Option<&str>, roles: &[&str], ttl_seconds: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({ "sub": sub, "roles": roles, "iat": now, "exp": now + ttl_seconds });
    if let Some(tenant) = tenant {
        claims["tenant_id"] = Value::String(tenant.to_owned());
    }
    sign_hs256(secret, &claims)
}

pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    encode(&Header::default(), claims, &EncodingKey::from_secret(secret))
        .unwrap_or_else(|e| panic!("signing a dev token failed: {e}"))
}
