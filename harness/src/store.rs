//! The mesh store: SQLite (WAL mode) holding the mesh objects, the committed
//! watermark per connector instance, and the run history.
//!
//! The [`Engine`](crate::engine::Engine) writes it; the query methods here
//! are for the CLI and for tests.
//!
//! Tables:
//! - `instances(id, name)`: the connector instances that have objects; the
//!   objects refer to them by `id` (since schema version 3).
//! - `objects(instance_id, object_type, external_id, deleted, deleted_by,
//!   first_seen_run, last_seen_run, attributes)`: `attributes` is the
//!   contract's JSON attributes object; `deleted_by` is `change` (a Delete
//!   change) or `purge` (not seen by a complete full run).
//! - `watermarks(instance, watermark, run_id, committed_at)`.
//! - `runs(id, instance, connector, mode, status, started_at, ended_at, ...,
//!   warnings, record_error_list)`: the last two (JSON arrays) since schema
//!   version 2.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use connector_api::{
    Attributes, Change, ChangeKind, Counts, ImportMode, MetricsSnapshot, RecordError, Value,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};

/// The schema version this build writes. Older stores are migrated forward
/// when opened for a run, and read as they are by read-only commands:
/// version 1 lacks the run history's `warnings` and `record_error_list`
/// columns; versions 1 and 2 key `objects` by the instance's name (text)
/// instead of its id in `instances`; versions 1 to 3 have no
/// `attribute_names`, so all their attributes are JSON objects.
pub const SCHEMA_VERSION: i64 = 4;

/// The columns version 2 added to `runs`: the run's warnings and its record
/// errors, JSON arrays (secret values redacted).
const RUN_DETAIL_COLUMNS: [&str; 2] = ["warnings", "record_error_list"];

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The page cache of a writable open, in KiB (SQLite's default is 2 MiB).
/// A run writes in one transaction; with the default, the random-order
/// primary-key index of a 100,000-worker store no longer fits, so SQLite
/// spilled its dirty index pages to the WAL and read them back, page by
/// page, for every few records. 8 MiB holds that index (the table itself is
/// appended in arrival order and need not stay cached) while keeping peak
/// memory flat: the cache is a fixed cap, not a share of the store.
const PAGE_CACHE_KIB: u32 = 8 * 1024;

/// The page size of a new store, in bytes (SQLite's default is 4 KiB).
/// A full import writes ~1 KiB rows in arrival order; 32 KiB pages carry
/// them in an eighth of the pages, so an eighth of the B-tree balances, WAL
/// frames and `pwrite`/`pread` calls: a 100,000-worker full import used
/// about 10 % less CPU (40 % less system time) and a 5 % smaller file; at
/// 1,000,000 workers it was even (see docs/harness.md). The page cache
/// stays [`PAGE_CACHE_KIB`] in bytes, whatever the page size.
const PAGE_SIZE: u32 = 32 * 1024;

/// The tables other than `objects` (see [`OBJECTS_SCHEMA`]).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS attribute_names (
    id    INTEGER PRIMARY KEY,
    names TEXT    NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS watermarks (
    instance     TEXT    PRIMARY KEY,
    watermark    TEXT    NOT NULL,
    run_id       INTEGER NOT NULL,
    committed_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    instance           TEXT    NOT NULL,
    connector          TEXT    NOT NULL,
    mode               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    started_at         TEXT    NOT NULL,
    ended_at           TEXT,
    duration_ms        INTEGER,
    counts             TEXT    NOT NULL DEFAULT '{}',
    metrics            TEXT    NOT NULL DEFAULT '{}',
    record_errors      INTEGER NOT NULL DEFAULT 0,
    error_kind         TEXT,
    error              TEXT,
    old_watermark      TEXT,
    new_watermark      TEXT,
    watermark_advanced INTEGER NOT NULL DEFAULT 0,
    purged             TEXT    NOT NULL DEFAULT '{}',
    pid                INTEGER
);
";

/// `objects` (version 3), created after [`SCHEMA`] and any migration.
///
/// `attributes` is `[names_id, value, ...]` ([`StoredAttributes`]): a
/// worker's values (~470 bytes) without their names, which are the same
/// few lists record after record and are kept once each in
/// `attribute_names`. Rows written before version 4 hold the JSON object,
/// and are read as they are. The view `objects_json` shows every row's
/// attributes as the JSON object, for SQL users.
///
/// It is a rowid table: rows (attributes of ~0.5 KiB) are appended in arrival
/// order and only the small primary-key index takes the random external
/// ids. (As `WITHOUT ROWID` every upsert landed on a random leaf of the
/// whole table, which outgrew SQLite's page cache; see docs/benchmarks.md.)
/// The key holds the instance's integer id, not its name, so the index
/// entries stay short: the index is what the page cache must hold during a
/// run. It starts with `external_id`, the column that tells two keys apart,
/// so each of the ~17 comparisons of an upsert's look-up is decided by the
/// first column (SQLite's string fast path) instead of stepping over two
/// equal ones: 3 % fewer instructions a record. Stores created before
/// keep `(instance_id, object_type, external_id)`; the statements are the
/// same for both (a conflict target names the key's columns, in any order). `attributes` comes last, so a scan reading the other
/// columns does not decode it.
///
/// `objects_by_seen` stays although every row pays for it: a run appends
/// to it (its `last_seen_run` is the run's), which is cheap, and it is what
/// lets the live counts, the unseen count of a full run and its purge read
/// a small covering index instead of every row. Without it a 100,000-worker
/// full import used about 30 % more CPU (system time nearly doubled: those
/// queries read the table's pages back at random through the primary key).
const OBJECTS_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS objects (
    instance_id    INTEGER NOT NULL REFERENCES instances (id),
    object_type    TEXT    NOT NULL,
    external_id    TEXT    NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    deleted_by     TEXT,
    first_seen_run INTEGER NOT NULL,
    last_seen_run  INTEGER NOT NULL,
    attributes     TEXT    NOT NULL,
    PRIMARY KEY (external_id, object_type, instance_id)
);
CREATE INDEX IF NOT EXISTS objects_by_seen
    ON objects (instance_id, object_type, deleted, last_seen_run);
CREATE VIEW IF NOT EXISTS objects_json AS
SELECT i.name AS instance, o.object_type, o.external_id, o.deleted, o.deleted_by,
       o.first_seen_run, o.last_seen_run,
       CASE WHEN json_type(o.attributes) = 'array' THEN
           (SELECT json_group_object(n.value, o.attributes -> ('$[' || (n.key + 1) || ']'))
              FROM attribute_names a, json_each(a.names) n
             WHERE a.id = o.attributes ->> '$[0]')
       ELSE o.attributes END AS attributes
  FROM objects o JOIN instances i ON i.id = o.instance_id;
";

/// The objects with their instance's name, whatever the layout: a
/// subquery in place of the table name in the read queries.
const OBJECTS_NAMED: &str = "(SELECT i.name AS instance, o.object_type, o.external_id, \
    o.attributes, o.deleted, o.deleted_by, o.first_seen_run, o.last_seen_run \
    FROM objects o JOIN instances i ON i.id = o.instance_id)";

/// The id of the instance named `?1` (NULL when it has no objects).
const INSTANCE_ID: &str = "(SELECT id FROM instances WHERE name = ?1)";

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the state store {path} failed: {source}")]
    Sqlite {
        /// The store's file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// Another process holds the store's write lock.
    #[error(
        "the state store {path} is locked by another process (is another harness run using it?); \
         wait for it to finish or use another --state file"
    )]
    Busy {
        /// The store's file.
        path: PathBuf,
    },
    /// The store file could not be created.
    #[error(
        "cannot create the state store {path}: {source}; check that its directory exists and is writable"
    )]
    Create {
        /// The store's file.
        path: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is a newer or foreign database.
    #[error("{path} is not a harness state store this version can use: {why}")]
    Incompatible {
        /// The store's file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A stored JSON column could not be read.
    #[error("the state store {path} holds unreadable data: {why}")]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// How a run ended, as recorded in the run history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    /// Still running (or killed: see [`RunStatus::Abandoned`]).
    Running,
    /// Finished; everything applied and the watermark committed.
    Succeeded,
    /// Finished; good records applied, watermark not advanced.
    SucceededWithRecordErrors,
    /// Failed; nothing committed.
    Failed,
    /// Cancelled (Ctrl-C); nothing committed.
    Cancelled,
    /// A full run would have purged more than allowed; nothing committed.
    PurgeRefused,
    /// `--dry-run`: compared with the store; nothing committed.
    DryRun,
    /// Found still `Running` by a later run: the process died (e.g. `kill -9`).
    Abandoned,
}

impl RunStatus {
    /// The status as stored and printed, e.g. `PurgeRefused`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "Running",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::SucceededWithRecordErrors => "SucceededWithRecordErrors",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
            RunStatus::PurgeRefused => "PurgeRefused",
            RunStatus::DryRun => "DryRun",
            RunStatus::Abandoned => "Abandoned",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::SucceededWithRecordErrors,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::PurgeRefused,
            RunStatus::DryRun,
            RunStatus::Abandoned,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mesh object as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredObject {
    /// The connector instance that projected it.
    pub instance: String,
    /// E.g. `User`.
    pub object_type: String,
    /// Its anchor in the source.
    pub external_id: String,
    /// Its attributes in the contract's JSON form.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Whether it is deleted (a Delete change, or purged).
    pub deleted: bool,
    /// `change` or `purge` when deleted.
    pub deleted_by: Option<String>,
    /// The run that first saw it.
    pub first_seen_run: i64,
    /// The run that last saw it (or purged it).
    pub last_seen_run: i64,
}

/// Live and deleted objects of one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ObjectCounts {
    /// Objects not deleted.
    pub live: u64,
    /// Objects deleted.
    pub deleted: u64,
}

/// One row of the run history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    /// The run's id, increasing.
    pub id: i64,
    /// The connector instance key, e.g. `workday:acme`.
    pub instance: String,
    /// The connector's name.
    pub connector: String,
    /// `Full` or `Delta`.
    pub mode: String,
    /// How it ended.
    pub status: RunStatus,
    /// RFC 3339 start time.
    pub started_at: String,
    /// RFC 3339 end time, when it ended.
    pub ended_at: Option<String>,
    /// Wall time in milliseconds, when it ended.
    pub duration_ms: Option<u64>,
    /// Changes applied per object type and kind (rolled back unless it succeeded).
    pub counts: Counts,
    /// Requests, retries, pages and records.
    pub metrics: MetricsSnapshot,
    /// How many records failed.
    pub record_errors: u64,
    /// The error kind, when it failed.
    pub error_kind: Option<String>,
    /// The error text, when it failed (secrets redacted).
    pub error: Option<String>,
    /// The watermark it started from.
    pub old_watermark: Option<String>,
    /// The watermark it committed, when it advanced it.
    pub new_watermark: Option<String>,
    /// Whether it committed a new watermark.
    pub watermark_advanced: bool,
    /// Objects purged per object type.
    pub purged: BTreeMap<String, u64>,
    /// The connector's warnings (secrets redacted; empty for runs recorded
    /// before schema version 2).
    pub warnings: Vec<String>,
    /// Each record error (secrets redacted; empty for runs recorded before
    /// schema version 2, which kept only the count).
    pub record_error_list: Vec<RecordError>,
}

