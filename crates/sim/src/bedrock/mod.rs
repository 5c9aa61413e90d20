//! Bedrock control plane (REST-JSON): model import jobs and imported models, with the service's
//! input validation, idempotency, quotas, and a job that acts as `bedrock.amazonaws.com`.

mod create;
mod jobs;
mod list;
mod models;
mod run;
mod tags;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, authorize};
use crate::state::State;
use crate::wire::{Service, SimError, SimRequest, SimResult, percent_decode};

use create::create_job;
use jobs::get_job;
use jobs::list_jobs;
use models::delete_model;
use models::get_model;
use models::list_models;

const BEDROCK: &str = "bedrock.amazonaws.com";

fn validation(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

/// `(member, min length, max length, pattern)` of the string members Bedrock validates, as
/// botocore's `bedrock/2023-04-20/service-2.json` gives them (shapes JobName,
/// ImportedModelName, RoleArn, S3Uri, IdempotencyToken, KmsKeyId, TagKey, TagValue).
const CONSTRAINTS: &[(&str, usize, usize, &str)] = &[
    ("jobName", 1, 63, r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"),
    ("importedModelName", 1, 63, r"([0-9a-zA-Z][_-]?)+"),
    (
        "roleArn",
        0,
        2048,
        r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+",
    ),
    (
        "s3Uri",
        1,
        1024,
        r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?",
    ),
    (
        "clientRequestToken",
        1,
        256,
        r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?",
    ),
    (
        "importedModelKmsKeyId",
        1,
        2048,
        r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)",
    ),
    ("key", 1, 128, r"[a-zA-Z0-9\s._:/=+@-]*"),
    ("value", 0, 256, r"[a-zA-Z0-9\s._:/=+@-]*"),
];

/// A `ValidationException` worded as AWS words its input validation: "1 validation error
/// detected: Value 'x' at 'importedModelName' failed to satisfy constraint: Member must
/// satisfy regular expression pattern: ..." (the form of AWS's request validation, e.g.
/// Bedrock's in continuedev/continue issue 1749 and Lambda's in awslabs/aws-transit-vpc issue
/// 32; lengths as "Member must have length less than or equal to N"). The constraint is the
/// member's own, from the service model; Ferry's rule text only for members it does not list.
fn field_error(field: &str, value: &str, e: &ferry_domain::RuleError) -> SimError {
    let member = field.rsplit('.').next().unwrap_or(field);
    let len = value.chars().count();
    let constraint = match CONSTRAINTS.iter().find(|c| c.0 == member) {
        Some((_, _, max, _)) if len > *max => {
            format!("Member must have length less than or equal to {max}")
        }
        Some((_, min, _, _)) if len < *min => {
            format!("Member must have length greater than or equal to {min}")
        }
        Some((_, _, _, pattern)) => {
            format!("Member must satisfy regular expression pattern: {pattern}")
        }
        None => e.to_string(),
    };
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
    ))
}

fn not_found(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", msg)
}

fn check_action(state: &State, caller: &Caller, action: &str, resource: String) -> SimResult<()> {
    let rctx = RequestContext::new(caller.principal.clone(), action, resource, caller.account());
    authorize(
        state,
        Service::Bedrock,
        &rctx,
        None,
        ResourcePolicyMode::Optional,
    )
}

pub(crate) async fn handle(ctx: &Arc<Ctx>, req: &SimRequest, caller: &Caller) -> SimResult {
    let segments: Vec<String> = req
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let op = match (&req.method, seg.as_slice()) {
        (&Method::POST, ["model-import-jobs"]) => "CreateModelImportJob",
        (&Method::GET, ["model-import-jobs"]) => "ListModelImportJobs",
        (&Method::GET, ["model-import-jobs", _]) => "GetModelImportJob",
        (&Method::GET, ["imported-models"]) => "ListImportedModels",
        (&Method::GET, ["imported-models", _]) => "GetImportedModel",
        (&Method::DELETE, ["imported-models", _]) => "DeleteImportedModel",
        (&Method::POST, ["tagResource"]) => "TagResource",
        (&Method::POST, ["untagResource"]) => "UntagResource",
        (&Method::POST, ["listTagsForResource"]) => "ListTagsForResource",
        _ => {
            return Err(SimError::new(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                format!(
                    "ferry-sim does not implement Bedrock {} {}",
                    req.method, req.path
                ),
            ));
        }
    };
    ctx.gate(Service::Bedrock, op).await?;
    let result = match op {
        "CreateModelImportJob" => create_job(ctx, req, caller),
        "GetModelImportJob" => get_job(ctx, caller, seg[1]),
        "ListModelImportJobs" => list_jobs(ctx, req, caller),
        "GetImportedModel" => get_model(ctx, caller, seg[1]),
        "ListImportedModels" => list_models(ctx, req, caller),
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            tags::handle(ctx, req, caller, op)
        }
        _ => delete_model(ctx, caller, seg[1]),
    };
    ctx.faults.after(Service::Bedrock.name(), op).await;
    result
}

fn job_arn_pattern(region: &str, account: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:model-import-job/*")
}
