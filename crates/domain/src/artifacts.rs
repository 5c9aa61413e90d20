//! Model artifact rules for Bedrock Custom Model Import, checked before a job is submitted.
//!
//! Bedrock only says an artifact is wrong hours later, as a `Failed` job with a
//! `failureMessage`. These rules read what a preflight can fetch cheaply (the object listing,
//! `config.json`, `model.safetensors.index.json`, and the first bytes of each safetensors file)
//! and say what is wrong now. Everything here is pure: the caller does the I/O.
//!
//! The rules, as Ferry applies them:
//!
//! - **Architecture**: `config.json` must name a supported architecture
//!   ([`SUPPORTED_ARCHITECTURES`]) by `model_type` or by one of its `architectures[]` classes.
//! - **Context**: `max_position_embeddings` (top level, or `text_config` for multimodal
//!   configs) must not exceed [`MAX_CONTEXT_TOKENS`] (128K = 131,072 tokens; Llama 3.1's
//!   131,072 is accepted).
//! - **Weights**: Hugging Face safetensors at the top of the prefix, either `*.safetensors`
//!   files or shards named by `model.safetensors.index.json` (every shard must exist).
//!   PyTorch/GGUF weights (`*.bin`, `*.pt`, `*.pth`, `*.gguf`) without safetensors fail
//!   ("convert to safetensors"); next to safetensors they are a warning (dead weight that
//!   counts against the size limit).
//! - **Adapters**: `adapter_config.json` or `adapter_model.safetensors` means a LoRA/PEFT
//!   adapter, which Bedrock cannot import: merge it into the base model first.
//! - **Tokenizer**: a vocabulary is required at the top of the prefix: `tokenizer.json` (fast
//!   tokenizer), `tokenizer.model` or `spiece.model` (SentencePiece), or `vocab.json` with
//!   `merges.txt` (byte-level BPE). `tokenizer_config.json` alone holds no vocabulary and does
//!   not count; its absence is only a warning (it carries the chat template).
//! - **Size**: all objects under the prefix together stay under [`MAX_TOTAL_BYTES`] (200 GB).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// Longest context Bedrock imports: 128K tokens.
pub const MAX_CONTEXT_TOKENS: u64 = 131_072;
/// Largest model Bedrock imports: 200 GB (decimal, as AWS states limits).
pub const MAX_TOTAL_BYTES: u64 = 200_000_000_000;
/// Largest safetensors JSON header Ferry reads (the format's own reference limit).
pub const MAX_SAFETENSORS_HEADER_BYTES: u64 = 100_000_000;
/// Files that hold a tokenizer's vocabulary on their own.
pub const TOKENIZER_VOCAB_FILES: &[&str] = &["tokenizer.json", "tokenizer.model", "spiece.model"];
/// The sharded safetensors index.
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
/// Weight file suffixes Bedrock does not read.
pub const NON_SAFETENSORS_WEIGHT_SUFFIXES: &[&str] = &[".bin", ".pt", ".pth", ".gguf"];

