//! The dashboard in a real browser: Debian's headless Chromium, driven
//! through chromedriver (WebDriver), against a real Ferry (API and worker, a
//! fresh database per test) and `ferry sim`. Screenshots of each step go to
//! `$FERRY_ARTIFACTS_DIR/<test>/` (default `artifacts/browser/`). Waits poll
//! the page for a condition with a generous deadline; none is a timed
//! assertion.

#![allow(clippy::unwrap_used)]
// Tests say where their screenshots went.
#![allow(clippy::print_stderr)]

mod dashboard;
mod models;
mod sso;
mod submit;
mod support;
