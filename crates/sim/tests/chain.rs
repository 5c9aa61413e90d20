//! Removing any single step of the cross-account chain makes the matching call fail with the
//! AccessDenied AWS would give, and the import job fail with a message naming the resource.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use aws_sdk_bedrock::types::ModelImportJobStatus;
use common::*;
use ferry_sim::{ARTIFACT_BUCKET, EXECUTION_POLICY_NAME, EXECUTION_ROLE_NAME, SimHandle};
use serde_json::{Value, json};

const BUCKET_ARN: &str = "arn:aws:s3:::model-artifacts-111122223333";
const ROLE_ARN: &str = "arn:aws:iam::777788889999:role/BedrockCMIExecutionRole-777788889999";

/// Which direct call, made with the execution role's own credentials, must be denied.
#[derive(Debug, Clone, Copy)]
enum Direct {
    /// ListObjectsV2 on the prefix → S3 403 AccessDenied.
    List,
    /// GetObject of an SSE-KMS artifact → S3 403 AccessDenied about kms:Decrypt.
    GetObject,
    /// KMS GenerateDataKey on the hosting key → AccessDeniedException.
    HostingKey,
    /// Only Bedrock can exercise the service trust; no direct call.
    None,
}

struct Case {
    name: &'static str,
    breaks: fn(&SimHandle) -> futures_like::BoxFuture<'_>,
    direct: Direct,
    /// Substrings the job's failureMessage must contain; empty: AWS still allows the import.
    message: &'static [&'static str],
}

mod futures_like {
    pub(crate) type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
}

async fn exec_policy(sim: &SimHandle) -> Value {
    let out = iam(&config_for(sim, HOSTING_ADMIN))
        .get_role_policy()
        .role_name(EXECUTION_ROLE_NAME)
        .policy_name(EXECUTION_POLICY_NAME)
        .send()
        .await
        .expect("get role policy");
    // IAM returns policy documents URL-encoded.
    let decoded = percent_decode(out.policy_document());
    serde_json::from_str(&decoded).expect("policy json")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf8")
}

async fn put_exec_policy(sim: &SimHandle, doc: Value) {
    iam(&config_for(sim, HOSTING_ADMIN))
        .put_role_policy()
        .role_name(EXECUTION_ROLE_NAME)
        .policy_name(EXECUTION_POLICY_NAME)
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("put role policy");
}

async fn drop_exec_statement(sim: &SimHandle, sid: &str) {
    let mut doc = exec_policy(sim).await;
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != sid);
    put_exec_policy(sim, doc).await;
}

