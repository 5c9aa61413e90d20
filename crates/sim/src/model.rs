//! A small but real Hugging Face model (generated, never committed) and the artifact checks
//! Bedrock runs on an import: `config.json` with a supported architecture, parseable
//! safetensors, a tokenizer.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The architectures Bedrock Custom Model Import accepts: the one table Ferry's preflight reads
/// too (`ferry_domain::artifacts`), matched by `model_type` or by an `architectures[]` class.
pub use ferry_domain::artifacts::SUPPORTED_ARCHITECTURES;

const TOKENIZER_FILES: &[&str] = &["tokenizer.json", "tokenizer.model", "tokenizer_config.json"];

/// Builds a safetensors file from `(name, shape)` F32 tensors filled with a deterministic
/// pattern: 8-byte little-endian header length, JSON header padded to 8 bytes, data.
#[must_use]
pub fn safetensors(tensors: &[(&str, &[usize])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    let mut offset = 0usize;
    let mut data = Vec::new();
    for (name, shape) in tensors {
        let n: usize = shape.iter().product();
        for i in 0..n {
            let v = ((i % 17) as f32 - 8.0) / 64.0;
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            (*name).to_owned(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n * 4]}),
        );
        offset += n * 4;
    }
    let mut h = Value::Object(header).to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&data);
    out
}

/// The files of a tiny Llama-architecture model: name → bytes.
#[must_use]
pub fn sample_llama() -> BTreeMap<String, Vec<u8>> {
    let (vocab, hidden, inter) = (32usize, 16usize, 32usize);
    let config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inter,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "vocab_size": vocab,
        "max_position_embeddings": 128,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "torch_dtype": "float32",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": false
    });
    let mut vocab_map = serde_json::Map::new();
    for (i, t) in ["<unk>", "<s>", "</s>"].iter().enumerate() {
        vocab_map.insert((*t).to_owned(), json!(i));
    }
    for i in 3..vocab {
        vocab_map.insert(
            format!("{}", char::from(b'a' + u8::try_from(i - 3).unwrap_or(0))),
            json!(i),
        );
    }
    let tokenizer = json!({
        "version": "1.0",
        "added_tokens": [
            {"id": 0, "content": "<unk>", "special": true},
            {"id": 1, "content": "<s>", "special": true},
            {"id": 2, "content": "</s>", "special": true}
        ],
        "model": {"type": "BPE", "vocab": vocab_map, "merges": []}
    });
    let tokenizer_config = json!({
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "model_max_length": 128,
        "tokenizer_class": "LlamaTokenizerFast",
        "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    });
    let tensors: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![vocab, hidden]),
        (
            "model.layers.0.self_attn.q_proj.weight".into(),
            vec![hidden, hidden],
        ),
        (
            "model.layers.0.self_attn.k_proj.weight".into(),
            vec![hidden, hidden],
        ),
        (
            "model.layers.0.self_attn.v_proj.weight".into(),
            vec![hidden, hidden],
        ),
        (
            "model.layers.0.self_attn.o_proj.weight".into(),
            vec![hidden, hidden],
        ),
        (
            "model.layers.0.mlp.gate_proj.weight".into(),
            vec![inter, hidden],
        ),
        (
            "model.layers.0.mlp.up_proj.weight".into(),
            vec![inter, hidden],
        ),
        (
            "model.layers.0.mlp.down_proj.weight".into(),
            vec![hidden, inter],
        ),
        ("model.layers.0.input_layernorm.weight".into(), vec![hidden]),
        (
            "model.layers.0.post_attention_layernorm.weight".into(),
            vec![hidden],
        ),
        ("model.norm.weight".into(), vec![hidden]),
        ("lm_head.weight".into(), vec![vocab, hidden]),
    ];
    let refs: Vec<(&str, &[usize])> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice()))
        .collect();
    let mut files = BTreeMap::new();
    files.insert("config.json".to_owned(), pretty(&config));
    files.insert(
        "generation_config.json".to_owned(),
        pretty(&json!({"bos_token_id": 1, "eos_token_id": 2})),
    );
    files.insert("tokenizer.json".to_owned(), pretty(&tokenizer));
    files.insert(
        "tokenizer_config.json".to_owned(),
        pretty(&tokenizer_config),
    );
    files.insert(
        "special_tokens_map.json".to_owned(),
        pretty(&json!({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"})),
    );
    files.insert("model.safetensors".to_owned(), safetensors(&refs));
    files
}

fn pretty(v: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(v).unwrap_or_default()
}

/// What the checks learned about a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelFacts {
    pub(crate) architecture: String,
    pub(crate) instruct_supported: bool,
    pub(crate) parameters: u64,
}

/// Parses a safetensors header and returns the parameter count.
pub(crate) fn safetensors_parameters(bytes: &[u8]) -> Result<u64, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("file is shorter than the 8-byte header length")?;
    let len =
        usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| "header length overflows")?;
    let header = bytes
        .get(8..8usize.saturating_add(len))
        .ok_or("header length points past the end of the file")?;
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(header).map_err(|e| format!("header is not a JSON object: {e}"))?;
    let data_len = (bytes.len() - 8 - len) as u64;
    let mut params = 0u64;
    for (name, t) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let shape = t
            .get("shape")
            .and_then(Value::as_array)
            .ok_or(format!("tensor {name} has no shape"))?;
        let dtype = t
            .get("dtype")
            .and_then(Value::as_str)
            .ok_or(format!("tensor {name} has no dtype"))?;
        let offsets = t
            .get("data_offsets")
            .and_then(Value::as_array)
            .ok_or(format!("tensor {name} has no data_offsets"))?;
        let n: u64 = shape.iter().map(|d| d.as_u64().unwrap_or(0)).product();
        let width = match dtype {
            "F64" | "I64" | "U64" => 8,
            "F32" | "I32" | "U32" => 4,
            "F16" | "BF16" | "I16" | "U16" => 2,
            "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
            other => return Err(format!("tensor {name} has unsupported dtype {other}")),
        };
        let (Some(a), Some(b)) = (
            offsets.first().and_then(Value::as_u64),
            offsets.get(1).and_then(Value::as_u64),
        ) else {
            return Err(format!("tensor {name} has malformed data_offsets"));
        };
        if b < a || b - a != n * width || b > data_len {
            return Err(format!(
                "tensor {name} has data_offsets inconsistent with its shape and dtype"
            ));
        }
        params += n;
    }
    Ok(params)
}

