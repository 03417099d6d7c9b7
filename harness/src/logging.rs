//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default `warn`), as
//! text or JSON lines, with every known secret value redacted.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
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
    let writer = RedactingStderr { redactor };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|_| LoggingError::AlreadySet)
}

/// A [`MakeWriter`] to stderr that redacts secrets from each log line.
#[derive(Debug, Clone)]
pub struct RedactingStderr {
    redactor: Redactor,
}

impl RedactingStderr {
    /// A writer scrubbing what `redactor` knows.
    pub fn new(redactor: Redactor) -> Self {
        Self { redactor }
    }
}

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
        }
    }
}

/// Writes one formatted event to stderr, redacted.
#[derive(Debug)]
pub struct RedactingWriter {
    redactor: Redactor,
}

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The fmt layer formats each event into one buffer and writes it in
        // one call, so a secret never straddles two writes.
        let text = String::from_utf8_lossy(buf);
        let mut err = std::io::stderr().lock();
        if self.redactor.contains_secret(&text) {
            err.write_all(self.redactor.redact(&text).as_bytes())?;
        } else {
            err.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
