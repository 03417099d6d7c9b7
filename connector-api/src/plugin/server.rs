//! The plugin side: serves a [`ConnectorFactory`] over the protocol.

use std::sync::{Mutex as StdMutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, watch, Mutex};
use tokio_util::sync::CancellationToken;

use super::messages::{
    EngineMessage, PageOut, PluginMessage, SecretValues, WireSecretError, PROTOCOL_VERSION,
};
use super::read_line;
use crate::{
    Change, ChangeSink, Connector, ConnectorError, ConnectorFactory, ErrorKind, ImportRequest,
    MetricsSnapshot, RunContext, SecretError, SecretRef, SecretResolver,
};

/// The longest line the plugin accepts from the engine.
const MAX_ENGINE_LINE: usize = 16 << 20;
/// How often a running import's counters are sent when they changed.
const METRICS_EVERY: Duration = Duration::from_millis(500);

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reading from the engine or writing to it failed.
    #[error("plugin i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// The engine speaks another protocol version.
    #[error(
        "protocol version mismatch: the engine speaks plugin protocol version {engine}, \
         this plugin speaks version {plugin}"
    )]
    VersionMismatch {
        /// The engine's version.
        engine: u32,
        /// This plugin's version ([`PROTOCOL_VERSION`]).
        plugin: u32,
    },
    /// The engine broke the protocol (e.g. wrote an unreadable line).
    #[error("the engine broke the plugin protocol: {0}")]
    Protocol(String),
}

