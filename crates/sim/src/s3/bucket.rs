//! Bucket operations: create, head, location, bucket policy, and listing its objects.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, authorize, empty};
use crate::state::{Bucket, StoredPolicy};
use crate::wire::{
    Service, SimError, SimRequest, SimResult, iso8601_millis, percent_encode, xml_escape,
};

use super::NS;
use super::auth::authorize_bucket_admin;
use super::auth::authorize_s3;
use super::auth::s3_context;
use super::bucket_arn;
use super::with_bucket;
use super::xml;

pub(super) fn create_bucket(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
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

pub(super) fn head_bucket(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
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

pub(super) fn get_bucket_location(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
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

pub(super) fn put_bucket_policy(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
) -> SimResult {
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

pub(super) fn get_bucket_policy(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
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

pub(super) fn delete_bucket_policy(ctx: &Ctx, caller: &Caller, bucket: &str) -> SimResult {
    let mut state = ctx.state();
    let b = with_bucket(&state, bucket)?;
    authorize_bucket_admin(&state, b, caller, "s3:DeleteBucketPolicy", bucket)?;
    if let Some(b) = state.buckets.get_mut(bucket) {
        b.policy = None;
    }
    Ok(empty(StatusCode::NO_CONTENT))
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

pub(super) fn list_objects_v2(
    ctx: &Ctx,
    req: &SimRequest,
    caller: &Caller,
    bucket: &str,
) -> SimResult {
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
