//! S3 (REST-XML, path-style): the bucket and object operations of the import chain.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_policy::iam::{Principal, RequestContext, ResourcePolicyMode};
use sha2::{Digest, Sha256};

use crate::server::{Caller, Ctx, authorize, empty};
use crate::state::{Bucket, Object, State, StoredPolicy};
use crate::wire::{
    Service, SimError, SimRequest, SimResult, http_date, iso8601_millis, percent_decode,
    percent_encode, xml_escape,
};

const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

fn no_such_bucket(bucket: &str) -> SimError {
    SimError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist",
    )
    .with_resource(bucket)
}

fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

pub(crate) fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The request context for an S3 action on a bucket owned by `owner`.
pub(crate) fn s3_context(
    principal: Principal,
    action: &str,
    resource: String,
    owner: &str,
) -> RequestContext {
    RequestContext::new(principal, action, resource, owner).with_key("s3:ResourceAccount", owner)
}

/// Authorizes an S3 action against the caller's identity policies and the bucket policy.
pub(crate) fn authorize_s3(state: &State, bucket: &Bucket, rctx: &RequestContext) -> SimResult<()> {
    authorize(
        state,
        Service::S3,
        rctx,
        bucket.policy.as_ref().map(|p| &p.doc),
        ResourcePolicyMode::Optional,
    )
}

/// `kms:Decrypt` (or another KMS action) by `principal` on `key_arn` on behalf of S3.
pub(crate) fn authorize_kms_via_s3(
    state: &State,
    principal: &Principal,
    action: &str,
    key_arn: &str,
    region: &str,
) -> SimResult<()> {
    let Some(key) = state.keys.values().find(|k| k.arn == key_arn) else {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "KMS.NotFoundException",
            format!("Key '{key_arn}' does not exist"),
        ));
    };
    let mut rctx = RequestContext::new(
        principal.clone(),
        action,
        key.arn.clone(),
        key.account.clone(),
    )
    .with_key("kms:ViaService", format!("s3.{region}.amazonaws.com"));
    if let Some(acct) = principal.account() {
        rctx = rctx.with_key("kms:CallerAccount", acct);
    }
    authorize(
        state,
        Service::S3,
        &rctx,
        Some(&key.policy.doc),
        ResourcePolicyMode::Required,
    )
}

fn split_path(path: &str) -> (String, Option<String>) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((b, k)) if !k.is_empty() => (percent_decode(b), Some(percent_decode(k))),
        Some((b, _)) => (percent_decode(b), None),
        None => (percent_decode(trimmed), None),
    }
}

fn operation(req: &SimRequest, key: Option<&String>) -> &'static str {
    match (&req.method, key) {
        (&Method::PUT, None) if req.has_query("policy") => "PutBucketPolicy",
        (&Method::GET, None) if req.has_query("policy") => "GetBucketPolicy",
        (&Method::DELETE, None) if req.has_query("policy") => "DeleteBucketPolicy",
        (&Method::PUT, None) => "CreateBucket",
        (&Method::GET, None) if req.query_param("list-type") == Some("2") => "ListObjectsV2",
        (&Method::GET, None) if req.has_query("location") => "GetBucketLocation",
        (&Method::HEAD, None) => "HeadBucket",
        (&Method::POST, Some(_)) if req.has_query("uploads") => "CreateMultipartUpload",
        (&Method::PUT, Some(_)) if req.has_query("uploadId") => "UploadPart",
        (&Method::POST, Some(_)) if req.has_query("uploadId") => "CompleteMultipartUpload",
        (&Method::DELETE, Some(_)) if req.has_query("uploadId") => "AbortMultipartUpload",
        (&Method::PUT, Some(_)) => "PutObject",
        (&Method::GET, Some(_)) => "GetObject",
        (&Method::HEAD, Some(_)) => "HeadObject",
        (&Method::DELETE, Some(_)) => "DeleteObject",
        _ => "Unsupported",
    }
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let (bucket, key) = split_path(&req.path);
    let op = operation(req, key.as_ref());
    ctx.gate(Service::S3, op).await?;
    if bucket.is_empty() {
        return Err(SimError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "ListBuckets is not implemented by ferry-sim",
        ));
    }
    let key = key.unwrap_or_default();
    match op {
        "CreateBucket" => create_bucket(ctx, caller, &bucket),
        "HeadBucket" => head_bucket(ctx, caller, &bucket),
        "GetBucketLocation" => get_bucket_location(ctx, caller, &bucket),
        "PutBucketPolicy" => put_bucket_policy(ctx, req, caller, &bucket),
        "GetBucketPolicy" => get_bucket_policy(ctx, caller, &bucket),
        "DeleteBucketPolicy" => delete_bucket_policy(ctx, caller, &bucket),
        "ListObjectsV2" => list_objects_v2(ctx, req, caller, &bucket),
        "PutObject" => put_object(ctx, req, caller, &bucket, &key),
        "CreateMultipartUpload" => create_multipart_upload(ctx, req, caller, &bucket, &key),
        "UploadPart" => upload_part(ctx, req, caller, &bucket, &key),
        "CompleteMultipartUpload" => complete_multipart_upload(ctx, req, caller, &bucket, &key),
        "AbortMultipartUpload" => abort_multipart_upload(ctx, req, caller, &bucket, &key),
        "GetObject" => get_object(ctx, req, caller, &bucket, &key, false),
        "HeadObject" => get_object(ctx, req, caller, &bucket, &key, true),
        "DeleteObject" => delete_object(ctx, caller, &bucket, &key),
        _ => Err(SimError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "{} {} is not implemented by ferry-sim",
                req.method, req.path
            ),
        )),
    }
}

