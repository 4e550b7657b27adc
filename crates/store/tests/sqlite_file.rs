//! The SQLite backend keeps its data in a real file.

use revalidate_store::{Change, ResourceKey, SqliteStore, Store, WriteOutcome, open};
use serde_json::json;

use crate::support::{now, value};

#[tokio::test]
async fn reopened_sqlite_file_keeps_data_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.db");
    let key = ResourceKey::new("notes", "kept").unwrap();
    let written = {
        let store = SqliteStore::open_path(&path).await.unwrap();
        let outcome = store
            .write(&key, now(), |_| Ok::<_, ()>(Change::Put(json!({"a": 1}).into())))
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
    assert_eq!(applied, 3);
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
    assert_eq!(applied, 3);
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

/// A database written before the same-second rule (only the first
/// migration applied, rows without modification microseconds) migrates on
/// open, and its rows get the safe value: they may share their second, so
/// their date is weak within it and the next second from then on.
async fn old_row_after_migration(store: &revalidate_store::AnyStore) {
    use crate::support::date;
    use revalidate_core::LastModifiedStrength;
    let key = ResourceKey::new("notes", "old").unwrap();
    let read = store.get(&key).await.unwrap().unwrap();
    assert_eq!(value(&read), json!({"old": true}));
    assert_eq!(
        read.etag(),
        &revalidate_store::entity_tag_for(3, r#"{"old":true}"#)
    );
    assert_eq!(
        read.modified_at(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_771_372_800)
    );
    let same_second = read.validators(date(now()));
    assert_eq!(same_second.last_modified(), Some(date(now())));
    assert_eq!(same_second.last_modified_strength(), LastModifiedStrength::Weak);
    let later = read.validators(date(crate::support::later(5_000)));
    assert_eq!(later.last_modified(), Some(date(now()).saturating_add(1)));
    assert_eq!(later.last_modified_strength(), LastModifiedStrength::Strong);
}

const OLD_ROW_PG: &str = "INSERT INTO resources (collection, id, version, etag, last_modified, body) \
                          VALUES ('notes', 'old', 3, $1, 1771372800, '{\"old\":true}')";
const OLD_ROW_SQLITE: &str = "INSERT INTO resources (collection, id, version, etag, last_modified, body) \
                              VALUES ('notes', 'old', 3, ?1, 1771372800, '{\"old\":true}')";

/// The first migration alone, as a directory sqlx can run.
fn first_migration(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let name = "20261122000000_resources.sql";
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend)
        .join(name);
    std::fs::copy(source, dir.path().join(name)).unwrap();
    dir
}

#[tokio::test]
async fn an_old_sqlite_database_migrates_and_its_rows_may_share_their_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let first = first_migration("sqlite");
    sqlx::migrate::Migrator::new(first.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let etag = revalidate_store::entity_tag_for(3, r#"{"old":true}"#);
    sqlx::query(OLD_ROW_SQLITE)
        .bind(String::from_utf8(etag.opaque().to_vec()).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = open(&format!("sqlite://{}", path.display())).await.unwrap();
    old_row_after_migration(&store).await;
    store.close().await;
}

#[tokio::test]
async fn an_old_postgres_database_migrates_and_its_rows_may_share_their_second() {
    let Some(url) = crate::support::pg_url() else {
        return;
    };
    let schema = crate::support::unique_schema();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::PgPool::connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    let first = first_migration("postgres");
    sqlx::migrate::Migrator::new(first.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let etag = revalidate_store::entity_tag_for(3, r#"{"old":true}"#);
    sqlx::query(OLD_ROW_PG)
        .bind(String::from_utf8(etag.opaque().to_vec()).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = revalidate_store::PostgresStore::open_in_schema(&url, &schema)
        .await
        .unwrap();
    old_row_after_migration(&revalidate_store::AnyStore::Postgres(store.clone())).await;
    store.close().await;
    crate::support::drop_schema(&url, &schema).await;
}