async fn set_trust(sim: &SimHandle, statement: Value) {
    // Keep the troubleshooting statement so the direct calls can still assume the role.
    let doc = json!({"Version": "2012-10-17", "Statement": [statement,
        {"Sid": "Troubleshooting", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:user/hosting-admin"}, "Action": "sts:AssumeRole"}]});
    iam(&config_for(sim, HOSTING_ADMIN))
        .update_assume_role_policy()
        .role_name(EXECUTION_ROLE_NAME)
        .policy_document(doc.to_string())
        .send()
        .await
        .expect("update trust");
}

fn trust_statement(source_account: &str, source_arn: &str, service: &str) -> Value {
    json!({"Sid": "BedrockCMITrust", "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole",
           "Condition": {"StringEquals": {"aws:SourceAccount": source_account}, "ArnEquals": {"aws:SourceArn": source_arn}}})
}

async fn key_policy_without_role(sim: &SimHandle, user: &str, key_env: &str) {
    let client = kms(&config_for(sim, user));
    let key = env(sim, key_env);
    let policy = client
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("get key policy");
    let mut doc: Value = serde_json::from_str(policy.policy().expect("policy")).expect("json");
    doc["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Principal"]["AWS"] != ROLE_ARN);
    client
        .put_key_policy()
        .key_id(&key)
        .policy(doc.to_string())
        .send()
        .await
        .expect("put key policy");
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "step 1: bucket policy deleted",
            breaks: |sim| {
                Box::pin(async move {
                    s3(&config_for(sim, RESEARCH_ADMIN))
                        .delete_bucket_policy()
                        .bucket(ARTIFACT_BUCKET)
                        .send()
                        .await
                        .expect("delete bucket policy");
                })
            },
            direct: Direct::List,
            message: &[
                "s3:ListBucket",
                BUCKET_ARN,
                "because no resource-based policy allows",
                ROLE_ARN,
            ],
        },
        Case {
            name: "step 1: bucket policy grants another role",
            breaks: |sim| {
                Box::pin(async move {
                    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:role/SomeOtherRole"},
                    "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [BUCKET_ARN, format!("{BUCKET_ARN}/*")]}]});
                    s3(&config_for(sim, RESEARCH_ADMIN))
                        .put_bucket_policy()
                        .bucket(ARTIFACT_BUCKET)
                        .policy(doc.to_string())
                        .send()
                        .await
                        .expect("put bucket policy");
                })
            },
            direct: Direct::List,
            message: &["s3:ListBucket", BUCKET_ARN, "resource-based policy"],
        },
        Case {
            name: "step 1: bucket policy explicitly denies the role",
            breaks: |sim| {
                Box::pin(async move {
                    let doc = json!({"Version": "2012-10-17", "Statement": [
                    {"Sid": "CrossAccountAccess", "Effect": "Allow", "Principal": {"AWS": ROLE_ARN}, "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": [BUCKET_ARN, format!("{BUCKET_ARN}/*")]},
                    {"Sid": "NoHosting", "Effect": "Deny", "Principal": {"AWS": "777788889999"}, "Action": "s3:*", "Resource": [BUCKET_ARN, format!("{BUCKET_ARN}/*")]}]});
                    s3(&config_for(sim, RESEARCH_ADMIN))
                        .put_bucket_policy()
                        .bucket(ARTIFACT_BUCKET)
                        .policy(doc.to_string())
                        .send()
                        .await
                        .expect("put bucket policy");
                })
            },
            direct: Direct::List,
            message: &[
                "s3:ListBucket",
                BUCKET_ARN,
                "explicit deny in a resource-based policy",
            ],
        },
        Case {
            name: "step 2: identity policy lacks the S3 statement",
            breaks: |sim| Box::pin(drop_exec_statement(sim, "ReadModelArtifacts")),
            direct: Direct::List,
            message: &[
                "s3:ListBucket",
                BUCKET_ARN,
                "because no identity-based policy allows",
            ],
        },
        Case {
            name: "step 2: identity policy pinned to another resource account",
            breaks: |sim| {
                Box::pin(async move {
                    let mut doc = exec_policy(sim).await;
                    for s in doc["Statement"].as_array_mut().unwrap() {
                        if s["Sid"] == "ReadModelArtifacts" {
                            s["Condition"]["StringEquals"]["aws:ResourceAccount"] =
                                json!("444455556666");
                        }
                    }
                    put_exec_policy(sim, doc).await;
                })
            },
            direct: Direct::List,
            message: &["s3:ListBucket", BUCKET_ARN, "identity-based policy"],
        },
        Case {
            name: "step 2: trust policy does not name bedrock",
            breaks: |sim| {
                Box::pin(set_trust(
                    sim,
                    trust_statement(
                        "777788889999",
                        "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*",
                        "sagemaker.amazonaws.com",
                    ),
                ))
            },
            direct: Direct::None,
            message: &["sts:AssumeRole", ROLE_ARN, "bedrock.amazonaws.com"],
        },
        Case {
            name: "step 2: trust policy aws:SourceAccount is another account",
            breaks: |sim| {
                Box::pin(set_trust(
                    sim,
                    trust_statement(
                        "111122223333",
                        "arn:aws:bedrock:us-east-1:777788889999:model-import-job/*",
                        "bedrock.amazonaws.com",
                    ),
                ))
            },
            direct: Direct::None,
            message: &["sts:AssumeRole", ROLE_ARN, "aws:SourceAccount 777788889999"],
        },
        Case {
            name: "step 2: trust policy aws:SourceArn in another region",
            breaks: |sim| {
                Box::pin(set_trust(
                    sim,
                    trust_statement(
                        "777788889999",
                        "arn:aws:bedrock:us-west-2:777788889999:model-import-job/*",
                        "bedrock.amazonaws.com",
                    ),
                ))
            },
            direct: Direct::None,
            message: &[
                "sts:AssumeRole",
                ROLE_ARN,
                "aws:SourceArn arn:aws:bedrock:us-east-1:777788889999:model-import-job/",
            ],
        },
        Case {
            name: "step 3: research key policy lacks the role statement",
            breaks: |sim| {
                Box::pin(key_policy_without_role(
                    sim,
                    RESEARCH_ADMIN,
                    "RESEARCH_KMS_KEY_ARN",
                ))
            },
            direct: Direct::GetObject,
            message: &[
                "kms:Decrypt",
                "arn:aws:kms:us-east-1:111122223333:key/",
                "because no resource-based policy allows",
            ],
        },
        Case {
            name: "step 4: hosting key policy lacks the role statement",
            breaks: |sim| {
                Box::pin(key_policy_without_role(
                    sim,
                    HOSTING_ADMIN,
                    "HOSTING_KMS_KEY_ARN",
                ))
            },
            direct: Direct::HostingKey,
            message: &[
                "arn:aws:kms:us-east-1:777788889999:key/",
                "encrypt the imported model",
                "because no resource-based policy allows",
            ],
        },
        Case {
            name: "step 5: identity policy lacks decrypt on the research key",
            breaks: |sim| Box::pin(drop_exec_statement(sim, "DecryptModelArtifacts")),
            direct: Direct::GetObject,
            message: &[
                "kms:Decrypt",
                "arn:aws:kms:us-east-1:111122223333:key/",
                "because no identity-based policy allows",
            ],
        },
        // Within the hosting account the key policy names the role itself, which is enough on
        // its own (AWS: same-account access needs the key policy *or*, if it delegates to IAM,
        // an identity policy). Removing step 5's hosting statement alone does not break the
        // import; the sim must not be stricter than AWS.
        Case {
            name: "step 5: identity policy lacks the hosting key statement (key policy still grants)",
            breaks: |sim| Box::pin(drop_exec_statement(sim, "EncryptImportedModel")),
            direct: Direct::None,
            message: &[],
        },
    ]
}

#[tokio::test]
async fn removing_any_single_step_fails_the_matching_call_and_the_job() {
    for (i, case) in cases().into_iter().enumerate() {
        let sim = start().await;
        trust_hosting_admin(&sim).await;
        (case.breaks)(&sim).await;

        // The direct call, with the execution role's credentials.
        let role = exec_role_config(&sim).await;
        match case.direct {
            Direct::List => {
                let err = s3(&role)
                    .list_objects_v2()
                    .bucket(ARTIFACT_BUCKET)
                    .prefix("models/")
                    .send()
                    .await
                    .expect_err(case.name);
                let raw = err.raw_response().map(|r| r.status().as_u16());
                assert_eq!(raw, Some(403), "{}", case.name);
                let svc = err.into_service_error();
                let meta = aws_sdk_s3::error::ProvideErrorMetadata::meta(&svc);
                assert_eq!(meta.code(), Some("AccessDenied"), "{}", case.name);
                assert!(
                    meta.message().unwrap_or_default().contains("s3:ListBucket"),
                    "{}: {:?}",
                    case.name,
                    meta.message()
                );
            }
            Direct::GetObject => {
                let err = s3(&role)
                    .get_object()
                    .bucket(ARTIFACT_BUCKET)
                    .key("models/sample-llama/config.json")
                    .send()
                    .await
                    .expect_err(case.name);
                let svc = err.into_service_error();
                let meta = aws_sdk_s3::error::ProvideErrorMetadata::meta(&svc);
                assert_eq!(meta.code(), Some("AccessDenied"), "{}", case.name);
                assert!(
                    meta.message().unwrap_or_default().contains("kms:Decrypt"),
                    "{}: {:?}",
                    case.name,
                    meta.message()
                );
            }
            Direct::HostingKey => {
                let err = kms(&role)
                    .generate_data_key()
                    .key_id(env(&sim, "HOSTING_KMS_KEY_ARN"))
                    .number_of_bytes(32)
                    .send()
                    .await
                    .expect_err(case.name);
                let svc = err.into_service_error();
                let meta = aws_sdk_kms::error::ProvideErrorMetadata::meta(&svc);
                assert_eq!(meta.code(), Some("AccessDeniedException"), "{}", case.name);
            }
            Direct::None => {}
        }

        let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
        // A trust policy that keeps Bedrock out is refused when the job is created, as AWS
        // does ("The provided role ARN is invalid."); it used to be accepted and fail later.
        // `a_trust_broken_while_the_job_runs_fails_the_job_naming_the_statement` keeps the
        // job's own message for these cases.
        if case.message.first() == Some(&"sts:AssumeRole") {
            let err = create_import(
                &client,
                &sim,
                &format!("broken-{i}"),
                &format!("broken-{i}"),
                true,
            )
            .await
            .expect_err(case.name);
            let svc = err.into_service_error();
            let meta = aws_sdk_bedrock::error::ProvideErrorMetadata::meta(&svc);
            assert_eq!(meta.code(), Some("ValidationException"), "{}", case.name);
            assert_eq!(
                meta.message(),
                Some("The provided role ARN is invalid."),
                "{}",
                case.name
            );
            sim.shutdown().await;
            continue;
        }
        // The import job fails and names the broken link.
        let job = create_import(
            &client,
            &sim,
            &format!("broken-{i}"),
            &format!("broken-{i}"),
            true,
        )
        .await
        .expect("create is accepted");
        let done = wait_job(&client, &job).await;
        if case.message.is_empty() {
            assert_eq!(
                done.status(),
                Some(&ModelImportJobStatus::Completed),
                "{}: {:?}",
                case.name,
                done.failure_message()
            );
            sim.shutdown().await;
            continue;
        }
        assert_eq!(
            done.status(),
            Some(&ModelImportJobStatus::Failed),
            "{}",
            case.name
        );
        let msg = done.failure_message().expect("failure message");
        for needle in case.message {
            assert!(
                msg.contains(needle),
                "{}: {needle:?} not in {msg:?}",
                case.name
            );
        }
        assert!(
            client
                .get_imported_model()
                .model_identifier(format!("broken-{i}"))
                .send()
                .await
                .is_err(),
            "{}: no model",
            case.name
        );
        sim.shutdown().await;
    }
}

/// The trust cases of `cases()`, broken after the job was accepted: the job fails and its
/// message names the trust statement Bedrock needed.
#[tokio::test]
async fn a_trust_broken_while_the_job_runs_fails_the_job_naming_the_statement() {
    for (i, case) in cases()
        .into_iter()
        .filter(|c| c.message.first() == Some(&"sts:AssumeRole"))
        .enumerate()
    {
        let sim = start().await;
        trust_hosting_admin(&sim).await;
        sim.faults()
            .set_job_duration(std::time::Duration::from_secs(2));
        let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
        let job = create_import(
            &client,
            &sim,
            &format!("late-{i}"),
            &format!("late-{i}"),
            true,
        )
        .await
        .expect("accepted while the trust is intact");
        (case.breaks)(&sim).await;
        let done = wait_job(&client, &job).await;
        assert_eq!(
            done.status(),
            Some(&ModelImportJobStatus::Failed),
            "{}",
            case.name
        );
        let msg = done.failure_message().expect("failure message");
        for needle in case.message {
            assert!(
                msg.contains(needle),
                "{}: {needle:?} not in {msg:?}",
                case.name
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn caller_needs_pass_role_and_create_permission() {
    let sim = start().await;
    let admin = iam(&config_for(&sim, HOSTING_ADMIN));
    admin
        .delete_user_policy()
        .user_name("hosting-importer")
        .policy_name("PassExecutionRole")
        .send()
        .await
        .expect("delete user policy");
    let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
    let err = create_import(&client, &sim, "no-pass", "no-pass", true)
        .await
        .expect_err("denied");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let svc = err.into_service_error();
    assert!(svc.is_access_denied_exception(), "{svc:?}");
    let msg = aws_sdk_bedrock::error::ProvideErrorMetadata::message(&svc)
        .unwrap_or_default()
        .to_owned();
    assert!(
        msg.contains("iam:PassRole") && msg.contains(ROLE_ARN),
        "{msg}"
    );

    admin
        .delete_user_policy()
        .user_name("hosting-importer")
        .policy_name("BedrockModelImport")
        .send()
        .await
        .expect("delete user policy");
    let err = create_import(&client, &sim, "no-create", "no-create", true)
        .await
        .expect_err("denied");
    let svc = err.into_service_error();
    assert!(svc.is_access_denied_exception(), "{svc:?}");
    let msg = aws_sdk_bedrock::error::ProvideErrorMetadata::message(&svc)
        .unwrap_or_default()
        .to_owned();
    assert!(msg.contains("bedrock:CreateModelImportJob"), "{msg}");
    // No job was created by either attempt.
    let admin_bedrock = bedrock(&config_for(&sim, HOSTING_ADMIN));
    let jobs = admin_bedrock
        .list_model_import_jobs()
        .send()
        .await
        .expect("list");
    assert!(jobs.model_import_job_summaries().is_empty());
}

#[tokio::test]
async fn research_account_cannot_read_hosting_resources_or_assume_the_role() {
    let sim = start().await;
    // A user of the research account is not trusted by the hosting role...
    let err = sts(&config_for(&sim, RESEARCH_ADMIN))
        .assume_role()
        .role_arn(ROLE_ARN)
        .role_session_name("intruder")
        .send()
        .await
        .expect_err("not trusted");
    let svc = err.into_service_error();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&svc),
        Some("AccessDenied")
    );
    // ...and its admin policy does not reach the hosting key without a key policy grant.
    let err = kms(&config_for(&sim, RESEARCH_ADMIN))
        .describe_key()
        .key_id(env(&sim, "HOSTING_KMS_KEY_ARN"))
        .send()
        .await
        .expect_err("cross-account key");
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err.into_service_error()),
        Some("AccessDeniedException")
    );
    // Even an admin in the hosting account needs the bucket policy to read research data.
    let err = s3(&config_for(&sim, HOSTING_ADMIN))
        .list_objects_v2()
        .bucket(ARTIFACT_BUCKET)
        .send()
        .await
        .expect_err("cross-account bucket");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::code(&err.into_service_error()),
        Some("AccessDenied")
    );
}

#[tokio::test]
async fn break_chain_breaks_the_same_links_in_process() {
    use ferry_sim::ChainBreak::*;
    let table = [
        (BucketPolicy, BUCKET_ARN),
        (
            IdentityS3Statement,
            "because no identity-based policy allows the s3:ListBucket action",
        ),
        (TrustPolicy, "sts:AssumeRole"),
        (TrustSourceAccount, "sts:AssumeRole"),
        (TrustSourceArn, "sts:AssumeRole"),
        (
            ResearchKeyPolicyStatement,
            "arn:aws:kms:us-east-1:111122223333:key/",
        ),
        (
            HostingKeyPolicyStatement,
            "arn:aws:kms:us-east-1:777788889999:key/",
        ),
        (IdentityResearchKeyStatement, "kms:Decrypt"),
    ];
    for (i, (step, needle)) in table.into_iter().enumerate() {
        let sim = start().await;
        let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
        if needle == "sts:AssumeRole" {
            // A broken Bedrock trust statement is refused at create time (AWS: "The provided
            // role ARN is invalid."), where it used to fail the job later; broken after the
            // job was accepted, the job fails naming sts:AssumeRole.
            sim.break_chain(step).expect("breaks");
            let err = create_import(
                &client,
                &sim,
                &format!("step-{i}"),
                &format!("step-{i}"),
                true,
            )
            .await
            .expect_err("role refused at create");
            let svc = err.into_service_error();
            let meta = aws_sdk_bedrock::error::ProvideErrorMetadata::meta(&svc);
            assert_eq!(meta.code(), Some("ValidationException"), "{step:?}");
            sim.shutdown().await;
            let sim = start().await;
            sim.faults()
                .set_job_duration(std::time::Duration::from_secs(2));
            let client = bedrock(&config_for(&sim, HOSTING_IMPORTER));
            let job = create_import(
                &client,
                &sim,
                &format!("step-{i}"),
                &format!("step-{i}"),
                true,
            )
            .await
            .expect("create");
            sim.break_chain(step).expect("breaks");
            let done = wait_job(&client, &job).await;
            assert_eq!(
                done.status(),
                Some(&ModelImportJobStatus::Failed),
                "{step:?}"
            );
            assert!(
                done.failure_message().unwrap().contains(needle),
                "{step:?}: {:?}",
                done.failure_message()
            );
            sim.shutdown().await;
            continue;
        }
        sim.break_chain(step).expect("breaks");
        let job = create_import(
            &client,
            &sim,
            &format!("step-{i}"),
            &format!("step-{i}"),
            true,
        )
        .await
        .expect("create");
        let done = wait_job(&client, &job).await;
        assert_eq!(
            done.status(),
            Some(&ModelImportJobStatus::Failed),
            "{step:?}"
        );
        assert!(
            done.failure_message().unwrap().contains(needle),
            "{step:?}: {:?}",
            done.failure_message()
        );
        sim.shutdown().await;
    }
}