/// Runs Bedrock's artifact checks over `files` (names relative to the import prefix).
pub(crate) fn check(files: &BTreeMap<String, Vec<u8>>, uri: &str) -> Result<ModelFacts, String> {
    let config = files
        .get("config.json")
        .ok_or_else(|| format!("The model artifacts at {uri} do not contain config.json."))?;
    let config: Value = serde_json::from_slice(config)
        .map_err(|e| format!("config.json at {uri} is not valid JSON: {e}"))?;
    let model_type = config.get("model_type").and_then(Value::as_str);
    let classes: Vec<String> = config
        .get("architectures")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let Some(arch) = ferry_domain::artifacts::match_architecture(model_type, &classes) else {
        let archs = config
            .get("architectures")
            .map(Value::to_string)
            .unwrap_or_default();
        let model_type = model_type.unwrap_or_default();
        return Err(format!(
            "The model architecture in config.json (model_type {model_type:?}, architectures {archs}) is not supported by Amazon Bedrock Custom Model Import."
        ));
    };
    let shards: Vec<(&String, &Vec<u8>)> = files
        .iter()
        .filter(|(n, _)| n.ends_with(".safetensors"))
        .collect();
    if shards.is_empty() {
        return Err(format!(
            "No .safetensors weight files were found at {uri}. Model weights must be in Hugging Face safetensors format."
        ));
    }
    let mut parameters = 0;
    for (name, bytes) in shards {
        parameters += safetensors_parameters(bytes).map_err(|e| {
            format!("The weights file {name} at {uri} is not a valid safetensors file: {e}")
        })?;
    }
    if !TOKENIZER_FILES.iter().any(|t| files.contains_key(*t)) {
        return Err(format!(
            "No tokenizer files (tokenizer.json, tokenizer.model or tokenizer_config.json) were found at {uri}."
        ));
    }
    // Instruct (chat) support follows the chat template, wherever it is: a template file wins
    // over tokenizer_config.json's (the same rule preflight reports).
    let names: Vec<String> = files.keys().cloned().collect();
    let instruct_supported = !matches!(
        ferry_domain::artifacts::chat_template(
            &names,
            files.get("tokenizer_config.json").map(Vec::as_slice)
        ),
        ferry_domain::artifacts::ChatTemplate::None
    );
    Ok(ModelFacts {
        architecture: arch.name.to_owned(),
        instruct_supported,
        parameters,
    })
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sample_model_passes_the_checks() {
        let files = sample_llama();
        let facts = check(&files, "s3://b/p/").expect("valid");
        assert_eq!(facts.architecture, "llama");
        assert!(facts.instruct_supported);
        assert!(facts.parameters > 1000);
        // A chat_template.jinja alone makes a model instruct-capable.
        let mut f = sample_llama();
        f.insert(
            "tokenizer_config.json".into(),
            br#"{"bos_token": "<s>"}"#.to_vec(),
        );
        assert!(!check(&f, "u").expect("valid").instruct_supported);
        f.insert("chat_template.jinja".into(), b"{{ messages }}".to_vec());
        assert!(check(&f, "u").expect("valid").instruct_supported);
    }

    #[test]
    fn each_broken_artifact_is_named() {
        let mut f = sample_llama();
        f.remove("config.json");
        assert!(
            check(&f, "u")
                .expect_err("no config")
                .contains("config.json")
        );
        let mut f = sample_llama();
        f.insert(
            "config.json".into(),
            br#"{"model_type":"bert","architectures":["BertModel"]}"#.to_vec(),
        );
        assert!(check(&f, "u").expect_err("bert").contains("not supported"));
        let mut f = sample_llama();
        f.insert(
            "config.json".into(),
            br#"{"architectures":["Qwen3MoeForCausalLM"]}"#.to_vec(),
        );
        assert_eq!(
            check(&f, "u")
                .expect("a class alone names the architecture")
                .architecture,
            "qwen3-moe"
        );
        let mut f = sample_llama();
        f.remove("model.safetensors");
        assert!(
            check(&f, "u")
                .expect_err("no weights")
                .contains("safetensors")
        );
        let mut f = sample_llama();
        f.insert("model.safetensors".into(), b"garbage!garbage".to_vec());
        assert!(
            check(&f, "u")
                .expect_err("bad weights")
                .contains("model.safetensors")
        );
        let mut f = sample_llama();
        for t in TOKENIZER_FILES {
            f.remove(*t);
        }
        assert!(
            check(&f, "u")
                .expect_err("no tokenizer")
                .contains("tokenizer")
        );
    }
}
