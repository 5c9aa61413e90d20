//! Bedrock control plane (REST-JSON): model import jobs and imported models, with the service's
//! input validation, idempotency, quotas, and a job that acts as `bedrock.amazonaws.com`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ferry_domain::aws::{KmsKeyRef, RoleArn};
use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName, JobName, S3Uri, Tag};
use ferry_policy::iam::{Principal, RequestContext, ResourcePolicyMode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::server::{Caller, Ctx, authorize, ok_json};
use crate::state::{ImportedModel, Job, JobStatus, State};
use crate::wire::{
    LOWER_ALNUM, Service, SimError, SimRequest, SimResult, iso8601_millis, json_response,
    percent_decode, random_id,
};

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

fn create_job(ctx: &Arc<Ctx>, req: &SimRequest, caller: &Caller) -> SimResult {
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
                return Err(SimError::new(
                    StatusCode::BAD_REQUEST,
                    "TooManyTagsException",
                    format!(
                        "The number of tags exceeds the limit of {} per resource",
                        ferry_domain::bedrock::MAX_TAGS
                    ),
                ));
            }
            for t in tags {
                let k = t.get("key").and_then(Value::as_str).unwrap_or_default();
                let v = t.get("value").and_then(Value::as_str).unwrap_or_default();
                Tag::new(k, v).map_err(|e| field_error(field, k, &e))?;
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
                return Err(validation(format!(
                    "1 validation error detected: Value at 'vpcConfig.{field}' failed to satisfy constraint: 1 to {max} ids matching [-0-9a-zA-Z]+ of at most 32 characters"
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
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ConflictException",
            format!("A model import job with the name {job_name} already exists."),
        ));
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
    let running = state
        .jobs
        .iter()
        .filter(|j| j.account == account && j.status == JobStatus::InProgress)
        .count();
    if running >= faults.max_concurrent_import_jobs {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException",
            format!(
                "You have reached the maximum number of concurrent model import jobs ({}) for this account in {region}.",
                faults.max_concurrent_import_jobs
            ),
        ));
    }
    if state.models.iter().filter(|m| m.account == account).count() >= faults.max_imported_models {
        return Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "ServiceQuotaExceededException",
            format!(
                "You have reached the maximum number of imported models ({}) for this account in {region}.",
                faults.max_imported_models
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
    let now = ctx.clock.now();
    let arn = format!(
        "arn:aws:bedrock:{region}:{account}:model-import-job/{}",
        random_id(LOWER_ALNUM, 12)
    );
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

/// The import job's life: wait the configured duration, then act as Bedrock.
async fn run_job(ctx: Arc<Ctx>, job_arn: String) {
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
fn import(
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

fn get_job(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
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

/// Common list parameters (filters, sort, pagination).
struct ListParams {
    after: Option<OffsetDateTime>,
    before: Option<OffsetDateTime>,
    name_contains: Option<String>,
    max: usize,
    offset: usize,
    ascending: bool,
}

fn list_params(req: &SimRequest) -> SimResult<ListParams> {
    let time = |name: &str| -> SimResult<Option<OffsetDateTime>> {
        req.query_param(name)
            .map(|v| {
                OffsetDateTime::parse(v, &Rfc3339)
                    .map_err(|_| validation(format!("Invalid {name}: {v}")))
            })
            .transpose()
    };
    let max = match req.query_param("maxResults") {
        None => 1000,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000"
                )));
            }
        },
    };
    let offset = match req.query_param("nextToken") {
        None => 0,
        Some(t) => B64
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| validation("Invalid nextToken"))?,
    };
    if let Some(s) = req.query_param("sortBy")
        && s != "CreationTime"
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{s}' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [CreationTime]"
        )));
    }
    let ascending = match req.query_param("sortOrder") {
        None | Some("Descending") => false,
        Some("Ascending") => true,
        Some(o) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{o}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [Ascending, Descending]"
            )));
        }
    };
    Ok(ListParams {
        after: time("creationTimeAfter")?,
        before: time("creationTimeBefore")?,
        name_contains: req.query_param("nameContains").map(str::to_owned),
        max,
        offset,
        ascending,
    })
}