/// Serves `factory` over this process's stdin and stdout until the engine
/// closes stdin. Nothing else may write to stdout: log to stderr.
///
/// # Errors
/// As [`serve`].
pub async fn serve_stdio<F: ConnectorFactory>(factory: F) -> Result<(), ServeError> {
    serve(factory, tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serves `factory` over the protocol, reading the engine's messages from
/// `reader` and writing the plugin's to `writer`, until `reader` ends.
///
/// Requests are answered one at a time, in order; `ack` and `cancel` are
/// handled as they arrive, while an import runs.
///
/// # Errors
/// [`ServeError::VersionMismatch`] when the engine speaks another protocol
/// version (after telling it so with an `error` message),
/// [`ServeError::Protocol`] when it breaks the protocol, and
/// [`ServeError::Io`] when the streams fail.
pub async fn serve<F, R, W>(factory: F, reader: R, writer: W) -> Result<(), ServeError>
where
    F: ConnectorFactory,
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let out = Mutex::new(Out {
        writer: BufWriter::with_capacity(256 * 1024, writer),
        buf: Vec::with_capacity(64 * 1024),
    });
    let shared = Shared {
        acks: watch::channel(AckState::default()).0,
        current: StdMutex::new(None),
    };
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let read = read_loop(reader, &shared, requests_tx);
    let main = main_loop(&factory, &out, &shared, requests_rx);
    tokio::pin!(read, main);
    tokio::select! {
        result = &mut main => result,
        read_result = &mut read => {
            // The engine closed its side (or broke the protocol): finish what
            // is queued, then stop.
            let main_result = main.await;
            read_result.and(main_result)
        }
    }
}

/// What the reader hands the request loop.
enum Request {
    Message(EngineMessage),
    Import {
        request: ImportRequest,
        window: u32,
        cancel: CancellationToken,
    },
    Unreadable(String),
}

#[derive(Debug, Default)]
struct AckState {
    /// Acks received this session.
    acked: u64,
    /// The first error an ack of the running import carried.
    error: Option<ConnectorError>,
    /// The engine closed its side.
    closed: bool,
}

struct Shared {
    acks: watch::Sender<AckState>,
    /// The cancellation token of the latest import request.
    current: StdMutex<Option<CancellationToken>>,
}

impl Shared {
    fn cancel_current(&self) {
        if let Some(token) = self
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            token.cancel();
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    reader: R,
    shared: &Shared,
    requests: mpsc::UnboundedSender<Request>,
) -> Result<(), ServeError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut line = Vec::new();
    let mut number = 0u64;
    let result = loop {
        line.clear();
        match read_line(&mut reader, &mut line, MAX_ENGINE_LINE).await {
            Ok(true) => {}
            Ok(false) => break Ok(()),
            Err(e) => {
                let why = format!("line {}: {e}", number + 1);
                let _ = requests.send(Request::Unreadable(why.clone()));
                break Err(ServeError::Protocol(why));
            }
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match serde_json::from_slice::<EngineMessage>(&line) {
            Ok(m) => m,
            Err(e) => {
                // Never echo the line: a validate message carries secrets.
                let why = format!(
                    "line {number} is not a protocol message ({:?} error at column {})",
                    e.classify(),
                    e.column()
                );
                let _ = requests.send(Request::Unreadable(why.clone()));
                break Err(ServeError::Protocol(why));
            }
        };
        match message {
            EngineMessage::Ack { error } => shared.acks.send_modify(|s| {
                s.acked += 1;
                if s.error.is_none() {
                    s.error = error;
                }
            }),
            EngineMessage::Cancel => shared.cancel_current(),
            EngineMessage::Import {
                mode,
                watermark,
                window,
            } => {
                let cancel = CancellationToken::new();
                *shared
                    .current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(cancel.clone());
                let _ = requests.send(Request::Import {
                    request: ImportRequest { mode, watermark },
                    window,
                    cancel,
                });
            }
            other => {
                let _ = requests.send(Request::Message(other));
            }
        }
    };
    // The engine is gone or broke the protocol: stop any running import.
    shared.cancel_current();
    shared.acks.send_modify(|s| s.closed = true);
    result
}

struct Out<W> {
    writer: BufWriter<W>,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Out<W> {
    async fn send<T: serde::Serialize>(&mut self, message: &T) -> Result<(), ServeError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, message).map_err(std::io::Error::from)?;
        self.buf.push(b'\n');
        self.writer.write_all(&self.buf).await?;
        self.writer.flush().await?;
        Ok(())
    }
}

async fn main_loop<F, W>(
    factory: &F,
    out: &Mutex<Out<W>>,
    shared: &Shared,
    mut requests: mpsc::UnboundedReceiver<Request>,
) -> Result<(), ServeError>
where
    F: ConnectorFactory,
    W: AsyncWrite + Unpin + Send,
{
    let info = factory.info();
    let mut greeted = false;
    let mut connector: Option<Box<dyn Connector>> = None;
    let mut pages_sent = 0u64;
    while let Some(request) = requests.recv().await {
        let message = match request {
            Request::Unreadable(why) => {
                let told = format!("the plugin could not read the engine's message: {why}");
                return Err(protocol_broken(out, ErrorKind::BadResponse, told, why).await);
            }
            Request::Message(EngineMessage::Hello { protocol_version }) => {
                if protocol_version != PROTOCOL_VERSION {
                    let e = ServeError::VersionMismatch {
                        engine: protocol_version,
                        plugin: PROTOCOL_VERSION,
                    };
                    tracing::error!("{e}");
                    let error = ConnectorError::new(
                        ErrorKind::Configuration,
                        format!(
                            "protocol version mismatch: the engine speaks plugin protocol version \
                             {protocol_version}, the plugin {} {} speaks version {PROTOCOL_VERSION}",
                            info.name, info.version
                        ),
                    );
                    send_error(out, error).await?;
                    return Err(e);
                }
                greeted = true;
                out.lock()
                    .await
                    .send(&PluginMessage::Hello {
                        protocol_version: PROTOCOL_VERSION,
                        connector: info.clone(),
                        lists_secrets: true,
                    })
                    .await?;
                continue;
            }
            _ if !greeted => {
                let why = "the first message must be hello".to_string();
                let told = format!("the plugin protocol starts with hello: {why}");
                return Err(protocol_broken(out, ErrorKind::Configuration, told, why).await);
            }
            Request::Message(m) => m,
            Request::Import {
                request,
                window,
                cancel,
            } => {
                let Some(connector) = connector.as_deref() else {
                    send_error(out, not_validated("import")).await?;
                    continue;
                };
                run_import(
                    connector,
                    request,
                    window,
                    cancel,
                    out,
                    shared,
                    &mut pages_sent,
                )
                .await?;
                continue;
            }
        };
        match message {
            EngineMessage::Schema => {
                out.lock()
                    .await
                    .send(&PluginMessage::Schema {
                        schema: factory.schema(),
                    })
                    .await?;
            }
            EngineMessage::Validate {
                config,
                auth_material,
                secrets,
                secret_errors,
                list_secrets,
            } => {
                // A failed or pending validate drops the previous connector.
                connector = None;
                let needed = if list_secrets {
                    match factory.secret_references(&config, &auth_material) {
                        Ok(refs) => Some(refs.iter().map(ToString::to_string).collect::<Vec<_>>()),
                        Err(error) => {
                            send_error(out, error).await?;
                            continue;
                        }
                    }
                } else {
                    None
                };
                let missing = needed.as_ref().is_some_and(|refs| {
                    refs.iter()
                        .any(|r| secrets.get(r).is_none() && !secret_errors.contains_key(r))
                });
                if missing {
                    // Not validated yet: the engine sends these and asks again.
                    let pending = PluginMessage::Validated {
                        schema: None,
                        secrets: needed,
                    };
                    out.lock().await.send(&pending).await?;
                    continue;
                }
                let resolver = WireResolver {
                    values: secrets,
                    errors: secret_errors,
                };
                match factory.validate(&config, &auth_material, &resolver).await {
                    Ok(c) => {
                        let validated = PluginMessage::Validated {
                            schema: Some(c.schema()),
                            secrets: needed,
                        };
                        connector = Some(c);
                        out.lock().await.send(&validated).await?;
                    }
                    Err(error) => send_error(out, error).await?,
                }
            }
            EngineMessage::Check => match connector.as_deref() {
                Some(c) => {
                    let checks = c.check().await;
                    out.lock()
                        .await
                        .send(&PluginMessage::Checks { checks })
                        .await?;
                }
                None => send_error(out, not_validated("check")).await?,
            },
            // Handled by the reader; never queued.
            EngineMessage::Hello { .. }
            | EngineMessage::Import { .. }
            | EngineMessage::Ack { .. }
            | EngineMessage::Cancel => {}
        }
    }
    Ok(())
}

fn not_validated(what: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Configuration,
        format!("the engine asked for {what} before a successful validate"),
    )
}

