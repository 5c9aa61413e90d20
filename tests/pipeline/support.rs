use std::sync::Arc;
use std::time::Duration;

use ferry_cloud::Cloud;
use ferry_domain::auth::{Principal, Role};
use ferry_domain::catalog::Catalog;
use ferry_domain::ids::ImportId;
use ferry_domain::import::{ImportDraft, NewImport};
use ferry_domain::names::TeamName;
use ferry_domain::status::Status;
use ferry_e2e::example_catalog;
use ferry_sim::{FaultConfig, Sim, SimHandle, SimOptions};
use ferry_store::PgPool;
use ferry_store::imports::{self, ImportRecord};
use ferry_worker::{Ctx, Placement, Quota, Settings};
use tokio_util::sync::CancellationToken;

pub(crate) struct Pipeline {
    pub(crate) sim: SimHandle,
    pub(crate) pool: PgPool,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) sample: String,
}

/// The sim's hosting account and Region with `quota`, refusing requests
/// over the imported-model limit.
pub(crate) fn sim_placement(quota: Quota) -> Placement {
    Placement {
        account: "777788889999".parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
        quota,
        refuse_over_model_limit: true,
        reuse: Default::default(),
    }
}

impl Pipeline {
    pub(crate) async fn start(pool: PgPool, faults: FaultConfig) -> Self {
        let sim = Sim::start(SimOptions {
            faults,
            ..SimOptions::default()
        })
        .await
        .unwrap();
        // Imported models answer at once unless a test asks for a cold start (the readiness
        // check's own tests do): the other suites are about getting there.
        sim.runtime().set_config(ferry_sim::RuntimeConfig {
            cold_start_ms: 0,
            idle_after_ms: None,
        });
        let sample = sim.scenario().env("SAMPLE_MODEL_URI").unwrap().to_owned();
        Self {
            sim,
            pool,
            catalog: Arc::new(example_catalog()),
            sample,
        }
    }

    pub(crate) async fn cloud(&self) -> Arc<Cloud> {
        ferry_e2e::sim_cloud(&self.sim).await
    }

    pub(crate) async fn ctx(&self, owner: &str, quota: Quota) -> Ctx {
        Ctx {
            pool: self.pool.clone(),
            cloud: self.cloud().await,
            catalog: Arc::clone(&self.catalog),
            settings: Settings::fast(owner, vec![sim_placement(quota)]),
        }
    }

    /// Stores a request as the API would.
    pub(crate) async fn submit(
        &self,
        team: &str,
        environment: &str,
        source: &str,
        model: &str,
    ) -> ImportId {
        let principal = Principal {
            id: format!("token:{team}"),
            name: format!("{team}-researcher"),
            role: Role::Researcher,
            team: Some(TeamName::parse(team).unwrap()),
        };
        let draft = ImportDraft {
            source: source.into(),
            environment: environment.into(),
            model_name: model.into(),
            ..ImportDraft::default()
        };
        let new = NewImport::from_draft(&draft, &principal, &self.catalog).unwrap();
        let mut conn = self.pool.acquire().await.unwrap();
        imports::insert(&mut conn, &new, &principal.id)
            .await
            .unwrap();
        new.id
    }

    pub(crate) async fn get(&self, id: ImportId) -> ImportRecord {
        let mut conn = self.pool.acquire().await.unwrap();
        imports::get(&mut conn, id).await.unwrap()
    }

    /// All of `ids` once every one has finished, else `None`.
    async fn finished(&self, ids: &[ImportId]) -> Option<Vec<ImportRecord>> {
        let mut all = Vec::new();
        for id in ids {
            all.push(self.get(*id).await);
        }
        let done = |r: &ImportRecord| {
            matches!(
                r.status,
                Status::Completed | Status::Failed | Status::Cancelled
            )
        };
        all.iter().all(done).then_some(all)
    }

