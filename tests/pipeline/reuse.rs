//! One import per artifact: requests whose artifact digest matches a model the environment
//! already imported (or is importing) complete by reference to it, per `model_reuse`.

use std::collections::BTreeMap;

use ferry_domain::catalog::ModelReuse;
use ferry_domain::events::EventKind;
use ferry_domain::ids::ImportId;
use ferry_domain::preflight::{Outcome, PreflightReport, check_names};
use ferry_domain::status::{Cause, Status};
use ferry_domain::update::{Actor, Event, Update};
use ferry_store::imports::ImportRecord;
use ferry_worker::{Ctx, Quota};

use crate::support::{Pipeline, quick_jobs, sim_placement};

const TWO: Quota = Quota {
    concurrent_jobs: 2,
    imported_models: 1000,
};

/// A worker whose `dev` environment does `mode` with a known artifact.
async fn ctx(p: &Pipeline, owner: &str, mode: ModelReuse) -> Ctx {
    let mut ctx = p.ctx(owner, TWO).await;
    let mut placement = sim_placement(TWO);
    placement.reuse = BTreeMap::from([("dev".to_owned(), mode)]);
    ctx.settings.placements = vec![placement];
    ctx
}

/// The import jobs Bedrock (the sim) holds in the hosting account, as its admin lists them.
async fn bedrock_jobs(p: &Pipeline) -> usize {
    let bedrock = ferry_sim::sdk::bedrock(&ferry_sim::sdk::config_for(&p.sim, "hosting-admin"));
    bedrock
        .list_model_import_jobs()
        .send()
        .await
        .unwrap()
        .model_import_job_summaries()
        .len()
}

fn digest(r: &ImportRecord) -> String {
    let d = r.artifact_digest.as_ref().expect("a digest").to_string();
    let report: PreflightReport = serde_json::from_value(r.preflight.clone().unwrap()).unwrap();
    assert_eq!(
        report.model.unwrap().digest.as_deref(),
        Some(d.as_str()),
        "the report and the row carry the same digest"
    );
    assert!(d.starts_with("sha256:") && d.len() == 7 + 64, "{d}");
    d
}

async fn kinds(p: &Pipeline, id: ImportId) -> Vec<String> {
    p.events(id).await.into_iter().map(|(k, _)| k).collect()
}

