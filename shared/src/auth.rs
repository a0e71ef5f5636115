//! Bearer token verification: HS256 with a shared secret, RS256/ES256 through a cached JWKS.
//!
//! The algorithm is chosen by which key source accepts it, never by the token alone: an HS256
//! token is only checked against the shared secret and an RS256/ES256 token only against a JWKS
//! key of the matching family, so `alg: none` and HS/RS confusion cannot verify.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jsonwebtoken::{
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet},
    Algorithm, DecodingKey, Validation,
};
use serde_json::Value;

use crate::{clock::Clock, config::JwtConfig, time::Timestamp};

/// Why a caller could not be identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No usable token: missing, malformed, forged, expired or not for this API (401).
    Unauthorized(String),
    /// The identity provider's keys could never be obtained (503): the caller is not at fault.
    Unavailable,
}

pub const ROLE_TENANT_ADMIN: &str = "tenant_admin";
pub const ROLE_PLATFORM_ADMIN: &str = "platform_admin";

const MAX_SUB_LEN: usize = 255;
const JWKS_DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);
const JWKS_MIN_MAX_AGE: Duration = Duration::from_secs(60);
const JWKS_MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long past its refresh age a key set keeps serving while refreshes fail.
pub const JWKS_MAX_STALE: Duration = Duration::from_secs(24 * 3600);
const JWKS_MAX_BACKOFF: Duration = Duration::from_secs(300);
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
    pub fn tenant(&self) -> Result<&str, AuthError> {
        self.tenant_id
            .as_deref()
            .ok_or_else(|| AuthError::Unauthorized("the token has no tenant claim".into()))
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
    jwks: Option<Arc<JwksCache>>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    leeway: u64,
}

impl Verifier {
    pub fn new(config: &JwtConfig, clock: Clock) -> Self {
        if config.dev_secret {
            tracing::warn!("no JWT_HS256_SECRET or JWT_JWKS_URL: accepting tokens signed with the public development secret");
        }
        Verifier {
            hs256: config.hs256_secret.as_deref().map(DecodingKey::from_secret),
            jwks: config
                .jwks_url
                .clone()
                .map(|url| Arc::new(JwksCache::new(url, config, clock))),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            tenant_claim: config.tenant_claim.clone(),
            leeway: config.leeway_seconds,
        }
    }

    /// Verifies the `Authorization` header value and returns the caller.
    pub async fn verify(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let token = bearer_token(authorization)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| unauthorized("the token is malformed or uses an unsupported algorithm"))?;
        // RFC 7515 4.1.11: extensions listed in `crit` must be understood, and none is.
        if header.crit.is_some() {
            return Err(unauthorized(
                "the token's `crit` header names extensions not understood here",
            ));
        }

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