    /// Activates the worker until every request in `ids` is finished.
    pub(crate) async fn drive(&self, ctx: &Ctx, ids: &[ImportId]) -> Vec<ImportRecord> {
        for _ in 0..600 {
            ferry_worker::activate(ctx).await.unwrap();
            if let Some(all) = self.finished(ids).await {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("requests did not finish");
    }

    /// Waits (bounded) until every request in `ids` is finished, with
    /// workers running their own loops.
    pub(crate) async fn wait_finished(&self, ids: &[ImportId], rounds: usize) -> Vec<ImportRecord> {
        for _ in 0..rounds {
            if let Some(all) = self.finished(ids).await {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("requests did not finish");
    }

    /// Starts a worker loop; cancel the token to stop it.
    pub(crate) fn spawn_worker(
        &self,
        ctx: Ctx,
    ) -> (CancellationToken, tokio::task::JoinHandle<()>) {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(ferry_worker::run(Arc::new(ctx), stop.clone()));
        (stop, handle)
    }

    /// A request's events, checking each kind is one the feed publishes.
    pub(crate) async fn events(&self, id: ImportId) -> Vec<(String, Option<Status>)> {
        let mut conn = self.pool.acquire().await.unwrap();
        imports::events(&mut conn, id, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                assert!(
                    ferry_domain::events::IMPORT_EVENT_KINDS.contains(&e.kind.as_str()),
                    "event kind {:?} is missing from ferry_domain::events::IMPORT_EVENT_KINDS",
                    e.kind
                );
                (e.kind, e.to_status)
            })
            .collect()
    }
}

pub(crate) fn quick_jobs() -> FaultConfig {
    FaultConfig {
        job_duration_ms: 300,
        ..FaultConfig::default()
    }
}

pub(crate) const ONE: Quota = Quota {
    concurrent_jobs: 1,
    imported_models: 1000,
};

/// An S3 client acting as the research account's admin.
pub(crate) async fn research_s3(p: &Pipeline) -> aws_sdk_s3::Client {
    ferry_sim::sdk::s3(&ferry_sim::sdk::config_for(&p.sim, "research-admin"))
}

/// Copies the sample model under new prefixes, each with one flaw, and
/// returns (model name, prefix, the preflight check expected to fail).
pub(crate) async fn variants(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    sample_prefix: &str,
) -> Vec<(String, String, &'static str)> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(sample_prefix)
        .send()
        .await
        .unwrap();
    let mut files = Vec::new();
    for o in listed.contents() {
        let key = o.key().unwrap().to_owned();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        files.push((
            key.trim_start_matches(sample_prefix).to_owned(),
            body.to_vec(),
        ));
    }
    let put = |prefix: String, files: Vec<(String, Vec<u8>)>| async move {
        for (name, body) in files {
            s3.put_object()
                .bucket(bucket)
                .key(format!("{prefix}{name}"))
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
        prefix
    };
    let mut out = Vec::new();

    let bert: Vec<_> = files
        .iter()
        .map(|(n, b)| {
            if n == "config.json" {
                let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                v["model_type"] = "bert".into();
                v["architectures"] = serde_json::json!(["BertModel"]);
                (n.clone(), serde_json::to_vec(&v).unwrap())
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    out.push((
        "bert-model".to_owned(),
        put("variants/bert/".into(), bert).await,
        "architecture",
    ));

    let no_tokenizer: Vec<_> = files
        .iter()
        .filter(|(n, _)| !n.starts_with("tokenizer"))
        .cloned()
        .collect();
    out.push((
        "no-tokenizer".to_owned(),
        put("variants/no-tokenizer/".into(), no_tokenizer).await,
        "tokenizer",
    ));

    let pickled: Vec<_> = files
        .iter()
        .map(|(n, b)| {
            if n.ends_with(".safetensors") {
                ("pytorch_model.bin".to_owned(), b.clone())
            } else {
                (n.clone(), b.clone())
            }
        })
        .collect();
    out.push((
        "pickled-weights".to_owned(),
        put("variants/pickled/".into(), pickled).await,
        "weights",
    ));
    out
}

/// A copy of the sample model under the vision team's prefix; returns its URI.
pub(crate) async fn vision_copy(p: &Pipeline) -> String {
    let s3 = research_s3(p).await;
    let bucket = "model-artifacts-111122223333";
    let sample_prefix = p
        .sample
        .trim_start_matches(&format!("s3://{bucket}/"))
        .to_owned();
    let target = "vision/sample-llama/";
    let exists = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(target)
        .send()
        .await
        .unwrap();
    if exists.key_count().unwrap_or(0) == 0 {
        let listed = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&sample_prefix)
            .send()
            .await
            .unwrap();
        for o in listed.contents() {
            let key = o.key().unwrap();
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            let name = key.trim_start_matches(sample_prefix.as_str());
            s3.put_object()
                .bucket(bucket)
                .key(format!("{target}{name}"))
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    }
    format!("s3://{bucket}/{target}")
}
