//! Ferry's composition root: configuration, logging, and the subcommands that
//! wire the library crates together.

pub mod cli;
mod client;
pub mod config;
pub mod dev;
mod doctor;
mod exporter;
mod mcp;
mod pipeline;
pub mod policy;
mod serve;
mod telemetry;
