//! Cursor pagination over any key schema, used by every list in the API.
//!
//! A page is read with `Limit = limit + 1` so `has_more` is exact; the cursor is the key of the
//! last item returned, in `ExclusiveStartKey` form, signed with HMAC-SHA256 over the list's scope
//! (tenant, list, filters). A cursor from another tenant, list or filter, or one that was altered,
//! fails the signature check and is a 422, so it can never start a read in another partition.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{de::DeserializeOwned, Serialize};

use crate::{
    error::ApiError,
    http::Query,
    store::{self, keys::Index, Item, Store},
};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageParams {
    /// `limit`: default 50, capped at 100; zero, negatives and non-numbers are a 422.
    pub fn from_query(query: &Query) -> Result<Self, ApiError> {
        let limit = match query.get("limit") {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.trim().parse::<i64>() {
                Ok(n) if n >= 1 => usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT),
                Ok(_) => return Err(ApiError::field("limit", "must be a positive integer")),
                Err(_) if raw.trim().bytes().all(|b| b.is_ascii_digit()) && !raw.trim().is_empty() => {
                    MAX_LIMIT
                }
                Err(_) => return Err(ApiError::field("limit", "must be a positive integer")),
            },
        };
        let cursor = match query.get("cursor") {
            None => None,
            Some("") => return Err(ApiError::field("cursor", "must not be empty")),
            Some(c) => Some(c.to_owned()),
        };
        Ok(PageParams { limit, cursor })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
        }
    }
}

/// One list: which key schema, which partition, and the scope its cursors are bound to.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub index: Index,
    pub partition: String,
    /// The list's identity for cursor binding, e.g. `tenant=acme|list=tenants|status=active`.
    pub scope: String,
    /// Base-table partition keys of items in this list must start with this (the tenant prefix),
    /// checked on every decoded cursor as a second line of defence.
    pub item_pk_prefix: Option<String>,
    pub newest_first: bool,
}

/// Builds scopes in one format so two lists can never share one by accident.
pub fn scope(tenant: Option<&str>, list: &str, filters: &[(&str, Option<&str>)]) -> String {
    let mut out = format!("tenant={}|list={list}", tenant.unwrap_or("#platform"));
    for (name, value) in filters {
        out.push_str(&format!("|{name}={}", value.unwrap_or("#any")));
    }
    out
}

#[derive(Clone)]
pub struct CursorSigner {
    key: hmac::Key,
}

impl CursorSigner {
    pub fn new(secret: &[u8]) -> Self {
        CursorSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    fn mac_input(scope: &str, payload: &[u8]) -> Vec<u8> {
        let mut input = Vec::with_capacity(scope.len() + 1 + payload.len());
        input.extend_from_slice(scope.as_bytes());
        input.push(0);
        input.extend_from_slice(payload);
        input
    }

    pub fn sign(&self, scope: &str, key: &BTreeMap<String, String>) -> String {
        let payload = serde_json::to_vec(key).unwrap_or_default();
        let tag = hmac::sign(&self.key, &Self::mac_input(scope, &payload));
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    /// The key inside a cursor, if and only if this scope signed it.
    pub fn verify(&self, scope: &str, cursor: &str) -> Result<BTreeMap<String, String>, ApiError> {
        let invalid = || ApiError::field("cursor", "is invalid or belongs to another list");
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        hmac::verify(&self.key, &Self::mac_input(scope, &payload), &tag).map_err(|_| invalid())?;
        serde_json::from_slice(&payload).map_err(|_| invalid())
    }
}

impl Store {
    /// Reads one page of `list`, newest first by default. Filters are expressed as partitions
    /// of an index, never as filter expressions, so every page is full unless it is the last
    /// and the cost of a request follows the page size, not the collection size.
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        list: &ListQuery,
        params: &PageParams,
        signer: &CursorSigner,
    ) -> Result<Page<T>, ApiError> {
        self.query_page_with(list, params, signer, store::from_item).await
    }

    /// `query_page` with the decoding of each item given. An item that does not decode (one
    /// not written by this API: the API refuses anything it could not read back) is left out
    /// with an ERROR log line naming its key, and the page is filled from further down, so one
    /// bad item never fails every list that contains it.
    pub async fn query_page_with<T>(
        &self,
        list: &ListQuery,
        params: &PageParams,
        signer: &CursorSigner,
        decode: impl Fn(Item) -> Result<T, ApiError>,
    ) -> Result<Page<T>, ApiError> {
        let mut start_key = match &params.cursor {
            None => None,
            Some(cursor) => Some(self.start_key(list, &signer.verify(&list.scope, cursor)?)?),
        };
        let wanted = params.limit + 1;
        let mut data: Vec<T> = Vec::with_capacity(wanted);
        let mut last_key = None;
        let mut has_more = false;
        'pages: loop {
            let remaining = i32::try_from(wanted - data.len()).unwrap_or(i32::MAX);
            let output = self
                .client()
                .query()
                .table_name(self.table())
                .set_index_name(list.index.name.map(str::to_owned))
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", list.index.pk)
                .expression_attribute_values(":pk", store::s(&list.partition))
                .scan_index_forward(!list.newest_first)
                .limit(remaining)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| store::failure("query_page", e))?;
            for item in output.items.unwrap_or_default() {
                let key = cursor_key(list.index, &item)?;
                match decode(item) {
                    // The one past the page only says that there is more.
                    Ok(_) if data.len() == params.limit => {
                        has_more = true;
                        break 'pages;
                    }
                    Ok(value) => {
                        data.push(value);
                        last_key = Some(key);
                    }
                    Err(_) => tracing::error!(
                        pk = key.get(store::keys::PK).map(String::as_str).unwrap_or(""),
                        sk = key.get(store::keys::SK).map(String::as_str).unwrap_or(""),
                        "left an undecodable item out of a list"
                    ),
                }
            }
            match output.last_evaluated_key {
                Some(key) => start_key = Some(key),
                None => break,
            }
        }
        let next_cursor = match (has_more, last_key) {
            (true, Some(key)) => Some(signer.sign(&list.scope, &key)),
            _ => None,
        };
        Ok(Page {
            data,
            has_more: next_cursor.is_some(),
            next_cursor,
        })
    }

    fn start_key(&self, list: &ListQuery, key: &BTreeMap<String, String>) -> Result<Item, ApiError> {
        let invalid = || ApiError::field("cursor", "is invalid or belongs to another list");
        let expected = key_attributes(list.index);
        if key.len() != expected.len() || !expected.iter().all(|a| key.contains_key(*a)) {
            return Err(invalid());
        }
        if key.get(list.index.pk) != Some(&list.partition) {
            return Err(invalid());
        }
        if let Some(prefix) = &list.item_pk_prefix {
            if !key
                .get(store::keys::PK)
                .is_some_and(|pk| pk.starts_with(prefix.as_str()))
            {
                return Err(invalid());
            }
        }
        Ok(key.iter().map(|(k, v)| (k.clone(), store::s(v))).collect())
    }
}

