//! The `harness` command line: argument definitions ([`Cli`]) and the
//! commands behind them ([`run`]). The binary only parses, sets up logging
//! and a runtime, and turns a [`CliError`] into one line and an exit code.
//!
//! Exit codes ([`exit`]): 0 success; 1 a failure a person must fix; 2 bad
//! usage, configuration, secret or watermark; 3 the run finished with
//! per-record errors; 75 a retryable failure (retry later); 130 cancelled
//! with Ctrl-C (SIGINT); 143 cancelled with SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use connector_api::plugin::{PluginCommand, PluginFactory, PluginOptions};
use connector_api::{
    CancellationToken, Connector, ConnectorError, ConnectorFactory, ErrorKind, ImportMode,
    RunContext, SecretRef, SecretResolver,
};
use connector_workday::retry::RecordingSleeper;
use connector_workday::WorkdayFactory;

use crate::bench::BenchArgs;
use crate::engine::{
    instance_key, Engine, EngineError, RunObserver, RunOptions, RunOutcome, RunReport,
};
use crate::logging::LogFormat;
use crate::mode_choice;
use crate::output;
use crate::progress::Progress;
use crate::secrets::{HarnessSecrets, Redactor};
use crate::sim::{SimulateArgs, Simulator};
use crate::simulated;
use crate::store::{Store, StoreError};

/// The process exit codes, a contract for scripts.
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// Any failure not listed below, one a person must fix (authentication,
    /// permission, bad response, store locked or failing, deletion threshold
    /// refused, failed checks).
    pub const FAILURE: u8 = 1;
    /// Bad usage, configuration, secret or watermark: fix the input and retry.
    pub const USAGE: u8 = 2;
    /// The run finished but some records failed: good records applied,
    /// watermark not advanced.
    pub const RECORD_ERRORS: u8 = 3;
    /// The run failed on a cause worth retrying later unchanged (rate limit,
    /// 5xx, network, timeout): `EX_TEMPFAIL` of sysexits.h. Nothing committed.
    pub const TEMPFAIL: u8 = 75;
    /// Cancelled with Ctrl-C (128 + SIGINT): nothing committed.
    pub const INTERRUPTED: u8 = 130;
    /// Cancelled with SIGTERM (128 + 15; how systemd and Kubernetes stop a
    /// process): nothing committed.
    pub const TERMINATED: u8 = 143;
}

/// The environment variable that, set to `1`, makes the Workday connector
/// skip its retry back-off delays (a test knob; retries still happen). Only a
/// build with the `test-knobs` feature (test builds) honours it.
pub use connector_workday::test_knobs::NO_RETRY_DELAY_ENV;

/// The exit-code table `--help` ends with (also in docs/harness.md).
const EXIT_CODES_HELP: &str = "\
Exit codes (for scripts and schedulers):
    0    success
    1    failure a person must fix: authentication, permission, bad response,
         deletion threshold refused, state store locked or failing, failed checks
    2    bad usage, configuration, secret or watermark: fix the input
    3    finished with record errors: good records committed, watermark kept
   75    temporary failure (EX_TEMPFAIL): rate limit, 5xx, network, timeout;
         nothing committed; retry later unchanged
  130    cancelled with Ctrl-C; nothing committed
  143    cancelled with SIGTERM; nothing committed

Logs go to stderr; filter them with RUST_LOG (default: warn). See docs/harness.md.";

const SIM_HEADING: &str = "Simulated tenant (with --simulated)";

/// The default simulated tenant size: workers.
pub const DEFAULT_SIM_WORKERS: usize = 10_000;

/// The default simulated tenant size: supervisory organizations.
pub const DEFAULT_SIM_ORGS: usize = 500;

/// The default state store file.
pub const DEFAULT_STATE: &str = "idmesh-state.db";

/// Run identity-mesh connectors: full and delta imports into a local mesh
/// store, with safe watermarks and run history.
#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Run identity-mesh connectors: full and delta imports into a local mesh store",
    long_about = "Run identity-mesh connectors: full and delta imports into a local mesh store \
                  (SQLite), committing each run's changes and watermark in one transaction, \
                  with run history.\n\nTry it with no setup at all:\n  \
                  harness import --simulated\n  harness import --simulated --churn 100",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Log line format (logs go to stderr, filtered by RUST_LOG).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "IDMESH_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Whether the command serves the embedded simulated tenant in this
    /// process (`simulate`, `bench`, `--simulated`).
    ///
    /// Those run on a multi-threaded runtime, so that the tenant and the
    /// import each have a core. Every other command runs on one thread (and
    /// an import's store writer on its own): an import's concurrency is in
    /// its requests in flight, which one thread serves, and its CPU splits
    /// between that thread and the writer without wake-ups between runtime
    /// workers (about 5 % less CPU a record; docs/benchmarks.md).
    pub fn serves_a_simulated_tenant(&self) -> bool {
        match &self.command {
            Command::Simulate(_) | Command::Bench(_) => true,
            Command::Import(args) => args.connector.simulated,
            Command::Check(args) => args.connector.simulated,
            Command::Schema(_)
            | Command::Watermark(_)
            | Command::Runs(_)
            | Command::Completions(_) => false,
        }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a full or delta import into the state store.
    #[command(after_help = EXIT_CODES_HELP)]
    Import(ImportArgs),
    /// Run the connector's health checks against the source.
    Check(CheckArgs),
    /// Show the object types and attributes the connector emits.
    Schema(SchemaArgs),
    /// Print the committed watermark (nothing if there is none).
    Watermark(WatermarkArgs),
    /// Show the run history, newest first.
    Runs(RunsArgs),
    /// Serve a simulated Workday tenant on 127.0.0.1 until Ctrl-C.
    Simulate(SimulateArgs),
    /// Benchmark a full import from the embedded simulator into a fresh,
    /// temporary store: time, requests, records per second, peak memory.
    Bench(BenchArgs),
    /// Print a shell completion script, e.g.
    /// `harness completions bash > ~/.local/share/bash-completion/completions/harness`.
    Completions(CompletionsArgs),
}

