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
    // stdout is the protocol channel: logs go to stderr, filtered by RUST_LOG
    // (default `warn`, as the harness's own: the host logs each line at the
    // level it names, so warnings reach its default log).
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::builder()
                .with_default_directive(tracing_subscriber::filter::LevelFilter::WARN.into())
                .from_env_lossy(),
        )
        .with_ansi(false)
        .init();
    let mut factory = connector_workday::WorkdayFactory::new();
    // The harness's test knob, inherited from it: retries still happen and
    // are counted, the back-off does not sleep. Only a build with the
    // `test-knobs` feature (test builds) honours it.
    if connector_workday::test_knobs::no_retry_delay() {
        factory = factory.with_sleeper(std::sync::Arc::new(
            connector_workday::retry::RecordingSleeper::new(),
        ));
    }
    match connector_api::plugin::serve_stdio(factory).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("connector-workday: {e}");
            ExitCode::FAILURE
        }
    }
}
