//! Bedrock import calls against the sim through the real SDK, as ferry-service → control role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use ferry_cloud::{CallError, ChainStep, Cloud, CreateJob, JobState, JobStatus, VpcConfig};
use ferry_domain::aws::RoleArn;
use ferry_domain::bedrock::{ClientRequestToken, ImportedModelName, JobName, Tag};
use ferry_sim::{FaultRule, SimHandle};

fn job(sim: &SimHandle, name: &str, token: &str) -> CreateJob {
    CreateJob {
        job_name: JobName::parse(name).unwrap(),
        model_name: ImportedModelName::parse(&format!("{name}-model")).unwrap(),
        role_arn: RoleArn::parse(&env(sim, "EXECUTION_ROLE_ARN")).unwrap(),
        source: sample_uri(sim),
        client_request_token: ClientRequestToken::parse(token).unwrap(),
        imported_model_kms_key: None,
        job_tags: vec![Tag::new("ferry:import", name).unwrap()],
        model_tags: vec![Tag::new("team", "research").unwrap()],
        vpc: None,
    }
}

async fn wait(cloud: &Cloud, arn: &str) -> JobState {
    for _ in 0..200 {
        let s = cloud.get_import_job(&dev(), arn).await.expect("get job");
        if s.status != JobStatus::InProgress {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {arn} still in progress");
}

#[tokio::test]
async fn import_completes_and_the_model_can_be_read_and_deleted() {
    let (sim, cloud) = setup().await;
    let started = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let arn = cloud
        .create_import_job(&dev(), &job(&sim, "first", "token-1"))
        .await
        .expect("create");
    assert!(arn.contains(":model-import-job/"), "{arn}");
    let done = wait(&cloud, &arn).await;
    assert_eq!(done.status, JobStatus::Completed, "{done:?}");
    assert_eq!(done.job_name, "first");
    assert!(done.end_time.is_some());
    let model_arn = done.imported_model_arn.clone().expect("model arn");
    assert!(model_arn.contains(":imported-model/"));

    let m = cloud
        .get_imported_model(&dev(), &model_arn)
        .await
        .expect("model");
    assert_eq!(m.model_name, "first-model");
    assert_eq!(m.model_arn, model_arn);
    assert_eq!(m.architecture.as_deref(), Some("llama"));
    // The environment's hosting key was sent as importedModelKmsKeyId.
    assert_eq!(
        m.kms_key_arn.as_deref(),
        Some(env(&sim, "HOSTING_KMS_KEY_ARN").as_str())
    );
    assert!(m.custom_model_units.is_some());

    // A second job once the first is done; listing returns both.
    let second = cloud
        .create_import_job(&dev(), &job(&sim, "second", "token-2"))
        .await
        .expect("second");
    wait(&cloud, &second).await;
    let jobs = cloud.list_import_jobs(&dev(), started).await.expect("list");
    let arns: Vec<&str> = jobs.iter().map(|j| j.job_arn.as_str()).collect();
    assert!(
        arns.contains(&arn.as_str()) && arns.contains(&second.as_str()),
        "{jobs:?}"
    );
    assert!(jobs.iter().all(|j| j.status == JobStatus::Completed));
    let later = cloud
        .list_import_jobs(
            &dev(),
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        )
        .await
        .expect("list");
    assert!(later.is_empty());

    cloud
        .delete_imported_model(&dev(), &model_arn)
        .await
        .expect("delete");
    assert!(matches!(
        cloud.get_imported_model(&dev(), &model_arn).await,
        Err(CallError::NotFound(_))
    ));
    assert!(matches!(
        cloud.delete_imported_model(&dev(), &model_arn).await,
        Err(CallError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_client_request_token_makes_create_idempotent() {
    let (sim, cloud) = setup().await;
    let j = job(&sim, "idem", "same-token");
    let a = cloud.create_import_job(&dev(), &j).await.expect("first");
    let b = cloud.create_import_job(&dev(), &j).await.expect("replay");
    assert_eq!(a, b);
    wait(&cloud, &a).await;
    // The job name again with another token: AWS answers ValidationException "The provided
    // job name is currently in use." (aws/sagemaker-python-sdk PR 6076), not a
    // ConflictException as this test used to expect; Ferry reads it as JobNameInUse.
    let other = job(&sim, "idem", "other-token");
    let e = cloud.create_import_job(&dev(), &other).await.unwrap_err();
    assert!(matches!(e, CallError::JobNameInUse(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("ValidationException: The provided job name is currently in use."),
        "{e}"
    );
    assert!(!e.is_retryable());
    // The job holding the name is found by name and recognised as the one asked for.
    let found = cloud.get_import_job(&dev(), "idem").await.expect("by name");
    assert_eq!(found.job_arn, a);
    assert!(found.is_for(&other), "{found:?}");
    let mut elsewhere = other.clone();
    elsewhere.model_name = ImportedModelName::parse("another-model").unwrap();
    assert!(!found.is_for(&elsewhere));
}

#[tokio::test]
async fn a_second_concurrent_job_breaches_the_quota() {
    let (sim, cloud) = setup().await;
    sim.faults().set_job_duration(Duration::from_secs(30));
    cloud
        .create_import_job(&dev(), &job(&sim, "one", "t-one"))
        .await
        .expect("first");
    let e = cloud
        .create_import_job(&dev(), &job(&sim, "two", "t-two"))
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::QuotaExceeded(_)), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn invalid_input_is_a_validation_error() {
    let (sim, cloud) = setup().await;
    let mut j = job(&sim, "vpc", "t-vpc");
    j.vpc = Some(VpcConfig {
        subnet_ids: vec![],
        security_group_ids: vec!["sg-1".into()],
    });
    let e = cloud.create_import_job(&dev(), &j).await.unwrap_err();
    assert!(matches!(e, CallError::Validation(_)), "{e:?}");
    assert!(!e.is_retryable());
    // Bedrock's message, worded as AWS words validation errors, reaches the user as it came.
    assert_eq!(
        e.to_string(),
        "rejected by Bedrock: ValidationException: 1 validation error detected: Value '[]' at \
         'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length greater \
         than or equal to 1"
    );
    // Too many tags: Bedrock's TooManyTagsException is a validation failure too.
    let mut j = job(&sim, "tags", "t-tags");
    j.job_tags = (0..51)
        .map(|i| Tag::new(&format!("k{i}"), "v").unwrap())
        .collect();
    let e = cloud.create_import_job(&dev(), &j).await.unwrap_err();
    assert!(matches!(e, CallError::Validation(_)), "{e:?}");
    // A valid VPC config is sent and accepted.
    let mut j = job(&sim, "vpc-ok", "t-vpc-ok");
    j.vpc = Some(VpcConfig {
        subnet_ids: vec!["subnet-1".into()],
        security_group_ids: vec!["sg-1".into()],
    });
    cloud.create_import_job(&dev(), &j).await.expect("vpc ok");
}

#[tokio::test]
async fn passing_a_role_the_control_role_may_not_pass_is_access_denied_at_pass_role() {
    let (sim, cloud) = setup().await;
    let mut j = job(&sim, "passrole", "t-pass");
    j.role_arn = RoleArn::parse(&env(&sim, "CONTROL_ROLE_ARN")).unwrap();
    let e = cloud.create_import_job(&dev(), &j).await.unwrap_err();
    match e {
        CallError::AccessDenied { message, step, fix } => {
            assert!(message.contains("iam:PassRole"), "{message}");
            assert_eq!(step, Some(ChainStep::PassRole));
            assert!(fix.unwrap().contains("iam:PassedToService"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable() {
    let sim = start_sim().await;
    let cloud = cloud(&sim, 1).await;
    sim.faults().set_rule(
        "bedrock:CreateModelImportJob",
        Some(FaultRule {
            throttle_tps: Some(0),
            ..FaultRule::default()
        }),
    );
    let e = cloud
        .create_import_job(&dev(), &job(&sim, "thr", "t-thr"))
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::Throttled(_)), "{e:?}");
    assert!(e.is_retryable());

    sim.faults().set_rule(
        "bedrock:CreateModelImportJob",
        Some(FaultRule {
            error_rate: 1.0,
            ..FaultRule::default()
        }),
    );
    let e = cloud
        .create_import_job(&dev(), &job(&sim, "err", "t-err"))
        .await
        .unwrap_err();
    assert!(matches!(e, CallError::Transient(_)), "{e:?}");
    assert!(e.is_retryable());

    // With the fault gone the same call works.
    sim.faults().set_rule("bedrock:CreateModelImportJob", None);
    cloud
        .create_import_job(&dev(), &job(&sim, "ok", "t-ok"))
        .await
        .expect("create");
}

#[tokio::test]
async fn the_sdk_retries_server_errors_up_to_retry_max_attempts() {
    let sim = start_sim().await;
    let cloud = cloud(&sim, 3).await;
    sim.faults().set_rule(
        "bedrock:GetModelImportJob",
        Some(FaultRule {
            error_rate: 1.0,
            ..FaultRule::default()
        }),
    );
    let e = cloud.get_import_job(&dev(), "some-job").await.unwrap_err();
    assert!(matches!(e, CallError::Transient(_)), "{e:?}");
    assert_eq!(
        sim.faults().call_counts().get("bedrock:GetModelImportJob"),
        Some(&3),
        "three attempts, as configured"
    );
}

#[tokio::test]
async fn sessions_are_assumed_again_after_they_expire() {
    let (sim, cloud) = setup().await;
    cloud
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("first call");
    let before = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(before.passed());
    // Past the 1 h sessions of both roles.
    sim.advance_clock(Duration::from_secs(2 * 3600));
    cloud
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("after expiry: the control role is assumed again");
    let after = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(after.passed(), "{after:#?}");
    assert!(after.assumed_execution_role);
    // And once more, to show the refreshed sessions are reused.
    sim.advance_clock(Duration::from_secs(2 * 3600));
    let after = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    assert!(after.passed(), "{after:#?}");
    cloud
        .get_import_job(&dev(), "no-such-job")
        .await
        .expect_err("unknown job");
}

#[tokio::test]
async fn the_external_id_is_sent_when_the_control_role_requires_one() {
    let sim = start_sim().await;
    let iam = ferry_sim::sdk::iam(&config_for(&sim, "hosting-admin"));
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::777788889999:user/ferry-service"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "ferry-dev-3f9a"}}}]});
    iam.update_assume_role_policy()
        .role_name("FerryControlRole-777788889999")
        .policy_document(trust.to_string())
        .send()
        .await
        .expect("trust");
    let without = cloud(&sim, 1).await;
    let e = without
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CallError::AccessDenied {
                step: Some(ChainStep::ControlRolePolicy),
                ..
            }
        ),
        "{e:?}"
    );
    let mut t = target(&sim);
    t.external_id = Some("ferry-dev-3f9a".into());
    let with = Cloud::new(options(&sim, 1), vec![t]).await.unwrap();
    with.list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("with the external id");
}

#[tokio::test]
async fn unknown_environments_and_options_are_refused() {
    let (sim, cloud) = setup().await;
    let prod = ferry_domain::names::EnvironmentName::parse("prod").unwrap();
    assert!(matches!(
        cloud.get_import_job(&prod, "x").await,
        Err(CallError::UnknownEnvironment(_))
    ));
    let mut o = options(&sim, 0);
    assert!(Cloud::new(o.clone(), vec![target(&sim)]).await.is_err());
    o.retry_max_attempts = 1;
    assert!(
        Cloud::new(o, vec![target(&sim), target(&sim)])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_control_role_that_cannot_be_assumed_is_named() {
    let sim = start_sim().await;
    // research-admin is not trusted by the hosting account's control role.
    let p = sim.scenario().principal("research-admin").unwrap();
    let mut o = options(&sim, 1);
    o.static_credentials = Some((
        p.access_key_id.clone(),
        secrecy::SecretString::from(p.secret_access_key.clone()),
    ));
    let cloud = Cloud::new(o, vec![target(&sim)]).await.unwrap();
    let e = cloud
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    match e {
        CallError::AccessDenied { step, .. } => {
            assert_eq!(step, Some(ChainStep::ControlRolePolicy))
        }
        other => panic!("{other:?}"),
    }
    let r = cloud.preflight(&dev(), &sample_uri(&sim), None).await;
    let c = r.check("assume_execution_role").unwrap();
    assert_eq!(c.chain_step, Some(ChainStep::ControlRolePolicy), "{r:#?}");
    assert!(!r.passed());
}

#[tokio::test]
async fn session_tags_need_sts_tag_session_in_the_control_role_trust() {
    let sim = start_sim().await;
    let mut t = target(&sim);
    t.session_tags = vec![("service".into(), "ferry".into())];
    let tagged = Cloud::new(options(&sim, 1), vec![t.clone()]).await.unwrap();
    let e = tagged
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CallError::AccessDenied {
                step: Some(ChainStep::ControlRolePolicy),
                ..
            }
        ),
        "AWS refuses session tags the trust policy does not allow: {e:?}"
    );
    let iam = ferry_sim::sdk::iam(&config_for(&sim, "hosting-admin"));
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::777788889999:user/ferry-service"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]});
    iam.update_assume_role_policy()
        .role_name("FerryControlRole-777788889999")
        .policy_document(trust.to_string())
        .send()
        .await
        .expect("trust");
    let tagged = Cloud::new(options(&sim, 1), vec![t]).await.unwrap();
    tagged
        .list_import_jobs(&dev(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .expect("tagged sessions work once the trust policy allows sts:TagSession");
}
