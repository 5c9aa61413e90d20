//! CloudWatch `GetMetricData` for the invocations the sim's bedrock-runtime served, in the
//! JSON protocol (awsJson1_0, `X-Amz-Target: GraniteServiceVersion20100801.GetMetricData`,
//! signing name `monitoring`: botocore's `cloudwatch/2010-08-01/service-2.json`, whose
//! `protocols` are `smithy-rpc-v2-cbor`, `json`, `query`, with `awsQueryCompatible`, so errors
//! carry `x-amzn-query-error: <Code>;Sender` beside the body's `__type`), authorized by IAM as
//! `cloudwatch:GetMetricData` on `*` (the Service Authorization Reference lists no resource
//! type for it).
//!
//! One metric has data: namespace `AWS/Bedrock`, `Invocations`, with the one dimension
//! `ModelId` = the imported model's ARN (Bedrock user guide, "Monitor bedrock-runtime
//! inference using CloudWatch metrics": successful `InvokeModel`, `Converse` and their stream
//! variants, unit SampleCount), counted per `Period` from `StartTime`; any other metric is an
//! empty result, as CloudWatch answers for a metric with no data. `Sum` and `SampleCount` give
//! the count per period, other statistics 1 per period with data. Results come newest first
//! (`ScanBy` `TimestampDescending`, the default) or oldest first, only periods with data, and
//! a page holds at most `MaxDatapoints` data points (default 100,800), whole queries at a
//! time, with `NextToken` naming the next query. Metric math (`Expression`) is not evaluated.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use ferry_policy::iam::{RequestContext, ResourcePolicyMode};

use crate::server::{Caller, Ctx, JsonRpc, authorize, json_rpc};
use crate::wire::{Service, SimError, SimRequest, SimResult, json_response};

const CT: &str = "application/x-amz-json-1.0";
/// botocore's `targetPrefix` of CloudWatch.
pub(crate) const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// GetMetricData's documented limit of queries per call.
const MAX_QUERIES: usize = 500;
/// GetMetricData's documented limit of data points per call.
const DEFAULT_MAX_DATAPOINTS: usize = 100_800;

/// The Query-protocol error code of an error shape (the model's `error.code`), which an
/// awsQueryCompatible service sends in `x-amzn-query-error`.
pub(crate) fn query_code(shape: &str) -> &str {
    match shape {
        "InvalidParameterValueException" => "InvalidParameterValue",
        "MissingRequiredParameterException" => "MissingParameter",
        "InvalidParameterCombinationException" => "InvalidParameterCombination",
        "InternalServiceFault" => "InternalServiceError",
        "AccessDeniedException" => "AccessDenied",
        other => other,
    }
}

fn invalid(msg: impl Into<String>) -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "InvalidParameterValueException",
        msg,
    )
}

fn missing(name: &str) -> SimError {
    SimError::new(
        StatusCode::BAD_REQUEST,
        "MissingRequiredParameterException",
        format!("The parameter {name} is required."),
    )
}

pub(crate) async fn handle(ctx: &Ctx, req: &SimRequest, caller: &Caller) -> SimResult {
    let JsonRpc { op, body } = json_rpc(ctx, req, Service::CloudWatch, TARGET_PREFIX).await?;
    let result = match op.as_str() {
        "GetMetricData" => get_metric_data(ctx, &body, caller),
        _ => Err(SimError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("ferry-sim does not implement CloudWatch {op}"),
        )),
    };
    ctx.faults.after(Service::CloudWatch.name(), &op).await;
    result
}

/// A timestamp of the JSON protocol: epoch seconds, a number.
fn timestamp(body: &Value, name: &str) -> SimResult<OffsetDateTime> {
    let v = body.get(name).ok_or_else(|| missing(name))?;
    let secs = v
        .as_f64()
        .ok_or_else(|| invalid(format!("The parameter {name} must be a timestamp.")))?;
    #[allow(clippy::cast_possible_truncation)]
    let nanos = (secs * 1e9) as i128;
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .map_err(|_| invalid(format!("The parameter {name} is out of range.")))
}

/// One `MetricDataQuery` with a `MetricStat`.
struct Query {
    id: String,
    label: String,
    /// The model ARN, when the query asks for `AWS/Bedrock` `Invocations` by `ModelId`.
    model: Option<String>,
    period: i64,
    count_all: bool,
    return_data: bool,
}

