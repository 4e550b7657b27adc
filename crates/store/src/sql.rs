//! What the SQL backends share: reading a resource's state (its row, or
//! its tombstone), and carrying out a write once the backend has opened
//! its transaction and read (and, as it must, locked) that state. The
//! decision, the [`plan`], the statements for each [`Plan`], the
//! row-count checks and the commit are the same for SQLite and PostgreSQL;
//! only the statements' text, the way a result counts its rows and the way
//! an error is classified differ, and a [`SqlDialect`] says them.

use sqlx::{Database, Encode, Executor, IntoArguments, Transaction, Type};

use crate::key::ResourceKey;
use crate::limits::PRUNE_BATCH;
use crate::resource::{Change, Current, Plan, Resource, StoredRow, WriteOutcome, plan};
use crate::retry::AttemptError;
use crate::stamp::{MICROS_PER_SECOND, Stamp};

/// The parts of a write that differ between SQL backends.
pub(crate) trait SqlDialect {
    /// The sqlx database.
    type Db: Database;
    /// Reads `version, etag, last_modified, last_modified_us, shares_second,
    /// body` of the row `(collection, id)` (parameters 1 and 2), locking it
    /// for the rest of the transaction.
    const SELECT_FOR_WRITE: &'static str;
    /// Reads `deleted_at, deleted_at_us, shares_second` of the tombstone of
    /// `(collection, id)` (1 and 2), locking it for the rest of the
    /// transaction.
    const SELECT_TOMBSTONE: &'static str;
    /// Inserts `(collection, id, version, etag, last_modified,
    /// last_modified_us, shares_second, body)`; touches no row when the
    /// row exists.
    const INSERT: &'static str;
    /// Sets `version, etag, last_modified, last_modified_us,
    /// shares_second, body` (parameters 3 to 8) of the row `(collection,
    /// id)` (1 and 2) whose version is parameter 9.
    const UPDATE: &'static str;
    /// Deletes the row `(collection, id)` whose version is parameter 3.
    const DELETE: &'static str;
    /// Inserts or replaces the tombstone `(collection, id, deleted_at,
    /// deleted_at_us, shares_second)`.
    const UPSERT_TOMBSTONE: &'static str;
    /// Deletes the tombstone of `(collection, id)`.
    const DELETE_TOMBSTONE: &'static str;
    /// Deletes at most parameter 2 tombstones whose `deleted_at` is before
    /// parameter 1, without waiting for any another transaction holds.
    const PRUNE_TOMBSTONES: &'static str;
    /// Records the purge of URL parameter 1, written at parameter 2
    /// (microseconds), for every active edge (the outbox, `crate::outbox`).
    const INSERT_PURGE: &'static str;

    /// How many rows a statement touched.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// A failed statement as a retry (lost race) or a failure.
    fn attempt_error(error: sqlx::Error) -> AttemptError;

    /// Why a statement that touched `affected` rows instead of one means
    /// the attempt lost a race (for the retry's log).
    fn lost_race(affected: u64) -> String;
}

/// The columns of a resource row, in the order of every `SELECT`.
type RowColumns = (i64, String, i64, i64, bool, String);

/// Reads the state of `key` in `tx` with the dialect's locking reads: the
/// row, or, when there is none, the tombstone.
pub(crate) async fn read_state<D>(
    tx: &mut Transaction<'_, D::Db>,
    key: &ResourceKey,
) -> Result<(Option<Resource>, Option<Stamp>), AttemptError>
where
    D: SqlDialect,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    RowColumns: for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row>,
    (i64, i64, bool): for<'r> sqlx::FromRow<'r, <D::Db as Database>::Row>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
{
    let row = read_row::<D::Db>(&mut **tx, D::SELECT_FOR_WRITE, key)
        .await
        .map_err(D::attempt_error)?;
    if let Some(row) = row {
        return Ok((Some(Resource::from_row(key.clone(), row)?), None));
    }
    let tombstone = sqlx::query_as::<D::Db, (i64, i64, bool)>(D::SELECT_TOMBSTONE)
        .bind(key.collection().as_str())
        .bind(key.id())
        .fetch_optional(&mut **tx)
        .await
        .map_err(D::attempt_error)?;
    let removed = match tombstone {
        None => None,
        Some((second, micros, shares)) => Some(Stamp::from_columns(second, micros, shares).ok_or_else(
            || crate::StoreError::Corrupt {
                key: key.to_string(),
                problem: format!("tombstone time {second}.{micros:06} is out of range"),
            },
        )?),
    };
    Ok((None, removed))
}

