//! Every database wait is bounded: a lock held elsewhere for longer than
//! the store's timeout makes the operation fail as transient (HTTP 503),
//! never hang; once the lock is gone the store works again.

use std::time::Duration;

use revalidate_store::{
    AnyStore, Change, PostgresStore, ResourceKey, SqliteStore, Store, StoreError, StoreOptions, WriteOutcome,
};
use serde_json::json;
use sqlx::Connection;

use crate::support::{drop_schema, now, pg_url, unique_schema};

/// The store's timeout in these tests.
const TIMEOUT: Duration = Duration::from_millis(300);

/// Far longer than any bounded operation may take on a busy machine: the
/// test only fails on this if the operation hangs.
const HANG: Duration = Duration::from_secs(60);

fn options() -> StoreOptions {
    StoreOptions {
        timeout: TIMEOUT,
        ..StoreOptions::default()
    }
}

async fn write(store: &AnyStore, key: &ResourceKey) -> Result<WriteOutcome<()>, StoreError> {
    tokio::time::timeout(
        HANG,
        store.write(key, now(), |_| Ok(Change::Put(json!({"n": 1}).into()))),
    )
    .await
    .expect("a write blocked by a lock must fail within the store's timeout, not hang")
}

fn assert_transient(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(error) => {
            println!("{what}: {error}");
            assert!(error.is_transient(), "{what}: {error} is not transient");
        }
        Ok(value) => panic!("{what}: succeeded while the lock was held: {value:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_behind_a_sqlite_lock_held_too_long_fails_as_transient() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("locked.db").display());
    let store = AnyStore::Sqlite(SqliteStore::open_with(&url, options()).await.unwrap());
    let key = ResourceKey::new("notes", "locked").unwrap();
    write(&store, &key).await.unwrap();

    // Another process (here: another connection) takes the write lock and keeps it.
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();
    assert_transient(write(&store, &key).await, "write");
    // WAL: readers do not wait for the writer.
    let read = tokio::time::timeout(HANG, store.get(&key)).await.unwrap();
    assert!(read.unwrap().is_some());

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    // The lock is gone; give the timed-out connection's wait time to end.
    let deadline = tokio::time::Instant::now() + HANG;
    loop {
        match write(&store, &key).await {
            Ok(outcome) => {
                assert!(matches!(outcome, WriteOutcome::Replaced(_)), "{outcome:?}");
                break;
            }
            Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_waits_for_locks_held_too_long_fail_as_transient() {
    let Some(url) = pg_url() else {
        return;
    };
    let schema = unique_schema();
    let store = AnyStore::Postgres(
        PostgresStore::open_in_schema_with(&url, &schema, options())
            .await
            .unwrap(),
    );
    let key = ResourceKey::new("notes", "locked").unwrap();
    write(&store, &key).await.unwrap();

    // Another node holds the row lock in a transaction that goes nowhere.
    let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET search_path TO \"{schema}\"")))
        .execute(&mut holder)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT 1 FROM resources WHERE collection = 'notes' AND id = 'locked' FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();
    assert_transient(write(&store, &key).await, "write behind a row lock");
    // A table lock blocks reads too: the read's wait is bounded as well.
    sqlx::query("LOCK TABLE resources IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let read = tokio::time::timeout(HANG, store.get(&key))
        .await
        .expect("a read blocked by a lock must fail within the store's timeout, not hang");
    assert_transient(read, "read behind a table lock");
    let ping = tokio::time::timeout(HANG, store.ping()).await.unwrap();
    assert!(ping.is_ok(), "a ping needs no lock: {ping:?}");

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let outcome = write(&store, &key).await.unwrap();
    assert!(matches!(outcome, WriteOutcome::Replaced(_)), "{outcome:?}");
    store.close().await;
    drop_schema(&url, &schema).await;
}

#[test]
fn store_options_out_of_range_are_clear_errors() {
    for (options, message) in [
        (
            StoreOptions {
                timeout: Duration::ZERO,
                ..StoreOptions::default()
            },
            "timeout",
        ),
        (
            StoreOptions {
                timeout: Duration::from_secs(3600),
                ..StoreOptions::default()
            },
            "timeout",
        ),
        (
            StoreOptions {
                tombstone_retention: Duration::from_secs(1),
                ..StoreOptions::default()
            },
            "retention",
        ),
    ] {
        let error = options.validate().unwrap_err();
        assert!(matches!(error, StoreError::InvalidOptions(_)), "{error}");
        assert!(error.to_string().contains(message), "{error}");
        assert!(!error.is_transient());
    }
    assert!(StoreOptions::default().validate().is_ok());
}