/// The final state of a run, written by the engine.
#[derive(Debug, Clone)]
pub(crate) struct RunFinish<'a> {
    pub status: RunStatus,
    pub ended_at: &'a str,
    pub duration_ms: u64,
    pub counts: &'a Counts,
    pub metrics: &'a MetricsSnapshot,
    pub record_errors: u64,
    pub error_kind: Option<&'a str>,
    pub error: Option<&'a str>,
    pub new_watermark: Option<&'a str>,
    pub watermark_advanced: bool,
    pub purged: &'a BTreeMap<String, u64>,
    pub warnings: &'a [String],
    pub record_error_list: &'a [RecordError],
}

/// The mesh store. Open one per process and state file.
#[derive(Debug)]
pub struct Store {
    /// Shared with the thread that holds a run's transaction.
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// Whether `runs` has the version 2 columns (a read-only open of a
    /// version 1 store has not).
    run_details: bool,
    /// Whether `objects` is keyed by the instance's name (a read-only open
    /// of a version 1 or 2 store).
    named_objects: bool,
}

impl Store {
    /// Opens (creating when missing) the store at `path`, in WAL mode. A new
    /// store file is created with mode 0600 (owner only) before SQLite opens
    /// it; SQLite gives its `-wal` and `-shm` files the same mode.
    ///
    /// # Errors
    /// [`StoreError`] when the file cannot be opened or is not a harness store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            crate::private_file::create_private(path, false).map_err(|e| StoreError::Create {
                path: path.to_path_buf(),
                source: e,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        Self::init(conn, path)
    }

    /// Opens the store at `path` read-only, for queries; `Ok(None)` when the
    /// file does not exist or holds no tables yet (read commands never create
    /// a store).
    ///
    /// Nothing is written: the file is opened with `SQLITE_OPEN_READ_ONLY`,
    /// its journal mode is not changed and no table is created. When no run
    /// is writing it (no `-wal`, `-shm` or `-journal` file beside it), it is
    /// read as immutable, so SQLite creates no `-wal` or `-shm` file either;
    /// a run that starts meanwhile is noticed and the read repeated. The
    /// write methods the engine uses fail on such a store.
    ///
    /// # Errors
    /// As [`Store::open`]; also when the file is not a harness store.
    pub fn open_existing(path: &Path) -> Result<Option<Self>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        let side_files = ["-wal", "-shm", "-journal"].iter().any(|suffix| {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            Path::new(&side).exists()
        });
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match immutable_uri(path) {
            // Quiescent: nothing is writing it, so read it as it is.
            Some(uri) if !side_files => {
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
            }
            // A run is writing it (or was killed): its `-wal` and `-shm`
            // exist, and SQLite reads them without creating anything.
            _ => Connection::open_with_flags(path, flags),
        }
        .map_err(|e| sqlite(path, e))?;
        Self::from_read_only(conn, path)
    }

    /// Wraps a read-only connection (see [`Store::open_existing`]); `None`
    /// when the database holds no tables.
    pub(crate) fn from_read_only(
        conn: Connection,
        path: &Path,
    ) -> Result<Option<Self>, StoreError> {
        let mut store = Self::wrap(conn, path)?;
        let tables: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| store.err(e))?;
        if tables == 0 {
            return Ok(None);
        }
        store.check_version(false)?;
        store.run_details = store.missing_run_columns()?.is_empty();
        store.named_objects = store.has_named_objects()?;
        Ok(Some(store))
    }

    /// A private in-memory store (no WAL), for tests.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| sqlite(path, e))?;
        Self::init(conn, path)
    }

    /// The store on `conn`, with the busy timeout set.
    fn wrap(conn: Connection, path: &Path) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store_error(path, e))?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
            run_details: false,
            named_objects: false,
        })
    }

    fn init(conn: Connection, path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::wrap(conn, path)?;
        if path != Path::new(":memory:") {
            // A new (empty) file gets PAGE_SIZE; it must be set before the
            // first table, and WAL mode cannot change it later, so an
            // existing store keeps the page size it was created with.
            let pages: i64 = store
                .conn()
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .map_err(|e| store.err(e))?;
            if pages == 0 {
                store
                    .conn()
                    .execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))
                    .map_err(|e| store.err(e))?;
            }
            let mode: String = store
                .conn()
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
                .map_err(|e| store.err(e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Incompatible {
                    path: path.to_path_buf(),
                    why: format!("SQLite refused WAL mode (journal mode is {mode})"),
                });
            }
            // `synchronous = NORMAL` is WAL's usual setting: each run still
            // commits all or nothing, and the store is never corrupted; a
            // power loss (not a crash of the process) may undo the last
            // committed run, which the next run then repeats.
            store
                .conn()
                .execute_batch(&format!(
                    "PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
                     PRAGMA cache_size = -{PAGE_CACHE_KIB};"
                ))
                .map_err(|e| store.err(e))?;
        }
        store
            .conn()
            .execute_batch(SCHEMA)
            .map_err(|e| store.err(e))?;
        store.check_version(true)?;
        store.migrate()?;
        store
            .conn()
            .execute_batch(OBJECTS_SCHEMA)
            .map_err(|e| store.err(e))?;
        store.run_details = true;
        Ok(store)
    }

    /// Whether `objects` has the version 1 and 2 layout (an `instance` text
    /// column instead of `instance_id`).
    fn has_named_objects(&self) -> Result<bool, StoreError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('objects') WHERE name = 'instance'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The `objects` table to read from, with an `instance` (name) column.
    fn objects_table(&self) -> &'static str {
        if self.named_objects {
            "objects"
        } else {
            OBJECTS_NAMED
        }
    }

    /// The version 2 columns `runs` lacks (all of them in a version 1 store).
    fn missing_run_columns(&self) -> Result<Vec<&'static str>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_info('runs')")
            .map_err(|e| self.err(e))?;
        let have: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(RUN_DETAIL_COLUMNS
            .into_iter()
            .filter(|c| !have.iter().any(|h| h == c))
            .collect())
    }

    /// The `schema_version` the store's `meta` table records, if any.
    fn schema_version(&self) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Brings an older store up to [`SCHEMA_VERSION`] in one transaction:
    /// adds the version 2 columns, and rebuilds a version 1 or 2 `objects`
    /// (keyed by the instance's name) keyed by the instance's id.
    fn migrate(&self) -> Result<(), StoreError> {
        let missing = self.missing_run_columns()?;
        let named_objects = self.has_named_objects()?;
        let version = self.schema_version()?;
        if missing.is_empty()
            && !named_objects
            && version.as_deref() == Some(&SCHEMA_VERSION.to_string())
        {
            // Up to date: take no write lock (another run may hold it).
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| store_error(&self.path, e))?;
        for column in missing {
            tx.execute_batch(&format!(
                "ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT '[]'"
            ))
            .map_err(|e| store_error(&self.path, e))?;
        }
        if named_objects {
            // OBJECTS_SCHEMA recreates the table and its index; the rows
            // keep their external ids, states, runs and attributes.
            tx.execute_batch(&format!(
                "INSERT OR IGNORE INTO instances (name) SELECT DISTINCT instance FROM objects \
                 ORDER BY instance;
                 DROP INDEX IF EXISTS objects_by_seen;
                 ALTER TABLE objects RENAME TO objects_version_2;
                 {OBJECTS_SCHEMA}
                 INSERT INTO objects (instance_id, object_type, external_id, deleted, \
                 deleted_by, first_seen_run, last_seen_run, attributes) \
                 SELECT i.id, o.object_type, o.external_id, o.deleted, o.deleted_by, \
                 o.first_seen_run, o.last_seen_run, o.attributes \
                 FROM objects_version_2 o JOIN instances i ON i.name = o.instance;
                 DROP TABLE objects_version_2;"
            ))
            .map_err(|e| store_error(&self.path, e))?;
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version' AND value <> ?1",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(|e| store_error(&self.path, e))?;
        tx.commit().map_err(|e| store_error(&self.path, e))
    }

    /// Checks the schema version; with `record`, records it in a new store.
    /// Older versions are accepted (a writable open then migrates them).
    fn check_version(&self, record: bool) -> Result<(), StoreError> {
        let store = self;
        let path = &self.path;
        let has_meta: bool = store
            .conn()
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| store.err(e))?;
        if !has_meta {
            return Err(StoreError::Incompatible {
                path: path.clone(),
                why: "it has no `meta` table (another application's database?)".into(),
            });
        }
        let version = store.schema_version()?;
        match version.as_deref().map(str::parse::<i64>) {
            None if !record => {}
            None => {
                store
                    .conn()
                    .execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?1)",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| store.err(e))?;
            }
            Some(Ok(v)) if (1..=SCHEMA_VERSION).contains(&v) => {}
            Some(v) => {
                return Err(StoreError::Incompatible {
                    path: path.clone(),
                    why: format!(
                        "its schema version is {v:?}, this harness writes {SCHEMA_VERSION}"
                    ),
                })
            }
        }
        Ok(())
    }

    /// The store's file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        store_error(&self.path, e)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        lock(&self.conn)
    }

    fn corrupt(&self, why: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            why,
        }
    }

    // ----- queries -------------------------------------------------------

    /// The committed watermark of `instance`.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn watermark(&self, instance: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT watermark FROM watermarks WHERE instance = ?1",
                params![instance],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every committed watermark, by instance.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn watermarks(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT instance, watermark FROM watermarks ORDER BY instance")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every instance that has objects, a watermark or a run in the store.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn instances(&self) -> Result<Vec<String>, StoreError> {
        let with_objects = if self.named_objects {
            "SELECT DISTINCT instance FROM objects"
        } else {
            "SELECT name FROM instances i WHERE EXISTS \
             (SELECT 1 FROM objects o WHERE o.instance_id = i.id)"
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT instance FROM watermarks UNION SELECT instance FROM runs \
                 UNION {with_objects} ORDER BY 1"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// One object, deleted or not.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails or its attributes are unreadable.
    pub fn object(
        &self,
        instance: &str,
        object_type: &str,
        external_id: &str,
    ) -> Result<Option<StoredObject>, StoreError> {
        let row = self
            .conn()
            .query_row(
                &format!(
                    "{} WHERE instance = ?1 AND object_type = ?2 AND external_id = ?3",
                    self.object_select()
                ),
                params![instance, object_type, external_id],
                raw_object,
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|r| self.object_from_raw(&self.conn(), r, &mut NamesById::default()))
            .transpose()
    }

    /// Every live (not deleted) object of a type, ordered by external id.
    ///
    /// # Errors
    /// As [`Store::object`].
    pub fn live_objects(
        &self,
        instance: &str,
        object_type: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        self.objects_where(instance, object_type, "AND deleted = 0")
    }

    /// Every object of a type, deleted ones included, ordered by external id.
    ///
    /// # Errors
    /// As [`Store::object`].
    pub fn all_objects(
        &self,
        instance: &str,
        object_type: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        self.objects_where(instance, object_type, "")
    }

    fn objects_where(
        &self,
        instance: &str,
        object_type: &str,
        extra: &str,
    ) -> Result<Vec<StoredObject>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "{} WHERE instance = ?1 AND object_type = ?2 {extra} ORDER BY external_id",
                self.object_select()
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![instance, object_type], raw_object)
            .map_err(|e| self.err(e))?;
        let mut names = NamesById::default();
        let mut out = Vec::new();
        for row in rows {
            out.push(self.object_from_raw(&conn, row.map_err(|e| self.err(e))?, &mut names)?);
        }
        Ok(out)
    }

    /// Live and deleted counts per object type of `instance`.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn object_counts(
        &self,
        instance: &str,
    ) -> Result<BTreeMap<String, ObjectCounts>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT object_type, deleted, COUNT(*) FROM {} WHERE instance = ?1 \
                 GROUP BY object_type, deleted",
                self.objects_table()
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![instance], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out: BTreeMap<String, ObjectCounts> = BTreeMap::new();
        for row in rows {
            let (ty, deleted, n) = row.map_err(|e| self.err(e))?;
            let entry = out.entry(ty).or_default();
            let n = u64::try_from(n).unwrap_or(0);
            if deleted {
                entry.deleted = n;
            } else {
                entry.live = n;
            }
        }
        Ok(out)
    }

    /// The run history, newest first; at most `limit` rows when given.
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails or a row is unreadable.
    pub fn runs(&self, limit: Option<usize>) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_of(None, limit)
    }

    /// The run history of one instance (all when `None`), newest first; at
    /// most `limit` rows when given.
    ///
    /// # Errors
    /// As [`Store::runs`].
    pub fn runs_of(
        &self,
        instance: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        self.runs_where(
            "WHERE ?1 IS NULL OR instance = ?1 ORDER BY id DESC LIMIT ?2",
            params![instance, limit],
        )
    }

    /// When the last `Succeeded` run of `instance` ended (RFC 3339).
    ///
    /// # Errors
    /// [`StoreError`] when SQLite fails.
    pub fn last_success(&self, instance: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT ended_at FROM runs WHERE instance = ?1 AND status = 'Succeeded' \
                 ORDER BY id DESC LIMIT 1",
                params![instance],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// One run by id.
    ///
    /// # Errors
    /// As [`Store::runs`].
    pub fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        Ok(self.runs_where("WHERE id = ?1", params![id])?.pop())
    }

    fn runs_where(
        &self,
        tail: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<RunRecord>, StoreError> {
        let details = if self.run_details {
            "warnings, record_error_list"
        } else {
            "'[]', '[]'"
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT id, instance, connector, mode, status, started_at, ended_at, duration_ms, \
                 counts, metrics, record_errors, error_kind, error, old_watermark, new_watermark, \
                 watermark_advanced, purged, {details} FROM runs {tail}"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, |r| {
                Ok(RawRun {
                    id: r.get(0)?,
                    instance: r.get(1)?,
                    connector: r.get(2)?,
                    mode: r.get(3)?,
                    status: r.get(4)?,
                    started_at: r.get(5)?,
                    ended_at: r.get(6)?,
                    duration_ms: r.get(7)?,
                    counts: r.get(8)?,
                    metrics: r.get(9)?,
                    record_errors: r.get(10)?,
                    error_kind: r.get(11)?,
                    error: r.get(12)?,
                    old_watermark: r.get(13)?,
                    new_watermark: r.get(14)?,
                    watermark_advanced: r.get(15)?,
                    purged: r.get(16)?,
                    warnings: r.get(17)?,
                    record_error_list: r.get(18)?,
                })
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let raw = row.map_err(|e| self.err(e))?;
            out.push(self.run_from_raw(raw)?);
        }
        Ok(out)
    }

    fn run_from_raw(&self, raw: RawRun) -> Result<RunRecord, StoreError> {
        let json = |what: &str, text: &str| -> Result<serde_json::Value, StoreError> {
            serde_json::from_str(text)
                .map_err(|e| self.corrupt(format!("run {}: {what}: {e}", raw.id)))
        };
        let status = RunStatus::parse(&raw.status).ok_or_else(|| {
            self.corrupt(format!("run {}: unknown status {:?}", raw.id, raw.status))
        })?;
        let counts = serde_json::from_value(json("counts", &raw.counts)?)
            .map_err(|e| self.corrupt(format!("run {}: counts: {e}", raw.id)))?;
        let metrics = serde_json::from_value(json("metrics", &raw.metrics)?)
            .map_err(|e| self.corrupt(format!("run {}: metrics: {e}", raw.id)))?;
        let purged = serde_json::from_value(json("purged", &raw.purged)?)
            .map_err(|e| self.corrupt(format!("run {}: purged: {e}", raw.id)))?;
        let warnings = serde_json::from_value(json("warnings", &raw.warnings)?)
            .map_err(|e| self.corrupt(format!("run {}: warnings: {e}", raw.id)))?;
        let record_error_list =
            serde_json::from_value(json("record_error_list", &raw.record_error_list)?)
                .map_err(|e| self.corrupt(format!("run {}: record_error_list: {e}", raw.id)))?;
        Ok(RunRecord {
            id: raw.id,
            instance: raw.instance,
            connector: raw.connector,
            mode: raw.mode,
            status,
            started_at: raw.started_at,
            ended_at: raw.ended_at,
            duration_ms: raw.duration_ms.and_then(|d| u64::try_from(d).ok()),
            counts,
            metrics,
            record_errors: u64::try_from(raw.record_errors).unwrap_or(0),
            error_kind: raw.error_kind,
            error: raw.error,
            old_watermark: raw.old_watermark,
            new_watermark: raw.new_watermark,
            watermark_advanced: raw.watermark_advanced,
            purged,
            warnings,
            record_error_list,
        })
    }

    fn object_from_raw(
        &self,
        conn: &Connection,
        raw: RawObject,
        names: &mut NamesById,
    ) -> Result<StoredObject, StoreError> {
        let attributes = read_attributes(conn, &raw.attributes, names).map_err(|why| {
            self.corrupt(format!(
                "attributes of {} {}: {why}",
                raw.object_type, raw.external_id
            ))
        })?;
        Ok(StoredObject {
            instance: raw.instance,
            object_type: raw.object_type,
            external_id: raw.external_id,
            attributes,
            deleted: raw.deleted,
            deleted_by: raw.deleted_by,
            first_seen_run: raw.first_seen_run,
            last_seen_run: raw.last_seen_run,
        })
    }

    // ----- writes, used by the engine -------------------------------------

    /// Marks runs still `Running` as `Abandoned` and records a new running
    /// run, in one transaction of its own. Returns the new run's id.
    pub(crate) fn begin_run(
        &self,
        instance: &str,
        connector: &str,
        mode: ImportMode,
        started_at: &str,
        old_watermark: Option<&str>,
    ) -> Result<i64, StoreError> {
        let path = self.path.as_path();
        let map = |e: rusqlite::Error| store_error(path, e);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(map)?;
        tx.execute(
            "UPDATE runs SET status = 'Abandoned', error = 'the process ended before the run finished \
             (killed or crashed); nothing it read was committed' WHERE status = 'Running'",
            [],
        )
        .map_err(map)?;
        tx.execute(
            "INSERT INTO runs (instance, connector, mode, status, started_at, old_watermark, pid, \
             metrics) VALUES (?1, ?2, ?3, 'Running', ?4, ?5, ?6, ?7)",
            params![
                instance,
                connector,
                mode.to_string(),
                started_at,
                old_watermark,
                std::process::id(),
                serde_json::to_string(&MetricsSnapshot::default()).unwrap_or_else(|_| "{}".into())
            ],
        )
        .map_err(map)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(map)?;
        Ok(id)
    }

    /// Writes a run's final state in a transaction of its own (a run that
    /// committed nothing).
    pub(crate) fn finish_run(&self, run_id: i64, f: &RunFinish<'_>) -> Result<(), StoreError> {
        write_finish(&self.conn(), &self.path, run_id, f)
    }

    /// The store's connection, shared with the thread that holds a run's
    /// transaction (see [`RunTransaction`]); a poisoned lock is still usable
    /// (SQLite rolled back whatever the panicking holder left open).
    pub(crate) fn shared_connection(&self) -> (Arc<Mutex<Connection>>, PathBuf) {
        (Arc::clone(&self.conn), self.path.clone())
    }
}

