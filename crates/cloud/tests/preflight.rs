//! Preflight against the sim through the real SDK clients: the sample model passes as the
//! execution role; each broken chain step is named; each artifact problem is a clear failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use ferry_cloud::{ChainStep, Outcome, PreflightReport};
use ferry_domain::aws::KmsKeyRef;
use serde_json::json;

fn failed_steps(r: &PreflightReport) -> BTreeSet<ChainStep> {
    r.checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .filter_map(|c| c.chain_step)
        .collect()
}

fn outcome(r: &PreflightReport, name: &str) -> Outcome {
    r.check(name)
        .unwrap_or_else(|| panic!("no check {name}: {r:#?}"))
        .outcome
}

#[tokio::test]
async fn the_sample_model_passes_as_the_execution_role() {
    let (sim, cloud) = setup().await;
    let key = KmsKeyRef::parse(&env(&sim, "RESEARCH_KMS_KEY_ARN")).unwrap();
    let r = cloud.preflight(&dev(), &sample_uri(&sim), Some(&key)).await;
    assert!(r.passed(), "{r:#?}");
    assert!(r.assumed_execution_role);
    assert_eq!(r.checked_as, env(&sim, "EXECUTION_ROLE_ARN"));
    for name in [
        "assume_execution_role",
        "bedrock_trust",
        "list_prefix",
        "read_config",
        "source_key",
        "architecture",
        "weights",
        "safetensors_headers",
        "tokenizer",
        "size",
        "hosting_key",
    ] {
        assert_eq!(outcome(&r, name), Outcome::Passed, "{name}: {r:#?}");
    }
    let m = r.model.as_ref().expect("model facts");
    assert_eq!(m.model_type.as_deref(), Some("llama"));
    assert_eq!(m.architectures, vec!["LlamaForCausalLM"]);
    assert_eq!(m.dtypes, vec!["F32"]);
    // The sample: embed 32x16, q/k/v/o 16x16 each, gate/up 32x16, down 16x32, two norms of
    // 16 and lm_head 32x16; whatever its exact layout, it is what the header says.
    let expected: u64 = {
        let files = ferry_sim::model::sample_llama();
        let st = &files["model.safetensors"];
        let len = usize::try_from(u64::from_le_bytes(st[..8].try_into().unwrap())).unwrap();
        let header: serde_json::Value = serde_json::from_slice(&st[8..8 + len]).unwrap();
        header
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "__metadata__")
            .map(|(_, t)| {
                t["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .product::<u64>()
            })
            .sum()
    };
    assert_eq!(m.parameter_count, Some(expected));
    assert!(m.total_weight_bytes > 0 && m.total_bytes >= m.total_weight_bytes);
    assert!(m.files.contains(&"config.json".to_owned()));
    assert_eq!(
        m.source_kms_key.as_deref(),
        Some(env(&sim, "RESEARCH_KMS_KEY_ARN").as_str())
    );
    // Weights are never downloaded: one GET for config.json, two ranged GETs per safetensors
    // file (length, then header), one for tokenizer_config.json (which chat template is used).
    let calls = sim.faults().call_counts();
    assert_eq!(calls.get("s3:GetObject"), Some(&4), "{calls:?}");
    assert_eq!(calls.get("s3:ListObjectsV2"), Some(&1), "{calls:?}");
    // The report is what the worker stores.
    let back: PreflightReport = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

/// Removes the `AllowFerryPreflight` statement through the real IAM API, as an administrator
/// would, keeping Bedrock's statement.
async fn drop_ferry_trust(sim: &ferry_sim::SimHandle) {
    let iam = ferry_sim::sdk::iam(&config_for(sim, "hosting-admin"));
    let role = ferry_sim::EXECUTION_ROLE_NAME;
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role");
    let doc = got.role().unwrap().assume_role_policy_document().unwrap();
    let text = percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .unwrap()
        .into_owned();
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("trust json");
    let stmts = v["Statement"].as_array_mut().unwrap();
    let before = stmts.len();
    stmts.retain(|s| s["Sid"] != "AllowFerryPreflight");
    assert_eq!(
        stmts.len() + 1,
        before,
        "the scenario has the Ferry statement"
    );
    assert!(stmts.iter().any(|s| s["Sid"] == "BedrockCMITrust"));
    iam.update_assume_role_policy()
        .role_name(role)
        .policy_document(v.to_string())
        .send()
        .await
        .expect("update trust");
}

#[tokio::test]
async fn each_broken_chain_step_is_named() {
    use ferry_sim::ChainBreak as Sim;
    let cases: Vec<(&str, Option<Sim>, ChainStep, &str)> = vec![
        (
            "bucket policy",
            Some(Sim::BucketPolicy),
            ChainStep::BucketPolicy,
            "list_prefix",
        ),
        (
            "identity S3 statement",
            Some(Sim::IdentityS3Statement),
            ChainStep::ExecutionRoleIdentityPolicy,
            "list_prefix",
        ),
        (
            "research key policy",
            Some(Sim::ResearchKeyPolicyStatement),
            ChainStep::SourceKeyPolicy,
            "source_key",
        ),
        (
            "identity research key statement",
            Some(Sim::IdentityResearchKeyStatement),
            ChainStep::ExecutionRoleIdentityPolicy,
            "source_key",
        ),
        (
            "hosting key policy",
            Some(Sim::HostingKeyPolicyStatement),
            ChainStep::HostingKeyPolicy,
            "hosting_key",
        ),
        (
            "trust policy: Bedrock's statement names another service",
            Some(Sim::TrustPolicy),
            ChainStep::TrustPolicy,
            "bedrock_trust",
        ),
        (
            "trust policy: aws:SourceAccount is another account",
            Some(Sim::TrustSourceAccount),
            ChainStep::TrustPolicy,
            "bedrock_trust",
        ),
        (
            "trust policy: aws:SourceArn in another region",
            Some(Sim::TrustSourceArn),
            ChainStep::TrustPolicy,
            "bedrock_trust",
        ),
        (
            "trust policy: Ferry's statement",
            None,
            ChainStep::TrustPolicy,
            "assume_execution_role",
        ),
    ];
    for (name, step, expected, check) in cases {
        let (sim, cloud) = setup().await;
        match step {
            Some(s) => {
                assert_eq!(s.step(), expected, "{name}");
                sim.break_chain(s).expect("remove step")
            }
            None => drop_ferry_trust(&sim).await,
        }
        let r = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
        assert!(!r.passed(), "{name}: {r:#?}");
        assert_eq!(
            failed_steps(&r),
            BTreeSet::from([expected]),
            "{name}: {r:#?}"
        );
        let c = r.check(check).unwrap();
        assert_eq!(c.outcome, Outcome::Failed, "{name}: {r:#?}");
        assert_eq!(c.chain_step, Some(expected), "{name}");
        assert!(c.fix.as_deref().is_some_and(|f| !f.is_empty()), "{name}");
        assert!(
            c.evidence
                .as_deref()
                .is_some_and(|e| e.contains("not authorized")),
            "{name}: {c:#?}"
        );
        if check == "assume_execution_role" {
            assert!(!r.assumed_execution_role);
            assert_eq!(r.checked_as, env(&sim, "CONTROL_ROLE_ARN"));
        } else {
            assert!(r.assumed_execution_role, "{name}");
        }
        match expected {
            ChainStep::BucketPolicy => {
                assert!(c.fix.as_deref().unwrap().contains("bucket policy"))
            }
            ChainStep::SourceKeyPolicy => {
                assert!(c.fix.as_deref().unwrap().contains("kms:Decrypt"))
            }
            ChainStep::HostingKeyPolicy => {
                assert!(c.fix.as_deref().unwrap().contains("kms:GenerateDataKey"))
            }
            _ => {}
        }
    }
}

fn sample() -> BTreeMap<String, Vec<u8>> {
    ferry_sim::model::sample_llama()
}

async fn failing_check(prefix: &str, files: BTreeMap<String, Vec<u8>>, check: &str) -> String {
    let (sim, cloud) = setup().await;
    let uri = upload(&sim, prefix, &files).await;
    let r = cloud.preflight(&dev(), &uri, None).await;
    assert!(!r.passed(), "{prefix}: {r:#?}");
    let c = r.check(check).unwrap();
    assert_eq!(c.outcome, Outcome::Failed, "{prefix}: {r:#?}");
    assert!(c.fix.is_some(), "{prefix}: {c:#?}");
    // Artifact problems are not access problems.
    assert!(failed_steps(&r).is_empty(), "{prefix}: {r:#?}");
    c.detail.clone()
}

#[tokio::test]
async fn unsupported_architecture() {
    let mut f = sample();
    f.insert(
        "config.json".into(),
        json!({"model_type": "bert", "architectures": ["BertForMaskedLM"]})
            .to_string()
            .into_bytes(),
    );
    let d = failing_check("variants/bert/", f, "architecture").await;
    assert!(
        d.contains("unsupported architecture") && d.contains("bert"),
        "{d}"
    );
}

#[tokio::test]
async fn missing_tokenizer() {
    let mut f = sample();
    f.retain(|k, _| !k.starts_with("tokenizer"));
    let d = failing_check("variants/no-tokenizer/", f, "tokenizer").await;
    assert!(d.contains("no tokenizer"), "{d}");
}

#[tokio::test]
async fn pytorch_bin_instead_of_safetensors() {
    let mut f = sample();
    let w = f.remove("model.safetensors").unwrap();
    f.insert("pytorch_model.bin".into(), w);
    let d = failing_check("variants/bin/", f, "weights").await;
    assert!(
        d.contains("pytorch_model.bin") && d.contains("convert to safetensors"),
        "{d}"
    );
}

#[tokio::test]
async fn corrupt_safetensors_header() {
    let mut f = sample();
    let mut w = 64u64.to_le_bytes().to_vec();
    w.extend_from_slice(&[b'x'; 64]);
    w.extend_from_slice(&[0; 32]);
    f.insert("model.safetensors".into(), w);
    let d = failing_check("variants/corrupt/", f, "safetensors_headers").await;
    assert!(
        d.contains("model.safetensors") && d.contains("invalid safetensors header"),
        "{d}"
    );
}

#[tokio::test]
async fn lora_adapter() {
    let mut f = sample();
    f.insert(
        "adapter_config.json".into(),
        br#"{"peft_type": "LORA", "r": 8}"#.to_vec(),
    );
    let d = failing_check("variants/lora/", f, "weights").await;
    assert!(d.contains("merge"), "{d}");
}

fn sharded(with_second: bool) -> BTreeMap<String, Vec<u8>> {
    let mut f = sample();
    f.remove("model.safetensors");
    f.insert(
        "model-00001-of-00002.safetensors".into(),
        ferry_sim::model::safetensors(&[("a", &[4, 4]), ("b", &[4])]),
    );
    if with_second {
        f.insert(
            "model-00002-of-00002.safetensors".into(),
            ferry_sim::model::safetensors(&[("c", &[2, 3])]),
        );
    }
    f.insert(
        "model.safetensors.index.json".into(),
        json!({"metadata": {"total_size": 112}, "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00001-of-00002.safetensors",
            "c": "model-00002-of-00002.safetensors"}})
        .to_string()
        .into_bytes(),
    );
    f
}

