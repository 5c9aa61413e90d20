//! Service Quotas `GetServiceQuota` for Bedrock's Custom Model Import quotas (JSON 1.1,
//! `X-Amz-Target: ServiceQuotasV20190624.GetServiceQuota`, signing name `servicequotas`, as
//! botocore's `service-quotas/2019-06-24/service-2.json` gives them), authorized by IAM as
//! `servicequotas:GetServiceQuota` on the quota's ARN
//! `arn:aws:servicequotas:<region>:<account>:<service code>/<quota code>` (the Service
//! Authorization Reference's `quota` resource type).
//!
//! An account's value is the one set through `PUT /_sim/quotas`, else the sim-wide value of the
//! [`crate::FaultConfig`] (`max_imported_models`, `max_concurrent_import_jobs`), which
//! CreateModelImportJob enforces too ([`effective`]). The defaults follow the Bedrock quota table of the user guide (mid-2025 copy): "Imported models per
//! account" 3 per Region, adjustable, code `L-45B04988`; "Concurrent model import jobs" 1 per
//! Region, not adjustable (the table links no code for it; quota-usage tools query it as
//! `L-5F098EFA`). `PUT /_sim/quotas` sets an account's applied value, as an approved increase
//! request would.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use ferry_policy::iam::{RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, JsonRpc, authorize, json_rpc};
use crate::wire::{Service, SimError, SimRequest, SimResult, json_response};

const CT: &str = "application/x-amz-json-1.1";

/// Bedrock's service code in Service Quotas.
pub const BEDROCK: &str = "bedrock";
/// "Imported models per account".
pub const IMPORTED_MODELS: &str = "L-45B04988";
/// "Concurrent model import jobs".
pub const CONCURRENT_IMPORT_JOBS: &str = "L-5F098EFA";

/// One quota the sim knows.
#[derive(Debug)]
pub struct Known {
    pub service_code: &'static str,
    pub quota_code: &'static str,
    pub name: &'static str,
    pub adjustable: bool,
}

/// The quotas the sim answers for.
pub const KNOWN: &[Known] = &[
    Known {
        service_code: BEDROCK,
        quota_code: IMPORTED_MODELS,
        name: "Imported models per account",
        adjustable: true,
    },
    Known {
        service_code: BEDROCK,
        quota_code: CONCURRENT_IMPORT_JOBS,
        name: "Concurrent model import jobs",
        adjustable: false,
    },
];

fn known(service: &str, code: &str) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.service_code == service && k.quota_code == code)
}

fn no_such_resource() -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "NoSuchResourceException",
        "The specified resource does not exist.",
    )
}

/// A required code, checked against the model's pattern. Bad input is
/// `IllegalArgumentException`, the error GetServiceQuota's model declares for it.
fn field<'a>(body: &'a Value, name: &str) -> SimResult<&'a str> {
    let v = body.get(name).and_then(Value::as_str).ok_or_else(|| {
        SimError::new(
            StatusCode::BAD_REQUEST,
            "IllegalArgumentException",
            format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"),
        )
    })?;
    // QuotaCode and ServiceCode: length 1-128, pattern `[a-zA-Z][a-zA-Z0-9-]{1,128}`.
    let ok = v.len() <= 128
        && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && v.len() >= 2
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(v)
    } else {
        Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "IllegalArgumentException",
            format!(
                "1 validation error detected: Value '{v}' at '{name}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][a-zA-Z0-9-]{{1,128}}"
            ),
        ))
    }
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let JsonRpc { op, body } =
        json_rpc(ctx, req, Service::Quotas, "ServiceQuotasV20190624").await?;
    match op.as_str() {
        "GetServiceQuota" => get_service_quota(ctx, &body, caller),
        other => Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("ferry-sim does not implement Service Quotas {other}"),
        )),
    }
}

fn get_service_quota(ctx: &Ctx, body: &Value, caller: &Caller) -> SimResult {
    let service = field(body, "ServiceCode")?;
    let code = field(body, "QuotaCode")?;
    let account = caller.account().to_owned();
    let arn = format!(
        "arn:aws:servicequotas:{}:{account}:{service}/{code}",
        ctx.region
    );
    let state = ctx.state();
    let rctx = RequestContext::new(
        caller.principal.clone(),
        "servicequotas:GetServiceQuota",
        arn.clone(),
        account.clone(),
    );
    authorize(
        &state,
        Service::Quotas,
        &rctx,
        None,
        ResourcePolicyMode::Optional,
    )?;
    let k = known(service, code).ok_or_else(no_such_resource)?;
    let value = effective(&state, &ctx.faults.get(), &account, k.quota_code);
    Ok(json_response(
        StatusCode::OK,
        CT,
        &json!({"Quota": {
            "ServiceCode": k.service_code,
            "ServiceName": "Amazon Bedrock",
            "QuotaArn": arn,
            "QuotaCode": k.quota_code,
            "QuotaName": k.name,
            "Value": value,
            "Unit": "None",
            "Adjustable": k.adjustable,
            "GlobalQuota": false,
            "QuotaAppliedAtLevel": "ACCOUNT"
        }}),
    ))
}

/// The value of Bedrock quota `code` in `account`: the one set through `/_sim/quotas`, else the
/// fault configuration's.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn effective(
    state: &crate::state::State,
    faults: &crate::FaultConfig,
    account: &str,
    code: &str,
) -> f64 {
    let fallback = if code == CONCURRENT_IMPORT_JOBS {
        faults.max_concurrent_import_jobs as f64
    } else {
        faults.max_imported_models as f64
    };
    state
        .quotas
        .get(&(account.to_owned(), BEDROCK.to_owned(), code.to_owned()))
        .copied()
        .unwrap_or(fallback)
}

/// The body of `PUT /_sim/quotas`.
#[derive(Debug, Deserialize)]
pub(crate) struct SetQuota {
    account: String,
    #[serde(default = "bedrock")]
    service_code: String,
    quota_code: String,
    /// `null` removes the account's value (the sim-wide one applies again).
    value: Option<f64>,
}

fn bedrock() -> String {
    BEDROCK.to_owned()
}

/// `PUT /_sim/quotas`: sets an account's applied value of a known quota.
pub(crate) fn admin_set(ctx: &Ctx, body: &[u8]) -> Result<Value, String> {
    let q: SetQuota = serde_json::from_slice(body).map_err(|e| format!("invalid quota: {e}"))?;
    if known(&q.service_code, &q.quota_code).is_none() {
        return Err(format!(
            "the sim knows no quota {}/{}",
            q.service_code, q.quota_code
        ));
    }
    let key = (
        q.account.clone(),
        q.service_code.clone(),
        q.quota_code.clone(),
    );
    let mut state = ctx.state();
    match q.value {
        Some(v) if v.is_finite() && v >= 0.0 => {
            state.quotas.insert(key, v);
        }
        Some(_) => return Err("value must be a non-negative number".into()),
        None => {
            state.quotas.remove(&key);
        }
    }
    tracing::info!(account = %q.account, quota = %q.quota_code, value = ?q.value, "quota set");
    Ok(admin_list_locked(&state))
}

fn admin_list_locked(state: &crate::state::State) -> Value {
    json!(state
        .quotas
        .iter()
        .map(|((account, service, code), v)| json!({"account": account, "service_code": service, "quota_code": code, "value": v}))
        .collect::<Vec<_>>())
}

/// `GET /_sim/quotas`: the applied values set so far.
pub(crate) fn admin_list(ctx: &Ctx) -> Value {
    admin_list_locked(&ctx.state())
}