/// An object as a run transaction sees it (see [`RunTransaction::object_state`]).
#[derive(Debug)]
pub(crate) struct ObjectState {
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub deleted: bool,
    pub first_seen_run: i64,
}

/// Locks a shared connection (see [`Store::shared_connection`]).
pub(crate) fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A run's write transaction (`BEGIN IMMEDIATE`): the run's changes, purges,
/// watermark and final run row. Only [`RunTransaction::commit`] makes them
/// durable; dropping it (a failure, a cancellation, a refusal, a panic)
/// rolls every one of them back.
pub(crate) struct RunTransaction<'c> {
    tx: rusqlite::Transaction<'c>,
    path: &'c Path,
    /// The last instance [`RunTransaction::apply`] wrote, and its id.
    instance: RefCell<Option<(String, i64)>>,
    /// The attribute name lists written so far, and their ids.
    names: RefCell<NameLists>,
}

impl<'c> RunTransaction<'c> {
    /// Opens the run's transaction on `conn` (the store at `path`).
    pub(crate) fn begin(conn: &'c mut Connection, path: &'c Path) -> Result<Self, StoreError> {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| store_error(path, e))?;
        Ok(Self {
            tx,
            path,
            instance: RefCell::new(None),
            names: RefCell::new(NameLists::default()),
        })
    }

    /// How `attributes` are stored (see [`StoredAttributes`]): their name
    /// list's id in `attribute_names` is looked up in the run's cache, and
    /// added to the table (in the run's transaction) when new.
    pub(crate) fn stored<'a>(
        &self,
        attributes: &'a Attributes,
    ) -> Result<StoredAttributes<'a>, StoreError> {
        if attributes.is_empty() {
            return Ok(StoredAttributes {
                names: None,
                attributes,
            });
        }
        let mut lists = self.names.borrow_mut();
        let key = NameLists::key(attributes);
        if let Some(id) = lists.get(key, attributes) {
            return Ok(StoredAttributes {
                names: Some(id),
                attributes,
            });
        }
        // A JSON array of strings: writing it cannot fail.
        let text = serde_json::Value::from_iter(attributes.keys().map(|n| n.as_ref())).to_string();
        let id = self.row_id("attribute_names", "names", &text)?;
        lists.insert(key, attributes, id);
        Ok(StoredAttributes {
            names: Some(id),
            attributes,
        })
    }

    /// The id of the instance named `name` in `instances`, added when new
    /// (inside the run's transaction, so a rollback removes it too).
    fn instance_id(&self, name: &str) -> Result<i64, StoreError> {
        if let Some((known, id)) = &*self.instance.borrow() {
            if known == name {
                return Ok(*id);
            }
        }
        let id = self.row_id("instances", "name", name)?;
        *self.instance.borrow_mut() = Some((name.to_string(), id));
        Ok(id)
    }

    /// The `id` of the row of `table` whose unique `column` holds `value`,
    /// added when new (inside the run's transaction, so a rollback removes
    /// it too).
    fn row_id(&self, table: &str, column: &str, value: &str) -> Result<i64, StoreError> {
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO {table} ({column}) VALUES (?1) \
                 ON CONFLICT ({column}) DO UPDATE SET {column} = {column} RETURNING id"
            ))
            .and_then(|mut s| s.query_row(params![value], |r| r.get::<_, i64>(0)))
            .map_err(|e| self.err(e))
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        store_error(self.path, e)
    }

    /// Commits everything.
    pub(crate) fn commit(self) -> Result<(), StoreError> {
        let path = self.path;
        self.tx.commit().map_err(|e| store_error(path, e))
    }

    /// Applies one change (see [`ObjectWriter::apply`]); a page of
    /// changes goes through one [`RunTransaction::objects`] instead.
    #[cfg(test)]
    pub(crate) fn apply(
        &self,
        instance: &str,
        run_id: i64,
        mode: ImportMode,
        change: &Change,
        attributes_json: &str,
    ) -> Result<bool, StoreError> {
        self.objects(instance, run_id, mode)?
            .apply(change, attributes_json.as_bytes())
    }

    /// A writer of `instance`'s objects for run `run_id`: its statements
    /// are prepared once for all the changes it applies.
    pub(crate) fn objects(
        &self,
        instance: &str,
        run_id: i64,
        mode: ImportMode,
    ) -> Result<ObjectWriter<'_>, StoreError> {
        let instance = self.instance_id(instance)?;
        let upsert = match mode {
            ImportMode::Delta => {
                "INSERT INTO objects (instance_id, object_type, external_id, attributes, deleted, \
                 deleted_by, first_seen_run, last_seen_run) VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?5) \
                 ON CONFLICT (instance_id, object_type, external_id) DO UPDATE SET \
                 attributes = excluded.attributes, deleted = 0, deleted_by = NULL, \
                 last_seen_run = excluded.last_seen_run \
                 WHERE objects.deleted <> 0 OR objects.attributes <> excluded.attributes"
            }
            ImportMode::Full => {
                "INSERT INTO objects (instance_id, object_type, external_id, attributes, deleted, \
                 deleted_by, first_seen_run, last_seen_run) VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?5) \
                 ON CONFLICT (instance_id, object_type, external_id) DO UPDATE SET \
                 attributes = excluded.attributes, deleted = 0, deleted_by = NULL, \
                 last_seen_run = excluded.last_seen_run"
            }
        };
        let upsert = self.tx.prepare_cached(upsert).map_err(|e| self.err(e))?;
        Ok(ObjectWriter {
            tx: self,
            instance,
            run_id,
            upsert,
            delete: None,
        })
    }

    /// An object's attributes (JSON), whether it is deleted and the run
    /// that first saw it, as the transaction sees it (for `--dry-run`).
    pub(crate) fn object_state(
        &self,
        instance: &str,
        object_type: &str,
        external_id: &str,
    ) -> Result<Option<ObjectState>, StoreError> {
        let row = self
            .tx
            .prepare_cached(&format!(
                "SELECT attributes, deleted, first_seen_run FROM objects \
                 WHERE instance_id = {INSTANCE_ID} AND object_type = ?2 AND external_id = ?3"
            ))
            .and_then(|mut s| {
                s.query_row(params![instance, object_type, external_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(|e| self.err(e))?;
        let Some((text, deleted, first_seen_run)) = row else {
            return Ok(None);
        };
        let attributes =
            read_attributes(&self.tx, &text, &mut NamesById::default()).map_err(|why| {
                StoreError::Corrupt {
                    path: self.path.to_path_buf(),
                    why: format!("attributes of {object_type} {external_id}: {why}"),
                }
            })?;
        Ok(Some(ObjectState {
            attributes,
            deleted,
            first_seen_run,
        }))
    }

    /// Up to `limit` external ids of the objects of a type this run purged.
    pub(crate) fn purged_ids(
        &self,
        instance: &str,
        object_type: &str,
        run_id: i64,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(&format!(
                "SELECT external_id FROM objects WHERE instance_id = {INSTANCE_ID} \
                 AND object_type = ?2 AND deleted_by = 'purge' AND last_seen_run = ?3 \
                 ORDER BY external_id LIMIT ?4"
            ))
            .map_err(|e| self.err(e))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![instance, object_type, run_id, limit], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Live objects per object type of `instance`, as the transaction sees them.
    pub(crate) fn live_counts(&self, instance: &str) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(&format!(
                "SELECT object_type, COUNT(*) FROM objects WHERE instance_id = {INSTANCE_ID} \
                 AND deleted = 0 GROUP BY object_type"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![instance], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (ty, n) = row.map_err(|e| self.err(e))?;
            out.insert(ty, u64::try_from(n).unwrap_or(0));
        }
        Ok(out)
    }

    /// How many live objects of a type the run did not see (a purge would
    /// delete them).
    pub(crate) fn unseen(
        &self,
        instance: &str,
        object_type: &str,
        run_id: i64,
    ) -> Result<u64, StoreError> {
        self.on_unseen(false, instance, object_type, run_id)
    }

    /// Marks live objects of a type the run did not see as purged; returns
    /// how many.
    pub(crate) fn purge(
        &self,
        instance: &str,
        object_type: &str,
        run_id: i64,
    ) -> Result<u64, StoreError> {
        self.on_unseen(true, instance, object_type, run_id)
    }

    /// Counts (or, with `purge`, purges) the live objects of a type the run
    /// did not see.
    fn on_unseen(
        &self,
        purge: bool,
        instance: &str,
        object_type: &str,
        run_id: i64,
    ) -> Result<u64, StoreError> {
        let head = if purge {
            "UPDATE objects SET deleted = 1, deleted_by = 'purge', last_seen_run = ?3"
        } else {
            "SELECT COUNT(*) FROM objects"
        };
        let sql = format!(
            "{head} WHERE instance_id = {INSTANCE_ID} AND object_type = ?2 AND deleted = 0 \
             AND last_seen_run <> ?3"
        );
        let args = params![instance, object_type, run_id];
        let n = if purge {
            self.tx
                .execute(&sql, args)
                .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
        } else {
            self.tx
                .query_row(&sql, args, |r| r.get::<_, i64>(0))
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        n.map_err(|e| self.err(e))
    }

    /// Sets the committed watermark of `instance`.
    pub(crate) fn set_watermark(
        &self,
        instance: &str,
        watermark: &str,
        run_id: i64,
        committed_at: &str,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO watermarks (instance, watermark, run_id, committed_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (instance) DO UPDATE SET \
                 watermark = excluded.watermark, run_id = excluded.run_id, \
                 committed_at = excluded.committed_at",
                params![instance, watermark, run_id, committed_at],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Writes the run's final state (committed with everything else).
    pub(crate) fn finish_run(&self, run_id: i64, f: &RunFinish<'_>) -> Result<(), StoreError> {
        write_finish(&self.tx, self.path, run_id, f)
    }
}

/// Applies changes to one instance's objects in a [`RunTransaction`] (see
/// [`RunTransaction::objects`]).
pub(crate) struct ObjectWriter<'t> {
    tx: &'t RunTransaction<'t>,
    instance: i64,
    run_id: i64,
    upsert: rusqlite::CachedStatement<'t>,
    /// The Delete statements, prepared at the first Delete: whether the
    /// object is live and older than the run, and the write.
    delete: Option<(rusqlite::CachedStatement<'t>, rusqlite::CachedStatement<'t>)>,
}

/// [`ObjectWriter`]'s Delete statements.
fn prepare_delete<'t>(
    tx: &'t RunTransaction<'t>,
) -> Result<(rusqlite::CachedStatement<'t>, rusqlite::CachedStatement<'t>), StoreError> {
    let prepare = |sql| tx.tx.prepare_cached(sql).map_err(|e| tx.err(e));
    Ok((
        prepare(
            "SELECT deleted = 0 AND first_seen_run <> ?4 FROM objects \
             WHERE instance_id = ?1 AND object_type = ?2 AND external_id = ?3",
        )?,
        prepare(
            "INSERT INTO objects (instance_id, object_type, external_id, attributes, deleted, \
             deleted_by, first_seen_run, last_seen_run) VALUES (?1, ?2, ?3, ?4, 1, 'change', ?5, ?5) \
             ON CONFLICT (instance_id, object_type, external_id) DO UPDATE SET \
             attributes = CASE WHEN excluded.attributes = '{}' THEN objects.attributes \
             ELSE excluded.attributes END, deleted = 1, deleted_by = 'change', \
             last_seen_run = excluded.last_seen_run",
        )?,
    ))
}

impl ObjectWriter<'_> {
    /// Applies one change. Returns whether it was a Delete of an object that
    /// was live and older than this run (a deletion the delete threshold
    /// counts; a Delete of an object never seen, already deleted or created
    /// by this run is not one).
    ///
    /// In a delta run, an Upsert of a live object whose stored attributes
    /// are byte-identical writes nothing (its `last_seen_run` stays): only
    /// a full run's purge reads `last_seen_run`, and a full run records it
    /// for every object it sees.
    ///
    /// `attributes_json` is the stored form's JSON text, as serde_json
    /// writes it (so UTF-8): it is bound as `TEXT` without being
    /// validated a second time.
    pub(crate) fn apply(
        &mut self,
        change: &Change,
        attributes_json: &[u8],
    ) -> Result<bool, StoreError> {
        let attributes = ToSqlOutput::Borrowed(ValueRef::Text(attributes_json));
        let row = params![
            self.instance,
            change.object_type,
            change.external_id,
            attributes,
            self.run_id
        ];
        let tx = self.tx;
        match change.kind {
            ChangeKind::Upsert => self.upsert.execute(row).map(|_| false),
            ChangeKind::Delete => {
                let (live, write) = match &mut self.delete {
                    Some(statements) => statements,
                    None => self.delete.insert(prepare_delete(tx)?),
                };
                live.query_row(
                    params![
                        self.instance,
                        change.object_type,
                        change.external_id,
                        self.run_id
                    ],
                    |r| r.get::<_, bool>(0),
                )
                .optional()
                .and_then(|deletes_existing| {
                    write
                        .execute(row)
                        .map(|_| deletes_existing.unwrap_or(false))
                })
            }
        }
        .map_err(|e| tx.err(e))
    }
}

/// Writes a run's final state on `conn`.
fn write_finish(
    conn: &Connection,
    path: &Path,
    run_id: i64,
    f: &RunFinish<'_>,
) -> Result<(), StoreError> {
    let counts = serde_json::to_string(f.counts).unwrap_or_else(|_| "{}".into());
    let metrics = serde_json::to_string(f.metrics).unwrap_or_else(|_| "{}".into());
    let purged = serde_json::to_string(f.purged).unwrap_or_else(|_| "{}".into());
    let warnings = serde_json::to_string(f.warnings).unwrap_or_else(|_| "[]".into());
    let record_error_list =
        serde_json::to_string(f.record_error_list).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "UPDATE runs SET status = ?2, ended_at = ?3, duration_ms = ?4, counts = ?5, \
         metrics = ?6, record_errors = ?7, error_kind = ?8, error = ?9, new_watermark = ?10, \
         watermark_advanced = ?11, purged = ?12, warnings = ?13, record_error_list = ?14 \
         WHERE id = ?1",
        params![
            run_id,
            f.status.as_str(),
            f.ended_at,
            i64::try_from(f.duration_ms).unwrap_or(i64::MAX),
            counts,
            metrics,
            i64::try_from(f.record_errors).unwrap_or(i64::MAX),
            f.error_kind,
            f.error,
            f.new_watermark,
            f.watermark_advanced,
            purged,
            warnings,
            record_error_list
        ],
    )
    .map(drop)
    .map_err(|e| store_error(path, e))
}

impl Store {
    /// `SELECT` of a [`RawObject`] from the objects, either layout.
    fn object_select(&self) -> String {
        format!(
            "SELECT instance, object_type, external_id, attributes, deleted, deleted_by, \
             first_seen_run, last_seen_run FROM {}",
            self.objects_table()
        )
    }
}

/// A change's attributes as a row stores them: `{}` when there are none,
/// else `[names_id, value, ...]`, the values in name order and the names
/// once per distinct list in `attribute_names` (a JSON array). Rows written
/// before version 4 hold a JSON object, which is read as it is.
pub(crate) struct StoredAttributes<'a> {
    names: Option<i64>,
    attributes: &'a Attributes,
}

impl StoredAttributes<'_> {
    /// Appends the row's JSON text to `out`, as `serde_json` writes it.
    ///
    /// A string value with nothing to escape (no `"`, `\` or control
    /// character: nearly every HR value) is copied as it is between its
    /// quotes; any other value goes through `serde_json`. (Its escaping
    /// loop was 6 % of a REST import's instructions; this writes the same
    /// bytes with 1.7 % fewer in all, see docs/benchmarks.md.)
    ///
    /// # Errors
    /// None in practice (`out` is memory); a value `serde_json` cannot
    /// write would be its error.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let Some(names) = self.names else {
            out.extend_from_slice(b"{}");
            return Ok(());
        };
        out.push(b'[');
        serde_json::to_writer(&mut *out, &names)?;
        for value in self.attributes.values() {
            out.push(b',');
            match value {
                Value::String(s) | Value::Reference(s) if !needs_escape(s.as_bytes()) => {
                    out.push(b'"');
                    out.extend_from_slice(s.as_bytes());
                    out.push(b'"');
                }
                other => serde_json::to_writer(&mut *out, other)?,
            }
        }
        out.push(b']');
        Ok(())
    }
}

