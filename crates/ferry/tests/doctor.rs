//! `ferry doctor` against the local AWS endpoint: a whole chain holds; a
//! chain with one step removed is named with its evidence and fix.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use ferry_sim::{ChainStep, Sim, SimOptions};

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

    sim.remove_step(ChainStep::BucketPolicy).unwrap();
    let (code, out) = doctor(&config, &["--source", &sample]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL list_prefix"), "{out}");
    assert!(out.contains("broken: artifact bucket policy"), "{out}");
    assert!(out.contains("evidence: AccessDenied"), "{out}");
    assert!(out.contains("fix: "), "{out}");
    sim.shutdown().await;
}
