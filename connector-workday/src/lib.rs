//! The Workday HCM connector: imports workers (as `User`) and supervisory
//! organizations (as `OrgUnit`) from a Workday tenant's REST API or (with
//! `Api: "Soap"`) its SOAP Human_Resources web service (`soap`), full or
//! delta, implementing the [`connector_api`] contract. Both sources yield
//! the same records to the one [`mapping`].
//!
//! - [`WorkdayFactory`] validates `configJson` ([`config`]) and the auth
//!   material (a `secret://` reference) into a [`WorkdayConnector`].
//! - Requests go only to `https://*.workday.com` / `*.myworkday.com` (or a
//!   loopback address, for the simulator) ([`endpoint`]), through a
//!   client-side rate limiter ([`ratelimit`]), with a cached OAuth2 token
//!   ([`token`]) and Retry-After-aware retries ([`retry`]).
//! - Records become changes by the spec's tables ([`mapping`], [`schema`]);
//!   deltas start from a per-feed watermark ([`watermark`]).
//!
//! The operator runbook is `docs/connector-workday.md`.

pub mod config;
pub mod connector;
pub mod endpoint;
pub mod error;
pub mod mapping;
pub mod ratelimit;
pub mod record;
pub mod retry;
pub mod schema;
pub mod test_knobs;
pub mod watermark;

mod client;
mod coverage;
mod health;
mod paging;
mod run;
mod seen;
mod soap;
mod token;

pub use client::{PageResponse, Records, ServerDate, MAX_RESPONSE_BYTES, USER_AGENT};
pub use connector::{WorkdayConnector, WorkdayFactory};
pub use health::{PERMISSION_HINT, SERVER_HINT};
#[doc(hidden)]
pub use soap::bench as soap_bench;