fn parse_query(q: &Value, i: usize) -> SimResult<Query> {
    let at = |f: &str| format!("MetricDataQueries.member.{}.{f}", i + 1);
    let id = q
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&at("Id")))?;
    let id_ok = id.len() <= 255
        && id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !id_ok {
        return Err(invalid(format!(
            "The value {id} for parameter {} is not valid: it must start with a lowercase letter and hold only letters, digits and underscores.",
            at("Id")
        )));
    }
    if q.get("Expression").is_some() {
        return Err(invalid(format!(
            "ferry-sim does not evaluate metric math or Metrics Insights ({})",
            at("Expression")
        )));
    }
    let stat = q
        .get("MetricStat")
        .ok_or_else(|| missing(&at("MetricStat")))?;
    let metric = stat
        .get("Metric")
        .ok_or_else(|| missing(&at("MetricStat.Metric")))?;
    let namespace = metric.get("Namespace").and_then(Value::as_str);
    let name = metric
        .get("MetricName")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&at("MetricStat.Metric.MetricName")))?;
    let period = stat
        .get("Period")
        .and_then(Value::as_i64)
        .ok_or_else(|| missing(&at("MetricStat.Period")))?;
    if period < 1 || (period > 60 && period % 60 != 0) || (period < 60 && 60 % period != 0) {
        return Err(invalid(format!(
            "The parameter {} must be 1, 5, 10, 20, 30, 60 or a multiple of 60.",
            at("MetricStat.Period")
        )));
    }
    let statistic = stat
        .get("Stat")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(&at("MetricStat.Stat")))?;
    let dims: Vec<(&str, &str)> = metric
        .get("Dimensions")
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|x| {
                    (
                        x.get("Name").and_then(Value::as_str).unwrap_or_default(),
                        x.get("Value").and_then(Value::as_str).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let model = match (namespace, name, dims.as_slice()) {
        (Some("AWS/Bedrock"), "Invocations", [("ModelId", arn)]) => Some((*arn).to_owned()),
        _ => None,
    };
    Ok(Query {
        id: id.to_owned(),
        label: q
            .get("Label")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned(),
        model,
        period,
        count_all: matches!(statistic, "Sum" | "SampleCount"),
        return_data: q.get("ReturnData").and_then(Value::as_bool).unwrap_or(true),
    })
}

fn get_metric_data(ctx: &Ctx, body: &Value, caller: &Caller) -> SimResult {
    let account = caller.account().to_owned();
    {
        let state = ctx.state();
        let rctx = RequestContext::new(
            caller.principal.clone(),
            "cloudwatch:GetMetricData",
            "*",
            account.clone(),
        );
        authorize(
            &state,
            Service::CloudWatch,
            &rctx,
            None,
            ResourcePolicyMode::Optional,
        )?;
    }
    let queries = body
        .get("MetricDataQueries")
        .and_then(Value::as_array)
        .ok_or_else(|| missing("MetricDataQueries"))?;
    if queries.is_empty() || queries.len() > MAX_QUERIES {
        return Err(invalid(format!(
            "The collection MetricDataQueries must hold 1 to {MAX_QUERIES} members, got {}.",
            queries.len()
        )));
    }
    let start = timestamp(body, "StartTime")?;
    let end = timestamp(body, "EndTime")?;
    if end <= start {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let parsed = queries
        .iter()
        .enumerate()
        .map(|(i, q)| parse_query(q, i))
        .collect::<SimResult<Vec<_>>>()?;
    let mut ids = std::collections::HashSet::new();
    if let Some(dup) = parsed.iter().find(|q| !ids.insert(q.id.as_str())) {
        return Err(invalid(format!(
            "The value {} for parameter MetricDataQueries is not valid: Ids must be unique.",
            dup.id
        )));
    }
    let ascending = match body.get("ScanBy").and_then(Value::as_str) {
        None | Some("TimestampDescending") => false,
        Some("TimestampAscending") => true,
        Some(other) => {
            return Err(invalid(format!(
                "The value {other} for parameter ScanBy is not valid."
            )));
        }
    };
    let max_points = body
        .get("MaxDatapoints")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_DATAPOINTS);
    let first = match body.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => t
            .strip_prefix("q")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < parsed.len())
            .ok_or_else(|| {
                SimError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidNextToken",
                    "The token is invalid.",
                )
            })?,
    };
    let mut results = Vec::new();
    let mut points = 0usize;
    let mut next = None;
    for (i, q) in parsed.iter().enumerate().skip(first) {
        if !q.return_data {
            continue;
        }
        let series = match &q.model {
            Some(arn) => ctx.runtime.invocations(&account, arn, start, end),
            None => Vec::new(),
        };
        let mut buckets: BTreeMap<i64, f64> = BTreeMap::new();
        for at in series {
            let k = (at - start).whole_seconds() / q.period;
            let v = buckets.entry(k).or_insert(0.0);
            *v = if q.count_all { *v + 1.0 } else { 1.0 };
        }
        if points > 0 && points + buckets.len() > max_points {
            next = Some(format!("q{i}"));
            break;
        }
        points += buckets.len();
        let mut rows: Vec<(i64, f64)> = buckets
            .into_iter()
            .map(|(k, v)| {
                (
                    (start + time::Duration::seconds(k * q.period)).unix_timestamp(),
                    v,
                )
            })
            .collect();
        if !ascending {
            rows.reverse();
        }
        results.push(json!({
            "Id": q.id,
            "Label": q.label,
            "Timestamps": rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "Values": rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "StatusCode": "Complete",
        }));
    }
    let mut out = json!({"MetricDataResults": results, "Messages": []});
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(json_response(StatusCode::OK, CT, &out))
}