fn create_bucket(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let mut state = ctx.state();
    let owner = caller.account().to_owned();
    let rctx = RequestContext::new(
        caller.principal.clone(),
        "s3:CreateBucket",
        bucket_arn(bucket),
        owner.clone(),
    );
    authorize(
        &state,
        Service::S3,
        &rctx,
        None,
        ResourcePolicyMode::Optional,
    )?;
    if let Err(e) = ferry_domain::bedrock::check_bucket(bucket) {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            format!("The specified bucket is not valid: {e}"),
        ));
    }
    if let Some(existing) = state.buckets.get(bucket) {
        return Err(if existing.account == owner {
            SimError::new(StatusCode::CONFLICT, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
        } else {
            SimError::new(StatusCode::CONFLICT, "BucketAlreadyExists", "The requested bucket name is not available.")
        }
        .with_resource(bucket));
    }
    state.buckets.insert(
        bucket.to_owned(),
        Bucket {
            account: owner,
            policy: None,
            objects: Default::default(),
        },
    );
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = format!("/{bucket}").parse() {
        resp.headers_mut().insert("location", v);
    }
    Ok(resp)
}

/// The bucket of an object request, once `caller` is allowed `action` on
/// the object (bucket policy and identity policies).
fn authorize_object<'a>(
    state: &'a State,
    caller: &Caller,
    bucket: &str,
    key: &str,
    action: &str,
) -> SimResult<&'a Bucket> {
    let b = with_bucket(state, bucket)?;
    let rctx = s3_context(
        caller.principal.clone(),
        action,
        object_arn(bucket, key),
        &b.account,
    );
    authorize_s3(state, b, &rctx)?;
    Ok(b)
}

fn with_bucket<'a>(state: &'a State, bucket: &str) -> SimResult<&'a Bucket> {
    state
        .buckets
        .get(bucket)
        .ok_or_else(|| no_such_bucket(bucket))
}

fn head_bucket(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_s3(
        &state,
        b,
        &s3_context(
            caller.principal.clone(),
            "s3:ListBucket",
            bucket_arn(bucket),
            &b.account,
        ),
    )?;
    let mut resp = empty(StatusCode::OK);
    if let Ok(v) = ctx.region.parse() {
        resp.headers_mut().insert("x-amz-bucket-region", v);
    }
    Ok(resp)
}

fn get_bucket_location(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_s3(
        &state,
        b,
        &s3_context(
            caller.principal.clone(),
            "s3:GetBucketLocation",
            bucket_arn(bucket),
            &b.account,
        ),
    )?;
    let loc = if ctx.region == "us-east-1" {
        String::new()
    } else {
        ctx.region.clone()
    };
    Ok(xml(
        StatusCode::OK,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{NS}\">{loc}</LocationConstraint>"
        ),
    ))
}

