//! Who may do what to a bucket or object: identity and bucket policies, and the KMS calls S3
//! makes on a caller's behalf.

use axum::http::StatusCode;
use ferry_policy::iam::{Principal, RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, authorize};
use crate::state::{Bucket, State};
use crate::wire::{Service, SimError, SimRequest, SimResult};

use super::bucket_arn;
use super::object_arn;
use super::with_bucket;

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

/// The bucket of an object request, once `caller` is allowed `action` on
/// the object (bucket policy and identity policies).
pub(super) fn authorize_object<'a>(
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

/// Bucket-policy administration is for the bucket owner's principals only.
pub(super) fn authorize_bucket_admin(
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

/// The SSE-KMS key of an upload, after checking the caller may `kms:GenerateDataKey` with it.
pub(super) fn sse_kms_key(
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