/// Something about the artifacts that makes the import fail (or, for the few warnings the
/// caller chooses to downgrade, that deserves attention).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactProblem {
    /// `config.json` is not a JSON object.
    #[error("config.json is not valid JSON: {0}")]
    InvalidConfig(String),
    /// The architecture is not one Bedrock imports.
    #[error(
        "unsupported architecture: model_type {model_type:?}, architectures {architectures:?}; Bedrock imports {supported}"
    )]
    UnsupportedArchitecture {
        /// `model_type`, if any.
        model_type: Option<String>,
        /// `architectures[]`.
        architectures: Vec<String>,
        /// The supported families, comma-separated.
        supported: String,
    },
    /// The context length is over the limit.
    #[error("context length {tokens} tokens exceeds Bedrock's limit of {limit} (128K)")]
    ContextTooLong {
        /// `max_position_embeddings`.
        tokens: u64,
        /// [`MAX_CONTEXT_TOKENS`].
        limit: u64,
    },
    /// No weights at all.
    #[error("no *.safetensors weights found")]
    NoWeights,
    /// Weights in a format Bedrock does not read.
    #[error("weights are not in safetensors format ({}): convert to safetensors", files.join(", "))]
    NotSafetensors {
        /// The offending files.
        files: Vec<String>,
    },
    /// A LoRA/PEFT adapter instead of a full model.
    #[error("{file} is a LoRA/PEFT adapter: merge the adapters into the base model first")]
    LoraAdapter {
        /// The file that gave it away.
        file: String,
    },
    /// The sharded index is unreadable.
    #[error("{SAFETENSORS_INDEX} is invalid: {0}")]
    InvalidIndex(String),
    /// Shards named in the index are missing.
    #[error("{SAFETENSORS_INDEX} names shards that are missing: {}", missing.join(", "))]
    MissingShards {
        /// Missing shard file names.
        missing: Vec<String>,
    },
    /// A safetensors header is corrupt.
    #[error("{file}: invalid safetensors header: {reason}")]
    InvalidSafetensors {
        /// File name.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// No tokenizer vocabulary.
    #[error(
        "no tokenizer found: add tokenizer.json (or tokenizer.model / spiece.model, or vocab.json with merges.txt)"
    )]
    MissingTokenizer,
    /// Too big.
    #[error("the model is {bytes} bytes, over Bedrock's limit of {limit} bytes (200 GB)")]
    TooLarge {
        /// Total bytes under the prefix.
        bytes: u64,
        /// [`MAX_TOTAL_BYTES`].
        limit: u64,
    },
}

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

/// What one safetensors header says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsFacts {
    /// Length of the JSON header in bytes.
    pub header_len: u64,
    /// Number of tensors.
    pub tensor_count: usize,
    /// Sum of the tensors' element counts.
    pub parameter_count: u64,
    /// Distinct dtypes, sorted (`BF16`, `F32`, ...).
    pub dtypes: Vec<String>,
}

/// Bytes per element of each safetensors dtype; `None` for sub-byte types.
fn dtype_size(dtype: &str) -> Option<Option<u64>> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" | "F8_E8M0" => Some(1),
        "U16" | "I16" | "F16" | "BF16" => Some(2),
        "U32" | "I32" | "F32" => Some(4),
        "U64" | "I64" | "F64" => Some(8),
        "F4" | "F6_E2M3" | "F6_E3M2" => None,
        _ => return None,
    })
}

/// The JSON header length from a safetensors file's first 8 bytes, checked against the file
/// size and [`MAX_SAFETENSORS_HEADER_BYTES`]. `file` names the file in errors.
pub fn safetensors_header_len(
    file: &str,
    first8: &[u8],
    total_len: u64,
) -> Result<u64, ArtifactProblem> {
    let bad = |reason: String| ArtifactProblem::InvalidSafetensors {
        file: file.to_owned(),
        reason,
    };
    let bytes: [u8; 8] = first8
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            bad(format!(
                "the file is {total_len} bytes, shorter than the 8-byte header length"
            ))
        })?;
    let len = u64::from_le_bytes(bytes);
    if len == 0 || len > MAX_SAFETENSORS_HEADER_BYTES {
        return Err(bad(format!(
            "header length {len} is outside 1..={MAX_SAFETENSORS_HEADER_BYTES}"
        )));
    }
    if len.saturating_add(8) > total_len {
        return Err(bad(format!(
            "header length {len} runs past the end of the {total_len}-byte file"
        )));
    }
    Ok(len)
}

