//! `ferry policy` as an operator runs it: a real process, files on disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn walkthrough() -> PathBuf {
    repo().join("deploy/cloudformation/walkthrough.toml")
}

fn ferry(args: &[&str]) -> Output {
    ferry_with(&walkthrough(), args)
}

fn ferry_with(config: &Path, args: &[&str]) -> Output {
    Command::new(FERRY)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn committed_templates_match_the_code_and_drift_is_caught() {
    let dir = repo().join("deploy/cloudformation");
    let out = ferry(&[
        "policy",
        "render",
        "--env",
        "prod",
        "--format",
        "cloudformation",
        "--check",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
    }
    let hosting = tmp.path().join("hosting-777788889999.json");
    let body = std::fs::read_to_string(&hosting).unwrap();
    std::fs::write(&hosting, body.replace("kms:CreateGrant", "kms:*")).unwrap();
    let out = ferry(&[
        "policy",
        "render",
        "--env",
        "prod",
        "--format",
        "cloudformation",
        "--check",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out).contains("out of date"), "{}", text(&out));
}

#[test]
fn committed_terraform_matches_the_code_and_drift_is_caught() {
    let dir = repo().join("deploy/terraform");
    let render = |out: &Path| {
        ferry(&[
            "policy",
            "render",
            "--env",
            "prod",
            "--format",
            "terraform",
            "--check",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let out = render(&dir);
    assert!(out.status.success(), "{}", text(&out));

    let tmp = tempfile::tempdir().unwrap();
    for module in ["research-111122223333", "hosting-777788889999"] {
        std::fs::create_dir(tmp.path().join(module)).unwrap();
        std::fs::copy(
            dir.join(module).join("main.tf"),
            tmp.path().join(module).join("main.tf"),
        )
        .unwrap();
    }
    let hosting = tmp.path().join("hosting-777788889999/main.tf");
    let body = std::fs::read_to_string(&hosting).unwrap();
    assert!(body.contains("\"kms:CreateGrant\""));
    std::fs::write(&hosting, body.replace("kms:CreateGrant", "kms:*")).unwrap();
    let out = render(tmp.path());
    assert!(!out.status.success());
    assert!(text(&out).contains("out of date"), "{}", text(&out));
}

#[test]
fn terraform_modules_hold_one_account_each_with_variables() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ferry(&[
        "policy",
        "render",
        "--env",
        "prod",
        "--format",
        "terraform",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |n: &str| std::fs::read_to_string(tmp.path().join(n)).unwrap();
    let research = read("research-111122223333/main.tf");
    assert!(research.contains("resource \"aws_s3_bucket_policy\""));
    assert!(!research.contains("aws_iam_role\""));
    assert!(research.contains("allowed_account_ids = [var.research_account_id]"));
    assert!(research.contains(
        "identifiers = [\"arn:aws:iam::${var.hosting_account_id}:role/${var.execution_role_name}\"]"
    ));
    let hosting = read("hosting-777788889999/main.tf");
    assert!(hosting.contains("resource \"aws_iam_role\" \"execution_role\""));
    assert!(hosting.contains("resource \"aws_iam_role\" \"control_role\""));
    assert!(hosting.contains("depends_on         = [aws_iam_role.control_role]"));
    assert!(hosting.contains("variable \"source_bucket\""));
    assert!(!hosting.contains("aws_s3_bucket_policy"));
    // Every value that differs per deployment is a variable, never a literal, in the documents.
    for module in [&research, &hosting] {
        for line in module.lines().filter(|l| {
            let l = l.trim_start();
            l.starts_with("identifiers") || l.starts_with("resources") || l.starts_with("values")
        }) {
            assert!(!line.contains("777788889999"), "{line}");
            assert!(!line.contains("111122223333"), "{line}");
        }
    }
}

#[test]
fn cloudformation_templates_hold_one_account_each() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ferry(&[
        "policy",
        "render",
        "--env",
        "prod",
        "--format",
        "cloudformation",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let read = |n: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join(n)).unwrap()).unwrap()
    };
    let research = read("research-111122223333.json");
    let bucket = &research["Resources"]["BucketPolicyModelArtifacts111122223333"];
    assert_eq!(bucket["Type"], "AWS::S3::BucketPolicy");
    assert_eq!(
        bucket["Properties"]["Bucket"],
        "model-artifacts-111122223333"
    );
    let key_output = research["Outputs"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    let statements: Value = serde_json::from_str(key_output["Value"].as_str().unwrap()).unwrap();
    assert_eq!(statements[0]["Sid"], "AllowHostingExecutionRoleDecrypt");

    let hosting = read("hosting-777788889999.json");
    let exec = &hosting["Resources"]["ExecutionRole"];
    assert_eq!(
        exec["Properties"]["RoleName"],
        "BedrockCMIExecutionRole-777788889999"
    );
    assert_eq!(exec["DependsOn"], "ControlRole");
    assert_eq!(
        exec["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"],
        json!({"Service": "bedrock.amazonaws.com"})
    );
    assert_eq!(
        hosting["Resources"]["ControlRole"]["Properties"]["RoleName"],
        "FerryControlRole-777788889999"
    );
    assert!(hosting["Outputs"]["HostingKeyPolicyStatement"].is_object());
}

#[test]
fn ferry_principal_flag_sets_the_control_role_trust() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ferry(&[
        "policy",
        "render",
        "--env",
        "prod",
        "--ferry-principal",
        "arn:aws:iam::777788889999:user/ferry-service",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let trust: Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("control-role-trust-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::777788889999:user/ferry-service"
    );
    assert!(
        std::fs::read_to_string(tmp.path().join("README.txt"))
            .unwrap()
            .contains("FerryService: lets Ferry's principal")
    );
}

/// The rendered documents as an account holds them (key policies with an administrator).
struct Account {
    dir: tempfile::TempDir,
}

const DOCS: [(&str, &str); 6] = [
    (
        "--bucket-policy",
        "bucket-policy-model-artifacts-111122223333.json",
    ),
    ("--execution-role-policy", "execution-role-policy.json"),
    ("--trust-policy", "trust-policy.json"),
    (
        "--source-key-policy",
        "source-key-policy-0f1e2d3c-1111-4222-8333-111122223333.json",
    ),
    ("--hosting-key-policy", "hosting-key-policy.json"),
    ("--control-role-policy", "control-role-policy.json"),
];

impl Account {
    fn rendered() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = ferry(&[
            "policy",
            "render",
            "--env",
            "prod",
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let account = Self { dir };
        for (file, admin) in [
            (DOCS[3].1, "arn:aws:iam::111122223333:root"),
            (DOCS[4].1, "arn:aws:iam::777788889999:user/hosting-admin"),
        ] {
            account.edit(file, |v| {
                v["Statement"].as_array_mut().unwrap().insert(
                    0,
                    json!({"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": admin},
                           "Action": "kms:*", "Resource": "*"}),
                );
            });
        }
        account
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn edit(&self, file: &str, f: impl FnOnce(&mut Value)) {
        let mut v: Value =
            serde_json::from_str(&std::fs::read_to_string(self.path(file)).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(self.path(file), v.to_string()).unwrap();
    }

    fn statement(&self, file: &str, sid: &str, f: impl FnOnce(&mut Value)) {
        self.edit(file, |v| {
            let st = v["Statement"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("no {sid} in {file}"));
            f(st);
        });
    }

    fn remove(&self, file: &str, sid: &str) {
        self.edit(file, |v| {
            let st = v["Statement"].as_array_mut().unwrap();
            let n = st.len();
            st.retain(|s| s["Sid"] != sid);
            assert_eq!(st.len() + 1, n, "no {sid} in {file}");
        });
    }

    fn check(&self, extra: &[&str]) -> Output {
        let mut args: Vec<String> = ["policy", "check", "--env", "prod"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for (flag, file) in DOCS {
            args.push(flag.to_owned());
            args.push(self.path(file).to_str().unwrap().to_owned());
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ferry(&refs)
    }

    fn report(&self, extra: &[&str]) -> (Option<i32>, Value) {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let out = self.check(&args);
        let report =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out.status.code(), report)
    }
}

fn steps(report: &Value, kind: &str) -> BTreeSet<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == kind)
        .map(|f| f["step"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_rendered_documents_pass_the_check() {
    let account = Account::rendered();
    let out = account.check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("0 missing grant(s), 0 over-grant(s)"),
        "{}",
        text(&out)
    );
    let (code, report) = account.report(&["--strict"]);
    assert_eq!(code, Some(0));
    assert_eq!(report["findings"], json!([]));
}

#[test]
fn check_names_the_missing_model_registry_statement() {
    let account = Account::rendered();
    account.remove("control-role-policy.json", "ReadModelRegistry");
    let (code, report) = account.report(&[]);
    assert_eq!(code, Some(1));
    let missing: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "missing")
        .collect();
    assert_eq!(missing.len(), 1, "{report}");
    assert_eq!(missing[0]["step"], "control_role_policy");
    assert_eq!(
        missing[0]["fix"]["Action"],
        "sagemaker:DescribeModelPackage"
    );
    assert!(
        missing[0]["detail"]
            .as_str()
            .unwrap()
            .contains("SageMaker model package"),
        "{report}"
    );
}

type Edit = fn(&Account);

#[test]
fn each_removed_or_weakened_statement_is_named_by_its_step() {
    let cases: [(&str, Edit, &str); 9] = [
        (
            "bucket grant",
            |a| a.remove(DOCS[0].1, "FerryImportRead"),
            "bucket_policy",
        ),
        (
            "identity grant",
            |a| a.remove(DOCS[1].1, "ListModelArtifacts"),
            "execution_role_identity_policy",
        ),
        (
            "trust principal",
            |a| {
                a.statement(DOCS[2].1, "BedrockCMITrust", |s| {
                    s["Principal"] = json!({"Service": "ec2.amazonaws.com"});
                });
            },
            "trust_policy",
        ),
        (
            "trust condition",
            |a| {
                a.statement(DOCS[2].1, "BedrockCMITrust", |s| {
                    s["Condition"]["StringEquals"]["aws:SourceAccount"] = json!("111122223333");
                });
            },
            "trust_policy",
        ),
        (
            "research key grant",
            |a| a.remove(DOCS[3].1, "AllowHostingExecutionRoleDecrypt"),
            "source_key_policy",
        ),
        (
            "hosting key grant",
            |a| a.remove(DOCS[4].1, "AllowExecutionRoleUseOfKey"),
            "hosting_key_policy",
        ),
        (
            "PassRole",
            |a| a.remove(DOCS[5].1, ferry_policy::PASS_ROLE_SID),
            "pass_role",
        ),
        (
            "identity key grant",
            |a| a.remove(DOCS[1].1, "DecryptModelArtifacts"),
            "execution_role_identity_policy",
        ),
        (
            "Bedrock actions",
            |a| a.remove(DOCS[5].1, "ModelImport"),
            "control_role_policy",
        ),
    ];
    for (name, edit, step) in cases {
        let account = Account::rendered();
        edit(&account);
        let (code, report) = account.report(&[]);
        assert_eq!(code, Some(1), "{name}: {report:#}");
        assert_eq!(
            steps(&report, "missing"),
            BTreeSet::from([step.to_owned()]),
            "{name}: {report:#}"
        );
        let out = account.check(&[]);
        assert_eq!(out.status.code(), Some(1));
        let human = text(&out);
        assert!(human.contains("MISSING: "), "{name}: {human}");
        assert!(human.contains("statement to add: {"), "{name}: {human}");
    }
}

#[test]
fn write_access_and_wildcard_principals_are_over_grants() {
    let cases: [(&str, Edit, &str); 3] = [
        (
            "s3:PutObject",
            |a| {
                a.statement(DOCS[0].1, "FerryImportRead", |s| {
                    s["Action"] = json!(["s3:GetObject", "s3:PutObject"]);
                });
            },
            "s3:PutObject",
        ),
        (
            "Principal *",
            |a| {
                a.statement(DOCS[0].1, "FerryImportRead", |s| {
                    s["Principal"] = json!("*")
                })
            },
            "any principal",
        ),
        (
            "trust without conditions",
            |a| {
                a.statement(DOCS[2].1, "BedrockCMITrust", |s| {
                    s.as_object_mut().unwrap().remove("Condition");
                });
            },
            "confused deputy",
        ),
    ];
    for (name, edit, needle) in cases {
        let account = Account::rendered();
        edit(&account);
        let (code, report) = account.report(&[]);
        assert_eq!(
            code,
            Some(0),
            "{name}: over-grants alone do not fail: {report:#}"
        );
        let over: Vec<&Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "over_grant")
            .collect();
        assert!(
            over.iter()
                .any(|f| f["detail"].as_str().unwrap().contains(needle)),
            "{name}: {report:#}"
        );
        let (code, _) = account.report(&["--strict"]);
        assert_eq!(code, Some(2), "{name}");
        assert!(text(&account.check(&[])).contains("OVER-GRANT: "));
    }
}

#[test]
fn check_names_a_bad_file_and_an_unknown_environment() {
    let account = Account::rendered();
    std::fs::write(account.path(DOCS[2].1), "{not json").unwrap();
    let out = account.check(&[]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("trust-policy.json is not a valid policy document"),
        "{}",
        text(&out)
    );
    let out = ferry(&["policy", "render", "--env", "nope", "--out", "/tmp/unused"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("--env nope is not declared"),
        "{}",
        text(&out)
    );
    let _ = Path::new("/tmp/unused");
}

mod sim {
    //! The rendered documents applied to the local AWS endpoint through the real SDK, then
    //! the import run the way Ferry runs it: as the control role, assumed by Ferry's user.

    use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
    use ferry_sim::sdk::{assume, config_for as user};
    use ferry_sim::{FaultConfig, Sim, SimOptions};
    use serde_json::{Value, json};

    use super::*;

    fn read(dir: &Path, file: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
    }

    fn with_admin(admin: &str, rendered: &Value) -> String {
        let mut statements = vec![json!({"Sid": "KeyAdministration", "Effect": "Allow",
            "Principal": {"AWS": admin}, "Action": "kms:*", "Resource": "*"})];
        statements.extend(rendered["Statement"].as_array().unwrap().iter().cloned());
        json!({"Version": "2012-10-17", "Statement": statements}).to_string()
    }

    /// `DescribeModelPackage` of `package` as `who`, hand-signed as Ferry calls it.
    async fn describe_package(
        endpoint: String,
        who: aws_credential_types::provider::SharedCredentialsProvider,
        package: &str,
    ) -> Result<Value, ferry_cloud::signed::SignedCallError> {
        ferry_cloud::signed::JsonClient::new(
            reqwest::Client::new(),
            who,
            ferry_cloud::signed::SAGEMAKER,
            "us-east-1",
            endpoint,
        )
        .with_max_attempts(1)
        .call(
            "DescribeModelPackage",
            &json!({"ModelPackageName": package}),
        )
        .await
    }

    /// The walkthrough's team reads its model packages with the control role: the rendered
    /// control role policy and group policy let it read a package of a fresh group (shared by
    /// nothing else) across accounts, and without the control role's statement it is denied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rendered_registry_grants_let_the_control_role_read_a_package_in_the_sim() {
        let sim = Sim::start(SimOptions::default()).await.unwrap();
        let info = sim.scenario().clone();
        let env = |k: &str| info.env(k).unwrap().to_owned();
        let ferry_user = info.principal("ferry-service").unwrap().arn.clone();
        let dir = tempfile::tempdir().unwrap();
        let out = ferry(&[
            "policy",
            "render",
            "--env",
            "prod",
            "--ferry-principal",
            &ferry_user,
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let d = dir.path();

        let iam = aws_sdk_iam::Client::new(&user(&sim, "hosting-admin"));
        let put_control_policy = |policy: Value| {
            let iam = iam.clone();
            async move {
                iam.put_role_policy()
                    .role_name("FerryControlRole-777788889999")
                    .policy_name("FerryControlPolicy")
                    .policy_document(policy.to_string())
                    .send()
                    .await
                    .unwrap();
            }
        };
        put_control_policy(read(d, "control-role-policy.json")).await;
        iam.update_assume_role_policy()
            .role_name("FerryControlRole-777788889999")
            .policy_document(read(d, "control-role-trust-policy.json").to_string())
            .send()
            .await
            .unwrap();

        // The research account registers a version in a new group and applies the rendered
        // group policy (the group is `*` in it: this group is one it applies to).
        let research = user(&sim, "research-admin");
        let sm = |op: &'static str, input: Value| {
            let research = research.clone();
            let endpoint = sim.endpoint();
            async move {
                ferry_cloud::signed::JsonClient::new(
                    reqwest::Client::new(),
                    research.credentials_provider().unwrap(),
                    ferry_cloud::signed::SAGEMAKER,
                    "us-east-1",
                    endpoint,
                )
                .with_max_attempts(1)
                .call::<_, Value>(op, &input)
                .await
                .unwrap_or_else(|e| panic!("{op}: {e}"))
            }
        };
        sm(
            "CreateModelPackageGroup",
            json!({"ModelPackageGroupName": "policy-kit"}),
        )
        .await;
        let created = sm(
            "CreateModelPackage",
            json!({"ModelPackageGroupName": "policy-kit", "InferenceSpecification": {"Containers": [{
                "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124",
                "ModelDataSource": {"S3DataSource": {"S3Uri": env("SAMPLE_MODEL_URI"),
                    "S3DataType": "S3Prefix", "CompressionType": "None"}}}]}}),
        )
        .await;
        let package = created["ModelPackageArn"].as_str().unwrap().to_owned();
        assert!(
            package.ends_with(":111122223333:model-package/policy-kit/1"),
            "{package}"
        );

        let control = assume(
            &sim,
            &user(&sim, "ferry-service"),
            &env("CONTROL_ROLE_ARN"),
            "ferry-prod",
        )
        .await;
        // Not shared yet: the account boundary denies.
        let denied = describe_package(
            sim.endpoint(),
            control.credentials_provider().unwrap(),
            &package,
        )
        .await
        .unwrap_err();
        assert!(denied.to_string().contains("AccessDenied"), "{denied}");

        sm(
            "PutModelPackageGroupPolicy",
            json!({"ModelPackageGroupName": "policy-kit",
                   "ResourcePolicy": read(d, "model-package-group-policy-111122223333.json").to_string()}),
        )
        .await;
        let described = describe_package(
            sim.endpoint(),
            control.credentials_provider().unwrap(),
            &package,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(described["ModelPackageGroupName"], "policy-kit");

        // Without the control role's statement, the group's policy alone is not enough.
        let mut policy = read(d, "control-role-policy.json");
        policy["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != "ReadModelRegistry");
        put_control_policy(policy).await;
        let denied = describe_package(
            sim.endpoint(),
            control.credentials_provider().unwrap(),
            &package,
        )
        .await
        .unwrap_err();
        assert!(denied.to_string().contains("AccessDenied"), "{denied}");
        sim.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rendered_documents_make_the_import_succeed_in_the_sim() {
        import_with_rendered_documents(&walkthrough(), true).await;
    }

    /// With the source limited to a prefix, the `s3:prefix` conditions still admit Bedrock's
    /// listing of the model under it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn prefix_scoped_documents_make_the_import_succeed_in_the_sim() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ferry.toml");
        let body = std::fs::read_to_string(walkthrough()).unwrap();
        assert!(body.contains("account_id = \"111122223333\"\n"));
        std::fs::write(
            &config,
            body.replace(
                "account_id = \"111122223333\"\n",
                "account_id = \"111122223333\"\nprefix = \"models\"\n",
            ),
        )
        .unwrap();
        import_with_rendered_documents(&config, false).await;
    }

    async fn import_with_rendered_documents(config_path: &Path, break_after: bool) {
        let sim = Sim::start(SimOptions {
            faults: FaultConfig {
                job_duration_ms: 0,
                ..FaultConfig::default()
            },
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let info = sim.scenario().clone();
        let env = |k: &str| info.env(k).unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let ferry_user = info.principal("ferry-service").unwrap().arn.clone();
        let out = ferry_with(
            config_path,
            &[
                "policy",
                "render",
                "--env",
                "prod",
                "--ferry-principal",
                &ferry_user,
                "--out",
                dir.path().to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        let d = dir.path();

        // Research account: bucket policy and the research key's policy.
        let research = user(&sim, "research-admin");
        ferry_sim::sdk::s3(&research)
            .put_bucket_policy()
            .bucket(env("ARTIFACT_BUCKET"))
            .policy(read(d, DOCS[0].1).to_string())
            .send()
            .await
            .unwrap();
        aws_sdk_kms::Client::new(&research)
            .put_key_policy()
            .key_id(env("RESEARCH_KMS_KEY_ARN"))
            .policy_name("default")
            .policy(with_admin(
                "arn:aws:iam::111122223333:root",
                &read(d, DOCS[3].1),
            ))
            .send()
            .await
            .unwrap();

        // Hosting account: both roles and the hosting key's policy, replacing the scenario's.
        let hosting = user(&sim, "hosting-admin");
        let iam = aws_sdk_iam::Client::new(&hosting);
        for (role, policy_name, policy, trust) in [
            (
                ferry_sim::EXECUTION_ROLE_NAME,
                ferry_sim::EXECUTION_POLICY_NAME,
                "execution-role-policy.json",
                "trust-policy.json",
            ),
            (
                "FerryControlRole-777788889999",
                "FerryControlPolicy",
                "control-role-policy.json",
                "control-role-trust-policy.json",
            ),
        ] {
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy_name)
                .policy_document(read(d, policy).to_string())
                .send()
                .await
                .unwrap();
            iam.update_assume_role_policy()
                .role_name(role)
                .policy_document(read(d, trust).to_string())
                .send()
                .await
                .unwrap();
        }
        aws_sdk_kms::Client::new(&hosting)
            .put_key_policy()
            .key_id(env("HOSTING_KMS_KEY_ARN"))
            .policy_name("default")
            .policy(with_admin(
                "arn:aws:iam::777788889999:user/hosting-admin",
                &read(d, DOCS[4].1),
            ))
            .send()
            .await
            .unwrap();

        // Ferry: its user assumes the control role; preflight reads as the execution role.
        let control = assume(
            &sim,
            &user(&sim, "ferry-service"),
            &env("CONTROL_ROLE_ARN"),
            "ferry-prod",
        )
        .await;
        let exec = assume(
            &sim,
            &control,
            &env("EXECUTION_ROLE_ARN"),
            "ferry-preflight-prod",
        )
        .await;
        let listed = ferry_sim::sdk::s3(&exec)
            .list_objects_v2()
            .bucket(env("ARTIFACT_BUCKET"))
            .prefix(ferry_sim::SAMPLE_MODEL_PREFIX)
            .send()
            .await
            .unwrap();
        assert!(!listed.contents().is_empty());

        let bedrock = aws_sdk_bedrock::Client::new(&control);
        let job = bedrock
            .create_model_import_job()
            .job_name("policy-kit")
            .imported_model_name("policy-kit-model")
            .role_arn(env("EXECUTION_ROLE_ARN"))
            .imported_model_kms_key_id(env("HOSTING_KMS_KEY_ARN"))
            .model_data_source(ModelDataSource::S3DataSource(
                S3DataSource::builder()
                    .s3_uri(env("SAMPLE_MODEL_URI"))
                    .build()
                    .unwrap(),
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create: {:?}", e.into_service_error()))
            .job_arn()
            .to_owned();
        let mut status = None;
        for _ in 0..200 {
            let out = bedrock
                .get_model_import_job()
                .job_identifier(&job)
                .send()
                .await
                .unwrap();
            if out.status() != Some(&ModelImportJobStatus::InProgress) {
                status = Some(out);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let out = status.expect("the job finishes");
        assert_eq!(
            out.status(),
            Some(&ModelImportJobStatus::Completed),
            "{:?}",
            out.failure_message()
        );

        if !break_after {
            sim.shutdown().await;
            return;
        }
        // And the sim agrees with the check: without the research key statement, the job fails.
        aws_sdk_kms::Client::new(&research)
            .put_key_policy()
            .key_id(env("RESEARCH_KMS_KEY_ARN"))
            .policy_name("default")
            .policy(with_admin(
                "arn:aws:iam::111122223333:root",
                &json!({"Statement": []}),
            ))
            .send()
            .await
            .unwrap();
        let job = bedrock
            .create_model_import_job()
            .job_name("policy-kit-no-key")
            .imported_model_name("policy-kit-model-2")
            .role_arn(env("EXECUTION_ROLE_ARN"))
            .model_data_source(ModelDataSource::S3DataSource(
                S3DataSource::builder()
                    .s3_uri(env("SAMPLE_MODEL_URI"))
                    .build()
                    .unwrap(),
            ))
            .send()
            .await
            .unwrap()
            .job_arn()
            .to_owned();
        let mut failed = None;
        for _ in 0..200 {
            let out = bedrock
                .get_model_import_job()
                .job_identifier(&job)
                .send()
                .await
                .unwrap();
            if out.status() != Some(&ModelImportJobStatus::InProgress) {
                failed = Some(out);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let out = failed.expect("the job finishes");
        assert_eq!(out.status(), Some(&ModelImportJobStatus::Failed));
        assert!(
            out.failure_message()
                .unwrap_or_default()
                .contains("decrypt"),
            "{:?}",
            out.failure_message()
        );
        sim.shutdown().await;
    }
}
