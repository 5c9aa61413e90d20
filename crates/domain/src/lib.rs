//! Ferry's domain: the types and rules every other crate builds on.
//!
//! Everything here is pure: no HTTP, no SQL, no AWS SDK. Values that cross a
//! trust boundary (request bodies, config files, AWS responses) are parsed into
//! the newtypes of [`aws`], [`bedrock`] and [`names`] at the edge, so the rest of Ferry
//! cannot hold an invalid one.

pub mod artifacts;
pub mod auth;
pub mod aws;
pub mod bedrock;
pub mod catalog;
pub mod chain;
pub mod condition;
pub mod events;
pub mod ids;
pub mod import;
pub mod model_card;
pub mod model_package;
pub mod names;
pub mod net;
pub mod oidc;
pub mod preflight;
pub mod schema;
pub mod serving;
pub mod status;
pub mod trace;
pub mod update;

mod newtype;
mod rule;

pub use rule::{FieldError, RuleError, pointer_token};