fn put_bucket_policy(ctx: &Ctx, req: &SimRequest, caller: &Caller, bucket: &str) -> SimResult {
    let mut state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_bucket_admin(&state, b, caller, "s3:PutBucketPolicy", bucket)?;
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let policy = StoredPolicy::parse(&text).map_err(|e| {
        SimError::new(
            StatusCode::BAD_REQUEST,
            "MalformedPolicy",
            format!("Policies must be valid JSON and the first byte must be '{{': {e}"),
        )
    })?;
    if policy
        .doc
        .statements
        .iter()
        .any(|s| s.principal.is_none() && s.not_principal.is_none())
    {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "MalformedPolicy",
            "Missing required field Principal",
        ));
    }
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.policy = Some(policy);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Bucket-policy administration is for the bucket owner's principals only.
fn authorize_bucket_admin(
    state: &State,
    b: &Bucket,
    caller: &Caller,
    action: &str,
    bucket: &str,
) -> SimResult<()> {
    let rctx = s3_context(
        caller.principal.clone(),
        action,
        bucket_arn(bucket),
        &b.account,
    );
    if caller.account() != b.account {
        return Err(crate::wire::access_denied(
            Service::S3,
            format!(
                "User: {} is not authorized to perform: {action} on resource: {} because the bucket is owned by another account",
                caller.principal.arn(),
                bucket_arn(bucket)
            ),
        ));
    }
    authorize_s3(state, b, &rctx)
}

fn get_bucket_policy(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_bucket_admin(&state, b, caller, "s3:GetBucketPolicy", bucket)?;
    let Some(p) = &b.policy else {
        return Err(SimError::new(
            StatusCode::NOT_FOUND,
            "NoSuchBucketPolicy",
            "The bucket policy does not exist",
        )
        .with_resource(bucket));
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(p.text.clone()))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR)))
}

fn delete_bucket_policy(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let mut state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_bucket_admin(&state, b, caller, "s3:DeleteBucketPolicy", bucket)?;
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.policy = None;
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

fn xml(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}

/// What a continuation token resumes after.
fn decode_token(token: &str) -> Option<(bool, String)> {
    let raw = B64.decode(token).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (kind, rest) = s.split_at_checked(2)?;
    match kind {
        "K:" => Some((false, rest.to_owned())),
        "P:" => Some((true, rest.to_owned())),
        _ => None,
    }
}

fn list_objects_v2(ctx: &Ctx, req: &SimRequest, caller: &Caller, bucket: &str) -> SimResult {
    let state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    let prefix = req.query_param("prefix").unwrap_or_default().to_owned();
    let delimiter = req
        .query_param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let max_keys: usize = match req.query_param("max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "Provided max-keys not an integer or within integer range",
                )
            })?
            .min(1000),
    };
    let url_encoding = req.query_param("encoding-type") == Some("url");
    let mut rctx = s3_context(
        caller.principal.clone(),
        "s3:ListBucket",
        bucket_arn(bucket),
        &b.account,
    )
    .with_key("s3:prefix", prefix.clone())
    .with_key("s3:max-keys", max_keys.to_string());
    if let Some(d) = &delimiter {
        rctx = rctx.with_key("s3:delimiter", d.clone());
    }
    authorize_s3(&state, b, &rctx)?;

    let token = req.query_param("continuation-token");
    let resume = match token {
        Some(t) => Some(decode_token(t).ok_or_else(|| {
            SimError::new(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                "The continuation token provided is incorrect",
            )
        })?),
        None => req
            .query_param("start-after")
            .map(|s| (false, s.to_owned())),
    };
    let enc = |s: &str| {
        if url_encoding {
            percent_encode(s).replace("%2F", "/")
        } else {
            s.to_owned()
        }
    };

    let mut contents = String::new();
    let mut prefixes = String::new();
    let mut count = 0usize;
    let mut last: Option<(bool, String)> = None;
    let mut truncated = false;
    let mut last_prefix: Option<String> = None;
    for (k, obj) in b.objects.range(prefix.clone()..) {
        if !k.starts_with(&prefix) {
            break;
        }
        if let Some((is_prefix, after)) = &resume
            && (k.as_str() <= after.as_str() || (*is_prefix && k.starts_with(after.as_str())))
        {
            continue;
        }
        let common = delimiter.as_ref().and_then(|d| {
            k[prefix.len()..]
                .find(d.as_str())
                .map(|i| k[..prefix.len() + i + d.len()].to_owned())
        });
        if let Some(cp) = &common
            && last_prefix.as_deref() == Some(cp.as_str())
        {
            continue;
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        count += 1;
        match common {
            Some(cp) => {
                prefixes.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    xml_escape(&enc(&cp))
                ));
                last = Some((true, cp.clone()));
                last_prefix = Some(cp);
            }
            None => {
                contents.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    xml_escape(&enc(k)),
                    iso8601_millis(obj.last_modified),
                    obj.etag,
                    obj.data.len()
                ));
                last = Some((false, k.clone()));
            }
        }
    }
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult xmlns=\"{NS}\"><Name>{}</Name><Prefix>{}</Prefix>",
        xml_escape(bucket),
        xml_escape(&enc(&prefix))
    );
    if let Some(t) = token {
        body.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            xml_escape(t)
        ));
    }
    if let Some(sa) = req.query_param("start-after") {
        body.push_str(&format!(
            "<StartAfter>{}</StartAfter>",
            xml_escape(&enc(sa))
        ));
    }
    if truncated && let Some((is_prefix, after)) = &last {
        let t = B64.encode(format!("{}{after}", if *is_prefix { "P:" } else { "K:" }));
        body.push_str(&format!(
            "<NextContinuationToken>{t}</NextContinuationToken>"
        ));
    }
    body.push_str(&format!(
        "<KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"
    ));
    if let Some(d) = &delimiter {
        body.push_str(&format!("<Delimiter>{}</Delimiter>", xml_escape(&enc(d))));
    }
    if url_encoding {
        body.push_str("<EncodingType>url</EncodingType>");
    }
    body.push_str(&format!(
        "<IsTruncated>{truncated}</IsTruncated>{contents}{prefixes}</ListBucketResult>"
    ));
    Ok(xml(StatusCode::OK, body))
}

