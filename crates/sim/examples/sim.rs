//! Runs the sim standalone (what `ferry sim` does), e.g. for the boto3 walkthrough:
//! `cargo run -p ferry-sim --example sim -- --port 0 --env-file /tmp/sim.env --job-duration 1`

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "ferry-sim",
    about = "Local AWS endpoint for Ferry's cross-account import chain"
)]
struct Cli {
    #[command(flatten)]
    sim: ferry_sim::SimArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    ferry_sim::run(Cli::parse().sim).await
}
