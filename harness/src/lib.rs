//! The idmesh harness: a sync-engine stand-in that drives connectors, embeds
//! a simulated Workday tenant ([`sim`]), and keeps state and run history.
//!
//! - [`engine`]: runs one import into the [`store`], committing changes and
//!   the new watermark in one transaction, with purge detection.
//! - [`store`]: the SQLite mesh store (objects, watermarks, run history).
//! - [`private_file`]: HR data files are created owner-only (0600).
//! - [`secrets`]: resolves `secret://` references from a secrets file or the
//!   environment, and redacts resolved values from every output.
//! - [`cli`]: the `harness` command line (the binary is a thin wrapper).
//! - [`simulated`]: `harness import --simulated`, the embedded demo.
//! - [`mode_choice`]: `harness import`'s default `--mode auto`.
//! - [`metrics`]: `--metrics-out`, Prometheus text for node_exporter.
//! - [`dry_run`]: `harness import --dry-run`, what a run would change.
//! - [`bench`]: `harness bench`, a timed full import from the simulator.

pub mod bench;
pub mod cli;
pub mod dry_run;
pub mod engine;
pub mod logging;
pub mod metrics;
pub mod mode_choice;
pub mod output;
pub mod private_file;
pub mod progress;
mod run_writer;
pub mod secrets;
pub mod sim;
pub mod simulated;
pub mod store;
