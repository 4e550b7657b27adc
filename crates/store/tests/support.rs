//! Two nodes per backend, sharing one database.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use revalidate_core::HttpDate;
use revalidate_store::{AnyStore, MemoryStore, PostgresStore, Resource, SqliteStore};

/// The backends of the conformance suite.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

pub(crate) const PG_URL_VAR: &str = "REVALIDATE_TEST_PG_URL";

/// A record's body parsed as a value.
pub(crate) fn value(resource: &Resource) -> serde_json::Value {
    resource.json_text().to_value().unwrap()
}

/// A fixed "now" for writes, 250 ms into a second; tests add to it.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_771_372_800_250)
}

/// `now()` plus `millis` milliseconds.
pub(crate) fn later(millis: u64) -> SystemTime {
    now() + Duration::from_millis(millis)
}

/// The HTTP-date of a clock reading (whole seconds).
pub(crate) fn date(time: SystemTime) -> HttpDate {
    HttpDate::from_system_time(time).unwrap()
}

/// The PostgreSQL URL, or `None` after printing why the test is skipped.
/// Under CI a missing URL fails the test: a skip there would hide that the
/// multi-node backend was never tested.
pub(crate) fn pg_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {PG_URL_VAR} is not: the PostgreSQL tests must run in CI \
                 (start a server with scripts/test-postgres.sh start)"
            );
            println!("SKIPPED: PostgreSQL tests (set {PG_URL_VAR}; see scripts/test-postgres.sh)");
            None
        }
    }
}

/// A schema name no other test (in this or a parallel run) uses.
pub(crate) fn unique_schema() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "rv_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// Drops a test schema and everything in it.
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

/// Runs `case` with two nodes of `backend` that share one database: two
/// clones for memory, two pools on one file for SQLite, two pools on one
/// schema for PostgreSQL (opening the second also re-runs the migrations,
/// which must be a no-op).
pub(crate) async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(AnyStore, AnyStore) -> Fut,
    Fut: Future<Output = ()>,
{
    match backend {
        Backend::Memory => {
            let store = MemoryStore::new();
            case(AnyStore::Memory(store.clone()), AnyStore::Memory(store)).await;
        }
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("store.db");
            let a = SqliteStore::open_path(&path).await.unwrap();
            let b = SqliteStore::open(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            case(AnyStore::Sqlite(a.clone()), AnyStore::Sqlite(b.clone())).await;
            a.close().await;
            b.close().await;
        }
        Backend::Postgres => {
            let Some(url) = pg_url() else { return };
            let schema = unique_schema();
            let a = PostgresStore::open_in_schema(&url, &schema).await.unwrap();
            let b = PostgresStore::open_in_schema(&url, &schema).await.unwrap();
            case(AnyStore::Postgres(a.clone()), AnyStore::Postgres(b.clone())).await;
            a.close().await;
            b.close().await;
            drop_schema(&url, &schema).await;
        }
    }
}
