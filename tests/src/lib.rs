//! Test harness: one DynamoDB Local per test run, a fresh table per test, requests through the
//! real handler, and token helpers (HS256 secret and a JWKS served from a local server).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::Duration,
};

use http::{Method, StatusCode};
use lambda_http::Body;
use local::{dynamodb_local::DynamoDbLocal, schema::TableSchema};
use serde_json::Value;
use shared::{clock::Clock, config::Config, store::tx::AfterCommit, web::Router, App, Function};

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const CURSOR_SECRET: &str = "integration-cursor-secret-0123456789abcdef";

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The DynamoDB Local of this test process: `TEST_DYNAMODB_ENDPOINT` if set, else one started
/// on a free port. It is owned by a thread that never ends, so it lives exactly as long as
/// the test process (it is started with a parent-death signal).
pub fn dynamodb_endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        if let Ok(endpoint) = std::env::var("TEST_DYNAMODB_ENDPOINT") {
            return endpoint;
        }
        match DynamoDbLocal::start_on_own_thread(None, None) {
            // Never dropped: it lives exactly as long as the test process.
            Ok(local) => std::mem::ManuallyDrop::new(local).endpoint(),
            Err(e) => panic!("starting DynamoDB Local failed: {e}"),
        }
    })
}

/// Settings for a test app; override fields before `build`.
pub struct Settings {
    pub vars: HashMap<&'static str, String>,
    pub jwks_min_refresh: Duration,
    pub clock: Clock,
    /// The app talks to DynamoDB here instead of DynamoDB Local (a fault proxy, a dead port);
    /// the table is still created on DynamoDB Local.
    pub endpoint: Option<String>,
    pub after_commit: Option<AfterCommit>,
}

impl Default for Settings {
    fn default() -> Self {
        let vars = [
            ("JWT_HS256_SECRET", SECRET.to_owned()),
            ("CURSOR_SECRET", CURSOR_SECRET.to_owned()),
        ]
        .into_iter()
        .collect();
        Settings {
            vars,
            jwks_min_refresh: Duration::from_secs(10),
            clock: Clock::system(),
            endpoint: None,
            after_commit: None,
        }
    }
}

/// An app over its own fresh table.
pub struct TestApp {
    pub app: Arc<App>,
    pub table: String,
    /// A client straight to DynamoDB Local, for setting up and inspecting the table.
    pub client: aws_sdk_dynamodb::Client,
    pub clock: Clock,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(Settings::default()).await
    }

    pub async fn with(settings: Settings) -> Self {
        let endpoint = dynamodb_endpoint();
        let table = format!("test-{}", uuid::Uuid::now_v7());
        let mut vars = settings.vars;
        vars.insert("TABLE_NAME", table.clone());
        let mut config = Config::from_lookup(|name| vars.get(name).cloned()).expect("test config");
        config.jwt.jwks_min_refresh = settings.jwks_min_refresh;
        // The table is made with the SDK's ordinary patience: a test's impatient settings (short
        // timeouts for fault tests) are for the app, not for DynamoDB Local's first start.
        let client = local::local_client(endpoint, &shared::config::DynamoDbSettings::default());
        TableSchema::from_repo_template()
            .ensure_table(&client, &table)
            .await
            .unwrap_or_else(|e| panic!("creating the test table failed: {e}"));
        let app_endpoint = settings.endpoint.as_deref().unwrap_or(endpoint);
        let app_client = local::local_client(app_endpoint, &config.dynamodb);
        let mut app = App::with_clock(config, app_client, settings.clock.clone());
        if let Some(hook) = settings.after_commit {
            app.store.set_after_commit(hook);
        }
        TestApp {
            app: Arc::new(app),
            table,
            client,
            clock: settings.clock,
        }
    }

    /// Sends a request through the handler of the function that owns the path, exactly as
    /// that Lambda function would run it.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> TestResponse {
        let raw = body.map(|b| b.to_string());
        self.call_raw(method, path, token, raw.as_deref(), &[]).await
    }

    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut builder = http::Request::builder().method(method.clone()).uri(path);
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.map_or(Body::Empty, |b| Body::Text(b.to_owned())))
            .expect("valid test request");
        let route_path = path.split('?').next().unwrap_or(path);
        let function = Function::serving(route_path);
        self.send(function, request).await
    }

    /// Sends an already built request (e.g. one decoded from an API Gateway event) through the
    /// handler of `function`.
    pub async fn send(&self, function: Option<Function>, request: lambda_http::Request) -> TestResponse {
        let router = function.map_or(Router::all(), Function::router);
        let response = shared::web::handle(&self.app, router, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes: &[u8] = response.body().as_ref();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.call(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Every item stored under one partition key, read straight from the table.
    pub async fn items_in_partition(
        &self,
        pk: &str,
    ) -> Vec<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("query")
            .items
            .unwrap_or_default()
    }

    /// Every partition key in the table (a scan: tests only).
    pub async fn all_partition_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in out.items.unwrap_or_default() {
                if let Some(aws_sdk_dynamodb::types::AttributeValue::S(pk)) = item.get("pk") {
                    keys.push(pk.clone());
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => return keys,
            }
        }
    }
}

