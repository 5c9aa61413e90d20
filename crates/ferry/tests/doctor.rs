//! `ferry doctor` against the local AWS endpoint: a whole chain holds; a
//! chain with one step removed is named with its evidence and fix.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferry_sim::{ChainBreak, Sim, SimOptions};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn doctor(config: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(FERRY)
        .args([
            "--config",
            config.to_str().unwrap(),
            "doctor",
            "--env",
            "dev",
        ])
        .args(extra)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// The sim runs in this process: a multi-threaded runtime keeps serving it
// while the test waits for the doctor process.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_the_broken_step_of_the_chain() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, ferry::dev::dev_config(0, &sim).unwrap()).unwrap();
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();

    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("the chain holds"), "{out}");
    assert!(out.contains("ok   list_prefix"), "{out}");

    let (code, out) = doctor(&config, &["--source", &sample, "--json"]);
    assert_eq!(code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        report["checked_as"]
            .as_str()
            .unwrap()
            .contains("BedrockCMIExecutionRole")
    );

    sim.break_chain(ChainBreak::BucketPolicy).unwrap();
    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL list_prefix"), "{out}");
    assert!(out.contains("broken: artifact bucket policy"), "{out}");
    assert!(out.contains("evidence: AccessDenied"), "{out}");
    assert!(out.contains("fix: "), "{out}");
    sim.shutdown().await;
}

/// One step removed at a time: doctor names exactly that step.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_each_removed_step() {
    let cases = [
        (ChainBreak::BucketPolicy, "dev", "artifact bucket policy"),
        (
            ChainBreak::IdentityS3Statement,
            "dev",
            "execution role identity policy",
        ),
        (
            ChainBreak::TrustPolicy,
            "dev",
            "execution role trust policy",
        ),
        (
            ChainBreak::TrustSourceArn,
            "dev",
            "execution role trust policy",
        ),
        (
            ChainBreak::ResearchKeyPolicyStatement,
            "dev",
            "research KMS key policy",
        ),
        (
            ChainBreak::HostingKeyPolicyStatement,
            "prod",
            "hosting KMS key policy",
        ),
    ];
    for (step, env, named) in cases {
        let sim = Sim::start(SimOptions::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ferry.toml");
        std::fs::write(&config, ferry::dev::dev_config(0, &sim).unwrap()).unwrap();
        let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
        sim.break_chain(step).unwrap();
        let out = Command::new(FERRY)
            .args([
                "--config",
                config.to_str().unwrap(),
                "doctor",
                "--env",
                env,
                "--source",
                &sample,
            ])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{step:?}: {stdout}");
        let broken: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.trim().strip_prefix("broken: "))
            .collect();
        assert!(
            !broken.is_empty() && broken.iter().all(|b| b.starts_with(named)),
            "{step:?}: {broken:?}\n{stdout}"
        );
        sim.shutdown().await;
    }
}

/// CreateModelImportJob has no dry run: doctor asks IAM's policy simulator
/// whether the control role may pass the execution role to Bedrock.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_names_a_missing_pass_role() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, ferry::dev::dev_config(0, &sim).unwrap()).unwrap();
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
    sim.break_chain(ChainBreak::PassRole).unwrap();
    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL pass_role"), "{out}");
    assert!(
        out.contains("broken: iam:PassRole on the execution role"),
        "{out}"
    );
    assert!(out.contains("iam:PassedToService"), "{out}");
    sim.shutdown().await;
}

/// The readiness check after an import invokes the model: doctor says when the control role
/// may not, as a warning (the import itself still works), with the statement to add.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_explains_a_missing_invoke_permission() {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferry.toml");
    std::fs::write(&config, ferry::dev::dev_config(0, &sim).unwrap()).unwrap();
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("ok   invoke_models"), "{out}");
    assert!(
        out.contains("ok   read_inventory"),
        "the control role may read tags and CloudWatch: {out}"
    );
    sim.break_chain(ChainBreak::InvokeModel).unwrap();
    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(0), "a warning, not a broken chain: {out}");
    assert!(out.contains("warn invoke_models"), "{out}");
    assert!(out.contains("bedrock:InvokeModel"), "{out}");
    assert!(out.contains("InvokeImportedModels"), "{out}");
    sim.shutdown().await;
}
