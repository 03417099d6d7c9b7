//! The plugin protocol end to end over in-memory pipes: the in-memory
//! connector served with `serve` and driven through `PluginFactory`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod plugin_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use connector_api::contract;
use connector_api::plugin::{
    serve, EngineMessage, PluginMessage, PluginOptions, ServeError, PROTOCOL_VERSION,
};
use connector_api::*;
use plugin_support::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn options() -> PluginOptions {
    PluginOptions {
        handshake_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        cancel_grace: Duration::from_secs(2),
        ..PluginOptions::default()
    }
}

#[tokio::test]
async fn the_memory_connector_passes_the_contract_kit_through_the_protocol() {
    let source = MemorySource::with_objects(7);
    let fixture = PluginFixture {
        factory: duplex_plugin(source.clone(), options()).await,
        source,
        page_size: 2,
    };
    contract::run_all(&fixture).await;
}

#[tokio::test]
async fn the_contract_kit_passes_with_a_window_of_one() {
    let source = MemorySource::with_objects(7);
    let fixture = PluginFixture {
        factory: duplex_plugin(
            source.clone(),
            PluginOptions {
                window: 1,
                ..options()
            },
        )
        .await,
        source,
        page_size: 2,
    };
    contract::run_all(&fixture).await;
}

#[tokio::test]
async fn hello_carries_the_connector_info_and_schema() {
    let factory = duplex_plugin(MemorySource::with_objects(3), options()).await;
    let info = factory.info();
    assert_eq!(info.name, "memory");
    assert_eq!(info.version, "1.2.3");
    assert_eq!(info.modes, vec![ImportMode::Full, ImportMode::Delta]);
    assert_eq!(factory.schema(), schema());
    let connector = factory
        .validate(&config(2), AUTH, &engine_secrets())
        .await
        .unwrap();
    assert_eq!(connector.schema(), schema());
    let checks = connector.check().await;
    assert_eq!(
        checks,
        vec![HealthCheck::pass("list", "Successfully listed objects")]
    );
}

#[tokio::test]
async fn configuration_errors_cross_the_protocol_with_their_problems() {
    let factory = duplex_plugin(MemorySource::with_objects(3), options()).await;
    let err = factory
        .validate(&config(500), AUTH, &engine_secrets())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(!err.is_retryable());
    assert_eq!(err.problems().len(), 1);
    assert_eq!(err.problems()[0].key, "PageSize");
    assert_eq!(
        err.to_string(),
        "Configuration: invalid configuration: PageSize: must be between 1 and 100, got 500"
    );
    // The factory stays usable: a new session for the next validate.
    factory
        .validate(&config(2), AUTH, &engine_secrets())
        .await
        .unwrap();
}

#[tokio::test]
async fn secrets_are_resolved_by_the_engine_and_never_printed() {
    let factory = duplex_plugin(MemorySource::with_objects(3), options()).await;
    // Both the auth material and the secret:// string nested in the config
    // reach the plugin (the memory factory checks their values).
    let connector = factory
        .validate(&config(2), AUTH, &engine_secrets())
        .await
        .unwrap();
    for printed in [format!("{factory:?}"), format!("{connector:?}")] {
        assert!(!printed.contains(AUTH_VALUE), "{printed}");
        assert!(!printed.contains(TOKEN_VALUE), "{printed}");
    }
    // A reference the engine cannot resolve fails in the plugin with the
    // engine's reason.
    let partial = StaticSecrets::new().with(AUTH, AUTH_VALUE);
    let err = factory
        .validate(&config(2), AUTH, &partial)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Secret);
    assert_eq!(
        err.message(),
        "secret secret://memory/test/token could not be resolved: the in-memory secret set has no such reference"
    );
}