#[tokio::test]
async fn sharded_model_with_a_missing_shard() {
    let d = failing_check("variants/sharded-missing/", sharded(false), "weights").await;
    assert!(d.contains("model-00002-of-00002.safetensors"), "{d}");
}

#[tokio::test]
async fn complete_sharded_model_passes_with_summed_parameters() {
    let (sim, cloud) = setup().await;
    let uri = upload(&sim, "variants/sharded/", &sharded(true)).await;
    let r = cloud.preflight(&dev(), &uri, None).await;
    assert!(r.passed(), "{r:#?}");
    let m = r.model.unwrap();
    assert_eq!(m.parameter_count, Some(16 + 4 + 6));
    // Uploaded without SSE-KMS.
    assert_eq!(m.source_kms_key, None);
}

#[tokio::test]
async fn without_iam_get_role_bedrock_trust_is_only_a_warning() {
    let (sim, cloud) = setup().await;
    let iam = ferry_sim::sdk::iam(&config_for(&sim, "hosting-admin"));
    let control = env(&sim, "CONTROL_ROLE_ARN");
    let exec = env(&sim, "EXECUTION_ROLE_ARN");
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["bedrock:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": exec},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": exec}]});
    iam.put_role_policy()
        .role_name(control.rsplit('/').next().unwrap())
        .policy_name("FerryControlPolicy")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("put policy");
    let r = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(r.passed(), "{r:#?}");
    let c = r.check("bedrock_trust").unwrap();
    assert_eq!(c.outcome, Outcome::Warning, "{c:#?}");
    assert!(
        c.evidence.as_deref().unwrap().contains("iam:GetRole"),
        "{c:#?}"
    );
}