/// A fresh tenant id, unique across the test run.
pub fn tenant_id() -> String {
    format!("t-{}", uuid::Uuid::now_v7().simple())
}

/// An HS256 token signed with the test secret.
pub fn token(sub: &str, tenant: Option<&str>, roles: &[&str]) -> String {
    local::token::dev_token(SECRET.as_bytes(), sub, tenant, roles, 600)
}

/// A token valid at `clock`'s time, for tests that move the clock past a token's lifetime.
pub fn token_at(clock: &Clock, sub: &str, tenant: Option<&str>, roles: &[&str]) -> String {
    let now = clock.now().timestamp();
    let mut claims = serde_json::json!({ "sub": sub, "roles": roles, "iat": now, "exp": now + 600 });
    if let Some(tenant) = tenant {
        claims["tenant_id"] = Value::String(tenant.to_owned());
    }
    local::token::sign_hs256(SECRET.as_bytes(), &claims)
}

pub fn user(tenant: &str) -> String {
    token("user-1", Some(tenant), &[])
}

pub fn tenant_admin(tenant: &str) -> String {
    token("admin-1", Some(tenant), &["tenant_admin"])
}

pub fn platform_admin() -> String {
    token("root", None, &["platform_admin"])
}

pub fn claims(extra: Value) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({"sub": "user-1", "tenant_id": "acme", "iat": now, "exp": now + 600});
    if let (Some(base), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    claims
}

/// Walks every page of `path` (which must not carry a cursor) and returns the items in order.
pub async fn walk_pages(app: &TestApp, path: &str, token: &str) -> Vec<Value> {
    walk_pages_with_sizes(app, path, token).await.0
}

/// Like `walk_pages`, also returning each page's size, to check that pages are full.
pub async fn walk_pages_with_sizes(app: &TestApp, path: &str, token: &str) -> (Vec<Value>, Vec<usize>) {
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if path.contains('?') { '&' } else { '?' };
    for _ in 0..10_000 {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let page = app.get(&url, token).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.body);
        let data = page.body["data"].as_array().expect("data").clone();
        let has_more = page.body["has_more"].as_bool().expect("has_more");
        assert_eq!(
            has_more,
            page.body["next_cursor"].is_string(),
            "{url}: next_cursor iff has_more"
        );
        if has_more {
            assert!(!data.is_empty(), "a page with more after it is never empty");
        }
        sizes.push(data.len());
        items.extend(data);
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, sizes),
        }
    }
    panic!("pagination did not terminate");
}

/// How the test JWKS endpoint behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwksMode {
    Serve,
    /// Nothing listens on the port: connections are refused.
    Refuse,
    /// Connections are accepted and never answered.
    Hang,
    /// `500 Internal Server Error`.
    Fail,
}

/// A real HTTP JWKS endpoint that can be swapped, switched between behaviours, and whose
/// download attempts are counted (refused connections cannot be, and are not).
pub struct JwksServer {
    pub url: String,
    pub document: Arc<Mutex<String>>,
    pub hits: Arc<AtomicUsize>,
    mode: Arc<Mutex<JwksMode>>,
    cache_control: Arc<Mutex<Option<String>>>,
}

