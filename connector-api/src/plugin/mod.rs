//! The out-of-process form of the contract: a versioned JSON-lines protocol
//! over a plugin process's stdin and stdout, so that an engine written in any
//! language can load a connector, and a connector can be written in any
//! language (the way LSP servers, Terraform providers and Singer taps load).
//!
//! - A plugin serves a [`ConnectorFactory`](crate::ConnectorFactory) with
//!   [`serve_stdio`] (or [`serve`] over any byte stream).
//! - An engine loads a plugin with [`PluginFactory::spawn`], which implements
//!   [`ConnectorFactory`](crate::ConnectorFactory) over the protocol: it drives
//!   an out-of-process connector exactly like an in-process one.
//!
//! The messages are [`EngineMessage`] and [`PluginMessage`]; the protocol,
//! its versioning rule and how to write a plugin in another language are in
//! `docs/plugin-protocol.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), connector_api::ConnectorError> {
//! use connector_api::plugin::{PluginFactory, PluginOptions};
//! use connector_api::{ConnectorFactory, ImportRequest, RunContext, StaticSecrets, VecSink};
//!
//! let factory = PluginFactory::spawn("connector-workday", Vec::<String>::new(), PluginOptions::default()).await?;
//! let secrets = StaticSecrets::new().with("secret://workday/t/clientsecret", "s3cret");
//! let connector = factory.validate("{}", "secret://workday/t/clientsecret", &secrets).await?;
//! let mut sink = VecSink::default();
//! let outcome = connector.import(ImportRequest::full(), &mut sink, &RunContext::new()).await?;
//! # let _ = outcome; Ok(()) }
//! ```

mod client;
mod command;
mod messages;
mod server;
mod stderr;
mod typing;

pub use client::{PluginFactory, PluginOptions, PluginTransport};
pub use command::{inherits_env, PluginCommand, PLUGIN_ENV_ALLOWLIST};
pub use messages::{
    EngineMessage, PluginMessage, SecretValues, WireSecretError, DEFAULT_WINDOW, PROTOCOL_VERSION,
};
pub use server::{serve, serve_stdio, ServeError};
pub use stderr::STDERR_LINE_BYTES;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Appends bytes from `reader` to `line` up to and including the next `\n`.
///
/// Returns `Ok(true)` when a full line (or a last unterminated line at end of
/// input) is in `line` (the newline is stripped), `Ok(false)` at end of input
/// with nothing read. Cancel-safe: bytes are only consumed from the reader
/// once copied into `line`, so a cancelled call can be resumed with the same
/// `line`. Fails with `InvalidData` once `line` would exceed `max` bytes.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin + ?Sized>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<bool> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(!line.is_empty());
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if line.len() + take > max.saturating_add(1) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line is longer than {max} bytes"),
            ));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
    }
}

/// At most `max` characters of `bytes` as text, for error messages.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}