/// Arguments of `harness completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Full or delta, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Read every object; a complete full run purges objects it did not see.
    Full,
    /// Read what changed since the committed watermark.
    Delta,
    /// Delta when the instance has a committed watermark, full otherwise
    /// (with --simulated: delta with --churn, full otherwise).
    Auto,
}

impl ModeArg {
    /// The mode itself, or `None` for `auto`.
    pub fn fixed(self) -> Option<ImportMode> {
        match self {
            ModeArg::Full => Some(ImportMode::Full),
            ModeArg::Delta => Some(ImportMode::Delta),
            ModeArg::Auto => None,
        }
    }
}

/// Which connector runs: the built-in Workday connector in process (the
/// default), or a plugin executable over the plugin protocol.
#[derive(Debug, Clone, Default, Args)]
pub struct PluginArgs {
    /// Run the connector out of process: start the plugin executable PATH
    /// and drive it over the plugin protocol (docs/plugin-protocol.md), e.g.
    /// target/release/connector-workday [default: the built-in Workday
    /// connector, in process].
    #[arg(long, value_name = "PATH")]
    pub plugin: Option<PathBuf>,

    /// An argument for the plugin executable (repeat for several).
    #[arg(
        long = "plugin-arg",
        value_name = "ARG",
        requires = "plugin",
        allow_hyphen_values = true
    )]
    pub plugin_args: Vec<String>,
}

/// Where the connector's configuration and secrets come from.
#[derive(Debug, Clone, Args)]
pub struct ConnectorArgs {
    /// The connector: in process, or a plugin.
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The connector's configJson file.
    #[arg(long, value_name = "FILE", required_unless_present = "simulated")]
    pub config: Option<PathBuf>,

    /// A JSON file mapping secret references to values (must be owned by
    /// the current user and not group- or world-readable). Otherwise
    /// secrets come from IDMESH_SECRET_{PATH} environment variables.
    #[arg(long, value_name = "FILE", conflicts_with = "simulated")]
    pub secrets_file: Option<PathBuf>,

    /// The secret reference of the client secret
    /// [default: secret://workday/{TenantName}/clientsecret].
    // Hyphen values are taken as the value (and refused without echo) rather
    // than echoed by clap as an unexpected argument: it may be a secret.
    #[arg(
        long,
        value_name = "REF",
        conflicts_with = "simulated",
        allow_hyphen_values = true
    )]
    pub auth_material: Option<String>,

    /// Use the embedded simulated Workday tenant instead of --config (no
    /// configuration or secrets needed).
    #[arg(long, conflicts_with = "config")]
    pub simulated: bool,

    /// With --simulated: read the REST collections (rest, the default) or
    /// the SOAP Human_Resources service with the ISU's UsernameToken (soap).
    #[arg(long, value_enum, value_name = "API")]
    pub api: Option<simulated::SimApi>,
}

