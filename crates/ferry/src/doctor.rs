//! `ferry doctor`: walk an environment's cross-account chain live, with the
//! rights Bedrock will have, and say for each step whether it holds, and if
//! not, the evidence (AWS's error) and the statement to add.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use ferry_domain::bedrock::S3Uri;
use ferry_domain::preflight::Outcome;

use crate::config::Config;

#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The environment to diagnose.
    #[arg(long = "env", value_name = "NAME")]
    env: String,
    /// A model folder to read (default: the first source its teams may use).
    #[arg(long, value_name = "S3_URI")]
    source: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(config: &Config, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let catalog = config.catalog()?;
    let env = catalog
        .environment(&args.env)
        .with_context(|| format!("unknown environment {:?}", args.env))?
        .clone();
    let teams: Vec<_> = catalog.teams().filter(|t| env.admits(&t.name)).collect();
    let source = match &args.source {
        Some(s) => S3Uri::parse(s).with_context(|| format!("--source {s}"))?,
        None => {
            let first = teams
                .iter()
                .flat_map(|t| t.sources.iter())
                .next()
                .context("no team of this environment has a source: pass --source")?;
            S3Uri::parse(&first.describe())?
        }
    };
    let source_key = teams
        .iter()
        .find_map(|t| catalog.source_for(&t.name, &source).ok())
        .and_then(|s| s.kms_key.clone());
    let targets = crate::pipeline::env_targets(config, &catalog)
        .into_iter()
        .filter(|t| t.name == env.name)
        .collect();
    let cloud = ferry_cloud::Cloud::new(crate::pipeline::cloud_options(config), targets)
        .await
        .context("building the AWS clients")?;
    let report = cloud
        .preflight(&env.name, &source, source_key.as_ref())
        .await;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "environment {} (account {}, {}), source {source}, checked as {}",
            env.name, env.account, env.region, report.checked_as
        )?;
        for c in &report.checks {
            let tag = match c.outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::Warning => "warn",
                Outcome::Skipped => "skip",
            };
            writeln!(out, "{tag} {}: {}", c.name, c.detail)?;
            if let Some(step) = c.chain_step {
                writeln!(out, "       broken: {}", step.human_name())?;
            }
            if let Some(e) = &c.evidence {
                writeln!(out, "       evidence: {e}")?;
            }
            if let Some(f) = &c.fix {
                writeln!(out, "       fix: {f}")?;
            }
        }
        writeln!(
            out,
            "{}",
            if report.passed() {
                "the chain holds: an import from this source should succeed"
            } else {
                "the chain is broken: fix the steps marked FAIL"
            }
        )?;
    }
    if report.passed() {
        Ok(ExitCode::SUCCESS)
    } else if report.failed_transiently() {
        bail!("AWS did not answer reliably (throttling, 5xx or timeouts); run it again")
    } else {
        Ok(ExitCode::FAILURE)
    }
}
