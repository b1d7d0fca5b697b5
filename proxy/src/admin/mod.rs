//! The admin port's endpoints: `/healthz`, `/readyz`, `/metrics` and the config channel
//! (`/config`). The listener serving them is the server's.
//!
//! - [`endpoints`]: the admin router, health and readiness;
//! - [`metrics`]: the counters as Prometheus text;
//! - [`config_channel`]: `GET`/`POST /config`;
//! - [`revocation_channel`]: `GET`/`POST /revocations`.
//!
//! Uses [`crate::pipeline`] (the state), [`crate::upstream`] (the body type), [`crate::shared`]
//! and [`crate::options`].

mod config_channel;
mod endpoints;
mod metrics;
mod revocation_channel;

pub(crate) use config_channel::{AdminOptions, TokenSource};
pub(crate) use endpoints::{Endpoints, handle};
