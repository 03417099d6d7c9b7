//! Plugins as child processes that misbehave: they crash, hang, write
//! garbage, speak another version or ignore cancellation. Each is a small
//! `sh` script speaking just enough of the protocol.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::{Duration, Instant};

use async_trait::async_trait;
use connector_api::plugin::{PluginFactory, PluginOptions};
use connector_api::*;

const HELLO: &str = r#"{"type":"hello","protocolVersion":1,"connector":{"name":"fake","version":"0.0.1","objectTypes":["Thing"],"modes":["Full","Delta"]}}"#;
const SCHEMA: &str = r#"{"type":"schema","schema":{"objectTypes":[{"name":"Thing","anchor":"id","attributes":[{"name":"name","kind":"string","description":"display name"}]}]}}"#;
const PAGE: &str = r#"{"type":"page","changes":[{"objectType":"Thing","changeType":"Upsert","externalId":"a","attributes":{"name":"A"}}],"metrics":{"requests":1,"retries":0,"pages":0,"records":0}}"#;

/// `sh` answering hello, schema and validate, then running `then` (which
/// starts right after the engine's next request was read into `$l`).
fn script(then: &str) -> String {
    format!(
        "read l; echo '{HELLO}'; read l; echo '{SCHEMA}'; read l; echo '{{\"type\":\"validated\"}}'; read l; {then}"
    )
}

fn options() -> PluginOptions {
    PluginOptions {
        handshake_timeout: Duration::from_millis(1500),
        idle_timeout: Duration::from_millis(500),
        cancel_grace: Duration::from_millis(300),
        ..PluginOptions::default()
    }
}

async fn spawn_sh(body: &str) -> Result<PluginFactory, ConnectorError> {
    PluginFactory::spawn("sh", ["-c", body], options()).await
}

/// The connector of `factory`, validated.
async fn validated(factory: &PluginFactory) -> Box<dyn Connector> {
    factory
        .validate("{}", "none", &StaticSecrets::new())
        .await
        .unwrap()
}

/// A full import that fails.
async fn failed_import(connector: &dyn Connector) -> ConnectorError {
    connector
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap_err()
}

async fn import_through(body: &str, ctx: &RunContext, sink: &mut dyn ChangeSink) -> ConnectorError {
    let factory = spawn_sh(&script(body)).await.unwrap();
    let connector = validated(&factory).await;
    connector
        .import(ImportRequest::full(), sink, ctx)
        .await
        .expect_err("a misbehaving plugin produced an outcome")
}

#[tokio::test]
async fn a_plugin_crashing_at_startup_reports_its_exit_status_and_stderr() {
    let err = spawn_sh("read l; echo 'fatal: cannot open the config store' >&2; exit 3")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        "the plugin sh exited (exit status: 3) while answering hello; its last stderr lines: \
         fatal: cannot open the config store"
    );
}

#[tokio::test]
async fn a_plugin_that_cannot_be_started_is_a_configuration_error() {
    let err = PluginFactory::spawn(
        "/nonexistent/connector-plugin",
        Vec::<String>::new(),
        options(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(
        err.message()
            .starts_with("could not start the plugin /nonexistent/connector-plugin: "),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_crashing_mid_import_yields_an_error_not_a_watermark() {
    let mut sink = VecSink::default();
    let body =
        format!("echo '{PAGE}'; read ack; echo 'panicked at src/mapping.rs:12' >&2; exit 101");
    let err = import_through(&body, &RunContext::new(), &mut sink).await;
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        "the plugin sh exited (exit status: 101) while running an import; its last stderr \
         lines: panicked at src/mapping.rs:12"
    );
    assert_eq!(
        sink.changes.len(),
        1,
        "the page before the crash was applied"
    );
}

#[tokio::test]
async fn a_plugin_hanging_at_startup_times_out() {
    let started = Instant::now();
    let err = spawn_sh("sleep 30").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        "the plugin sh sent nothing for 1.5s while answering hello; it was stopped"
    );
}

#[tokio::test]
async fn a_plugin_hanging_mid_import_times_out_and_stays_unusable() {
    let factory = spawn_sh(&script(&format!("echo '{PAGE}'; read ack; sleep 30")))
        .await
        .unwrap();
    let connector = validated(&factory).await;
    let started = Instant::now();
    let mut sink = VecSink::default();
    let err = connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        "the plugin sh sent nothing for 500ms while running an import; it was stopped"
    );
    let again = connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Transport);
    assert!(
        again
            .message()
            .starts_with("the plugin connection is unusable after an earlier failure: "),
        "{again}"
    );
    let checks = connector.check().await;
    assert!(!checks[0].passed);
}

