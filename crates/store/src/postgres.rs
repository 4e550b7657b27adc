//! [`PostgresStore`]: the backend for several nodes sharing one database.
//!
//! Atomicity: every write is one READ COMMITTED transaction that reads the
//! current row with `SELECT … FOR UPDATE`, so the row stays locked while
//! the decision runs and until the write commits; a second writer's
//! `SELECT … FOR UPDATE` waits and then sees the winner's version. A
//! missing row cannot be locked, so creation uses
//! `INSERT … ON CONFLICT DO NOTHING`: when two writers create the same id,
//! the second inserts nothing, rolls back and runs again, now finding (and
//! locking) the first one's row. The tombstone of a missing resource is
//! read `FOR UPDATE` too, and a creation removes it and checks that it
//! removed exactly what it read, so a delete that slipped in between is a
//! lost race as well. Serialization failures and deadlocks are retried the
//! same way, a bounded number of times.
//!
//! Waits: every operation runs under the store's timeout
//! ([`StoreOptions::timeout`]), and the same value is set on each
//! connection as `statement_timeout`, `lock_timeout` and
//! `idle_in_transaction_session_timeout`, so that the server, too, stops
//! work nobody waits for and releases the locks of a transaction whose
//! node stopped answering.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{AssertSqlSafe, Postgres, Transaction};

use crate::StoreError;
use crate::error::{ErrorClass, classify_transport};
use crate::key::ResourceKey;
use crate::limits::{StoreOptions, bounded};
use crate::resource::{Change, Current, Resource, WriteOutcome};
use crate::retry::{AttemptError, Transactional, write_with_retries};
use crate::sql::{SqlDialect, decide_and_write, read_row, read_state, sql_store};
use crate::stamp::micros_since_epoch;
use crate::store::Store;

/// The PostgreSQL schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per pool (per node).
const MAX_CONNECTIONS: u32 = 16;

const SELECT: &str = "SELECT version, etag, last_modified, last_modified_us, shares_second, body \
                      FROM resources WHERE collection = $1 AND id = $2";
const SELECT_FOR_UPDATE: &str = "SELECT version, etag, last_modified, last_modified_us, shares_second, body \
                                 FROM resources WHERE collection = $1 AND id = $2 FOR UPDATE";
const SELECT_TOMBSTONE: &str = "SELECT deleted_at, deleted_at_us, shares_second FROM resource_tombstones \
                                WHERE collection = $1 AND id = $2 FOR UPDATE";
const INSERT: &str = "INSERT INTO resources \
                      (collection, id, version, etag, last_modified, last_modified_us, shares_second, body) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (collection, id) DO NOTHING";
const UPDATE: &str = "UPDATE resources SET version = $3, etag = $4, last_modified = $5, last_modified_us = $6, \
                      shares_second = $7, body = $8 WHERE collection = $1 AND id = $2 AND version = $9";
const DELETE: &str = "DELETE FROM resources WHERE collection = $1 AND id = $2 AND version = $3";
const UPSERT_TOMBSTONE: &str = "INSERT INTO resource_tombstones \
                                (collection, id, deleted_at, deleted_at_us, shares_second) \
                                VALUES ($1, $2, $3, $4, $5) ON CONFLICT (collection, id) DO UPDATE SET \
                                deleted_at = EXCLUDED.deleted_at, deleted_at_us = EXCLUDED.deleted_at_us, \
                                shares_second = EXCLUDED.shares_second";
