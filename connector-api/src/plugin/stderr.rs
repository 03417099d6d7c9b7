//! A plugin process's stderr: forwarded line by line into the engine's log,
//! its last lines kept for error messages.
//!
//! The reader drains the pipe until the plugin closes it, whatever the plugin
//! writes: bytes that are not UTF-8 are shown as `�`, and a line longer than
//! [`STDERR_LINE_BYTES`] is cut there (the rest is counted, not kept). A
//! reader that stopped early would leave the plugin's next write to stderr
//! failing (or blocking on a full pipe).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;
use tracing::Level;

use super::excerpt;

/// The longest stderr line forwarded whole; the rest of a longer line is
/// replaced by a marker saying how many bytes were left out.
pub const STDERR_LINE_BYTES: usize = 8 * 1024;
/// How many of a plugin's last stderr lines an error message quotes.
const TAIL_LINES: usize = 10;
/// How long a stderr line quoted in an error may be.
const TAIL_LINE_CHARS: usize = 300;

/// The plugin's last stderr lines, shortened for quoting.
#[derive(Debug, Clone, Default)]
pub(crate) struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    fn push(&self, line: &str) {
        let mut tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(excerpt(line.as_bytes(), TAIL_LINE_CHARS));
    }

    /// `; its last stderr lines: a | b`, or nothing when there were none.
    pub(crate) fn quote(&self) -> String {
        let tail = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.is_empty() {
            String::new()
        } else {
            let lines: Vec<&str> = tail.iter().map(String::as_str).collect();
            format!("; its last stderr lines: {}", lines.join(" | "))
        }
    }
}

/// Forwards `stderr` to `tracing` (target `connector_api::plugin::stderr`,
/// at the level each line names: see [`level_of`]) and into `tail`, until
/// the plugin closes it.
pub(crate) fn forward(
    stderr: impl AsyncRead + Unpin + Send + 'static,
    plugin: String,
    tail: StderrTail,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::with_capacity(1024);
        loop {
            match read_capped_line(&mut reader, &mut line, STDERR_LINE_BYTES).await {
                Ok(Some(left_out)) => {
                    let text = display(&line, left_out);
                    log_line(&plugin, &text);
                    tail.push(&text);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(plugin = %plugin, "reading the plugin's stderr failed: {e}");
                    break;
                }
            }
        }
    })
}

/// Logs one stderr line at its own level, so that a plugin's warnings and
/// errors show at the engine's default filter (`warn`) and its chatter does not.
fn log_line(plugin: &str, text: &str) {
    const TARGET: &str = "connector_api::plugin::stderr";
    match level_of(text) {
        Level::ERROR => tracing::error!(target: TARGET, plugin = %plugin, "{text}"),
        Level::WARN => tracing::warn!(target: TARGET, plugin = %plugin, "{text}"),
        Level::DEBUG => tracing::debug!(target: TARGET, plugin = %plugin, "{text}"),
        Level::TRACE => tracing::trace!(target: TARGET, plugin = %plugin, "{text}"),
        _ => tracing::info!(target: TARGET, plugin = %plugin, "{text}"),
    }
}

/// The level a plugin's stderr line is logged at:
/// - a JSON object with a `level` field (tracing-subscriber's JSON format,
///   and most structured loggers): that level;
/// - a line whose first three words (or their `:`-separated parts) hold a
///   level name (`ERROR`, `WARN`/`WARNING`, `INFO`, `DEBUG`, `TRACE`, in any
///   case), as tracing-subscriber's text format (`<time>  WARN target: ...`)
///   and Python's logging (`WARNING:root:...`) write them: that level;
/// - a Rust panic message (`thread '...' panicked at`): error;
/// - anything else: info.
///
/// ```text
/// 2026-12-01T10:00:00.000Z  WARN connector_workday::run: ...  -> WARN
/// {"level":"ERROR","fields":{"message":"..."}}                -> ERROR
/// WARNING:root:token rotated                                  -> WARN
/// fetched page 3                                              -> INFO
/// ```
pub(crate) fn level_of(line: &str) -> Level {
    let trimmed = line.trim_start();
    if trimmed.starts_with('{') {
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(trimmed) {
            if let Some(level) = o
                .get("level")
                .and_then(|l| l.as_str())
                .and_then(named_level)
            {
                return level;
            }
        }
    }
    if let Some(level) = trimmed
        .split_whitespace()
        .take(3)
        .flat_map(|word| word.split(':'))
        .find_map(named_level)
    {
        return level;
    }
    if trimmed.starts_with("thread '") && trimmed.contains("' panicked at") {
        return Level::ERROR;
    }
    Level::INFO
}

