//! The engine side: loads a plugin and drives it through the connector traits.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::Child;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::command::PluginCommand;
use super::messages::{
    EngineMessage, PluginMessage, SecretValues, WireSecretError, DEFAULT_WINDOW, PROTOCOL_VERSION,
};
use super::stderr::{self, StderrTail};
use super::typing::{fast_page, SchemaIndex, WireChange};
use super::{excerpt, read_line};
use crate::secret::secret_references_in;
use crate::{
    Change, ChangeSink, Connector, ConnectorError, ConnectorFactory, ConnectorInfo, ErrorKind,
    HealthCheck, ImportOutcome, ImportRequest, MetricsSnapshot, RunContext, Schema, SecretRef,
    SecretResolver,
};

/// How much of an unreadable stdout line an error message quotes.
const GARBAGE_CHARS: usize = 200;
/// How long to wait for a plugin that closed its stdout to exit.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Limits the engine puts on a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOptions {
    /// How long the plugin may take to start and answer `hello` (and, for
    /// [`PluginFactory::spawn`], `schema`).
    pub handshake_timeout: Duration,
    /// The longest silence tolerated while waiting for the plugin's next
    /// message (an answer, a page, metrics); past it the plugin counts as hung
    /// and is stopped.
    pub idle_timeout: Duration,
    /// How long a cancelled import may take to end before the plugin is stopped.
    pub cancel_grace: Duration,
    /// How many pages the plugin may send ahead of the engine's acks.
    pub window: u32,
    /// The longest line accepted from the plugin.
    pub max_line_bytes: usize,
}

impl Default for PluginOptions {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            cancel_grace: Duration::from_secs(5),
            window: DEFAULT_WINDOW,
            max_line_bytes: 64 << 20,
        }
    }
}

/// A byte stream to a plugin: what the engine reads the plugin's messages
/// from, and what it writes its own to. [`PluginFactory::spawn`] uses a child
/// process's stdout and stdin; [`PluginFactory::connect`] takes any.
pub struct PluginTransport {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
}

impl PluginTransport {
    /// A transport reading the plugin's messages from `reader` and writing
    /// the engine's to `writer`.
    pub fn new(
        reader: impl AsyncRead + Send + Unpin + 'static,
        writer: impl AsyncWrite + Send + Unpin + 'static,
    ) -> Self {
        Self {
            reader: Box::new(reader),
            writer: Box::new(writer),
        }
    }
}

impl fmt::Debug for PluginTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginTransport").finish_non_exhaustive()
    }
}

type Connect = dyn Fn() -> std::io::Result<PluginTransport> + Send + Sync;

enum Launcher {
    Process(PluginCommand),
    Custom(Box<Connect>),
}

/// A connector factory served by a plugin over the protocol.
///
/// Each [`ConnectorFactory::validate`] gets its own plugin session (for
/// [`PluginFactory::spawn`], its own child process, stopped when the
/// connector is dropped); the session that answered the first handshake is
/// reused by the first `validate`.
///
/// Secrets: a plugin whose `hello` says `listsSecrets` is first sent a
/// `validate` without any; it answers with the secret references the
/// configuration needs (defaults included, see
/// [`ConnectorFactory::secret_references`]), and the engine's resolver
/// resolves exactly those and sends them in a second `validate`. An older
/// plugin gets the auth material and every `secret://` string found in the
/// configuration JSON in one `validate`. Values are never logged and never
/// printed by `Debug`.
pub struct PluginFactory {
    launcher: Launcher,
    label: String,
    options: PluginOptions,
    info: ConnectorInfo,
    schema: Schema,
    spare: StdMutex<Option<Session>>,
}