/// Arguments of `harness import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Where the connector and its secrets come from.
    #[command(flatten)]
    pub connector: ConnectorArgs,

    /// Full, delta or auto [default: auto: delta when the instance has a
    /// committed watermark, full otherwise; with --simulated: delta with
    /// --churn, full otherwise].
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,

    /// The mesh state store (SQLite).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE, env = "IDMESH_STATE")]
    pub state: PathBuf,

    /// Also write every change the connector emitted to FILE, one JSON
    /// object per line, in emission order.
    #[arg(long, value_name = "FILE")]
    pub changes_out: Option<PathBuf>,

    /// Refuse (commit nothing) when the run would delete more than P percent
    /// of the live objects of any type that existed before it, by Delete
    /// changes or by the purge of a complete full run
    /// (alias: --max-purge-percent).
    #[arg(
        long,
        value_name = "P",
        alias = "max-purge-percent",
        default_value_t = crate::engine::DEFAULT_MAX_DELETE_PERCENT,
        value_parser = parse_percent
    )]
    pub max_delete_percent: f64,

    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,

    /// Run the import and compare each change with the store: report what
    /// would be created, updated (which attributes), deleted and purged per
    /// object type, with examples. Commits nothing, advances no watermark;
    /// recorded in the run history as DryRun.
    #[arg(long)]
    pub dry_run: bool,

    /// Also write the run's figures to FILE in the Prometheus text format
    /// (for node_exporter's textfile collector), atomically; mode 0644, no
    /// secrets, no HR data.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,

    /// The connector instance key the watermark and objects are stored under
    /// [default: {connector}:{TenantName}, e.g. workday:acme].
    #[arg(long, value_name = "KEY")]
    pub instance: Option<String>,

    /// Simulated tenant: number of workers [default: 10000].
    #[arg(long, value_name = "N", help_heading = SIM_HEADING)]
    pub workers: Option<usize>,

    /// Simulated tenant: number of supervisory organizations [default: 500].
    #[arg(long, value_name = "M", help_heading = SIM_HEADING)]
    pub orgs: Option<usize>,

    /// Apply K random mutations (updates, hires, terminations, purges,
    /// moves) before the run; --mode auto (the default) then means delta.
    #[arg(long, value_name = "K", help_heading = SIM_HEADING)]
    pub churn: Option<usize>,

    /// Simulated tenant: generation seed; same seed, same tenant [default: 42].
    #[arg(long, value_name = "S", help_heading = SIM_HEADING)]
    pub seed: Option<u64>,

    /// Simulated tenant: seed of the --churn mutations [default: 1].
    #[arg(long, value_name = "S", requires = "churn", help_heading = SIM_HEADING)]
    pub churn_seed: Option<u64>,
}

/// Arguments of `harness check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Where the connector and its secrets come from.
    #[command(flatten)]
    pub connector: ConnectorArgs,

    /// Print the checks as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `harness schema`.
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// The connector: in process, or a plugin.
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// Print the schema as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `harness watermark`.
#[derive(Debug, Clone, Args)]
pub struct WatermarkArgs {
    /// The mesh state store (SQLite).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE, env = "IDMESH_STATE")]
    pub state: PathBuf,

    /// The connector instance (needed only when the store holds several).
    #[arg(long, value_name = "KEY")]
    pub instance: Option<String>,
}

/// Arguments of `harness runs`.
#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    /// The mesh state store (SQLite).
    #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE, env = "IDMESH_STATE")]
    pub state: PathBuf,

    /// Print the runs as a JSON array.
    #[arg(long)]
    pub json: bool,

    /// Show at most N runs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Only runs of this connector instance.
    #[arg(long, value_name = "KEY")]
    pub instance: Option<String>,

    /// Print one run whole: its counts, metrics, watermarks, error, every
    /// warning and every record error.
    #[arg(long, value_name = "ID", conflicts_with_all = ["limit", "instance"])]
    pub show: Option<i64>,
}

/// The `--log-format` a command line asks for, read before (or without)
/// parsing it: `--log-format json`, `--log-format=json`, or else the
/// `IDMESH_LOG_FORMAT` environment variable. The binary uses it to print a
/// usage error as JSON.
pub fn log_format_hint<I: IntoIterator<Item = std::ffi::OsString>>(args: I) -> LogFormat {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut given = None;
    for (i, a) in args.iter().enumerate() {
        let a = a.to_string_lossy();
        if let Some(v) = a.strip_prefix("--log-format=") {
            given = Some(v.to_string());
        } else if a == "--log-format" {
            given = args.get(i + 1).map(|v| v.to_string_lossy().into_owned());
        } else if a == "--" {
            break;
        }
    }
    let value = given.or_else(|| std::env::var("IDMESH_LOG_FORMAT").ok());
    match value.as_deref() {
        Some(v) if v.eq_ignore_ascii_case("json") => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not between 0 and 100"))
    }
}

/// A failure the binary reports as one line on stderr and an exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The process exit code (see [`exit`]).
    pub code: u8,
    /// What failed and what to do, on one line.
    pub message: String,
}

impl CliError {
    /// A failure with exit code `code`.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, message)
    }

    fn failure(message: impl Into<String>) -> Self {
        Self::new(exit::FAILURE, message)
    }
}

/// The exit code for a connector error of `kind`.
pub fn exit_code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Configuration | ErrorKind::Secret | ErrorKind::Watermark => exit::USAGE,
        ErrorKind::Cancelled => exit::INTERRUPTED,
        _ => exit::FAILURE,
    }
}

/// The exit code for a connector error: [`exit::TEMPFAIL`] when it is
/// retryable ([`ConnectorError::is_retryable`]), otherwise by its kind.
pub fn exit_code_for_error(e: &ConnectorError) -> u8 {
    exit_code_for_failure(e.kind(), e.is_retryable())
}

/// The exit code for a failure of `kind`: [`exit::TEMPFAIL`] when
/// `retryable` (and not a cancellation), otherwise [`exit_code_for`].
pub fn exit_code_for_failure(kind: ErrorKind, retryable: bool) -> u8 {
    if retryable && kind != ErrorKind::Cancelled {
        exit::TEMPFAIL
    } else {
        exit_code_for(kind)
    }
}

