//! Object operations: put, get (with `Range`), head and delete.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::server::{Caller, Ctx, empty};
use crate::state::Object;
use crate::wire::{SimError, SimRequest, SimResult, http_date};

use super::auth::authorize_kms_via_s3;
use super::auth::authorize_object;
use super::auth::sse_kms_key;
use super::body::decoded_body;

pub(super) fn stored_response(etag: &str, kms_key_arn: Option<&str>) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::OK)
        .header("etag", format!("\"{etag}\""));
    if let Some(k) = kms_key_arn {
        builder = builder
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-server-side-encryption-aws-kms-key-id", k);
    }
    builder
        .body(Body::empty())
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

pub(super) fn put_object(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> SimResult {
    let data = decoded_body(req)?;
    let mut state = ctx.state();
    let b = authorize_object(&state, caller, bucket, key, "s3:PutObject")?;
    let kms_key_arn = sse_kms_key(ctx, &state, req, caller, &b.account.clone())?;
    let etag = hex::encode(&Sha256::digest(&data)[..16]);
    let obj = Object {
        etag: etag.clone(),
        last_modified: ctx.clock.now(),
        content_type: req
            .header("content-type")
            .unwrap_or("binary/octet-stream")
            .to_owned(),
        kms_key_arn: kms_key_arn.clone(),
        data,
    };
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.objects.insert(key.to_owned(), obj);
    }
    Ok(stored_response(&etag, kms_key_arn.as_deref()))
}

/// Parses a single `Range: bytes=...` against `len`; `Ok(None)` means the whole object.
pub(super) fn parse_range(header: Option<&str>, len: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(h) = header else { return Ok(None) };
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.checked_sub(1).ok_or(())?)
        }
        (s, "") => (s.parse().map_err(|_| ())?, len.checked_sub(1).ok_or(())?),
        (s, e) => {
            let s: usize = s.parse().map_err(|_| ())?;
            let e: usize = e.parse().map_err(|_| ())?;
            if e < s {
                return Ok(None);
            }
            (s, e.min(len.saturating_sub(1)))
        }
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

pub(super) fn get_object(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
    head: bool,
) -> SimResult {
    let state = ctx.state();
    let b = authorize_object(&state, caller, bucket, key, "s3:GetObject")?;
    let Some(obj) = b.objects.get(key) else {
        return Err(if head {
            SimError::new(StatusCode::NOT_FOUND, "NotFound", "Not Found")
        } else {
            SimError::new(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                "The specified key does not exist.",
            )
            .with_resource(key)
        });
    };
    if let Some(k) = &obj.kms_key_arn {
        authorize_kms_via_s3(&state, &caller.principal, "kms:Decrypt", k, &ctx.region)?;
    }
    let len = obj.data.len();
    let range = parse_range(req.header("range"), len).map_err(|()| {
        SimError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidRange",
            "The requested range is not satisfiable",
        )
    })?;
    let mut builder = Response::builder()
        .header("etag", format!("\"{}\"", obj.etag))
        .header("last-modified", http_date(obj.last_modified))
        .header("content-type", obj.content_type.clone())
        .header("accept-ranges", "bytes");
    if let Some(k) = &obj.kms_key_arn {
        builder = builder
            .header("x-amz-server-side-encryption", "aws:kms")
            .header("x-amz-server-side-encryption-aws-kms-key-id", k.clone());
    }
    let (status, slice) = match range {
        Some((s, e)) => {
            builder = builder.header("content-range", format!("bytes {s}-{e}/{len}"));
            (StatusCode::PARTIAL_CONTENT, &obj.data[s..=e])
        }
        None => (StatusCode::OK, &obj.data[..]),
    };
    builder = builder.status(status).header("content-length", slice.len());
    let body = if head {
        Body::empty()
    } else {
        Body::from(slice.to_vec())
    };
    Ok(builder
        .body(body)
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR)))
}

pub(super) fn delete_object(ctx: &Ctx, caller: &Caller, bucket: &str, key: &str) -> SimResult {
    let mut state = ctx.state();
    authorize_object(&state, caller, bucket, key, "s3:DeleteObject")?;
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.objects.remove(key);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-7"), 100), Ok(Some((0, 7))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Ok(Some((90, 99))));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Ok(Some((50, 99))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Err(()));
        assert_eq!(parse_range(None, 100), Ok(None));
    }
}
