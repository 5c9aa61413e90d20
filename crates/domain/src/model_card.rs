//! A model card for an imported model: what a hosting team needs to call it and to budget for
//! it, built from what Ferry already knows (GetImportedModel's details, the preflight report,
//! the readiness check) and a price table from the configuration (never fetched at run time).
//!
//! Cost: Bedrock bills an imported model per Custom Model Unit (CMU) per minute, in 5-minute
//! windows from the first successful invocation, for each running model copy, plus a monthly
//! storage charge per CMU (user guide, "Calculate the cost of running a custom model":
//! `total = copies × CMUs per copy × rate per CMU per minute × minutes`, the rate by the
//! `customModelUnitsVersion` GetImportedModel reports, from the Custom Model Import section of
//! the Amazon Bedrock pricing page).

use serde::{Deserialize, Serialize};

use crate::artifacts::architecture_named;
use crate::serving::{PROBE_MAX_TOKENS, Readiness, ServingApi};

/// The user guide page with the cost formula.
pub const COST_GUIDE: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/import-model-calculate-cost.html";

/// One row of the price table: what Custom Model Import costs in a Region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmuPrice {
    /// The Region the price is for.
    pub region: String,
    /// The `customModelUnitsVersion` it applies to (e.g. `v1.0`).
    pub cmu_version: String,
    /// USD per Custom Model Unit per minute of a running model copy.
    pub per_cmu_minute_usd: f64,
    /// USD per Custom Model Unit per month of storage.
    pub storage_per_cmu_month_usd: f64,
    /// When the price was taken from its source (a date).
    pub as_of: String,
    /// Where it was taken from.
    pub source: String,
}

/// Where the default prices come from.
pub const PRICING_PAGE: &str = "https://aws.amazon.com/bedrock/pricing/ (Custom Model Import)";

/// The price table Ferry ships with: Custom Model Import's list prices for CMU version v1.0
/// in the Regions below, as the pricing page published them when the feature became generally
/// available (October 2024); they have not been re-checked against the page since. Ferry never
/// fetches prices: check the page and override them in the configuration (`pricing`).
#[must_use]
pub fn default_prices() -> Vec<CmuPrice> {
    ["us-east-1", "us-west-2"]
        .into_iter()
        .map(|region| CmuPrice {
            region: region.to_owned(),
            cmu_version: "v1.0".to_owned(),
            per_cmu_minute_usd: 0.0785,
            storage_per_cmu_month_usd: 1.95,
            as_of: "2024-10".to_owned(),
            source: PRICING_PAGE.to_owned(),
        })
        .collect()
}

/// An estimate for one model, from its CMUs and the matching price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub currency: String,
    /// One running copy, per minute.
    pub per_copy_minute: f64,
    /// One running copy, per hour (billed in 5-minute windows).
    pub per_copy_hour: f64,
    /// Storage, per month.
    pub storage_per_month: f64,
    /// The price row used.
    pub price: CmuPrice,
    /// How Bedrock bills.
    pub note: String,
}

/// Custom model units of one copy, as GetImportedModel reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Units {
    pub per_model_copy: Option<i64>,
    pub version: Option<String>,
}

/// One API verified to answer, with the request format it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedApi {
    pub api: ServingApi,
    /// The bedrock-runtime operation.
    pub operation: String,
    /// The body format, e.g. `{"prompt", "max_gen_len"}`.
    pub request_format: String,
}

/// Ready-to-paste invocations of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Examples {
    /// AWS CLI v2.
    pub aws_cli: String,
    /// A Python script with boto3.
    pub boto3: String,
}

