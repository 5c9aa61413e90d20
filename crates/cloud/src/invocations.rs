//! When each imported model was last invoked: CloudWatch `GetMetricData` over the JSON
//! protocol (hand-signed, [`crate::signed`]), metric `Invocations` in namespace `AWS/Bedrock`
//! with the dimension `ModelId` = the model's ARN (Bedrock user guide, "Monitor
//! bedrock-runtime inference using CloudWatch metrics": successful `InvokeModel`, `Converse`
//! and their streaming forms; botocore `cloudwatch/2010-08-01` for the shapes). One call asks
//! for up to [`MAX_QUERIES`] models, statistic `Sum` per period; each call is one page.

use std::collections::HashMap;

use ferry_domain::names::EnvironmentName;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Cloud;
use crate::error::CallError;
use crate::signed::SignedCallError;

/// GetMetricData's limit of queries per call.
pub const MAX_QUERIES: usize = 500;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Dimension<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Metric<'a> {
    namespace: &'a str,
    metric_name: &'a str,
    dimensions: [Dimension<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStat<'a> {
    metric: Metric<'a>,
    period: i64,
    stat: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Query<'a> {
    id: String,
    metric_stat: MetricStat<'a>,
    return_data: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Input<'a> {
    metric_data_queries: Vec<Query<'a>>,
    /// Epoch seconds (the JSON protocol's timestamps).
    start_time: i64,
    end_time: i64,
    scan_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Result_ {
    id: String,
    #[serde(default)]
    timestamps: Vec<f64>,
    #[serde(default)]
    values: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    #[serde(default)]
    metric_data_results: Vec<Result_>,
    next_token: Option<String>,
}

/// One page of GetMetricData: per model ARN asked for, the start of the latest period with
/// an invocation in it (absent: none in this page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationPage {
    pub last: HashMap<String, OffsetDateTime>,
    /// `NextToken`: more pages follow for the same models.
    pub next: Option<String>,
}

fn map_error(e: &SignedCallError) -> CallError {
    match e.code() {
        Some("AccessDenied" | "AccessDeniedException") => CallError::AccessDenied {
            message: e.to_string(),
            step: None,
            fix: Some(format!(
                "grant the control role {} (statement {})",
                ferry_policy::INVOCATIONS_ACTION,
                ferry_policy::INVOCATIONS_SID
            )),
        },
        _ if e.is_throttling() => CallError::Throttled(e.to_string()),
        _ if e.is_retryable() => CallError::Transient(e.to_string()),
        _ => CallError::Validation(e.to_string()),
    }
}

impl Cloud {
    /// One page of `GetMetricData` for `models` (at most [`MAX_QUERIES`] ARNs): `Invocations`
    /// summed per `period_secs` between `start` and `end`, newest first.
    #[tracing::instrument(skip_all, fields(env = %env, op = "GetMetricData", models = models.len()), err)]
    pub async fn invocations_page(
        &self,
        env: &EnvironmentName,
        models: &[String],
        start: OffsetDateTime,
        end: OffsetDateTime,
        period_secs: i64,
        token: Option<&str>,
    ) -> Result<InvocationPage, CallError> {
        let clients = self.clients(env)?;
        let input = Input {
            metric_data_queries: models
                .iter()
                .take(MAX_QUERIES)
                .enumerate()
                .map(|(i, arn)| Query {
                    id: format!("m{i}"),
                    metric_stat: MetricStat {
                        metric: Metric {
                            namespace: "AWS/Bedrock",
                            metric_name: "Invocations",
                            dimensions: [Dimension {
                                name: "ModelId",
                                value: arn,
                            }],
                        },
                        period: period_secs,
                        stat: "Sum",
                    },
                    return_data: true,
                })
                .collect(),
            start_time: start.unix_timestamp(),
            end_time: end.unix_timestamp(),
            scan_by: "TimestampDescending",
            next_token: token,
        };
        let out: Output = match clients.cloudwatch.call("GetMetricData", &input).await {
            Err(e) if e.is_expired() => {
                clients.invalidate().await;
                clients.cloudwatch.call("GetMetricData", &input).await
            }
            r => r,
        }
        .map_err(|e| map_error(&e))?;
        let mut last = HashMap::new();
        for r in out.metric_data_results {
            let Some(arn) =
                r.id.strip_prefix('m')
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| models.get(i))
            else {
                continue;
            };
            let latest = r
                .timestamps
                .iter()
                .zip(&r.values)
                .filter(|(_, v)| **v > 0.0)
                .filter_map(|(t, _)| {
                    #[allow(clippy::cast_possible_truncation)]
                    OffsetDateTime::from_unix_timestamp(t.floor() as i64).ok()
                })
                .max();
            if let Some(t) = latest {
                last.insert(arn.clone(), t);
            }
        }
        Ok(InvocationPage {
            last,
            next: out
                .next_token
                .filter(|t| !t.is_empty() && Some(t.as_str()) != token),
        })
    }
}
