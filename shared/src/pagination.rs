//! Cursor pagination, the parts every list shares: the page shape, the page parameters, and
//! the signed cursors. The query that reads a page is `store::pages`.
//!
//! A cursor is the key of the last item returned, in `ExclusiveStartKey` form, signed with
//! HMAC-SHA256 over the list's scope (tenant, list, filters). A cursor from another tenant, list
//! or filter, or one that was altered, fails the signature check and is a 422, so it can never
//! start a read in another partition.

use std::collections::BTreeMap;

use aws_lc_rs::hmac;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::Serialize;

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageParams {
    /// The first page of `limit` items.
    pub fn first(limit: usize) -> Self {
        PageParams { limit, cursor: None }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

impl<T> Page<T> {
    /// A page that is the whole list.
    pub fn complete(data: Vec<T>) -> Self {
        Page {
            data,
            next_cursor: None,
            has_more: false,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
        }
    }
}

/// The 422 for a cursor that is not this list's.
pub fn invalid_cursor() -> Error {
    Error::field("cursor", "is invalid or belongs to another list")
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
    pub fn verify(&self, scope: &str, cursor: &str) -> Result<BTreeMap<String, String>> {
        let invalid = invalid_cursor;
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
}