impl fmt::Debug for PluginFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginFactory")
            .field("plugin", &self.label)
            .field("connector", &self.info.name)
            .field("version", &self.info.version)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl PluginFactory {
    /// Starts the plugin executable `program` with `args`, performs the
    /// handshake and fetches its schema.
    ///
    /// The child starts with a cleared environment plus the variables of
    /// [`PLUGIN_ENV_ALLOWLIST`](super::PLUGIN_ENV_ALLOWLIST); to give it more,
    /// use [`PluginFactory::spawn_command`] with [`PluginCommand::env`].
    ///
    /// The child's stderr is forwarded to `tracing` (target
    /// `connector_api::plugin::stderr`, each line cut at
    /// [`STDERR_LINE_BYTES`](super::STDERR_LINE_BYTES), bytes that are not
    /// UTF-8 shown as `�`) and its last lines are quoted when it fails.
    ///
    /// # Errors
    /// [`ErrorKind::Configuration`] when the program cannot be started or
    /// speaks another protocol version, [`ErrorKind::Transport`] when it
    /// exits or does not answer within [`PluginOptions::handshake_timeout`],
    /// [`ErrorKind::BadResponse`] when it writes something that is not a
    /// protocol message.
    pub async fn spawn<I, A>(
        program: impl Into<PathBuf>,
        args: I,
        options: PluginOptions,
    ) -> Result<Self, ConnectorError>
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        Self::spawn_command(PluginCommand::new(program).args(args), options).await
    }

    /// Like [`PluginFactory::spawn`], for a [`PluginCommand`] (which may add
    /// variables to the plugin's environment).
    ///
    /// # Errors
    /// As [`PluginFactory::spawn`].
    pub async fn spawn_command(
        command: PluginCommand,
        options: PluginOptions,
    ) -> Result<Self, ConnectorError> {
        let label = command.program().display().to_string();
        Self::start(Launcher::Process(command), label, options).await
    }

    /// Like [`PluginFactory::spawn`], over transports `connect` opens, one per
    /// session (e.g. an in-process [`serve`](super::serve) over
    /// `tokio::io::duplex`). `label` names the plugin in error messages.
    ///
    /// # Errors
    /// As [`PluginFactory::spawn`].
    pub async fn connect<C>(
        label: impl Into<String>,
        connect: C,
        options: PluginOptions,
    ) -> Result<Self, ConnectorError>
    where
        C: Fn() -> std::io::Result<PluginTransport> + Send + Sync + 'static,
    {
        Self::start(Launcher::Custom(Box::new(connect)), label.into(), options).await
    }

    async fn start(
        launcher: Launcher,
        label: String,
        options: PluginOptions,
    ) -> Result<Self, ConnectorError> {
        let mut session = Session::open(&launcher, &label, &options).await?;
        let info = session.handshake(options.handshake_timeout).await?;
        let schema = match session
            .request(
                &EngineMessage::Schema,
                "answering schema",
                options.handshake_timeout,
            )
            .await?
        {
            PluginMessage::Schema { schema } => schema,
            PluginMessage::Error { error, .. } => return Err(error),
            other => return Err(session.unexpected(&other, "schema")),
        };
        Ok(Self {
            launcher,
            label,
            options,
            info,
            schema,
            spare: StdMutex::new(Some(session)),
        })
    }

    /// The plugin's name in messages: the program path, or the label given to
    /// [`PluginFactory::connect`].
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The limits this factory puts on its plugin.
    pub fn options(&self) -> &PluginOptions {
        &self.options
    }

    async fn session(&self) -> Result<Session, ConnectorError> {
        let spare = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut session) = spare {
            // The first session may have died while it waited: then start anew.
            let exited = session
                .process
                .as_mut()
                .is_some_and(|p| !matches!(p.child.try_wait(), Ok(None)));
            if !exited {
                return Ok(session);
            }
        }
        let mut session = Session::open(&self.launcher, &self.label, &self.options).await?;
        let info = session.handshake(self.options.handshake_timeout).await?;
        if info.name != self.info.name {
            return Err(session.fail(ConnectorError::new(
                ErrorKind::BadResponse,
                format!(
                    "the plugin {} introduced itself as {:?} but earlier as {:?}",
                    self.label, info.name, self.info.name
                ),
            )));
        }
        Ok(session)
    }
}