/// Whether JSON must escape a byte of `text`: `"`, `\` or a control
/// character below U+0020 (what `serde_json` escapes; it writes the rest,
/// non-ASCII included, as it is). Every byte is tested, without an early
/// exit, so that the compiler may test several at once; values are short
/// (~15 bytes), and testing 16 bytes a step explicitly measured slower.
fn needs_escape(text: &[u8]) -> bool {
    text.iter().fold(false, |found, &b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    })
}

/// The attribute name lists a run wrote, by a cheap key: record after
/// record carries one of a few lists of the connector's fixed names.
#[derive(Default)]
struct NameLists {
    by_key: HashMap<u64, Vec<(NameList, i64)>>,
}

/// A list of attribute names, in order.
type NameList = Vec<Cow<'static, str>>;

impl NameLists {
    /// A key of the list: fixed (`&'static str`) names by address, owned
    /// ones by content. Equal lists of fixed names always get equal keys.
    ///
    /// Every change asks for one, so the addresses are folded by a
    /// multiply-rotate step (a few instructions a name) rather than by
    /// SipHash: the key only picks a bucket, and [`NameLists::get`] still
    /// compares the lists.
    fn key(attributes: &Attributes) -> u64 {
        let fold = |h: u64, x: u64| (h.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
        attributes.keys().fold(0, |h, name| match name {
            Cow::Borrowed(n) => fold(fold(h, n.as_ptr() as u64), n.len() as u64),
            Cow::Owned(n) => {
                let mut content = DefaultHasher::new();
                n.hash(&mut content);
                fold(h, content.finish())
            }
        })
    }

    fn get(&self, key: u64, attributes: &Attributes) -> Option<i64> {
        // The same fixed name is the same address: equal without reading it.
        let same = |a: &Cow<'static, str>, b: &Cow<'static, str>| {
            (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
        };
        self.by_key
            .get(&key)?
            .iter()
            .find(|(names, _)| {
                names.len() == attributes.len()
                    && names.iter().zip(attributes.keys()).all(|(a, b)| same(a, b))
            })
            .map(|(_, id)| *id)
    }

    fn insert(&mut self, key: u64, attributes: &Attributes, id: i64) {
        let names = attributes.keys().cloned().collect();
        self.by_key.entry(key).or_default().push((names, id));
    }
}

/// Name lists read from `attribute_names`, by id.
type NamesById = HashMap<i64, Vec<String>>;

/// Reads a row's attributes, in either form (see [`StoredAttributes`]),
/// into a JSON object. `Err` says what is wrong with them.
fn read_attributes(
    conn: &Connection,
    text: &str,
    names_by_id: &mut NamesById,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if !text.trim_start().starts_with('[') {
        return serde_json::from_str(text).map_err(|e| e.to_string());
    }
    let mut row: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let id = match row.first() {
        Some(v) => v.as_i64().ok_or("its name list id is not a number")?,
        None => return Err("the row is an empty array".into()),
    };
    let names = match names_by_id.entry(id) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(new) => {
            let names: Option<String> = conn
                .query_row(
                    "SELECT names FROM attribute_names WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| format!("cannot read attribute name list {id}: {e}"))?;
            let names = names.ok_or_else(|| format!("attribute name list {id} is missing"))?;
            new.insert(
                serde_json::from_str(&names)
                    .map_err(|e| format!("attribute name list {id} is not a list of names: {e}"))?,
            )
        }
    };
    if names.len() + 1 != row.len() {
        return Err(format!(
            "{} values for the {} names of list {id}",
            row.len() - 1,
            names.len()
        ));
    }
    Ok(names.iter().cloned().zip(row.drain(1..)).collect())
}

struct RawObject {
    instance: String,
    object_type: String,
    external_id: String,
    attributes: String,
    deleted: bool,
    deleted_by: Option<String>,
    first_seen_run: i64,
    last_seen_run: i64,
}

fn raw_object(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawObject> {
    Ok(RawObject {
        instance: r.get(0)?,
        object_type: r.get(1)?,
        external_id: r.get(2)?,
        attributes: r.get(3)?,
        deleted: r.get(4)?,
        deleted_by: r.get(5)?,
        first_seen_run: r.get(6)?,
        last_seen_run: r.get(7)?,
    })
}

struct RawRun {
    id: i64,
    instance: String,
    connector: String,
    mode: String,
    status: String,
    started_at: String,
    ended_at: Option<String>,
    duration_ms: Option<i64>,
    counts: String,
    metrics: String,
    record_errors: i64,
    error_kind: Option<String>,
    error: Option<String>,
    old_watermark: Option<String>,
    new_watermark: Option<String>,
    watermark_advanced: bool,
    purged: String,
    warnings: String,
    record_error_list: String,
}

/// `file:PATH?immutable=1` (SQLite then takes no locks and creates no
/// `-wal` or `-shm` file); `None` for a path that is not UTF-8.
///
/// Immutable means SQLite assumes nobody changes the file while it reads.
/// It is used only when no run had the store open; a run that starts during
/// the read writes its `-wal` and leaves the main file alone until a
/// checkpoint, so the read sees the last committed state. Only a run that
/// starts and checkpoints within the read's few milliseconds could make the
/// read fail (it then says so; run the command again).
fn immutable_uri(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let mut uri = String::from(if text.starts_with('/') {
        "file://"
    } else {
        "file:"
    });
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// A SQLite error of the store at `path`: [`StoreError::Busy`] when another
/// process holds the lock.
fn store_error(path: &Path, e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        StoreError::Busy {
            path: path.to_path_buf(),
        }
    } else {
        sqlite(path, e)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of any kind; strings drawn to hold quotes, backslashes,
    /// control characters, DEL and non-ASCII as often as plain text.
    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "[a-zA-Z0-9 .,'-]{0,40}",
            "[\\x00-\\x1f\"\\\\\\x7f a-zé€😀]{0,12}",
            any::<String>(),
        ];
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            text.clone().prop_map(|s| Value::String(s.into())),
            text.prop_map(|s| Value::Reference(s.into())),
            (-3000i32..12000, 1u32..13, 1u32..29)
                .prop_map(|(y, m, d)| Value::date(y, m, d).unwrap_or(Value::Null)),
        ]
    }

    proptest::proptest! {
        /// `write_json` writes what `serde_json` writes for the same row
        /// (`[names_id, value, ...]`, or `{}` without attributes).
        #[test]
        fn a_row_is_written_as_serde_json_writes_it(
            names in proptest::option::of(0i64..1_000_000),
            values in proptest::collection::vec(any_value(), 0..8),
        ) {
            let mut attributes = Attributes::new();
            for (i, v) in values.iter().enumerate() {
                attributes.insert(format!("a{i:02}").into(), v.clone());
            }
            let names = if attributes.is_empty() { None } else { names };
            let expected = match names {
                None => "{}".to_string(),
                Some(id) => {
                    let mut row = vec![serde_json::json!(id)];
                    row.extend(values.iter().map(|v| serde_json::to_value(v).unwrap()));
                    serde_json::to_string(&row).unwrap()
                }
            };
            let mut out = b"kept".to_vec();
            StoredAttributes { names, attributes: &attributes }.write_json(&mut out).unwrap();
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), format!("kept{expected}"));
        }
    }

    #[test]
    fn what_json_escapes_is_found_anywhere_in_a_string() {
        for bad in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in [0, 1, 15, 16, 31, 32, 40] {
                let mut text = vec![b'a'; 41];
                text[at] = bad;
                assert!(needs_escape(&text), "byte {bad:#x} at {at}");
            }
        }
        assert!(!needs_escape(
            "plain text, 0x7f \u{7f} and ünïcödé €".as_bytes()
        ));
        assert!(!needs_escape(b""));
    }

    /// Applies `changes` in one run transaction, committed or dropped.
    fn in_transaction(s: &Store, run: i64, changes: &[(&Change, &str)], commit: bool) -> Vec<bool> {
        let (conn, path) = s.shared_connection();
        let mut guard = lock(&conn);
        let tx = RunTransaction::begin(&mut guard, &path).unwrap();
        // One writer for all the changes, as the engine has for a page.
        let mut objects = tx.objects("w:t", run, ImportMode::Full).unwrap();
        let deleted = changes
            .iter()
            .map(|(c, attrs)| objects.apply(c, attrs.as_bytes()).unwrap())
            .collect();
        drop(objects);
        if commit {
            tx.commit().unwrap();
        }
        deleted
    }

    #[test]
    fn upsert_delete_and_rehire() {
        let s = Store::open_in_memory().unwrap();
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let mut c = Change::new("User", "a", ChangeKind::Upsert);
        let mut d = c.clone();
        d.kind = ChangeKind::Delete;
        let deleted = in_transaction(&s, run, &[(&c, r#"{"firstName":"Ada"}"#), (&d, "{}")], true);
        assert_eq!(
            deleted,
            [false, false],
            "created by this run: not a deletion"
        );
        let o = s.object("w:t", "User", "a").unwrap().unwrap();
        assert!(o.deleted);
        assert_eq!(o.deleted_by.as_deref(), Some("change"));
        assert_eq!(
            o.attributes["firstName"], "Ada",
            "a delete keeps the attributes"
        );
        assert!(s.live_objects("w:t", "User").unwrap().is_empty());
        let run2 = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:01:00Z", None)
            .unwrap();
        c.attributes.insert(
            "firstName".into(),
            connector_api::Value::String("Ada2".into()),
        );
        in_transaction(&s, run2, &[(&c, r#"{"firstName":"Ada2"}"#)], true);
        let o = s.object("w:t", "User", "a").unwrap().unwrap();
        assert!(!o.deleted);
        assert_eq!(o.attributes["firstName"], "Ada2");
        let run3 = s
            .begin_run("w:t", "w", ImportMode::Delta, "2026-01-01T00:02:00Z", None)
            .unwrap();
        let deleted = in_transaction(&s, run3, &[(&d, "{}"), (&d, "{}")], true);
        assert_eq!(
            deleted,
            [true, false],
            "a live older object, then an already deleted one"
        );
    }

    /// Attributes are stored as `[names_id, values...]`, one name list per
    /// distinct list, and read back (by the store and by the `objects_json`
    /// view) as the JSON object serde_json writes; an older `{...}` row
    /// reads as it is, and a row whose list is missing or of another length
    /// is reported, not guessed.
    #[test]
    fn attributes_are_stored_without_their_names_and_read_back_whole() {
        use connector_api::Value;
        let dir = temp_dir();
        let s = Store::open(&dir.join("s.db")).unwrap();
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let mut a = Change::new("User", "a", ChangeKind::Upsert);
        a.attributes
            .insert("firstName".into(), Value::String("Zoë \"Z\"".into()));
        a.attributes
            .insert("hireDate".into(), Value::date(2020, 1, 31).unwrap());
        a.attributes.insert("isManager".into(), Value::Bool(true));
        a.attributes.insert("manager".into(), Value::Null);
        let mut b = Change::new("User", "b", ChangeKind::Upsert);
        b.attributes = a.attributes.clone();
        b.attributes
            .insert("firstName".into(), Value::String("Ada".into()));
        let mut c = Change::new("User", "c", ChangeKind::Upsert);
        // Owned names, as a plugin's changes carry them: the same list.
        c.attributes = a
            .attributes
            .iter()
            .map(|(n, v)| (Cow::Owned(n.to_string()), v.clone()))
            .collect();
        let mut d = Change::new("User", "d", ChangeKind::Upsert);
        d.attributes
            .insert("firstName".into(), Value::String("Eve".into()));
        let e = Change::new("User", "e", ChangeKind::Delete);
        {
            let (conn, path) = s.shared_connection();
            let mut guard = lock(&conn);
            let tx = RunTransaction::begin(&mut guard, &path).unwrap();
            let mut objects = tx.objects("w:t", run, ImportMode::Full).unwrap();
            for change in [&a, &b, &c, &d, &e] {
                let mut json = Vec::new();
                tx.stored(&change.attributes)
                    .unwrap()
                    .write_json(&mut json)
                    .unwrap();
                objects.apply(change, &json).unwrap();
            }
            drop(objects);
            tx.commit().unwrap();
        }
        let conn = Connection::open(dir.join("s.db")).unwrap();
        let rows: Vec<(String, String)> = pairs(
            &conn,
            "SELECT external_id, attributes FROM objects ORDER BY external_id",
        );
        let lists: Vec<(i64, String)> =
            pairs(&conn, "SELECT id, names FROM attribute_names ORDER BY id");
        assert_eq!(
            lists,
            [
                (
                    1,
                    r#"["firstName","hireDate","isManager","manager"]"#.to_string()
                ),
                (2, r#"["firstName"]"#.to_string())
            ]
        );
        assert_eq!(
            rows,
            [
                (
                    "a".to_string(),
                    r#"[1,"Zoë \"Z\"","2020-01-31",true,null]"#.to_string()
                ),
                (
                    "b".to_string(),
                    r#"[1,"Ada","2020-01-31",true,null]"#.to_string()
                ),
                (
                    "c".to_string(),
                    r#"[1,"Zoë \"Z\"","2020-01-31",true,null]"#.to_string()
                ),
                ("d".to_string(), r#"[2,"Eve"]"#.to_string()),
                ("e".to_string(), "{}".to_string()),
            ]
        );
        for change in [&a, &b, &c, &d, &e] {
            let json = serde_json::to_string(&change.attributes).unwrap();
            let stored = s
                .object("w:t", "User", &change.external_id)
                .unwrap()
                .unwrap();
            assert_eq!(serde_json::to_string(&stored.attributes).unwrap(), json);
            let viewed: String = conn
                .query_row(
                    "SELECT attributes FROM objects_json WHERE external_id = ?1",
                    [&change.external_id],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(viewed, json, "{}", change.external_id);
        }
        // An older row (a JSON object) reads as it is; broken rows say so.
        conn.execute_batch(
            r#"UPDATE objects SET attributes = '{"firstName":"Old"}' WHERE external_id = 'a';
               UPDATE objects SET attributes = '[9,"x"]' WHERE external_id = 'b';
               UPDATE objects SET attributes = '[2,"x","y"]' WHERE external_id = 'c';"#,
        )
        .unwrap();
        let old = s.object("w:t", "User", "a").unwrap().unwrap();
        assert_eq!(old.attributes["firstName"], "Old");
        for (id, why) in [
            ("b", "attribute name list 9 is missing"),
            ("c", "2 values for the 1 names of list 2"),
        ] {
            let e = s.object("w:t", "User", id).unwrap_err();
            assert!(
                matches!(&e, StoreError::Corrupt { why: w, .. } if w.ends_with(why)),
                "{id}: {e}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dropped_run_transaction_rolls_back() {
        let s = Store::open_in_memory().unwrap();
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let c = Change::new("User", "a", ChangeKind::Upsert);
        in_transaction(&s, run, &[(&c, "{}")], false);
        assert!(s.object("w:t", "User", "a").unwrap().is_none());
        in_transaction(&s, run, &[(&c, "{}")], true);
        assert!(s.object("w:t", "User", "a").unwrap().is_some());
    }

    #[test]
    fn stale_running_rows_become_abandoned() {
        let s = Store::open_in_memory().unwrap();
        let first = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let second = s
            .begin_run("w:t", "w", ImportMode::Delta, "2026-01-01T00:01:00Z", None)
            .unwrap();
        assert_eq!(s.run(first).unwrap().unwrap().status, RunStatus::Abandoned);
        assert_eq!(s.run(second).unwrap().unwrap().status, RunStatus::Running);
        let runs = s.runs(None).unwrap();
        assert_eq!(runs[0].id, second, "newest first");
    }

    #[test]
    fn runs_of_filters_by_instance_and_limits_newest_first() {
        let s = Store::open_in_memory().unwrap();
        let mut ids = Vec::new();
        for (instance, at) in [("w:a", "00"), ("w:b", "01"), ("w:a", "02"), ("w:a", "03")] {
            let started = format!("2026-01-01T00:{at}:00Z");
            ids.push(
                s.begin_run(instance, "w", ImportMode::Full, &started, None)
                    .unwrap(),
            );
        }
        let got = |instance, limit| -> Vec<i64> {
            s.runs_of(instance, limit)
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect()
        };
        assert_eq!(got(Some("w:a"), Some(2)), vec![ids[3], ids[2]]);
        assert_eq!(got(Some("w:a"), None), vec![ids[3], ids[2], ids[0]]);
        assert_eq!(got(Some("w:b"), None), vec![ids[1]]);
        assert_eq!(got(Some("w:none"), None), Vec::<i64>::new());
        assert_eq!(got(None, Some(3)), vec![ids[3], ids[2], ids[1]]);
        assert_eq!(s.runs(None).unwrap().len(), 4);
    }

    #[test]
    fn open_existing_does_not_create() {
        let p = std::env::temp_dir().join(format!("harness-nostore-{}.db", rand::random::<u64>()));
        assert!(Store::open_existing(&p).unwrap().is_none());
        assert!(!p.exists());
    }

    /// Every row of `sql`'s two columns.
    fn pairs<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql>(
        conn: &Connection,
        sql: &str,
    ) -> Vec<(A, B)> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The integer value of `PRAGMA name` on the store's connection.
    fn pragma(s: &Store, name: &str) -> i64 {
        s.conn()
            .query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("harness-store-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn side(path: &Path, suffix: &str) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    }

    /// A store with one finished run, closed (SQLite removed its `-wal`).
    fn closed_store(path: &Path) {
        let s = Store::open(path).unwrap();
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let c = Change::new("User", "a", ChangeKind::Upsert);
        in_transaction(&s, run, &[(&c, "{}")], true);
        drop(s);
        assert!(!side(path, "-wal").exists() && !side(path, "-shm").exists());
    }

    #[cfg(unix)]
    #[test]
    fn open_existing_reads_without_writing_anything() {
        use std::os::unix::fs::MetadataExt;
        let dir = temp_dir();
        let path = dir.join("s.db");
        closed_store(&path);
        let before = std::fs::metadata(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        {
            let s = Store::open_existing(&path).unwrap().unwrap();
            assert_eq!(s.runs(None).unwrap().len(), 1);
            assert!(s.object("w:t", "User", "a").unwrap().is_some());
            assert!(!side(&path, "-wal").exists(), "no -wal while open");
            assert!(!side(&path, "-shm").exists(), "no -shm while open");
        }
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (after.len(), after.mtime(), after.mtime_nsec()),
            (before.len(), before.mtime(), before.mtime_nsec())
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "not a byte changed");
        assert!(!side(&path, "-wal").exists() && !side(&path, "-shm").exists());
        assert!(!side(&path, "-journal").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_existing_reads_a_store_a_run_has_open() {
        let dir = temp_dir();
        let path = dir.join("s.db");
        closed_store(&path);
        let writer = Store::open(&path).unwrap();
        writer.watermark("w:t").unwrap();
        assert!(side(&path, "-wal").exists());
        let s = Store::open_existing(&path).unwrap().unwrap();
        assert_eq!(s.runs(None).unwrap().len(), 1);
        drop((s, writer));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn open_existing_of_a_file_with_no_tables_is_none_and_of_a_foreign_one_an_error() {
        let dir = temp_dir();
        let empty = dir.join("empty.db");
        std::fs::write(&empty, "").unwrap();
        assert!(Store::open_existing(&empty).unwrap().is_none());
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
        let foreign = dir.join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = Store::open_existing(&foreign).unwrap_err();
        assert!(matches!(e, StoreError::Incompatible { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `objects` as versions 1 and 2 had it: keyed by the instance's name.
    const NAMED_OBJECTS: &str = "
        CREATE TABLE objects (
            instance       TEXT    NOT NULL,
            object_type    TEXT    NOT NULL,
            external_id    TEXT    NOT NULL,
            attributes     TEXT    NOT NULL,
            deleted        INTEGER NOT NULL DEFAULT 0,
            deleted_by     TEXT,
            first_seen_run INTEGER NOT NULL,
            last_seen_run  INTEGER NOT NULL,
            PRIMARY KEY (instance, object_type, external_id)
        );
        CREATE INDEX objects_by_seen ON objects (instance, object_type, deleted, last_seen_run);
        INSERT INTO objects VALUES ('w:t', 'User', 'a', '{\"firstName\":\"Ada\"}', 0, NULL, 1, 1);
        INSERT INTO objects VALUES ('w:t', 'User', 'b', '{}', 1, 'purge', 1, 1);
        INSERT INTO objects VALUES ('w:other', 'User', 'a', '{}', 0, NULL, 1, 1);";

    /// The tables of a version 1 or 2 store, as those versions created them.
    fn old_tables(conn: &Connection) {
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE watermarks (instance TEXT PRIMARY KEY, watermark TEXT NOT NULL,
                 run_id INTEGER NOT NULL, committed_at TEXT NOT NULL);",
        )
        .unwrap();
        let runs = SCHEMA
            .split("CREATE TABLE IF NOT EXISTS runs")
            .nth(1)
            .unwrap();
        conn.execute_batch(&format!("CREATE TABLE runs {runs}"))
            .unwrap();
        conn.execute_batch(NAMED_OBJECTS).unwrap();
    }

    /// What a read-only open and a migrated store both read of the objects
    /// [`NAMED_OBJECTS`] holds.
    fn assert_named_objects_read(s: &Store) {
        let a = s.object("w:t", "User", "a").unwrap().unwrap();
        assert_eq!(
            (
                a.instance.as_str(),
                a.attributes["firstName"].as_str(),
                a.deleted
            ),
            ("w:t", Some("Ada"), false)
        );
        let b = s.object("w:t", "User", "b").unwrap().unwrap();
        assert_eq!((b.deleted, b.deleted_by.as_deref()), (true, Some("purge")));
        assert_eq!(s.all_objects("w:t", "User").unwrap().len(), 2);
        assert_eq!(s.live_objects("w:other", "User").unwrap().len(), 1);
        assert_eq!(
            s.object_counts("w:t").unwrap()["User"],
            ObjectCounts {
                live: 1,
                deleted: 1
            }
        );
        assert_eq!(s.instances().unwrap(), ["w:other", "w:t"]);
    }

    /// A version 1 store: the tables without the run history's detail
    /// columns, one finished run, objects keyed by the instance's name.
    fn version_1_store(path: &Path) {
        let conn = Connection::open(path).unwrap();
        old_tables(&conn);
        conn.execute_batch(
            "INSERT INTO meta (key, value) VALUES ('schema_version', '1');
             INSERT INTO runs (instance, connector, mode, status, started_at, record_errors, metrics)
             VALUES ('w:t', 'w', 'Full', 'SucceededWithRecordErrors', '2026-01-01T00:00:00Z', 2,
                     '{\"requests\":1,\"retries\":0,\"pages\":1,\"records\":3}');",
        )
        .unwrap();
    }

    #[test]
    fn a_version_1_store_is_read_as_is_and_migrated_by_a_writable_open() {
        let dir = temp_dir();
        let path = dir.join("v1.db");
        version_1_store(&path);
        let bytes = std::fs::read(&path).unwrap();
        {
            let s = Store::open_existing(&path).unwrap().unwrap();
            let runs = s.runs(None).unwrap();
            assert_eq!(runs.len(), 1);
            assert_eq!(runs[0].record_errors, 2);
            assert!(runs[0].warnings.is_empty() && runs[0].record_error_list.is_empty());
            assert_named_objects_read(&s);
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "read-only: not a byte changed"
        );

        let s = Store::open(&path).unwrap();
        assert!(s.missing_run_columns().unwrap().is_empty());
        let version: String = s
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, "4");
        assert_eq!(s.runs(None).unwrap()[0].record_errors, 2, "old rows kept");
        assert!(!s.has_named_objects().unwrap());
        assert_named_objects_read(&s);

        let run = s
            .begin_run("w:t", "w", ImportMode::Delta, "2026-01-02T00:00:00Z", None)
            .unwrap();
        let errors = vec![RecordError {
            object_type: "User".into(),
            position: 7,
            external_id: Some("u7".into()),
            field: Some("hireDate".into()),
            message: "not a date".into(),
        }];
        let warnings = vec!["a warning".to_string()];
        s.finish_run(
            run,
            &RunFinish {
                status: RunStatus::SucceededWithRecordErrors,
                ended_at: "2026-01-02T00:00:01Z",
                duration_ms: 1000,
                counts: &Counts::default(),
                metrics: &MetricsSnapshot::default(),
                record_errors: 1,
                error_kind: None,
                error: None,
                new_watermark: None,
                watermark_advanced: false,
                purged: &BTreeMap::new(),
                warnings: &warnings,
                record_error_list: &errors,
            },
        )
        .unwrap();
        drop(s);
        let s = Store::open_existing(&path).unwrap().unwrap();
        let r = s.run(run).unwrap().unwrap();
        assert_eq!(r.warnings, warnings);
        assert_eq!(r.record_error_list, errors);
        // A newer store is refused.
        drop(s);
        Connection::open(&path)
            .unwrap()
            .execute_batch("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
            .unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, StoreError::Incompatible { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_writable_open_sets_the_run_pragmas() {
        let dir = temp_dir();
        let s = Store::open(&dir.join("s.db")).unwrap();
        assert_eq!(pragma(&s, "synchronous"), 1, "NORMAL");
        assert_eq!(pragma(&s, "temp_store"), 2, "MEMORY");
        assert_eq!(pragma(&s, "cache_size"), -8192, "8 MiB");
        assert_eq!(pragma(&s, "page_size"), i64::from(PAGE_SIZE), "a new store");
        assert_eq!(pragma(&s, "page_size"), 32_768);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_existing_store_keeps_its_page_size_and_its_cache_stays_8_mib() {
        let dir = temp_dir();
        let path = dir.join("old.db");
        {
            // A store created before PAGE_SIZE: SQLite's default 4 KiB.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
                .unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            conn.execute_batch(OBJECTS_SCHEMA).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(pragma(&s, "page_size"), 4096);
        assert_eq!(pragma(&s, "cache_size"), -8192, "a cap in bytes, not pages");
        let run = s
            .begin_run(
                "w:t",
                "workday",
                ImportMode::Full,
                "2026-01-01T00:00:00Z",
                None,
            )
            .unwrap();
        let change = Change::new("User", "a", ChangeKind::Upsert);
        in_transaction(&s, run, &[(&change, "{}")], true);
        assert_eq!(s.live_objects("w:t", "User").unwrap().len(), 1);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Stores created before the key began with `external_id` keep their
    /// `(instance_id, object_type, external_id)` key: the same statements
    /// upsert, update and delete on either (a conflict target names the
    /// key's columns, not their order).
    #[test]
    fn a_store_keyed_instance_first_is_written_by_the_same_statements() {
        let dir = temp_dir();
        let path = dir.join("instance-first.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            let old = OBJECTS_SCHEMA.replace(
                "PRIMARY KEY (external_id, object_type, instance_id)",
                "PRIMARY KEY (instance_id, object_type, external_id)",
            );
            assert_ne!(old, OBJECTS_SCHEMA);
            conn.execute_batch(&old).unwrap();
        }
        let s = Store::open(&path).unwrap();
        let key: String = {
            let (conn, _) = s.shared_connection();
            let sql = lock(&conn)
                .query_row(
                    "SELECT sql FROM sqlite_master WHERE name = 'objects'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            sql
        };
        assert!(key.contains("PRIMARY KEY (instance_id, object_type, external_id)"));
        let begin = |mode| {
            s.begin_run("w:t", "workday", mode, "2026-01-01T00:00:00Z", None)
                .unwrap()
        };
        let ada = Change::new("User", "a", ChangeKind::Upsert);
        let bob = Change::new("User", "b", ChangeKind::Upsert);
        let run = begin(ImportMode::Full);
        in_transaction(&s, run, &[(&ada, "{}"), (&bob, "{}")], true);
        // The same ids again: each is one row, updated in place.
        let run = begin(ImportMode::Full);
        let gone = Change::new("User", "b", ChangeKind::Delete);
        let deleted = in_transaction(&s, run, &[(&ada, "{}"), (&gone, "{}")], true);
        assert_eq!(deleted, [false, true]);
        assert_eq!(s.live_objects("w:t", "User").unwrap().len(), 1);
        let rows: i64 = {
            let (conn, _) = s.shared_connection();
            let n = lock(&conn)
                .query_row("SELECT COUNT(*) FROM objects", [], |r| r.get(0))
                .unwrap();
            n
        };
        assert_eq!(rows, 2);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_version_2_store_is_read_as_is_and_its_objects_rekeyed_by_a_writable_open() {
        let dir = temp_dir();
        let path = dir.join("v2.db");
        {
            let conn = Connection::open(&path).unwrap();
            old_tables(&conn);
            conn.execute_batch(
                "ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
                 ALTER TABLE runs ADD COLUMN record_error_list TEXT NOT NULL DEFAULT '[]';
                 INSERT INTO meta (key, value) VALUES ('schema_version', '2');",
            )
            .unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_named_objects_read(&Store::open_existing(&path).unwrap().unwrap());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "read-only: not a byte changed"
        );

        let s = Store::open(&path).unwrap();
        assert_named_objects_read(&s);
        let tables: Vec<String> = s
            .conn()
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            tables.contains(&"objects_by_seen".to_string())
                && !tables.iter().any(|t| t.contains("version_2")),
            "{tables:?}"
        );
        // A run updates the migrated rows in place (the key is the same).
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-02T00:00:00Z", None)
            .unwrap();
        let mut c = Change::new("User", "a", ChangeKind::Upsert);
        c.external_id = "b".into();
        in_transaction(&s, run, &[(&c, r#"{"firstName":"Bea"}"#)], true);
        let b = s.object("w:t", "User", "b").unwrap().unwrap();
        assert_eq!(
            (b.deleted, b.first_seen_run, b.last_seen_run),
            (false, 1, run)
        );
        assert_eq!(s.all_objects("w:t", "User").unwrap().len(), 2);
        drop(s);
        let s = Store::open_existing(&path).unwrap().unwrap();
        assert!(!s.has_named_objects().unwrap());
        assert_eq!(s.live_objects("w:t", "User").unwrap().len(), 2);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_delta_writes_nothing_for_an_unchanged_live_object() {
        let s = Store::open_in_memory().unwrap();
        let full = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        let a = Change::new("User", "a", ChangeKind::Upsert);
        let b = Change::new("User", "b", ChangeKind::Upsert);
        let mut gone = Change::new("User", "c", ChangeKind::Delete);
        in_transaction(&s, full, &[(&a, "{}"), (&b, "{}"), (&gone, "{}")], true);
        let delta = s
            .begin_run("w:t", "w", ImportMode::Delta, "2026-01-01T00:01:00Z", None)
            .unwrap();
        gone.kind = ChangeKind::Upsert;
        let (conn, path) = s.shared_connection();
        {
            let mut guard = lock(&conn);
            let tx = RunTransaction::begin(&mut guard, &path).unwrap();
            for (c, attrs) in [(&a, "{}"), (&b, r#"{"x":"1"}"#), (&gone, "{}")] {
                tx.apply("w:t", delta, ImportMode::Delta, c, attrs).unwrap();
            }
            tx.commit().unwrap();
        }
        let seen = |id: &str| {
            let o = s.object("w:t", "User", id).unwrap().unwrap();
            (o.deleted, o.last_seen_run, o.attributes.len())
        };
        assert_eq!(seen("a"), (false, full, 0), "unchanged: not written");
        assert_eq!(seen("b"), (false, delta, 1), "changed");
        assert_eq!(seen("c"), (false, delta, 0), "revived though identical");
        // A full run records every object it sees, changed or not.
        let full2 = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:02:00Z", None)
            .unwrap();
        in_transaction(&s, full2, &[(&a, "{}")], true);
        assert_eq!(seen("a"), (false, full2, 0));
    }

    /// The store, its WAL and its shared-memory file are owner-only,
    /// whatever the umask.
    #[cfg(unix)]
    #[test]
    fn a_new_store_and_its_wal_and_shm_are_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let path = dir.join("s.db");
        let s = Store::open(&path).unwrap();
        let run = s
            .begin_run("w:t", "w", ImportMode::Full, "2026-01-01T00:00:00Z", None)
            .unwrap();
        s.watermark("w:t").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&side(&path, "-wal")), 0o600);
        assert_eq!(mode(&side(&path, "-shm")), 0o600);
        assert!(run > 0);
        drop(s);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
