//! `config.json`: the architecture (against the supported list) and the context length.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ArtifactProblem;
use super::MAX_CONTEXT_TOKENS;

/// One supported architecture family. Keep this table in step with the Bedrock user guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    /// Human name, e.g. `"Llama"`.
    pub family: &'static str,
    /// `config.json` `model_type` values.
    pub model_types: &'static [&'static str],
    /// `config.json` `architectures[]` class names.
    pub classes: &'static [&'static str],
}

/// Architectures Bedrock Custom Model Import accepts.
pub const SUPPORTED_ARCHITECTURES: &[Architecture] = &[
    Architecture {
        family: "Llama (2, 3, 3.1, 3.2, 3.3)",
        model_types: &["llama"],
        classes: &["LlamaForCausalLM"],
    },
    Architecture {
        family: "Llama 3.2 Vision (Mllama)",
        model_types: &["mllama"],
        classes: &["MllamaForConditionalGeneration", "MllamaForCausalLM"],
    },
    Architecture {
        family: "Mistral",
        model_types: &["mistral"],
        classes: &["MistralForCausalLM"],
    },
    Architecture {
        family: "Mixtral",
        model_types: &["mixtral"],
        classes: &["MixtralForCausalLM"],
    },
    Architecture {
        family: "Flan-T5",
        model_types: &["t5"],
        classes: &["T5ForConditionalGeneration"],
    },
    Architecture {
        family: "GPTBigCode",
        model_types: &["gpt_bigcode"],
        classes: &["GPTBigCodeForCausalLM"],
    },
    Architecture {
        family: "Qwen2 / Qwen2.5",
        model_types: &["qwen2"],
        classes: &["Qwen2ForCausalLM"],
    },
    Architecture {
        family: "Qwen2-VL",
        model_types: &["qwen2_vl"],
        classes: &["Qwen2VLForConditionalGeneration"],
    },
    Architecture {
        family: "Qwen2.5-VL",
        model_types: &["qwen2_5_vl"],
        classes: &["Qwen2_5_VLForConditionalGeneration"],
    },
    Architecture {
        family: "Qwen3",
        model_types: &["qwen3"],
        classes: &["Qwen3ForCausalLM"],
    },
    Architecture {
        family: "GPT-OSS",
        model_types: &["gpt_oss"],
        classes: &["GptOssForCausalLM"],
    },
];

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

/// The supported architecture `config.json` names, if any.
#[must_use]
pub fn match_architecture(
    model_type: Option<&str>,
    architectures: &[String],
) -> Option<&'static Architecture> {
    SUPPORTED_ARCHITECTURES.iter().find(|a| {
        model_type.is_some_and(|t| a.model_types.contains(&t))
            || architectures
                .iter()
                .any(|c| a.classes.contains(&c.as_str()))
    })
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