#[async_trait]
impl ConnectorFactory for PluginFactory {
    fn info(&self) -> ConnectorInfo {
        self.info.clone()
    }

    fn schema(&self) -> Schema {
        self.schema.clone()
    }

    async fn validate(
        &self,
        config_json: &str,
        auth_material: &str,
        secrets: &dyn SecretResolver,
    ) -> Result<Box<dyn Connector>, ConnectorError> {
        let mut session = self.session().await?;
        let idle = self.options.idle_timeout;
        let schema = if session.lists_secrets {
            // Ask first, sending nothing: the plugin names the secrets this
            // configuration needs (defaults included) and gets exactly those.
            let ask = Secrets::default();
            match validate_once(&mut session, config_json, auth_material, ask, true, idle).await? {
                Validated::Ready(schema) => schema,
                Validated::Needs(needed) => {
                    let given = Secrets::resolve(&needed, secrets).await;
                    match validate_once(&mut session, config_json, auth_material, given, true, idle)
                        .await?
                    {
                        Validated::Ready(schema) => schema,
                        Validated::Needs(again) => {
                            return Err(session.fail(ConnectorError::new(
                                ErrorKind::BadResponse,
                                format!(
                                    "the plugin {} listed the secrets {} after it was sent the \
                                     ones it asked for ({}); it was stopped",
                                    self.label,
                                    again.join(", "),
                                    needed.join(", ")
                                ),
                            )))
                        }
                    }
                }
            }
        } else {
            // An older plugin: every secret the configuration names, in one
            // validate (which a plugin answers without holding back).
            let named: Vec<String> = secret_references_in(config_json, auth_material)
                .iter()
                .map(ToString::to_string)
                .collect();
            let given = Secrets::resolve(&named, secrets).await;
            match validate_once(&mut session, config_json, auth_material, given, false, idle)
                .await?
            {
                Validated::Ready(schema) => schema,
                Validated::Needs(_) => None,
            }
        };
        // The configured connector's schema (say, anchored on
        // employeeNumber); an older plugin sends none.
        let schema = schema.unwrap_or_else(|| self.schema.clone());
        Ok(Box::new(PluginConnector {
            label: self.label.clone(),
            name: self.info.name.clone(),
            index: SchemaIndex::new(&schema),
            schema,
            options: self.options.clone(),
            session: Mutex::new(session),
        }))
    }
}

/// The secrets one `validate` message carries: values, and why the others
/// could not be resolved.
#[derive(Default)]
struct Secrets {
    values: SecretValues,
    errors: BTreeMap<String, WireSecretError>,
}

impl Secrets {
    /// Resolves each of `references` through `resolver`.
    async fn resolve(references: &[String], resolver: &dyn SecretResolver) -> Self {
        let mut out = Self::default();
        for reference in references {
            let resolved = match reference.trim().parse::<SecretRef>() {
                Ok(r) => resolver.resolve(&r).await,
                Err(e) => Err(e),
            };
            match resolved {
                Ok(value) => out.values.insert(reference.clone(), value),
                Err(e) => {
                    out.errors
                        .insert(reference.clone(), WireSecretError::from_error(&e));
                }
            }
        }
        out
    }
}

/// A plugin's answer to `validate`.
enum Validated {
    /// The connector is ready, with this schema (if the plugin sent one).
    Ready(Option<Schema>),
    /// No connector yet (only with `listSecrets`): the plugin needs these
    /// secrets, some of which the `validate` did not carry.
    Needs(Vec<String>),
}