/// The card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub model_arn: String,
    pub model_name: String,
    pub region: String,
    /// The artifact's content digest (`sha256:...`, see
    /// [`crate::artifacts::ArtifactDigest`]), from the preflight: requests of the same
    /// environment with this digest reuse this model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_digest: Option<String>,
    /// GetImportedModel's `modelArchitecture`.
    pub architecture: Option<String>,
    /// The family of the architecture table.
    pub family: Option<String>,
    pub instruct_supported: Option<bool>,
    /// Where the chat template comes from (the preflight's finding).
    pub chat_template: Option<String>,
    /// Whether the readiness check got an answer; `None` before it ended.
    pub serving: Option<bool>,
    /// From the import job's end to the first answer, in milliseconds.
    pub cold_start_ms: Option<u64>,
    pub first_answer_latency_ms: Option<u64>,
    /// The APIs and formats verified to answer.
    pub verified_apis: Vec<VerifiedApi>,
    pub custom_model_units: Option<Units>,
    /// `None` without CMUs or without a price for the Region and CMU version.
    pub estimated_cost: Option<CostEstimate>,
    pub examples: Examples,
}

/// What the card is built from.
#[derive(Debug, Clone, Copy)]
pub struct CardInputs<'a> {
    pub model_arn: &'a str,
    pub model_name: &'a str,
    pub region: &'a str,
    /// The `imported_model` details Ferry stored (GetImportedModel's, with `serving`).
    pub details: Option<&'a serde_json::Value>,
    /// The preflight report.
    pub preflight: Option<&'a serde_json::Value>,
    pub prices: &'a [CmuPrice],
}

impl ServingApi {
    /// The operation and body format of this API.
    fn format(self) -> (&'static str, &'static str) {
        match self {
            Self::InvokeModelNative => (
                "InvokeModel",
                r#"{"prompt": "...", "max_gen_len": N} -> {"generation", "prompt_token_count", "generation_token_count", "stop_reason"}"#,
            ),
            Self::InvokeModelOpenaiChat => (
                "InvokeModel",
                r#"{"messages": [{"role": "user", "content": "..."}], "max_tokens": N} -> OpenAI chat.completion"#,
            ),
            Self::Converse => (
                "Converse",
                r#"messages: [{"role": "user", "content": [{"text": "..."}]}], inferenceConfig.maxTokens"#,
            ),
        }
    }
}

/// The chat template line of the preflight's tokenizer check.
fn chat_template(preflight: &serde_json::Value) -> Option<String> {
    let detail = preflight
        .get("checks")?
        .as_array()?
        .iter()
        .find(|c| {
            c.get("name").and_then(|n| n.as_str()) == Some(crate::preflight::check_names::TOKENIZER)
        })?
        .get("detail")?
        .as_str()?;
    let part = detail
        .split("; ")
        .find(|p| p.contains("chat template"))
        .unwrap_or(detail);
    Some(part.to_owned())
}

/// The estimate for `units` in `region`, if the table has a price.
#[must_use]
pub fn estimate(units: &Units, region: &str, prices: &[CmuPrice]) -> Option<CostEstimate> {
    let per_copy = units.per_model_copy.filter(|n| *n > 0)?;
    let version = units.version.as_deref()?;
    let price = prices
        .iter()
        .find(|p| p.region == region && p.cmu_version == version)?;
    #[allow(clippy::cast_precision_loss)]
    let cmus = per_copy as f64;
    let per_minute = cmus * price.per_cmu_minute_usd;
    Some(CostEstimate {
        currency: "USD".to_owned(),
        per_copy_minute: round(per_minute),
        per_copy_hour: round(per_minute * 60.0),
        storage_per_month: round(cmus * price.storage_per_cmu_month_usd),
        price: price.clone(),
        note: format!(
            "each running copy is billed per minute in 5-minute windows from the first successful \
             invocation; Bedrock adds copies under load and removes them when idle ({COST_GUIDE})"
        ),
    })
}

fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The prompt the examples send.
const EXAMPLE_PROMPT: &str = "Hello, who are you?";

