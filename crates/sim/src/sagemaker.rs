//! SageMaker Model Registry, the part Ferry reads and tests set up (JSON 1.1,
//! `X-Amz-Target: SageMaker.<Op>`, signing name `sagemaker`, endpoint prefix `api.sagemaker`:
//! botocore's `sagemaker/2017-07-24/service-2.json`):
//!
//! - `CreateModelPackageGroup`, `PutModelPackageGroupPolicy`: a group and its resource policy.
//!   A group's policy is how SageMaker shares model packages across accounts (the API
//!   reference's PutModelPackageGroupPolicy, "Adds a resouce policy to control access to a model
//!   group"; the cross-account policies of the Model Registry guide grant
//!   `sagemaker:DescribeModelPackage` on `model-package/<group>/*`).
//! - `CreateModelPackage`: a version of a group (`ModelPackageGroupName`; versions count from 1,
//!   `ModelApprovalStatus` defaults to `PendingManualApproval`) or an unversioned package
//!   (`ModelPackageName`, no approval status). Packages are `Completed` at once.
//! - `UpdateModelPackage`: the approval (`ModelApprovalStatus`, `ApprovalDescription`).
//! - `DescribeModelPackage` by name, `name/version` or ARN, also across accounts.
//!
//! Every call is authorized as `sagemaker:<Operation>` on the package's or group's ARN
//! (`arn:aws:sagemaker:<region>:<account>:model-package/<name>[/<version>]`,
//! `...:model-package-group/<name>`: the Service Authorization Reference's resource types) by
//! the caller's identity policies and, for packages of a group, the group's policy; across
//! accounts both must allow (AWS's cross-account rule). ARNs are lower-case, as SageMaker
//! writes them. DescribeModelPackage and UpdateModelPackage declare no "not found" error in the
//! model; SageMaker answers an unknown package with `ValidationException` ("... does not
//! exist"), which the sim does too.

use axum::http::StatusCode;
use ferry_policy::iam::{RequestContext, ResourcePolicyMode};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::server::{Caller, Ctx, JsonRpc, authorize, json_rpc};
use crate::state::{ModelPackage, PackageGroup, State, StoredPolicy};
use crate::wire::{Service, SimError, SimRequest, SimResult, json_response};

const CT: &str = "application/x-amz-json-1.1";

fn validation(msg: impl Into<String>) -> SimError {
    SimError::new(StatusCode::BAD_REQUEST, "ValidationException", msg)
}

fn required<'a>(body: &'a Value, name: &str) -> SimResult<&'a str> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn optional<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

/// `EntityName`: 1 to 63 of letters, digits and `-`, not starting or ending with `-`.
fn entity_name<'a>(value: &'a str, field: &str) -> SimResult<&'a str> {
    let b = value.as_bytes();
    let ok = (1..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if ok {
        Ok(value)
    } else {
        Err(validation(format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){{0,62}}"
        )))
    }
}

fn approval(body: &Value) -> SimResult<Option<String>> {
    match optional(body, "ModelApprovalStatus") {
        None => Ok(None),
        Some(s @ ("Approved" | "Rejected" | "PendingManualApproval")) => Ok(Some(s.to_owned())),
        Some(other) => Err(validation(format!(
            "1 validation error detected: Value '{other}' at 'modelApprovalStatus' failed to satisfy constraint: Member must satisfy enum value set: [Approved, Rejected, PendingManualApproval]"
        ))),
    }
}

fn seconds(t: OffsetDateTime) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ms = (t.unix_timestamp_nanos() / 1_000_000) as f64;
    ms / 1000.0
}

fn group_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:aws:sagemaker:{region}:{account}:model-package-group/{}",
        name.to_ascii_lowercase()
    )
}

fn package_arn(region: &str, account: &str, name: &str, version: Option<u32>) -> String {
    let name = name.to_ascii_lowercase();
    match version {
        Some(v) => format!("arn:aws:sagemaker:{region}:{account}:model-package/{name}/{v}"),
        None => format!("arn:aws:sagemaker:{region}:{account}:model-package/{name}"),
    }
}

/// The account and the rest of a SageMaker ARN of `kind` (`model-package`, ...).
fn split_arn<'a>(arn: &'a str, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_), Some("sagemaker"), Some(region), Some(account), Some(resource)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let rest = resource.strip_prefix(kind)?.strip_prefix('/')?;
    Some((region, account, rest))
}

fn does_not_exist(what: &str) -> SimError {
    validation(format!("ModelPackage {what} does not exist."))
}

