//! [`PostgresStore`]: the backend for several nodes sharing one database.
//!
//! Atomicity: every write is one READ COMMITTED transaction that reads the
//! current row with `SELECT … FOR UPDATE`, so the row stays locked while
//! the decision runs and until the write commits; a second writer's
//! `SELECT … FOR UPDATE` waits and then sees the winner's version. A
//! missing row cannot be locked, so creation uses
//! `INSERT … ON CONFLICT DO NOTHING`: when two writers create the same id,
//! the second inserts nothing, rolls back and runs again, now finding (and
//! locking) the first one's row. Serialization failures and deadlocks are
//! retried the same way, a bounded number of times.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use revalidate_core::HttpDate;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{AssertSqlSafe, Postgres, Transaction};

use crate::StoreError;
use crate::error::{ErrorClass, classify_transport};
use crate::key::ResourceKey;
use crate::resource::{Change, Resource, WriteOutcome};
use crate::retry::{AttemptError, Transactional, write_with_retries};
use crate::sql::{SqlDialect, decide_and_write, read_row};
use crate::store::Store;

/// The PostgreSQL schema, embedded in the binary.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Connections per pool (per node).
const MAX_CONNECTIONS: u32 = 16;

/// How long an operation waits for a free connection before the store
/// reports itself unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

const SELECT: &str =
    "SELECT version, etag, last_modified, body FROM resources WHERE collection = $1 AND id = $2";
const SELECT_FOR_UPDATE: &str = "SELECT version, etag, last_modified, body FROM resources \
                                 WHERE collection = $1 AND id = $2 FOR UPDATE";
const INSERT: &str = "INSERT INTO resources (collection, id, version, etag, last_modified, body) \
                      VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (collection, id) DO NOTHING";
const UPDATE: &str = "UPDATE resources SET version = $3, etag = $4, last_modified = $5, body = $6 \
                      WHERE collection = $1 AND id = $2 AND version = $7";
const DELETE: &str = "DELETE FROM resources WHERE collection = $1 AND id = $2 AND version = $3";

/// A [`Store`] in a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database named by a `postgres://` URL and brings
    /// its schema up to date. The tables go into the first schema of the
    /// connection's `search_path` (set it with `?options=-csearch_path%3Dname`,
    /// or use [`open_in_schema`](Self::open_in_schema)).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::connect(parse_url(url)?).await
    }

    /// Like [`open`](Self::open), but keeps everything (tables and the
    /// migration record) in `schema`, created if missing. Several
    /// independent stores can so share one database, as the tests do.
    /// `schema` must match `[a-z_][a-z0-9_]{0,62}`.
    pub async fn open_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
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
        let options = parse_url(url)?;
        let setup = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        // The name was checked above, so quoting it is enough.
        let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
        sqlx::query(AssertSqlSafe(create))
            .execute(&setup)
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        setup.close().await;
        Self::connect(options.options([("search_path", schema)])).await
    }

    async fn connect(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        // sqlx takes an advisory lock while migrating, so nodes starting
        // together apply each migration once; applied ones are skipped.
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn attempt_write<R, F>(
        &self,
        key: &ResourceKey,
        now: HttpDate,
        decide: &mut F,
    ) -> Result<WriteOutcome<R>, AttemptError>
    where
        F: FnMut(Option<&Resource>) -> Result<Change, R>,
    {
        let mut tx = self.pool.begin().await.map_err(attempt_error)?;
        let current = select(&mut tx, key).await?;
        decide_and_write::<Self, R, F>(tx, key, current, now, decide).await
    }
}

impl SqlDialect for PostgresStore {
    type Db = Postgres;
    const INSERT: &'static str = INSERT;
    const UPDATE: &'static str = UPDATE;
    const DELETE: &'static str = DELETE;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    fn attempt_error(error: sqlx::Error) -> AttemptError {
        attempt_error(error)
    }

    fn lost_race(affected: u64) -> String {
        // An insert that hit ON CONFLICT: another writer created the
        // resource after our SELECT found nothing. Roll back (dropping the
        // transaction does) and decide again against its record.
        format!("{affected} rows written; the resource was created concurrently")
    }
}

impl Transactional for PostgresStore {
    const BACKEND: &'static str = "postgres";

    fn attempt<R, F>(
        &self,
        key: &ResourceKey,
        now: HttpDate,
        decide: &mut F,
    ) -> impl Future<Output = Result<WriteOutcome<R>, AttemptError>> + Send
    where
        R: Send,
        F: FnMut(Option<&Resource>) -> Result<Change, R> + Send,
    {
        self.attempt_write(key, now, decide)
    }
}

impl Store for PostgresStore {
    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        read_row::<Postgres>(&mut connection, SELECT, key)
            .await
            .map_err(|e| classify(&e).into_error(e))?
            .map(|row| Resource::from_row(key.clone(), row))
            .transpose()
    }

    async fn write<R, F>(
        &self,
        key: &ResourceKey,
        now: HttpDate,
        decide: F,
    ) -> Result<WriteOutcome<R>, StoreError>
    where
        R: Send,
        F: FnMut(Option<&Resource>) -> Result<Change, R> + Send,
    {
        write_with_retries(self, key, now, decide).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| classify(&e).into_error(e))?;
        Ok(())
    }
}

async fn select(
    tx: &mut Transaction<'_, Postgres>,
    key: &ResourceKey,
) -> Result<Option<Resource>, AttemptError> {
    let row = read_row::<Postgres>(tx, SELECT_FOR_UPDATE, key)
        .await
        .map_err(attempt_error)?;
    Ok(row.map(|row| Resource::from_row(key.clone(), row)).transpose()?)
}

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
        // serialization_failure, deadlock_detected, lock_not_available:
        // the transaction lost a race and may simply be run again.
        "40001" | "40P01" | "55P03" => ErrorClass::Retry,
        // admin_shutdown, crash_shutdown, cannot_connect_now,
        // too_many_connections, and the connection_exception class.
        "57P01" | "57P02" | "57P03" | "53300" => ErrorClass::Unavailable,
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