#[tokio::test]
async fn metrics_are_forwarded_into_the_engine_context() {
    let factory = duplex_plugin(MemorySource::with_objects(7), options()).await;
    let connector = factory
        .validate(&config(2), AUTH, &engine_secrets())
        .await
        .unwrap();
    let ctx = RunContext::new();
    let mut sink = VecSink::default();
    let outcome = connector
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 7);
    assert_eq!(sink.pages, 4);
    assert_eq!(outcome.counts.total(), 7);
    assert_eq!(outcome.watermark.as_deref(), Some("tick:7"));
    assert_eq!(
        ctx.metrics().snapshot(),
        MetricsSnapshot {
            requests: 5,
            retries: 0,
            pages: 4,
            records: 7
        }
    );
}

/// Applies slowly, and records how far ahead of it the connector got.
struct SlowSink {
    source: Arc<MemorySource>,
    applied: Arc<AtomicU64>,
    max_ahead: Arc<AtomicU64>,
}

#[async_trait]
impl ChangeSink for SlowSink {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Pages the connector got rid of (this one included) beyond those
        // the engine finished applying.
        let ahead = self
            .source
            .delivered
            .load(Ordering::SeqCst)
            .saturating_sub(self.applied.load(Ordering::SeqCst));
        self.max_ahead.fetch_max(ahead, Ordering::SeqCst);
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn back_pressure_keeps_the_plugin_within_its_window() {
    for window in [1u32, 3] {
        let source = MemorySource::with_objects(40);
        let factory = duplex_plugin(
            source.clone(),
            PluginOptions {
                window,
                ..options()
            },
        )
        .await;
        let connector = factory
            .validate(&config(1), AUTH, &engine_secrets())
            .await
            .unwrap();
        let applied = Arc::new(AtomicU64::new(0));
        let max_ahead = Arc::new(AtomicU64::new(0));
        let mut sink = SlowSink {
            source: source.clone(),
            applied: applied.clone(),
            max_ahead: max_ahead.clone(),
        };
        connector
            .import(ImportRequest::full(), &mut sink, &RunContext::new())
            .await
            .unwrap();
        assert_eq!(applied.load(Ordering::SeqCst), 40);
        // The connector had its page accepted at most `window` pages ahead of
        // what the engine had applied (and, with a slow engine, got that far).
        assert_eq!(max_ahead.load(Ordering::SeqCst), u64::from(window));
    }
}

/// Cancels the run from outside while it streams, after `after` pages.
struct CancelAfter {
    ctx: RunContext,
    after: usize,
    pages: usize,
    pages_after_cancel: usize,
}

#[async_trait]
impl ChangeSink for CancelAfter {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        if self.ctx.is_cancelled() {
            self.pages_after_cancel += 1;
        }
        self.pages += 1;
        if self.pages == self.after {
            let ctx = self.ctx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                ctx.cancel();
            });
        }
        Ok(())
    }
}

#[tokio::test]
async fn cancellation_mid_import_ends_cancelled_and_the_connector_stays_usable() {
    let source = MemorySource::with_objects(50);
    source.page_delay_ms.store(10, Ordering::SeqCst);
    let factory = duplex_plugin(source.clone(), options()).await;
    let connector = factory
        .validate(&config(1), AUTH, &engine_secrets())
        .await
        .unwrap();
    let ctx = RunContext::new();
    let mut sink = CancelAfter {
        ctx: ctx.clone(),
        after: 3,
        pages: 0,
        pages_after_cancel: 0,
    };
    let started = std::time::Instant::now();
    let err = connector
        .import(ImportRequest::full(), &mut sink, &ctx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(sink.pages_after_cancel, 0);
    assert!(
        sink.pages < 10,
        "{} pages before the cancel took",
        sink.pages
    );
    // The plugin ended the run itself, so the same session runs the next one.
    source.page_delay_ms.store(0, Ordering::SeqCst);
    let mut sink = VecSink::default();
    let outcome = connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 50);
    assert!(outcome.watermark.is_some());
}

struct RefusingSink {
    pages: usize,
}