const DELETE_TOMBSTONE: &str = "DELETE FROM resource_tombstones WHERE collection = $1 AND id = $2";
// SKIP LOCKED: a tombstone another transaction holds (it is re-creating
// that resource) is left for a later delete; pruning never waits.
const PRUNE_TOMBSTONES: &str = "DELETE FROM resource_tombstones WHERE (collection, id) IN \
                                (SELECT collection, id FROM resource_tombstones WHERE deleted_at < $1 \
                                LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// A [`Store`] in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    pub(crate) options: StoreOptions,
    /// The URL prefix of the API whose writes record purges in the outbox
    /// (`crate::outbox`); `None`: writes record none.
    pub(crate) purge_prefix: Option<Arc<str>>,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL and brings
    /// its schema up to date. The tables go into the first schema of the
    /// connection's `search_path` (set it with `?options=-csearch_path%3Dname`,
    /// or use [`open_in_schema`](Self::open_in_schema)).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// [`open`](Self::open) with these options.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        Self::connect(parse_url(url)?, options).await
    }

    /// Like [`open`](Self::open), but keeps everything (tables and the
    /// migration record) in `schema`, created if missing. Several
    /// independent stores can so share one database, as the tests do.
    /// `schema` must match `[a-z_][a-z0-9_]{0,62}`.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::open_in_schema_with(url, schema, StoreOptions::default()).await
    }

    /// [`open_in_schema`](Self::open_in_schema) with these options.
    pub async fn open_in_schema_with(
        url: &str,
        schema: &str,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let valid = !schema.is_empty()
            && schema.len() <= 63
            && schema
                .bytes()
                .enumerate()
                .all(|(i, b)| b == b'_' || b.is_ascii_lowercase() || (i > 0 && b.is_ascii_digit()));
        if !valid {
            return Err(StoreError::UnsupportedUrl(
                "PostgreSQL schema name must match [a-z_][a-z0-9_]{0,62}".to_owned(),
            ));
        }
        options.validate()?;
        let connect = parse_url(url)?;
        let setup = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        // The name was checked above, so quoting it is enough.
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        bounded(options.timeout, async {
            sqlx::query(AssertSqlSafe(create))
                .execute(&setup)
                .await
                .map_err(|e| classify(&e).into_error(e))
        })
        .await?;
        setup.close().await;
        Self::connect(connect.options([("search_path", schema)]), options).await
    }

    async fn connect(connect: PgConnectOptions, options: StoreOptions) -> Result<Self, StoreError> {
        options.validate()?;
        // In milliseconds, the unit PostgreSQL assumes for a bare number.
        let timeout = options.timeout.as_millis().to_string();
        let connect = connect.options([
            ("statement_timeout", timeout.as_str()),
            ("lock_timeout", timeout.as_str()),
            ("idle_in_transaction_session_timeout", timeout.as_str()),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(options.timeout)
            .connect_with(connect)
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        // sqlx takes an advisory lock while migrating, so nodes starting
        // together apply each migration once; applied ones are skipped.
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

    /// Opens a write transaction (READ COMMITTED; the state is locked by
    /// the `FOR UPDATE` reads).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

impl SqlDialect for PostgresStore {
    type Db = Postgres;
    const SELECT_FOR_WRITE: &'static str = SELECT_FOR_UPDATE;
    const SELECT_TOMBSTONE: &'static str = SELECT_TOMBSTONE;
    const INSERT: &'static str = INSERT;
    const UPDATE: &'static str = UPDATE;
    const DELETE: &'static str = DELETE;
    const UPSERT_TOMBSTONE: &'static str = UPSERT_TOMBSTONE;
    const DELETE_TOMBSTONE: &'static str = DELETE_TOMBSTONE;
    const PRUNE_TOMBSTONES: &'static str = PRUNE_TOMBSTONES;
    const INSERT_PURGE: &'static str = crate::outbox::postgres::INSERT_PURGE;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn attempt_error(error: sqlx::Error) -> AttemptError {
        attempt_error(error)
    }

    fn lost_race(affected: u64) -> String {
        // An insert that hit ON CONFLICT (another writer created the
        // resource after our SELECT found nothing), or a tombstone that
        // appeared meanwhile (another writer created and deleted it). Roll
        // back (dropping the transaction does) and decide again.
        format!("{affected} rows touched; the resource was changed concurrently")
    }
}

sql_store!(PostgresStore, Postgres, "postgres");

fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::UnsupportedUrl(format!("not a PostgreSQL URL: {e}")))
}

fn classify(error: &sqlx::Error) -> ErrorClass {
    if let Some(class) = classify_transport(error) {
        return class;
    }
    let Some(db) = error.as_database_error() else {
        return ErrorClass::Fatal;
    };
    let code = db.code().unwrap_or_default();
    match code.as_ref() {
        // serialization_failure, deadlock_detected, lock_not_available (a
        // lock_timeout): the transaction lost a race and may simply be run
        // again, within the store's timeout.
        "40001" | "40P01" | "55P03" => ErrorClass::Retry,
        // query_canceled (our statement_timeout), admin_shutdown,
        // crash_shutdown, cannot_connect_now, too_many_connections,
        // idle_in_transaction_session_timeout, and the connection_exception
        // class: the database is slow or unreachable, try again later.
        "57014" | "57P01" | "57P02" | "57P03" | "53300" | "25P03" => ErrorClass::Unavailable,
        other if other.starts_with("08") => ErrorClass::Unavailable,
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