impl JwksServer {
    pub fn start(document: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        let url = format!("http://{address}/.well-known/jwks.json");
        let document = Arc::new(Mutex::new(document));
        let hits = Arc::new(AtomicUsize::new(0));
        let mode = Arc::new(Mutex::new(JwksMode::Serve));
        let cache_control = Arc::new(Mutex::new(None::<String>));
        let (doc, count, state, cc) = (
            Arc::clone(&document),
            Arc::clone(&hits),
            Arc::clone(&mode),
            Arc::clone(&cache_control),
        );
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            loop {
                let current = state.lock().map(|m| *m).unwrap_or(JwksMode::Serve);
                if current == JwksMode::Refuse {
                    listener = None;
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let active = match &listener {
                    Some(l) => l,
                    None => match TcpListener::bind(address) {
                        Ok(l) => listener.insert(l),
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    },
                };
                let _ = active.set_nonblocking(true);
                let stream = match active.accept() {
                    Ok((stream, _)) => stream,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(2));
                        continue;
                    }
                };
                let _ = stream.set_nonblocking(false);
                let (doc, count, state, cc) = (doc.clone(), count.clone(), state.clone(), cc.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    // Read the request head; the body of a GET is empty.
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        line.clear();
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let mut stream = &stream;
                    match state.lock().map(|m| *m).unwrap_or(JwksMode::Serve) {
                        JwksMode::Hang => std::thread::sleep(Duration::from_secs(30)),
                        JwksMode::Fail => {
                            let _ = write!(stream, "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        }
                        _ => {
                            let body = doc.lock().map(|d| d.clone()).unwrap_or_default();
                            let extra = cc
                                .lock()
                                .ok()
                                .and_then(|c| c.clone())
                                .map(|c| format!("cache-control: {c}\r\n"))
                                .unwrap_or_default();
                            let _ = write!(
                                stream,
                                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                        }
                    }
                });
            }
        });
        JwksServer {
            url,
            document,
            hits,
            mode,
            cache_control,
        }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set(&self, document: String) {
        if let Ok(mut d) = self.document.lock() {
            *d = document;
        }
    }

    pub fn set_mode(&self, mode: JwksMode) {
        if let Ok(mut m) = self.mode.lock() {
            *m = mode;
        }
        // Let the server thread see a switch to or from refusing before the next request.
        std::thread::sleep(Duration::from_millis(30));
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        if let Ok(mut c) = self.cache_control.lock() {
            *c = value.map(str::to_owned);
        }
    }
}

/// Signing keys generated at test time, with their public JWKs.
pub mod keys {
    use aws_lc_rs::{
        encoding::AsDer,
        rand::SystemRandom,
        rsa::{KeyPair as RsaKeyPair, KeySize},
        signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING},
    };
    use jsonwebtoken::{jwk::Jwk, Algorithm, EncodingKey, Header};
    use serde_json::Value;

    pub struct SigningKey {
        pub alg: Algorithm,
        pub kid: String,
        pub key: EncodingKey,
    }

    impl SigningKey {
        pub fn rsa(kid: &str) -> Self {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen");
            let pkcs8 = pair.as_der().expect("pkcs8");
            let pkcs1 = pkcs8_inner_key(pkcs8.as_ref());
            SigningKey {
                alg: Algorithm::RS256,
                kid: kid.to_owned(),
                key: EncodingKey::from_rsa_der(&pkcs1),
            }
        }

        pub fn ec(kid: &str) -> Self {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("ec keygen");
            SigningKey {
                alg: Algorithm::ES256,
                kid: kid.to_owned(),
                key: EncodingKey::from_ec_der(pkcs8.as_ref()),
            }
        }

        pub fn jwk(&self) -> Value {
            let mut jwk = Jwk::from_encoding_key(&self.key, self.alg).expect("jwk");
            jwk.common.key_id = Some(self.kid.clone());
            serde_json::to_value(jwk).expect("jwk json")
        }

        pub fn sign(&self, claims: &Value) -> String {
            let mut header = Header::new(self.alg);
            header.kid = Some(self.kid.clone());
            jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
        }

        pub fn sign_with_header(&self, header: Header, claims: &Value) -> String {
            jsonwebtoken::encode(&header, claims, &self.key).expect("sign")
        }
    }

    pub fn jwks(keys: &[&SigningKey]) -> String {
        serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
    }

    /// The `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (the OCTET STRING after the
    /// version and algorithm identifier).
    fn pkcs8_inner_key(der: &[u8]) -> Vec<u8> {
        fn read_len(der: &[u8], at: &mut usize) -> usize {
            let first = der[*at];
            *at += 1;
            if first < 0x80 {
                return first as usize;
            }
            let n = (first & 0x7f) as usize;
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | der[*at] as usize;
                *at += 1;
            }
            len
        }
        let mut at = 0;
        assert_eq!(der[at], 0x30);
        at += 1;
        read_len(der, &mut at);
        for _ in 0..2 {
            // version INTEGER, then the AlgorithmIdentifier SEQUENCE
            at += 1;
            let len = read_len(der, &mut at);
            at += len;
        }
        assert_eq!(der[at], 0x04, "OCTET STRING");
        at += 1;
        let len = read_len(der, &mut at);
        der[at..at + len].to_vec()
    }
}

