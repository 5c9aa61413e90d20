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

/// Starts an import of `name` in the hosting account as its own importer would, without
/// Ferry; returns the job's ARN.
async fn start_by_hand(p: &Pipeline, name: &str) -> String {
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
    job.job_arn().to_owned()
}

/// Imports `name` in the hosting account as its own importer would, without Ferry, and waits
/// (bounded) until the job completes.
async fn import_by_hand(p: &Pipeline, name: &str) -> String {
    let job = start_by_hand(p, name).await;
    let bedrock = ferry_sim::sdk::bedrock(&ferry_sim::sdk::config_for(&p.sim, "hosting-importer"));
    for _ in 0..200 {
        let got = bedrock
            .get_model_import_job()
            .job_identifier(&job)
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
    // The readiness check invoked Ferry's model through the sim's bedrock-runtime; CloudWatch
    // (the sim's GetMetricData) counted it, and the inventory read it. Nobody invoked the
    // other one.
    assert!(ours["last_invoked_at"].is_string(), "{ours}");
    assert_eq!(ours["idle_days"], 0, "{ours}");
    assert_eq!(
        ours["deletion_candidate"], false,
        "dev's idle_after_days is 30: {ours}"
    );
    assert!(by_name("by-hand")["last_invoked_at"].is_null(), "{all}");
    assert_eq!(by_name("by-hand")["deletion_candidate"], false);
    let candidates: Value = app
        .get(&hosting, "/v1/models?deletion_candidate=true")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        candidates["items"].as_array().unwrap().is_empty(),
        "{candidates}"
    );
    assert!(
        p.sim
            .faults()
            .call_counts()
            .contains_key("monitoring:GetMetricData"),
        "the inventory asked CloudWatch"
    );
    let managed: Value = app
        .get(&hosting, "/v1/models?managed=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(managed["items"].as_array().unwrap().len(), 1, "{managed}");

    // One model at a time, by the id Bedrock gave it.
    let ours_id = ours["id"].as_str().unwrap().to_owned();
    let hand_id = by_name("by-hand")["id"].as_str().unwrap().to_owned();
    assert!(by_hand.ends_with(&format!("/{hand_id}")), "{by_hand}");
    let one = |token: String, id: String| {
        let app = &app;
        async move { app.get(&token, &format!("/v1/models/{id}")).await }
    };
    let res = one(hosting.clone(), ours_id.clone()).await;
    assert_eq!(res.status(), 200);
    let model: Value = res.json().await.unwrap();
    assert_eq!(model["managed"], true);
    assert_eq!(model["import_id"], id.to_string());
    assert_eq!(model["model_name"], "through-ferry");
    assert_eq!(model["environment"], "dev");
    assert_eq!(model["account"], HOSTING);
    assert_eq!(model["status"], "completed");
    assert_eq!(model["age_days"], 0);
    assert!(
        model["model_card"]["examples"]["boto3"].is_string(),
        "{model}"
    );
    assert!(model["last_invoked_at"].is_string(), "{model}");
    assert_eq!(model["deletion_candidate"], false);
    let holders = model["holding_requests"].as_array().unwrap();
    assert_eq!(holders.len(), 1, "{model}");
    assert_eq!(holders[0]["id"], id.to_string());
    assert!(holders[0]["reused_from"].is_null());

    let res = one(hosting.clone(), hand_id.clone()).await;
    assert_eq!(res.status(), 200);
    let other: Value = res.json().await.unwrap();
    assert_eq!(other["managed"], false);
    assert_eq!(other["model_name"], "by-hand");
    assert_eq!(other["imported_model_arn"], by_hand.as_str());
    assert!(other["model_card"].is_null(), "{other}");
    assert!(other["holding_requests"].as_array().unwrap().is_empty());
    assert!(other["last_seen_at"].is_string());

    // Researchers see the models their team's requests hold, nothing else: another team's
    // model, a model imported outside Ferry and an unknown id are all the same 404.
    let res = one(researcher.clone(), ours_id.clone()).await;
    assert_eq!(res.status(), 200);
    let vision = app.researcher("vision").await;
    for (token, model) in [
        (vision.clone(), ours_id.clone()),
        (researcher.clone(), hand_id.clone()),
        (hosting.clone(), "zzzzzzzzzzzz".to_owned()),
        (hosting.clone(), "Not-An-Id".to_owned()),
    ] {
        let res = one(token, model.clone()).await;
        assert_eq!(res.status(), 404, "{model}");
        let problem: Value = res.json().await.unwrap();
        assert_eq!(problem["code"], "not_found", "{problem}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn an_import_job_started_outside_ferry_holds_the_slot_until_it_ends(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool.clone(), quick_jobs()).await;
    // The hand-made job runs long enough for the inventory to list it while it runs; Ferry's
    // own job, once admitted, is quick again.
    p.sim.faults().set_job_duration(Duration::from_secs(10));
    let job = start_by_hand(&p, "by-hand").await;
    p.sim.faults().set_job_duration(Duration::from_millis(300));

    let mut ctx = p.ctx("w1", crate::support::ONE).await;
    ctx.settings.inventory = Some(InventorySettings {
        interval: Duration::from_millis(200),
        configured_quotas: BTreeSet::new(),
    });
    let id = p
        .submit("research", "dev", &p.sample.clone(), "through-ferry")
        .await;

    // The account's one import slot is taken by a job Ferry did not start: the request waits
    // and names it, and sends Bedrock nothing to be refused with ServiceQuotaExceeded.
    let mut waiting = None;
    for _ in 0..400 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(id).await;
        if let Some(c) = r
            .conditions
            .iter()
            .find(|c| c.kind == ConditionType::Scheduled && c.reason == Reason::JobsOutsideFerry)
        {
            waiting = Some((r.status, c.status, c.message.clone(), r.bedrock_job_arn));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, condition, message, job_arn) =
        waiting.expect("the request waits for the job started outside Ferry");
    assert_eq!(status, Status::Validating);
    assert_eq!(condition, ConditionStatus::False);
    assert!(message.contains("by-hand-job"), "{message}");
    assert!(message.contains(&job), "{message}");
    assert!(job_arn.is_none());
    let creates = |p: &Pipeline| {
        p.sim
            .faults()
            .call_counts()
            .get("bedrock:CreateModelImportJob")
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(creates(&p), 1, "only the hand-made job was created");

    // The job ends; the next inventory pass no longer lists it, and the request goes.
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    assert_eq!(
        creates(&p),
        2,
        "Ferry created its job once, after the slot was free: Bedrock refused none"
    );
}

/// A request cancelled while its job runs leaves that job running in Bedrock (import jobs
/// cannot be stopped): Ferry no longer counts it, so the inventory lists it with the jobs held
/// by others, and the next request waits naming it instead of meeting `ServiceQuotaExceeded`.
#[sqlx::test(migrations = "../migrations")]
async fn a_job_left_running_by_a_cancelled_request_holds_the_slot_until_it_ends(
    pool: ferry_store::PgPool,
) {
    use ferry_domain::events::EventKind;
    use ferry_domain::status::Cause;
    use ferry_domain::update::{Actor, Event, Update};

    let p = Pipeline::start(pool.clone(), quick_jobs()).await;
    p.sim.faults().set_job_duration(Duration::from_secs(10));
    let mut ctx = p.ctx("w1", crate::support::ONE).await;
    let first = p
        .submit("research", "dev", &p.sample.clone(), "cancelled-one")
        .await;
    let mut importing = None;
    for _ in 0..400 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(first).await;
        if r.status == Status::Importing {
            importing = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let importing = importing.expect("the first request's job runs");
    let job_arn = importing.bedrock_job_arn.clone().expect("its job");
    {
        let mut conn = pool.acquire().await.unwrap();
        let cancel = Update::new(first, Actor::new("token:test", "tester"))
            .to(Cause::Cancel, Status::Cancelled)
            .event(Event::new(EventKind::Cancelled, serde_json::json!({})));
        ferry_store::imports::update(&mut conn, &cancel)
            .await
            .unwrap();
    }
    p.sim.faults().set_job_duration(Duration::from_millis(300));

    ctx.settings.inventory = Some(InventorySettings {
        interval: Duration::from_millis(200),
        configured_quotas: BTreeSet::new(),
    });
    let second = p
        .submit("research", "dev", &p.sample.clone(), "after-the-cancel")
        .await;
    let mut waiting = None;
    for _ in 0..400 {
        ferry_worker::activate(&ctx).await.unwrap();
        let r = p.get(second).await;
        if let Some(c) = r
            .conditions
            .iter()
            .find(|c| c.kind == ConditionType::Scheduled && c.reason == Reason::JobsOutsideFerry)
        {
            waiting = Some((r.status, c.message.clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, message) =
        waiting.expect("the next request waits for the cancelled request's job");
    assert_eq!(status, Status::Validating);
    assert!(message.contains(&job_arn), "{message}");
    assert!(
        message.contains(&importing.job_name.to_string()),
        "{message}"
    );
    assert_eq!(
        p.sim
            .faults()
            .call_counts()
            .get("bedrock:CreateModelImportJob")
            .copied()
            .unwrap_or(0),
        1,
        "no second job was sent while the first still ran"
    );

    // The cancelled request's job ends; the next request goes.
    let done = p.drive(&ctx, &[second]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    assert_eq!(p.get(first).await.status, Status::Cancelled);
}

/// A model Ferry imported that has become a deletion candidate (here `idle_after_days = 0`:
/// every model is one) is told of once, on the request that imported it, with the model, its
/// last invocation and its idle days; the next pass tells nothing more. The event is in the
/// public feed's list, so webhook filters and `types=` accept it.
#[sqlx::test(migrations = "../migrations")]
async fn an_idle_model_is_told_of_once_on_its_request(pool: ferry_store::PgPool) {
    let mut p = Pipeline::start(pool.clone(), quick_jobs()).await;
    let catalog = &p.catalog;
    let envs: Vec<_> = catalog
        .environments()
        .cloned()
        .map(|mut e| {
            if e.name.as_str() == "dev" {
                e.idle_after_days = Some(0);
            }
            e
        })
        .collect();
    let teams: Vec<_> = catalog.teams().cloned().collect();
    p.catalog = std::sync::Arc::new(ferry_domain::catalog::Catalog::new(envs, teams).unwrap());
    let mut ctx = p
        .ctx(
            "w1",
            ferry_worker::Quota {
                concurrent_jobs: 1,
                imported_models: 1000,
            },
        )
        .await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "idle-one")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);
    let arn = done.imported_model_arn.clone().unwrap();
    let idle_events = |p: &Pipeline| {
        let pool = p.pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            ferry_store::imports::events(&mut conn, id, None, 100)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == "model_idle")
                .collect::<Vec<_>>()
        }
    };
    assert!(idle_events(&p).await.is_empty(), "no inventory ran yet");

    // The inventory runs (after the readiness check invoked the model): one notice.
    ctx.settings.inventory = Some(InventorySettings {
        interval: Duration::from_millis(100),
        configured_quotas: BTreeSet::new(),
    });
    let mut told = Vec::new();
    for _ in 0..100 {
        ferry_worker::activate(&ctx).await.unwrap();
        told = idle_events(&p).await;
        if !told.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(told.len(), 1, "{told:?}");
    let e = &told[0];
    assert_eq!(e.detail["imported_model_arn"], arn.as_str(), "{e:?}");
    assert_eq!(e.detail["idle_days"], 0, "{e:?}");
    assert_eq!(e.detail["idle_after_days"], 0, "{e:?}");
    assert!(
        e.detail["last_invoked_at"].is_string(),
        "the readiness check's invocation, from CloudWatch: {e:?}"
    );
    assert_eq!(
        e.detail["confirm_with"],
        format!("DELETE /v1/imports/{id}/model")
    );
    assert_eq!(e.actor_id.as_deref(), Some("ferry:worker"));
    assert!(e.from_status.is_none() && e.to_status.is_none(), "{e:?}");
    assert_eq!(p.get(id).await.status, Status::Completed, "no transition");
    assert_eq!(
        ferry_domain::events::parse_types(&["import.model_idle"]),
        Ok(vec!["import.model_idle".to_owned()])
    );
    p.events(id).await;

    // Later passes: still a candidate, already told.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        ferry_worker::activate(&ctx).await.unwrap();
    }
    let mut conn = pool.acquire().await.unwrap();
    let listed = ferry_store::inventory::models(&mut conn, &[], Some(true))
        .await
        .unwrap();
    let synced = listed
        .iter()
        .filter(|m| m.arn == arn && m.last_seen_at > e.at)
        .count();
    assert_eq!(synced, 1, "a later pass listed the model again");
    assert_eq!(idle_events(&p).await.len(), 1, "told once per candidacy");
}
