//! `config.json`: the architecture (against the supported list) and the context length.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ArtifactProblem;
use super::MAX_CONTEXT_TOKENS;
use super::architectures::{SUPPORTED_ARCHITECTURES, match_architecture};

/// What `config.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfigFacts {
    /// `model_type`.
    pub model_type: Option<String>,
    /// `architectures[]`.
    pub architectures: Vec<String>,
    /// The matched family from [`SUPPORTED_ARCHITECTURES`].
    pub family: String,
    /// `max_position_embeddings` (or `text_config.max_position_embeddings`).
    pub context_length: Option<u64>,
    /// `torch_dtype` (or the newer `dtype`).
    pub torch_dtype: Option<String>,
}

/// Checks `config.json`: valid JSON object, supported architecture, context length.
pub fn check_config_json(bytes: &[u8]) -> Result<ModelConfigFacts, ArtifactProblem> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| ArtifactProblem::InvalidConfig(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ArtifactProblem::InvalidConfig("not a JSON object".into()))?;
    let model_type = obj
        .get("model_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let architectures: Vec<String> = obj
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(arch) = match_architecture(model_type.as_deref(), &architectures) else {
        return Err(ArtifactProblem::UnsupportedArchitecture {
            model_type,
            architectures,
            supported: SUPPORTED_ARCHITECTURES
                .iter()
                .map(|a| a.family)
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let context_length = obj
        .get("max_position_embeddings")
        .or_else(|| {
            obj.get("text_config")
                .and_then(|t| t.get("max_position_embeddings"))
        })
        .and_then(Value::as_u64);
    if let Some(tokens) = context_length
        && tokens > MAX_CONTEXT_TOKENS
    {
        return Err(ArtifactProblem::ContextTooLong {
            tokens,
            limit: MAX_CONTEXT_TOKENS,
        });
    }
    let torch_dtype = obj
        .get("torch_dtype")
        .or_else(|| obj.get("dtype"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(ModelConfigFacts {
        model_type,
        architectures,
        family: arch.family.to_owned(),
        context_length,
        torch_dtype,
    })
}