/// The exit code for a finished run.
pub fn exit_code_for_report(report: &RunReport) -> u8 {
    match &report.outcome {
        RunOutcome::Succeeded => exit::SUCCESS,
        RunOutcome::SucceededWithRecordErrors => exit::RECORD_ERRORS,
        RunOutcome::Failed {
            kind, retryable, ..
        } => exit_code_for_failure(*kind, *retryable),
        RunOutcome::Cancelled => exit::INTERRUPTED,
        RunOutcome::PurgeRefused { .. } => exit::FAILURE,
        RunOutcome::DryRun => exit::SUCCESS,
    }
}

/// What to do about a failure of `kind`.
fn advice(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Configuration => "fix the configuration file and try again",
        ErrorKind::Secret => {
            "provide the secret under its reference in the --secrets-file, or in the IDMESH_SECRET_* environment variable the reference names (docs/harness.md, Secrets)"
        }
        ErrorKind::Authentication => {
            "check ClientId and the client secret, and that the API client is active in Workday"
        }
        ErrorKind::Permission => {
            "grant the integration system user's security group access to the domains listed in the connector docs"
        }
        ErrorKind::RateLimit => {
            "wait and run again, or lower MaxRequestsPerHour / ask Workday to raise the tenant's limit"
        }
        ErrorKind::Server | ErrorKind::Transport => {
            "the source or the network failed; run the import again later"
        }
        ErrorKind::BadResponse => {
            "the source answered with something unexpected; run again with RUST_LOG=debug and report it"
        }
        ErrorKind::BadRecord => "fix the record in the source and run again",
        ErrorKind::Watermark => {
            "the committed watermark is unusable; run `harness import --mode full` to start over"
        }
        ErrorKind::Cancelled => "run the import again when ready",
        ErrorKind::Sink => "check the state store's disk space and permissions, then run again",
        // A kind from a newer plugin (ErrorKind::Unknown) or a newer connector-api.
        _ => "the connector reported an error kind this harness does not know; act on the message, and update the harness",
    }
}

