//! S3 (REST-XML, path-style): the bucket and object operations of the import chain.

mod auth;
mod body;
mod bucket;
mod multipart;
mod object;

pub(crate) use auth::{authorize_kms_via_s3, authorize_s3, s3_context};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::server::{Caller, Ctx, empty};
use crate::state::{Bucket, State};
use crate::wire::{Service, SimError, SimRequest, SimResult, percent_decode};

use bucket::create_bucket;
use bucket::delete_bucket_policy;
use bucket::get_bucket_location;
use bucket::get_bucket_policy;
use bucket::head_bucket;
use bucket::list_objects_v2;
use bucket::put_bucket_policy;
use multipart::abort_multipart_upload;
use multipart::complete_multipart_upload;
use multipart::create_multipart_upload;
use multipart::upload_part;
use object::delete_object;
use object::get_object;
use object::put_object;

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

fn with_bucket<'a>(state: &'a State, bucket: &str) -> SimResult<&'a Bucket> {
    state
        .buckets
        .get(bucket)
        .ok_or_else(|| no_such_bucket(bucket))
}

fn xml(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap_or_else(|_| empty(StatusCode::INTERNAL_SERVER_ERROR))
}
