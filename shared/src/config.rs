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
    pub dynamodb: DynamoDbSettings,
    /// Every request answers within this (503 `unavailable` past it), below the function timeout.
    pub request_timeout: Duration,
    /// Finished jobs are removed this many days after they finished (DynamoDB TTL).
    pub job_retention_days: u32,
}

/// How long the SDK may wait on DynamoDB, and how often it retries, so that a stalled or
/// throttled table turns into a prompt 503 instead of a request that runs into the function
/// timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DynamoDbSettings {
    pub connect_timeout: Duration,
    /// One HTTP attempt, from sending the request to the end of the response.
    pub attempt_timeout: Duration,
    /// One operation, all of its retries included.
    pub operation_timeout: Duration,
    /// Attempts per operation (standard retry mode: exponential backoff with jitter, and a
    /// retry quota so a failing table is not hammered).
    pub max_attempts: u32,
}

impl Default for DynamoDbSettings {
    fn default() -> Self {
        DynamoDbSettings {
            connect_timeout: Duration::from_millis(1000),
            attempt_timeout: Duration::from_millis(1500),
            operation_timeout: Duration::from_millis(3500),
            max_attempts: 3,
        }
    }
}

pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(8000);
pub const DEFAULT_JOB_RETENTION_DAYS: u32 = 30;

#[derive(Clone)]
pub struct JwtConfig {
    pub hs256_secret: Option<Vec<u8>>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub tenant_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// At most one JWKS download per this interval, succeeding or failing (failures back off
    /// further), so forged `kid`s cannot make us hammer the identity provider.
    pub jwks_min_refresh: Duration,
    /// How long one JWKS download may take.
    pub jwks_timeout: Duration,
    /// Neither a secret nor a JWKS URL was configured, so `hs256_secret` is the public
    /// development secret (local runs only; the template refuses to deploy that way).
    pub dev_secret: bool,
}

/// The HS256 secret used when neither `JWT_HS256_SECRET` nor `JWT_JWKS_URL` is set: local runs,
/// `cargo lambda watch` and the tokens in `events/`. It is public, so a deployment must never
/// use it.
pub const DEV_JWT_SECRET: &str = "local-development-secret-change-me-0123456789";

// Secrets stay out of logs even when a config is printed by accident.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table_name", &self.table_name)
            .field("jwt", &self.jwt)
            .field("cursor_secret", &"<redacted>")
            .field("tenant_cache_ttl", &self.tenant_cache_ttl)
            .field("dynamodb", &self.dynamodb)
            .field("request_timeout", &self.request_timeout)
            .field("job_retention_days", &self.job_retention_days)
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
            .field("jwks_min_refresh", &self.jwks_min_refresh)
            .field("jwks_timeout", &self.jwks_timeout)
            .field("dev_secret", &self.dev_secret)
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
        let dev_secret = hs256_secret.is_none() && jwks_url.is_none();
        let hs256_secret = match hs256_secret {
            None if dev_secret => Some(DEV_JWT_SECRET.as_bytes().to_vec()),
            other => other,
        };

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

        let millis = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                    _ => Err(ConfigError(format!(
                        "{name} must be a positive number of milliseconds"
                    ))),
                },
            }
        };
        let jwks_min_refresh = match get("JWT_JWKS_MIN_REFRESH_SECONDS") {
            None => Duration::from_secs(10),
            Some(v) => Duration::from_secs(v.trim().parse().map_err(|_| {
                ConfigError("JWT_JWKS_MIN_REFRESH_SECONDS must be a whole number of seconds".into())
            })?),
        };
        let jwks_timeout = millis("JWT_JWKS_TIMEOUT_MS", Duration::from_millis(2000))?;
        let defaults = DynamoDbSettings::default();
        let dynamodb = DynamoDbSettings {
            connect_timeout: millis("DYNAMODB_CONNECT_TIMEOUT_MS", defaults.connect_timeout)?,
            attempt_timeout: millis("DYNAMODB_ATTEMPT_TIMEOUT_MS", defaults.attempt_timeout)?,
            operation_timeout: millis("DYNAMODB_OPERATION_TIMEOUT_MS", defaults.operation_timeout)?,
            max_attempts: match get("DYNAMODB_MAX_ATTEMPTS") {
                None => defaults.max_attempts,
                Some(v) => match v.trim().parse::<u32>() {
                    Ok(n) if (1..=10).contains(&n) => n,
                    _ => return Err(ConfigError("DYNAMODB_MAX_ATTEMPTS must be 1..10".into())),
                },
            },
        };
        let request_timeout = millis("REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT)?;
        // Up to ten years: TTL needs an expiry DynamoDB still treats as a time (it ignores
        // values more than five years in the past, never ones in the future, but a typo of
        // extra zeros should stop the cold start rather than keep jobs forever).
        let job_retention_days = match get("JOB_RETENTION_DAYS") {
            None => DEFAULT_JOB_RETENTION_DAYS,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(days) if (1..=3650).contains(&days) => days,
                _ => {
                    return Err(ConfigError(
                        "JOB_RETENTION_DAYS must be a whole number of days, 1..3650".into(),
                    ))
                }
            },
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
                jwks_min_refresh,
                jwks_timeout,
                dev_secret,
            },
            cursor_secret,
            tenant_cache_ttl,
            dynamodb,
            request_timeout,
            job_retention_days,
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
    fn the_dev_secret_only_without_any_key_source() {
        let config = Config::from_lookup(lookup(&[("TABLE_NAME", "t"), ("CURSOR_SECRET", SECRET)])).unwrap();
        assert!(config.jwt.dev_secret);
        assert_eq!(
            config.jwt.hs256_secret.as_deref(),
            Some(DEV_JWT_SECRET.as_bytes())
        );

        let jwks_only = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SECRET", SECRET),
            ("JWT_HS256_SECRET", ""),
            ("JWT_JWKS_URL", "https://issuer.example/jwks.json"),
        ]))
        .unwrap();
        assert!(!jwks_only.jwt.dev_secret);
        assert_eq!(
            jwks_only.jwt.hs256_secret, None,
            "an empty secret with a JWKS URL: JWKS only"
        );

        let own = Config::from_lookup(lookup(&[
            ("TABLE_NAME", "t"),
            ("CURSOR_SECRET", SECRET),
            ("JWT_HS256_SECRET", SECRET),
        ]))
        .unwrap();
        assert!(!own.jwt.dev_secret);
        assert_eq!(own.jwt.hs256_secret.as_deref(), Some(SECRET.as_bytes()));
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
        assert_eq!(config.job_retention_days, 30);
        assert!(!format!("{config:?}").contains(SECRET));
    }

    #[test]
    fn job_retention_days_is_bounded() {
        let with = |days: &str| {
            Config::from_lookup(lookup(&[
                ("TABLE_NAME", "t"),
                ("CURSOR_SECRET", SECRET),
                ("JOB_RETENTION_DAYS", days),
            ]))
        };
        assert_eq!(with("7").unwrap().job_retention_days, 7);
        for bad in ["0", "-1", "3651", "thirty"] {
            assert!(with(bad).unwrap_err().0.contains("JOB_RETENTION_DAYS"), "{bad}");
        }
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
