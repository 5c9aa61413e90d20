//! Imported models: get, list and delete.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::server::{Caller, Ctx, ok_json};
use crate::state::{ImportedModel, State};
use crate::wire::{SimRequest, SimResult, iso8601_millis};

use super::check_action;
use super::list::list_params;
use super::not_found;

fn find_model<'a>(state: &'a State, account: &str, id: &str) -> Option<&'a ImportedModel> {
    state
        .models
        .iter()
        .find(|m| m.account == account && (m.arn == id || m.name == id))
}

/// `CustomModelUnitsVersion` in botocore's `bedrock/2023-04-20/service-2.json` has the
/// pattern `v\d+.\d+`: the version has a leading `v`.
const CUSTOM_MODEL_UNITS_VERSION: &str = "v1.0";

pub(super) fn get_model(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
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
        "customModelUnits": {"customModelUnitsPerModelCopy": m.custom_model_units, "customModelUnitsVersion": CUSTOM_MODEL_UNITS_VERSION}
    });
    if let Some(k) = &m.kms_key_arn {
        v["modelKmsKeyArn"] = json!(k);
    }
    Ok(ok_json(&v))
}

pub(super) fn list_models(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
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

pub(super) fn delete_model(ctx: &Ctx, caller: &Caller, id: &str) -> SimResult {
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
