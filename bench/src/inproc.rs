//! Requests through the real handler in this process (`shared::web::handle`, as the functions
//! run it), with the app's DynamoDB client pointed at the counting proxy: DynamoDB calls and
//! consumed capacity per request, and the data the spawned functions read.

use std::{collections::BTreeMap, time::Duration, time::Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use lambda_http::Body;
use local::{
    dynamo_proxy::{Consumed, DynamoProxy},
    token::{dev_token, DEV_CURSOR_SECRET, DEV_JWT_SECRET},
};
use serde_json::{json, Value};
use shared::{config::Config, web::Router, App};

pub struct InProcess {
    pub app: App,
    pub proxy: DynamoProxy,
    /// Straight to DynamoDB Local, for seeding and the raw Query reference.
    pub direct: aws_sdk_dynamodb::Client,
    pub table: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub elapsed: Duration,
}

impl Reply {
    pub fn str(&self, field: &str) -> Result<String, String> {
        self.body[field]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {field} in {}", self.body))
    }
}

/// A token for `sub` in `tenant` with the dev secret the spawned functions are given.
pub fn token(tenant: &str, sub: &str, roles: &[&str]) -> String {
    dev_token(DEV_JWT_SECRET.as_bytes(), sub, Some(tenant), roles, 4 * 3600)
}

/// A fresh tenant id.
pub fn tenant_id(label: &str) -> String {
    format!("bench-{label}-{}", uuid::Uuid::now_v7().simple())
}

impl InProcess {
    pub async fn new(endpoint: &str, table: &str) -> Result<Self, String> {
        let proxy = DynamoProxy::start(endpoint).await.map_err(|e| e.to_string())?;
        let vars: BTreeMap<&str, String> = [
            ("TABLE_NAME", table.to_owned()),
            ("JWT_HS256_SECRET", DEV_JWT_SECRET.to_owned()),
            ("CURSOR_SECRET", DEV_CURSOR_SECRET.to_owned()),
            // Counted requests must not depend on when the tenant was last looked up; the
            // lookup (one eventually consistent GetItem per container per 5 s) is shown apart.
            ("TENANT_CACHE_TTL_SECONDS", "86400".to_owned()),
        ]
        .into_iter()
        .collect();
        let config = Config::from_lookup(|name| vars.get(name).cloned()).map_err(|e| e.to_string())?;
        let client = local::local_client(&proxy.endpoint, &config.dynamodb);
        let direct = local::local_client(endpoint, &config.dynamodb);
        Ok(InProcess {
            app: App::new(config, client),
            proxy,
            direct,
            table: table.to_owned(),
        })
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = shared::web::handle(&self.app, Router::all(), request).await;
        let elapsed = started.elapsed();
        let bytes: &[u8] = response.body().as_ref();
        Ok(Reply {
            status: response.status().as_u16(),
            body: serde_json::from_slice(bytes).unwrap_or(Value::Null),
            elapsed,
        })
    }

    /// `call`, failing unless the answer is `expected`.
    pub async fn expect(
        &self,
        expected: u16,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, String> {
        let reply = self.call(method, path, token, body, headers).await?;
        if reply.status != expected {
            return Err(format!(
                "{method} {path}: expected {expected}, got {} {}",
                reply.status, reply.body
            ));
        }
        Ok(reply)
    }

    pub async fn create_org(&self, token: &str, name: &str) -> Result<String, String> {
        self.expect(
            201,
            "POST",
            "/v1/organizations",
            token,
            Some(&json!({ "name": name })),
            &[],
        )
        .await?
        .str("id")
    }

    pub async fn create_campaign(&self, token: &str, org: &str, name: &str) -> Result<String, String> {
        let body = json!({ "organization_id": org, "name": name, "description": "bench" });
        self.expect(201, "POST", "/v1/campaigns", token, Some(&body), &[])
            .await?
            .str("id")
    }

    /// The stored item of campaign `id` of `tenant` (its key from the store's key layout).
    pub async fn campaign_item(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<BTreeMap<String, AttributeValue>, String> {
        let out = self
            .direct
            .get_item()
            .table_name(&self.table)
            .set_key(Some(shared::store::keys::campaign(tenant, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(out
            .item
            .ok_or("the campaign just created is not in the table")?
            .into_iter()
            .collect())
    }

    /// `count - 1` copies of campaign `id` of `tenant` with fresh ids, written straight to the
    /// table (the API would take minutes): the same attributes, keys and index keys.
    pub async fn clone_campaign(&self, tenant: &str, id: &str, count: usize) -> Result<(), String> {
        let template = self.campaign_item(tenant, id).await?;
        let mut batch = Vec::new();
        for _ in 1..count {
            let new_id = uuid::Uuid::now_v7().to_string();
            let item = template
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        AttributeValue::S(s) if s.contains(id) => AttributeValue::S(s.replace(id, &new_id)),
                        other => other.clone(),
                    };
                    (k.clone(), v)
                })
                .collect();
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| e.to_string())?;
            batch.push(WriteRequest::builder().put_request(put).build());
            if batch.len() == 25 {
                self.write_batch(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            self.write_batch(batch).await?;
        }
        Ok(())
    }

    async fn write_batch(&self, mut batch: Vec<WriteRequest>) -> Result<(), String> {
        for _ in 0..20 {
            let out = self
                .direct
                .batch_write_item()
                .request_items(&self.table, batch)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            batch = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if batch.is_empty() {
                return Ok(());
            }
        }
        Err("BatchWriteItem kept leaving items unprocessed".to_owned())
    }

    /// Runs `request` with the proxy counting: the DynamoDB calls it made and their capacity.
    pub async fn measured(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Measured, String> {
        self.proxy.reset_counts();
        self.proxy.take_capacity();
        self.proxy.record_capacity(true);
        let reply = self.call(method, path, token, body, headers).await;
        self.proxy.record_capacity(false);
        let reply = reply?;
        if !(200..300).contains(&reply.status) {
            return Err(format!("{method} {path}: {} {}", reply.status, reply.body));
        }
        Ok(Measured {
            page_items: reply.body["data"].as_array().map(Vec::len),
            calls: self.proxy.counts(),
            capacity: self.proxy.take_capacity(),
            elapsed: reply.elapsed,
        })
    }
}

pub struct Measured {
    /// The number of items of a list's page.
    pub page_items: Option<usize>,
    pub calls: BTreeMap<String, usize>,
    pub capacity: Vec<Consumed>,
    pub elapsed: Duration,
}

impl Measured {
    pub fn total_calls(&self) -> usize {
        self.calls.values().sum()
    }

    /// `2 (GetItem, TransactWriteItems)`.
    pub fn calls_text(&self) -> String {
        if self.calls.is_empty() {
            return "0".to_owned();
        }
        let names: Vec<String> = self
            .calls
            .iter()
            .map(|(op, n)| {
                if *n == 1 {
                    op.clone()
                } else {
                    format!("{n}× {op}")
                }
            })
            .collect();
        format!("{} ({})", self.total_calls(), names.join(", "))
    }

    pub fn read_units(&self) -> f64 {
        self.capacity.iter().map(|c| c.read_units).sum()
    }

    pub fn write_units(&self) -> f64 {
        self.capacity.iter().map(|c| c.write_units).sum()
    }

    pub fn index_write_units(&self) -> f64 {
        self.capacity.iter().map(|c| c.index_write_units).sum()
    }

    /// Writes refused by their condition (they report no capacity, yet DynamoDB bills them).
    pub fn failed_writes(&self) -> Vec<String> {
        self.capacity
            .iter()
            .filter_map(|c| c.failed.as_ref().map(|f| format!("{} {f}", c.operation)))
            .collect()
    }
}

/// An API Gateway HTTP API (payload 2.0) event for the spawned functions.
pub fn apigw_event(method: &str, path: &str, query: &[(&str, &str)], token: Option<&str>) -> String {
    let mut headers = json!({
        "accept": "application/json",
        "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
        "user-agent": "bench",
        "x-forwarded-proto": "https",
    });
    if let Some(token) = token {
        headers["authorization"] = Value::String(format!("Bearer {token}"));
    }
    let raw_query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": raw_query.join("&"),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "bench"
            },
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000u64
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    }
    event.to_string()
}

/// The JSON body of a spawned function's API Gateway answer.
pub fn answer_body(answer: &[u8]) -> Value {
    let outer: Value = serde_json::from_slice(answer).unwrap_or_default();
    match outer["body"].as_str() {
        Some(text) => serde_json::from_str(text).unwrap_or_default(),
        None => Value::Null,
    }
}
