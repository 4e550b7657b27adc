//! [`SqliteStore`]: the embedded backend, one real SQLite file.
//!
//! Atomicity: every write runs in a `BEGIN IMMEDIATE` transaction, which
//! takes SQLite's write lock *before* the current row is read. Read,
//! decision and write are therefore one serialised step, across all
//! connections and all processes that open the same file. The file is in
//! WAL mode so readers never wait for the writer. Waits for the lock are
//! bounded by a busy timeout, and every operation by the store's timeout
//! ([`StoreOptions::timeout`]).

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::StoreError;
use crate::error::{ErrorClass, classify_transport};
use crate::key::ResourceKey;
use crate::limits::{StoreOptions, bounded};
use crate::resource::{Change, Current, Resource, WriteOutcome};
use crate::retry::{AttemptError, Transactional, write_with_retries};
use crate::sql::{SqlDialect, decide_and_write, read_row, read_state, sql_store};
use crate::stamp::micros_since_epoch;
use crate::store::Store;

/// The SQLite schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The longest a connection waits for another writer's lock before SQLite
/// reports busy (and the write is retried). At most half the store's
/// timeout, so that a connection whose operation timed out is not held
/// much longer by SQLite's wait.
const MAX_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections per pool. SQLite has one writer at a time anyway; more
/// connections only serve concurrent reads.
const MAX_CONNECTIONS: u32 = 8;

const SELECT: &str = "SELECT version, etag, last_modified, last_modified_us, shares_second, body \
                      FROM resources WHERE collection = ?1 AND id = ?2";
const SELECT_TOMBSTONE: &str = "SELECT deleted_at, deleted_at_us, shares_second FROM resource_tombstones \
                                WHERE collection = ?1 AND id = ?2";
const INSERT: &str = "INSERT INTO resources \
                      (collection, id, version, etag, last_modified, last_modified_us, shares_second, body) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const UPDATE: &str = "UPDATE resources SET version = ?3, etag = ?4, last_modified = ?5, last_modified_us = ?6, \
                      shares_second = ?7, body = ?8 WHERE collection = ?1 AND id = ?2 AND version = ?9";
const DELETE: &str = "DELETE FROM resources WHERE collection = ?1 AND id = ?2 AND version = ?3";
const UPSERT_TOMBSTONE: &str = "INSERT INTO resource_tombstones \
                                (collection, id, deleted_at, deleted_at_us, shares_second) \
                                VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (collection, id) DO UPDATE SET \
                                deleted_at = excluded.deleted_at, deleted_at_us = excluded.deleted_at_us, \
                                shares_second = excluded.shares_second";
const DELETE_TOMBSTONE: &str = "DELETE FROM resource_tombstones WHERE collection = ?1 AND id = ?2";
const PRUNE_TOMBSTONES: &str = "DELETE FROM resource_tombstones WHERE rowid IN \
                                (SELECT rowid FROM resource_tombstones WHERE deleted_at < ?1 LIMIT ?2)";

/// A [`Store`] in a SQLite database file.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) options: StoreOptions,
    /// The URL prefix of the API whose writes record purges in the outbox
    /// (`crate::outbox`); `None`: writes record none.
    pub(crate) purge_prefix: Option<Arc<str>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database named by a `sqlite:` URL,
    /// such as `sqlite://data/revalidate.db` or `sqlite:///var/lib/x.db`,
    /// and brings its schema up to date. In-memory databases are refused:
    /// each pooled connection would see its own, empty, database; use
    /// [`MemoryStore`](crate::MemoryStore) instead.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with these options.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl(
                "in-memory SQLite is not shared between pooled connections; use `memory:` or a file"
                    .to_owned(),
            ));
        }
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::UnsupportedUrl(format!("not a SQLite URL: {e}")))?;
        Self::connect(connect, options).await
    }

    /// Opens (creating if missing) the database file at `path` and brings
    /// its schema up to date.
    pub async fn open_path(path: &Path) -> Result<Self, StoreError> {
        Self::connect(
            SqliteConnectOptions::new().filename(path),
            StoreOptions::default(),
        )
        .await
    }

    async fn connect(connect: SqliteConnectOptions, options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed write survives a power cut, not only a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout((options.timeout / 2).min(MAX_BUSY_TIMEOUT));
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(options.timeout)
            .connect_with(connect)
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        // sqlx records applied migrations in `_sqlx_migrations`, so running
        // this on every start is a no-op once the schema is current.
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            options,
            purge_prefix: None,
        })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Opens a write transaction. IMMEDIATE takes the write lock now,
    /// before the state is read, so no other writer can slip in between
    /// the read and the write.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl SqlDialect for SqliteStore {
    type Db = Sqlite;
    // The write lock of BEGIN IMMEDIATE already covers every row.
    const SELECT_FOR_WRITE: &'static str = SELECT;
    const SELECT_TOMBSTONE: &'static str = SELECT_TOMBSTONE;
    const INSERT: &'static str = INSERT;
    const UPDATE: &'static str = UPDATE;
    const DELETE: &'static str = DELETE;
    const UPSERT_TOMBSTONE: &'static str = UPSERT_TOMBSTONE;
    const DELETE_TOMBSTONE: &'static str = DELETE_TOMBSTONE;
    const PRUNE_TOMBSTONES: &'static str = PRUNE_TOMBSTONES;
    const INSERT_PURGE: &'static str = crate::outbox::sqlite::INSERT_PURGE;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    fn attempt_error(error: sqlx::Error) -> AttemptError {
        attempt_error(error)
    }

    fn lost_race(affected: u64) -> String {
        // Cannot happen under the write lock; if it does, the row moved
        // under us, and the safe reaction is to start over.
        format!("{affected} rows matched the locked state")
    }
}

sql_store!(SqliteStore, Sqlite, "sqlite");

/// SQLite's primary result codes for "another connection holds the lock".
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

fn classify(error: &sqlx::Error) -> ErrorClass {
    if let Some(class) = classify_transport(error) {
        return class;
    }
    let Some(db) = error.as_database_error() else {
        return ErrorClass::Fatal;
    };
    // sqlx reports the extended result code; its low byte is the primary code.
    match db
        .code()
        .and_then(|code| code.parse::<i32>().ok())
        .map(|code| code & 0xff)
    {
        Some(SQLITE_BUSY | SQLITE_LOCKED) => ErrorClass::Retry,
        _ => ErrorClass::Fatal,
    }
}

fn attempt_error(error: sqlx::Error) -> AttemptError {
    match classify(&error) {
        ErrorClass::Retry => AttemptError::LostRace(error.to_string()),
        class => AttemptError::Failed(class.into_error(error)),
    }
}

/// A driver error as the store's error (no retry: the caller decides).
pub(crate) fn classify_error(error: sqlx::Error) -> StoreError {
    classify(&error).into_error(error)
}