fn key_attributes(index: Index) -> Vec<&'static str> {
    let mut attrs = vec![store::keys::PK, store::keys::SK];
    if index.name.is_some() {
        attrs.extend([index.pk, index.sk]);
    }
    attrs
}

fn cursor_key(index: Index, item: &Item) -> Result<BTreeMap<String, String>, ApiError> {
    key_attributes(index)
        .into_iter()
        .map(|attr| match item.get(attr) {
            Some(AttributeValue::S(v)) => Ok((attr.to_owned(), v.clone())),
            _ => {
                tracing::error!(attr, "a listed item lacks a key attribute of its index");
                Err(ApiError::Internal)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> BTreeMap<String, String> {
        [
            ("pk".to_owned(), "acme#TENANT".to_owned()),
            ("sk".to_owned(), "TENANT".to_owned()),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn cursor_round_trips_only_in_its_scope() {
        let signer = CursorSigner::new(b"0123456789abcdef0123456789abcdef");
        let cursor = signer.sign("tenant=a|list=x", &key());
        assert_eq!(signer.verify("tenant=a|list=x", &cursor).unwrap(), key());
        assert!(signer.verify("tenant=b|list=x", &cursor).is_err());
        assert!(signer.verify("tenant=a|list=y", &cursor).is_err());
        let other = CursorSigner::new(b"another-secret-another-secret-xx");
        assert!(other.verify("tenant=a|list=x", &cursor).is_err());
    }

    #[test]
    fn any_altered_byte_is_rejected() {
        let signer = CursorSigner::new(b"0123456789abcdef0123456789abcdef");
        let cursor = signer.sign("s", &key());
        for i in 0..cursor.len() {
            let mut bytes = cursor.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(bytes).unwrap();
            if altered != cursor {
                assert!(signer.verify("s", &altered).is_err(), "byte {i}");
            }
        }
    }

    #[test]
    fn limit_rules() {
        let p = |q: &str| PageParams::from_query(&Query::parse(q).unwrap());
        assert_eq!(p("").unwrap().limit, 50);
        assert_eq!(p("limit=7").unwrap().limit, 7);
        assert_eq!(p("limit=100").unwrap().limit, 100);
        assert_eq!(p("limit=101").unwrap().limit, 100);
        assert_eq!(p("limit=99999999999999999999999").unwrap().limit, 100);
        for bad in [
            "limit=0",
            "limit=-1",
            "limit=abc",
            "limit=",
            "limit=1.5",
            "cursor=",
        ] {
            assert!(matches!(p(bad), Err(ApiError::Validation(_))), "{bad}");
        }
    }
}
