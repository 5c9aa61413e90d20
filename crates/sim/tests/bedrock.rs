//! Bedrock control plane through the real SDK: validation, idempotency, conflicts, quotas,
//! listing with filters and pagination, artifact checks, injected faults.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::type_complexity)]

mod common;

use std::time::Duration;

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource, SortOrder, Tag};
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use ferry_sim::{FaultConfig, FaultRule, SimHandle};

fn source(uri: &str) -> ModelDataSource {
    ModelDataSource::S3DataSource(S3DataSource::builder().s3_uri(uri).build().unwrap())
}

async fn create(
    sim: &SimHandle,
    client: &aws_sdk_bedrock::Client,
    f: impl FnOnce(aws_sdk_bedrock::operation::create_model_import_job::builders::CreateModelImportJobFluentBuilder) -> aws_sdk_bedrock::operation::create_model_import_job::builders::CreateModelImportJobFluentBuilder,
) -> Result<String, aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobError>
{
    let base = client
        .create_model_import_job()
        .job_name("job-1")
        .imported_model_name("model-1")
        .role_arn(env(sim, "EXECUTION_ROLE_ARN"))
        .model_data_source(source(&env(sim, "SAMPLE_MODEL_URI")));
    f(base)
        .send()
        .await
        .map(|o| o.job_arn().to_owned())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn input_validation_matches_the_service_rules() {
    let sim = start().await;
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    type B = aws_sdk_bedrock::operation::create_model_import_job::builders::CreateModelImportJobFluentBuilder;
    let cases: Vec<(&str, Box<dyn FnOnce(B) -> B>)> = vec![
        ("jobName", Box::new(|b| b.job_name("-starts-with-dash"))),
        ("jobName", Box::new(|b| b.job_name("a".repeat(64)))),
        ("jobName", Box::new(|b| b.job_name("has_underscore"))),
        (
            "importedModelName",
            Box::new(|b| b.imported_model_name("two--dashes")),
        ),
        (
            "importedModelName",
            Box::new(|b| b.imported_model_name("dot.name")),
        ),
        (
            "roleArn",
            Box::new(|b| b.role_arn("arn:aws:iam::777788889999:user/not-a-role")),
        ),
        (
            "s3Uri",
            Box::new(|b| b.model_data_source(source("s3://Upper-Case-Bucket/x"))),
        ),
        (
            "s3Uri",
            Box::new(|b| b.model_data_source(source("s3://model-artifacts-111122223333/key=bad"))),
        ),
        (
            "s3Uri",
            Box::new(|b| b.model_data_source(source("https://example.com/x"))),
        ),
        (
            "clientRequestToken",
            Box::new(|b| b.client_request_token("-bad-")),
        ),
        (
            "importedModelKmsKeyId",
            Box::new(|b| b.imported_model_kms_key_id("not a key")),
        ),
        (
            "jobTags",
            Box::new(|b| b.job_tags(Tag::builder().key("bad!key").value("v").build().unwrap())),
        ),
    ];
    for (field, f) in cases {
        let e = create(&sim, &client, f).await.expect_err(field);
        assert!(e.is_validation_exception(), "{field}: {e:?}");
        let msg = aws_sdk_bedrock::error::ProvideErrorMetadata::message(&e).unwrap_or_default();
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let many: Vec<Tag> = (0..51)
        .map(|i| {
            Tag::builder()
                .key(format!("k{i}"))
                .value("v")
                .build()
                .unwrap()
        })
        .collect();
    let e = create(&sim, &client, |b| b.set_imported_model_tags(Some(many)))
        .await
        .expect_err("too many tags");
    assert!(e.is_too_many_tags_exception(), "{e:?}");
    // Nothing was created.
    assert!(
        client
            .list_model_import_jobs()
            .send()
            .await
            .unwrap()
            .model_import_job_summaries()
            .is_empty()
    );
}

#[tokio::test]
async fn client_request_token_makes_create_idempotent() {
    let sim = start().await;
    sim.faults().set_job_duration(Duration::from_millis(300));
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let first = create(&sim, &client, |b| b.client_request_token("ferry-req-0001"))
        .await
        .expect("first");
    let again = create(&sim, &client, |b| b.client_request_token("ferry-req-0001"))
        .await
        .expect("replay");
    assert_eq!(first, again, "same token, same job");
    let jobs = client.list_model_import_jobs().send().await.unwrap();
    assert_eq!(jobs.model_import_job_summaries().len(), 1);
    // Same token, different parameters.
    let e = create(&sim, &client, |b| {
        b.client_request_token("ferry-req-0001")
            .imported_model_name("other")
    })
    .await
    .expect_err("mismatch");
    assert!(e.is_conflict_exception(), "{e:?}");
    // Without a token, reusing the job name is refused as AWS refuses it:
    // ValidationException "The provided job name is currently in use." (aws/sagemaker-python-sdk
    // PR 6076), where this test used to expect a ConflictException naming the job.
    let e = create(&sim, &client, |b| b).await.expect_err("name reuse");
    assert!(e.is_validation_exception(), "{e:?}");
    assert_eq!(
        aws_sdk_bedrock::error::ProvideErrorMetadata::message(&e),
        Some("The provided job name is currently in use.")
    );
    // Replays still work after completion.
    wait_job(&client, &first).await;
    let late = create(&sim, &client, |b| b.client_request_token("ferry-req-0001"))
        .await
        .expect("late replay");
    assert_eq!(first, late);
}

#[tokio::test]
async fn quotas_concurrent_jobs_and_imported_models() {
    let sim = start().await;
    sim.faults().set_job_duration(Duration::from_millis(400));
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let first = create(&sim, &client, |b| {
        b.job_name("q1").imported_model_name("m1")
    })
    .await
    .expect("first");
    let e = create(&sim, &client, |b| {
        b.job_name("q2").imported_model_name("m2")
    })
    .await
    .expect_err("second concurrent");
    assert!(e.is_service_quota_exceeded_exception(), "{e:?}");
    assert_eq!(
        wait_job(&client, &first).await.status(),
        Some(&ModelImportJobStatus::Completed)
    );
    sim.faults().update(|c| {
        c.job_duration_ms = 0;
        c.max_imported_models = 2;
    });
    let j2 = create(&sim, &client, |b| {
        b.job_name("q2").imported_model_name("m2")
    })
    .await
    .expect("after first ended");
    wait_job(&client, &j2).await;
    let e = create(&sim, &client, |b| {
        b.job_name("q3").imported_model_name("m3")
    })
    .await
    .expect_err("model quota");
    assert!(e.is_service_quota_exceeded_exception(), "{e:?}");
    // An existing model name conflicts.
    sim.faults().update(|c| c.max_imported_models = 10);
    let e = create(&sim, &client, |b| {
        b.job_name("q4").imported_model_name("m1")
    })
    .await
    .expect_err("model name");
    assert!(e.is_conflict_exception(), "{e:?}");
}

#[tokio::test]
async fn list_jobs_filters_sorting_and_pagination() {
    let sim = start().await;
    sim.faults().update(|c| c.max_imported_models = 100);
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let mut arns = Vec::new();
    for i in 0..5 {
        let arn = create(&sim, &client, |b| {
            b.job_name(format!("list-job-{i}"))
                .imported_model_name(format!("list-model-{i}"))
        })
        .await
        .expect("create");
        wait_job(&client, &arn).await;
        arns.push(arn);
        sim.advance_clock(Duration::from_secs(60)); // distinct creation times
    }
    // A failed one: a prefix with no artifacts.
    let failed = create(&sim, &client, |b| {
        b.job_name("list-job-failed")
            .imported_model_name("nothing")
            .model_data_source(source("s3://model-artifacts-111122223333/empty/"))
    })
    .await
    .expect("create");
    let done = wait_job(&client, &failed).await;
    assert_eq!(done.status(), Some(&ModelImportJobStatus::Failed));
    assert!(
        done.failure_message()
            .unwrap()
            .contains("s3://model-artifacts-111122223333/empty/")
    );

    let all = client.list_model_import_jobs().send().await.unwrap();
    let names: Vec<&str> = all
        .model_import_job_summaries()
        .iter()
        .map(|j| j.job_name())
        .collect();
    assert_eq!(
        names.first(),
        Some(&"list-job-failed"),
        "newest first by default: {names:?}"
    );
    let asc = client
        .list_model_import_jobs()
        .sort_by(aws_sdk_bedrock::types::SortJobsBy::CreationTime)
        .sort_order(SortOrder::Ascending)
        .send()
        .await
        .unwrap();
    assert_eq!(asc.model_import_job_summaries()[0].job_name(), "list-job-0");
    let completed = client
        .list_model_import_jobs()
        .status_equals(ModelImportJobStatus::Completed)
        .send()
        .await
        .unwrap();
    assert_eq!(completed.model_import_job_summaries().len(), 5);
    assert!(
        completed
            .model_import_job_summaries()
            .iter()
            .all(|j| j.imported_model_arn().is_some())
    );
    let failed_only = client
        .list_model_import_jobs()
        .status_equals(ModelImportJobStatus::Failed)
        .send()
        .await
        .unwrap();
    assert_eq!(failed_only.model_import_job_summaries().len(), 1);
    let named = client
        .list_model_import_jobs()
        .name_contains("job-3")
        .send()
        .await
        .unwrap();
    assert_eq!(named.model_import_job_summaries().len(), 1);
    let third = client
        .get_model_import_job()
        .job_identifier(&arns[2])
        .send()
        .await
        .unwrap();
    let created = *third.creation_time().unwrap();
    let after = client
        .list_model_import_jobs()
        .creation_time_after(created)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.model_import_job_summaries().len(),
        3,
        "jobs 3, 4 and the failed one"
    );
    let before = client
        .list_model_import_jobs()
        .creation_time_before(created)
        .send()
        .await
        .unwrap();
    assert_eq!(before.model_import_job_summaries().len(), 2);

    // Pagination: 2 per page through the paginator.
    let pages: Vec<_> = client
        .list_model_import_jobs()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    assert_eq!(pages.len(), 3);
    let total: usize = pages
        .iter()
        .map(|p| p.as_ref().unwrap().model_import_job_summaries().len())
        .sum();
    assert_eq!(total, 6);
    let e = client
        .list_model_import_jobs()
        .max_results(0)
        .send()
        .await
        .expect_err("maxResults 0");
    assert!(e.into_service_error().is_validation_exception());

    let models = client
        .list_imported_models()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await;
    let total: usize = models
        .iter()
        .map(|p| p.as_ref().unwrap().model_summaries().len())
        .sum();
    assert_eq!(total, 5);
    let named = client
        .list_imported_models()
        .name_contains("model-4")
        .send()
        .await
        .unwrap();
    assert_eq!(named.model_summaries().len(), 1);
    let e = client
        .get_model_import_job()
        .job_identifier("no-such-job")
        .send()
        .await
        .expect_err("404");
    assert!(e.into_service_error().is_resource_not_found_exception());
}

async fn put_research(sim: &SimHandle, key: &str, body: Vec<u8>) {
    s3(&config_for(sim, RESEARCH_ADMIN))
        .put_object()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .expect("put artifact");
}

#[tokio::test]
async fn artifact_checks_fail_the_job_with_the_cause() {
    let sim = start().await;
    let files = ferry_sim::model::sample_llama();
    let cases: Vec<(&str, Vec<(&str, Vec<u8>)>, &str)> = vec![
        (
            "unsupported",
            vec![(
                "config.json",
                br#"{"model_type":"bert","architectures":["BertForMaskedLM"]}"#.to_vec(),
            )],
            "not supported",
        ),
        (
            "no-weights",
            vec![
                ("config.json", files["config.json"].clone()),
                ("tokenizer.json", files["tokenizer.json"].clone()),
            ],
            "safetensors",
        ),
        (
            "bad-weights",
            vec![
                ("config.json", files["config.json"].clone()),
                ("tokenizer.json", files["tokenizer.json"].clone()),
                (
                    "model.safetensors",
                    b"\x10\0\0\0\0\0\0\0{not json}".to_vec(),
                ),
            ],
            "model.safetensors",
        ),
        (
            "no-tokenizer",
            vec![
                ("config.json", files["config.json"].clone()),
                ("model.safetensors", files["model.safetensors"].clone()),
            ],
            "tokenizer",
        ),
    ];
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    for (name, objects, needle) in cases {
        for (file, body) in objects {
            put_research(&sim, &format!("models/{name}/{file}"), body).await;
        }
        let job = create(&sim, &client, |b| {
            b.job_name(name)
                .imported_model_name(name)
                .model_data_source(source(&format!(
                    "s3://model-artifacts-111122223333/models/{name}/"
                )))
        })
        .await
        .expect("create");
        let done = wait_job(&client, &job).await;
        assert_eq!(done.status(), Some(&ModelImportJobStatus::Failed), "{name}");
        let msg = done.failure_message().unwrap();
        assert!(msg.contains(needle), "{name}: {msg}");
    }
}

#[tokio::test]
async fn throttling_server_errors_and_latency_are_injectable() {
    let sim = start().await;
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    sim.faults().set_rule(
        "bedrock:ListModelImportJobs",
        Some(FaultRule {
            throttle_tps: Some(2),
            ..FaultRule::default()
        }),
    );
    client.list_model_import_jobs().send().await.expect("1st");
    client.list_model_import_jobs().send().await.expect("2nd");
    let e = client
        .list_model_import_jobs()
        .send()
        .await
        .expect_err("3rd throttled");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert!(e.into_service_error().is_throttling_exception());
    // Other operations are not affected.
    client
        .list_imported_models()
        .send()
        .await
        .expect("other op");

    sim.faults().set_rule(
        "bedrock:CreateModelImportJob",
        Some(FaultRule {
            throttle_tps: Some(0),
            ..FaultRule::default()
        }),
    );
    let e = create(&sim, &client, |b| b)
        .await
        .expect_err("create throttled");
    assert!(e.is_throttling_exception(), "{e:?}");

    sim.faults().set(FaultConfig {
        rules: [(
            "bedrock:*".to_owned(),
            FaultRule {
                error_rate: 1.0,
                ..FaultRule::default()
            },
        )]
        .into(),
        job_duration_ms: 0,
        ..FaultConfig::default()
    });
    let e = client
        .get_imported_model()
        .model_identifier("x")
        .send()
        .await
        .expect_err("5xx");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(e.into_service_error().is_internal_server_exception());

    sim.faults().set(FaultConfig {
        rules: [(
            "s3:*".to_owned(),
            FaultRule {
                throttle_tps: Some(0),
                ..FaultRule::default()
            },
        )]
        .into(),
        ..FaultConfig::default()
    });
    let e = s3(&config_for(&sim, RESEARCH_ADMIN))
        .list_objects_v2()
        .bucket(ferry_sim::ARTIFACT_BUCKET)
        .send()
        .await
        .expect_err("s3 slowdown");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&e.into_service_error()),
        Some("SlowDown")
    );

    sim.faults().set(FaultConfig {
        rules: [(
            "*".to_owned(),
            FaultRule {
                latency_ms: 300,
                ..FaultRule::default()
            },
        )]
        .into(),
        ..FaultConfig::default()
    });
    let t = std::time::Instant::now();
    client.list_imported_models().send().await.expect("slow");
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn faults_can_be_changed_over_http_and_env_file_is_written() {
    let sim = start().await;
    let http = reqwest::Client::new();
    let cfg = serde_json::json!({"rules": {"bedrock:GetImportedModel": {"throttle_tps": 0}}, "job_duration_ms": 5});
    let resp = http
        .post(format!("{}/_sim/faults", sim.endpoint()))
        .json(&cfg)
        .send()
        .await
        .expect("post faults");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(sim.faults().get().job_duration_ms, 5);
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let e = client
        .get_imported_model()
        .model_identifier("x")
        .send()
        .await
        .expect_err("throttled");
    assert!(e.into_service_error().is_throttling_exception());
    let got: serde_json::Value = http
        .get(format!("{}/_sim/faults", sim.endpoint()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["rules"]["bedrock:GetImportedModel"]["throttle_tps"], 0);
    let bad = http
        .post(format!("{}/_sim/faults", sim.endpoint()))
        .body("{\"nope\": 1}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let health: serde_json::Value = http
        .get(format!("{}/_sim/health", sim.endpoint()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let scenario: serde_json::Value = http
        .get(format!("{}/_sim/scenario", sim.endpoint()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        scenario["env"]["EXECUTION_ROLE_ARN"],
        "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"
    );
    assert!(
        scenario["principals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["access_key_id"] == "AKIASIMRESEARCHADMIN")
    );
    let clock = http
        .post(format!("{}/_sim/clock", sim.endpoint()))
        .body(r#"{"advance_secs": 7200}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(clock.status().as_u16(), 200);

    let path = std::env::temp_dir().join(format!("ferry-sim-env-{}", std::process::id()));
    sim.write_env_file(&path).expect("env file");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).ok();
    for key in [
        "SIM_ENDPOINT",
        "RESEARCH_ADMIN_ACCESS_KEY_ID",
        "RESEARCH_ADMIN_SECRET_ACCESS_KEY",
        "HOSTING_ADMIN_ACCESS_KEY_ID",
        "HOSTING_ADMIN_SECRET_ACCESS_KEY",
        "EXECUTION_ROLE_ARN",
        "SAMPLE_MODEL_URI",
        "REGION",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key}="))),
            "{key} missing in {text}"
        );
    }
    assert!(text.contains(&format!("SIM_ENDPOINT={}", sim.endpoint())));
    assert!(text.contains(
        "EXECUTION_ROLE_ARN=arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999"
    ));
    assert!(
        text.contains("SAMPLE_MODEL_URI=s3://model-artifacts-111122223333/models/sample-llama/")
    );
}

#[tokio::test]
async fn calls_are_counted_per_operation_for_benchmarks() {
    let sim = start().await;
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    for _ in 0..3 {
        client.list_model_import_jobs().send().await.unwrap();
    }
    let _ = client
        .get_model_import_job()
        .job_identifier("nope")
        .send()
        .await;
    let counts = sim.faults().call_counts();
    assert_eq!(counts.get("bedrock:ListModelImportJobs"), Some(&3));
    assert_eq!(counts.get("bedrock:GetModelImportJob"), Some(&1));
    let over_http: serde_json::Value = reqwest::get(format!("{}/_sim/calls", sim.endpoint()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(over_http["bedrock:ListModelImportJobs"], 3);
}
