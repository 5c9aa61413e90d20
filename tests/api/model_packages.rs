//! A SageMaker Model Registry package as the source of `POST /v1/imports`: read at submit
//! with `DescribeModelPackage` from the sim, so what Bedrock cannot import is a 422 naming the
//! rule at `/source`, and a SageMaker outage is a 503 with `Retry-After`.

use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem, sagemaker_as};
use ferry_sim::{FaultRule, Sim, SimHandle, SimOptions};
use ferry_store::PgPool;
use serde_json::{Value, json};

async fn setup(pool: PgPool) -> (SimHandle, TestApp, String) {
    let sim = Sim::start(SimOptions::default()).await.unwrap();
    let app = TestApp::builder(pool)
        .cloud(ferry_e2e::sim_cloud(&sim).await)
        .spawn()
        .await;
    let researcher = app.researcher("research").await;
    (sim, app, researcher)
}

fn sample(sim: &SimHandle) -> String {
    sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned()
}

fn body(source: &str, model: &str) -> Value {
    json!({"source": source, "environment": "dev", "model_name": model})
}

/// The one field error of a 422, as `(pointer, rule, detail)`.
async fn refused(res: reqwest::Response) -> (String, String, String) {
    let p = problem(res, 422).await;
    let e = &p["errors"][0];
    assert_eq!(p["errors"].as_array().unwrap().len(), 1, "{p}");
    (
        e["pointer"].as_str().unwrap().to_owned(),
        e["rule"].as_str().unwrap().to_owned(),
        e["detail"].as_str().unwrap().to_owned(),
    )
}

/// A version of `group` (created with a policy sharing it with the hosting account) whose
/// first container is `container`, approved.
async fn register_raw(sim: &SimHandle, group: &str, container: Value) -> String {
    let sample = sample(sim);
    // The group and its policy, through the same path `ferry dev` uses.
    ferry::dev::register_package(sim, group, &sample, false)
        .await
        .unwrap();
    let sm = sagemaker_as(sim, "research-admin");
    let out: Value = sm
        .call(
            "CreateModelPackage",
            &json!({"ModelPackageGroupName": group,
                    "InferenceSpecification": {"Containers": [container]}}),
        )
        .await
        .unwrap();
    let arn = out["ModelPackageArn"].as_str().unwrap().to_owned();
    sm.call::<_, Value>(
        "UpdateModelPackage",
        &json!({"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"}),
    )
    .await
    .unwrap();
    arn
}