/// Decides with `decide` against the state read in `tx` (which holds the
/// lock on it), writes what was decided and commits; a refusal rolls back.
/// `now` is the writer's clock in microseconds; tombstones older than
/// `retention_seconds` are pruned a batch at a time by deletes. With
/// `purge_prefix`, a committed change also records the purge of the
/// resource's URL (`{purge_prefix}{collection}/{id}`) in the outbox, in the
/// same transaction. A statement
/// that does not touch the rows it must is a lost race: `tx` is dropped
/// (rolled back) and the caller runs the attempt again.
pub(crate) async fn decide_and_write<D, R, F>(
    mut tx: Transaction<'_, D::Db>,
    key: &ResourceKey,
    (current, removed): (Option<Resource>, Option<Stamp>),
    now: i64,
    retention_seconds: i64,
    purge_prefix: Option<&str>,
    decide: &mut F,
) -> Result<WriteOutcome<R>, AttemptError>
where
    D: SqlDialect,
    F: FnMut(Current<'_>) -> Result<Change, R>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
{
    let seen = match &current {
        Some(resource) => Current::present(resource),
        None => Current::missing(removed),
    };
    let change = match decide(seen) {
        Ok(change) => change,
        Err(refusal) => {
            tx.rollback().await.map_err(D::attempt_error)?;
            return Ok(WriteOutcome::Refused { refusal, current });
        }
    };
    let plan = plan(key, current, removed, change, now)?;
    let collection = key.collection().as_str();
    let id = key.id();
    // Runs one statement and checks how many rows it touched.
    macro_rules! run {
        ($query:expr, $expected:expr) => {{
            let result = $query.execute(&mut *tx).await.map_err(D::attempt_error)?;
            let affected = D::rows_affected(&result);
            if affected != $expected {
                return Err(AttemptError::LostRace(D::lost_race(affected)));
            }
        }};
    }
    match &plan {
        Plan::Insert { next, tombstone_seen } => {
            let row = next.to_row();
            run!(
                sqlx::query::<D::Db>(D::INSERT)
                    .bind(collection)
                    .bind(id)
                    .bind(row.version)
                    .bind(row.etag)
                    .bind(row.last_modified)
                    .bind(row.last_modified_us)
                    .bind(row.shares_second)
                    .bind(row.body),
                1
            );
            // The version continues the tombstone's times, so it replaces
            // it; finding one the decision did not see means the resource
            // was created and deleted meanwhile.
            run!(
                sqlx::query::<D::Db>(D::DELETE_TOMBSTONE)
                    .bind(collection)
                    .bind(id),
                u64::from(*tombstone_seen)
            );
        }
        Plan::Update {
            next,
            expected_version,
        } => {
            let row = next.to_row();
            run!(
                sqlx::query::<D::Db>(D::UPDATE)
                    .bind(collection)
                    .bind(id)
                    .bind(row.version)
                    .bind(row.etag)
                    .bind(row.last_modified)
                    .bind(row.last_modified_us)
                    .bind(row.shares_second)
                    .bind(row.body)
                    .bind(*expected_version),
                1
            );
        }
        Plan::Delete { previous, removal } => {
            run!(
                sqlx::query::<D::Db>(D::DELETE)
                    .bind(collection)
                    .bind(id)
                    .bind(previous.version()),
                1
            );
            run!(
                sqlx::query::<D::Db>(D::UPSERT_TOMBSTONE)
                    .bind(collection)
                    .bind(id)
                    .bind(removal.second())
                    .bind(removal.micros_in_second())
                    .bind(removal.shares_second()),
                1
            );
            let cutoff = now
                .div_euclid(MICROS_PER_SECOND)
                .saturating_sub(retention_seconds);
            sqlx::query::<D::Db>(D::PRUNE_TOMBSTONES)
                .bind(cutoff)
                .bind(PRUNE_BATCH)
                .execute(&mut *tx)
                .await
                .map_err(D::attempt_error)?;
        }
        Plan::Nothing => {}
    }
    if let Some(prefix) = purge_prefix
        && !matches!(plan, Plan::Nothing)
    {
        sqlx::query::<D::Db>(D::INSERT_PURGE)
            .bind(format!("{prefix}{collection}/{id}"))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(D::attempt_error)?;
    }
    tx.commit().await.map_err(D::attempt_error)?;
    Ok(plan.into_outcome())
}

/// The row of the record at `key`, read through `executor` with `select`:
/// `SELECT version, etag, last_modified, last_modified_us, shares_second,
/// body … WHERE collection = <1> AND id = <2>` (each backend with its
/// placeholders, and its locking clause inside a write).
pub(crate) async fn read_row<Db>(
    connection: &mut Db::Connection,
    select: &'static str,
    key: &ResourceKey,
) -> Result<Option<StoredRow>, sqlx::Error>
where
    Db: Database,
    for<'c> &'c mut Db::Connection: Executor<'c, Database = Db>,
    Db::Arguments: IntoArguments<Db>,
    RowColumns: for<'r> sqlx::FromRow<'r, Db::Row>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
{
    let row = sqlx::query_as::<Db, RowColumns>(select)
        .bind(key.collection().as_str())
        .bind(key.id())
        .fetch_optional(connection)
        .await?;
    Ok(row.map(
        |(version, etag, last_modified, last_modified_us, shares_second, body)| StoredRow {
            version,
            etag,
            last_modified,
            last_modified_us,
            shares_second,
            body,
        },
    ))
}

/// The parts of a SQL backend that are the same text for each database:
/// one write attempt (the backend's `begin_write`, then [`read_state`] and
/// [`decide_and_write`]), its [`Transactional`](crate::retry::Transactional)
/// impl, and its [`Store`](crate::Store) impl (reads, bounded writes with
/// retries, pings). A macro rather than a generic impl: generic code over
/// sqlx's databases carries the higher-ranked executor bounds of
/// [`read_state`] on every method, and these impls must also be `Send`
/// for each; expanded once per concrete database, they need none. The
/// backend provides the
/// fields `pool`, `options` and `purge_prefix`, `begin_write`, a
/// [`SqlDialect`] impl, the statement `SELECT` and `classify`.
macro_rules! sql_store {
    ($store:ty, $db:ty, $backend:literal) => {
        impl $store {
            async fn attempt_write<R, F>(
                &self,
                key: &ResourceKey,
                now: i64,
                decide: &mut F,
            ) -> Result<WriteOutcome<R>, AttemptError>
            where
                F: FnMut(Current<'_>) -> Result<Change, R>,
            {
                let mut tx = self
                    .begin_write()
                    .await
                    .map_err(<Self as SqlDialect>::attempt_error)?;
                let state = read_state::<Self>(&mut tx, key).await?;
                decide_and_write::<Self, R, F>(
                    tx,
                    key,
                    state,
                    now,
                    self.options.retention_seconds(),
                    self.purge_prefix.as_deref(),
                    decide,
                )
                .await
            }
        }

        impl Transactional for $store {
            const BACKEND: &'static str = $backend;

            fn attempt<R, F>(
                &self,
                key: &ResourceKey,
                now: i64,
                decide: &mut F,
            ) -> impl Future<Output = Result<WriteOutcome<R>, AttemptError>> + Send
            where
                R: Send,
                F: FnMut(Current<'_>) -> Result<Change, R> + Send,
            {
                self.attempt_write(key, now, decide)
            }
        }

        impl Store for $store {
            async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
                bounded(self.options.timeout, async {
                    let mut connection = self
                        .pool
                        .acquire()
                        .await
                        .map_err(|e| classify(&e).into_error(e))?;
                    read_row::<$db>(&mut connection, SELECT, key)
                        .await
                        .map_err(|e| classify(&e).into_error(e))?
                        .map(|row| Resource::from_row(key.clone(), row))
                        .transpose()
                })
                .await
            }

            async fn write<R, F>(
                &self,
                key: &ResourceKey,
                now: SystemTime,
                decide: F,
            ) -> Result<WriteOutcome<R>, StoreError>
            where
                R: Send,
                F: FnMut(Current<'_>) -> Result<Change, R> + Send,
            {
                let now = micros_since_epoch(now);
                bounded(
                    self.options.timeout,
                    write_with_retries(self, key, now, decide),
                )
                .await
            }

            async fn ping(&self) -> Result<(), StoreError> {
                bounded(self.options.timeout, async {
                    sqlx::query("SELECT 1")
                        .execute(&self.pool)
                        .await
                        .map_err(|e| classify(&e).into_error(e))?;
                    Ok(())
                })
                .await
            }
        }
    };
}
pub(crate) use sql_store;