/// The error line for a finished run that did not fully succeed.
fn report_error(report: &RunReport, max_delete_percent: f64) -> Option<CliError> {
    let code = exit_code_for_report(report);
    let message = match &report.outcome {
        RunOutcome::Succeeded | RunOutcome::DryRun => return None,
        RunOutcome::SucceededWithRecordErrors => format!(
            "{} record(s) could not be imported; the other changes were applied but the watermark \
             was not advanced, so the next run reads them again; fix the records in the source",
            report.record_errors.len()
        ),
        RunOutcome::Failed { kind, message, .. } => format!(
            "the {} import failed ({kind}): {message}; nothing was committed and the watermark is \
             unchanged; {}",
            report.mode.to_string().to_lowercase(),
            advice(*kind)
        ),
        RunOutcome::Cancelled => {
            "the import was cancelled; nothing was committed and the watermark is unchanged".into()
        }
        RunOutcome::PurgeRefused { refusals } => format!(
            "refusing to delete {}: more than --max-delete-percent {max_delete_percent} of the \
             objects that existed before the run; nothing was committed; if the source really \
             deleted these objects, run again with a higher --max-delete-percent, otherwise check \
             that the source returned complete data",
            refusals
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    Some(CliError::new(code, message))
}

/// Like [`write_err`], but a closed stdout is simply ignored (the run's own
/// exit code still applies).
fn ignore_broken_pipe(e: std::io::Error) -> Result<(), CliError> {
    match write_err(e) {
        e if e.code == exit::SUCCESS => Ok(()),
        e => Err(e),
    }
}

/// A closed stdout (`harness runs | head -1`) ends the command quietly and
/// successfully, like other well-behaved command-line tools.
fn write_err(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::new(exit::SUCCESS, String::new())
    } else {
        CliError::failure(format!("cannot write to stdout: {e}"))
    }
}

fn store_err(e: StoreError) -> CliError {
    CliError::failure(e.to_string())
}

fn validate_err(e: &ConnectorError, config: Option<&Path>) -> CliError {
    let code = exit_code_for_error(e);
    let what = match (e.kind(), config) {
        (ErrorKind::Configuration, Some(path)) => format!(
            "the configuration {} is invalid: {}",
            path.display(),
            e.message()
        ),
        _ => format!("{}: {}", e.kind(), e.message()),
    };
    CliError::new(code, format!("{what}; {}", advice(e.kind())))
}

/// The connector factory the CLI drives — the one place it is chosen: the
/// built-in Workday connector in process, or with `--plugin PATH` the plugin
/// executable, started and driven over the plugin protocol
/// ([`PluginFactory::spawn`]).
///
/// # Errors
/// [`CliError`] when the plugin cannot be started or fails its handshake
/// (exit 2 for a missing executable or a protocol version mismatch).
pub async fn connector_factory(plugin: &PluginArgs) -> Result<Arc<dyn ConnectorFactory>, CliError> {
    if let Some(path) = &plugin.plugin {
        let mut command = PluginCommand::new(path).args(&plugin.plugin_args);
        // Plugins start with an allowlisted environment: the test knob reaches
        // one only when named, and only from a build that honours it.
        if connector_workday::test_knobs::no_retry_delay() {
            command = command.env(NO_RETRY_DELAY_ENV, "1");
        }
        let factory = PluginFactory::spawn_command(command, PluginOptions::default())
            .await
            .map_err(|e| {
                CliError::new(
                    exit_code_for(e.kind()),
                    format!(
                        "cannot load the plugin {}: {}; check --plugin (an executable speaking \
                         the plugin protocol, see docs/plugin-protocol.md)",
                        path.display(),
                        e.message()
                    ),
                )
            })?;
        return Ok(Arc::new(factory));
    }
    let mut factory = WorkdayFactory::new();
    if connector_workday::test_knobs::no_retry_delay() {
        factory = factory.with_sleeper(Arc::new(RecordingSleeper::new()));
    }
    Ok(Arc::new(factory))
}

/// A validated connector plus what the run needs to know about it.
struct Loaded {
    connector: Box<dyn Connector>,
    connector_name: String,
    default_instance: String,
    /// Kept alive for the run (`--simulated`).
    sim: Option<Simulator>,
}

/// Reads the configuration and secrets (or starts the simulator) and
/// validates the connector.
async fn load_connector(
    args: &ConnectorArgs,
    factory: &dyn ConnectorFactory,
    redactor: &Redactor,
    sim: Option<Simulator>,
) -> Result<Loaded, CliError> {
    let name = factory.info().name;
    if let Some(sim) = sim {
        let config = simulated::with_api(
            &simulated::workday_config(&sim),
            &sim,
            args.api.unwrap_or_default(),
        );
        let secrets = simulated::secrets(&sim, redactor);
        let connector = factory
            .validate(&config, &simulated::auth_material(&sim), &secrets)
            .await
            .map_err(|e| validate_err(&e, None))?;
        return Ok(Loaded {
            connector,
            default_instance: instance_key(&name, &config),
            connector_name: name,
            sim: Some(sim),
        });
    }
    if args.api.is_some() {
        return Err(CliError::usage(
            "--api applies only with --simulated; with --config, set \"Api\" in the configuration file",
        ));
    }
    let Some(path) = &args.config else {
        return Err(CliError::usage(
            "--config FILE is required (or use --simulated for the embedded demo tenant)",
        ));
    };
    let config = std::fs::read_to_string(path).map_err(|e| {
        CliError::usage(format!(
            "cannot read the configuration file {}: {e}; check the path",
            path.display()
        ))
    })?;
    let mut secrets = HarnessSecrets::new().with_redactor(redactor.clone());
    if let Some(file) = &args.secrets_file {
        secrets = secrets
            .with_file(file)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    if let Some(given) = &args.auth_material {
        // The error names the flag; it shows the value only when it starts
        // with secret:// (anything else may be the secret itself).
        given.trim().parse::<SecretRef>().map_err(|e| {
            CliError::usage(format!(
                "--auth-material: {e}; pass the client secret's reference, such as \
                 secret://workday/<TenantName>/clientsecret, and put the secret itself in the \
                 --secrets-file or the environment"
            ))
        })?;
    }
    let auth = args.auth_material.clone().unwrap_or_else(|| {
        let tenant = crate::engine::tenant_name(&config).unwrap_or_else(|| "unknown-tenant".into());
        format!("secret://{name}/{tenant}/clientsecret")
    });
    let resolver: &dyn SecretResolver = &secrets;
    let connector = factory
        .validate(&config, &auth, resolver)
        .await
        .map_err(|e| {
            let mut err = validate_err(&e, Some(path));
            err.message = redactor.redact(&err.message);
            err
        })?;
    Ok(Loaded {
        connector,
        default_instance: instance_key(&name, &config),
        connector_name: name,
        sim: None,
    })
}

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C.
    Interrupt,
    /// SIGTERM (systemd, Kubernetes, `kill`).
    Terminate,
}

impl StopSignal {
    /// The exit code of a run it cancelled: 130 or 143.
    pub fn exit_code(self) -> u8 {
        match self {
            StopSignal::Interrupt => exit::INTERRUPTED,
            StopSignal::Terminate => exit::TERMINATED,
        }
    }

    /// `Ctrl-C` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "Ctrl-C",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Cancels a run on the first Ctrl-C or SIGTERM (the run then rolls back,
/// is recorded `Cancelled`, and the process exits 130 or 143); a second one
/// exits at once with the same code.
struct StopSignals {
    first: Arc<std::sync::OnceLock<StopSignal>>,
    task: tokio::task::JoinHandle<()>,
}

impl StopSignals {
    fn listen(token: CancellationToken) -> Self {
        let first = Arc::new(std::sync::OnceLock::new());
        let seen = Arc::clone(&first);
        let task = tokio::spawn(async move {
            let Some(signal) = next_stop_signal().await else {
                return;
            };
            let _ = seen.set(signal);
            output::notice(
                output::Level::Warn,
                &format!(
                    "{} received: cancelling; the run rolls back unless it has already \
                     committed ({} again to exit at once)",
                    signal.name(),
                    signal.name()
                ),
            );
            token.cancel();
            if let Some(again) = next_stop_signal().await {
                std::process::exit(i32::from(again.exit_code()));
            }
        });
        Self { first, task }
    }

    /// The signal that cancelled the run, if one did.
    fn signal(&self) -> Option<StopSignal> {
        self.first.get().copied()
    }

    fn stop_listening(&self) {
        self.task.abort();
    }
}

/// Waits for the next Ctrl-C or SIGTERM; `None` when neither can be
/// listened for.
async fn next_stop_signal() -> Option<StopSignal> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok()?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.ok().map(|()| StopSignal::Interrupt),
            _ = term.recv() => Some(StopSignal::Terminate),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| StopSignal::Interrupt)
    }
}

