//! The readiness check seen through the API: a model that never answers ends `completed` with
//! `Serving=False`, and promoting it into prod (an environment that requires approval) is
//! refused with that reason, while a promotion the gate does not cover goes through.

use std::sync::Arc;
use std::time::Duration;

use ferry_domain::auth::Role;
use ferry_e2e::{TestApp, problem};
use ferry_sim::{FaultConfig, RuntimeConfig, Sim, SimHandle, SimOptions};
use ferry_worker::{Ctx, Placement, Quota, Settings};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn worker(app: &TestApp, sim: &SimHandle, readiness_timeout: Duration) -> Ctx {
    let mut settings = Settings::fast(
        "serving-worker",
        vec![Placement {
            account: "777788889999".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
            quota: Quota {
                concurrent_jobs: 1,
                imported_models: 100,
            },
            refuse_over_model_limit: true,
            reuse: Default::default(),
        }],
    );
    settings.readiness_timeout = readiness_timeout;
    Ctx {
        pool: app.pool.clone(),
        cloud: ferry_e2e::sim_cloud(sim).await,
        catalog: Arc::new(ferry_e2e::example_catalog()),
        settings,
    }
}

/// Runs the worker until request `id` is `completed` (or another end), and returns it.
async fn run_to_end(app: &TestApp, ctx: &Ctx, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        ferry_worker::activate(ctx).await.unwrap();
        let r: Value = app
            .get(token, &format!("/v1/imports/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if ["completed", "failed", "cancelled"].contains(&r["status"].as_str().unwrap()) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("request {id} did not finish");
}

fn condition<'a>(r: &'a Value, kind: &str) -> &'a Value {
    r["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} condition: {r}"))
}

#[sqlx::test(migrations = "../migrations")]
async fn a_model_that_never_answers_is_not_promoted_to_prod(pool: PgPool) {
    let sim = Sim::start(SimOptions {
        faults: FaultConfig {
            job_duration_ms: 300,
            ..FaultConfig::default()
        },
        ..SimOptions::default()
    })
    .await
    .unwrap();
    // The fault: the imported model stays loading for an hour.
    sim.runtime().set_config(RuntimeConfig {
        cold_start_ms: 3_600_000,
        idle_after_ms: None,
    });
    let app = TestApp::spawn(pool).await;
    let researcher = app.researcher("research").await;
    let hosting = app.token(Role::Hosting, None, "hosting-lead").await;
    let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
    let created = app
        .create(
            &researcher,
            &json!({"source": sample, "environment": "dev", "model_name": "never-ready"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let ctx = worker(&app, &sim, Duration::from_secs(1)).await;
    let done = run_to_end(&app, &ctx, &researcher, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let serving = condition(&done, "Serving");
    assert_eq!(serving["status"], "False", "{serving}");
    assert_eq!(serving["reason"], "ReadinessTimeout");
    assert_eq!(done["imported_model"]["serving"]["serving"], false);

    let promote = format!("/v1/imports/{id}/promote");
    let p = problem(
        app.post(&hosting, &promote, &json!({"environment": "prod"}))
            .await,
        409,
    )
    .await;
    assert_eq!(p["code"], "not_serving", "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("Serving=False") && detail.contains("ReadinessTimeout"),
        "{detail}"
    );
    // staging does not require approval, and dev sets nothing: no gate there.
    let res = app
        .post(&hosting, &promote, &json!({"environment": "staging"}))
        .await;
    assert_eq!(res.status(), 201);
}