/// Parses a safetensors header. `first_bytes` holds at least the 8-byte length and the whole
/// JSON header; `total_len` is the object's size. Checks every tensor's dtype, shape and data
/// offsets against the file size; `__metadata__` is ignored.
pub fn parse_safetensors_header(
    file: &str,
    first_bytes: &[u8],
    total_len: u64,
) -> Result<SafetensorsFacts, ArtifactProblem> {
    let bad = |reason: String| ArtifactProblem::InvalidSafetensors {
        file: file.to_owned(),
        reason,
    };
    let header_len = safetensors_header_len(file, first_bytes, total_len)?;
    let end = usize::try_from(header_len.saturating_add(8))
        .map_err(|_| bad("header too large for this platform".into()))?;
    let json = first_bytes
        .get(8..end)
        .ok_or_else(|| bad(format!("only {} header bytes were read", first_bytes.len())))?;
    let header: BTreeMap<String, Value> = serde_json::from_slice(json)
        .map_err(|e| bad(format!("the header is not a JSON object: {e}")))?;
    let data_len = total_len - 8 - header_len;
    let mut dtypes = BTreeSet::new();
    let mut parameter_count: u64 = 0;
    let mut tensor_count = 0;
    let mut max_end = 0u64;
    for (name, t) in &header {
        if name == "__metadata__" {
            continue;
        }
        let dtype = t
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("tensor {name} has no dtype")))?;
        let size = dtype_size(dtype)
            .ok_or_else(|| bad(format!("tensor {name} has unknown dtype {dtype}")))?;
        let shape = t
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("tensor {name} has no shape")))?;
        let mut numel: u64 = 1;
        for d in shape {
            let d = d
                .as_u64()
                .ok_or_else(|| bad(format!("tensor {name} has a non-integer dimension")))?;
            numel = numel
                .checked_mul(d)
                .ok_or_else(|| bad(format!("tensor {name} shape overflows")))?;
        }
        let offsets = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .filter(|o| o.len() == 2)
            .and_then(|o| Some((o.first()?.as_u64()?, o.get(1)?.as_u64()?)))
            .ok_or_else(|| bad(format!("tensor {name} has no [begin, end] data_offsets")))?;
        if offsets.1 < offsets.0 || offsets.1 > data_len {
            return Err(bad(format!(
                "tensor {name} data_offsets {:?} fall outside the {data_len}-byte data section",
                offsets
            )));
        }
        if let Some(size) = size
            && numel.checked_mul(size) != Some(offsets.1 - offsets.0)
        {
            return Err(bad(format!(
                "tensor {name}: {numel} elements of {dtype} do not fill {} bytes",
                offsets.1 - offsets.0
            )));
        }
        max_end = max_end.max(offsets.1);
        parameter_count = parameter_count.saturating_add(numel);
        tensor_count += 1;
        dtypes.insert(dtype.to_owned());
    }
    if max_end != data_len {
        return Err(bad(format!(
            "tensors cover {max_end} bytes but the data section is {data_len} bytes (truncated or padded file)"
        )));
    }
    Ok(SafetensorsFacts {
        header_len,
        tensor_count,
        parameter_count,
        dtypes: dtypes.into_iter().collect(),
    })
}

/// What `model.safetensors.index.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetensorsIndex {
    /// Shard file names from `weight_map`, sorted and unique.
    pub files: Vec<String>,
    /// `metadata.total_size`, if present.
    pub total_size: Option<u64>,
}

/// Parses `model.safetensors.index.json`.
pub fn parse_safetensors_index(bytes: &[u8]) -> Result<SafetensorsIndex, ArtifactProblem> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| ArtifactProblem::InvalidIndex(e.to_string()))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| ArtifactProblem::InvalidIndex("no weight_map object".into()))?;
    let mut files = BTreeSet::new();
    for (tensor, f) in map {
        let f = f.as_str().ok_or_else(|| {
            ArtifactProblem::InvalidIndex(format!("weight_map[{tensor}] is not a file name"))
        })?;
        files.insert(f.to_owned());
    }
    if files.is_empty() {
        return Err(ArtifactProblem::InvalidIndex("weight_map is empty".into()));
    }
    Ok(SafetensorsIndex {
        files: files.into_iter().collect(),
        total_size: v.pointer("/metadata/total_size").and_then(Value::as_u64),
    })
}

/// The weight files of a listing (names relative to the model prefix).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WeightFiles {
    /// `*.safetensors` at the top of the prefix, sorted.
    pub safetensors: Vec<String>,
    /// `*.bin`, `*.pt`, `*.pth`, `*.gguf` anywhere under the prefix.
    pub other_weights: Vec<String>,
    /// Whether `model.safetensors.index.json` is present.
    pub has_index: bool,
}

