//! One module per resource; each exports its `router()`.

pub(crate) mod environments;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod imports;
pub(crate) mod me;
pub(crate) mod models;
pub(crate) mod params;
pub(crate) mod webhooks;
