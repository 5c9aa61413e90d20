//! The readiness check: after the import job, the request is `verifying` while the worker
//! invokes the model on the sim's bedrock-runtime (which answers `ModelNotReadyException`
//! during its cold start), then `completed` with `Serving=True` or `Serving=False`.

use std::time::Duration;

use ferry_domain::condition::{ConditionStatus, ConditionType, Reason};
use ferry_domain::ids::ImportId;
use ferry_domain::serving::{Readiness, ServingApi};
use ferry_domain::status::Status;
use ferry_sim::RuntimeConfig;
use ferry_store::imports::ImportRecord;
use ferry_store::work::claim_due;

use crate::support::{ONE, Pipeline, quick_jobs};

fn cold_start(p: &Pipeline, ms: u64) {
    p.sim.runtime().set_config(RuntimeConfig {
        cold_start_ms: ms,
        idle_after_ms: None,
    });
}

fn readiness(r: &ImportRecord) -> Readiness {
    let details = r.imported_model.clone().expect("imported model details");
    serde_json::from_value(details["serving"].clone()).expect("a stored readiness check")
}

fn serving_condition(r: &ImportRecord) -> (ConditionStatus, Reason, String) {
    let c = r
        .conditions
        .iter()
        .find(|c| c.kind == ConditionType::Serving)
        .expect("a Serving condition");
    (c.status, c.reason, c.message.clone())
}

fn calls(p: &Pipeline, op: &str) -> u64 {
    p.sim
        .faults()
        .call_counts()
        .get(&format!("bedrock:{op}"))
        .copied()
        .unwrap_or(0)
}

#[sqlx::test(migrations = "../migrations")]
async fn the_sample_import_is_verified_before_it_completes(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    cold_start(&p, 1_500);
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "{:?}", done.failure_message);

    let statuses: Vec<Status> = p
        .events(id)
        .await
        .into_iter()
        .filter_map(|(_, to)| to)
        .collect();
    assert_eq!(
        statuses,
        vec![
            Status::Queued,
            Status::Validating,
            Status::Submitting,
            Status::Importing,
            Status::Verifying,
            Status::Completed
        ]
    );
    let (status, reason, message) = serving_condition(&done);
    assert_eq!(
        (status, reason),
        (ConditionStatus::True, Reason::ModelAnswered),
        "{message}"
    );
    let r = readiness(&done);
    assert_eq!(r.serving, Some(true));
    assert!(
        r.not_ready >= 1,
        "the sim answered ModelNotReadyException first: {r:?}"
    );
    assert!(
        r.cold_start_ms.is_some() && r.first_answer_latency_ms.is_some(),
        "{r:?}"
    );
    // The sample is a Llama: every API its row lists was tried, and answered.
    assert_eq!(
        r.verified(),
        vec![
            ServingApi::InvokeModelNative,
            ServingApi::InvokeModelOpenaiChat,
            ServingApi::Converse
        ]
    );
    assert_eq!(calls(&p, "Converse"), 1);
    assert_eq!(
        calls(&p, "InvokeModel"),
        u64::from(r.invocations) - 1,
        "every invocation is recorded"
    );
    let kinds: Vec<String> = p.events(id).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "model_ready").count(),
        1,
        "{kinds:?}"
    );
    assert!(done.finished_at.is_some());
}

#[sqlx::test(migrations = "../migrations")]
async fn a_model_that_never_answers_completes_not_serving_with_a_warning(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    // The sim fault: the model stays loading for an hour.
    cold_start(&p, 3_600_000);
    let mut ctx = p.ctx("w1", ONE).await;
    ctx.settings.readiness_timeout = Duration::from_secs(1);
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(
        done.status,
        Status::Completed,
        "the model exists and is billed"
    );
    let (status, reason, message) = serving_condition(&done);
    assert_eq!(
        (status, reason),
        (ConditionStatus::False, Reason::ReadinessTimeout)
    );
    assert!(message.contains("ModelNotReadyException"), "{message}");
    let r = readiness(&done);
    assert_eq!(r.serving, Some(false));
    assert!(r.not_ready >= 1 && r.verified().is_empty(), "{r:?}");
    assert!(
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("Model is not ready")),
        "{r:?}"
    );
    assert_eq!(calls(&p, "Converse"), 0, "nothing else is tried");

    let mut conn = p.pool.acquire().await.unwrap();
    let events = ferry_store::imports::events(&mut conn, id, None, 100)
        .await
        .unwrap();
    let warning = events
        .iter()
        .find(|e| e.kind == "model_not_serving")
        .expect("a model_not_serving event");
    assert_eq!(warning.detail["level"], "warning");
    assert_eq!(warning.detail["reason"], "ReadinessTimeout");
    assert_eq!(warning.to_status, Some(Status::Completed));
    assert!(events.iter().all(|e| e.kind != "model_ready"));
}