/// Sorts a listing's names into weight files.
#[must_use]
pub fn classify_weights(names: &[String]) -> WeightFiles {
    let mut out = WeightFiles::default();
    for n in names {
        let base = n.rsplit('/').next().unwrap_or(n);
        if !n.contains('/') && n.ends_with(".safetensors") {
            out.safetensors.push(n.clone());
        } else if NON_SAFETENSORS_WEIGHT_SUFFIXES
            .iter()
            .any(|s| base.ends_with(s))
            && base != "training_args.bin"
        {
            out.other_weights.push(n.clone());
        } else if n == SAFETENSORS_INDEX {
            out.has_index = true;
        }
    }
    out.safetensors.sort();
    out.other_weights.sort();
    out
}

/// A LoRA/PEFT adapter in the listing, if any.
pub fn check_not_adapter(names: &[String]) -> Result<(), ArtifactProblem> {
    match names
        .iter()
        .find(|n| *n == "adapter_config.json" || n.starts_with("adapter_model."))
    {
        Some(f) => Err(ArtifactProblem::LoraAdapter { file: f.clone() }),
        None => Ok(()),
    }
}

/// The safetensors files to read: the index's shards when there is an index (all must be
/// present), else every top-level `*.safetensors`. Fails without safetensors weights.
pub fn resolve_weights(
    weights: &WeightFiles,
    index: Option<&SafetensorsIndex>,
) -> Result<Vec<String>, ArtifactProblem> {
    if let Some(index) = index {
        let missing: Vec<String> = index
            .files
            .iter()
            .filter(|f| !weights.safetensors.contains(f))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ArtifactProblem::MissingShards { missing });
        }
        return Ok(index.files.clone());
    }
    if weights.safetensors.is_empty() {
        return Err(if weights.other_weights.is_empty() {
            ArtifactProblem::NoWeights
        } else {
            ArtifactProblem::NotSafetensors {
                files: weights.other_weights.clone(),
            }
        });
    }
    Ok(weights.safetensors.clone())
}

/// Which tokenizer files are present at the top of the prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerFacts {
    /// The vocabulary files found.
    pub vocabulary: Vec<String>,
    /// Whether `tokenizer_config.json` (chat template, special tokens) is present.
    pub has_tokenizer_config: bool,
}

/// Applies the tokenizer rule (see the module documentation).
pub fn check_tokenizer(names: &[String]) -> Result<TokenizerFacts, ArtifactProblem> {
    let has = |f: &str| names.iter().any(|n| n == f);
    let mut vocabulary: Vec<String> = TOKENIZER_VOCAB_FILES
        .iter()
        .filter(|f| has(f))
        .map(|f| (*f).to_owned())
        .collect();
    if has("vocab.json") && has("merges.txt") {
        vocabulary.push("vocab.json + merges.txt".into());
    }
    if vocabulary.is_empty() {
        return Err(ArtifactProblem::MissingTokenizer);
    }
    Ok(TokenizerFacts {
        vocabulary,
        has_tokenizer_config: has("tokenizer_config.json"),
    })
}