/// Trailing headers of an `aws-chunked` body, lower-cased names.
pub(crate) type Trailers = Vec<(String, String)>;

/// Decodes an `aws-chunked` body; returns the payload and the trailing headers.
pub(crate) fn decode_aws_chunked(body: &[u8]) -> Result<(Vec<u8>, Trailers), String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let line = |pos: &mut usize| -> Result<String, String> {
        let rest = &body[*pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("aws-chunked: missing CRLF")?;
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        *pos += end + 2;
        Ok(s)
    };
    loop {
        let header = line(&mut pos)?;
        let size_hex = header.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("aws-chunked: bad chunk size {size_hex:?}"))?;
        if size == 0 {
            break;
        }
        let end = pos
            .checked_add(size)
            .filter(|e| *e <= body.len())
            .ok_or("aws-chunked: chunk past end of body")?;
        out.extend_from_slice(&body[pos..end]);
        pos = end;
        if body.get(pos..pos + 2) != Some(b"\r\n".as_slice()) {
            return Err("aws-chunked: chunk not followed by CRLF".to_owned());
        }
        pos += 2;
    }
    let mut trailers = Vec::new();
    while pos < body.len() {
        let l = line(&mut pos)?;
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            trailers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Ok((out, trailers))
}

fn checksum(algorithm: &str, data: &[u8]) -> Option<String> {
    Some(match algorithm {
        "crc32" => B64.encode(crc32fast::hash(data).to_be_bytes()),
        "crc32c" => B64.encode(crc32c::crc32c(data).to_be_bytes()),
        "sha256" => B64.encode(Sha256::digest(data)),
        "sha1" => B64.encode(sha1::Sha1::digest(data)),
        _ => return None,
    })
}