#[async_trait]
impl ChangeSink for RefusingSink {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.pages += 1;
        if self.pages == 2 {
            return Err(ConnectorError::new(ErrorKind::Sink, "the store is full"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_sink_failure_ends_the_run_with_that_error_and_no_watermark() {
    let factory = duplex_plugin(MemorySource::with_objects(20), options()).await;
    let connector = factory
        .validate(&config(1), AUTH, &engine_secrets())
        .await
        .unwrap();
    let mut sink = RefusingSink { pages: 0 };
    let err = connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sink);
    assert_eq!(err.message(), "the store is full");
    assert_eq!(sink.pages, 2, "pages in flight were not applied");
    // The session is still in step.
    let mut sink = VecSink::default();
    connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(sink.changes.len(), 20);
}

// --- The plugin side, spoken to by hand -----------------------------------

struct RawEngine {
    to_plugin: tokio::io::WriteHalf<tokio::io::DuplexStream>,
    from_plugin: tokio::io::Lines<BufReader<tokio::io::ReadHalf<tokio::io::DuplexStream>>>,
    served: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl RawEngine {
    fn start(source: Arc<MemorySource>) -> Self {
        let (engine_end, plugin_end) = tokio::io::duplex(1 << 20);
        let (plugin_read, plugin_write) = tokio::io::split(plugin_end);
        let (engine_read, engine_write) = tokio::io::split(engine_end);
        let served = tokio::spawn(serve(MemoryFactory { source }, plugin_read, plugin_write));
        Self {
            to_plugin: engine_write,
            from_plugin: BufReader::new(engine_read).lines(),
            served,
        }
    }

    async fn send_line(&mut self, line: &str) {
        self.to_plugin.write_all(line.as_bytes()).await.unwrap();
        self.to_plugin.write_all(b"\n").await.unwrap();
        self.to_plugin.flush().await.unwrap();
    }

    async fn send(&mut self, message: &EngineMessage) {
        self.send_line(&serde_json::to_string(message).unwrap())
            .await;
    }

    async fn next(&mut self) -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.from_plugin.next_line())
            .await
            .expect("the plugin said nothing")
            .unwrap()
            .expect("the plugin closed its output");
        serde_json::from_str(&line).unwrap()
    }

    /// The next message that is not a metrics report.
    async fn next_not_metrics(&mut self) -> serde_json::Value {
        loop {
            let m = self.next().await;
            if m["type"] != "metrics" {
                return m;
            }
        }
    }

    async fn silent_for(&mut self, wait: Duration) -> bool {
        loop {
            match tokio::time::timeout(wait, self.from_plugin.next_line()).await {
                Err(_) => return true,
                Ok(Ok(Some(line))) if line.contains(r#""type":"metrics""#) => continue,
                Ok(_) => return false,
            }
        }
    }
}

#[tokio::test]
async fn the_plugin_refuses_another_protocol_version_and_says_why() {
    let mut engine = RawEngine::start(MemorySource::with_objects(1));
    engine
        .send_line(r#"{"type":"hello","protocolVersion":99}"#)
        .await;
    let answer = engine.next().await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["error"]["kind"], "Configuration");
    assert_eq!(answer["error"]["retryable"], false);
    assert_eq!(
        answer["error"]["message"],
        format!(
            "protocol version mismatch: the engine speaks plugin protocol version 99, \
             the plugin memory 1.2.3 speaks version {PROTOCOL_VERSION}"
        )
    );
    let served = engine.served.await.unwrap();
    match served {
        Err(e @ ServeError::VersionMismatch { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "protocol version mismatch: the engine speaks plugin protocol version 99, \
                 this plugin speaks version {PROTOCOL_VERSION}"
            )
        ),
        other => panic!("expected a version mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn the_plugin_wants_hello_first_and_readable_lines() {
    let mut engine = RawEngine::start(MemorySource::with_objects(1));
    engine.send_line(r#"{"type":"check"}"#).await;
    let answer = engine.next().await;
    assert_eq!(answer["type"], "error");
    assert!(matches!(
        engine.served.await.unwrap(),
        Err(ServeError::Protocol(_))
    ));

    let mut engine = RawEngine::start(MemorySource::with_objects(1));
    engine
        .send(&EngineMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await;
    assert_eq!(engine.next().await["type"], "hello");
    engine
        .send_line("this is not json, and has a secret s3cret")
        .await;
    let answer = engine.next().await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["error"]["kind"], "BadResponse");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("line 2 is not a protocol message"),
        "{message}"
    );
    assert!(!message.contains("s3cret"), "{message}");
    assert!(matches!(
        engine.served.await.unwrap(),
        Err(ServeError::Protocol(_))
    ));
}

#[tokio::test]
async fn the_plugin_sends_no_more_than_the_window_ahead_of_acks() {
    let mut engine = RawEngine::start(MemorySource::with_objects(10));
    engine
        .send(&EngineMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await;
    let hello = engine.next().await;
    assert_eq!(hello["protocolVersion"], PROTOCOL_VERSION);
    assert_eq!(hello["connector"]["name"], "memory");
    let validate = serde_json::json!({
        "type": "validate",
        "config": config(1),
        "authMaterial": AUTH,
        "secrets": { AUTH: AUTH_VALUE, TOKEN: TOKEN_VALUE },
    });
    engine.send_line(&validate.to_string()).await;
    // The validated answer carries the configured connector's schema.
    assert_eq!(
        engine.next().await,
        serde_json::json!({"type": "validated", "schema": schema()})
    );
    engine
        .send_line(r#"{"type":"import","mode":"Full","watermark":null,"window":2}"#)
        .await;
    for _ in 0..2 {
        let page = engine.next_not_metrics().await;
        assert_eq!(page["type"], "page");
        assert_eq!(page["changes"].as_array().unwrap().len(), 1);
    }
    assert!(
        engine.silent_for(Duration::from_millis(300)).await,
        "the plugin ran ahead of its window"
    );
    let (mut pages, mut outstanding) = (2, 2);
    let result = loop {
        engine.send_line(r#"{"type":"ack"}"#).await;
        outstanding -= 1;
        if pages < 10 {
            let page = engine.next_not_metrics().await;
            assert_eq!(page["type"], "page", "{page}");
            pages += 1;
            outstanding += 1;
            assert!(
                engine.silent_for(Duration::from_millis(50)).await,
                "one ack let more than one page through"
            );
        } else if outstanding == 0 {
            break engine.next_not_metrics().await;
        } else {
            // The run is over but not every page is acknowledged yet: the
            // plugin holds its last word back.
            assert!(engine.silent_for(Duration::from_millis(50)).await);
        }
    };
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["outcome"]["watermark"], "tick:10");
    assert_eq!(result["outcome"]["complete"], true);
    assert_eq!(result["outcome"]["counts"]["Thing"]["Upsert"], 10);
    assert_eq!(result["metrics"]["pages"], 10);
    assert_eq!(pages, 10);
    engine.to_plugin.shutdown().await.unwrap();
    engine.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn cancel_is_heard_while_the_plugin_waits_for_an_ack() {
    let mut engine = RawEngine::start(MemorySource::with_objects(10));
    engine
        .send(&EngineMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await;
    engine.next().await;
    let validate = serde_json::json!({
        "type": "validate", "config": config(1), "authMaterial": AUTH,
        "secrets": { AUTH: AUTH_VALUE, TOKEN: TOKEN_VALUE },
    });
    engine.send_line(&validate.to_string()).await;
    engine.next().await;
    engine
        .send_line(r#"{"type":"import","mode":"Full","window":1}"#)
        .await;
    assert_eq!(engine.next_not_metrics().await["type"], "page");
    engine.send(&EngineMessage::Cancel).await;
    // The page still gets its ack; then the run ends cancelled.
    engine.send(&EngineMessage::Ack { error: None }).await;
    let end = engine.next_not_metrics().await;
    assert_eq!(end["type"], "error", "{end}");
    assert_eq!(end["error"]["kind"], "Cancelled");
    engine.to_plugin.shutdown().await.unwrap();
    engine.served.await.unwrap().unwrap();
}

#[tokio::test]
async fn plugin_messages_have_their_documented_form() {
    let m: PluginMessage = serde_json::from_str(
        r#"{"type":"error","error":{"kind":"RateLimit","retryable":true,"message":"slow down","retryAfterSeconds":2.0}}"#,
    )
    .unwrap();
    let PluginMessage::Error { error, metrics } = m else {
        panic!("not an error")
    };
    assert_eq!(error.kind(), ErrorKind::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(metrics, None);
    let import = EngineMessage::Import {
        mode: ImportMode::Delta,
        watermark: Some("w1".into()),
        window: 8,
    };
    assert_eq!(
        serde_json::to_string(&import).unwrap(),
        r#"{"type":"import","mode":"Delta","watermark":"w1","window":8}"#
    );
    let ack: EngineMessage = serde_json::from_str(r#"{"type":"ack"}"#).unwrap();
    assert_eq!(ack, EngineMessage::Ack { error: None });
}

/// Hello and a successful validate (page size 1) on a raw engine.
async fn greeted_and_validated(engine: &mut RawEngine) {
    engine
        .send(&EngineMessage::Hello {
            protocol_version: PROTOCOL_VERSION,
        })
        .await;
    assert_eq!(engine.next().await["type"], "hello");
    let validate = serde_json::json!({
        "type": "validate",
        "config": config(1),
        "authMaterial": AUTH,
        "secrets": { AUTH: AUTH_VALUE, TOKEN: TOKEN_VALUE },
    });
    engine.send_line(&validate.to_string()).await;
    assert_eq!(engine.next().await["type"], "validated");
}

/// docs/plugin-protocol.md, "Validated state": a failed validate drops the
/// connector a successful one made; check and import then say why.
#[tokio::test]
async fn a_failed_validate_drops_the_previous_connector() {
    let mut engine = RawEngine::start(MemorySource::with_objects(3));
    greeted_and_validated(&mut engine).await;
    engine.send_line(r#"{"type":"check"}"#).await;
    assert_eq!(engine.next().await["type"], "checks");

    let bad = serde_json::json!({
        "type": "validate",
        "config": config(500),
        "authMaterial": AUTH,
        "secrets": { AUTH: AUTH_VALUE, TOKEN: TOKEN_VALUE },
    });
    engine.send_line(&bad.to_string()).await;
    let answer = engine.next().await;
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["error"]["kind"], "Configuration");

    for (request, what) in [
        (r#"{"type":"check"}"#, "check"),
        (r#"{"type":"import","mode":"Full"}"#, "import"),
    ] {
        engine.send_line(request).await;
        let answer = engine.next().await;
        assert_eq!(
            answer,
            serde_json::json!({"type": "error", "error": {
                "kind": "Configuration",
                "retryable": false,
                "message": format!("the engine asked for {what} before a successful validate"),
            }})
        );
    }
    engine.to_plugin.shutdown().await.unwrap();
    engine.served.await.unwrap().unwrap();
}

/// docs/plugin-protocol.md, "Required fields": `window` 0 acts as 1 (one
/// page ahead of the acks, never none, so the run cannot stall).
#[tokio::test]
async fn a_window_of_zero_acts_as_one() {
    let mut engine = RawEngine::start(MemorySource::with_objects(3));
    greeted_and_validated(&mut engine).await;
    engine
        .send_line(r#"{"type":"import","mode":"Full","window":0}"#)
        .await;
    for n in 1..=3 {
        let page = engine.next_not_metrics().await;
        assert_eq!(page["type"], "page", "{page}");
        assert!(
            engine.silent_for(Duration::from_millis(100)).await,
            "page {n}: more than one page ahead of the acks"
        );
        engine.send_line(r#"{"type":"ack"}"#).await;
    }
    let result = engine.next_not_metrics().await;
    assert_eq!(result["type"], "result", "{result}");
    assert_eq!(result["outcome"]["counts"]["Thing"]["Upsert"], 3);
    engine.to_plugin.shutdown().await.unwrap();
    engine.served.await.unwrap().unwrap();
}
