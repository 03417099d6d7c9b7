//! The `harness` binary: parse, set up logging and a runtime, run, and turn
//! a failure into one line on stderr and an exit code. See `harness --help`
//! and docs/harness.md.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use harness::cli::{self, exit, Cli};
use harness::logging;
use harness::logging::LogFormat;
use harness::output;
use harness::secrets::Redactor;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors
            // print to stderr (one JSON line with --log-format json) and exit 2.
            if !e.use_stderr() {
                let _ = e.print();
                return ExitCode::from(exit::SUCCESS);
            }
            if cli::log_format_hint(std::env::args_os()) == LogFormat::Json {
                output::set_stderr_format(LogFormat::Json);
                let text = e.render().to_string();
                let text = text.trim_end();
                output::error_line(text.strip_prefix("error: ").unwrap_or(text));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(exit::USAGE);
        }
    };
    output::set_stderr_format(cli.log_format);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error_line(&e.message);
            ExitCode::from(e.code)
        }
    }
}

fn run(cli: Cli) -> Result<(), cli::CliError> {
    let redactor = Redactor::new();
    logging::init(cli.log_format, redactor.clone())
        .map_err(|e| cli::CliError::new(exit::USAGE, e.to_string()))?;
    // One thread unless a simulated tenant shares the process (see
    // `Cli::serves_a_simulated_tenant`).
    let mut builder = if cli.serves_a_simulated_tenant() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|e| cli::CliError::new(exit::FAILURE, format!("{e:#}")))?;
    runtime.block_on(cli::run(cli, redactor))
}