#[sqlx::test(migrations = "../migrations")]
async fn an_approved_package_is_accepted_with_its_lineage(pool: PgPool) {
    let (sim, app, researcher) = setup(pool).await;
    let arn = ferry::dev::register_package(&sim, "llama", &sample(&sim), true)
        .await
        .unwrap();
    assert!(arn.ends_with(":model-package/llama/1"), "{arn}");
    let created = app.create(&researcher, &body(&arn, "from-registry")).await;
    assert_eq!(created["source"], sample(&sim));
    let lineage = &created["model_package"];
    assert_eq!(lineage["arn"], arn.as_str());
    assert_eq!(lineage["group"], "llama");
    assert_eq!(lineage["version"], 1);
    assert_eq!(lineage["approval"], "Approved");
    assert_eq!(lineage["artifact_uri"], sample(&sim));
    // The lineage is stored: the request reads back with it.
    let id = created["id"].as_str().unwrap();
    let read: Value = app
        .get(&researcher, &format!("/v1/imports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["model_package"], *lineage);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_unapproved_package_is_refused_naming_why(pool: PgPool) {
    let (sim, app, researcher) = setup(pool).await;
    let arn = ferry::dev::register_package(&sim, "llama", &sample(&sim), false)
        .await
        .unwrap();
    let (pointer, rule, detail) = refused(
        app.post(&researcher, "/v1/imports", &body(&arn, "pending"))
            .await,
    )
    .await;
    assert_eq!(
        (pointer.as_str(), rule.as_str()),
        ("/source", "model_package.not_approved")
    );
    assert!(detail.contains("PendingManualApproval"), "{detail}");
    assert_eq!(app.count_rows("import_requests").await, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn packages_without_importable_s3_model_data_are_refused(pool: PgPool) {
    let (sim, app, researcher) = setup(pool).await;
    let image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.29.0-lmi11.0.0-cu124";
    let no_data = register_raw(&sim, "image-only", json!({"Image": image})).await;
    let tarball = register_raw(
        &sim,
        "tarball",
        json!({"Image": image, "ModelDataUrl": "s3://model-artifacts-111122223333/models/model.tar.gz"}),
    )
    .await;
    let one_object = register_raw(
        &sim,
        "one-object",
        json!({"Image": image, "ModelDataSource": {"S3DataSource": {
            "S3Uri": "s3://model-artifacts-111122223333/models/model.safetensors",
            "S3DataType": "S3Object", "CompressionType": "None"}}}),
    )
    .await;
    for (arn, rule, says) in [
        (
            &no_data,
            "model_package.no_s3_artifacts",
            "no model data in S3",
        ),
        (
            &tarball,
            "model_package.compressed",
            "uncompressed safetensors",
        ),
        (&one_object, "model_package.not_a_prefix", "S3Prefix"),
    ] {
        let (pointer, got, detail) =
            refused(app.post(&researcher, "/v1/imports", &body(arn, "m")).await).await;
        assert_eq!(
            (pointer.as_str(), got.as_str()),
            ("/source", rule),
            "{detail}"
        );
        assert!(detail.contains(says), "{detail}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_account_the_team_may_not_use_and_malformed_arns_are_refused(pool: PgPool) {
    let (_sim, app, researcher) = setup(pool).await;
    let elsewhere = "arn:aws:sagemaker:us-east-1:444455556666:model-package/llama/1";
    let (pointer, rule, detail) = refused(
        app.post(&researcher, "/v1/imports", &body(elsewhere, "m"))
            .await,
    )
    .await;
    assert_eq!(
        (pointer.as_str(), rule.as_str()),
        ("/source", "model_package.account_not_allowed")
    );
    assert!(
        detail.contains("444455556666") && detail.contains("111122223333"),
        "{detail}"
    );
    for bad in [
        "arn:aws:sagemaker:us-east-1:111122223333:model-package-group/llama",
        "arn:aws:sagemaker:us-east-1:111122223333:model-package/-llama/1",
        "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/one",
    ] {
        let (pointer, rule, _) =
            refused(app.post(&researcher, "/v1/imports", &body(bad, "m")).await).await;
        assert_eq!(
            (pointer.as_str(), rule.as_str()),
            ("/source", "model_package_arn"),
            "{bad}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn unknown_and_unshared_packages_are_refused(pool: PgPool) {
    let (sim, app, researcher) = setup(pool).await;
    let missing = "arn:aws:sagemaker:us-east-1:111122223333:model-package/nothing-here/7";
    let (_, rule, _) = refused(
        app.post(&researcher, "/v1/imports", &body(missing, "m"))
            .await,
    )
    .await;
    assert_eq!(
        rule, "model_package.access_denied",
        "no group, so no policy shares it"
    );

    // A group the research account did not share: the sim denies the hosting account, and
    // the detail says which grants are missing.
    let sm = sagemaker_as(&sim, "research-admin");
    sm.call::<_, Value>(
        "CreateModelPackageGroup",
        &json!({"ModelPackageGroupName": "private"}),
    )
    .await
    .unwrap();
    let out: Value = sm
        .call(
            "CreateModelPackage",
            &json!({"ModelPackageGroupName": "private", "ModelApprovalStatus": "Approved",
                    "InferenceSpecification": {"Containers": [{"Image": "i",
                        "ModelDataSource": {"S3DataSource": {"S3Uri": sample(&sim),
                            "S3DataType": "S3Prefix", "CompressionType": "None"}}}]}}),
        )
        .await
        .unwrap();
    let private = out["ModelPackageArn"].as_str().unwrap();
    let (_, rule, detail) = refused(
        app.post(&researcher, "/v1/imports", &body(private, "m"))
            .await,
    )
    .await;
    assert_eq!(rule, "model_package.access_denied");
    assert!(detail.contains("PutModelPackageGroupPolicy"), "{detail}");

    // A shared group's missing version is not found.
    ferry::dev::register_package(&sim, "llama", &sample(&sim), true)
        .await
        .unwrap();
    let gone = "arn:aws:sagemaker:us-east-1:111122223333:model-package/llama/9";
    let (_, rule, _) = refused(app.post(&researcher, "/v1/imports", &body(gone, "m")).await).await;
    assert_eq!(rule, "model_package.not_found");
}

#[sqlx::test(migrations = "../migrations")]
async fn sagemaker_failing_at_submit_is_a_503_with_retry_after(pool: PgPool) {
    let (sim, app, researcher) = setup(pool).await;
    let arn = ferry::dev::register_package(&sim, "llama", &sample(&sim), true)
        .await
        .unwrap();
    sim.faults().set_rule(
        "sagemaker:DescribeModelPackage",
        Some(FaultRule {
            error_rate: 1.0,
            ..FaultRule::default()
        }),
    );
    let res = app.post(&researcher, "/v1/imports", &body(&arn, "m")).await;
    assert_eq!(res.headers()["retry-after"], "5");
    let p = problem(res, 503).await;
    assert_eq!(p["code"], "unavailable");
    assert_eq!(app.count_rows("import_requests").await, 0);
    // Once SageMaker answers again, the same submit works.
    sim.faults()
        .set_rule("sagemaker:DescribeModelPackage", None);
    let hosting = app.token(Role::Admin, None, "admin").await;
    let mut b = body(&arn, "m");
    b["team"] = json!("research");
    app.create(&hosting, &b).await;
}
