//! The Models page: a model Ferry imported and one imported outside Ferry (straight through
//! the sim with the SDK, found by the worker's account inventory) are listed side by side,
//! and each opens its model view: Ferry's with its model card and the request holding it,
//! the other saying it was imported outside Ferry.

use std::time::{Duration, Instant};

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
use ferry_store::PgPool;
use serde_json::Value;

use crate::support::{Browser, DEADLINE, Stack, js_string};

/// Imports `name` in the hosting account through Bedrock's API, without Ferry, and waits
/// (bounded) until the job completes; returns the model's ARN.
async fn import_by_hand(stack: &Stack, name: &str) -> String {
    let bedrock =
        ferry_sim::sdk::bedrock(&ferry_sim::sdk::config_for(&stack.sim, "hosting-importer"));
    let role = stack
        .sim
        .scenario()
        .env("EXECUTION_ROLE_ARN")
        .unwrap()
        .to_owned();
    let job = bedrock
        .create_model_import_job()
        .job_name(format!("{name}-job"))
        .imported_model_name(name)
        .role_arn(role)
        .model_data_source(ModelDataSource::S3DataSource(
            S3DataSource::builder()
                .s3_uri(&stack.sample)
                .build()
                .unwrap(),
        ))
        .send()
        .await
        .unwrap();
    let start = Instant::now();
    loop {
        let got = bedrock
            .get_model_import_job()
            .job_identifier(job.job_arn())
            .send()
            .await
            .unwrap();
        if got.status() == Some(&ModelImportJobStatus::Completed) {
            return got.imported_model_arn().unwrap().to_owned();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the hand-made import did not complete"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn model_row(id: &str) -> String {
    format!("#models tr[data-id=\"{id}\"]")
}

#[sqlx::test(migrations = "../migrations")]
async fn the_models_page_lists_ferrys_and_others_and_opens_one(pool: PgPool) {
    let stack = Stack::start_with_inventory(pool, 300).await;
    let by_hand = import_by_hand(&stack, "by-hand").await;
    let research = stack.researcher("research").await;
    let hosting = stack.hosting().await;
    let sample = stack.sample.clone();
    let id = stack.submit(&research, "dev", "llama-dev", &sample).await;
    let done = stack
        .wait_for(&hosting, &id, "completed", |i| i["status"] == "completed")
        .await;
    let ours = done["imported_model_arn"].as_str().unwrap().to_owned();
    let model_id = |arn: &str| arn.rsplit('/').next().unwrap().to_owned();
    let (ours_id, hand_id) = (model_id(&ours), model_id(&by_hand));

    // The inventory lists both before the page is opened (bounded poll of the API).
    let start = Instant::now();
    loop {
        let list: Value = stack
            .app
            .get(&hosting, "/v1/models")
            .await
            .json()
            .await
            .unwrap();
        if list["items"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "the inventory never listed both: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    Browser::run("models_page", &stack.app, |mut b| async move {
        b.login(&hosting).await;
        b.click("#nav-models").await;
        b.wait(
            "two models",
            "document.querySelectorAll('#models tbody tr').length === 2",
        )
        .await;
        for (mid, managed) in [(&ours_id, "true"), (&hand_id, "false")] {
            b.wait(
                &format!("{mid} shown with managed={managed}"),
                &format!(
                    "document.querySelector({})",
                    js_string(&format!("{}[data-managed=\"{managed}\"]", model_row(mid)))
                ),
            )
            .await;
        }
        b.wait("the outside-Ferry callout", "document.getElementById('outside-ferry')")
            .await;
        b.shot("models").await;

        // Ferry's model: its view has the card and the request holding it.
        b.js("window.__noReload = true; return true;", vec![]).await;
        b.click(&format!("{} a.model-link", model_row(&ours_id)))
            .await;
        assert_eq!(b.text("#model-name").await, "llama-dev");
        assert_eq!(b.text("[data-field=\"arn\"]").await, ours);
        assert_eq!(b.text("[data-field=\"environment\"]").await, "dev");
        b.wait("the model card", "document.getElementById('model-card')")
            .await;
        b.wait(
            "the holding request",
            &format!(
                "document.querySelector({})",
                js_string(&format!("#holding-requests tr[data-id=\"{id}\"]"))
            ),
        )
        .await;
        b.shot("ferrys-model").await;

        // Back to the list, and the model imported outside Ferry.
        b.click("#back-to-models").await;
        b.click(&format!("{} a.model-link", model_row(&hand_id)))
            .await;
        b.wait(
            "the outside-Ferry model",
            "document.getElementById('outside-ferry-model') && document.getElementById('model-name').textContent === 'by-hand'",
        )
        .await;
        assert_eq!(b.text("[data-field=\"arn\"]").await, by_hand);
        let has_card = b
            .js("return !!document.getElementById('model-card')", vec![])
            .await;
        assert_eq!(has_card, Value::Bool(false), "no card for a model Ferry did not import");
        let same_page = b.js("return window.__noReload === true", vec![]).await;
        assert_eq!(same_page, Value::Bool(true), "the views changed without a reload");
        b.shot("outside-ferry-model").await;
    })
    .await;
}