/// Activates `ctx` until the request is `verifying` and the sim has answered
/// `ModelNotReadyException` at least once.
async fn until_not_ready_once(p: &Pipeline, ctx: &ferry_worker::Ctx, id: ImportId) -> Readiness {
    for _ in 0..400 {
        ferry_worker::activate(ctx).await.unwrap();
        let r = p.get(id).await;
        if r.status == Status::Verifying {
            let so_far = readiness(&r);
            if so_far.not_ready >= 1 {
                return so_far;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the request never met a cold model");
}

#[sqlx::test(migrations = "../migrations")]
async fn a_worker_dying_during_verifying_loses_nothing(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    cold_start(&p, 2_000);
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let doomed = p.ctx("doomed", ONE).await;
    let before = until_not_ready_once(&p, &doomed, id).await;
    // The doomed worker claims the request once more and dies holding the lease.
    let mut claimed = Vec::new();
    for _ in 0..200 {
        let mut conn = p.pool.acquire().await.unwrap();
        claimed = claim_due(&mut conn, "doomed", time::Duration::milliseconds(300), 1)
            .await
            .unwrap();
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(claimed.first().map(|r| r.status), Some(Status::Verifying));
    drop(doomed);

    let survivor = p.ctx("survivor", ONE).await;
    let done = p.drive(&survivor, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed);
    let after = readiness(&done);
    assert_eq!(after.serving, Some(true), "{after:?}");
    assert_eq!(after.since, before.since, "the same check, continued");
    assert!(
        after.not_ready >= before.not_ready && after.invocations > before.invocations,
        "{before:?} then {after:?}"
    );
    let kinds: Vec<String> = p.events(id).await.into_iter().map(|(k, _)| k).collect();
    for once in ["job_completed", "model_ready"] {
        assert_eq!(
            kinds.iter().filter(|k| *k == once).count(),
            1,
            "{once}: {kinds:?}"
        );
    }
    // Every call went through the budget and is on the record: nothing was invoked twice for
    // one recorded result.
    assert_eq!(
        calls(&p, "InvokeModel") + calls(&p, "Converse"),
        u64::from(after.invocations)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_control_role_that_may_not_invoke_ends_not_serving_with_the_fix(
    pool: ferry_store::PgPool,
) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    cold_start(&p, 0);
    p.sim
        .break_chain(ferry_sim::ChainBreak::InvokeModel)
        .unwrap();
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    assert_eq!(done.status, Status::Completed, "the import itself works");
    // The preflight warned.
    let report = done.preflight.clone().unwrap();
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "invoke_models")
        .unwrap()
        .clone();
    assert_eq!(check["outcome"], "warning", "{check}");
    assert!(
        check["fix"]
            .as_str()
            .unwrap()
            .contains("InvokeImportedModels"),
        "{check}"
    );
    // The readiness check was refused at once, with the fix.
    let (status, reason, message) = serving_condition(&done);
    assert_eq!(
        (status, reason),
        (ConditionStatus::False, Reason::InvokeRefused),
        "{message}"
    );
    assert!(message.contains("bedrock:InvokeModel"), "{message}");
    assert!(message.contains("Fix:"), "{message}");
    let r = readiness(&done);
    assert_eq!(r.invocations, 1, "access denied is not waited out: {r:?}");
}

/// The Python that runs the card's boto3 example: `$FERRY_PYTHON`, else the test tools'
/// virtualenv (`scripts/lib.sh`'s `ensure_python_tools`, boto3 pinned by
/// `tests/conformance/requirements.txt`), else `python3`.
fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("FERRY_PYTHON") {
        return p.into();
    }
    let cache = std::env::var_os("FERRY_CACHE_DIR")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/ferry"))
        });
    if let Some(venv) = cache.map(|c| c.join("venv/bin/python"))
        && venv.exists()
    {
        return venv;
    }
    "python3".into()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_cards_boto3_example_invokes_the_model_on_the_sim(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let ctx = p.ctx("w1", ONE).await;
    let id = p
        .submit("research", "dev", &p.sample.clone(), "sample-llama")
        .await;
    let done = p.drive(&ctx, &[id]).await.remove(0);
    let card = done.imported_model.clone().unwrap()["card"].clone();
    assert_eq!(card["serving"], true, "{card}");
    assert_eq!(
        card["model_arn"],
        done.imported_model_arn.clone().unwrap().as_str()
    );
    assert_eq!(card["region"], "us-east-1");
    assert_eq!(card["family"], "Llama (2, 3, 3.1, 3.2, 3.3)");
    assert!(
        card["chat_template"]
            .as_str()
            .unwrap()
            .contains("chat template"),
        "{card}"
    );
    assert_eq!(card["custom_model_units"]["per_model_copy"], 1, "{card}");
    assert!(
        card["estimated_cost"]["per_copy_minute"].as_f64().unwrap() > 0.0,
        "{card}"
    );
    // The same card went out with model_ready.
    let mut conn = p.pool.acquire().await.unwrap();
    let events = ferry_store::imports::events(&mut conn, id, None, 100)
        .await
        .unwrap();
    let ready = events.iter().find(|e| e.kind == "model_ready").unwrap();
    assert_eq!(ready.detail["card"], card);

    let dir = std::env::temp_dir().join(format!("ferry-card-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("example.py");
    std::fs::write(&script, card["examples"]["boto3"].as_str().unwrap()).unwrap();
    let admin = p.sim.scenario().principal("hosting-admin").unwrap().clone();
    let endpoint = p.sim.endpoint();
    let python = python();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(&script)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", &admin.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &admin.secret_access_key)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e}; set FERRY_PYTHON to a Python with boto3, or run scripts/test.sh (it installs one)",
                    python.display()
                )
            })
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{stderr}"
    );
    // The sim answers with the prompt's words reversed, through InvokeModel and Converse.
    let answers = stdout.matches("you? are who Hello,").count();
    assert_eq!(answers, 2, "{stdout}");
}
