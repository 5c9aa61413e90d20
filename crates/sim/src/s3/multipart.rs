//! Multipart uploads: create, upload a part, complete and abort.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};

use crate::server::{Caller, Ctx, empty};
use crate::state::Object;
use crate::wire::{SimError, SimRequest, SimResult, xml_escape};

use super::NS;
use super::auth::authorize_object;
use super::auth::sse_kms_key;
use super::body::decoded_body;
use super::object::stored_response;
use super::xml;

fn no_such_upload(id: &str) -> SimError {
    SimError::new(StatusCode::NOT_FOUND, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.").with_resource(id)
}

pub(super) fn create_multipart_upload(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> SimResult {
    let mut state = ctx.state();
    let b = authorize_object(&state, caller, bucket, key, "s3:PutObject")?;
    let kms_key_arn = sse_kms_key(ctx, &state, req, caller, &b.account.clone())?;
    let id = crate::wire::random_id(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        64,
    );
    state.uploads.insert(
        id.clone(),
        crate::state::Upload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            content_type: req
                .header("content-type")
                .unwrap_or("binary/octet-stream")
                .to_owned(),
            kms_key_arn: kms_key_arn.clone(),
            parts: Default::default(),
        },
    );
    let mut resp = xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult xmlns=\"{NS}\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
            xml_escape(bucket),
            xml_escape(key)
        ),
    );
    if let Some(k) = kms_key_arn
        && let (Ok(a), Ok(b)) = ("aws:kms".parse(), k.parse())
    {
        resp.headers_mut().insert("x-amz-server-side-encryption", a);
        resp.headers_mut()
            .insert("x-amz-server-side-encryption-aws-kms-key-id", b);
    }
    Ok(resp)
}

pub(super) fn upload_part(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> SimResult {
    let id = req.query_param("uploadId").unwrap_or_default().to_owned();
    let number: u32 = req
        .query_param("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            SimError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let data = decoded_body(req)?;
    let mut state = ctx.state();
    authorize_object(&state, caller, bucket, key, "s3:PutObject")?;
    let upload = state
        .uploads
        .get_mut(&id)
        .filter(|u| u.bucket == bucket && u.key == key)
        .ok_or_else(|| no_such_upload(&id))?;
    let etag = hex::encode(&Sha256::digest(&data)[..16]);
    upload.parts.insert(number, (etag.clone(), data));
    let kms = upload.kms_key_arn.clone();
    Ok(stored_response(&etag, kms.as_deref()))
}

pub(super) fn complete_multipart_upload(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> SimResult {
    let id = req.query_param("uploadId").unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&req.body).into_owned();
    let numbers: Vec<u32> = body
        .split("<PartNumber>")
        .skip(1)
        .filter_map(|s| {
            s.split("</PartNumber>")
                .next()
                .and_then(|n| n.trim().parse().ok())
        })
        .collect();
    let mut state = ctx.state();
    authorize_object(&state, caller, bucket, key, "s3:PutObject")?;
    let upload = state
        .uploads
        .get(&id)
        .filter(|u| u.bucket == bucket && u.key == key)
        .ok_or_else(|| no_such_upload(&id))?;
    if numbers.is_empty() || numbers.windows(2).any(|w| w[0] >= w[1]) {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
        ));
    }
    let mut data = Vec::new();
    let mut digests = Vec::new();
    for n in &numbers {
        let (etag, part) = upload.parts.get(n).ok_or_else(|| {
            SimError::new(
                StatusCode::BAD_REQUEST,
                "InvalidPart",
                format!("Part {n} was not uploaded"),
            )
        })?;
        data.extend_from_slice(part);
        digests.extend_from_slice(etag.as_bytes());
    }
    let etag = format!(
        "{}-{}",
        hex::encode(&Sha256::digest(&digests)[..16]),
        numbers.len()
    );
    let obj = Object {
        etag: etag.clone(),
        last_modified: ctx.clock.now(),
        content_type: upload.content_type.clone(),
        kms_key_arn: upload.kms_key_arn.clone(),
        data,
    };
    state.uploads.remove(&id);
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.objects.insert(key.to_owned(), obj);
    }
    Ok(xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult xmlns=\"{NS}\"><Location>/{0}/{1}</Location><Bucket>{0}</Bucket><Key>{1}</Key><ETag>&quot;{etag}&quot;</ETag></CompleteMultipartUploadResult>",
            xml_escape(bucket),
            xml_escape(key)
        ),
    ))
}

pub(super) fn abort_multipart_upload(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
    key: &str,
) -> SimResult {
    let id = req.query_param("uploadId").unwrap_or_default().to_owned();
    let mut state = ctx.state();
    authorize_object(&state, caller, bucket, key, "s3:AbortMultipartUpload")?;
    state
        .uploads
        .remove(&id)
        .filter(|u| u.bucket == bucket && u.key == key)
        .ok_or_else(|| no_such_upload(&id))?;
    Ok(empty(StatusCode::NO_CONTENT))
}