/// The 200 GB rule.
pub fn check_total_size(bytes: u64) -> Result<(), ArtifactProblem> {
    if bytes > MAX_TOTAL_BYTES {
        return Err(ArtifactProblem::TooLarge {
            bytes,
            limit: MAX_TOTAL_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(tensors: &[(&str, &str, &[u64])]) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut off = 0u64;
        for (name, dtype, shape) in tensors {
            let n: u64 = shape.iter().product::<u64>() * dtype_size(dtype).unwrap().unwrap();
            header.insert(
                (*name).into(),
                json!({"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}),
            );
            off += n;
        }
        let h = Value::Object(header).to_string().into_bytes();
        let mut out = (h.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&h);
        out.resize(out.len() + usize::try_from(off).unwrap(), 0);
        out
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_supported_family_is_recognised() {
        for (mt, class) in [
            ("llama", "LlamaForCausalLM"),
            ("mllama", "MllamaForConditionalGeneration"),
            ("mistral", "MistralForCausalLM"),
            ("mixtral", "MixtralForCausalLM"),
            ("t5", "T5ForConditionalGeneration"),
            ("gpt_bigcode", "GPTBigCodeForCausalLM"),
            ("qwen2", "Qwen2ForCausalLM"),
            ("qwen2_vl", "Qwen2VLForConditionalGeneration"),
            ("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration"),
            ("qwen3", "Qwen3ForCausalLM"),
            ("gpt_oss", "GptOssForCausalLM"),
        ] {
            let cfg = json!({"model_type": mt, "architectures": [class]}).to_string();
            check_config_json(cfg.as_bytes()).unwrap();
            // Either field alone is enough.
            assert!(match_architecture(Some(mt), &[]).is_some(), "{mt}");
            assert!(
                match_architecture(None, &[class.to_owned()]).is_some(),
                "{class}"
            );
        }
    }

    #[test]
    fn config_facts_and_problems() {
        let cfg = json!({"model_type": "llama", "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 131072, "torch_dtype": "bfloat16"});
        let f = check_config_json(cfg.to_string().as_bytes()).unwrap();
        assert_eq!(f.context_length, Some(131_072));
        assert_eq!(f.torch_dtype.as_deref(), Some("bfloat16"));
        assert!(f.family.starts_with("Llama"));

        let bert = json!({"model_type": "bert", "architectures": ["BertModel"]});
        let e = check_config_json(bert.to_string().as_bytes()).unwrap_err();
        assert!(matches!(e, ArtifactProblem::UnsupportedArchitecture { .. }));
        assert!(e.to_string().contains("bert") && e.to_string().contains("Mistral"));

        let long = json!({"model_type": "mistral", "max_position_embeddings": 262_144});
        assert!(matches!(
            check_config_json(long.to_string().as_bytes()),
            Err(ArtifactProblem::ContextTooLong {
                tokens: 262_144,
                ..
            })
        ));
        let nested =
            json!({"model_type": "mllama", "text_config": {"max_position_embeddings": 200_000}});
        assert!(check_config_json(nested.to_string().as_bytes()).is_err());

        assert!(matches!(
            check_config_json(b"{not json"),
            Err(ArtifactProblem::InvalidConfig(_))
        ));
        assert!(matches!(
            check_config_json(b"[1]"),
            Err(ArtifactProblem::InvalidConfig(_))
        ));
    }

    #[test]
    fn safetensors_headers() {
        let f = st(&[
            ("a", "BF16", &[4, 8]),
            ("b", "F32", &[8]),
            ("c", "BF16", &[2]),
        ]);
        let facts = parse_safetensors_header("m.safetensors", &f, f.len() as u64).unwrap();
        assert_eq!(facts.tensor_count, 3);
        assert_eq!(facts.parameter_count, 32 + 8 + 2);
        assert_eq!(facts.dtypes, vec!["BF16", "F32"]);
        // Only the header is needed.
        let head = &f[..8 + usize::try_from(facts.header_len).unwrap()];
        assert_eq!(
            parse_safetensors_header("m", head, f.len() as u64).unwrap(),
            facts
        );
    }

    #[test]
    fn corrupt_safetensors_are_named() {
        let f = st(&[("a", "F16", &[4])]);
        let len = f.len() as u64;
        // Truncated file: offsets past the end.
        assert!(parse_safetensors_header("m", &f[..f.len() - 2], len - 2).is_err());
        // Huge header length.
        let mut huge = f;
        huge[..8].copy_from_slice(&(MAX_SAFETENSORS_HEADER_BYTES + 1).to_le_bytes());
        let e = parse_safetensors_header("m", &huge, len).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        // Header length beyond the file.
        assert!(safetensors_header_len("m", &1000u64.to_le_bytes(), 100).is_err());
        // Shorter than 8 bytes.
        assert!(safetensors_header_len("m", &[1, 2], 2).is_err());
        // Garbage JSON.
        let mut garbage = 4u64.to_le_bytes().to_vec();
        garbage.extend_from_slice(b"nope");
        assert!(parse_safetensors_header("m", &garbage, 12).is_err());
        // Unknown dtype.
        let mut h = json!({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 2]}})
            .to_string()
            .into_bytes();
        let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
        bytes.append(&mut h);
        bytes.extend_from_slice(&[0, 0]);
        let e = parse_safetensors_header("m", &bytes, bytes.len() as u64).unwrap_err();
        assert!(e.to_string().contains("unknown dtype"), "{e}");
        // Shape and byte range disagree.
        let mut h = json!({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})
            .to_string()
            .into_bytes();
        let mut bytes = (h.len() as u64).to_le_bytes().to_vec();
        bytes.append(&mut h);
        bytes.extend_from_slice(&[0; 4]);
        assert!(parse_safetensors_header("m", &bytes, bytes.len() as u64).is_err());
    }

    #[test]
    fn sharded_index() {
        let idx = json!({"metadata": {"total_size": 10}, "weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors",
            "c": "model-00001-of-00002.safetensors"}});
        let index = parse_safetensors_index(idx.to_string().as_bytes()).unwrap();
        assert_eq!(index.files.len(), 2);
        assert_eq!(index.total_size, Some(10));
        let all = classify_weights(&names(&[
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            SAFETENSORS_INDEX,
        ]));
        assert!(all.has_index);
        assert_eq!(resolve_weights(&all, Some(&index)).unwrap().len(), 2);
        let some = classify_weights(&names(&["model-00001-of-00002.safetensors"]));
        assert_eq!(
            resolve_weights(&some, Some(&index)),
            Err(ArtifactProblem::MissingShards {
                missing: vec!["model-00002-of-00002.safetensors".into()]
            })
        );
        assert!(parse_safetensors_index(b"{}").is_err());
        assert!(parse_safetensors_index(br#"{"weight_map": {}}"#).is_err());
    }

    #[test]
    fn weights_must_be_safetensors() {
        let w = classify_weights(&names(&["pytorch_model.bin", "config.json"]));
        let e = resolve_weights(&w, None).unwrap_err();
        assert!(e.to_string().contains("convert to safetensors"), "{e}");
        for f in [
            "model.pt",
            "model.pth",
            "model.gguf",
            "original/consolidated.00.pth",
        ] {
            assert_eq!(
                classify_weights(&names(&[f])).other_weights,
                vec![f.to_owned()]
            );
        }
        assert_eq!(
            resolve_weights(&classify_weights(&names(&["config.json"])), None),
            Err(ArtifactProblem::NoWeights)
        );
        let mixed = classify_weights(&names(&[
            "model.safetensors",
            "pytorch_model.bin",
            "training_args.bin",
        ]));
        assert_eq!(
            resolve_weights(&mixed, None).unwrap(),
            vec!["model.safetensors"]
        );
        assert_eq!(mixed.other_weights, vec!["pytorch_model.bin"]);
        // Nested safetensors are not the model's weights.
        assert!(
            classify_weights(&names(&["sub/model.safetensors"]))
                .safetensors
                .is_empty()
        );
    }

    #[test]
    fn adapters_are_refused() {
        assert!(check_not_adapter(&names(&["adapter_config.json"])).is_err());
        assert!(check_not_adapter(&names(&["adapter_model.safetensors"])).is_err());
        assert!(check_not_adapter(&names(&["config.json", "model.safetensors"])).is_ok());
        let e = check_not_adapter(&names(&["adapter_config.json"])).unwrap_err();
        assert!(e.to_string().contains("merge"));
    }

    #[test]
    fn tokenizer_rule() {
        assert!(check_tokenizer(&names(&["tokenizer.json"])).is_ok());
        assert!(check_tokenizer(&names(&["tokenizer.model"])).is_ok());
        assert!(check_tokenizer(&names(&["spiece.model"])).is_ok());
        assert!(check_tokenizer(&names(&["vocab.json", "merges.txt"])).is_ok());
        assert_eq!(
            check_tokenizer(&names(&["tokenizer_config.json"])),
            Err(ArtifactProblem::MissingTokenizer)
        );
        assert_eq!(
            check_tokenizer(&names(&["vocab.json"])),
            Err(ArtifactProblem::MissingTokenizer)
        );
        let t = check_tokenizer(&names(&["tokenizer.json", "tokenizer_config.json"])).unwrap();
        assert!(t.has_tokenizer_config);
    }

    #[test]
    fn size_limit() {
        assert!(check_total_size(MAX_TOTAL_BYTES).is_ok());
        assert!(matches!(
            check_total_size(MAX_TOTAL_BYTES + 1),
            Err(ArtifactProblem::TooLarge { .. })
        ));
    }
}
