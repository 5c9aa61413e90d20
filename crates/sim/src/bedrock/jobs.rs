//! GetModelImportJob and ListModelImportJobs.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::server::{Caller, Ctx, ok_json};
use crate::state::{Job, State};
use crate::wire::{SimRequest, SimResult, iso8601_millis};

use super::check_action;
use super::job_arn_pattern;
use super::list::list_params;
use super::not_found;
use super::validation;

fn find_job<'a>(state: &'a State, account: &str, id: &str) -> Option<&'a Job> {
    state
        .jobs
        .iter()
        .find(|j| j.account == account && (j.arn == id || j.name == id))
}

/// The status a client is told: the job's own, or, for a running job, the
/// `reported_status` fault (a value the API model does not know yet).
fn shown_status<'a>(ctx: &Ctx, j: &'a Job) -> std::borrow::Cow<'a, str> {
    match ctx.faults.get().reported_status {
        Some(s) if j.status.as_str() == "InProgress" => std::borrow::Cow::Owned(s),
        _ => std::borrow::Cow::Borrowed(j.status.as_str()),
    }
}

fn job_json(ctx: &Ctx, j: &Job) -> Value {
    let mut v = json!({
        "jobArn": j.arn,
        "jobName": j.name,
        "importedModelName": j.model_name,
        "roleArn": j.role_arn,
        "modelDataSource": {"s3DataSource": {"s3Uri": j.s3_uri}},
        "status": shown_status(ctx, j),
        "creationTime": iso8601_millis(j.created),
        "lastModifiedTime": iso8601_millis(j.last_modified),
    });
    if let Some(a) = &j.model_arn {
        v["importedModelArn"] = json!(a);
    }
    if let Some(m) = &j.failure_message {
        v["failureMessage"] = json!(m);
    }
    if let Some(t) = j.end_time {
        v["endTime"] = json!(iso8601_millis(t));
    }
    if let Some(k) = &j.kms_key_arn {
        v["importedModelKmsKeyArn"] = json!(k);
    }
    if let Some(vpc) = &j.vpc_config {
        v["vpcConfig"] = vpc.clone();
    }
    v
}

pub(super) fn get_job(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
    let state = ctx.state();
    let job = find_job(&state, caller.account(), id);
    let resource = job.map_or_else(
        || job_arn_pattern(&ctx.region, caller.account()),
        |j| j.arn.clone(),
    );
    check_action(&state, caller, "bedrock:GetModelImportJob", resource)?;
    let job = job.ok_or_else(|| not_found(format!("The model import job {id} does not exist.")))?;
    Ok(ok_json(&job_json(ctx, job)))
}

pub(super) fn list_jobs(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let p = list_params(req)?;
    let status = req.query_param("statusEquals");
    if let Some(s) = status
        && !["InProgress", "Completed", "Failed"].contains(&s)
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{s}' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [InProgress, Completed, Failed]"
        )));
    }
    let state = ctx.state();
    check_action(
        &state,
        caller,
        "bedrock:ListModelImportJobs",
        "*".to_owned(),
    )?;
    let items: Vec<(OffsetDateTime, Value)> = state
        .jobs
        .iter()
        .filter(|j| j.account == caller.account() && p.keep(j.created, &j.name) && status.is_none_or(|s| s == j.status.as_str()))
        .map(|j| {
            let mut v = json!({"jobArn": j.arn, "jobName": j.name, "status": shown_status(ctx, j), "creationTime": iso8601_millis(j.created), "lastModifiedTime": iso8601_millis(j.last_modified), "importedModelName": j.model_name});
            if let Some(t) = j.end_time {
                v["endTime"] = json!(iso8601_millis(t));
            }
            if let Some(a) = &j.model_arn {
                v["importedModelArn"] = json!(a);
            }
            (j.created, v)
        })
        .collect();
    let (page, next) = p.page(items);
    let mut out = json!({"modelImportJobSummaries": page});
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(ok_json(&out))
}
