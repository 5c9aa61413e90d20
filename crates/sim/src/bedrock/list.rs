//! The list parameters the List* operations share: filters, sort and pagination.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::wire::{SimRequest, SimResult};

use super::validation;

/// Common list parameters (filters, sort, pagination).
pub(super) struct ListParams {
    pub(super) after: Option<OffsetDateTime>,
    pub(super) before: Option<OffsetDateTime>,
    pub(super) name_contains: Option<String>,
    pub(super) max: usize,
    pub(super) offset: usize,
    pub(super) ascending: bool,
}

pub(super) fn list_params(req: &SimRequest) -> SimResult<ListParams> {
    let time = |name: &str| -> SimResult<Option<OffsetDateTime>> {
        req.query_param(name)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339)
                    .map_err(|_| validation(format!("Invalid {name}: {v}")))
            })
            .transpose()
    };
    let max = match req.query_param("maxResults") {
        None => 1000,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
    };
    let offset = match req.query_param("nextToken") {
        None => 0,
        Some(t) => B64
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| validation("Invalid nextToken"))?,
    };
    if let Some(s) = req.query_param("sortBy")
        && s != "CreationTime"
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{s}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [CreationTime]"
        )));
    }
    let ascending = match req.query_param("sortOrder") {
        None | Some("Descending") => false,
        Some("Ascending") => true,
        Some(o) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{o}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"
            )));
        }
    };
    Ok(ListParams {
        after: time("creationTimeAfter")?,
        before: time("creationTimeBefore")?,
        name_contains: req.query_param("nameContains").map(str::to_owned),
        max,
        offset,
        ascending,
    })
}

impl ListParams {
    pub(super) fn keep(&self, created: OffsetDateTime, name: &str) -> bool {
        self.after.is_none_or(|a| created > a)
            && self.before.is_none_or(|b| created < b)
            && self
                .name_contains
                .as_deref()
                .is_none_or(|n| name.contains(n))
    }

    /// Sorts, pages, and returns the page plus the next token.
    pub(super) fn page<T: Clone>(
        &self,
        mut items: Vec<(OffsetDateTime, T)>,
    ) -> (Vec<T>, Option<String>) {
        items.sort_by_key(|(t, _)| *t);
        if !self.ascending {
            items.reverse();
        }
        let end = (self.offset + self.max).min(items.len());
        let page = items
            .get(self.offset..end)
            .map(|s| s.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default();
        let next = (end < items.len()).then(|| B64.encode(format!("offset:{end}")));
        (page, next)
    }
}