impl ListParams {
    fn keep(&self, created: OffsetDateTime, name: &str) -> bool {
        self.after.is_none_or(|a| created > a)
            && self.before.is_none_or(|b| created < b)
            && self
                .name_contains
                .as_deref()
                .is_none_or(|n| name.contains(n))
    }

    /// Sorts, pages, and returns the page plus the next token.
    fn page<T: Clone>(&self, mut items: Vec<(OffsetDateTime, T)>) -> (Vec<T>, Option<String>) {
        items.sort_by_key(|(t, _)| *t);
        if !self.ascending {
            items.reverse();
        }
        let end = (self.offset + self.max).min(items.len());
        let page = items
            .get(self.offset..end)
            .map(|s| s.iter().map(|(_, v)| v.clone()).collect())
            .unwrap_or_default();
        let next = (end < items.len()).then(|| B64.encode(format!("offset:{end}")));
        (page, next)
    }
}

fn list_jobs(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
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

fn find_model<'a>(state: &'a State, account: &str, id: &str) -> Option<&'a ImportedModel> {
    state
        .models
        .iter()
        .find(|m| m.account == account && (m.arn == id || m.name == id))
}

fn get_model(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
    let state = ctx.state();
    let model = find_model(&state, caller.account(), id);
    let resource = model.map_or_else(
        || {
            format!(
                "arn:aws:bedrock:{}:{}:imported-model/*",
                ctx.region,
                caller.account()
            )
        },
        |m| m.arn.clone(),
    );
    check_action(&state, caller, "bedrock:GetImportedModel", resource)?;
    let m = model.ok_or_else(|| not_found(format!("The imported model {id} does not exist.")))?;
    let mut v = json!({
        "modelArn": m.arn,
        "modelName": m.name,
        "jobName": m.job_name,
        "jobArn": m.job_arn,
        "modelDataSource": {"s3DataSource": {"s3Uri": m.s3_uri}},
        "creationTime": iso8601_millis(m.created),
        "modelArchitecture": m.architecture,
        "instructSupported": m.instruct_supported,
        "customModelUnits": {"customModelUnitsPerModelCopy": m.custom_model_units, "customModelUnitsVersion": "1.0"}
    });
    if let Some(k) = &m.kms_key_arn {
        v["modelKmsKeyArn"] = json!(k);
    }
    Ok(ok_json(&v))
}

fn list_models(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let p = list_params(req)?;
    let state = ctx.state();
    check_action(&state, caller, "bedrock:ListImportedModels", "*".to_owned())?;
    let items: Vec<(OffsetDateTime, Value)> = state
        .models
        .iter()
        .filter(|m| m.account == caller.account() && p.keep(m.created, &m.name))
        .map(|m| (m.created, json!({"modelArn": m.arn, "modelName": m.name, "creationTime": iso8601_millis(m.created), "instructSupported": m.instruct_supported, "modelArchitecture": m.architecture})))
        .collect();
    let (page, next) = p.page(items);
    let mut out = json!({"modelSummaries": page});
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    Ok(ok_json(&out))
}

fn delete_model(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
    let mut state = ctx.state();
    let model = find_model(&state, caller.account(), id).cloned();
    let resource = model.as_ref().map_or_else(
        || {
            format!(
                "arn:aws:bedrock:{}:{}:imported-model/*",
                ctx.region,
                caller.account()
            )
        },
        |m| m.arn.clone(),
    );
    check_action(&state, caller, "bedrock:DeleteImportedModel", resource)?;
    let m = model.ok_or_else(|| not_found(format!("The imported model {id} does not exist.")))?;
    state.models.retain(|x| x.arn != m.arn);
    Ok(ok_json(&json!({})))
}
