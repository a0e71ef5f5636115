//! Bearer token verification: HS256 with a shared secret, RS256/ES256 through a cached JWKS.
//!
//! The algorithm is chosen by which key source accepts it, never by the token alone: an HS256
//! token is only checked against the shared secret and an RS256/ES256 token only against a JWKS
//! key of the matching family, so `alg: none` and HS/RS confusion cannot verify.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet},
    Algorithm, DecodingKey, Validation,
};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::{config::JwtConfig, error::ApiError};

pub const ROLE_TENANT_ADMIN: &str = "tenant_admin";
pub const ROLE_PLATFORM_ADMIN: &str = "platform_admin";

const MAX_SUB_LEN: usize = 255;
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
const JWKS_MAX_BYTES: usize = 256 * 1024;

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    /// Present when the token carries a valid tenant claim; tenant routes require it.
    pub tenant_id: Option<String>,
    pub roles: Vec<String>,
    pub email: Option<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_tenant_admin(&self) -> bool {
        self.has_role(ROLE_TENANT_ADMIN)
    }

    pub fn is_platform_admin(&self) -> bool {
        self.has_role(ROLE_PLATFORM_ADMIN)
    }

    /// The tenant the caller acts in; tenant routes are closed to tokens without one.
    pub fn tenant(&self) -> Result<&str, ApiError> {
        self.tenant_id
            .as_deref()
            .ok_or_else(|| ApiError::Unauthorized("the token has no tenant claim".into()))
    }
}

/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`: tenant ids end up inside key prefixes, so `#` and the
/// like must never get through.
pub fn is_valid_tenant_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    leeway: u64,
}

impl Verifier {
    pub fn new(config: &JwtConfig) -> Self {
        Self::with_jwks_refresh_interval(config, Duration::from_secs(10))
    }

    /// `min_refresh` bounds how often an unknown `kid` may trigger a JWKS download, so a flood
    /// of forged tokens cannot turn into a flood of requests to the identity provider.
    pub fn with_jwks_refresh_interval(config: &JwtConfig, min_refresh: Duration) -> Self {
        Verifier {
            hs256: config.hs256_secret.as_deref().map(DecodingKey::from_secret),
            jwks: config
                .jwks_url
                .clone()
                .map(|url| JwksCache::new(url, min_refresh)),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            tenant_claim: config.tenant_claim.clone(),
            leeway: config.leeway_seconds,
        }
    }

    /// Verifies the `Authorization` header value and returns the caller.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Principal, ApiError> {
        let token = bearer_token(authorization)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is malformed or uses an unsupported algorithm"))?;

        let key: Arc<DecodingKey> = match header.alg {
            Algorithm::HS256 => match &self.hs256 {
                Some(key) => Arc::new(key.clone()),
                None => return Err(unauthorized("HS256 tokens are not accepted here")),
            },
            Algorithm::RS256 | Algorithm::ES256 => match &self.jwks {
                Some(jwks) => jwks.key_for(header.kid.as_deref(), header.alg).await?,
                None => return Err(unauthorized("asymmetric tokens are not accepted here")),
            },
            _ => return Err(unauthorized("the token's algorithm is not allowed")),
        };

        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);

        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let reason = match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired",
                ErrorKind::ImmatureSignature => "the token is not valid yet",
                ErrorKind::InvalidIssuer => "the token's issuer is not accepted",
                ErrorKind::InvalidAudience => "the token's audience is not accepted",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            };
            unauthorized(reason)
        })?;
        self.principal(data.claims)
    }

    fn principal(&self, mut claims: HashMap<String, Value>) -> Result<Principal, ApiError> {
        let sub = match claims.remove("sub") {
            Some(Value::String(s))
                if !s.is_empty() && s.len() <= MAX_SUB_LEN && !s.chars().any(char::is_control) =>
            {
                s
            }
            _ => return Err(unauthorized("the token's `sub` claim is missing or invalid")),
        };
        let tenant_id = match claims.remove(&self.tenant_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if is_valid_tenant_id(&t) => Some(t),
            Some(_) => return Err(unauthorized("the token's tenant claim is not a valid tenant id")),
        };
        let roles = match claims.remove("roles") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::String(role) => Ok(role),
                    _ => Err(unauthorized(
                        "the token's `roles` claim must be an array of strings",
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(unauthorized(
                    "the token's `roles` claim must be an array of strings",
                ))
            }
        };
        let email = match claims.remove("email") {
            Some(Value::String(e)) if e.len() <= 320 => Some(e),
            _ => None,
        };
        Ok(Principal {
            sub,
            tenant_id,
            roles,
            email,
        })
    }
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError::Unauthorized(reason.to_owned())
}

fn bearer_token(authorization: Option<&str>) -> Result<&str, ApiError> {
    let value = authorization.ok_or_else(|| unauthorized("missing bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be `Bearer <token>`"));
    }
    Ok(token.trim())
}

