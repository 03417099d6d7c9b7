//! What the suites that spawn the `harness` binary share: a temporary
//! directory, the command with a clean environment, a bounded run, and
//! output helpers. Each suite uses a part of it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// The `harness` binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_harness");
/// Bound on one harness run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory named `harness-{suite}-{pid}-{random}`.
    pub fn new(suite: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "harness-{suite}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `harness args...` in `dir`, with the environment cleared of what could
/// change its behaviour, no back-off sleeps, piped output, killed on drop.
pub fn command(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(&dir.0)
        .env_remove("RUST_LOG")
        .env_remove("CARGO")
        .env_remove("IDMESH_STATE")
        .env_remove("IDMESH_LOG_FORMAT")
        .env(harness::cli::NO_RETRY_DELAY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `harness args...` to completion (at most [`RUN_TIMEOUT`]).
pub async fn harness(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let child = command(dir, args, env).spawn().expect("spawn harness");
    tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .expect("harness finished in time")
        .expect("harness output")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited with a code, not a signal")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}
