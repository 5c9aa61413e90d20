//! The object listing: which weights, whether an adapter, which tokenizer.

use serde::{Deserialize, Serialize};

use super::ArtifactProblem;
use super::NON_SAFETENSORS_WEIGHT_SUFFIXES;
use super::SAFETENSORS_INDEX;
use super::TOKENIZER_VOCAB_FILES;
use super::safetensors::SafetensorsIndex;

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

/// Files that hold a chat template on their own, in the order they win. Recent transformers
/// releases save `chat_template.jinja` beside the tokenizer (earlier processors saved
/// `chat_template.json`), and the Bedrock user guide (Custom Model Import, custom chat
/// templates) uses such a file instead of the template inside `tokenizer_config.json`.
pub const CHAT_TEMPLATE_FILES: &[&str] = &["chat_template.jinja", "chat_template.json"];

/// Where the chat template the model will be served with comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatTemplate {
    /// A template file ([`CHAT_TEMPLATE_FILES`]); `overrides_tokenizer_config` when
    /// `tokenizer_config.json` carries one too, which is then not used.
    File {
        /// `chat_template.jinja` or `chat_template.json`.
        file: String,
        /// Whether `tokenizer_config.json` also has a `chat_template`.
        overrides_tokenizer_config: bool,
    },
    /// The `chat_template` member of `tokenizer_config.json`.
    TokenizerConfig,
    /// No template anywhere: the model imports without instruct (chat) support.
    None,
}

impl ChatTemplate {
    /// One line for a report.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::File {
                file,
                overrides_tokenizer_config: true,
            } => format!(
                "chat template from {file} (it wins over the template in tokenizer_config.json)"
            ),
            Self::File { file, .. } => format!("chat template from {file}"),
            Self::TokenizerConfig => "chat template from tokenizer_config.json".to_owned(),
            Self::None => "no chat template (no chat_template.jinja, chat_template.json or \
                 tokenizer_config.json chat_template): the model imports without instruct support"
                .to_owned(),
        }
    }
}

/// Whether a `tokenizer_config.json` body carries a non-empty `chat_template` (a string, or
/// transformers' list of named templates).
#[must_use]
pub fn tokenizer_config_has_chat_template(bytes: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return false;
    };
    match v.get("chat_template") {
        Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        _ => false,
    }
}

/// Which chat template the model will use, from the listing's top-level names and the
/// `tokenizer_config.json` body when it was read.
#[must_use]
pub fn chat_template(names: &[String], tokenizer_config: Option<&[u8]>) -> ChatTemplate {
    let in_config = tokenizer_config.is_some_and(tokenizer_config_has_chat_template);
    match CHAT_TEMPLATE_FILES
        .iter()
        .find(|f| names.iter().any(|n| n == *f))
    {
        Some(file) => ChatTemplate::File {
            file: (*file).to_owned(),
            overrides_tokenizer_config: in_config,
        },
        None if in_config => ChatTemplate::TokenizerConfig,
        None => ChatTemplate::None,
    }
}
