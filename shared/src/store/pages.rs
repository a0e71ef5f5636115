//! Reading one page of a list, for every list in the API.
//!
//! A page is read with `Limit = limit + 1` so `has_more` is exact; filters are partitions of an
//! index, never filter expressions, so every page is full unless it is the last and a request
//! reads at most `limit + 1` items (plus any it has to leave out, see `query_page`).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    failure,
    keys::{self, Index},
    s, Item, Store, StoreError,
};
use crate::{
    error::Result,
    pagination::{invalid_cursor, CursorSigner, Page, PageParams},
};

/// One list: which key schema, which partition, and the scope its cursors are bound to.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub index: Index,
    pub partition: String,
    /// The list's identity for cursor binding (`pagination::scope`).
    pub scope: String,
    /// Base-table partition keys of items in this list must start with this (the tenant prefix),
    /// checked on every decoded cursor as a second line of defence.
    pub item_pk_prefix: Option<String>,
    pub newest_first: bool,
    /// Only the part of the partition whose index sort key lies on one side of a bound.
    pub sk_range: Option<SkRange>,
}

/// One side of a sort-key bound (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkRange {
    After(String),
    Before(String),
}

impl SkRange {
    fn contains(&self, sk: &str) -> bool {
        match self {
            SkRange::After(bound) => sk > bound.as_str(),
            SkRange::Before(bound) => sk < bound.as_str(),
        }
    }

    fn condition(&self) -> &'static str {
        match self {
            SkRange::After(_) => "#pk = :pk AND #sk > :bound",
            SkRange::Before(_) => "#pk = :pk AND #sk < :bound",
        }
    }

    fn bound(&self) -> &str {
        match self {
            SkRange::After(b) | SkRange::Before(b) => b,
        }
    }
}

impl Store {
    /// Reads one page of `list`, decoding each item with `decode`. An item that does not decode
    /// (one not written by this API: the API refuses anything it could not read back) is left
    /// out with an ERROR line naming its key, and the page is filled from further down, so one
    /// bad item never fails every list that contains it.
    pub async fn query_page<T>(
        &self,
        list: &ListQuery,
        params: &PageParams,
        signer: &CursorSigner,
        decode: impl Fn(Item) -> Result<T, StoreError>,
    ) -> Result<Page<T>> {
        self.query_page_where(list, params, signer, |item| decode(item).map(Some))
            .await
    }

    /// `query_page` for lists whose items may be hidden without being wrong: `decode` returns
    /// `Ok(None)` for an item the list leaves out (a job past its retention that DynamoDB's TTL
    /// has not deleted yet, an invitation that expired while its index entry says pending), and
    /// the page is filled from further down. Only for partitions where such items are bounded,
    /// since every item left out is read again by the next page.
    pub async fn query_page_where<T>(
        &self,
        list: &ListQuery,
        params: &PageParams,
        signer: &CursorSigner,
        decode: impl Fn(Item) -> Result<Option<T>, StoreError>,
    ) -> Result<Page<T>> {
        let mut start_key = match &params.cursor {
            None => None,
            Some(cursor) => Some(start_key(list, &signer.verify(&list.scope, cursor)?)?),
        };
        // A bound that moves with time can pass a cursor: nothing of the range is left after
        // it (DynamoDB refuses such a start key rather than answering an empty page).
        if let (Some(range), Some(key)) = (&list.sk_range, &start_key) {
            let sk = key.get(list.index.sk).and_then(|v| v.as_s().ok());
            if !sk.is_some_and(|sk| range.contains(sk)) {
                return Ok(Page {
                    data: Vec::new(),
                    next_cursor: None,
                    has_more: false,
                });
            }
        }
        let wanted = params.limit + 1;
        let mut data: Vec<T> = Vec::with_capacity(wanted);
        let mut last_key = None;
        let mut has_more = false;
        'pages: loop {
            let remaining = i32::try_from(wanted - data.len()).unwrap_or(i32::MAX);
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .set_index_name(list.index.name.map(str::to_owned))
                .expression_attribute_names("#pk", list.index.pk)
                .expression_attribute_values(":pk", s(&list.partition));
            query = match &list.sk_range {
                None => query.key_condition_expression("#pk = :pk"),
                Some(range) => query
                    .key_condition_expression(range.condition())
                    .expression_attribute_names("#sk", list.index.sk)
                    .expression_attribute_values(":bound", s(range.bound())),
            };
            let output = query
                .scan_index_forward(!list.newest_first)
                .limit(remaining)
                .set_exclusive_start_key(start_key.take())
                .send()
                .await
                .map_err(|e| failure("query_page", e))?;
            for item in output.items.unwrap_or_default() {
                let key = cursor_key(list.index, &item)?;
                match decode(item) {
                    // A hidden item is passed over; the cursor only ever names a shown one.
                    Ok(None) => {}
                    // The one past the page only says that there is more.
                    Ok(Some(_)) if data.len() == params.limit => {
                        has_more = true;
                        break 'pages;
                    }
                    Ok(Some(value)) => {
                        data.push(value);
                        last_key = Some(key);
                    }
                    Err(_) => tracing::error!(
                        pk = key.get(keys::PK).map(String::as_str).unwrap_or(""),
                        sk = key.get(keys::SK).map(String::as_str).unwrap_or(""),
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
}

/// The `ExclusiveStartKey` a verified cursor stands for, if it lies in the list's own partition
/// and the tenant's key prefix.
fn start_key(list: &ListQuery, key: &BTreeMap<String, String>) -> Result<Item> {
    let expected = key_attributes(list.index);
    if key.len() != expected.len() || !expected.iter().all(|a| key.contains_key(*a)) {
        return Err(invalid_cursor());
    }
    if key.get(list.index.pk) != Some(&list.partition) {
        return Err(invalid_cursor());
    }
    if let Some(prefix) = &list.item_pk_prefix {
        if !key
            .get(keys::PK)
            .is_some_and(|pk| pk.starts_with(prefix.as_str()))
        {
            return Err(invalid_cursor());
        }
    }
    Ok(key.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

fn key_attributes(index: Index) -> Vec<&'static str> {
    let mut attrs = vec![keys::PK, keys::SK];
    if index.name.is_some() {
        attrs.extend([index.pk, index.sk]);
    }
    attrs
}

fn cursor_key(index: Index, item: &Item) -> Result<BTreeMap<String, String>, StoreError> {
    key_attributes(index)
        .into_iter()
        .map(|attr| match item.get(attr) {
            Some(AttributeValue::S(v)) => Ok((attr.to_owned(), v.clone())),
            _ => {
                tracing::error!(attr, "a listed item lacks a key attribute of its index");
                Err(StoreError::Internal)
            }
        })
        .collect()
}
