//! The architectures Bedrock Custom Model Import accepts: one table, read by Ferry's preflight
//! and by `ferry-sim` (which imports and serves models by it).
//!
//! Sources (each row names the one its limits come from):
//!
//! - [`USER_GUIDE_IMPORT`]: the user guide's "Import a customized model into Amazon Bedrock"
//!   page, section "Supported architectures" (families, `config.json` identification, 128K
//!   context, 200 GB text models);
//! - [`USER_GUIDE_INVOKE`]: the user guide's "Invoke your imported model" page: "Converse API is
//!   not supported for Qwen2.5, Qwen2-VL, Qwen2.5-VL, and GPT-OSS models", and the
//!   OpenAI-compatible Completion/ChatCompletion bodies through `InvokeModel` for every model
//!   imported after 2025-11-11 ("Enhanced API Support: Multiple API Formats", 2025-11-17);
//! - [`USER_GUIDE_CODE_SAMPLES`]: "Code samples for custom model import", section "Model
//!   architecture support": GPT-OSS imports take the OpenAI-compatible schema only, and Converse
//!   is supported for the Mistral, Llama, Qwen, GPTBigCode, Flan and Mixtral architectures;
//! - [`AWS_SAMPLE_QWEN3`]: the January 2026 aws-samples notebook that imports Qwen3 and calls it
//!   through `InvokeModel` only, stating that Converse does not support it (Qwen3 MoE, the same
//!   family, is treated alike until AWS says otherwise).

/// The user guide page that lists the supported architectures.
pub const USER_GUIDE_IMPORT: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-import-model.html";
/// The user guide page on invoking an imported model (Converse exceptions, API formats).
pub const USER_GUIDE_INVOKE: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/invoke-imported-model.html";
/// The user guide's code samples page (GPT-OSS: OpenAI-compatible schema, no Converse).
pub const USER_GUIDE_CODE_SAMPLES: &str =
    "https://docs.aws.amazon.com/bedrock/latest/userguide/custom-model-import-code-samples.html";
/// The AWS sample that imports Qwen3 and says Converse does not support it (January 2026). The
/// repository is AWS's samples collection; the notebook's path is as issue 12 cites it.
pub const AWS_SAMPLE_QWEN3: &str = "https://github.com/aws-samples/amazon-bedrock-samples (Custom Model Import Qwen3 sample, January 2026)";

/// Which bedrock-runtime invocations an imported model of a family answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvocationApis {
    /// `InvokeModel` with the Bedrock-native completion body (`prompt`, `max_gen_len`, ...;
    /// "BedrockCompletion" in the user guide).
    pub native: bool,
    /// `Converse` / `ConverseStream` (messages).
    pub converse: bool,
    /// `InvokeModel` with the OpenAI-compatible Completion and ChatCompletion bodies (models
    /// imported after 2025-11-11).
    pub openai_chat_completions: bool,
}

const ALL_APIS: InvocationApis = InvocationApis {
    native: true,
    converse: true,
    openai_chat_completions: true,
};

const NO_CONVERSE: InvocationApis = InvocationApis {
    converse: false,
    ..ALL_APIS
};

/// One supported architecture family. Keep this table in step with the Bedrock user guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Architecture {
    /// Human name, e.g. `"Llama"`.
    pub family: &'static str,
    /// The architecture name GetImportedModel reports as `modelArchitecture`.
    pub name: &'static str,
    /// `config.json` `model_type` values.
    pub model_types: &'static [&'static str],
    /// `config.json` `architectures[]` class names.
    pub classes: &'static [&'static str],
    /// The invocation APIs an imported model of this family answers.
    pub apis: InvocationApis,
    /// Where this row's limits are documented (URL and page title).
    pub source: &'static str,
}

/// Architectures Bedrock Custom Model Import accepts.
pub const SUPPORTED_ARCHITECTURES: &[Architecture] = &[
    Architecture {
        family: "Llama (2, 3, 3.1, 3.2, 3.3)",
        name: "llama",
        model_types: &["llama"],
        classes: &["LlamaForCausalLM"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    Architecture {
        family: "Llama 3.2 Vision (Mllama)",
        name: "mllama",
        model_types: &["mllama"],
        classes: &["MllamaForConditionalGeneration", "MllamaForCausalLM"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    Architecture {
        family: "Mistral",
        name: "mistral",
        model_types: &["mistral"],
        classes: &["MistralForCausalLM"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    Architecture {
        family: "Mixtral",
        name: "mixtral",
        model_types: &["mixtral"],
        classes: &["MixtralForCausalLM"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    Architecture {
        family: "Flan-T5",
        name: "flan-t5",
        model_types: &["t5"],
        classes: &["T5ForConditionalGeneration"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    Architecture {
        family: "GPTBigCode",
        name: "gpt-bigcode",
        model_types: &["gpt_bigcode"],
        classes: &["GPTBigCodeForCausalLM"],
        apis: ALL_APIS,
        source: USER_GUIDE_IMPORT,
    },
    // Qwen2 and Qwen2.5 share `model_type` `qwen2` and `Qwen2ForCausalLM`, so nothing in
    // `config.json` tells them apart; Converse is refused for Qwen2.5 (invoke page), so the
    // row promises it for neither.
    Architecture {
        family: "Qwen2 / Qwen2.5",
        name: "qwen2",
        model_types: &["qwen2"],
        classes: &["Qwen2ForCausalLM"],
        apis: NO_CONVERSE,
        source: USER_GUIDE_INVOKE,
    },
    Architecture {
        family: "Qwen2-VL",
        name: "qwen2-vl",
        model_types: &["qwen2_vl"],
        classes: &["Qwen2VLForConditionalGeneration"],
        apis: NO_CONVERSE,
        source: USER_GUIDE_INVOKE,
    },
    Architecture {
        family: "Qwen2.5-VL",
        name: "qwen2.5-vl",
        model_types: &["qwen2_5_vl"],
        classes: &["Qwen2_5_VLForConditionalGeneration"],
        apis: NO_CONVERSE,
        source: USER_GUIDE_INVOKE,
    },
    Architecture {
        family: "Qwen3",
        name: "qwen3",
        model_types: &["qwen3"],
        classes: &["Qwen3ForCausalLM"],
        apis: NO_CONVERSE,
        source: AWS_SAMPLE_QWEN3,
    },
    Architecture {
        family: "Qwen3 MoE",
        name: "qwen3-moe",
        model_types: &["qwen3_moe"],
        classes: &["Qwen3MoeForCausalLM"],
        apis: NO_CONVERSE,
        source: AWS_SAMPLE_QWEN3,
    },
    Architecture {
        family: "GPT-OSS",
        name: "gpt-oss",
        model_types: &["gpt_oss"],
        classes: &["GptOssForCausalLM"],
        apis: InvocationApis {
            native: false,
            converse: false,
            openai_chat_completions: true,
        },
        source: USER_GUIDE_CODE_SAMPLES,
    },
];

/// The supported architecture `config.json` names, by `model_type` or by one of its
/// `architectures[]` classes.
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

/// The row whose GetImportedModel `modelArchitecture` is `name`.
#[must_use]
pub fn architecture_named(name: &str) -> Option<&'static Architecture> {
    SUPPORTED_ARCHITECTURES.iter().find(|a| a.name == name)
}
