//! A SageMaker Model Registry package as the source, end to end: registered and approved in
//! the sim by the research account, submitted through the API by its ARN, imported by the
//! worker from the S3 prefix the package names, with its lineage on the request.

use ferry_domain::ids::ImportId;
use ferry_domain::model_package::ApprovalStatus;
use ferry_domain::status::Status;
use ferry_e2e::TestApp;
use serde_json::{Value, json};

use crate::support::{ONE, Pipeline, quick_jobs};

#[sqlx::test(migrations = "../migrations")]
async fn an_approved_package_imports_with_its_lineage(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool.clone(), quick_jobs()).await;
    let app = TestApp::builder(pool).cloud(p.cloud().await).spawn().await;
    let researcher = app.researcher("research").await;
    let arn = ferry::dev::register_package(&p.sim, "sample-llama", &p.sample, true)
        .await
        .unwrap();
    let created = app
        .create(
            &researcher,
            &json!({"source": arn, "environment": "dev", "model_name": "from-registry"}),
        )
        .await;
    let id: ImportId = created["id"].as_str().unwrap().parse().unwrap();

    let ctx = p.ctx("w1", ONE).await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    // The worker imported the package's S3 prefix, checked by the usual preflight.
    assert_eq!(done.source.as_str(), p.sample);
    assert_eq!(done.preflight_passed, Some(true));
    let lineage = done.model_package.unwrap();
    assert_eq!(lineage.arn.as_str(), arn);
    assert_eq!(lineage.group.as_deref(), Some("sample-llama"));
    assert_eq!(lineage.version, Some(1));
    assert_eq!(lineage.approval, Some(ApprovalStatus::Approved));

    // The API shows the lineage beside the imported model.
    let read: Value = app
        .get(&researcher, &format!("/v1/imports/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["status"], "completed");
    assert_eq!(read["model_package"]["arn"], arn.as_str());
    assert_eq!(read["model_package"]["approval"], "Approved");
    assert!(read["imported_model_arn"].as_str().is_some());
}