/// Authorizes `action` on a package or group ARN owned by `owner`, with the group's policy.
fn authorize_on(
    state: &State,
    caller: &Caller,
    action: &str,
    resource: &str,
    owner: &str,
    group_policy: Option<&StoredPolicy>,
) -> SimResult<()> {
    let rctx = RequestContext::new(
        caller.principal.clone(),
        action,
        resource.to_owned(),
        owner.to_owned(),
    );
    authorize(
        state,
        Service::SageMaker,
        &rctx,
        group_policy.map(|p| &p.doc),
        ResourcePolicyMode::Optional,
    )
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let JsonRpc { op, body } = json_rpc(ctx, req, Service::SageMaker, "SageMaker").await?;
    let now = ctx.clock.now();
    let out = match op.as_str() {
        "CreateModelPackageGroup" => create_group(ctx, caller, &body)?,
        "PutModelPackageGroupPolicy" => put_group_policy(ctx, caller, &body)?,
        "CreateModelPackage" => create_package(ctx, caller, &body, now)?,
        "UpdateModelPackage" => update_package(ctx, caller, &body, now)?,
        "DescribeModelPackage" => describe_package(ctx, caller, &body)?,
        other => {
            return Err(SimError::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("ferry-sim does not implement SageMaker {other}"),
            ));
        }
    };
    Ok(json_response(StatusCode::OK, CT, &out))
}

fn create_group(ctx: &Ctx, caller: &Caller, body: &Value) -> SimResult<Value> {
    let name = entity_name(
        required(body, "ModelPackageGroupName")?,
        "modelPackageGroupName",
    )?;
    let account = caller.account().to_owned();
    let arn = group_arn(&ctx.region, &account, name);
    let mut state = ctx.state();
    authorize_on(
        &state,
        caller,
        "sagemaker:CreateModelPackageGroup",
        &arn,
        &account,
        None,
    )?;
    if state.package_groups.contains_key(&arn) {
        return Err(validation(format!(
            "Model Package Group already exists: {arn}"
        )));
    }
    state.package_groups.insert(
        arn.clone(),
        PackageGroup {
            name: name.to_owned(),
            policy: None,
        },
    );
    Ok(json!({"ModelPackageGroupArn": arn}))
}

fn put_group_policy(ctx: &Ctx, caller: &Caller, body: &Value) -> SimResult<Value> {
    let name = entity_name(
        required(body, "ModelPackageGroupName")?,
        "modelPackageGroupName",
    )?;
    let text = required(body, "ResourcePolicy")?;
    let account = caller.account().to_owned();
    let arn = group_arn(&ctx.region, &account, name);
    let mut state = ctx.state();
    authorize_on(
        &state,
        caller,
        "sagemaker:PutModelPackageGroupPolicy",
        &arn,
        &account,
        None,
    )?;
    let policy = StoredPolicy::parse(text)
        .map_err(|e| validation(format!("Invalid resource policy: {e}")))?;
    let group = state
        .package_groups
        .get_mut(&arn)
        .ok_or_else(|| validation(format!("Model Package Group {arn} does not exist.")))?;
    group.policy = Some(policy);
    Ok(json!({"ModelPackageGroupArn": arn}))
}

fn create_package(
    ctx: &Ctx,
    caller: &Caller,
    body: &Value,
    now: OffsetDateTime,
) -> SimResult<Value> {
    let account = caller.account().to_owned();
    let group = optional(body, "ModelPackageGroupName");
    let name = optional(body, "ModelPackageName");
    let approval = approval(body)?;
    let spec = body.get("InferenceSpecification").cloned();
    if let Some(spec) = &spec {
        let containers = spec.get("Containers").and_then(Value::as_array);
        if containers.is_none_or(|c| c.is_empty() || c.len() > 15) {
            return Err(validation(
                "1 validation error detected: Value at 'inferenceSpecification.containers' failed to satisfy constraint: Member must have length between 1 and 15",
            ));
        }
    }
    let mut state = ctx.state();
    let package = match (group, name) {
        (Some(group), None) => {
            // ArnOrName: the group's name, or its ARN in the caller's account.
            let group_name = match split_arn(group, "model-package-group") {
                Some((_, acct, n)) if acct == account => n,
                Some(_) => {
                    return Err(validation(format!(
                        "Model Package Group {group} is not in account {account}."
                    )));
                }
                None => group,
            };
            let group_name = entity_name(group_name, "modelPackageGroupName")?;
            let garn = group_arn(&ctx.region, &account, group_name);
            let g = state
                .package_groups
                .get(&garn)
                .ok_or_else(|| validation(format!("Model Package Group {garn} does not exist.")))?;
            let version = u32::try_from(
                state
                    .packages
                    .values()
                    .filter(|p| p.group.as_ref().is_some_and(|(a, _)| *a == garn))
                    .count(),
            )
            .unwrap_or(u32::MAX - 1)
                + 1;
            let arn = package_arn(&ctx.region, &account, &g.name, Some(version));
            ModelPackage {
                arn,
                name: g.name.clone(),
                group: Some((garn, version)),
                description: optional(body, "ModelPackageDescription").map(str::to_owned),
                inference_specification: spec,
                approval: Some(approval.unwrap_or_else(|| "PendingManualApproval".to_owned())),
                approval_description: None,
                created: now,
                modified: now,
            }
        }
        (None, Some(name)) => {
            let name = entity_name(name, "modelPackageName")?;
            let arn = package_arn(&ctx.region, &account, name, None);
            if state.packages.contains_key(&arn) {
                return Err(SimError::new(
                    StatusCode::BAD_REQUEST,
                    "ConflictException",
                    format!("Model Package {arn} already exists."),
                ));
            }
            ModelPackage {
                arn,
                name: name.to_owned(),
                group: None,
                description: optional(body, "ModelPackageDescription").map(str::to_owned),
                inference_specification: spec,
                approval,
                approval_description: None,
                created: now,
                modified: now,
            }
        }
        _ => {
            return Err(validation(
                "Exactly one of ModelPackageName (an unversioned package) and ModelPackageGroupName (a version of a group) is required.",
            ));
        }
    };
    authorize_on(
        &state,
        caller,
        "sagemaker:CreateModelPackage",
        &package.arn,
        &account,
        None,
    )?;
    let arn = package.arn.clone();
    state.packages.insert(arn.clone(), package);
    Ok(json!({"ModelPackageArn": arn}))
}

