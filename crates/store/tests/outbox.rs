//! The purge outbox (`revalidate_store::outbox`) on SQLite and PostgreSQL,
//! with two nodes sharing the database.

use std::time::{Duration, SystemTime};

use revalidate_store::{AnyStore, Change, ClaimLimits, PurgeClaim, ResourceKey, Store};

use crate::support::now;

/// Generates one test per case per SQL backend.
macro_rules! outbox_cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::support::run(crate::support::Backend::Sqlite, super::$case).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::support::run(crate::support::Backend::Postgres, super::$case).await;
            })*
        }
    };
}

use crate::support;

outbox_cases!(
    writes_record_their_purge_only_through_the_outbox,
    a_claim_is_exclusive_until_acknowledged_or_released,
    past_the_backlog_bound_the_oldest_are_dropped_and_everything_is_purged,
    an_edge_taken_out_and_listed_again_is_purged_of_everything,
);

const LIMITS: ClaimLimits = ClaimLimits {
    batch: 100,
    max_backlog: 1000,
    lease: Duration::from_secs(30),
};

fn edges(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

async fn put(store: &AnyStore, id: &str) {
    store
        .write(&ResourceKey::new("notes", id).unwrap(), now(), |_| {
            Ok::<_, ()>(Change::Put(revalidate_store::JsonText::parse(b"{}").unwrap()))
        })
        .await
        .unwrap();
}

async fn claim(store: &AnyStore, edge: &str, limits: ClaimLimits) -> Option<PurgeClaim> {
    store.claim_purges(edge, limits, SystemTime::now()).await.unwrap()
}

fn urls(claim: &PurgeClaim) -> Vec<&str> {
    claim.purges().iter().map(|p| p.url.as_str()).collect()
}

async fn writes_record_their_purge_only_through_the_outbox(a: AnyStore, b: AnyStore) {
    a.register_purge_edges(&edges(&["http://e1:1", "http://e2:2"]), &[])
        .await
        .unwrap();
    assert_eq!(
        b.purge_edges().await.unwrap(),
        edges(&["http://e1:1", "http://e2:2"])
    );
    put(&b, "plain").await;
    let recording = b.clone().with_purge_outbox("/api/").unwrap();
    put(&recording, "a").await;
    put(&recording, "b").await;
    // A refused write records nothing.
    let refused = recording
        .write(&ResourceKey::new("notes", "a").unwrap(), now(), |_| {
            Err::<Change, _>(())
        })
        .await
        .unwrap();
    assert!(matches!(refused, revalidate_store::WriteOutcome::Refused { .. }));
    for edge in ["http://e1:1", "http://e2:2"] {
        let claim = claim(&a, edge, LIMITS).await.unwrap();
        assert_eq!(urls(&claim), ["/api/notes/a", "/api/notes/b"], "{edge}");
        assert_eq!(claim.purges()[0].created_at, now());
        assert_eq!(claim.backlog(), 2);
        assert!(!claim.purge_all());
        claim.acknowledge().await.unwrap();
        assert!(claim_is_empty(&a, edge).await, "{edge}");
    }
    a.enqueue_purges(&edges(&["/docs/", "/docs/index.html"]), now())
        .await
        .unwrap();
    let claim = claim(&b, "http://e1:1", LIMITS).await.unwrap();
    assert_eq!(urls(&claim), ["/docs/", "/docs/index.html"]);
}

async fn claim_is_empty(store: &AnyStore, edge: &str) -> bool {
    claim(store, edge, LIMITS).await.unwrap().is_empty()
}

async fn a_claim_is_exclusive_until_acknowledged_or_released(a: AnyStore, b: AnyStore) {
    a.register_purge_edges(&edges(&["http://e:1"]), &[])
        .await
        .unwrap();
    let recording = a.clone().with_purge_outbox("/api/").unwrap();
    put(&recording, "x").await;
    let held = claim(&a, "http://e:1", LIMITS).await.unwrap();
    assert_eq!(urls(&held), ["/api/notes/x"]);
    assert!(
        claim(&b, "http://e:1", LIMITS).await.is_none(),
        "another node is delivering to this edge"
    );
    // Writes go on while a claim is held.
    put(&recording, "y").await;
    held.release().await.unwrap();
    let second = claim(&b, "http://e:1", LIMITS).await.unwrap();
    assert_eq!(
        urls(&second),
        ["/api/notes/x", "/api/notes/y"],
        "released: kept, in order"
    );
    second.acknowledge().await.unwrap();
    assert!(claim_is_empty(&a, "http://e:1").await);
    assert!(claim(&a, "http://unknown:1", LIMITS).await.is_none());
}

async fn past_the_backlog_bound_the_oldest_are_dropped_and_everything_is_purged(a: AnyStore, b: AnyStore) {
    a.register_purge_edges(&edges(&["http://e:1"]), &[])
        .await
        .unwrap();
    let written = edges(&["/1", "/2", "/3", "/4", "/5"]);
    a.enqueue_purges(&written, now()).await.unwrap();
    let limits = ClaimLimits {
        max_backlog: 3,
        batch: 2,
        ..LIMITS
    };
    let first = claim(&b, "http://e:1", limits).await.unwrap();
    assert_eq!(first.dropped(), 2);
    assert!(first.purge_all());
    assert_eq!(first.backlog(), 3);
    assert_eq!(urls(&first), ["/3", "/4"]);
    first.acknowledge().await.unwrap();
    let rest = claim(&a, "http://e:1", limits).await.unwrap();
    assert!(!rest.purge_all(), "sent once");
    assert_eq!(urls(&rest), ["/5"]);
    rest.acknowledge().await.unwrap();
}

async fn an_edge_taken_out_and_listed_again_is_purged_of_everything(a: AnyStore, b: AnyStore) {
    a.register_purge_edges(&edges(&["http://e:1", "http://f:1"]), &[])
        .await
        .unwrap();
    a.enqueue_purges(&edges(&["/x"]), now()).await.unwrap();
    b.register_purge_edges(&[], &edges(&["http://e:1"]))
        .await
        .unwrap();
    assert_eq!(a.purge_edges().await.unwrap(), edges(&["http://f:1"]));
    assert!(claim(&a, "http://e:1", LIMITS).await.is_none(), "taken out");
    // While out, it misses purges.
    a.enqueue_purges(&edges(&["/y"]), now()).await.unwrap();
    b.register_purge_edges(&edges(&["http://e:1"]), &[])
        .await
        .unwrap();
    let back = claim(&a, "http://e:1", LIMITS).await.unwrap();
    assert!(back.purge_all());
    assert!(back.purges().is_empty());
    back.acknowledge().await.unwrap();
    assert!(claim_is_empty(&a, "http://e:1").await);
    // Registering an edge that is listed already changes nothing.
    b.register_purge_edges(&edges(&["http://f:1"]), &[])
        .await
        .unwrap();
    let f = claim(&a, "http://f:1", LIMITS).await.unwrap();
    assert!(!f.purge_all());
    assert_eq!(urls(&f), ["/x", "/y"]);
}

#[tokio::test]
async fn memory_has_no_outbox() {
    let store = AnyStore::Memory(revalidate_store::MemoryStore::new());
    assert!(store.clone().with_purge_outbox("/api/").is_err());
    assert!(store.purge_edges().await.is_err());
}

/// PostgreSQL hands out `seq` at insert, not at commit: a purge whose
/// transaction commits after a later one was delivered must still be
/// delivered (a cursor past the later one would have skipped it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_committed_late_is_not_skipped_on_postgres() {
    let Some(url) = support::pg_url() else { return };
    let schema = support::unique_schema();
    let store = AnyStore::Postgres(
        revalidate_store::PostgresStore::open_in_schema(&url, &schema)
            .await
            .unwrap(),
    );
    store
        .register_purge_edges(&edges(&["http://e:1"]), &[])
        .await
        .unwrap();
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let raw = sqlx::PgPool::connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();
    let mut slow = raw.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO purge_outbox (edge, url, created_at_us) SELECT edge, '/slow', 0 FROM purge_edges",
    )
    .execute(&mut *slow)
    .await
    .unwrap();
    store.enqueue_purges(&edges(&["/fast"]), now()).await.unwrap();
    let first = claim(&store, "http://e:1", LIMITS).await.unwrap();
    assert_eq!(urls(&first), ["/fast"]);
    first.acknowledge().await.unwrap();
    slow.commit().await.unwrap();
    let late = claim(&store, "http://e:1", LIMITS).await.unwrap();
    assert_eq!(urls(&late), ["/slow"]);
    late.acknowledge().await.unwrap();
    raw.close().await;
    store.close().await;
    support::drop_schema(&url, &schema).await;
}

/// Another node's recorded purges wake a listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_purges_wake_the_listeners_on_postgres() {
    let Some(url) = support::pg_url() else { return };
    let schema = support::unique_schema();
    let a = AnyStore::Postgres(
        revalidate_store::PostgresStore::open_in_schema(&url, &schema)
            .await
            .unwrap(),
    );
    let b = AnyStore::Postgres(
        revalidate_store::PostgresStore::open_in_schema(&url, &schema)
            .await
            .unwrap(),
    );
    a.register_purge_edges(&edges(&["http://e:1"]), &[])
        .await
        .unwrap();
    let mut woken = b
        .purge_notifications()
        .await
        .unwrap()
        .expect("PostgreSQL notifies");
    put(&a.clone().with_purge_outbox("/api/").unwrap(), "n").await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), woken.next())
            .await
            .expect("no notification within 5 s")
            .unwrap()
    );
    drop(woken);
    a.close().await;
    b.close().await;
    support::drop_schema(&url, &schema).await;
}