/// The engine broke the protocol: logs `why`, tells the engine `told` (an
/// error of `kind`) and returns the error that ends [`serve`].
async fn protocol_broken<W: AsyncWrite + Unpin>(
    out: &Mutex<Out<W>>,
    kind: ErrorKind,
    told: String,
    why: String,
) -> ServeError {
    tracing::error!("the engine broke the plugin protocol: {why}");
    match send_error(out, ConnectorError::new(kind, told)).await {
        Ok(()) => ServeError::Protocol(why),
        Err(e) => e,
    }
}

async fn send_error<W: AsyncWrite + Unpin>(
    out: &Mutex<Out<W>>,
    error: ConnectorError,
) -> Result<(), ServeError> {
    out.lock()
        .await
        .send(&PluginMessage::Error {
            error,
            metrics: None,
        })
        .await
}

async fn run_import<W: AsyncWrite + Unpin + Send>(
    connector: &dyn Connector,
    request: ImportRequest,
    window: u32,
    cancel: CancellationToken,
    out: &Mutex<Out<W>>,
    shared: &Shared,
    pages_sent: &mut u64,
) -> Result<(), ServeError> {
    shared.acks.send_modify(|s| s.error = None);
    let ctx = RunContext::with_cancellation(cancel);
    let mut sink = WireSink {
        out,
        shared,
        ctx: ctx.clone(),
        window: u64::from(window.max(1)),
        sent: pages_sent,
        io_error: None,
    };
    let result = {
        let import = connector.import(request, &mut sink, &ctx);
        tokio::pin!(import);
        let mut last = MetricsSnapshot::default();
        let mut tick = tokio::time::interval(METRICS_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                result = &mut import => break result,
                _ = tick.tick() => {
                    let now = ctx.metrics().snapshot();
                    // Never wait for the writer here: the sink may hold it
                    // while blocked on a full pipe, and it only moves on
                    // when this loop polls the import again.
                    if now != last {
                        if let Ok(mut out) = out.try_lock() {
                            last = now;
                            // A failed write shows up again on the next page
                            // or the run's last message.
                            let _ = out.send(&PluginMessage::Metrics { metrics: now }).await;
                        }
                    }
                }
            }
        }
    };
    if let Some(e) = sink.io_error.take() {
        return Err(e);
    }
    // Every page is acknowledged before the run's last word, so no ack of
    // this run can be mistaken for one of the next.
    let sent = *sink.sent;
    let mut acks = shared.acks.subscribe();
    let _ = acks.wait_for(|s| s.closed || s.acked >= sent).await;
    let metrics = Some(ctx.metrics().snapshot());
    let message = match result {
        Ok(outcome) => PluginMessage::Result { outcome, metrics },
        Err(error) => PluginMessage::Error { error, metrics },
    };
    out.lock().await.send(&message).await
}

