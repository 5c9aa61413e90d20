//! SIGKILL a real `ferry worker` process right after Bedrock accepted its
//! CreateModelImportJob and before it could record the job; another worker
//! process takes over. Exactly one job exists.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;

use ferry::config::{Config, ConfigSource};
use ferry_domain::auth::{Principal, Role};
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::names::TeamName;
use ferry_sim::{FaultConfig, FaultRule, Sim, SimOptions};
use sqlx::{Connection, PgConnection};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn worker(config: &std::path::Path, db: &str) -> std::process::Child {
    Command::new(FERRY)
        .args(["--config", config.to_str().unwrap(), "worker"])
        .env("DATABASE_URL", db)
        .env("FERRY_WORKER__LEASE_SECS", "2")
        .env("FERRY_WORKER__TICK_MILLIS", "100")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn row(pool: &ferry_store::PgPool) -> (String, Option<String>, Option<String>) {
    sqlx::query_as("SELECT status, lease_owner, bedrock_job_arn FROM import_requests")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_killed_after_create_leaves_exactly_one_job() {
    let master = std::env::var("DATABASE_URL").unwrap();
    let name = format!("ferry_crash_{}", uuid::Uuid::new_v4().simple());
    let db = ferry_store::admin::ensure_database(&master, &name)
        .await
        .unwrap();
    let pool = ferry_store::connect(&db, 4).await.unwrap();
    ferry_store::migrate(&pool).await.unwrap();

    // Bedrock takes the job at once but answers only 5 s later.
    let mut rules = std::collections::BTreeMap::new();
    rules.insert(
        "bedrock:CreateModelImportJob".to_owned(),
        FaultRule {
            response_delay_ms: 5_000,
            ..FaultRule::default()
        },
    );
    let sim = Sim::start(SimOptions {
        faults: FaultConfig {
            rules,
            job_duration_ms: 300,
            ..FaultConfig::default()
        },
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("ferry.toml");
    std::fs::write(&config_path, ferry::dev::dev_config(0, &sim).unwrap()).unwrap();
    let config = Config::load(&ConfigSource {
        path: config_path.clone(),
        explicit: true,
    })
    .unwrap();
    let catalog = config.catalog().unwrap();
    let principal = Principal {
        id: "token:t".into(),
        name: "alice".into(),
        role: Role::Researcher,
        team: Some(TeamName::parse("research").unwrap()),
    };
    let draft = ImportDraft {
        source: sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned(),
        environment: "dev".into(),
        model_name: "crash-test".into(),
        ..ImportDraft::default()
    };
    let new = NewImport::from_draft(&draft, &principal, &catalog).unwrap();
    let mut conn = pool.acquire().await.unwrap();
    ferry_store::imports::insert(&mut conn, &new, "token:t")
        .await
        .unwrap();
    drop(conn);

    let mut first = worker(&config_path, &db);
    // Wait until Bedrock has the job and the worker is waiting for the answer.
    let mut creates = 0;
    for _ in 0..300 {
        creates = sim
            .faults()
            .call_counts()
            .get("bedrock:CreateModelImportJob")
            .copied()
            .unwrap_or(0);
        if creates == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(creates, 1, "the first worker called CreateModelImportJob");
    tokio::time::sleep(Duration::from_millis(500)).await;
    Command::new("kill")
        .args(["-KILL", &first.id().to_string()])
        .status()
        .unwrap();
    first.wait().unwrap();
    let (status, owner, arn) = row(&pool).await;
    assert_eq!(
        (status.as_str(), arn),
        ("submitting", None),
        "killed before recording the job"
    );
    assert!(
        owner.is_some(),
        "the dead worker's lease is still on the row"
    );

    sim.faults().set_rule("bedrock:CreateModelImportJob", None);
    let mut second = worker(&config_path, &db);
    let mut last = row(&pool).await;
    for _ in 0..300 {
        last = row(&pool).await;
        if last.0 == "completed" || last.0 == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(
        second.wait().unwrap().success(),
        "the second worker stops cleanly on SIGTERM"
    );
    assert_eq!(last.0, "completed");

    let listed = sim.faults().call_counts();
    assert_eq!(
        listed.get("bedrock:CreateModelImportJob"),
        Some(&2),
        "the survivor asked again, with the same token"
    );
    let cloud = ferry_cloud::Cloud::new(
        ferry_cloud::CloudOptions {
            endpoint_url: Some(sim.endpoint()),
            static_credentials: {
                let p = sim.scenario().principal("ferry-service").unwrap();
                Some((p.access_key_id.clone(), p.secret_access_key.clone().into()))
            },
            ..ferry_cloud::CloudOptions::default()
        },
        catalog
            .environments()
            .filter(|e| e.name.as_str() == "dev")
            .map(ferry_cloud::EnvTarget::from_environment)
            .collect(),
    )
    .await
    .unwrap();
    let all = cloud
        .list_import_jobs(&"dev".parse().unwrap(), time::OffsetDateTime::UNIX_EPOCH)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "exactly one job: {all:?}");
    assert_eq!(last.2.as_deref(), Some(all[0].job_arn.as_str()));

    pool.close().await;
    let mut conn = PgConnection::connect(&master).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
}
