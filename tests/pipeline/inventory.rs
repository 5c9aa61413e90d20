//! The account as it really is: a model imported straight through Bedrock (the SDK against the
//! sim, not Ferry) is found by the worker's inventory, counted against Service Quotas'
//! imported-model quota, and makes the next request wait with a condition naming it; raising
//! the quota in Service Quotas lets the request through; `GET /v1/models` lists both.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_bedrock::types::{ModelDataSource, ModelImportJobStatus, S3DataSource};
use ferry_domain::auth::Role;
use ferry_domain::condition::{ConditionStatus, ConditionType, Reason};
use ferry_domain::status::Status;
use ferry_e2e::TestApp;
use ferry_worker::inventory::InventorySettings;
use serde_json::Value;

use crate::support::{Pipeline, quick_jobs};

const HOSTING: &str = "777788889999";
/// Service Quotas' "Imported models per account".
const IMPORTED_MODELS: &str = "L-45B04988";

/// Imports `name` in the hosting account as its own importer would, without Ferry, and waits
/// (bounded) until the job completes.
async fn import_by_hand(p: &Pipeline, name: &str) -> String {
    let bedrock = ferry_sim::sdk::bedrock(&ferry_sim::sdk::config_for(&p.sim, "hosting-importer"));
    let role = p
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
            S3DataSource::builder().s3_uri(&p.sample).build().unwrap(),
        ))
        .send()
        .await
        .unwrap();
    for _ in 0..200 {
        let got = bedrock
            .get_model_import_job()
            .job_identifier(job.job_arn())
            .send()
            .await
            .unwrap();
        if got.status() == Some(&ModelImportJobStatus::Completed) {
            return got.imported_model_arn().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hand-made import did not complete");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_model_imported_outside_ferry_holds_room_until_the_quota_is_raised(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool.clone(), quick_jobs()).await;
    p.sim.set_quota(HOSTING, IMPORTED_MODELS, 1.0);
    let by_hand = import_by_hand(&p, "by-hand").await;

    let mut ctx = p
        .ctx(
            "w1",
            ferry_worker::Quota {
                concurrent_jobs: 1,
                imported_models: 1000,
            },
        )
        .await;
    ctx.settings.inventory = Some(InventorySettings {
        interval: Duration::from_millis(200),
        configured_quotas: BTreeSet::new(),
    });
    let id = p
        .submit("research", "dev", &p.sample.clone(), "through-ferry")
        .await;

    // The account is full with a model Ferry did not import: the request waits and says why.
    let mut waiting = None;
    for _ in 0..200 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(id).await;
        if let Some(c) = r
            .conditions
            .iter()
            .find(|c| c.kind == ConditionType::Scheduled && c.reason == Reason::AccountFull)
        {
            waiting = Some((r.status, c.status, c.message.clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, condition, message) = waiting.expect("the request waits for room");
    assert_eq!(status, Status::Validating);
    assert_eq!(condition, ConditionStatus::False);
    assert!(message.contains("by-hand"), "{message}");
    assert!(message.contains(&by_hand), "{message}");
    assert!(message.contains("quota of 1 imported models"), "{message}");

    // Still waiting a while later: no job was sent to Bedrock to fail there.
    for _ in 0..5 {
        ferry_worker::activate(&ctx).await.unwrap();
    }
    let r = p.get(id).await;
    assert_eq!(r.status, Status::Validating);
    assert!(r.bedrock_job_arn.is_none());

    let app = TestApp::spawn(pool.clone()).await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let unmanaged: Value = app
        .get(&hosting, "/v1/models?managed=false")
        .await
        .json()
        .await
        .unwrap();
    let items = unmanaged["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{unmanaged}");
    assert_eq!(items[0]["model_name"], "by-hand");
    assert_eq!(items[0]["managed"], false);
    assert_eq!(items[0]["imported_model_arn"], by_hand.as_str());
    assert_eq!(items[0]["account"], HOSTING);
    assert!(items[0]["import_id"].is_null());
    let researcher = app.researcher("research").await;
    let mine: Value = app
        .get(&researcher, "/v1/models")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        mine["items"].as_array().unwrap().is_empty(),
        "models imported outside Ferry belong to no team: {mine}"
    );

    // The hosting team raises the quota: the next inventory reads it and the request goes.
    p.sim.set_quota(HOSTING, IMPORTED_MODELS, 2.0);
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);

    // One more inventory pass sees Ferry's model too, by its tags.
    tokio::time::sleep(Duration::from_millis(250)).await;
    ferry_worker::activate(&ctx).await.unwrap();
    let all: Value = app.get(&hosting, "/v1/models").await.json().await.unwrap();
    let items = all["items"].as_array().unwrap();
    let by_name = |n: &str| {
        items
            .iter()
            .find(|i| i["model_name"] == n)
            .unwrap_or_else(|| panic!("{n} missing from {all}"))
    };
    assert_eq!(items.len(), 2, "{all}");
    assert_eq!(by_name("by-hand")["managed"], false);
    let ours = by_name("through-ferry");
    assert_eq!(ours["managed"], true);
    assert_eq!(ours["import_id"], id.to_string());
    assert_eq!(ours["environment"], "dev");
    assert!(
        ours["last_seen_at"].is_string(),
        "the inventory listed Ferry's model too: {ours}"
    );
    let managed: Value = app
        .get(&hosting, "/v1/models?managed=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(managed["items"].as_array().unwrap().len(), 1, "{managed}");
}