/// Submitting the same artifact twice to dev at once yields one Bedrock job and two
/// completed requests pointing at one model; the second names the first and carries its card.
#[sqlx::test(migrations = "../migrations")]
async fn the_same_artifact_twice_in_dev_is_imported_once(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let a = p
        .submit("research", "dev", &p.sample.clone(), "same-a")
        .await;
    let b = p
        .submit("research", "dev", &p.sample.clone(), "same-b")
        .await;
    let ctx = ctx(&p, "w1", ModelReuse::Reuse).await;
    let done = p.drive(&ctx, &[a, b]).await;
    assert!(
        done.iter().all(|r| r.status == Status::Completed),
        "{:?}",
        done.iter().map(|r| &r.failure_message).collect::<Vec<_>>()
    );
    assert_eq!(
        bedrock_jobs(&p).await,
        1,
        "one Bedrock job for one artifact"
    );
    let (owner, reference) = if done[0].reused_from.is_none() {
        (&done[0], &done[1])
    } else {
        (&done[1], &done[0])
    };
    assert_eq!(reference.reused_from, Some(owner.id));
    assert!(owner.bedrock_job_arn.is_some());
    assert_eq!(reference.bedrock_job_arn, None, "no job of its own");
    assert!(owner.imported_model_arn.is_some());
    assert_eq!(reference.imported_model_arn, owner.imported_model_arn);
    assert_eq!(digest(owner), digest(reference));
    let card = |r: &ImportRecord| r.imported_model.as_ref().unwrap()["card"].clone();
    assert_eq!(
        card(reference),
        card(owner),
        "the reference shows the model's card"
    );
    assert_eq!(
        card(owner)["artifact_digest"].as_str(),
        Some(digest(owner).as_str())
    );
    let events = kinds(&p, reference.id).await;
    assert!(
        events.contains(&EventKind::ModelReused.as_str().to_owned()),
        "{events:?}"
    );
    assert!(!events.contains(&"job_created".to_owned()), "{events:?}");

    // A third request, after the model is there, reuses it at once and says so in its report.
    let c = p
        .submit("research", "dev", &p.sample.clone(), "same-c")
        .await;
    let third = p.drive(&ctx, &[c]).await.remove(0);
    assert_eq!(third.status, Status::Completed);
    assert_eq!(third.reused_from, Some(owner.id));
    let report: PreflightReport = serde_json::from_value(third.preflight.clone().unwrap()).unwrap();
    let same = report.check(check_names::SAME_ARTIFACT).unwrap();
    assert_eq!(same.outcome, Outcome::Passed, "{same:?}");
    assert!(
        same.detail.contains(&owner.id.to_string()),
        "{}",
        same.detail
    );
    assert_eq!(bedrock_jobs(&p).await, 1);

    // Deleting the model from under its references is refused; deleting a reference leaves
    // the model in place; then the model itself can go.
    let delete = |id| {
        Update::new(id, Actor::new("token:hosting-lead", "hosting-lead"))
            .to(Cause::DeleteModel, Status::Deleting)
            .event(Event::new(
                EventKind::DeleteRequested,
                serde_json::json!({}),
            ))
    };
    let settle = |id| {
        let p = &p;
        let ctx = &ctx;
        async move {
            let mut conn = p.pool.acquire().await.unwrap();
            ferry_store::imports::update(&mut conn, &delete(id))
                .await
                .unwrap();
            drop(conn);
            for _ in 0..100 {
                ferry_worker::activate(ctx).await.unwrap();
                let r = p.get(id).await;
                if r.status != Status::Deleting {
                    return r;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the deletion did not end");
        }
    };
    let refused = settle(owner.id).await;
    assert_eq!(
        refused.status,
        Status::Completed,
        "still in use by reference"
    );
    let arn = owner.imported_model_arn.clone().unwrap();
    let dev = "dev".parse().unwrap();
    for r in [reference.id, third.id] {
        assert_eq!(settle(r).await.status, Status::Deleted);
        ctx.cloud.get_imported_model(&dev, &arn).await.unwrap();
    }
    assert_eq!(settle(owner.id).await.status, Status::Deleted);
    assert!(ctx.cloud.get_imported_model(&dev, &arn).await.is_err());
}

/// Two workers (replicas) and three identical requests: still one job.
#[sqlx::test(migrations = "../migrations")]
async fn two_replicas_start_one_job_for_one_artifact(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            p.submit("research", "dev", &p.sample.clone(), &format!("race-{i}"))
                .await,
        );
    }
    let (stop_a, a) = p.spawn_worker(ctx(&p, "replica-a", ModelReuse::Reuse).await);
    let (stop_b, b) = p.spawn_worker(ctx(&p, "replica-b", ModelReuse::Reuse).await);
    let done = p.wait_finished(&ids, 600).await;
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap();
    b.await.unwrap();
    assert!(done.iter().all(|r| r.status == Status::Completed));
    assert_eq!(bedrock_jobs(&p).await, 1);
    assert_eq!(done.iter().filter(|r| r.reused_from.is_none()).count(), 1);
}

/// `import` imports every request; `warn` too, with a warning naming the model it repeats.
#[sqlx::test(migrations = "../migrations")]
async fn import_and_warn_start_a_job_per_request(pool: ferry_store::PgPool) {
    let p = Pipeline::start(pool, quick_jobs()).await;
    let a = p
        .submit("research", "dev", &p.sample.clone(), "imp-a")
        .await;
    let b = p
        .submit("research", "dev", &p.sample.clone(), "imp-b")
        .await;
    let import = ctx(&p, "w1", ModelReuse::Import).await;
    let done = p.drive(&import, &[a, b]).await;
    assert!(
        done.iter()
            .all(|r| r.status == Status::Completed && r.reused_from.is_none())
    );
    assert_eq!(digest(&done[0]), digest(&done[1]));
    assert_eq!(bedrock_jobs(&p).await, 2, "import mode starts two jobs");

    let c = p
        .submit("research", "dev", &p.sample.clone(), "warn-c")
        .await;
    let warn = ctx(&p, "w2", ModelReuse::Warn).await;
    let third = p.drive(&warn, &[c]).await.remove(0);
    assert_eq!(third.status, Status::Completed);
    assert_eq!(third.reused_from, None);
    assert_eq!(bedrock_jobs(&p).await, 3);
    let report: PreflightReport = serde_json::from_value(third.preflight.clone().unwrap()).unwrap();
    let same = report.check(check_names::SAME_ARTIFACT).unwrap();
    assert_eq!(same.outcome, Outcome::Warning, "{same:?}");
    assert!(
        same.detail.contains("model_reuse = \"warn\""),
        "{}",
        same.detail
    );
}
