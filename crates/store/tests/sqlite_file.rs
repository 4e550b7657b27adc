//! The SQLite backend keeps its data in a real file.

use revalidate_store::{Change, ResourceKey, SqliteStore, Store, WriteOutcome, open};
use serde_json::json;

use crate::support::now;

#[tokio::test]
async fn reopened_sqlite_file_keeps_data_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.db");
    let key = ResourceKey::new("notes", "kept").unwrap();
    let written = {
        let store = SqliteStore::open_path(&path).await.unwrap();
        let outcome = store
            .write(&key, now(), |_| Ok::<_, ()>(Change::Put(json!({"a": 1}))))
            .await
            .unwrap();
        let WriteOutcome::Created(written) = outcome else {
            panic!("{outcome:?}")
        };
        store.close().await;
        written
    };
    assert!(path.exists());
    let reopened = open(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(reopened.backend(), "sqlite");
    let read = reopened.get(&key).await.unwrap().unwrap();
    assert_eq!(read, written);
    assert_eq!(read.etag(), written.etag());
    reopened.close().await;
}

#[tokio::test]
async fn migrations_run_idempotently_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("migrated.db");
    for _ in 0..3 {
        let store = SqliteStore::open_path(&path).await.unwrap();
        store.ping().await.unwrap();
        store.close().await;
    }
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    pool.close().await;
}

#[tokio::test]
async fn migrations_run_idempotently_on_postgres() {
    let Some(url) = crate::support::pg_url() else {
        return;
    };
    let schema = crate::support::unique_schema();
    for _ in 0..3 {
        let store = revalidate_store::PostgresStore::open_in_schema(&url, &schema)
            .await
            .unwrap();
        store.ping().await.unwrap();
        store.close().await;
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM \"{schema}\"._sqlx_migrations"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(applied, 1);
    pool.close().await;
    crate::support::drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_missing_directory_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/x.db");
    let error = SqliteStore::open_path(&path).await.unwrap_err();
    assert!(!error.to_string().is_empty());
}
