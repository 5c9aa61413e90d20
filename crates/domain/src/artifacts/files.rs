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
