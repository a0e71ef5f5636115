//! Settings read once per cold start. A missing or malformed setting stops the cold start with a
//! message naming the variable, instead of failing later inside a request.

use std::{fmt, time::Duration};

#[derive(Clone)]
pub struct Config {
    pub table_name: String,
    pub jwt: JwtConfig,
    pub cursor_secret: Vec<u8>,
    /// How long a warm container may reuse a tenant record before reading it again.
    pub tenant_cache_ttl: Duration,
}

#[derive(Clone)]
pub struct JwtConfig {
    pub hs256_secret: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub tenant_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
}

// Secrets stay out of logs even when a config is printed by accident.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("jwt", &self.jwt)
            .field("cursor_secret", &"<redacted>")
            .field("tenant_cache_ttl", &self.tenant_cache_ttl)
            .finish()
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("tenant_claim", &self.tenant_claim)
            .field("leeway_seconds", &self.leeway_seconds)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

pub const DEFAULT_TENANT_CLAIM: &str = "tenant_id";
pub const DEFAULT_TENANT_CACHE_TTL_SECONDS: u64 = 5;
const MIN_SECRET_BYTES: usize = 32;

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can supply them without touching the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let table_name = get("TABLE_NAME")
            .ok_or_else(|| ConfigError("TABLE_NAME is required (the DynamoDB table name)".into()))?;

        let hs256_secret = get("JWT_HS256_SECRET").map(String::into_bytes);
        if let Some(secret) = &hs256_secret {
            if secret.len() < MIN_SECRET_BYTES {
                return Err(ConfigError(format!(
                    "JWT_HS256_SECRET must be at least {MIN_SECRET_BYTES} bytes"
                )));
            }
        }
        let jwks_url = get("JWT_JWKS_URL");
        if let Some(url) = &jwks_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| ConfigError(format!("JWT_JWKS_URL is not a valid URL: {e}")))?;
            if !matches!(parsed.scheme(), "https" | "http") {
                return Err(ConfigError("JWT_JWKS_URL must be an http(s) URL".into()));
            }
        }
        if hs256_secret.is_none() && jwks_url.is_none() {
            return Err(ConfigError(
                "set JWT_HS256_SECRET and/or JWT_JWKS_URL: without either no token can be verified".into(),
            ));
        }

        let cursor_secret = get("CURSOR_SECRET")
            .ok_or_else(|| ConfigError("CURSOR_SECRET is required (HMAC key for cursors)".into()))?
            .into_bytes();
        if cursor_secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError(format!(
                "CURSOR_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }

        let tenant_claim = get("TENANT_CLAIM").unwrap_or_else(|| DEFAULT_TENANT_CLAIM.to_owned());
        let tenant_cache_ttl = match get("TENANT_CACHE_TTL_SECONDS") {
            None => Duration::from_secs(DEFAULT_TENANT_CACHE_TTL_SECONDS),
            Some(v) => Duration::from_secs(v.trim().parse().map_err(|_| {
                ConfigError("TENANT_CACHE_TTL_SECONDS must be a whole number of seconds".into())
            })?),
        };
        let leeway_seconds = match get("JWT_LEEWAY_SECONDS") {
            None => 30,
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError("JWT_LEEWAY_SECONDS must be a whole number of seconds".into()))?,
        };

        Ok(Config {
            table_name,
            jwt: JwtConfig {
                hs256_secret,
                jwks_url,
                issuer: get("JWT_ISSUER"),
                audience: get("JWT_AUDIENCE"),
                tenant_claim,
                leeway_seconds,
            },
            cursor_secret,
            tenant_cache_ttl,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn missing_table_name_names_the_variable() {
        let err = Config::from_lookup(lookup(&[("JWT_HS256_SECRET", SECRET)])).unwrap_err();
        assert!(err.0.contains("TABLE_NAME"), "{err}");
    }

    #[test]
    fn a_key_source_is_required() {
        let err = Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("CURSOR_SECRET", SECRET)])).unwrap_err();
        assert!(
            err.0.contains("JWT_HS256_SECRET") && err.0.contains("JWT_JWKS_URL"),
            "{err}"
        );
    }

    #[test]
    fn missing_cursor_secret_names_the_variable() {
        let err =
            Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("JWT_HS256_SECRET", SECRET)])).unwrap_err();
        assert!(err.0.contains("CURSOR_SECRET"), "{err}");
    }

    #[test]
    fn short_secrets_are_refused() {
        let err = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("JWT_HS256_SECRET", "short"),
            ("CURSOR_SECRET", SECRET),
        ]))
        .unwrap_err();
        assert!(err.0.contains("JWT_HS256_SECRET"), "{err}");
    }

    #[test]
    fn defaults_apply() {
        let config = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("JWT_HS256_SECRET", SECRET),
            ("CURSOR_SECRET", SECRET),
        ]))
        .unwrap();
        assert_eq!(config.jwt.tenant_claim, "tenant_id");
        assert_eq!(config.tenant_cache_ttl, Duration::from_secs(5));
        assert!(config.jwt.issuer.is_none());
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn bad_jwks_url_is_refused() {
        let err = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("JWT_JWKS_URL", "not a url"),
            ("CURSOR_SECRET", SECRET),
        ]))
        .unwrap_err();
        assert!(err.0.contains("JWT_JWKS_URL"), "{err}");
    }
}