fn named_level(word: &str) -> Option<Level> {
    let word = word.trim_matches(|c: char| c == '[' || c == ']');
    [
        ("ERROR", Level::ERROR),
        ("WARN", Level::WARN),
        ("WARNING", Level::WARN),
        ("INFO", Level::INFO),
        ("DEBUG", Level::DEBUG),
        ("TRACE", Level::TRACE),
    ]
    .into_iter()
    .find_map(|(name, level)| word.eq_ignore_ascii_case(name).then_some(level))
}

/// A stderr line as logged: decoded lossily, with a marker for what was cut.
fn display(line: &[u8], left_out: usize) -> String {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if left_out > 0 {
        text.push_str(&format!(
            "… [line cut at {STDERR_LINE_BYTES} bytes, {left_out} more bytes not shown]"
        ));
    }
    text
}

/// Reads the next line into `line` (cleared first, newline stripped), keeping
/// at most `cap` bytes of it and consuming the rest. Returns how many bytes
/// were left out, or `None` at end of input with nothing read.
async fn read_capped_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<usize>> {
    line.clear();
    let mut left_out = 0usize;
    let mut read_any = false;
    loop {
        let available = match reader.fill_buf().await {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(read_any.then_some(left_out));
        }
        read_any = true;
        let (content, consumed, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i, i + 1, true),
            None => (available.len(), available.len(), false),
        };
        let keep = content.min(cap.saturating_sub(line.len()));
        line.extend_from_slice(&available[..keep]);
        left_out = left_out.saturating_add(content - keep);
        reader.consume(consumed);
        if done {
            if left_out == 0 && line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(left_out));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_line_is_logged_at_the_level_it_names() {
        let cases = [
            (
                "2026-12-01T10:00:00.123456Z  WARN connector_workday::run: rotated",
                Level::WARN,
            ),
            (
                "2026-12-01T10:00:00.123456Z ERROR connector_workday: gave up",
                Level::ERROR,
            ),
            (
                "2026-12-01T10:00:00.123456Z  INFO connector_workday: page 3",
                Level::INFO,
            ),
            (
                "2026-12-01T10:00:00.123456Z DEBUG connector_workday: sent",
                Level::DEBUG,
            ),
            (
                r#"{"timestamp":"x","level":"ERROR","fields":{"message":"m"}}"#,
                Level::ERROR,
            ),
            (r#"{"level":"warn","msg":"m"}"#, Level::WARN),
            ("WARNING:root:the token was rotated", Level::WARN),
            ("error: cannot read the config", Level::ERROR),
            ("[WARN] slow answer", Level::WARN),
            ("thread 'main' panicked at src/main.rs:3:5:", Level::ERROR),
            ("fetched page 3 of 10", Level::INFO),
            ("the errors were counted later: 3 warnings", Level::INFO),
            (r#"{"message":"no level"}"#, Level::INFO),
            ("", Level::INFO),
        ];
        for (line, level) in cases {
            assert_eq!(level_of(line), level, "{line:?}");
        }
    }

    #[tokio::test]
    async fn lines_are_capped_decoded_lossily_and_read_to_the_end() {
        let mut input = b"bad \xff\xfe bytes\n".to_vec();
        input.extend(vec![b'x'; 20_000]);
        input.extend(b"\r\nafter\r\nlast without newline");
        let mut reader = BufReader::with_capacity(1000, &input[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while let Some(left_out) = read_capped_line(&mut reader, &mut line, 8192)
            .await
            .unwrap()
        {
            lines.push(display(&line, left_out));
        }
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], "bad \u{fffd}\u{fffd} bytes");
        assert_eq!(
            lines[1],
            format!(
                "{}… [line cut at 8192 bytes, 11809 more bytes not shown]",
                "x".repeat(8192)
            )
        );
        assert_eq!(lines[2], "after");
        assert_eq!(lines[3], "last without newline");
    }
}