/// Sends one `validate` carrying `secrets` and reads the answer.
async fn validate_once(
    session: &mut Session,
    config_json: &str,
    auth_material: &str,
    secrets: Secrets,
    list_secrets: bool,
    timeout: Duration,
) -> Result<Validated, ConnectorError> {
    let Secrets { values, errors } = secrets;
    let carried: BTreeSet<String> = values
        .references()
        .map(str::to_string)
        .chain(errors.keys().cloned())
        .collect();
    let message = EngineMessage::Validate {
        config: config_json.to_string(),
        auth_material: auth_material.to_string(),
        secrets: values,
        secret_errors: errors,
        list_secrets,
    };
    let reply = session
        .request(&message, "answering validate", timeout)
        .await;
    drop(message);
    match reply? {
        PluginMessage::Validated {
            secrets: Some(listed),
            ..
        } if list_secrets && !listed.iter().all(|r| carried.contains(r)) => {
            Ok(Validated::Needs(listed))
        }
        PluginMessage::Validated { schema, .. } => Ok(Validated::Ready(schema)),
        PluginMessage::Error { error, .. } => Err(error),
        other => Err(session.unexpected(&other, "validate")),
    }
}

/// A connector living in a plugin session.
struct PluginConnector {
    label: String,
    name: String,
    schema: Schema,
    index: SchemaIndex,
    options: PluginOptions,
    session: Mutex<Session>,
}

impl fmt::Debug for PluginConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginConnector")
            .field("plugin", &self.label)
            .field("connector", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Connector for PluginConnector {
    fn schema(&self) -> Schema {
        self.schema.clone()
    }

    async fn check(&self) -> Vec<HealthCheck> {
        let mut session = self.session.lock().await;
        match session
            .request(
                &EngineMessage::Check,
                "running health checks",
                self.options.idle_timeout,
            )
            .await
        {
            Ok(PluginMessage::Checks { checks }) => checks,
            Ok(PluginMessage::Error { error, .. }) => {
                vec![HealthCheck::fail("plugin", error.to_string())]
            }
            Ok(other) => {
                let e = session.unexpected(&other, "check");
                vec![HealthCheck::fail("plugin", e.to_string())]
            }
            Err(e) => vec![HealthCheck::fail("plugin", e.to_string())],
        }
    }

    async fn import(
        &self,
        request: ImportRequest,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        if ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let mut session = self.session.lock().await;
        let message = EngineMessage::Import {
            mode: request.mode,
            watermark: request.watermark,
            window: self.options.window.max(1),
        };
        session.begin(&message, "starting an import").await?;
        let mut run = Run {
            index: &self.index,
            options: &self.options,
            forwarded: MetricsSnapshot::default(),
            failure: None,
            stop_deadline: None,
        };
        let result = run.drive(&mut session, sink, ctx).await;
        if session.broken.is_none() {
            session.busy = false;
        }
        result
    }
}

/// The engine's state during one import.
struct Run<'a> {
    index: &'a SchemaIndex,
    options: &'a PluginOptions,
    forwarded: MetricsSnapshot,
    /// The first failure on the engine's side (sink refused a page, a change
    /// did not match the schema): the run returns it.
    failure: Option<ConnectorError>,
    /// Set once `cancel` is sent: by then the run must have ended.
    stop_deadline: Option<Instant>,
}

