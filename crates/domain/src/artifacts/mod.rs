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
//! - **Chat template**: `chat_template.jinja`, then `chat_template.json`, then the
//!   `chat_template` member of `tokenizer_config.json` ([`chat_template`]); the first found is
//!   the one the model is served with. None at all is a warning: the model imports without
//!   instruct support.
//! - **Size**: all objects under the prefix together stay under [`MAX_TOTAL_BYTES`] (200 GB).

mod architectures;
mod config;
mod digest;
mod files;
mod safetensors;

pub use architectures::{
    AWS_SAMPLE_QWEN3, Architecture, InvocationApis, SUPPORTED_ARCHITECTURES,
    USER_GUIDE_CODE_SAMPLES, USER_GUIDE_IMPORT, USER_GUIDE_INVOKE, architecture_named,
    match_architecture,
};
pub use config::{ModelConfigFacts, check_config_json};
pub use digest::{ArtifactDigest, DigestInput, DigestedObject};
pub use files::{
    CHAT_TEMPLATE_FILES, ChatTemplate, TokenizerFacts, WeightFiles, chat_template,
    check_not_adapter, check_tokenizer, classify_weights, resolve_weights,
    tokenizer_config_has_chat_template,
};
pub use safetensors::{
    SafetensorsFacts, SafetensorsIndex, parse_safetensors_header, parse_safetensors_index,
    safetensors_header_len,
};

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
mod tests;
