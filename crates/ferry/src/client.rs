//! The command-line client for people and CI: `ferry submit | status |
//! approve | ls`, talking to the API over HTTP as any client would,
//! configured by `FERRY_URL` and `FERRY_TOKEN`.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Where the API is and who is calling.
#[derive(Debug, Args, Clone)]
pub(crate) struct Endpoint {
    /// Ferry's URL.
    #[arg(
        long,
        env = "FERRY_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub(crate) url: String,
    /// An API token (`ferry token create`).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true, global = true)]
    pub(crate) token: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum ClientCommand {
    /// Submit an import request; with --wait, follow it to the end (exit 0
    /// when completed, 1 when it failed, was rejected or cancelled).
    Submit(SubmitArgs),
    /// Show one request.
    Status {
        /// The request id.
        id: String,
    },
    /// Approve a request waiting for approval (hosting team).
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// List requests, newest first.
    Ls {
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "env")]
        environment: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Clone, Args)]
pub(crate) struct SubmitArgs {
    /// S3 URI of the model folder, or the ARN of a SageMaker model package (read at submit:
    /// it must be approved and keep its weights as an uncompressed S3 prefix).
    source: String,
    /// The imported model's name in Bedrock.
    #[arg(long)]
    model: String,
    /// Target environment.
    #[arg(long = "env")]
    environment: String,
    /// Team (admins must set it).
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// Makes a retried submit safe; generated when absent.
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Follow the request until it finishes, showing each change.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds (exit 3).
    #[arg(long, default_value_t = 3600)]
    timeout: u64,
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn new(endpoint: &Endpoint) -> anyhow::Result<Self> {
        let token = endpoint
            .token
            .clone()
            .context("set FERRY_TOKEN (or --token) to an API token")?;
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            url: endpoint.url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .context("calling Ferry")?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let mut msg = format!(
                "{} {}: {}",
                status.as_u16(),
                body["code"].as_str().unwrap_or("error"),
                body["detail"].as_str().unwrap_or("")
            );
            for e in body["errors"].as_array().into_iter().flatten() {
                msg.push_str(&format!(
                    "\n  {} ({}): {}",
                    e["pointer"].as_str().unwrap_or(""),
                    e["rule"].as_str().unwrap_or(""),
                    e["detail"].as_str().unwrap_or("")
                ));
            }
            bail!(msg);
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.url)))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(self.http.post(format!("{}{path}", self.url)).json(body))
            .await
    }
}

fn line(out: &mut impl Write, r: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{}  {:<16} {:<8} {:<10} {}",
        r["id"].as_str().unwrap_or(""),
        r["status"].as_str().unwrap_or(""),
        r["environment"].as_str().unwrap_or(""),
        r["team"].as_str().unwrap_or(""),
        r["model_name"].as_str().unwrap_or("")
    )
}

fn details(out: &mut impl Write, r: &Value) -> std::io::Result<()> {
    line(out, r)?;
    for key in [
        "source",
        "bedrock_job_arn",
        "imported_model_arn",
        "failure_message",
        "queue_position",
    ] {
        if !r[key].is_null() {
            writeln!(
                out,
                "  {key}: {}",
                r[key]
                    .as_str()
                    .map_or_else(|| r[key].to_string(), str::to_owned)
            )?;
        }
    }
    for c in r["conditions"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {} {} ({}): {}",
            c["type"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["reason"].as_str().unwrap_or(""),
            c["message"].as_str().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Exit code by outcome: 0 completed (or still running without --wait), 1
/// failed, rejected or cancelled, 3 timed out waiting.
pub(crate) async fn run(endpoint: &Endpoint, command: ClientCommand) -> anyhow::Result<u8> {
    let api = Api::new(endpoint)?;
    let mut out = std::io::stdout();
    match command {
        ClientCommand::Submit(args) => {
            let mut body = json!({
                "source": args.source,
                "environment": args.environment,
                "model_name": args.model,
            });
            if let Some(t) = &args.team {
                body["team"] = json!(t);
            }
            if let Some(d) = &args.description {
                body["description"] = json!(d);
            }
            let key = args
                .idempotency_key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let created = api
                .send(
                    api.http
                        .post(format!("{}/v1/imports", api.url))
                        .header("Idempotency-Key", key)
                        .json(&body),
                )
                .await?;
            let id = created["id"].as_str().unwrap_or_default().to_owned();
            writeln!(
                out,
                "submitted {id} ({})",
                created["status"].as_str().unwrap_or("")
            )?;
            if !args.wait {
                return Ok(0);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(args.timeout);
            let mut last = String::new();
            loop {
                let r = api.get(&format!("/v1/imports/{id}")).await?;
                let status = r["status"].as_str().unwrap_or("").to_owned();
                if status != last {
                    let extra = r["queue_position"]
                        .as_u64()
                        .map(|p| format!(" (place {p} in line)"))
                        .unwrap_or_default();
                    writeln!(out, "{status}{extra}")?;
                    last = status.clone();
                }
                match status.as_str() {
                    "completed" => {
                        writeln!(
                            out,
                            "imported as {}",
                            r["imported_model_arn"].as_str().unwrap_or("")
                        )?;
                        return Ok(0);
                    }
                    "failed" | "rejected" | "cancelled" => {
                        details(&mut out, &r)?;
                        return Ok(1);
                    }
                    _ => {}
                }
                if std::time::Instant::now() > deadline {
                    writeln!(
                        out,
                        "still {status} after {} s; stopped waiting",
                        args.timeout
                    )?;
                    return Ok(3);
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        ClientCommand::Status { id } => {
            let r = api.get(&format!("/v1/imports/{id}")).await?;
            details(&mut out, &r)?;
            Ok(match r["status"].as_str() {
                Some("failed" | "rejected" | "cancelled") => 1,
                _ => 0,
            })
        }
        ClientCommand::Approve { id, comment } => {
            let r = api
                .post(
                    &format!("/v1/imports/{id}/approve"),
                    &json!({ "comment": comment }),
                )
                .await?;
            line(&mut out, &r)?;
            Ok(0)
        }
        ClientCommand::Ls {
            status,
            environment,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(s) = status {
                query.push(("status", s));
            }
            if let Some(e) = environment {
                query.push(("environment", e));
            }
            let page = api
                .send(
                    api.http
                        .get(format!("{}/v1/imports", api.url))
                        .query(&query),
                )
                .await?;
            for r in page["items"].as_array().into_iter().flatten() {
                line(&mut out, r)?;
            }
            Ok(0)
        }
    }
}