#[tokio::test]
async fn listing_follows_continuation_tokens_past_1000_objects() {
    let (sim, cloud) = setup().await;
    let mut f = sample();
    for i in 0..1000 {
        f.insert(format!("extra/{i:04}.txt"), vec![b'x']);
    }
    let n = f.len();
    let uri = upload(&sim, "variants/many/", &f).await;
    let r = cloud.preflight(&dev(), &uri, None).await;
    assert!(r.passed(), "{r:#?}");
    let c = r.check("list_prefix").unwrap();
    assert_eq!(c.detail, format!("{n} objects under {uri}"));
    assert_eq!(r.model.unwrap().files.len(), n);
    assert_eq!(sim.faults().call_counts().get("s3:ListObjectsV2"), Some(&2));
}

#[tokio::test]
async fn s3_outages_fail_the_report_transiently() {
    let sim = start_sim().await;
    let cloud = cloud(&sim, 1).await;
    sim.faults().set_rule(
        "s3:ListObjectsV2",
        Some(ferry_sim::FaultRule {
            error_rate: 1.0,
            ..ferry_sim::FaultRule::default()
        }),
    );
    let r = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(!r.passed());
    assert!(r.failed_transiently(), "{r:#?}");
    let c = r.check("list_prefix").unwrap();
    assert!(c.transient && c.chain_step.is_none(), "{c:#?}");
    // Access problems are not transient.
    sim.faults().set_rule("s3:ListObjectsV2", None);
    sim.break_chain(ferry_sim::ChainBreak::BucketPolicy)
        .unwrap();
    let r = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(!r.passed() && !r.failed_transiently(), "{r:#?}");
}

#[tokio::test]
async fn empty_prefix_and_unknown_environment() {
    let (sim, cloud) = setup().await;
    let uri = ferry_domain::bedrock::S3Uri::parse(&format!(
        "s3://{}/nothing-here/",
        env(&sim, "ARTIFACT_BUCKET")
    ))
    .unwrap();
    let r = cloud.preflight(&dev(), &uri, None).await;
    let c = r.check("list_prefix").unwrap();
    assert_eq!(c.outcome, Outcome::Failed);
    assert!(c.detail.contains("no objects at"), "{}", c.detail);
    assert_eq!(outcome(&r, "weights"), Outcome::Skipped);
    // The hosting key is still checked.
    assert_eq!(outcome(&r, "hosting_key"), Outcome::Passed);

    let other = ferry_domain::names::EnvironmentName::parse("prod").unwrap();
    let r = cloud.preflight(&other, &uri, None).await;
    assert!(!r.passed());
}