/// The package `reference` names (`VersionedArnOrName`: an ARN, `name` or `name/version` in
/// the caller's account), its ARN and owner.
fn resolve(ctx: &Ctx, caller: &Caller, reference: &str) -> SimResult<(String, String)> {
    if reference.len() > 176 && !reference.starts_with("arn:") {
        return Err(validation(format!(
            "1 validation error detected: Value '{reference}' at 'modelPackageName' failed to satisfy constraint: Member must have length less than or equal to 176"
        )));
    }
    if let Some((_, account, _)) = split_arn(reference, "model-package") {
        return Ok((reference.to_ascii_lowercase(), account.to_owned()));
    }
    if reference.starts_with("arn:") {
        return Err(validation(format!(
            "1 validation error detected: Value '{reference}' at 'modelPackageName' failed to satisfy constraint: Member must satisfy regular expression pattern"
        )));
    }
    let account = caller.account().to_owned();
    let (name, version) = match reference.split_once('/') {
        Some((n, v)) => (
            n,
            Some(v.parse::<u32>().map_err(|_| does_not_exist(reference))?),
        ),
        None => (reference, None),
    };
    let name = entity_name(name, "modelPackageName")?;
    Ok((package_arn(&ctx.region, &account, name, version), account))
}

/// The policy of the group a versioned package ARN belongs to (`model-package/<group>/<v>`),
/// whether or not that version exists.
fn group_policy<'a>(state: &'a State, package_arn: &str) -> Option<&'a StoredPolicy> {
    let (region, account, rest) = split_arn(package_arn, "model-package")?;
    let (group, _) = rest.split_once('/')?;
    state
        .package_groups
        .get(&group_arn(region, account, group))?
        .policy
        .as_ref()
}

fn update_package(
    ctx: &Ctx,
    caller: &Caller,
    body: &Value,
    now: OffsetDateTime,
) -> SimResult<Value> {
    let reference = required(body, "ModelPackageArn")?;
    let (arn, owner) = resolve(ctx, caller, reference)?;
    let approval = approval(body)?;
    let mut state = ctx.state();
    let policy = group_policy(&state, &arn).cloned();
    authorize_on(
        &state,
        caller,
        "sagemaker:UpdateModelPackage",
        &arn,
        &owner,
        policy.as_ref(),
    )?;
    let package = state
        .packages
        .get_mut(&arn)
        .ok_or_else(|| does_not_exist(reference))?;
    if let Some(a) = approval {
        if package.group.is_none() {
            return Err(validation(
                "ModelApprovalStatus can only be set on a versioned model package.",
            ));
        }
        package.approval = Some(a);
    }
    if let Some(d) = optional(body, "ApprovalDescription") {
        package.approval_description = Some(d.to_owned());
    }
    if let Some(spec) = body.get("InferenceSpecification") {
        package.inference_specification = Some(spec.clone());
    }
    package.modified = now;
    Ok(json!({"ModelPackageArn": arn}))
}

fn describe_package(ctx: &Ctx, caller: &Caller, body: &Value) -> SimResult<Value> {
    let reference = required(body, "ModelPackageName")?;
    let (arn, owner) = resolve(ctx, caller, reference)?;
    let state = ctx.state();
    authorize_on(
        &state,
        caller,
        "sagemaker:DescribeModelPackage",
        &arn,
        &owner,
        group_policy(&state, &arn),
    )?;
    let p = state
        .packages
        .get(&arn)
        .ok_or_else(|| does_not_exist(reference))?;
    let mut out = json!({
        "ModelPackageName": p.name,
        "ModelPackageArn": p.arn,
        "CreationTime": seconds(p.created),
        "LastModifiedTime": seconds(p.modified),
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": false,
    });
    if let Some((garn, version)) = &p.group {
        out["ModelPackageGroupName"] = json!(
            state
                .package_groups
                .get(garn)
                .map_or(p.name.as_str(), |g| g.name.as_str())
        );
        out["ModelPackageVersion"] = json!(version);
    }
    if let Some(d) = &p.description {
        out["ModelPackageDescription"] = json!(d);
    }
    if let Some(spec) = &p.inference_specification {
        out["InferenceSpecification"] = spec.clone();
    }
    if let Some(a) = &p.approval {
        out["ModelApprovalStatus"] = json!(a);
    }
    if let Some(d) = &p.approval_description {
        out["ApprovalDescription"] = json!(d);
    }
    Ok(out)
}