    fn principal(&self, mut claims: HashMap<String, Value>) -> Result<Principal, AuthError> {
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

fn unauthorized(reason: &str) -> AuthError {
    AuthError::Unauthorized(reason.to_owned())
}

fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = authorization.ok_or_else(|| unauthorized("missing bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("the Authorization header must be `Bearer <token>`"));
    }
    Ok(token.trim())
}

/// One downloaded key set.
struct KeySet {
    keys: Vec<(Option<String>, Jwk)>,
    fetched_at: Timestamp,
    /// From the response's `Cache-Control: max-age`, within bounds; an hour without one.
    fresh_for: Duration,
}

impl KeySet {
    fn fresh(&self, now: Timestamp) -> bool {
        now < self.fetched_at + self.fresh_for
    }

    /// Past its refresh age a key set still serves, while refreshes fail, for `JWKS_MAX_STALE`:
    /// the keys in memory are still the right ones unless the issuer rotated them.
    fn usable(&self, now: Timestamp) -> bool {
        now < self.fetched_at + self.fresh_for + JWKS_MAX_STALE
    }
}

#[derive(Default)]
struct JwksState {
    keys: Option<KeySet>,
    /// A download is running: nobody starts another, nobody waits for it.
    in_flight: bool,
    /// No download starts before this (the minimum interval after any attempt, longer while
    /// attempts keep failing).
    next_attempt: Option<Timestamp>,
    failures: u32,
}

/// The warm container's copy of the identity provider's keys.
///
/// At most one download is in flight and at most one starts per interval, whether the last
/// succeeded or failed (failures back off exponentially up to `JWKS_MAX_BACKOFF`). A request
/// whose `kid` is known never waits on the issuer: stale keys are served while a refresh runs
/// in the background. A request with an unknown `kid` starts a download only when one may start
/// and waits for that one; otherwise it is answered at once: 401 when a usable key set is held
/// (it simply lacks the `kid`), 503 when none could ever be obtained.
pub(crate) struct JwksCache {
    url: String,
    min_refresh: Duration,
    timeout: Duration,
    clock: Clock,
    client: std::sync::OnceLock<reqwest::Client>,
    state: std::sync::Mutex<JwksState>,
}

enum Found {
    Key(Result<Arc<DecodingKey>, AuthError>),
    /// The held keys are usable but lack the kid.
    Unknown,
    /// No usable keys at all.
    NoKeys,
}

impl JwksCache {
    fn new(url: String, config: &JwtConfig, clock: Clock) -> Self {
        JwksCache {
            url,
            min_refresh: config.jwks_min_refresh,
            timeout: config.jwks_timeout,
            clock,
            client: std::sync::OnceLock::new(),
            state: std::sync::Mutex::new(JwksState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, JwksState> {
        // A panic never happens while the lock is held (panic = abort in release anyway).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<DecodingKey>, AuthError> {
        let now = self.clock.now();
        let (found, start_download) = {
            let mut state = self.state();
            let found = Self::lookup(&state, kid, alg, now);
            let stale = state.keys.as_ref().is_some_and(|k| !k.fresh(now));
            let start = match found {
                // Known kid: answer now; refresh a stale set in the background.
                Found::Key(_) => stale && Self::begin_attempt(&mut state, now),
                Found::Unknown | Found::NoKeys => Self::begin_attempt(&mut state, now),
            };
            (found, start)
        };
        match found {
            Found::Key(key) => {
                if start_download {
                    tracing::warn!(url = %self.url, "serving JWKS keys past their refresh age; refreshing");
                    let cache = Arc::clone(self);
                    tokio::spawn(async move { cache.download().await });
                }
                key
            }
            Found::Unknown | Found::NoKeys if start_download => {
                // In a task of its own, so the attempt is recorded even if this request is
                // dropped (its time budget ran out) while it waits.
                let cache = Arc::clone(self);
                let _ = tokio::spawn(async move { cache.download().await }).await;
                match Self::lookup(&self.state(), kid, alg, self.clock.now()) {
                    Found::Key(key) => key,
                    Found::Unknown => Err(unknown_key()),
                    Found::NoKeys => Err(AuthError::Unavailable),
                }
            }
            Found::Unknown => Err(unknown_key()),
            Found::NoKeys => Err(AuthError::Unavailable),
        }
    }

    /// Claims the right to download now, if nobody is downloading and the interval allows.
    fn begin_attempt(state: &mut JwksState, now: Timestamp) -> bool {
        if state.in_flight || state.next_attempt.is_some_and(|at| now < at) {
            return false;
        }
        state.in_flight = true;
        true
    }

    fn lookup(state: &JwksState, kid: Option<&str>, alg: Algorithm, now: Timestamp) -> Found {
        let Some(set) = state.keys.as_ref().filter(|k| k.usable(now)) else {
            return Found::NoKeys;
        };
        let jwk = match kid {
            Some(kid) => set
                .keys
                .iter()
                .find(|(k, _)| k.as_deref() == Some(kid))
                .map(|(_, j)| j),
            // Without a kid only an unambiguous key set can be used.
            None if set.keys.len() == 1 => Some(&set.keys[0].1),
            None => return Found::Key(Err(unauthorized("the token has no `kid` header"))),
        };
        match jwk {
            Some(jwk) => Found::Key(decoding_key(jwk, alg).map(Arc::new)),
            None => Found::Unknown,
        }
    }

    /// Runs the attempt `begin_attempt` claimed and records its outcome.
    async fn download(&self) {
        let outcome = self.fetch().await;
        let now = self.clock.now();
        let mut state = self.state();
        state.in_flight = false;
        match outcome {
            Ok(set) => {
                tracing::info!(
                    keys = set.keys.len(),
                    fresh_for_s = set.fresh_for.as_secs(),
                    "JWKS refreshed"
                );
                state.keys = Some(set);
                state.failures = 0;
                state.next_attempt = Some(now + self.min_refresh);
            }
            Err(error) => {
                state.failures += 1;
                let backoff = self
                    .min_refresh
                    .saturating_mul(1 << state.failures.saturating_sub(1).min(16))
                    .min(JWKS_MAX_BACKOFF);
                state.next_attempt = Some(now + backoff);
                let held = state.keys.as_ref().is_some_and(|k| k.usable(now));
                tracing::warn!(
                    url = %self.url,
                    %error,
                    failures = state.failures,
                    retry_in_s = backoff.as_secs(),
                    serving_stale_keys = held,
                    "JWKS download failed"
                );
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let client = match self.client.get() {
            Some(client) => client,
            None => {
                let built = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .build()
                    .map_err(|e| format!("building the HTTP client: {e}"))?;
                self.client.get_or_init(|| built)
            }
        };
        let response = client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let fresh_for = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(max_age)
            .unwrap_or(JWKS_DEFAULT_MAX_AGE);
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > JWKS_MAX_BYTES {
            return Err(format!("document of {} bytes", body.len()));
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("parsing: {e}"))?;
        Ok(KeySet {
            keys: set
                .keys
                .into_iter()
                .map(|jwk| (jwk.common.key_id.clone(), jwk))
                .collect(),
            fetched_at: self.clock.now(),
            fresh_for,
        })
    }
}

fn unknown_key() -> AuthError {
    unauthorized("the token's signing key is unknown")
}

/// `max-age` of a `Cache-Control` value, within `JWKS_MIN_MAX_AGE..=JWKS_MAX_MAX_AGE`;
/// `no-cache`/`no-store` count as the minimum, and no `max-age` as the default.
fn max_age(cache_control: &str) -> Duration {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return JWKS_MIN_MAX_AGE;
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            age = value
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age.map_or(JWKS_DEFAULT_MAX_AGE, |a| {
        a.clamp(JWKS_MIN_MAX_AGE, JWKS_MAX_MAX_AGE)
    })
}

/// A decoding key only when the JWK's type fits the token's algorithm.
fn decoding_key(jwk: &Jwk, alg: Algorithm) -> Result<DecodingKey, AuthError> {
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
    fn cache_control_max_age_within_bounds() {
        assert_eq!(max_age("public, max-age=7200"), Duration::from_secs(7200));
        assert_eq!(max_age("max-age=5"), JWKS_MIN_MAX_AGE);
        assert_eq!(max_age("max-age=99999999"), JWKS_MAX_MAX_AGE);
        assert_eq!(max_age("no-store"), JWKS_MIN_MAX_AGE);
        assert_eq!(max_age("public"), JWKS_DEFAULT_MAX_AGE);
        assert_eq!(max_age("max-age=x"), JWKS_DEFAULT_MAX_AGE);
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