impl Run<'_> {
    async fn drive(
        &mut self,
        session: &mut Session,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Result<ImportOutcome, ConnectorError> {
        const DOING: &str = "running an import";
        loop {
            if self.stop_deadline.is_none() && (ctx.is_cancelled() || self.failure.is_some()) {
                // Cancelled by the engine, or failed on the engine's side:
                // either way the plugin must stop, within the grace period.
                self.stop_deadline = Some(Instant::now() + self.options.cancel_grace);
                if let Err(e) = session.send(&EngineMessage::Cancel, DOING).await {
                    return Err(self.stopped(ctx).unwrap_or(e));
                }
            }
            let now = Instant::now();
            if self.stop_deadline.is_some_and(|d| now >= d) {
                // Still talking (say, streaming pages it was told to stop).
                return Err(self.stop_late(session, ctx));
            }
            let idle = now + self.options.idle_timeout;
            let deadline = self.stop_deadline.map_or(idle, |c| c.min(idle));
            let received = tokio::select! {
                biased;
                () = ctx.cancelled(), if self.stop_deadline.is_none() => continue,
                r = session.receive(deadline, DOING) => r,
            };
            let message = match received {
                Ok(Some(Incoming::Page { changes, metrics })) => {
                    self.forward(metrics, ctx);
                    let error = self.apply(changes, sink, ctx).await;
                    let ack = EngineMessage::Ack { error };
                    if let Err(e) = session.send(&ack, DOING).await {
                        return Err(self.stopped(ctx).unwrap_or(e));
                    }
                    continue;
                }
                Ok(Some(Incoming::Message(message))) => message,
                Ok(None) if self.stop_deadline.is_some() => {
                    return Err(self.stop_late(session, ctx));
                }
                Ok(None) => return Err(session.timed_out(self.options.idle_timeout, DOING)),
                Err(e) => return Err(self.stopped(ctx).unwrap_or(e)),
            };
            match message {
                PluginMessage::Metrics { metrics } => self.forward(Some(metrics), ctx),
                PluginMessage::Result { outcome, metrics } => {
                    self.forward(metrics, ctx);
                    return self.stopped(ctx).map_or(Ok(outcome), Err);
                }
                PluginMessage::Error { error, metrics } => {
                    self.forward(metrics, ctx);
                    return Err(self.stopped(ctx).unwrap_or(error));
                }
                other => return Err(session.unexpected(&other, "import")),
            }
        }
    }

    /// Stops a plugin that did not end its run within the grace period after
    /// `cancel`; returns the run's error.
    fn stop_late(&self, session: &mut Session, ctx: &RunContext) -> ConnectorError {
        let stopped = self.stopped(ctx).unwrap_or_else(ConnectorError::cancelled);
        session.fail(ConnectorError::new(
            stopped.kind(),
            format!(
                "the plugin {} did not end its run within {:?} of cancel; it was stopped",
                session.label, self.options.cancel_grace
            ),
        ));
        stopped
    }

    /// What a run the engine stopped returns whatever the plugin says: a
    /// cancelled run is always `Cancelled`; otherwise the engine-side failure.
    fn stopped(&self, ctx: &RunContext) -> Option<ConnectorError> {
        if ctx.is_cancelled() {
            Some(ConnectorError::cancelled())
        } else {
            self.failure.clone()
        }
    }

    /// Types a page with the schema and applies it; returns the error to
    /// send back with its ack, if any. Pages arriving after a cancel or a
    /// failure are dropped (and acknowledged).
    async fn apply(
        &mut self,
        changes: PageChanges,
        sink: &mut dyn ChangeSink,
        ctx: &RunContext,
    ) -> Option<ConnectorError> {
        if self.stop_deadline.is_some() || self.failure.is_some() || ctx.is_cancelled() {
            return None;
        }
        let typed: Result<Vec<Change>, _> = match changes {
            PageChanges::Wire(changes) => changes
                .into_iter()
                .map(|c| self.index.type_change(c))
                .collect(),
            PageChanges::Json(changes) => changes
                .into_iter()
                .map(|c| self.index.type_value(c))
                .collect(),
        };
        let result = match typed {
            Ok(changes) => sink.apply(changes).await,
            Err(e) => Err(ConnectorError::new(
                ErrorKind::BadResponse,
                format!("the plugin sent a change its own schema does not allow: {e}"),
            )),
        };
        match result {
            Ok(()) => None,
            Err(e) => {
                self.failure = Some(e.clone());
                Some(e)
            }
        }
    }

    /// Adds what the plugin counted since its last report to the engine's
    /// counters (the reports are cumulative; a counter that went down adds
    /// nothing).
    fn forward(&mut self, metrics: Option<MetricsSnapshot>, ctx: &RunContext) {
        let Some(now) = metrics else { return };
        let m = ctx.metrics();
        let was = self.forwarded;
        m.add_requests(now.requests.saturating_sub(was.requests));
        m.add_retries(now.retries.saturating_sub(was.retries));
        m.add_pages(
            now.pages.saturating_sub(was.pages),
            now.records.saturating_sub(was.records),
        );
        self.forwarded = MetricsSnapshot {
            requests: was.requests.max(now.requests),
            retries: was.retries.max(now.retries),
            pages: was.pages.max(now.pages),
            records: was.records.max(now.records),
        };
    }
}

