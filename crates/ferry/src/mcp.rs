//! `ferry mcp`: Ferry's MCP server on standard input and output, for an
//! assistant that starts it as a local process.
//!
//! Its tools are those of `/mcp` ([`ferry_api::mcp`]), run against the API
//! at `FERRY_URL` with `FERRY_TOKEN` ([`Backend::remote`]): each tool is a
//! call of the REST API under that token's role, so the assistant's machine
//! needs what `ferry submit` needs and nothing more (no database, no AWS
//! credentials), and every rule is the server's.
//!
//! The protocol's stdio transport is the SDK's own (one JSON-RPC message per
//! line, `transport-async-rw`), over standard input and output opened as
//! tokio pipes rather than through tokio's `io-std` (rmcp's `transport-io`),
//! which would change the tokio build every other crate is compiled against.
//! An MCP client always starts its stdio servers with pipes.

use std::os::fd::AsFd;

use anyhow::Context;
use ferry_api::mcp::{Backend, FerryMcp};
use rmcp::ServiceExt;
use tokio::net::unix::pipe;

use crate::client::Endpoint;

pub(crate) async fn run(endpoint: &Endpoint) -> anyhow::Result<()> {
    // Standard output carries the protocol: logs go to standard error, and only when
    // RUST_LOG asks for them.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let token = endpoint
        .token
        .clone()
        .context("set FERRY_TOKEN (or --token) to an API token")?;
    let backend = Backend::remote(&endpoint.url, token).context("building the HTTP client")?;
    let running = FerryMcp::new(backend)
        .serve(stdio()?)
        .await
        .context("starting the MCP session on standard input and output")?;
    running.waiting().await.context("serving MCP")?;
    Ok(())
}

/// Standard input and output as asynchronous pipes.
fn stdio() -> anyhow::Result<(pipe::Receiver, pipe::Sender)> {
    let not_a_pipe = "ferry mcp speaks MCP over pipes on standard input and output; \
                      start it from an MCP client";
    let input = std::io::stdin().as_fd().try_clone_to_owned()?;
    let output = std::io::stdout().as_fd().try_clone_to_owned()?;
    Ok((
        pipe::Receiver::from_owned_fd(input).context(not_a_pipe)?,
        pipe::Sender::from_owned_fd(output).context(not_a_pipe)?,
    ))
}
