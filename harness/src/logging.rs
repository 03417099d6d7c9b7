//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `warn`), as
//! text or JSON lines, with every known secret value redacted.
//!
//! Redaction runs on each finished line, after the formatter has escaped
//! it, and the [`Redactor`] knows every escaped form of each secret (JSON
//! string escapes, Rust `{:?}` escapes, control-character escapes, and
//! their combinations). Redacting field values before formatting instead
//! would need our own text and JSON formatters and would still meet text
//! escaped inside a value's own `Debug` (a struct holding a response body),
//! so the escaped forms would be needed anyway; scrubbing the finished line
//! covers messages, fields, spans and both formats in one place.

use std::io::Write;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::secrets::Redactor;

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// `RUST_LOG` is not a valid filter.
    #[error(
        "RUST_LOG is not a valid filter ({0}); use e.g. RUST_LOG=info or RUST_LOG=harness=debug"
    )]
    Filter(String),
    /// A global subscriber was already installed.
    #[error("logging was already initialised")]
    AlreadySet,
}

/// Installs the global subscriber: stderr, `RUST_LOG` (default `warn`),
/// `format`, and a writer that replaces every value `redactor` knows.
///
/// # Errors
/// [`LoggingError`] when `RUST_LOG` is invalid or a subscriber is already set.
pub fn init(format: LogFormat, redactor: Redactor) -> Result<(), LoggingError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| LoggingError::Filter(e.to_string()))?
        }
        _ => EnvFilter::new("warn"),
    };
    subscriber(format, filter, RedactingStderr::new(redactor))
        .try_init()
        .map_err(|_| LoggingError::AlreadySet)
}

/// The subscriber [`init`] installs, writing to `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().finish()),
    }
}

/// A [`MakeWriter`] to stderr that redacts secrets from each log line.
#[derive(Debug, Clone)]
pub struct RedactingStderr {
    redactor: Redactor,
    sink: Sink,
}

/// Where redacted lines go: stderr, or a buffer (tests).
#[derive(Debug, Clone)]
enum Sink {
    Stderr,
    #[cfg(test)]
    Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

impl RedactingStderr {
    /// A writer scrubbing what `redactor` knows.
    pub fn new(redactor: Redactor) -> Self {
        Self {
            redactor,
            sink: Sink::Stderr,
        }
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
            sink: self.sink.clone(),
        }
    }
}

/// Writes one formatted event to stderr, redacted.
#[derive(Debug)]
pub struct RedactingWriter {
    redactor: Redactor,
    sink: Sink,
}

impl RedactingWriter {
    fn write_out(&self, bytes: &[u8]) -> std::io::Result<()> {
        match &self.sink {
            Sink::Stderr => std::io::stderr().lock().write_all(bytes),
            #[cfg(test)]
            Sink::Buffer(buf) => {
                buf.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer formats each event into one buffer and writes it in
        // one call, so a secret never straddles two writes.
        let text = String::from_utf8_lossy(buf);
        if self.redactor.contains_secret(&text) {
            self.write_out(self.redactor.redact(&text).as_bytes())?;
        } else {
            self.write_out(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &self.sink {
            Sink::Stderr => std::io::stderr().flush(),
            #[cfg(test)]
            Sink::Buffer(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use secrecy::SecretString;

    use super::*;

    /// Holds a secret inside its `Debug`, as a response body might.
    #[derive(Debug)]
    #[allow(dead_code)] // read only through Debug
    struct Body {
        text: String,
    }

    /// A secret with a quote, a backslash, a newline, a tab, a non-ASCII
    /// character and an escape character.
    const SECRET: &str = "Qz\"quote\\back\nline\ttab-\u{e9}t\u{e9}-\u{1b}-CANARY";

    fn log_everything(format: LogFormat) -> String {
        let redactor = Redactor::new();
        redactor.add(&SecretString::from(SECRET));
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = RedactingStderr {
            redactor,
            sink: Sink::Buffer(Arc::clone(&buf)),
        };
        let sub = subscriber(format, EnvFilter::new("trace"), writer);
        tracing::subscriber::with_default(sub, || {
            tracing::info!("message {SECRET}");
            tracing::info!(value = %SECRET, "display field");
            tracing::info!(value = ?SECRET, "debug field");
            tracing::info!(value = SECRET, "str field");
            let body = Body {
                text: format!("before {SECRET} after"),
            };
            tracing::info!(body = ?body, "nested debug field");
            tracing::info!("nested debug message {body:?}");
            let err = std::io::Error::other(format!("failed: {SECRET}"));
            tracing::warn!(error = &err as &dyn std::error::Error, "error field");
            let span = tracing::info_span!("request", token = %SECRET);
            let _entered = span.enter();
            tracing::info!("inside a span");
        });
        let bytes = buf.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn assert_redacted(out: &str) {
        assert!(!out.contains("CANARY"), "a secret survived:\n{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 8, "{out}");
        for line in lines {
            assert!(line.contains(REDACTED), "{line}");
        }
    }

    use crate::secrets::REDACTED;

    #[test]
    fn text_logs_never_hold_a_secret_in_any_escaped_form() {
        assert_redacted(&log_everything(LogFormat::Text));
    }

    #[test]
    fn json_logs_never_hold_a_secret_in_any_escaped_form() {
        let out = log_everything(LogFormat::Json);
        assert_redacted(&out);
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.is_object(), "{line}");
        }
    }
}
