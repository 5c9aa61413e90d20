//! Preflight names the chat template the model will be served with: a `chat_template.jinja` or
//! `chat_template.json` beside the weights wins over the template inside
//! `tokenizer_config.json`; none at all is the only case left as a warning.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ferry_cloud::Outcome;
use serde_json::json;

async fn tokenizer_check(
    files: std::collections::BTreeMap<String, Vec<u8>>,
    prefix: &str,
) -> (Outcome, String) {
    let (sim, cloud) = setup().await;
    let uri = upload(&sim, prefix, &files).await;
    let r = cloud.preflight(&dev(), &uri, None).await;
    let c = r.check("tokenizer").unwrap_or_else(|| panic!("{r:#?}"));
    (c.outcome, c.detail.clone())
}

#[tokio::test]
async fn the_sample_uses_the_template_in_tokenizer_config() {
    let (outcome, detail) = tokenizer_check(ferry_sim::model::sample_llama(), "variants/tc/").await;
    assert_eq!(outcome, Outcome::Passed, "{detail}");
    assert!(
        detail.contains("chat template from tokenizer_config.json"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_jinja_file_wins_over_tokenizer_config() {
    let mut f = ferry_sim::model::sample_llama();
    f.insert(
        "chat_template.jinja".into(),
        b"{% for m in messages %}{{ m.content }}{% endfor %}".to_vec(),
    );
    let (outcome, detail) = tokenizer_check(f, "variants/jinja/").await;
    assert_eq!(outcome, Outcome::Passed, "{detail}");
    assert!(
        detail.contains("chat template from chat_template.jinja"),
        "{detail}"
    );
    assert!(
        detail.contains("wins over the template in tokenizer_config.json"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_json_file_counts_without_a_template_in_tokenizer_config() {
    let mut f = ferry_sim::model::sample_llama();
    f.insert(
        "tokenizer_config.json".into(),
        serde_json::to_vec(&json!({"bos_token": "<s>", "eos_token": "</s>"})).unwrap(),
    );
    f.insert(
        "chat_template.json".into(),
        serde_json::to_vec(&json!({"chat_template": "{{ messages }}"})).unwrap(),
    );
    let (outcome, detail) = tokenizer_check(f, "variants/json/").await;
    assert_eq!(outcome, Outcome::Passed, "{detail}");
    assert!(
        detail.contains("chat template from chat_template.json"),
        "{detail}"
    );
    assert!(!detail.contains("wins over"), "{detail}");
}

#[tokio::test]
async fn no_template_anywhere_is_a_warning_that_says_so() {
    let mut f = ferry_sim::model::sample_llama();
    f.insert(
        "tokenizer_config.json".into(),
        serde_json::to_vec(&json!({"bos_token": "<s>"})).unwrap(),
    );
    let (outcome, detail) = tokenizer_check(f, "variants/none/").await;
    assert_eq!(outcome, Outcome::Warning, "{detail}");
    assert!(detail.contains("no chat template"), "{detail}");
    assert!(detail.contains("chat_template.jinja"), "{detail}");
}