/// The connector's sink inside the plugin: writes each page to the engine and
/// keeps at most `window` pages unacknowledged.
struct WireSink<'a, W> {
    out: &'a Mutex<Out<W>>,
    shared: &'a Shared,
    ctx: RunContext,
    window: u64,
    sent: &'a mut u64,
    io_error: Option<ServeError>,
}

#[async_trait]
impl<W: AsyncWrite + Unpin + Send> ChangeSink for WireSink<'_, W> {
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), ConnectorError> {
        if self.ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let sent = *self.sent;
        let window = self.window;
        let mut acks = self.shared.acks.subscribe();
        let waited = tokio::select! {
            state = acks.wait_for(|s| {
                s.closed || s.error.is_some() || sent.saturating_sub(s.acked) < window
            }) => state.map(|s| (s.error.clone(), s.closed)),
            () = self.ctx.cancelled() => return Err(ConnectorError::cancelled()),
        };
        let (error, closed) = waited.map_err(|_| {
            ConnectorError::new(ErrorKind::Transport, "the plugin's ack channel closed")
        })?;
        if let Some(error) = error {
            return Err(error);
        }
        if closed {
            return Err(ConnectorError::new(
                ErrorKind::Cancelled,
                "the engine closed the connection",
            ));
        }
        if self.ctx.is_cancelled() {
            return Err(ConnectorError::cancelled());
        }
        let page = PageOut {
            kind: "page",
            changes: &changes,
            metrics: self.ctx.metrics().snapshot(),
        };
        if let Err(e) = self.out.lock().await.send(&page).await {
            let error = ConnectorError::new(
                ErrorKind::Transport,
                format!("the plugin could not write a page to the engine: {e}"),
            );
            self.io_error = Some(e);
            return Err(error);
        }
        *self.sent += 1;
        Ok(())
    }
}

/// The secrets the engine resolved and sent with `validate`.
struct WireResolver {
    values: SecretValues,
    errors: std::collections::BTreeMap<String, WireSecretError>,
}

#[async_trait]
impl SecretResolver for WireResolver {
    async fn resolve(&self, reference: &SecretRef) -> Result<SecretString, SecretError> {
        let key = reference.to_string();
        if let Some(value) = self.values.get(&key) {
            return Ok(value.clone());
        }
        if let Some(error) = self.errors.get(&key) {
            return Err(error.to_error(&key));
        }
        Err(SecretError::NotFound {
            reference: key,
            looked_in: "the engine did not send this secret with validate (an engine that \
                        does not ask which secrets the configuration needs sends the auth \
                        material and every secret:// string written in the configuration: \
                        write this reference into the configuration, or update the engine)"
                .into(),
        })
    }
}
