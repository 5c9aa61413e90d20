//! CreateModelImportJob: Bedrock's input validation, `iam:PassRole`, idempotency by client
//! request token, name conflicts and quotas.

use std::sync::Arc;

use axum::http::StatusCode;
use ferry_domain::aws::{KmsKeyRef, RoleArn};
use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName, JobName, S3Uri, Tag};
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::server::{Caller, Ctx, authorize};
use crate::state::{Job, JobStatus};
use crate::wire::{
    LOWER_ALNUM, Service, SimError, SimRequest, SimResult, json_response, random_id,
};

use super::BEDROCK;
use super::check_action;
use super::field_error;
use super::job_arn_pattern;
use super::run::run_job;
use super::validation;

/// Bedrock checks the execution role when the job is created, not only when it runs: a role it
/// cannot assume (missing, or a trust policy that does not let `bedrock.amazonaws.com` in for
/// this account and job) is `ValidationException` "The provided role ARN is invalid." at once
/// (the Bedrock API reference's CreateModelImportJob errors: ValidationException, "input fails
/// to satisfy the constraints specified by Amazon Bedrock"). Right after the role or its
/// policies change, IAM has not propagated the change yet (IAM user guide, "Troubleshooting
/// IAM", changes not immediately visible): with the `iam_propagation_ms` fault the same answer
/// comes for that long, then the same call works.
fn role_usable(
    state: &mut crate::state::State,
    now: time::OffsetDateTime,
    faults: &crate::faults::FaultConfig,
    role_arn: &str,
    account: &str,
    job_arn: &str,
) -> SimResult<()> {
    let invalid = || validation("The provided role ARN is invalid.");
    let window =
        time::Duration::milliseconds(i64::try_from(faults.iam_propagation_ms).unwrap_or(i64::MAX));
    if state.iam_propagating(role_arn, now, window) {
        return Err(invalid());
    }
    let service = ferry_policy::iam::Principal::Service(BEDROCK.to_owned());
    let extra = [
        ("aws:SourceAccount", account.to_owned()),
        ("aws:SourceArn", job_arn.to_owned()),
    ];
    let session = crate::sts::assume(
        state,
        now,
        &service,
        role_arn,
        "bedrock-role-check",
        900,
        &extra,
    )
    .map_err(|_| invalid())?;
    state.credentials.remove(&session.access_key_id);
    Ok(())
}

