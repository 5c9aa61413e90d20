//! `ferry dev`: a working Ferry on this machine in one command.
//!
//! Postgres comes from `DATABASE_URL`, else the server on 127.0.0.1:5432,
//! else a private throwaway cluster built from the machine's PostgreSQL
//! binaries (removed on exit). Ferry's config, tokens and `.ferry/dev.env`
//! are generated, then the API serves until Ctrl-C.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;
use ferry_domain::auth::Role;

use crate::config::{Config, ConfigSource};

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Port for the API.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Where to write the generated config and `dev.env`.
    #[arg(long, default_value = ".ferry")]
    dir: PathBuf,
}

const LOCAL_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DEV_DB: &str = "ferry_dev";
const EXAMPLE: &str = include_str!("../../../ferry.example.toml");
const SAMPLE_SOURCE: &str = "s3://model-artifacts-111122223333/llama3-8b/v1/";

/// A private cluster, stopped and deleted when dropped.
struct PrivateCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateCluster {
    fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("no PostgreSQL server found: set DATABASE_URL or install postgresql")?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .context("no initdb under /usr/lib/postgresql/*/bin")?;
        let dir = tempfile::Builder::new().prefix("ferry-dev-pg-").tempdir()?;
        let as_root = is_root();
        if as_root {
            run(Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        let port = free_port()?;
        run(pg_command(&bin, "initdb", as_root)
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust"]))?;
        run(pg_command(&bin, "pg_ctl", as_root)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .arg("-w")
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                dir.path().display()
            ))
            .arg("start"))?;
        Ok(Self { bin, dir, port })
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl", is_root())
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// PostgreSQL refuses to run as root: run its tools as `postgres` then.
fn pg_command(bin: &Path, tool: &str, as_root: bool) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) async fn run_dev(args: &DevArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let (_cluster, database_url) = match std::env::var("DATABASE_URL") {
        Ok(url) => (None, url),
        Err(_) if ferry_store::admin::answers(LOCAL_SERVER).await => (
            None,
            ferry_store::admin::ensure_database(LOCAL_SERVER, DEV_DB).await?,
        ),
        Err(_) => {
            writeln!(
                out,
                "no Postgres on 127.0.0.1:5432; starting a private throwaway cluster"
            )?;
            let cluster = PrivateCluster::start()?;
            let url = ferry_store::admin::ensure_database(&cluster.url(), DEV_DB).await?;
            (Some(cluster), url)
        }
    };

    std::fs::create_dir_all(&args.dir)?;
    let config_path = args.dir.join("ferry.toml");
    let config_text = EXAMPLE.replacen(
        "listen = \"127.0.0.1:8080\"",
        &format!("listen = \"127.0.0.1:{}\"", args.port),
        1,
    );
    std::fs::write(&config_path, config_text)?;
    let mut config = Config::load(&ConfigSource {
        path: config_path.clone(),
        explicit: true,
    })?;
    config.database.url = Some(database_url.clone().into());
    crate::telemetry::init(&config.log);

    let pool = ferry_store::connect(&database_url, 4)
        .await
        .context("connecting to the dev database")?;
    ferry_store::migrate(&pool).await?;
    let mut conn = pool.acquire().await?;
    let mut tokens = Vec::new();
    for (role, team, name) in [
        (Role::Researcher, Some("research"), "dev-researcher"),
        (Role::Researcher, Some("vision"), "dev-vision-researcher"),
        (Role::Hosting, None, "dev-hosting"),
        (Role::Admin, None, "dev-admin"),
    ] {
        let t = ferry_api::auth::generate_token();
        ferry_store::tokens::insert(
            &mut conn,
            uuid::Uuid::now_v7(),
            name,
            role,
            team,
            &t.digest,
            None,
        )
        .await?;
        tokens.push(t.secret);
    }
    drop(conn);
    pool.close().await;

    let url = format!("http://127.0.0.1:{}", args.port);
    let config_abs = std::fs::canonicalize(&config_path)?;
    let mut env = String::new();
    writeln!(env, "FERRY_URL={url}")?;
    writeln!(env, "FERRY_TOKEN_RESEARCHER={}", tokens[0])?;
    writeln!(env, "FERRY_TOKEN_VISION={}", tokens[1])?;
    writeln!(env, "FERRY_TOKEN_HOSTING={}", tokens[2])?;
    writeln!(env, "FERRY_TOKEN_ADMIN={}", tokens[3])?;
    writeln!(env, "FERRY_SAMPLE_SOURCE={SAMPLE_SOURCE}")?;
    writeln!(env, "FERRY_CONFIG={}", config_abs.display())?;
    writeln!(env, "DATABASE_URL={database_url}")?;
    let env_path = args.dir.join("dev.env");
    std::fs::write(&env_path, env)?;

    writeln!(
        out,
        "\nFerry is starting at {url}\n\
         config:     {}\n\
         variables:  {} (tokens for a researcher, a hosting user and an admin)\n\n\
         Try it:\n\
         \n  source {}\n\
         \n  curl -s -X POST $FERRY_URL/v1/imports -H \"Authorization: Bearer $FERRY_TOKEN_RESEARCHER\" \\\n\
         \x20   -H 'Content-Type: application/json' -H 'Idempotency-Key: first-try' \\\n\
         \x20   -d '{{\"source\": \"'$FERRY_SAMPLE_SOURCE'\", \"environment\": \"dev\", \"model_name\": \"llama3-8b-dev\"}}'\n\
         \n  curl -s $FERRY_URL/v1/imports -H \"Authorization: Bearer $FERRY_TOKEN_RESEARCHER\"\n\
         \nCtrl-C stops it{}.\n",
        config_abs.display(),
        env_path.display(),
        env_path.display(),
        if _cluster.is_some() {
            " and removes the private Postgres cluster"
        } else {
            ""
        },
    )?;
    crate::serve::run(&config).await
}
