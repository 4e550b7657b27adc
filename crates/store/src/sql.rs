//! What the SQL backends share: reading a record's row, and carrying out
//! a write once the backend has
//! opened its transaction and read (and, as it must, locked) the current
//! record. The decision, the [`plan`], the row statement for each
//! [`Plan`], the one-row check and the commit are the same for SQLite and
//! PostgreSQL; only the statements' text, the way a result counts its rows
//! and the way an error is classified differ, and a [`SqlDialect`] says
//! them.

use revalidate_core::HttpDate;
use sqlx::{Database, Encode, Executor, IntoArguments, Transaction, Type};

use crate::key::ResourceKey;
use crate::resource::{Change, Plan, Resource, StoredRow, WriteOutcome, plan};
use crate::retry::AttemptError;

/// The parts of a write that differ between SQL backends.
pub(crate) trait SqlDialect {
    /// The sqlx database.
    type Db: Database;
    /// Inserts `(collection, id, version, etag, last_modified, body)`.
    const INSERT: &'static str;
    /// Sets `version, etag, last_modified, body` (parameters 3 to 6) of the
    /// row `(collection, id)` (1 and 2) whose version is parameter 7.
    const UPDATE: &'static str;
    /// Deletes the row `(collection, id)` whose version is parameter 3.
    const DELETE: &'static str;

    /// How many rows a statement touched.
    fn rows_affected(result: &<Self::Db as Database>::QueryResult) -> u64;

    /// A failed statement as a retry (lost race) or a failure.
    fn attempt_error(error: sqlx::Error) -> AttemptError;

    /// Why a statement that touched `affected` rows instead of one means
    /// the attempt lost a race (for the retry's log).
    fn lost_race(affected: u64) -> String;
}

/// Decides with `decide` against `current` (read in `tx`, which holds the
/// lock on it), writes what was decided and commits; a refusal rolls back.
/// A statement that does not touch exactly one row is a lost race: `tx` is
/// dropped (rolled back) and the caller runs the attempt again.
pub(crate) async fn decide_and_write<D, R, F>(
    mut tx: Transaction<'_, D::Db>,
    key: &ResourceKey,
    current: Option<Resource>,
    now: HttpDate,
    decide: &mut F,
) -> Result<WriteOutcome<R>, AttemptError>
where
    D: SqlDialect,
    F: FnMut(Option<&Resource>) -> Result<Change, R>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Type<D::Db>,
{
    let change = match decide(current.as_ref()) {
        Ok(change) => change,
        Err(refusal) => {
            tx.rollback().await.map_err(D::attempt_error)?;
            return Ok(WriteOutcome::Refused { refusal, current });
        }
    };
    let plan = plan(key, current, change, now)?;
    let statement = match &plan {
        Plan::Insert(next) => {
            let row = next.to_row();
            Some(
                sqlx::query::<D::Db>(D::INSERT)
                    .bind(key.collection().as_str())
                    .bind(key.id())
                    .bind(row.version)
                    .bind(row.etag)
                    .bind(row.last_modified)
                    .bind(row.body),
            )
        }
        Plan::Update {
            next,
            expected_version,
        } => {
            let row = next.to_row();
            Some(
                sqlx::query::<D::Db>(D::UPDATE)
                    .bind(key.collection().as_str())
                    .bind(key.id())
                    .bind(row.version)
                    .bind(row.etag)
                    .bind(row.last_modified)
                    .bind(row.body)
                    .bind(*expected_version),
            )
        }
        Plan::Delete(previous) => Some(
            sqlx::query::<D::Db>(D::DELETE)
                .bind(key.collection().as_str())
                .bind(key.id())
                .bind(previous.version()),
        ),
        Plan::Nothing => None,
    };
    if let Some(statement) = statement {
        let result = statement.execute(&mut *tx).await.map_err(D::attempt_error)?;
        let affected = D::rows_affected(&result);
        if affected != 1 {
            return Err(AttemptError::LostRace(D::lost_race(affected)));
        }
    }
    tx.commit().await.map_err(D::attempt_error)?;
    Ok(plan.into_outcome())
}

/// The row of the record at `key`, read through `executor` with `select`:
/// `SELECT version, etag, last_modified, body … WHERE collection = <1> AND
/// id = <2>` (each backend with its placeholders, and its locking clause
/// inside a write).
pub(crate) async fn read_row<Db>(
    connection: &mut Db::Connection,
    select: &'static str,
    key: &ResourceKey,
) -> Result<Option<StoredRow>, sqlx::Error>
where
    Db: Database,
    for<'c> &'c mut Db::Connection: Executor<'c, Database = Db>,
    Db::Arguments: IntoArguments<Db>,
    (i64, String, i64, String): for<'r> sqlx::FromRow<'r, Db::Row>,
    for<'q> &'q str: Encode<'q, Db> + Type<Db>,
{
    let row = sqlx::query_as::<Db, (i64, String, i64, String)>(select)
        .bind(key.collection().as_str())
        .bind(key.id())
        .fetch_optional(connection)
        .await?;
    Ok(row.map(|(version, etag, last_modified, body)| StoredRow {
        version,
        etag,
        last_modified,
        body,
    }))
}