/// One runtime for property tests, so clients created on it stay usable across cases.
pub fn property_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A proxy in front of the run's DynamoDB Local (to stall, throttle or count calls), and
/// settings whose DynamoDB client goes through it with `vars` set on top.
pub async fn proxied_settings(vars: &[(&'static str, &str)]) -> (local::dynamo_proxy::DynamoProxy, Settings) {
    let proxy = local::dynamo_proxy::DynamoProxy::start(dynamodb_endpoint())
        .await
        .expect("proxy");
    let mut settings = Settings {
        endpoint: Some(proxy.endpoint.clone()),
        ..Default::default()
    };
    for (name, value) in vars {
        settings.vars.insert(name, (*value).to_owned());
    }
    (proxy, settings)
}

/// One app (one table) shared by the property tests of a file; use fresh tenants per case.
pub async fn shared_app(cell: &'static tokio::sync::OnceCell<TestApp>) -> &'static TestApp {
    cell.get_or_init(TestApp::new).await
}

impl TestApp {
    pub async fn post(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.call(Method::POST, path, Some(token), Some(&body)).await
    }

    /// A write conditioned on `If-Match: etag`; `body` is sent as JSON when given.
    pub async fn if_match(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
        etag: &str,
    ) -> TestResponse {
        let body = body.map(Value::to_string);
        self.call_raw(method, path, Some(token), body.as_deref(), &[("if-match", etag)])
            .await
    }

    /// A POST with an `Idempotency-Key`.
    pub async fn post_with_key(&self, path: &str, token: &str, body: &Value, key: &str) -> TestResponse {
        self.call_raw(
            Method::POST,
            path,
            Some(token),
            Some(&body.to_string()),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// Writes an item straight into the table, as a buggy writer or a manual edit could.
    pub async fn put_raw_item(&self, item: HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put_item");
    }

    /// The stored item under `pk`/`sk`.
    pub async fn raw_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", S(pk.to_owned()))
            .key("sk", S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get_item")
            .item
    }
}

/// Creates an organization named `name` (owner: the token's `sub`) and returns its id.
pub async fn create_org(app: &TestApp, token: &str, name: &str) -> String {
    let r = app
        .post("/v1/organizations", token, serde_json::json!({ "name": name }))
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "creating an organization: {}",
        r.body
    );
    r.body["id"].as_str().expect("organization id").to_owned()
}

/// Creates a campaign in `org` and returns it.
pub async fn create_campaign(app: &TestApp, token: &str, org: &str, name: &str) -> Value {
    let r = app
        .post(
            "/v1/campaigns",
            token,
            serde_json::json!({ "organization_id": org, "name": name }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "creating a campaign: {}", r.body);
    r.body
}

/// The problem+json shape every error must have: the contract's code, its status, and the
/// request id in the body and in `x-request-id`.
pub fn assert_problem(r: &TestResponse, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.code(), code, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let id = r.header("x-request-id").expect("x-request-id");
    assert_eq!(r.body["request_id"], id);
}
