use ferry_domain::status::Status;
use ferry_sim::FaultConfig;

use crate::support::{ONE, Pipeline};

/// Bedrock runs one import job per account and Region at a time: with
/// concurrency 1, ten requests from two teams run one after another, never
/// overlapping, alternating between the teams, and all complete.
#[sqlx::test(migrations = "../migrations")]
async fn with_concurrency_one_ten_requests_run_one_at_a_time_in_fair_order(
    pool: ferry_store::PgPool,
) {
    let faults = FaultConfig {
        job_duration_ms: 150,
        max_concurrent_import_jobs: 1,
        max_imported_models: 100,
        ..FaultConfig::default()
    };
    let p = Pipeline::start(pool, faults).await;
    let vision = crate::support::vision_copy(&p).await;
    let mut ids = Vec::new();
    // Research queues seven first, then vision three.
    for i in 0..7 {
        ids.push(
            p.submit(
                "research",
                "dev",
                &p.sample.clone(),
                &format!("research-{i}"),
            )
            .await,
        );
    }
    for i in 0..3 {
        ids.push(
            p.submit("vision", "dev", &vision, &format!("vision-{i}"))
                .await,
        );
    }
    let ctx = p.ctx("w1", ONE).await;
    let mut done = p.drive(&ctx, &ids).await;
    assert!(
        done.iter().all(|r| r.status == Status::Completed),
        "{:?}",
        done.iter().map(|r| &r.failure_message).collect::<Vec<_>>()
    );
    done.sort_by_key(|r| r.submitted_at);
    for pair in done.windows(2) {
        assert!(
            pair[0].finished_at.unwrap() <= pair[1].submitted_at.unwrap(),
            "jobs overlapped: {} and {}",
            pair[0].model_name,
            pair[1].model_name
        );
    }
    let order: Vec<&str> = done.iter().map(|r| r.team.as_str()).collect();
    // Vision's three are served within the first six, not after research's seven.
    let vision_positions: Vec<usize> = order
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == "vision")
        .map(|(i, _)| i)
        .collect();
    assert!(vision_positions.iter().all(|i| *i < 6), "{order:?}");
}