struct Process {
    child: Child,
    stderr_tail: StderrTail,
    stderr_task: Option<JoinHandle<()>>,
}

impl Process {
    fn tail(&self) -> String {
        self.stderr_tail.quote()
    }
}

/// One conversation with a plugin: its streams, and its process if it has one.
struct Session {
    label: String,
    reader: BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    writer: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    process: Option<Process>,
    line: Vec<u8>,
    out: Vec<u8>,
    max_line: usize,
    /// Set once the session is unusable; every later request returns it.
    broken: Option<ConnectorError>,
    /// A request is under way (a dropped request leaves the session out of step).
    busy: bool,
    /// The plugin's `hello` said `listsSecrets`.
    lists_secrets: bool,
}

impl Session {
    async fn open(
        launcher: &Launcher,
        label: &str,
        options: &PluginOptions,
    ) -> Result<Self, ConnectorError> {
        let (transport, process) = match launcher {
            Launcher::Custom(connect) => {
                let transport = connect().map_err(|e| {
                    ConnectorError::new(
                        ErrorKind::Transport,
                        format!("could not connect to the plugin {label}: {e}"),
                    )
                })?;
                (transport, None)
            }
            Launcher::Process(command) => {
                let (transport, process) = spawn_process(command, label)?;
                (transport, Some(process))
            }
        };
        Ok(Self {
            label: label.to_string(),
            reader: BufReader::with_capacity(256 * 1024, transport.reader),
            writer: BufWriter::with_capacity(64 * 1024, transport.writer),
            process,
            line: Vec::with_capacity(64 * 1024),
            out: Vec::with_capacity(1024),
            max_line: options.max_line_bytes,
            broken: None,
            busy: false,
            lists_secrets: false,
        })
    }