#[tokio::test]
async fn garbage_on_stdout_is_a_bad_response_naming_the_line() {
    let err = spawn_sh("read l; echo 'Starting connector v2 (debug build)...'; sleep 30")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse);
    assert!(
        err.message().starts_with(
            "the plugin sh wrote a line that is not a protocol message while answering hello: \
             \"Starting connector v2 (debug build)...\" ("
        ),
        "{err}"
    );

    let mut sink = VecSink::default();
    let long = "x".repeat(5000);
    let err = import_through(
        &format!("echo '{PAGE}'; read ack; echo '{long}'; sleep 30"),
        &RunContext::new(),
        &mut sink,
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::BadResponse);
    assert!(err.message().contains("while running an import"), "{err}");
    assert!(
        err.message().contains(&format!("\"{}…\"", "x".repeat(200))),
        "{err}"
    );
    assert!(err.message().len() < 600, "the line was not truncated");
}

#[tokio::test]
async fn a_change_outside_the_plugin_schema_fails_the_run() {
    let bad_page = PAGE.replace(r#""name":"A""#, r#""salary":"1""#);
    let mut sink = VecSink::default();
    let err = import_through(
        &format!("echo '{bad_page}'; read ack; echo '{{\"type\":\"error\",\"error\":{{\"kind\":\"Sink\",\"retryable\":false,\"message\":\"engine refused\"}}}}'"),
        &RunContext::new(),
        &mut sink,
    )
    .await;
    assert_eq!(err.kind(), ErrorKind::BadResponse);
    assert_eq!(
        err.message(),
        "the plugin sent a change its own schema does not allow: invalid change: attribute \
         \"salary\" is not in the schema of Thing"
    );
    assert!(sink.changes.is_empty());
}

#[tokio::test]
async fn a_plugin_speaking_another_version_is_refused_naming_both() {
    let body = format!(
        "read l; echo '{}'; sleep 30",
        HELLO.replace(r#""protocolVersion":1"#, r#""protocolVersion":2"#)
    );
    let err = spawn_sh(&body).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(!err.is_retryable());
    assert_eq!(
        err.message(),
        "protocol version mismatch: this engine speaks plugin protocol version 1, the plugin sh \
         (fake 0.0.1) speaks version 2; use a build of the plugin for protocol version 1"
    );
}

#[tokio::test]
async fn a_plugin_refusing_the_engine_version_passes_its_reason_on() {
    let body = r#"read l; echo '{"type":"error","error":{"kind":"Configuration","retryable":false,"message":"protocol version mismatch: the engine speaks plugin protocol version 1, the plugin fake 0.0.1 speaks version 2"}}'; exit 2"#;
    let err = spawn_sh(body).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert_eq!(
        err.message(),
        "protocol version mismatch: the engine speaks plugin protocol version 1, the plugin fake \
         0.0.1 speaks version 2"
    );
}

/// Cancels the run as soon as it applies its first page.
struct CancelOnFirstPage(RunContext, usize);

#[async_trait]
impl ChangeSink for CancelOnFirstPage {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.1 += 1;
        self.0.cancel();
        Ok(())
    }
}

#[tokio::test]
async fn a_plugin_ignoring_cancel_is_stopped_after_the_grace_period() {
    let ctx = RunContext::new();
    let mut sink = CancelOnFirstPage(ctx.clone(), 0);
    let started = Instant::now();
    // Keeps streaming pages and never reads the cancel.
    let body = format!("while true; do echo '{PAGE}'; sleep 0.05; done");
    let err = import_through(&body, &ctx, &mut sink).await;
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(sink.1, 1, "pages were applied after the cancel");
}

#[tokio::test]
async fn a_result_after_cancel_is_still_a_cancellation() {
    let ctx = RunContext::new();
    let mut sink = CancelOnFirstPage(ctx.clone(), 0);
    let result = r#"{"type":"result","outcome":{"watermark":"tick:99","complete":true,"counts":{},"recordErrors":[]}}"#;
    let body = format!("echo '{PAGE}'; read ack; read cancel; echo '{result}'; sleep 30");
    let err = import_through(&body, &ctx, &mut sink).await;
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[tokio::test]
async fn an_unexpected_message_is_a_bad_response() {
    let err = spawn_sh(r#"read l; echo '{"type":"validated"}'; sleep 30"#)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse);
    assert_eq!(
        err.message(),
        "the plugin sh answered hello with a validated message, which the protocol does not \
         allow there; it was stopped"
    );
}

struct RefuseFirstPage(usize);

#[async_trait]
impl ChangeSink for RefuseFirstPage {
    async fn apply(&mut self, _changes: Vec<Change>) -> Result<(), ConnectorError> {
        self.0 += 1;
        Err(ConnectorError::new(ErrorKind::Sink, "the store is full"))
    }
}

#[tokio::test]
async fn a_plugin_ignoring_a_refused_page_is_stopped_and_the_refusal_reported() {
    let mut sink = RefuseFirstPage(0);
    let started = Instant::now();
    // Reads every line (acks, the error ack, the cancel) and streams on.
    let body = format!("while true; do echo '{PAGE}'; read l; done");
    let err = import_through(&body, &RunContext::new(), &mut sink).await;
    assert_eq!(err.kind(), ErrorKind::Sink);
    assert_eq!(err.message(), "the store is full");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(sink.0, 1, "pages were applied after the refusal");
}

#[tokio::test]
async fn stderr_that_is_not_utf8_or_too_long_is_logged_and_drained_to_the_end() {
    // Before answering hello: bytes that are not UTF-8, then a line far
    // longer than both the line cap and the pipe's buffer (a reader that
    // stopped would leave this write failing or blocked), then more lines.
    let noise = "printf 'bad \\377\\376 bytes\\n' >&2; head -c 200000 /dev/zero | tr '\\0' x >&2; \
                 echo >&2; echo after-long >&2";
    let body = format!(
        "read l; {noise}; echo '{HELLO}'; read l; echo '{SCHEMA}'; read l; \
         echo '{{\"type\":\"validated\"}}'; read l; echo 'the end' >&2; exit 7"
    );
    let factory = spawn_sh(&body).await.unwrap();
    let connector = validated(&factory).await;
    let err = failed_import(connector.as_ref()).await;
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        err.message(),
        format!(
            "the plugin sh exited (exit status: 7) while running an import; its last stderr \
             lines: bad \u{fffd}\u{fffd} bytes | {}… | after-long | the end",
            "x".repeat(300)
        )
    );
}

#[tokio::test]
async fn an_error_kind_the_engine_does_not_know_keeps_its_name_and_the_session() {
    let unknown = r#"{"type":"error","error":{"kind":"SomethingNew","retryable":true,"message":"the quota resets at noon","retryAfterSeconds":30}}"#;
    let checks = r#"{"type":"checks","checks":[{"name":"list","passed":true,"message":"ok"}]}"#;
    let factory = spawn_sh(&script(&format!(
        "echo '{unknown}'; read l; echo '{checks}'; read l"
    )))
    .await
    .unwrap();
    let connector = validated(&factory).await;
    let err = failed_import(connector.as_ref()).await;
    assert_eq!(err.kind(), ErrorKind::Unknown);
    assert_eq!(err.kind_name(), "SomethingNew");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(err.to_string(), "SomethingNew: the quota resets at noon");
    // The session goes on.
    let checks = connector.check().await;
    assert_eq!(checks, vec![HealthCheck::pass("list", "ok")]);
}

#[tokio::test]
async fn fields_a_newer_plugin_adds_are_ignored() {
    // Every message, change, schema, outcome and error below carries a field
    // this engine does not know.
    let hello = HELLO.replace(r#""modes""#, r#""vendor":"acme","modes""#);
    let hello = hello.replace(
        r#"{"type":"hello","#,
        r#"{"type":"hello","capabilities":["x"],"#,
    );
    let schema = SCHEMA
        .replace(
            r#""description":"display name""#,
            r#""description":"display name","maxLength":64"#,
        )
        .replace(r#""anchor":"id","#, r#""anchor":"id","plural":"Things","#);
    let validated_answer = r#"{"type":"validated","warnings":[]}"#;
    let page = r#"{"type":"page","changes":[{"objectType":"Thing","changeType":"Upsert","externalId":"a","attributes":{"name":"A"},"sourceVersion":7}],"metrics":{"requests":1,"retries":0,"pages":0,"records":0,"bytes":100},"sequence":1}"#;
    let result = r#"{"type":"result","outcome":{"watermark":"tick:1","complete":true,"counts":{"Thing":{"Upsert":1,"Delete":0}},"recordErrors":[],"warnings":[],"durationMs":5},"metrics":{"requests":1,"retries":0,"pages":1,"records":1},"final":true}"#;
    let body = format!(
        "read l; echo '{hello}'; read l; echo '{schema}'; read l; echo '{validated_answer}'; read l; \
         echo '{page}'; read ack; echo '{result}'; read l"
    );
    let factory = spawn_sh(&body).await.unwrap();
    assert_eq!(
        factory.info().modes,
        vec![ImportMode::Full, ImportMode::Delta]
    );
    let connector = validated(&factory).await;
    let mut sink = VecSink::default();
    let outcome = connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(outcome.watermark.as_deref(), Some("tick:1"));
    assert_eq!(outcome.counts.total(), 1);
    let mut expected = Change::new("Thing", "a", ChangeKind::Upsert);
    expected
        .attributes
        .insert("name".into(), Value::String("A".into()));
    assert_eq!(sink.changes, vec![expected]);
}

#[tokio::test]
async fn metrics_of_any_size_reach_the_engine_whole() {
    let metrics = r#"{"type":"metrics","metrics":{"requests":5000000,"retries":2000000,"pages":3000000,"records":300000000}}"#;
    let result = r#"{"type":"result","outcome":{"watermark":"tick:1","complete":true,"counts":{},"recordErrors":[]},"metrics":{"requests":5000001,"retries":2000000,"pages":3000000,"records":300000000}}"#;
    let factory = spawn_sh(&script(&format!(
        "echo '{metrics}'; echo '{result}'; read l"
    )))
    .await
    .unwrap();
    let connector = validated(&factory).await;
    let ctx = RunContext::new();
    connector
        .import(ImportRequest::full(), &mut VecSink::default(), &ctx)
        .await
        .unwrap();
    assert_eq!(
        ctx.metrics().snapshot(),
        MetricsSnapshot {
            requests: 5_000_001,
            retries: 2_000_000,
            pages: 3_000_000,
            records: 300_000_000,
        }
    );
}

#[tokio::test]
async fn the_validated_answer_carries_the_configured_schema() {
    // The plugin's general schema anchors Thing on id; configured, on code.
    let configured = r#"{"type":"validated","schema":{"objectTypes":[{"name":"Thing","anchor":"code","attributes":[{"name":"name","kind":"string","description":"display name"},{"name":"code","kind":"string","description":"the anchor"}]}]}}"#;
    let page = PAGE.replace(r#""name":"A""#, r#""name":"A","code":"T-1""#);
    let body = format!(
        "read l; echo '{HELLO}'; read l; echo '{SCHEMA}'; read l; echo '{configured}'; read l; \
         echo '{page}'; read ack; echo '{{\"type\":\"result\",\"outcome\":{{\"watermark\":\"w\",\"complete\":true,\"counts\":{{}},\"recordErrors\":[]}}}}'; read l"
    );
    let factory = spawn_sh(&body).await.unwrap();
    assert_eq!(factory.schema().object_types[0].anchor, "id");
    let connector = validated(&factory).await;
    let schema = connector.schema();
    assert_eq!(schema.object_types[0].anchor, "code");
    // Pages are typed with the configured schema (which has `code`).
    let mut sink = VecSink::default();
    connector
        .import(ImportRequest::full(), &mut sink, &RunContext::new())
        .await
        .unwrap();
    assert_eq!(
        sink.changes[0].attributes.get("code"),
        Some(&Value::String("T-1".into()))
    );
}

// --- Which secrets the engine sends (docs/plugin-protocol.md, `validate`) ---

/// A file in the temp directory the plugin scripts write the `validate`
/// lines they receive to, removed on drop.
struct Received(std::path::PathBuf);

impl Received {
    fn new(name: &str) -> Self {
        Self(std::env::temp_dir().join(format!(
            "idmesh-plugin-validate-{}-{name}",
            std::process::id()
        )))
    }

    /// The path, for the script.
    fn path(&self) -> String {
        self.0.display().to_string()
    }

    /// The lines written, as JSON.
    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.0)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const CONFIG_NAMING_ONE: &str = r#"{"k":{"deep":"secret://t/nested"}}"#;

fn resolver() -> StaticSecrets {
    StaticSecrets::new()
        .with("secret://t/auth", "a1")
        .with("secret://t/nested", "n1")
        .with("secret://t/default", "d1")
}

#[tokio::test]
async fn an_older_plugin_gets_every_named_secret_in_one_validate() {
    // Its hello has no listsSecrets; its validated no secrets.
    let got = Received::new("older");
    let body = format!(
        "read l; echo '{HELLO}'; read l; echo '{SCHEMA}'; read -r l; printf '%s\\n' \"$l\" >> {}; \
         echo '{{\"type\":\"validated\"}}'; read l",
        got.path()
    );
    let factory = spawn_sh(&body).await.unwrap();
    let connector = factory
        .validate(CONFIG_NAMING_ONE, "secret://t/auth", &resolver())
        .await
        .unwrap();
    assert_eq!(connector.schema(), factory.schema());
    let lines = got.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        lines[0]["secrets"],
        serde_json::json!({"secret://t/auth": "a1", "secret://t/nested": "n1"})
    );
    assert_eq!(lines[0].get("listSecrets"), None);
}

#[tokio::test]
async fn a_plugin_that_lists_secrets_gets_exactly_those() {
    // The first validate carries none; the plugin lists a reference the
    // configuration does not name (its default); the second carries exactly it.
    let hello = HELLO.replace(
        r#""modes":["Full","Delta"]}"#,
        r#""modes":["Full","Delta"]},"listsSecrets":true"#,
    );
    assert!(hello.contains("listsSecrets"));
    let listed = r#"{"type":"validated","secrets":["secret://t/default"]}"#;
    let got = Received::new("lists");
    let body = format!(
        "read l; echo '{hello}'; read l; echo '{SCHEMA}'; \
         read -r l; printf '%s\\n' \"$l\" >> {f}; echo '{listed}'; \
         read -r l; printf '%s\\n' \"$l\" >> {f}; echo '{listed}'; read l",
        f = got.path()
    );
    let factory = spawn_sh(&body).await.unwrap();
    factory
        .validate(CONFIG_NAMING_ONE, "secret://t/auth", &resolver())
        .await
        .unwrap();
    let lines = got.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["listSecrets"], true);
    assert_eq!(
        lines[0]["secrets"],
        serde_json::json!({}),
        "nothing before the list"
    );
    assert_eq!(lines[1]["listSecrets"], true);
    assert_eq!(
        lines[1]["secrets"],
        serde_json::json!({"secret://t/default": "d1"}),
        "exactly the listed secret: not the auth material, not the named one"
    );

    // A secret the engine cannot resolve is sent as an error, not left out.
    let got = Received::new("lists-missing");
    let body = body.replace(&Received::new("lists").path(), &got.path());
    let factory = spawn_sh(&body).await.unwrap();
    factory
        .validate(CONFIG_NAMING_ONE, "secret://t/auth", &StaticSecrets::new())
        .await
        .unwrap();
    let lines = got.lines();
    assert_eq!(lines[1]["secrets"], serde_json::json!({}));
    assert_eq!(
        lines[1]["secretErrors"]["secret://t/default"]["kind"],
        "NotFound"
    );
}

#[tokio::test]
async fn a_listing_plugin_may_answer_validated_without_secrets() {
    // An answer in the older form (no `secrets`) means the connector is ready.
    let hello = HELLO.replace(
        r#""modes":["Full","Delta"]}"#,
        r#""modes":["Full","Delta"]},"listsSecrets":true"#,
    );
    let got = Received::new("plain-answer");
    let body = format!(
        "read l; echo '{hello}'; read l; echo '{SCHEMA}'; read -r l; printf '%s\\n' \"$l\" >> {}; \
         echo '{{\"type\":\"validated\"}}'; read l; {}",
        got.path(),
        "echo '{\"type\":\"result\",\"outcome\":{\"watermark\":\"w\",\"complete\":true,\"counts\":{},\"recordErrors\":[]}}'; read l"
    );
    let factory = spawn_sh(&body).await.unwrap();
    let connector = factory
        .validate(CONFIG_NAMING_ONE, "secret://t/auth", &resolver())
        .await
        .unwrap();
    let lines = got.lines();
    assert_eq!(lines.len(), 1, "one validate: {lines:?}");
    assert_eq!(lines[0]["secrets"], serde_json::json!({}));
    let outcome = connector
        .import(
            ImportRequest::full(),
            &mut VecSink::default(),
            &RunContext::new(),
        )
        .await
        .unwrap();
    assert_eq!(outcome.watermark.as_deref(), Some("w"));
}

#[tokio::test]
async fn a_plugin_that_keeps_asking_for_secrets_is_stopped() {
    let hello = HELLO.replace(
        r#""modes":["Full","Delta"]}"#,
        r#""modes":["Full","Delta"]},"listsSecrets":true"#,
    );
    let first = r#"{"type":"validated","secrets":["secret://t/default"]}"#;
    let more = r#"{"type":"validated","secrets":["secret://t/default","secret://t/more"]}"#;
    let body = format!(
        "read l; echo '{hello}'; read l; echo '{SCHEMA}'; read l; echo '{first}'; read l; echo '{more}'; read l"
    );
    let factory = spawn_sh(&body).await.unwrap();
    let err = factory
        .validate(CONFIG_NAMING_ONE, "secret://t/auth", &resolver())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse);
    assert!(
        err.message().starts_with("the plugin sh listed the secrets secret://t/default, secret://t/more after it was sent the ones it asked for (secret://t/default)"),
        "{}",
        err.message()
    );
}