/// Runs a parsed command line. Prints results on stdout; returns the
/// failure (already redacted) for the caller to print and exit with.
///
/// # Errors
/// [`CliError`] with the exit code and the line to print.
pub async fn run(cli: Cli, redactor: Redactor) -> Result<(), CliError> {
    let result = match cli.command {
        Command::Import(args) => import(args, &redactor).await,
        Command::Check(args) => check(args, &redactor).await,
        Command::Schema(args) => schema(&args).await,
        Command::Watermark(args) => watermark(&args),
        Command::Runs(args) => runs(&args),
        Command::Simulate(args) => crate::sim::run_simulate(args)
            .await
            .map_err(|e| CliError::failure(format!("the simulator failed: {e:#}"))),
        Command::Bench(args) => crate::bench::run(args, &redactor).await,
        Command::Completions(args) => completions(&args),
    };
    match result {
        Err(e) if e.code == exit::SUCCESS => Ok(()),
        Err(mut e) => {
            e.message = redactor.redact(&e.message);
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

async fn import(args: ImportArgs, redactor: &Redactor) -> Result<(), CliError> {
    let factory = connector_factory(&args.connector.plugin).await?;
    let simulated = args.connector.simulated;
    let sim_flag_given = args.workers.is_some()
        || args.orgs.is_some()
        || args.churn.is_some()
        || args.seed.is_some()
        || args.churn_seed.is_some();
    if sim_flag_given && !simulated {
        return Err(CliError::usage(
            "--workers, --orgs, --churn, --seed and --churn-seed apply only with --simulated",
        ));
    }
    if args.connector.api.is_some() && !simulated {
        return Err(CliError::usage(
            "--api applies only with --simulated; with --config, set \"Api\" in the configuration file",
        ));
    }
    let workers = args.workers.unwrap_or(DEFAULT_SIM_WORKERS);
    let orgs = args.orgs.unwrap_or(DEFAULT_SIM_ORGS);
    let seed = args.seed.unwrap_or(simulated::DEFAULT_SEED);
    let sim = if simulated {
        let sim = simulated::start(workers, orgs, seed)
            .await
            .map_err(|e| CliError::failure(format!("cannot start the simulated tenant: {e}")))?;
        if !args.json {
            output::notice(
                output::Level::Info,
                &format!(
                    "simulated Workday tenant with {} workers and {} orgs (seed {}) at {}",
                    workers,
                    orgs,
                    seed,
                    sim.base_url()
                ),
            );
        }
        if let Some(k) = args.churn {
            let s = sim.churn(k, args.churn_seed.unwrap_or(simulated::DEFAULT_CHURN_SEED));
            if !args.json {
                output::notice(
                    output::Level::Info,
                    &format!("applied {} mutations: {s}", s.total()),
                );
            }
        }
        Some(sim)
    } else {
        None
    };

    let loaded = load_connector(&args.connector, factory.as_ref(), redactor, sim).await?;
    let instance = args
        .instance
        .clone()
        .unwrap_or_else(|| loaded.default_instance.clone());
    let store = Store::open(&args.state).map_err(store_err)?;
    let choice = mode_choice::choose(&args, &store, &instance)?;
    let mode = choice.mode;
    let mut engine = Engine::new(store);

    let token = CancellationToken::new();
    let mut options = RunOptions::new(loaded.connector_name.clone(), instance.clone(), mode);
    options.max_delete_percent = args.max_delete_percent;
    options.dry_run = args.dry_run;
    options.changes_out.clone_from(&args.changes_out);
    options.context = RunContext::with_cancellation(token.clone());
    options.redactor = redactor.clone();
    // A progress display is not a JSON line: none with --log-format json.
    let progress = if output::stderr_is_json() {
        None
    } else {
        Progress::if_terminal(&format!("{mode} import of {instance}"))
    };
    options.observer = progress.clone().map(|p| p as Arc<dyn RunObserver>);

    let stop = StopSignals::listen(token);
    let result = engine.run(loaded.connector.as_ref(), options).await;
    stop.stop_listening();
    if let Some(p) = &progress {
        p.finished();
    }
    let report = result.map_err(|e| match e {
        EngineError::Store(e) => store_err(e),
        EngineError::Connector(e) => validate_err(&e, args.connector.config.as_deref()),
    })?;

    let metrics_failed = args
        .metrics_out
        .as_deref()
        .and_then(|path| write_metrics(path, &report, engine.store()).err());
    let summary = output::ImportSummary {
        report: &report,
        mode_reason: &choice.reason,
        retryable: exit_code_for_report(&report) == exit::TEMPFAIL,
    };
    if args.json {
        output::json(&summary).or_else(ignore_broken_pipe)?;
    } else {
        output::summary(&summary).or_else(ignore_broken_pipe)?;
        if simulated && report.outcome.committed() {
            let state = args.state.display().to_string();
            let state_arg = if state == DEFAULT_STATE {
                String::new()
            } else {
                format!(" --state {state}")
            };
            // Under `cargo run` the binary is not on PATH: say how to run it.
            let harness = if std::env::var_os("CARGO").is_some() {
                "cargo run --release -p harness --"
            } else {
                "harness"
            };
            let api_arg = match args.connector.api {
                Some(simulated::SimApi::Soap) => " --api soap",
                _ => "",
            };
            let next = if mode == ImportMode::Full {
                format!("{harness} import --simulated{api_arg} --churn 100{state_arg}")
            } else {
                format!("{harness} runs{state_arg}")
            };
            output::line(&format!("next: {next}")).or_else(ignore_broken_pipe)?;
        }
    }
    drop(loaded.sim);
    if let Some(e) = metrics_failed {
        if exit_code_for_report(&report) == exit::SUCCESS {
            return Err(e);
        }
        output::notice(output::Level::Error, &e.message);
    }
    match report_error(&report, args.max_delete_percent) {
        Some(mut e) => {
            if report.outcome == RunOutcome::Cancelled {
                if let Some(signal) = stop.signal() {
                    e.code = signal.exit_code();
                    e.message = format!(
                        "the import was cancelled ({}); nothing was committed and the watermark \
                         is unchanged",
                        signal.name()
                    );
                }
            }
            Err(e)
        }
        None => Ok(()),
    }
}

async fn check(args: CheckArgs, redactor: &Redactor) -> Result<(), CliError> {
    let factory = connector_factory(&args.connector.plugin).await?;
    let sim = if args.connector.simulated {
        Some(
            simulated::start(
                DEFAULT_SIM_WORKERS,
                DEFAULT_SIM_ORGS,
                simulated::DEFAULT_SEED,
            )
            .await
            .map_err(|e| CliError::failure(format!("cannot start the simulated tenant: {e}")))?,
        )
    } else {
        None
    };
    let loaded = load_connector(&args.connector, factory.as_ref(), redactor, sim).await?;
    let checks: Vec<_> = loaded
        .connector
        .check()
        .await
        .into_iter()
        .map(|mut c| {
            c.message = redactor.redact(&c.message);
            c
        })
        .collect();
    if args.json {
        output::json(&checks).map_err(write_err)?;
    } else {
        output::checks(&checks).map_err(write_err)?;
    }
    let failed = checks.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(CliError::failure(format!(
            "{failed} of {} health checks failed; see the FAIL lines above for what to do",
            checks.len()
        )))
    }
}

async fn schema(args: &SchemaArgs) -> Result<(), CliError> {
    let schema = connector_factory(&args.plugin).await?.schema();
    if args.json {
        output::json(&schema).map_err(write_err)
    } else {
        output::schema(&schema).map_err(write_err)
    }
}

fn watermark(args: &WatermarkArgs) -> Result<(), CliError> {
    let Some(store) = Store::open_existing(&args.state).map_err(store_err)? else {
        return Ok(());
    };
    let watermark = match &args.instance {
        Some(instance) => store.watermark(instance).map_err(store_err)?,
        None => {
            let all = store.watermarks().map_err(store_err)?;
            if all.len() > 1 {
                return Err(CliError::usage(format!(
                    "the state store holds watermarks of several connector instances ({}); \
                     pass --instance KEY",
                    all.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            all.into_values().next()
        }
    };
    match watermark {
        Some(w) => output::line(&w).map_err(write_err),
        None => Ok(()),
    }
}

fn runs(args: &RunsArgs) -> Result<(), CliError> {
    if let Some(id) = args.show {
        return show_run(args, id);
    }
    let runs = match Store::open_existing(&args.state).map_err(store_err)? {
        None => Vec::new(),
        Some(store) => store
            .runs_of(args.instance.as_deref(), args.limit)
            .map_err(store_err)?,
    };
    if args.json {
        output::json(&runs).map_err(write_err)
    } else {
        output::runs(&runs).map_err(write_err)
    }
}

/// Writes `--metrics-out`; the error says which file and why.
fn write_metrics(path: &Path, report: &RunReport, store: &Store) -> Result<(), CliError> {
    let last_success = store.last_success(&report.instance).map_err(store_err)?;
    let text = crate::metrics::render(
        report,
        crate::metrics::MetricsContext {
            exit_code: exit_code_for_report(report),
            last_success: last_success.as_deref(),
        },
    );
    crate::metrics::write_atomically(path, &text).map_err(|e| {
        CliError::failure(format!(
            "cannot write the metrics file {}: {e}; check that its directory exists and is \
             writable (the run itself is recorded in the run history)",
            path.display()
        ))
    })
}

/// `harness completions SHELL`: the script on stdout.
fn completions(args: &CompletionsArgs) -> Result<(), CliError> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "harness", &mut script);
    output::bytes(&script).map_err(write_err)
}

/// `harness runs --show ID`.
fn show_run(args: &RunsArgs, id: i64) -> Result<(), CliError> {
    let run = match Store::open_existing(&args.state).map_err(store_err)? {
        None => None,
        Some(store) => store.run(id).map_err(store_err)?,
    };
    let Some(run) = run else {
        return Err(CliError::usage(format!(
            "the state store {} has no run {id}; `harness runs` lists the run ids",
            args.state.display()
        )));
    };
    if args.json {
        output::json(&run).map_err(write_err)
    } else {
        output::run_whole(&run).map_err(write_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn only_commands_serving_a_simulated_tenant_get_a_multi_threaded_runtime() {
        for (args, serves) in [
            (&["harness", "import", "--simulated"][..], true),
            (&["harness", "check", "--simulated"], true),
            (&["harness", "simulate"], true),
            (&["harness", "bench"], true),
            (&["harness", "import", "--config", "c.json"], false),
            (&["harness", "check", "--config", "c.json"], false),
            (&["harness", "runs"], false),
            (&["harness", "schema"], false),
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.serves_a_simulated_tenant(), serves, "{args:?}");
        }
    }

    #[test]
    fn simulated_flags_require_simulated() {
        let ok = Cli::try_parse_from(["harness", "import", "--simulated"]).unwrap();
        let Command::Import(a) = ok.command else {
            panic!()
        };
        assert!(a.mode.is_none());
        assert_eq!(a.workers, None);
        let ok = Cli::try_parse_from(["harness", "import", "--config", "c.json"]).unwrap();
        let Command::Import(a) = ok.command else {
            panic!()
        };
        assert_eq!(a.mode, None, "--mode defaults to auto");
        let ok = Cli::try_parse_from(["harness", "import", "--config", "c.json", "--mode", "auto"])
            .unwrap();
        let Command::Import(a) = ok.command else {
            panic!()
        };
        assert_eq!(a.mode, Some(ModeArg::Auto));
        let e = Cli::try_parse_from(["harness", "import", "--simulated", "--config", "c.json"])
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn max_purge_percent_is_an_alias_of_max_delete_percent() {
        let parse = |args: &[&str]| {
            let mut all = vec!["harness", "import", "--simulated"];
            all.extend_from_slice(args);
            match Cli::try_parse_from(all).unwrap().command {
                Command::Import(a) => a.max_delete_percent,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(parse(&[]), crate::engine::DEFAULT_MAX_DELETE_PERCENT);
        assert_eq!(parse(&["--max-delete-percent", "25"]), 25.0);
        assert_eq!(parse(&["--max-purge-percent", "30"]), 30.0);
        let e = Cli::try_parse_from([
            "harness",
            "import",
            "--simulated",
            "--max-purge-percent",
            "150",
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn stop_signals_exit_codes() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
    }

    #[test]
    fn percent_parsing() {
        assert_eq!(parse_percent("10").unwrap(), 10.0);
        assert_eq!(parse_percent("2.5%").unwrap(), 2.5);
        assert!(parse_percent("101").is_err());
        assert!(parse_percent("x").is_err());
    }

    #[test]
    fn exit_codes_by_kind() {
        assert_eq!(exit_code_for(ErrorKind::Configuration), 2);
        assert_eq!(exit_code_for(ErrorKind::Secret), 2);
        assert_eq!(exit_code_for(ErrorKind::Watermark), 2);
        assert_eq!(exit_code_for(ErrorKind::Server), 1);
        assert_eq!(exit_code_for(ErrorKind::Authentication), 1);
        assert_eq!(exit_code_for(ErrorKind::Cancelled), 130);
        let e = |kind| ConnectorError::new(kind, "x");
        assert_eq!(exit_code_for_error(&e(ErrorKind::Server)), 75);
        assert_eq!(exit_code_for_error(&e(ErrorKind::RateLimit)), 75);
        assert_eq!(exit_code_for_error(&e(ErrorKind::Transport)), 75);
        assert_eq!(exit_code_for_error(&e(ErrorKind::Authentication)), 1);
        assert_eq!(exit_code_for_error(&e(ErrorKind::Permission)), 1);
        assert_eq!(exit_code_for_error(&e(ErrorKind::Sink)), 1);
        assert_eq!(
            exit_code_for_error(&e(ErrorKind::Server).with_retryable(false)),
            1
        );
        assert_eq!(
            exit_code_for_error(&e(ErrorKind::Cancelled).with_retryable(true)),
            130
        );
    }
}
