#![allow(clippy::unwrap_used)]

use super::safetensors::dtype_size;
use super::*;
use serde_json::Value;
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
        ("qwen3_moe", "Qwen3MoeForCausalLM"),
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

#[test]
fn the_table_says_which_apis_each_family_answers_and_why() {
    let by_type = |t: &str| match_architecture(Some(t), &[]).unwrap();
    // Converse is refused for Qwen2.5 (shares `qwen2`), Qwen2-VL, Qwen2.5-VL and GPT-OSS per the
    // invoke page, and for Qwen3 per AWS's 2026 sample.
    for t in [
        "qwen2",
        "qwen2_vl",
        "qwen2_5_vl",
        "qwen3",
        "qwen3_moe",
        "gpt_oss",
    ] {
        assert!(!by_type(t).apis.converse, "{t}");
    }
    for t in ["llama", "mllama", "mistral", "mixtral", "t5", "gpt_bigcode"] {
        let a = by_type(t);
        assert!(a.apis.converse && a.apis.native, "{t}");
    }
    // GPT-OSS takes the OpenAI-compatible bodies only.
    let oss = by_type("gpt_oss");
    assert!(!oss.apis.native && oss.apis.openai_chat_completions);
    assert!(
        SUPPORTED_ARCHITECTURES
            .iter()
            .all(|a| a.apis.openai_chat_completions && a.source.starts_with("https://"))
    );
    // Names are unique, and each one finds its row back.
    for a in SUPPORTED_ARCHITECTURES {
        assert_eq!(architecture_named(a.name), Some(a));
    }
    assert_eq!(by_type("qwen3_moe").name, "qwen3-moe");
    assert!(
        match_architecture(None, &names(&["Qwen3MoeForCausalLM"]))
            .is_some_and(|a| a.family == "Qwen3 MoE")
    );
    assert!(match_architecture(Some("bert"), &names(&["BertModel"])).is_none());
}

#[test]
fn chat_template_files_win_over_tokenizer_config() {
    let with = br#"{"chat_template": "{{ messages }}"}"#;
    let without = br#"{"bos_token": "<s>"}"#;
    let listing = names(&[
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ]);
    assert_eq!(
        chat_template(&listing, Some(with)),
        ChatTemplate::File {
            file: "chat_template.jinja".into(),
            overrides_tokenizer_config: true
        }
    );
    assert!(
        chat_template(&listing, Some(with))
            .describe()
            .contains("wins over")
    );
    // jinja before json; json alone counts without any tokenizer_config.json.
    let both = names(&["chat_template.json", "chat_template.jinja"]);
    assert!(
        matches!(chat_template(&both, None), ChatTemplate::File { file, .. } if file == "chat_template.jinja")
    );
    let json_only = names(&["tokenizer.json", "chat_template.json"]);
    assert_eq!(
        chat_template(&json_only, None),
        ChatTemplate::File {
            file: "chat_template.json".into(),
            overrides_tokenizer_config: false
        }
    );
    let plain = names(&["tokenizer.json", "tokenizer_config.json"]);
    assert_eq!(
        chat_template(&plain, Some(with)),
        ChatTemplate::TokenizerConfig
    );
    assert_eq!(chat_template(&plain, Some(without)), ChatTemplate::None);
    assert_eq!(chat_template(&plain, None), ChatTemplate::None);
    // transformers' named templates, and an empty string.
    assert!(tokenizer_config_has_chat_template(
        br#"{"chat_template": [{"name": "default", "template": "x"}]}"#
    ));
    assert!(!tokenizer_config_has_chat_template(
        br#"{"chat_template": " "}"#
    ));
    assert!(!tokenizer_config_has_chat_template(b"not json"));
}
