//! Command-line interface.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use ferry_domain::auth::Role;
use ferry_domain::names::TeamName;

use crate::config::{Config, ConfigSource};

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Moves trained models across accounts into Amazon Bedrock"
)]
struct Cli {
    /// Configuration file (TOML). Defaults to `ferry.toml` when it exists.
    #[arg(long, global = true, env = "FERRY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// For the client commands (submit, status, approve, ls) and `mcp`.
    #[command(flatten)]
    endpoint: crate::client::Endpoint,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and, unless `worker.enabled = false`, the worker (applies migrations first).
    Serve,
    /// Run the worker alone: preflight, submission and tracking.
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document, or check the committed one.
    Openapi(OpenapiArgs),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Validate the configuration and print a summary (secrets redacted).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a complete local Ferry: Postgres, generated config and tokens, the API.
    Dev(crate::dev::DevArgs),
    /// Run the local AWS endpoint (S3, STS, IAM, KMS, Bedrock import) alone.
    Sim(ferry_sim::SimArgs),
    /// Walk an environment's cross-account chain live and name any broken step.
    Doctor(crate::doctor::DoctorArgs),
    /// Render the IAM/KMS documents of the import chain, or check existing ones.
    #[command(subcommand)]
    Policy(crate::policy::PolicyCommand),
    /// Serve the Model Context Protocol on standard input and output: Ferry's
    /// tools for an assistant, each a call of the API at --url (FERRY_URL) with
    /// --token (FERRY_TOKEN), under that token's role.
    Mcp,
    #[command(flatten)]
    Client(crate::client::ClientCommand),
}

