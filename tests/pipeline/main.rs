//! The import pipeline end to end: a real Postgres (fresh database per test),
//! the real AWS SDK against `ferry sim`, and the worker's real step function
//! and loop. Waits are bounded polls of the database, never timed assertions.

#![allow(clippy::unwrap_used)]

mod support;

mod bedrock_answers;
mod flow;
mod inventory;
mod registry;
mod replicas;
mod reuse;
mod scheduling;
mod serving;