    async fn handshake(&mut self, timeout: Duration) -> Result<ConnectorInfo, ConnectorError> {
        let hello = EngineMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
        };
        match self.request(&hello, "answering hello", timeout).await? {
            PluginMessage::Hello {
                protocol_version,
                connector,
                lists_secrets,
            } if protocol_version == PROTOCOL_VERSION => {
                self.lists_secrets = lists_secrets;
                Ok(connector)
            }
            PluginMessage::Hello {
                protocol_version,
                connector,
                ..
            } => Err(self.fail(ConnectorError::new(
                ErrorKind::Configuration,
                format!(
                    "protocol version mismatch: this engine speaks plugin protocol version \
                     {PROTOCOL_VERSION}, the plugin {} ({} {}) speaks version {protocol_version}; \
                     use a build of the plugin for protocol version {PROTOCOL_VERSION}",
                    self.label, connector.name, connector.version
                ),
            ))),
            PluginMessage::Error { error, .. } => Err(self.fail(error.with_retryable(false))),
            other => Err(self.unexpected(&other, "hello")),
        }
    }

    /// Checks the session is usable and sends the request that starts an
    /// exchange.
    async fn begin(&mut self, message: &EngineMessage, doing: &str) -> Result<(), ConnectorError> {
        if let Some(e) = &self.broken {
            return Err(ConnectorError::new(
                e.kind(),
                format!(
                    "the plugin connection is unusable after an earlier failure: {}",
                    e.message()
                ),
            )
            .with_retryable(e.is_retryable()));
        }
        if self.busy {
            return Err(self.fail(ConnectorError::new(
                ErrorKind::Transport,
                format!(
                    "an earlier request to the plugin {} was abandoned mid-way, so the connection \
                     is out of step; it was stopped",
                    self.label
                ),
            )));
        }
        self.busy = true;
        self.send(message, doing).await
    }

    /// Sends `message` and waits for the answer (skipping metrics reports).
    async fn request(
        &mut self,
        message: &EngineMessage,
        doing: &str,
        timeout: Duration,
    ) -> Result<PluginMessage, ConnectorError> {
        self.begin(message, doing).await?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.receive(deadline, doing).await? {
                Some(Incoming::Message(PluginMessage::Metrics { .. })) => {}
                Some(Incoming::Message(answer)) => {
                    self.busy = false;
                    return Ok(answer);
                }
                Some(Incoming::Page { .. }) => {
                    let request = doing.strip_prefix("answering ").unwrap_or(doing);
                    return Err(self.unexpected_type("page", request));
                }
                None => return Err(self.timed_out(timeout, doing)),
            }
        }
    }

    async fn send(&mut self, message: &EngineMessage, doing: &str) -> Result<(), ConnectorError> {
        self.out.clear();
        serde_json::to_writer(&mut self.out, message).map_err(|e| {
            ConnectorError::new(
                ErrorKind::BadResponse,
                format!("could not encode a message: {e}"),
            )
        })?;
        self.out.push(b'\n');
        let written = async {
            self.writer.write_all(&self.out).await?;
            self.writer.flush().await
        }
        .await;
        // The buffer may hold secrets (validate): do not keep them around.
        self.out.clear();
        match written {
            Ok(()) => Ok(()),
            Err(_) => {
                let e = self.gone(doing).await;
                Err(self.fail(e))
            }
        }
    }

    /// The plugin's next message; `Ok(None)` when nothing complete arrived
    /// by `deadline`. Cancel-safe: a partly read line is kept for the next call.
    async fn receive(
        &mut self,
        deadline: Instant,
        doing: &str,
    ) -> Result<Option<Incoming>, ConnectorError> {
        if let Some(e) = &self.broken {
            return Err(e.clone());
        }
        let read = tokio::time::timeout_at(
            deadline,
            read_line(&mut self.reader, &mut self.line, self.max_line),
        )
        .await;
        let result = match read {
            Err(_elapsed) => return Ok(None),
            Ok(Ok(true)) => {
                let parsed = parse_plugin_line(&self.line);
                let garbage = parsed.is_err().then(|| excerpt(&self.line, GARBAGE_CHARS));
                self.line.clear();
                match (parsed, garbage) {
                    (Ok(message), _) => Ok(Some(message)),
                    (Err(why), garbage) => Err(ConnectorError::new(
                        ErrorKind::BadResponse,
                        format!(
                            "the plugin {} wrote a line that is not a protocol message while \
                             {doing}: {:?} ({why}); it was stopped",
                            self.label,
                            garbage.unwrap_or_default()
                        ),
                    )),
                }
            }
            Ok(Ok(false)) => Err(self.gone(doing).await),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                let start = excerpt(&self.line, GARBAGE_CHARS);
                Err(ConnectorError::new(
                    ErrorKind::BadResponse,
                    format!(
                        "the plugin {} wrote an over-long line while {doing} ({e}), starting \
                         {start:?}; it was stopped",
                        self.label
                    ),
                ))
            }
            Ok(Err(_)) => Err(self.gone(doing).await),
        };
        result.map_err(|e| self.fail(e))
    }

    /// The error for a plugin that closed its output: its exit status and
    /// last stderr lines when it is a process.
    async fn gone(&mut self, doing: &str) -> ConnectorError {
        let label = self.label.clone();
        let Some(process) = self.process.as_mut() else {
            return ConnectorError::new(
                ErrorKind::Transport,
                format!("the plugin {label} closed the connection while {doing}"),
            );
        };
        let status = match tokio::time::timeout(EXIT_WAIT, process.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("exit status unknown: {e}"),
            Err(_) => "closed its stdout but kept running; it was stopped".to_string(),
        };
        if let Some(task) = process.stderr_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        ConnectorError::new(
            ErrorKind::Transport,
            format!(
                "the plugin {label} exited ({status}) while {doing}{}",
                process.tail()
            ),
        )
    }

    fn timed_out(&mut self, idle: Duration, doing: &str) -> ConnectorError {
        let error = ConnectorError::new(
            ErrorKind::Transport,
            format!(
                "the plugin {} sent nothing for {idle:?} while {doing}; it was stopped{}",
                self.label,
                self.tail()
            ),
        );
        self.fail(error)
    }

    fn tail(&self) -> String {
        self.process.as_ref().map(Process::tail).unwrap_or_default()
    }

    fn unexpected(&mut self, message: &PluginMessage, request: &str) -> ConnectorError {
        self.unexpected_type(message.type_name(), request)
    }

    fn unexpected_type(&mut self, type_name: &str, request: &str) -> ConnectorError {
        let error = ConnectorError::new(
            ErrorKind::BadResponse,
            format!(
                "the plugin {} answered {request} with a {} message, which the protocol does not \
                 allow there; it was stopped",
                self.label, type_name
            ),
        );
        self.fail(error)
    }

    /// Marks the session unusable and stops the plugin; returns `error`.
    fn fail(&mut self, error: ConnectorError) -> ConnectorError {
        if let Some(process) = self.process.as_mut() {
            // kill_on_drop reaps it; ask now so it stops at once.
            let _ = process.child.start_kill();
        }
        if self.broken.is_none() {
            self.broken = Some(error.clone());
        }
        error
    }
}

