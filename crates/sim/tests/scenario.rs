//! Scenario files and the command-line arguments `ferry sim` takes.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use clap::Parser;
use common::*;
use ferry_sim::{FaultConfig, Scenario, Sim, SimArgs, SimOptions};

#[tokio::test]
async fn the_default_scenario_round_trips_through_a_file() {
    let dir = std::env::temp_dir().join(format!("ferry-sim-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("walkthrough.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&Scenario::walkthrough()).unwrap(),
    )
    .unwrap();
    let loaded = Scenario::from_file(&path).expect("loads");
    let sim = Sim::start(SimOptions {
        scenario: loaded,
        faults: FaultConfig {
            job_duration_ms: 0,
            ..FaultConfig::default()
        },
        ..SimOptions::default()
    })
    .await
    .expect("starts");
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let job = create_import(&client, &sim, "from-file", "from-file", true)
        .await
        .expect("create");
    assert_eq!(
        wait_job(&client, &job).await.status(),
        Some(&aws_sdk_bedrock::types::ModelImportJobStatus::Completed)
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_custom_scenario_seeds_what_it_declares() {
    let json = serde_json::json!({
        "region": "us-west-2",
        "users": [{"account": "123456789012", "name": "alice", "access_key_id": "AKIAALICE00000000000", "secret_access_key": "alice-secret",
                   "policies": {"s3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}}],
        "buckets": [{"account": "123456789012", "name": "alice-models"}],
        "models": [{"bucket": "alice-models", "prefix": "m/"}],
        "env": {"SAMPLE_MODEL_URI": "s3://alice-models/m/"}
    });
    let scenario: Scenario = serde_json::from_value(json).expect("parses");
    let sim = Sim::start(SimOptions {
        scenario,
        ..SimOptions::default()
    })
    .await
    .expect("starts");
    assert_eq!(sim.scenario().region, "us-west-2");
    let out = s3(&config_for(&sim, "alice"))
        .list_objects_v2()
        .bucket("alice-models")
        .prefix("m/")
        .send()
        .await
        .expect("list");
    assert_eq!(out.key_count(), Some(6));
    assert!(
        sim.env_lines()
            .contains("ALICE_ACCESS_KEY_ID=AKIAALICE00000000000")
    );
    // A scenario with a broken policy is refused at start.
    let bad: Scenario = serde_json::from_value(serde_json::json!({"region": "us-east-1", "buckets": [{"account": "123456789012", "name": "b", "policy": {"Statement": "nope"}}]})).unwrap();
    assert!(
        Sim::start(SimOptions {
            scenario: bad,
            ..SimOptions::default()
        })
        .await
        .is_err()
    );
}

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    sim: SimArgs,
}

#[test]
fn sim_args_parse_like_the_subcommand_documents() {
    let cli = Cli::try_parse_from([
        "ferry-sim",
        "--port",
        "0",
        "--scenario",
        "s.json",
        "--job-duration",
        "0.5",
        "--env-file",
        "/tmp/e",
    ])
    .expect("parses");
    assert_eq!(cli.sim.port, 0);
    assert_eq!(cli.sim.job_duration, 0.5);
    assert_eq!(
        cli.sim.env_file.as_deref(),
        Some(std::path::Path::new("/tmp/e"))
    );
    assert_eq!(
        cli.sim.scenario.as_deref(),
        Some(std::path::Path::new("s.json"))
    );
    let defaults = Cli::try_parse_from(["ferry-sim"]).expect("defaults");
    assert_eq!(defaults.sim.port, 4599);
    assert_eq!(defaults.sim.job_duration, 3.0);
}