/// The payload of a PutObject/UploadPart: `aws-chunked` decoded, flexible checksums (header
/// or trailer) verified.
fn decoded_body(req: &SimRequest) -> SimResult<Vec<u8>> {
    let chunked = req
        .header("content-encoding")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || req
            .header("x-amz-content-sha256")
            .is_some_and(|h| h.starts_with("STREAMING-"));
    tracing::debug!(path = %req.path, chunked, "object upload");
    let (data, trailers) = if chunked {
        decode_aws_chunked(&req.body)
            .map_err(|e| SimError::new(StatusCode::BAD_REQUEST, "IncompleteBody", e))?
    } else {
        (req.body.clone(), Vec::new())
    };
    if let Some(len) = req
        .header("x-amz-decoded-content-length")
        .and_then(|v| v.parse::<usize>().ok())
        && len != data.len()
    {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The request body terminated unexpectedly",
        ));
    }
    for algorithm in ["crc32", "crc32c", "sha256", "sha1", "crc64nvme"] {
        let name = format!("x-amz-checksum-{algorithm}");
        let claimed = req.header(&name).map(str::to_owned).or_else(|| {
            trailers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        });
        if let Some(claimed) = claimed
            && let Some(actual) = checksum(algorithm, &data)
            && actual != claimed
        {
            return Err(SimError::new(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    algorithm.to_ascii_uppercase()
                ),
            ));
        }
    }
    Ok(data)
}

/// The SSE-KMS key of an upload, after checking the caller may `kms:GenerateDataKey` with it.
fn sse_kms_key(
    ctx: &Ctx,
    state: &State,
    req: &SimRequest,
    caller: &Caller,
    bucket_account: &str,
) -> SimResult<Option<String>> {
    match req.header("x-amz-server-side-encryption") {
        None | Some("AES256") => Ok(None),
        Some("aws:kms") => {
            let reference = req.header("x-amz-server-side-encryption-aws-kms-key-id").ok_or_else(|| {
                SimError::new(StatusCode::BAD_REQUEST, "InvalidArgument", "ferry-sim needs x-amz-server-side-encryption-aws-kms-key-id with aws:kms (no AWS managed aws/s3 key)")
            })?;
            let key_arn = state
                .resolve_key(bucket_account, reference)
                .or_else(|| state.resolve_key(caller.account(), reference))
                .map(|k| k.arn.clone())
                .ok_or_else(|| {
                    SimError::new(
                        StatusCode::BAD_REQUEST,
                        "KMS.NotFoundException",
                        format!("Invalid keyId {reference}"),
                    )
                })?;
            authorize_kms_via_s3(
                state,
                &caller.principal,
                "kms:GenerateDataKey",
                &key_arn,
                &ctx.region,
            )?;
            Ok(Some(key_arn))
        }
        Some(other) => Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            format!("Unsupported server side encryption {other}"),
        )),
    }
}

fn stored_response(etag: &str, kms_key_arn: Option<&str>) -> Response {
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

fn put_object(ctx: &Ctx, req: &SimRequest, caller: &Caller, bucket: &str, key: &str) -> SimResult {
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

fn no_such_upload(id: &str) -> SimError {
    SimError::new(StatusCode::NOT_FOUND, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.").with_resource(id)
}

fn create_multipart_upload(
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

fn upload_part(ctx: &Ctx, req: &SimRequest, caller: &Caller, bucket: &str, key: &str) -> SimResult {
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

fn complete_multipart_upload(
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

fn abort_multipart_upload(
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

/// Parses a single `Range: bytes=...` against `len`; `Ok(None)` means the whole object.
fn parse_range(header: Option<&str>, len: usize) -> Result<Option<(usize, usize)>, ()> {
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

fn get_object(
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

fn delete_object(ctx: &Ctx, caller: &Caller, bucket: &str, key: &str) -> SimResult {
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
    fn decodes_unsigned_chunks_with_trailer() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (data, trailers) = decode_aws_chunked(body).expect("decodes");
        assert_eq!(data, b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        assert_eq!(
            checksum("crc32", b"hello world").as_deref(),
            Some("DUoRhQ==")
        );
    }

    #[test]
    fn decodes_signed_chunks() {
        let body = b"3;chunk-signature=abc\r\nabc\r\n0;chunk-signature=def\r\n\r\n";
        let (data, _) = decode_aws_chunked(body).expect("decodes");
        assert_eq!(data, b"abc");
        assert!(decode_aws_chunked(b"ff\r\nshort\r\n").is_err());
    }

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
