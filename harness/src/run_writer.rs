//! The thread that holds a run's write transaction.
//!
//! A [`RunTransaction`] wraps a `rusqlite::Transaction`, which borrows the
//! store's connection and so cannot be held across an `.await` of the
//! engine's (`Send`) run. A [`Writer`] keeps it on a thread of its own and
//! runs the engine's store work there, in order. The transaction commits
//! only on [`Writer::commit`], and only if the run is not cancelled at that
//! moment; in every other case (the engine drops the writer after a failure,
//! a cancellation or a refusal, or the run future itself is dropped) the
//! thread ends, the transaction drops, and SQLite rolls everything back.

use std::sync::mpsc;

use connector_api::{ConnectorError, ErrorKind, RunContext};
use tokio::sync::oneshot;

use crate::store::{lock, RunTransaction, Store, StoreError};

/// Work run on the writer thread, inside the transaction.
type Work = Box<dyn FnOnce(&RunTransaction<'_>) + Send>;

enum Msg {
    Work(Work),
    Commit {
        ctx: RunContext,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
}

/// How [`Writer::commit`] ended.
#[derive(Debug)]
pub(crate) enum Committed {
    /// Everything is durable.
    Yes,
    /// The run was cancelled before the COMMIT: everything rolled back.
    Cancelled,
}

/// The result of work [`Writer::queue`]d on the writer thread.
pub(crate) struct Queued<R>(oneshot::Receiver<R>);

impl<R> Queued<R> {
    /// Waits until the thread has run the work; its result.
    pub(crate) async fn wait(self) -> Result<R, ConnectorError> {
        self.0.await.map_err(|_| gone())
    }
}

/// A handle on the thread holding a run's open transaction.
pub(crate) struct Writer {
    calls: mpsc::Sender<Msg>,
    done: oneshot::Receiver<()>,
}

fn gone() -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Sink,
        "the state store's writer thread stopped unexpectedly; nothing was committed; run again",
    )
}

impl Writer {
    /// Starts the thread and opens the run's transaction (`BEGIN IMMEDIATE`).
    pub(crate) async fn begin(store: &Store) -> Result<Self, ConnectorError> {
        let (conn, path) = store.shared_connection();
        let (calls, rx) = mpsc::channel::<Msg>();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("harness-store".into())
            .spawn(move || {
                {
                    let mut guard = lock(&conn);
                    let begun = RunTransaction::begin(&mut guard, &path);
                    match begun {
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                        Ok(tx) => {
                            let _ = ready_tx.send(Ok(()));
                            serve(tx, &rx);
                        }
                    }
                }
                // The thread's handle on the connection goes before `done`
                // says the store is released: otherwise the engine's own
                // handle could be dropped first and the process exit with
                // this one still held, leaving the connection unclosed and
                // the committed run in the `-wal` file, not the store file.
                drop(conn);
                let _ = done_tx.send(());
            })
            .map_err(|e| {
                ConnectorError::new(
                    ErrorKind::Sink,
                    format!("cannot start the state store's writer thread: {e}"),
                )
            })?;
        match ready_rx.await {
            Ok(Ok(())) => Ok(Self { calls, done }),
            Ok(Err(e)) => Err(crate::engine::sink_error(e)),
            Err(_) => Err(gone()),
        }
    }

    /// Runs `f` inside the transaction and returns its result.
    pub(crate) async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RunTransaction<'_>) -> R + Send + 'static,
    ) -> Result<R, ConnectorError> {
        self.queue(f)?.wait().await
    }

    /// Queues `f` to run inside the transaction after the work queued
    /// before it, without waiting: the caller goes on (e.g. fetching the
    /// next page) while the thread works, and collects the result with
    /// [`Queued::wait`]. Work runs strictly in the order it was queued.
    pub(crate) fn queue<R: Send + 'static>(
        &self,
        f: impl FnOnce(&RunTransaction<'_>) -> R + Send + 'static,
    ) -> Result<Queued<R>, ConnectorError> {
        let (reply, result) = oneshot::channel();
        self.calls
            .send(Msg::Work(Box::new(move |tx| {
                let _ = reply.send(f(tx));
            })))
            .map_err(|_| gone())?;
        Ok(Queued(result))
    }

    /// Commits, unless `ctx` is cancelled when the thread is about to: the
    /// check and the COMMIT run back to back inside the transaction.
    pub(crate) async fn commit(self, ctx: &RunContext) -> Result<Committed, ConnectorError> {
        let (reply, result) = oneshot::channel();
        let sent = self.calls.send(Msg::Commit {
            ctx: ctx.clone(),
            reply,
        });
        let outcome = match sent {
            Ok(()) => result.await.map_err(|_| gone()),
            Err(_) => Err(gone()),
        };
        drop(self.calls);
        let _ = self.done.await;
        match outcome? {
            Ok(true) => Ok(Committed::Yes),
            Ok(false) => Ok(Committed::Cancelled),
            Err(e) => Err(crate::engine::sink_error(e)),
        }
    }

    /// Ends the thread without committing (everything rolls back) and waits
    /// until it has released the store.
    pub(crate) async fn roll_back(self) {
        drop(self.calls);
        let _ = self.done.await;
    }
}

/// The writer thread's loop. Returning without committing drops `tx`, which
/// rolls the transaction back.
fn serve(tx: RunTransaction<'_>, rx: &mpsc::Receiver<Msg>) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Work(work) => work(&tx),
            Msg::Commit { ctx, reply } => {
                // The last point a cancellation stops the run: it is
                // checked here, inside the transaction, right before COMMIT.
                let result = if ctx.is_cancelled() {
                    Ok(false)
                } else {
                    tx.commit().map(|()| true)
                };
                let _ = reply.send(result);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn wal(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push("-wal");
        PathBuf::from(p)
    }

    /// When `commit` or `roll_back` returns, the thread holds no handle on
    /// the connection: dropping the `Store` then closes it, so SQLite
    /// checkpoints and removes the `-wal` file (a process that exits right
    /// after a run leaves everything in the store file). Repeated, because
    /// the race this pins was lost only now and then.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_connection_is_released_when_commit_or_roll_back_returns() {
        let dir = std::env::temp_dir().join(format!("harness-writer-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..40 {
            let path = dir.join(format!("s{i}.db"));
            let store = Store::open(&path).unwrap();
            let writer = Writer::begin(&store).await.unwrap();
            if i % 2 == 0 {
                let ctx = RunContext::default();
                assert!(matches!(writer.commit(&ctx).await.unwrap(), Committed::Yes));
            } else {
                writer.roll_back().await;
            }
            let (conn, _) = store.shared_connection();
            assert_eq!(
                std::sync::Arc::strong_count(&conn),
                2,
                "run {i}: store + this"
            );
            drop(conn);
            drop(store);
            assert!(!wal(&path).exists(), "run {i}: the -wal outlived the store");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