/// The examples for the first verified API (the native body, the OpenAI-compatible one, or
/// Converse), with the Converse call added when Converse answered too.
fn examples(model_arn: &str, region: &str, verified: &[ServingApi]) -> Examples {
    let max = PROBE_MAX_TOKENS * 8;
    let invoke = verified.iter().copied().find(|a| a.invoke_body().is_some());
    let converse = verified.contains(&ServingApi::Converse);
    let body = match invoke {
        Some(ServingApi::InvokeModelOpenaiChat) => serde_json::json!({
            "messages": [{"role": "user", "content": EXAMPLE_PROMPT}],
            "max_tokens": max,
        }),
        _ => serde_json::json!({"prompt": EXAMPLE_PROMPT, "max_gen_len": max}),
    };
    let body = body.to_string();
    let mut cli = Vec::new();
    let mut py = vec![
        "import json".to_owned(),
        String::new(),
        "import boto3".to_owned(),
        String::new(),
        format!("client = boto3.client(\"bedrock-runtime\", region_name=\"{region}\")"),
        format!("model_id = \"{model_arn}\""),
    ];
    if invoke.is_some() || !converse {
        cli.push(format!(
            "aws bedrock-runtime invoke-model --region {region} \\\n  --model-id '{model_arn}' \\\n  \
             --content-type application/json --accept application/json \\\n  \
             --cli-binary-format raw-in-base64-out \\\n  --body '{body}' \\\n  answer.json && cat answer.json"
        ));
        py.extend([
            String::new(),
            "response = client.invoke_model(".to_owned(),
            "    modelId=model_id,".to_owned(),
            "    contentType=\"application/json\",".to_owned(),
            "    accept=\"application/json\",".to_owned(),
            format!("    body=json.dumps({body}),"),
            ")".to_owned(),
            "print(json.loads(response[\"body\"].read()))".to_owned(),
        ]);
    }
    if converse {
        let messages = serde_json::json!([{"role": "user", "content": [{"text": EXAMPLE_PROMPT}]}])
            .to_string();
        cli.push(format!(
            "aws bedrock-runtime converse --region {region} \\\n  --model-id '{model_arn}' \\\n  \
             --messages '{messages}' \\\n  --inference-config '{{\"maxTokens\": {max}}}'"
        ));
        py.extend([
            String::new(),
            "response = client.converse(".to_owned(),
            "    modelId=model_id,".to_owned(),
            format!("    messages=json.loads('{messages}'),"),
            format!("    inferenceConfig={{\"maxTokens\": {max}}},"),
            ")".to_owned(),
            "print(response[\"output\"][\"message\"][\"content\"][0][\"text\"])".to_owned(),
        ]);
    }
    Examples {
        aws_cli: cli.join("\n\n"),
        boto3: py.join("\n") + "\n",
    }
}