pub(super) fn create_job(ctx: &Arc<Ctx>, req: &SimRequest, caller: &Caller) -> SimResult {
    let body: Value = serde_json::from_slice(&req.body)
        .map_err(|e| validation(format!("Malformed request body: {e}")))?;
    let account = caller.account().to_owned();
    let region = ctx.region.clone();
    let s = |name: &str| body.get(name).and_then(Value::as_str);
    let required = |name: &str| {
        s(name).ok_or_else(|| validation(format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null")))
    };

    {
        let state = ctx.state();
        check_action(
            &state,
            caller,
            "bedrock:CreateModelImportJob",
            job_arn_pattern(&region, &account),
        )?;
    }

    let arn = format!(
        "arn:aws:bedrock:{region}:{account}:model-import-job/{}",
        random_id(LOWER_ALNUM, 12)
    );
    // Custom Model Import runs only in some Regions (the Bedrock user guide's import-model
    // page; `ferry_domain::bedrock::CUSTOM_MODEL_IMPORT_REGIONS`). AWS's exact answer elsewhere
    // is not documented; the sim refuses with a ValidationException naming the Region.
    if !ferry_domain::bedrock::CUSTOM_MODEL_IMPORT_REGIONS.contains(&region.as_str()) {
        return Err(validation(format!(
            "Custom model import is not supported in the {region} Region."
        )));
    }
    // Input validation with Bedrock's own rules (ferry_domain::bedrock).
    let job_name = required("jobName")?;
    JobName::parse(job_name).map_err(|e| field_error("jobName", job_name, &e))?;
    let model_name = required("importedModelName")?;
    ImportedModelName::parse(model_name)
        .map_err(|e| field_error("importedModelName", model_name, &e))?;
    let role_arn = required("roleArn")?;
    RoleArn::parse(role_arn).map_err(|e| field_error("roleArn", role_arn, &e))?;
    let s3_uri = body
        .pointer("/modelDataSource/s3DataSource/s3Uri")
        .and_then(Value::as_str)
        .ok_or_else(|| validation("1 validation error detected: Value null at 'modelDataSource.s3DataSource.s3Uri' failed to satisfy constraint: Member must not be null"))?;
    let uri = S3Uri::parse(s3_uri)
        .map_err(|e| field_error("modelDataSource.s3DataSource.s3Uri", s3_uri, &e))?;
    let token = s("clientRequestToken");
    if let Some(t) = token {
        ClientRequestToken::parse(t).map_err(|e| field_error("clientRequestToken", t, &e))?;
    }
    for field in ["jobTags", "importedModelTags"] {
        if let Some(tags) = body.get(field) {
            let tags = tags
                .as_array()
                .ok_or_else(|| validation(format!("{field} must be a list")))?;
            if tags.len() > 200 {
                return Err(validation(format!(
                    "1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must have length less than or equal to 200"
                )));
            }
            if tags.len() > ferry_domain::bedrock::MAX_TAGS {
                // The job is the resource being created (the model does not exist yet).
                return Err(super::tags::too_many_tags(&arn));
            }
            for (i, t) in tags.iter().enumerate() {
                let k = t.get("key").and_then(Value::as_str).unwrap_or_default();
                let v = t.get("value").and_then(Value::as_str).unwrap_or_default();
                // AWS names a list member's field `list.N.member.field`, counting from 1.
                Tag::new(k, "")
                    .map_err(|e| field_error(&format!("{field}.{}.member.key", i + 1), k, &e))?;
                Tag::new(k, v)
                    .map_err(|e| field_error(&format!("{field}.{}.member.value", i + 1), v, &e))?;
            }
        }
    }
    if let Some(vpc) = body.get("vpcConfig") {
        for (field, max) in [("subnetIds", 16usize), ("securityGroupIds", 5usize)] {
            let ids = vpc
                .get(field)
                .and_then(Value::as_array)
                .ok_or_else(|| validation(format!("vpcConfig.{field} is required")))?;
            let ok = (1..=max).contains(&ids.len())
                && ids.iter().all(|i| {
                    i.as_str().is_some_and(|s| {
                        !s.is_empty()
                            && s.len() <= 32
                            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    })
                });
            if !ok {
                // Worded as AWS words list constraints (shapes SubnetIds 1..16,
                // SecurityGroupIds 1..5, members `[-0-9a-zA-Z]+` of at most 32).
                let shown = serde_json::to_string(ids).unwrap_or_default();
                let constraint = if ids.is_empty() {
                    "Member must have length greater than or equal to 1".to_owned()
                } else if ids.len() > max {
                    format!("Member must have length less than or equal to {max}")
                } else {
                    "Member must satisfy constraint: [Member must have length less than or equal to 32, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]".to_owned()
                };
                return Err(validation(format!(
                    "1 validation error detected: Value '{shown}' at 'vpcConfig.{field}' failed to satisfy constraint: {constraint}"
                )));
            }
        }
    }
    let kms_ref = s("importedModelKmsKeyId");
    if let Some(k) = kms_ref {
        KmsKeyRef::parse(k).map_err(|e| field_error("importedModelKmsKeyId", k, &e))?;
    }
    let digest = hex::encode(Sha256::digest(body.to_string().as_bytes()));

    let mut state = ctx.state();
    // Idempotency: the same token replays the same job.
    if let Some(t) = token
        && let Some(existing) = state.tokens.get(&(account.clone(), t.to_owned())).cloned()
    {
        let job = state.jobs.iter().find(|j| j.arn == existing);
        return match job {
            Some(j) if j.request_digest == digest => Ok(json_response(
                StatusCode::CREATED,
                "application/json",
                &json!({"jobArn": j.arn}),
            )),
            _ => Err(SimError::new(
                StatusCode::BAD_REQUEST,
                "ConflictException",
                format!(
                    "The clientRequestToken {t} was already used with different request parameters."
                ),
            )),
        };
    }
    // iam:PassRole on the execution role.
    let pass = RequestContext::new(
        caller.principal.clone(),
        "iam:PassRole",
        role_arn,
        account.clone(),
    )
    .with_key("iam:PassedToService", BEDROCK);
    if !role_arn.starts_with(&format!("arn:aws:iam::{account}:")) {
        return Err(crate::wire::access_denied(
            Service::Bedrock,
            format!(
                "User: {} is not authorized to perform: iam:PassRole on resource: {role_arn} because the role is in another account",
                caller.principal.arn()
            ),
        ));
    }
    authorize(
        &state,
        Service::Bedrock,
        &pass,
        None,
        ResourcePolicyMode::Optional,
    )?;

    if state
        .jobs
        .iter()
        .any(|j| j.account == account && j.name == job_name)
    {
        // AWS answers a job name in use with ValidationException, not ConflictException:
        // "The provided job name is currently in use." (aws/sagemaker-python-sdk PR 6076,
        // rerunning an import with a fixed job name; completed jobs cannot be deleted, so the
        // name stays taken). A replay with the same client request token is answered above.
        return Err(validation("The provided job name is currently in use."));
    }
    if state
        .models
        .iter()
        .any(|m| m.account == account && m.name == model_name)
        || state.jobs.iter().any(|j| {
            j.account == account && j.model_name == model_name && j.status == JobStatus::InProgress
        })
    {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ConflictException",
            format!("An imported model with the name {model_name} already exists."),
        ));
    }
    let faults = ctx.faults.get();
    let now = ctx.clock.now();
    role_usable(&mut state, now, &faults, role_arn, &account, &arn)?;
    let running = state
        .jobs
        .iter()
        .filter(|j| j.account == account && j.status == JobStatus::InProgress)
        .count();
    // The account's Service Quotas values (`crate::quotas`), else the sim-wide ones.
    let max_jobs = crate::quotas::effective(
        &state,
        &faults,
        &account,
        crate::quotas::CONCURRENT_IMPORT_JOBS,
    );
    let max_models =
        crate::quotas::effective(&state, &faults, &account, crate::quotas::IMPORTED_MODELS);
    #[allow(clippy::cast_precision_loss)]
    if running as f64 >= max_jobs {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException",
            format!(
                "You have reached the maximum number of concurrent model import jobs ({max_jobs}) for this account in {region}."
            ),
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    if state.models.iter().filter(|m| m.account == account).count() as f64 >= max_models {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException",
            format!(
                "You have reached the maximum number of imported models ({max_models}) for this account in {region}."
            ),
        ));
    }
    let kms_key_arn = match kms_ref {
        None => None,
        Some(r) => Some(
            state
                .resolve_key(&account, r)
                .map(|k| k.arn.clone())
                .ok_or_else(|| {
                    validation(format!(
                        "The KMS key {r} does not exist or is not accessible."
                    ))
                })?,
        ),
    };
    state.jobs.push(Job {
        arn: arn.clone(),
        account: account.clone(),
        name: job_name.to_owned(),
        model_name: model_name.to_owned(),
        model_arn: None,
        role_arn: role_arn.to_owned(),
        s3_uri: uri.as_str().to_owned(),
        status: JobStatus::InProgress,
        failure_message: None,
        created: now,
        last_modified: now,
        end_time: None,
        kms_key_arn,
        vpc_config: body.get("vpcConfig").cloned(),
        request_digest: digest,
        tags: super::tags::pairs(body.get("jobTags")),
        model_tags: super::tags::pairs(body.get("importedModelTags")),
    });
    if let Some(t) = token {
        state.tokens.insert((account, t.to_owned()), arn.clone());
    }
    drop(state);
    tracing::info!(job = %arn, "model import job created");
    let ctx2 = Arc::clone(ctx);
    let job_arn = arn.clone();
    tokio::spawn(async move { run_job(ctx2, job_arn).await });
    Ok(json_response(
        StatusCode::CREATED,
        "application/json",
        &json!({"jobArn": arn}),
    ))
}
