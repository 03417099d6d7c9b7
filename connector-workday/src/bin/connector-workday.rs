//! The Workday connector as an out-of-process plugin: serves the
//! identity-mesh plugin protocol (`docs/plugin-protocol.md`) on stdin and
//! stdout, so any sync engine can load it. stdout carries protocol messages
//! only; diagnostics go to stderr.
//!
//! ```text
//! harness import --plugin target/release/connector-workday ...
//! ```

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--version") {
        // For humans; on stderr like every other diagnostic.
        eprintln!(
            "connector-workday {} (plugin protocol version {})",
            env!("CARGO_PKG_VERSION"),
            connector_api::plugin::PROTOCOL_VERSION
        );
        return ExitCode::SUCCESS;
    }
    // stdout is the protocol channel: logs go to stderr, filtered by RUST_LOG.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .init();
    match connector_api::plugin::serve_stdio(connector_workday::WorkdayFactory::new()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connector-workday: {e}");
            ExitCode::FAILURE
        }
    }
}