fn spawn_process(
    command: &PluginCommand,
    label: &str,
) -> Result<(PluginTransport, Process), ConnectorError> {
    let cannot_start = |why: String| {
        ConnectorError::new(
            ErrorKind::Configuration,
            format!("could not start the plugin {label}: {why}"),
        )
    };
    let mut child = command
        .command(std::env::vars_os())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| cannot_start(e.to_string()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(cannot_start(
            "its standard streams are not available".into(),
        ));
    };
    let stderr_tail = StderrTail::default();
    let stderr_task = stderr::forward(stderr, label.to_string(), stderr_tail.clone());
    Ok((
        PluginTransport::new(stdout, stdin),
        Process {
            child,
            stderr_tail,
            stderr_task: Some(stderr_task),
        },
    ))
}

/// A message as the engine reads it: pages apart, to type their changes fast.
enum Incoming {
    Page {
        changes: PageChanges,
        metrics: Option<MetricsSnapshot>,
    },
    Message(PluginMessage),
}

enum PageChanges {
    /// Read by the fast path.
    Wire(Vec<WireChange>),
    /// Read as JSON values (fields in another order, or a change the fast
    /// path could not read, which typing then reports).
    Json(Vec<serde_json::Value>),
}

/// Reads one line of the plugin's output.
fn parse_plugin_line(line: &[u8]) -> Result<Incoming, String> {
    if let Some(page) = fast_page(line) {
        return Ok(Incoming::Page {
            changes: PageChanges::Wire(page.changes),
            metrics: page.metrics,
        });
    }
    let mut value: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| "not a JSON object".to_string())?;
    match object.get("type").and_then(serde_json::Value::as_str) {
        Some("page") => {
            let changes = match object.remove("changes") {
                Some(serde_json::Value::Array(changes)) => changes,
                _ => return Err("a page without a changes array".into()),
            };
            let metrics = match object.remove("metrics") {
                None | Some(serde_json::Value::Null) => None,
                Some(m) => Some(serde_json::from_value(m).map_err(|e| format!("metrics: {e}"))?),
            };
            Ok(Incoming::Page {
                changes: PageChanges::Json(changes),
                metrics,
            })
        }
        Some(_) => serde_json::from_value(value)
            .map(Incoming::Message)
            .map_err(|e| e.to_string()),
        None => Err("no \"type\" field".into()),
    }
}