#[derive(Debug, Args)]
struct OpenapiArgs {
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit non-zero when FILE differs from what the code generates.
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    check: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it once. Only its hash is stored.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
struct TokenCreateArgs {
    /// researcher | hosting | viewer | admin
    #[arg(long, value_parser = |s: &str| s.parse::<Role>().map_err(|e| e.to_string()))]
    role: Role,
    /// The team (required for researchers).
    #[arg(long)]
    team: Option<String>,
    /// Who or what holds the token; recorded in the audit trail.
    #[arg(long)]
    name: String,
    /// Expire after this many days (default: never).
    #[arg(long, value_name = "DAYS")]
    expires_in_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Load and validate the configuration.
    Check,
}

fn config_source(cli: &Cli) -> ConfigSource {
    match &cli.config {
        Some(path) => ConfigSource {
            path: path.clone(),
            explicit: true,
        },
        None => ConfigSource {
            path: PathBuf::from("ferry.toml"),
            explicit: false,
        },
    }
}

/// The OpenAPI document as committed: pretty JSON with a final newline.
pub fn openapi_json() -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(&ferry_api::openapi())?;
    s.push('\n');
    Ok(s)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Openapi(args) => {
            let doc = openapi_json()?;
            if let Some(path) = &args.check {
                let committed = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if committed != doc {
                    bail!(
                        "{} is out of date with the code; regenerate it with `cargo run -- openapi --out {}`",
                        path.display(),
                        path.display()
                    );
                }
                writeln!(out, "{} is up to date", path.display())?;
            } else if let Some(path) = &args.out {
                std::fs::write(path, doc).with_context(|| format!("writing {}", path.display()))?;
            } else {
                out.write_all(doc.as_bytes())?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Dev(args) => {
            runtime()?.block_on(crate::dev::run_dev(args))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Mcp => {
            runtime()?.block_on(crate::mcp::run(&cli.endpoint))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Client(command) => {
            let code = runtime()?.block_on(crate::client::run(&cli.endpoint, command.clone()))?;
            return Ok(ExitCode::from(code));
        }
        Command::Sim(args) => {
            let _logs = crate::telemetry::init(&crate::config::LogConfig::default(), None);
            runtime()?.block_on(ferry_sim::run(args.clone()))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Policy(command) => {
            let config = Config::load(&config_source(&cli))?;
            return crate::policy::run(&config, command, &mut out);
        }
        Command::Serve
        | Command::Worker
        | Command::Doctor(_)
        | Command::Migrate
        | Command::Token(_)
        | Command::Config(_) => {}
    }

    let config = Config::load(&config_source(&cli))?;
    let otlp = config.telemetry.otlp.export(|k| std::env::var(k).ok())?;
    let telemetry = crate::telemetry::init(&config.log, otlp.as_ref());
    let result = run_configured(cli.command, &config, &mut out);
    // After the runtime is gone: the exporter's client blocks while it flushes.
    telemetry.shutdown();
    result
}

/// The commands that load the configuration and log through it.
fn run_configured(
    command: Command,
    config: &Config,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Openapi(_)
        | Command::Dev(_)
        | Command::Sim(_)
        | Command::Client(_)
        | Command::Mcp
        | Command::Policy(_) => {
            unreachable!("handled above")
        }
        Command::Config(ConfigCommand::Check) => {
            let catalog = config.catalog()?;
            let oidc = config.oidc_settings(&catalog)?;
            writeln!(out, "configuration is valid")?;
            for env in catalog.environments() {
                writeln!(
                    out,
                    "  environment {}: account {} in {}, approval {}",
                    env.name,
                    env.account,
                    env.region,
                    if env.requires_approval {
                        "required"
                    } else {
                        "not required"
                    }
                )?;
            }
            for team in catalog.teams() {
                let sources: Vec<String> = team.sources.iter().map(|s| s.describe()).collect();
                writeln!(out, "  team {}: {}", team.name, sources.join(", "))?;
            }
            if let Some(oidc) = oidc {
                writeln!(
                    out,
                    "  oidc: issuer {}, audience {}, keys from {}",
                    oidc.issuer,
                    oidc.audiences.join(", "),
                    oidc.jwks
                )?;
                if let Some(d) = &oidc.dashboard {
                    writeln!(
                        out,
                        "  dashboard sign-in: client {}, scopes {}, redirect path {}",
                        d.client_id,
                        d.scopes.join(" "),
                        d.redirect_path
                    )?;
                }
            }
            writeln!(
                out,
                "  database: {}",
                if config.database.url.is_some() {
                    "set (hidden)"
                } else {
                    "NOT SET"
                }
            )?;
        }
        Command::Doctor(args) => {
            return runtime()?.block_on(crate::doctor::run(config, &args));
        }
        Command::Serve => {
            let roles = crate::serve::Roles {
                api: true,
                worker: config.worker.enabled,
            };
            runtime()?.block_on(crate::serve::run(config, roles))?;
        }
        Command::Worker => {
            let roles = crate::serve::Roles {
                api: false,
                worker: true,
            };
            runtime()?.block_on(crate::serve::run(config, roles))?;
        }
        Command::Migrate => runtime()?.block_on(async {
            let pool = ferry_store::connect(config.database_url()?, 2)
                .await
                .context("connecting to the database")?;
            ferry_store::migrate(&pool)
                .await
                .context("applying migrations")?;
            tracing::info!("migrations applied");
            anyhow::Ok(())
        })?,
        Command::Token(TokenCommand::Create(args)) => {
            let token = runtime()?.block_on(create_token(config, &args))?;
            writeln!(out, "{token}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create_token(config: &Config, args: &TokenCreateArgs) -> anyhow::Result<String> {
    let catalog = config.catalog()?;
    let team = args
        .team
        .as_deref()
        .map(TeamName::parse)
        .transpose()
        .context("--team")?;
    if let Some(team) = &team
        && catalog.team(team).is_none()
    {
        bail!("--team {team} is not declared under [teams] in the configuration");
    }
    if args.role == Role::Researcher && team.is_none() {
        bail!("--team is required for researcher tokens");
    }
    let name = args.name.trim();
    ferry_domain::RuleError::check_len(name, "--name", 1, 128)?;
    if name.chars().any(char::is_control) {
        bail!("--name must not contain control characters");
    }
    let pool = ferry_store::connect(config.database_url()?, 2)
        .await
        .context("connecting to the database")?;
    ferry_store::migrate(&pool)
        .await
        .context("applying migrations")?;
    let new = ferry_api::auth::generate_token();
    let expires_at = args
        .expires_in_days
        .map(|d| time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d)));
    let id = uuid::Uuid::now_v7();
    let mut conn = pool.acquire().await?;
    ferry_store::tokens::insert(
        &mut conn,
        id,
        name,
        args.role,
        team.as_ref().map(TeamName::as_str),
        &new.digest,
        expires_at,
    )
    .await?;
    tracing::info!(token_id = %id, role = %args.role, "token created");
    Ok(new.secret)
}
