//! Bedrock control plane (REST-JSON): model import jobs and imported models, with the service's
//! input validation, idempotency, quotas, and a job that acts as `bedrock.amazonaws.com`.

mod create;
mod jobs;
mod list;
mod models;
mod run;

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

fn field_error(field: &str, value: &str, e: &ferry_domain::RuleError) -> SimError {
    validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {e}"
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
        _ => delete_model(ctx, caller, seg[1]),
    };
    ctx.faults.after(Service::Bedrock.name(), op).await;
    result
}

fn job_arn_pattern(region: &str, account: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:model-import-job/*")
}