/// Builds the card.
#[must_use]
pub fn card(inputs: &CardInputs<'_>) -> ModelCard {
    let details = inputs.details;
    let get = |k: &str| details.and_then(|d| d.get(k));
    let architecture = get("architecture")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let family = architecture
        .as_deref()
        .and_then(architecture_named)
        .map(|a| a.family.to_owned());
    let readiness: Option<Readiness> =
        get(crate::serving::DETAILS_KEY).and_then(|v| serde_json::from_value(v.clone()).ok());
    let verified = readiness
        .as_ref()
        .map(Readiness::verified)
        .unwrap_or_default();
    let units = get("custom_model_units").map(|u| Units {
        per_model_copy: u.get("per_model_copy").and_then(serde_json::Value::as_i64),
        version: u.get("version").and_then(|v| v.as_str()).map(str::to_owned),
    });
    let estimated_cost = units
        .as_ref()
        .and_then(|u| estimate(u, inputs.region, inputs.prices));
    ModelCard {
        model_arn: inputs.model_arn.to_owned(),
        model_name: inputs.model_name.to_owned(),
        region: inputs.region.to_owned(),
        artifact_digest: inputs
            .preflight
            .and_then(|p| p.get("model"))
            .and_then(|m| m.get("digest"))
            .and_then(|d| d.as_str())
            .map(str::to_owned),
        architecture,
        family,
        instruct_supported: get("instruct_supported").and_then(serde_json::Value::as_bool),
        chat_template: inputs.preflight.and_then(chat_template),
        serving: readiness.as_ref().and_then(|r| r.serving),
        cold_start_ms: readiness.as_ref().and_then(|r| r.cold_start_ms),
        first_answer_latency_ms: readiness.as_ref().and_then(|r| r.first_answer_latency_ms),
        verified_apis: verified
            .iter()
            .map(|a| {
                let (operation, request_format) = a.format();
                VerifiedApi {
                    api: *a,
                    operation: operation.to_owned(),
                    request_format: request_format.to_owned(),
                }
            })
            .collect(),
        custom_model_units: units,
        estimated_cost,
        examples: examples(inputs.model_arn, inputs.region, &verified),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:bedrock:us-east-1:777788889999:imported-model/abcdefabcdef";

    fn price() -> CmuPrice {
        CmuPrice {
            region: "us-east-1".into(),
            cmu_version: "v1.0".into(),
            per_cmu_minute_usd: 0.0785,
            storage_per_cmu_month_usd: 1.95,
            as_of: "2026-11-30".into(),
            source: "test".into(),
        }
    }

    fn details(apis: &[ServingApi]) -> serde_json::Value {
        let t0 = time::macros::datetime!(2026-11-30 12:00:00 UTC);
        let mut r = Readiness::start(t0, t0, std::time::Duration::from_secs(60));
        for (i, a) in apis.iter().enumerate() {
            r.record_answer(*a, t0 + time::Duration::seconds(5), 100 + i as u64);
        }
        r.serving = Some(!apis.is_empty());
        serde_json::json!({
            "model_arn": ARN, "architecture": "llama", "instruct_supported": true,
            "custom_model_units": {"per_model_copy": 2, "version": "v1.0"},
            "serving": r,
        })
    }

    #[test]
    fn the_card_says_how_to_call_the_model_and_what_it_costs() {
        let d = details(&[ServingApi::InvokeModelNative, ServingApi::Converse]);
        let preflight = serde_json::json!({"checks": [
            {"name": "tokenizer", "outcome": "Passed", "detail": "tokenizer.json; chat template from tokenizer_config.json"}]});
        let prices = [price()];
        let c = card(&CardInputs {
            model_arn: ARN,
            model_name: "m",
            region: "us-east-1",
            details: Some(&d),
            preflight: Some(&preflight),
            prices: &prices,
        });
        assert_eq!(c.family.as_deref(), Some("Llama (2, 3, 3.1, 3.2, 3.3)"));
        assert_eq!(
            c.chat_template.as_deref(),
            Some("chat template from tokenizer_config.json")
        );
        assert_eq!(c.serving, Some(true));
        assert_eq!(c.cold_start_ms, Some(5_000));
        assert_eq!(c.verified_apis.len(), 2);
        let cost = c.estimated_cost.unwrap();
        assert_eq!(cost.per_copy_minute, 0.157);
        assert_eq!(cost.per_copy_hour, 9.42);
        assert_eq!(cost.storage_per_month, 3.9);
        assert!(c.examples.aws_cli.contains("invoke-model"));
        assert!(c.examples.aws_cli.contains("converse"));
        assert!(c.examples.aws_cli.contains(ARN));
        assert!(c.examples.boto3.contains("client.invoke_model("));
        assert!(c.examples.boto3.contains("\"max_gen_len\":64"));
        assert!(c.examples.boto3.contains("client.converse("));
    }

    #[test]
    fn an_openai_only_model_gets_the_chat_body_and_no_price_elsewhere() {
        let d = details(&[ServingApi::InvokeModelOpenaiChat]);
        let prices = [price()];
        let c = card(&CardInputs {
            model_arn: ARN,
            model_name: "m",
            region: "eu-central-1",
            details: Some(&d),
            preflight: None,
            prices: &prices,
        });
        assert!(c.estimated_cost.is_none(), "no price for eu-central-1");
        assert!(c.examples.boto3.contains("\"messages\""));
        assert!(!c.examples.boto3.contains("max_gen_len"));
        assert!(!c.examples.aws_cli.contains("converse"));
    }
}
