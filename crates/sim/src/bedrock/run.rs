//! An import job's life: wait the configured duration, then act as `bedrock.amazonaws.com`
//! (assume the role, read the artifacts with its rights, check them and the output key).

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_domain::bedrock::S3Uri;
use ferry_policy::iam::Principal;
use time::OffsetDateTime;

use crate::server::Ctx;
use crate::state::{ImportedModel, Job, JobStatus, State};
use crate::wire::{LOWER_ALNUM, random_id};

use super::BEDROCK;

/// The import job's life: wait the configured duration, then act as Bedrock.
pub(super) async fn run_job(ctx: Arc<Ctx>, job_arn: String) {
    tokio::time::sleep(ctx.faults.job_duration()).await;
    let now = ctx.clock.now();
    let mut state = ctx.state();
    let Some(job) = state.jobs.iter().find(|j| j.arn == job_arn).cloned() else {
        return;
    };
    let outcome = import(&mut state, &ctx.region, now, &job);
    let (status, failure, model_arn) = match outcome {
        Ok(facts) => {
            let model_arn = format!(
                "arn:aws:bedrock:{}:{}:imported-model/{}",
                ctx.region,
                job.account,
                random_id(LOWER_ALNUM, 12)
            );
            let units = i32::try_from(facts.parameters / 4_000_000_000 + 1).unwrap_or(i32::MAX);
            state.models.push(ImportedModel {
                arn: model_arn.clone(),
                account: job.account.clone(),
                name: job.model_name.clone(),
                job_arn: job.arn.clone(),
                job_name: job.name.clone(),
                s3_uri: job.s3_uri.clone(),
                created: now,
                architecture: facts.architecture,
                kms_key_arn: job.kms_key_arn,
                instruct_supported: facts.instruct_supported,
                custom_model_units: units,
                tags: job.model_tags,
            });
            (JobStatus::Completed, None, Some(model_arn))
        }
        Err(msg) => (
            JobStatus::Failed,
            Some(msg.chars().take(2048).collect::<String>()),
            None,
        ),
    };
    tracing::info!(job = %job_arn, status = status.as_str(), failure = failure.as_deref().unwrap_or(""), "model import job ended");
    if let Some(j) = state.jobs.iter_mut().find(|j| j.arn == job_arn) {
        j.status = status;
        j.failure_message = failure;
        j.model_arn = model_arn;
        j.last_modified = now;
        j.end_time = Some(now);
    }
}

/// What Bedrock does for an import: assume the role as the service (confused-deputy keys
/// set), list and read the prefix with the role's rights, check the artifacts, check the
/// output key. Errors are the job's `failureMessage`.
pub(super) fn import(
    state: &mut State,
    region: &str,
    now: OffsetDateTime,
    job: &Job,
) -> Result<crate::model::ModelFacts, String> {
    let job_id = job.arn.rsplit('/').next().unwrap_or_default();
    let session_name = format!("bedrock-import-{job_id}");
    let service = Principal::Service(BEDROCK.to_owned());
    let extra = [
        ("aws:SourceAccount", job.account.clone()),
        ("aws:SourceArn", job.arn.clone()),
    ];
    let session = crate::sts::assume(state, now, &service, &job.role_arn, &session_name, 3600, &extra).map_err(|e| {
        format!(
            "Amazon Bedrock could not assume the IAM role {}: check that its trust policy allows bedrock.amazonaws.com to call sts:AssumeRole for this job (aws:SourceAccount {}, aws:SourceArn {}). {}",
            job.role_arn, job.account, job.arn, e.message
        )
    })?;
    state.credentials.remove(&session.access_key_id);
    let role = session.principal;

    let uri = S3Uri::parse(&job.s3_uri).map_err(|e| e.to_string())?;
    let bucket_name = uri.bucket().to_owned();
    let prefix = uri.key().to_owned();
    let Some(bucket) = state.buckets.get(&bucket_name) else {
        return Err(format!(
            "The S3 bucket {bucket_name} in {} does not exist.",
            job.s3_uri
        ));
    };
    let list = crate::s3::s3_context(
        role.clone(),
        "s3:ListBucket",
        format!("arn:aws:s3:::{bucket_name}"),
        &bucket.account,
    )
    .with_key("s3:prefix", prefix.clone());
    crate::s3::authorize_s3(state, bucket, &list).map_err(|e| {
        format!(
            "Amazon Bedrock could not list the model artifacts at {} with the role {}: {}",
            job.s3_uri, job.role_arn, e.message
        )
    })?;
    let mut files = BTreeMap::new();
    let dir_prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix
    } else {
        format!("{prefix}/")
    };
    for (key, obj) in bucket
        .objects
        .range(dir_prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&dir_prefix))
    {
        let get = crate::s3::s3_context(
            role.clone(),
            "s3:GetObject",
            crate::s3::object_arn(&bucket_name, key),
            &bucket.account,
        );
        crate::s3::authorize_s3(state, bucket, &get).map_err(|e| {
            format!(
                "Amazon Bedrock could not read s3://{bucket_name}/{key} with the role {}: {}",
                job.role_arn, e.message
            )
        })?;
        if let Some(k) = &obj.kms_key_arn {
            crate::s3::authorize_kms_via_s3(state, &role, "kms:Decrypt", k, region).map_err(|e| {
                format!("Amazon Bedrock could not decrypt s3://{bucket_name}/{key} (SSE-KMS key {k}) with the role {}: {}", job.role_arn, e.message)
            })?;
        }
        files.insert(key[dir_prefix.len()..].to_owned(), obj.data.clone());
    }
    if files.is_empty() {
        return Err(format!("No model artifacts were found at {}.", job.s3_uri));
    }
    let facts = crate::model::check(&files, &job.s3_uri)?;
    if let Some(key_arn) = &job.kms_key_arn {
        let key = state
            .keys
            .values()
            .find(|k| &k.arn == key_arn)
            .cloned()
            .ok_or_else(|| format!("The KMS key {key_arn} does not exist."))?;
        for action in [
            "kms:DescribeKey",
            "kms:GenerateDataKey",
            "kms:Decrypt",
            "kms:CreateGrant",
        ] {
            crate::kms::authorize_key(state, &role, action, &key).map_err(|e| {
                format!("Amazon Bedrock could not use the KMS key {key_arn} to encrypt the imported model with the role {}: {}", job.role_arn, e.message)
            })?;
        }
    }
    Ok(facts)
}