struct CachedKeys {
    keys: Vec<(Option<String>, Jwk)>,
    fetched_at: Instant,
}

/// The warm container's copy of the identity provider's keys.
struct JwksCache {
    url: String,
    min_refresh: Duration,
    client: tokio::sync::OnceCell<reqwest::Client>,
    keys: RwLock<Option<CachedKeys>>,
    // Serialises downloads so concurrent cold requests fetch once.
    refresh: Mutex<()>,
}

impl JwksCache {
    fn new(url: String, min_refresh: Duration) -> Self {
        JwksCache {
            url,
            min_refresh,
            client: tokio::sync::OnceCell::new(),
            keys: RwLock::new(None),
            refresh: Mutex::new(()),
        }
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<DecodingKey>, ApiError> {
        if let Some(key) = self.lookup(kid, alg, true).await {
            return key;
        }
        let _guard = self.refresh.lock().await;
        // Another request may have refreshed while this one waited for the lock.
        if let Some(key) = self.lookup(kid, alg, true).await {
            return key;
        }
        let recently_fetched = self
            .keys
            .read()
            .await
            .as_ref()
            .is_some_and(|cached| cached.fetched_at.elapsed() < self.min_refresh);
        if !recently_fetched {
            let fetched = self.fetch().await?;
            *self.keys.write().await = Some(fetched);
        }
        self.lookup(kid, alg, false)
            .await
            .unwrap_or_else(|| Err(unauthorized("the token's signing key is unknown")))
    }

    /// `None` when the cache cannot answer (no keys yet, stale, or unknown kid).
    async fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        require_fresh: bool,
    ) -> Option<Result<Arc<DecodingKey>, ApiError>> {
        let guard = self.keys.read().await;
        let cached = guard.as_ref()?;
        if require_fresh && cached.fetched_at.elapsed() > JWKS_MAX_AGE {
            return None;
        }
        let candidates: Vec<&Jwk> = match kid {
            Some(kid) => cached
                .keys
                .iter()
                .filter(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, jwk)| jwk)
                .collect(),
            // Without a kid only an unambiguous key set can be used.
            None if cached.keys.len() == 1 => vec![&cached.keys[0].1],
            None => return Some(Err(unauthorized("the token has no `kid` header"))),
        };
        let jwk = candidates.first()?;
        Some(decoding_key(jwk, alg).map(Arc::new))
    }

    async fn fetch(&self) -> Result<CachedKeys, ApiError> {
        let client = self
            .client
            .get_or_try_init(|| async { reqwest::Client::builder().timeout(JWKS_FETCH_TIMEOUT).build() })
            .await
            .map_err(|error| {
                tracing::error!(%error, "building the JWKS HTTP client failed");
                ApiError::Internal
            })?;
        let fail = |what: &str, error: String| {
            tracing::error!(url = %self.url, %error, "JWKS {what} failed");
            // Without keys no token can be checked: that is our fault, not the caller's.
            ApiError::Internal
        };
        let response = client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| fail("download", e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail("download", format!("status {}", response.status())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| fail("download", e.to_string()))?;
        if body.len() > JWKS_MAX_BYTES {
            return Err(fail("download", format!("document of {} bytes", body.len())));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| fail("parsing", e.to_string()))?;
        tracing::info!(keys = set.keys.len(), "JWKS refreshed");
        Ok(CachedKeys {
            keys: set
                .keys
                .into_iter()
                .map(|jwk| (jwk.common.key_id.clone(), jwk))
                .collect(),
            fetched_at: Instant::now(),
        })
    }
}

/// A decoding key only when the JWK's type fits the token's algorithm.
fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Result<DecodingKey, ApiError> {
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ec.curve == EllipticCurve::P256,
        _ => false,
    };
    let declared_ok = jwk
        .common
        .key_algorithm
        .is_none_or(|declared| Algorithm::try_from(declared).ok() == Some(alg));
    if !fits || !declared_ok {
        return Err(unauthorized(
            "the token's algorithm does not match its signing key",
        ));
    }
    DecodingKey::from_jwk(jwk).map_err(|_| unauthorized("the token's signing key is unusable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_id_charset() {
        for ok in ["a", "acme", "Acme-1", "a.b_c-d", &"x".repeat(128)] {
            assert!(is_valid_tenant_id(ok), "{ok}");
        }
        for bad in ["", "-a", ".a", "a#b", "a b", "a/b", "é", &"x".repeat(129), "_a"] {
            assert!(!is_valid_tenant_id(bad), "{bad}");
        }
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(Some("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some("bearer abc")).unwrap(), "abc");
        assert!(bearer_token(None).is_err());
        assert!(bearer_token(Some("Basic abc")).is_err());
        assert!(bearer_token(Some("Bearer ")).is_err());
        assert!(bearer_token(Some("Bearer")).is_err());
    }
}
