//! The purge outbox: purges owed to the edges, recorded in the database in
//! the same transaction as the write that made them necessary, and
//! delivered later by any node sharing the database.
//!
//! # Tables (migration `20261206000000_purge_outbox`)
//!
//! - `purge_edges(edge, active, purge_all, …)`: the edges to purge, one
//!   row per edge ever registered ([`AnyStore::register_purge_edges`]).
//! - `purge_outbox(seq, edge, url, created_at_us)`: one row per purge
//!   still owed to one edge. A write of a store opened
//!   [`with_purge_outbox`](AnyStore::with_purge_outbox) inserts one row
//!   per active edge in its own transaction (so the purge exists exactly
//!   when the write committed); [`AnyStore::enqueue_purges`] does the same
//!   for URLs that changed outside the database (static files). A row is
//!   deleted once its edge acknowledged it.
//!
//! Rows per edge rather than one row per purge and a cursor per edge:
//! PostgreSQL hands out `seq` values when rows are inserted, not when they
//! commit, so a cursor ("everything up to seq N was sent") could move past
//! a row whose transaction commits later, and lose it. A row per edge is
//! deleted only when that very row was sent.
//!
//! # Delivery ([`AnyStore::claim_purges`])
//!
//! One node at a time delivers to an edge, oldest rows first, so the
//! purges of one URL reach an edge in the order of their writes (two
//! writes of one resource commit in order, holding its row lock, and get
//! increasing `seq`). PostgreSQL: the claim is a transaction holding the
//! edge's `purge_edges` row `FOR UPDATE`, taken with `SKIP LOCKED` (another
//! node delivering to that edge is skipped, not waited for), kept while
//! the purge is sent and committed with the delivered rows' deletion; a
//! node that dies mid-way loses its connection and so its lock, and
//! nothing was deleted. SQLite (one writer at a time: a transaction held
//! during an HTTP request would stall every write) takes a lease on the
//! edge's row instead, for [`ClaimLimits::lease`]; a process that dies
//! leaves a lease that expires. Either way a purge may be sent twice (a
//! node dies after the edge acknowledged, before its commit): purges are
//! idempotent.
//!
//! # Bounds
//!
//! An edge down for long accumulates rows. At most
//! [`ClaimLimits::max_backlog`] are kept per edge: the claim deletes the
//! oldest beyond it, says how many ([`PurgeClaim::dropped`]), and sets
//! the edge's `purge_all`, so that its next delivery purges everything
//! ([`PurgeClaim::purge_all`]): an edge must not keep a version older than
//! a purge it missed. Taking an edge out of the configuration deletes its
//! rows; registering it again sets `purge_all` for the same reason.
//!
//! # Waking idle nodes
//!
//! PostgreSQL: a trigger on `purge_outbox` sends `NOTIFY
//! revalidate_purges` (at commit, once per transaction); every node
//! listens ([`AnyStore::purge_notifications`]). SQLite has no such
//! thing: the writing process wakes its own deliverer, and every process
//! polls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgListener;
use sqlx::{Postgres, Transaction};

use crate::StoreError;
use crate::any::AnyStore;
use crate::limits::bounded;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::stamp::micros_since_epoch;

/// The channel of the wake-up notifications on PostgreSQL.
pub const PURGE_CHANNEL: &str = "revalidate_purges";

/// One purge owed to one edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPurge {
    /// Its place in the outbox: later purges have larger numbers.
    pub seq: i64,
    /// The URL (path) to purge.
    pub url: String,
    /// When it was recorded, by the writer's clock.
    pub created_at: SystemTime,
}

/// How much a claim takes, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClaimLimits {
    /// The most purges one claim takes.
    pub batch: u32,
    /// The most purges kept per edge; the oldest beyond are dropped, and
    /// the edge is purged of everything instead.
    pub max_backlog: u64,
    /// SQLite: how long the claim keeps other processes off the edge (at
    /// least the time one delivery attempt may take). PostgreSQL holds a
    /// row lock instead, as long as the claim lives.
    pub lease: Duration,
}

/// The purges one node took to deliver to one edge. Deliver them, then
/// [`acknowledge`](Self::acknowledge) (deletes them) or
/// [`release`](Self::release) (keeps them for a later attempt). Dropping
/// it releases it too (on SQLite, when the lease expires).
#[derive(Debug)]
pub struct PurgeClaim {
    edge: String,
    purges: Vec<PendingPurge>,
    purge_all: bool,
    backlog: u64,
    dropped: u64,
    hold: Hold,
}

#[derive(Debug)]
enum Hold {
    /// Nothing was owed: nothing taken, nothing to give back.
    Nothing,
    Sqlite {
        store: SqliteStore,
        owner: String,
    },
    Postgres {
        store: PostgresStore,
        tx: Transaction<'static, Postgres>,
    },
}

impl PurgeClaim {
    /// The edge.
    pub fn edge(&self) -> &str {
        &self.edge
    }

    /// The purges taken, oldest first.
    pub fn purges(&self) -> &[PendingPurge] {
        &self.purges
    }

    /// Whether the edge must first forget everything: it missed purges
    /// (dropped past the backlog bound, or while it was out of the
    /// configuration).
    pub fn purge_all(&self) -> bool {
        self.purge_all
    }

    /// Purges owed to the edge when claimed, those taken included.
    pub fn backlog(&self) -> u64 {
        self.backlog
    }

    /// Purges this claim dropped, the oldest beyond the backlog bound.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.purges.is_empty() && !self.purge_all
    }

    /// The edge acknowledged: deletes the purges taken (and clears
    /// `purge_all` if it was sent), and releases the edge.
    pub async fn acknowledge(self) -> Result<(), StoreError> {
        let seqs: Vec<i64> = self.purges.iter().map(|p| p.seq).collect();
        match self.hold {
            Hold::Nothing => Ok(()),
            Hold::Sqlite { store, owner } => {
                bounded(store.options.timeout, async {
                    let mut tx = store.begin_write().await.map_err(sqlite::error)?;
                    let list = serde_json::to_string(&seqs).unwrap_or_else(|_| "[]".to_owned());
                    sqlx::query(sqlite::DELETE_SENT)
                        .bind(&self.edge)
                        .bind(list)
                        .execute(&mut *tx)
                        .await
                        .map_err(sqlite::error)?;
                    sqlx::query(sqlite::RELEASE)
                        .bind(&self.edge)
                        .bind(&owner)
                        .bind(self.purge_all)
                        .execute(&mut *tx)
                        .await
                        .map_err(sqlite::error)?;
                    tx.commit().await.map_err(sqlite::error)
                })
                .await
            }
            Hold::Postgres { store, mut tx } => {
                bounded(store.options.timeout, async {
                    sqlx::query(postgres::DELETE_SENT)
                        .bind(&self.edge)
                        .bind(&seqs)
                        .execute(&mut *tx)
                        .await
                        .map_err(postgres::error)?;
                    if self.purge_all {
                        sqlx::query(postgres::CLEAR_PURGE_ALL)
                            .bind(&self.edge)
                            .execute(&mut *tx)
                            .await
                            .map_err(postgres::error)?;
                    }
                    tx.commit().await.map_err(postgres::error)
                })
                .await
            }
        }
    }

    /// The delivery failed: keeps the purges for a later attempt (by this
    /// node or another) and releases the edge.
    pub async fn release(self) -> Result<(), StoreError> {
        match self.hold {
            Hold::Nothing => Ok(()),
            Hold::Sqlite { store, owner } => {
                bounded(store.options.timeout, async {
                    sqlx::query(sqlite::RELEASE)
                        .bind(&self.edge)
                        .bind(&owner)
                        .bind(false)
                        .execute(&store.pool)
                        .await
                        .map_err(sqlite::error)?;
                    Ok(())
                })
                .await
            }
            Hold::Postgres { store, tx } => {
                bounded(store.options.timeout, async {
                    tx.rollback().await.map_err(postgres::error)
                })
                .await
            }
        }
    }
}

/// Wake-ups of the PostgreSQL backend: one after each transaction that
/// recorded purges, on any node. Holds one of the store's connections:
/// closing the store ends a wait in [`next`](Self::next), but a listener
/// kept without waiting must be dropped before the store is closed.
#[derive(Debug)]
pub struct PurgeNotifications {
    listener: PgListener,
}

impl PurgeNotifications {
    /// Waits for the next wake-up: `Ok(true)`. `Ok(false)`: the store was
    /// closed, there will be none. An error means the connection was lost
    /// and could not be made again (the listener tries once); wait a
    /// little and call again.
    pub async fn next(&mut self) -> Result<bool, StoreError> {
        match self.listener.recv().await {
            Ok(_) => Ok(true),
            Err(sqlx::Error::PoolClosed) => Ok(false),
            Err(e) => Err(postgres::error(e)),
        }
    }
}

fn unsupported() -> StoreError {
    StoreError::Unsupported(
        "the purge outbox needs a database (sqlite: or postgres:), not memory:".to_owned(),
    )
}

fn created_at(micros: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

impl AnyStore {
    /// This store, with every committed write also recording the purge of
    /// the written resource's URL, `{url_prefix}{collection}/{id}`, for
    /// every active edge, in the write's transaction. Refused for
    /// `memory:`, which has no outbox.
    pub fn with_purge_outbox(self, url_prefix: &str) -> Result<Self, StoreError> {
        let prefix: Option<Arc<str>> = Some(url_prefix.into());
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(mut store) => {
                store.purge_prefix = prefix;
                Ok(Self::Sqlite(store))
            }
            Self::Postgres(mut store) => {
                store.purge_prefix = prefix;
                Ok(Self::Postgres(store))
            }
        }
    }

    /// Registers the edges `add` (new ones owe nothing yet; one taken out
    /// earlier is purged of everything first) and takes `remove` out
    /// (deleting the purges it was owed), in one transaction.
    pub async fn register_purge_edges(&self, add: &[String], remove: &[String]) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(store) => {
                bounded(store.options.timeout, sqlite::register_edges(store, add, remove)).await
            }
            Self::Postgres(store) => {
                bounded(
                    store.options.timeout,
                    postgres::register_edges(store, add, remove),
                )
                .await
            }
        }
    }

    /// The active edges, registered by any node.
    pub async fn purge_edges(&self) -> Result<Vec<String>, StoreError> {
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(store) => bounded(store.options.timeout, sqlite::active_edges(store)).await,
            Self::Postgres(store) => bounded(store.options.timeout, postgres::active_edges(store)).await,
        }
    }

    /// Records the purge of each of `urls` for every active edge, as of
    /// `now`, in one transaction (for changes made outside the database,
    /// such as static files).
    pub async fn enqueue_purges(&self, urls: &[String], now: SystemTime) -> Result<(), StoreError> {
        let now = micros_since_epoch(now);
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(store) => bounded(store.options.timeout, sqlite::enqueue(store, urls, now)).await,
            Self::Postgres(store) => {
                bounded(store.options.timeout, postgres::enqueue(store, urls, now)).await
            }
        }
    }

    /// Takes the oldest purges owed to `edge` (at most
    /// [`ClaimLimits::batch`]) for this node to deliver; `None` when another
    /// node is delivering to it or it is not an active edge. When nothing
    /// is owed, an empty claim that holds nothing (a plain read: idle polls
    /// lock nothing). Drops the
    /// oldest purges beyond [`ClaimLimits::max_backlog`] first (see the
    /// module docs). `now` is for the SQLite lease.
    pub async fn claim_purges(
        &self,
        edge: &str,
        limits: ClaimLimits,
        now: SystemTime,
    ) -> Result<Option<PurgeClaim>, StoreError> {
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(store) => {
                bounded(store.options.timeout, sqlite::claim(store, edge, limits, now)).await
            }
            Self::Postgres(store) => {
                bounded(store.options.timeout, postgres::claim(store, edge, limits)).await
            }
        }
    }

    /// A listener for the wake-ups other nodes' purges send: `Some` on
    /// PostgreSQL (`LISTEN revalidate_purges`, on its own connection),
    /// `None` on SQLite (poll instead).
    pub async fn purge_notifications(&self) -> Result<Option<PurgeNotifications>, StoreError> {
        match self {
            Self::Memory(_) => Err(unsupported()),
            Self::Sqlite(_) => Ok(None),
            Self::Postgres(store) => {
                bounded(store.options.timeout, async {
                    let mut listener = PgListener::connect_with(&store.pool)
                        .await
                        .map_err(postgres::error)?;
                    listener.listen(PURGE_CHANNEL).await.map_err(postgres::error)?;
                    Ok(Some(PurgeNotifications { listener }))
                })
                .await
            }
        }
    }
}

/// What a claim of an edge that is owed nothing comes to (found by a
/// plain read: an idle node's polls take no lock).
fn nothing_owed(edge: &str) -> PurgeClaim {
    PurgeClaim {
        edge: edge.to_owned(),
        purges: Vec::new(),
        purge_all: false,
        backlog: 0,
        dropped: 0,
        hold: Hold::Nothing,
    }
}

/// How many purges to drop of `count` owed, to keep `max_backlog`.
fn excess(count: i64, max_backlog: u64) -> i64 {
    (count - i64::try_from(max_backlog).unwrap_or(i64::MAX)).max(0)
}

/// Lease owners: unique per claim in this process, and across processes
/// by the process id.
static NEXT_OWNER: AtomicU64 = AtomicU64::new(0);

/// What a claim found in the outbox for its edge: the oldest purges (at
/// most a batch), how many were owed, and how many of the oldest were
/// dropped for going past the backlog's bound.
struct Backlog {
    rows: Vec<(i64, String, i64)>,
    count: i64,
    dropped: i64,
}

impl PurgeClaim {
    /// A claim of `backlog`, held by `hold`; it purges everything when the
    /// edge was owed that or purges were dropped.
    fn taken(edge: &str, backlog: Backlog, purge_all: bool, hold: Hold) -> Self {
        Self {
            edge: edge.to_owned(),
            purges: backlog
                .rows
                .into_iter()
                .map(|(seq, url, created)| PendingPurge {
                    seq,
                    url,
                    created_at: created_at(created),
                })
                .collect(),
            purge_all: purge_all || backlog.dropped > 0,
            backlog: u64::try_from(backlog.count - backlog.dropped).unwrap_or(0),
            dropped: u64::try_from(backlog.dropped).unwrap_or(0),
            hold,
        }
    }
}

/// The start of a claim, the same text for both databases (expanded in
/// each backend's module, with its own `OWED` and `error`): `Some` of the
/// answer when there is nothing to take (an unknown or retired edge:
/// `None`; nothing owed: an empty claim), else `None`.
macro_rules! nothing_to_claim {
    ($store:expr, $edge:expr) => {
        match sqlx::query_scalar::<_, bool>(OWED)
            .bind($edge)
            .fetch_optional(&$store.pool)
            .await
            .map_err(error)?
        {
            None => Some(None),
            Some(false) => Some(Some(nothing_owed($edge))),
            Some(true) => None,
        }
    };
}

/// Inside a claim's transaction `$tx`, which holds the edge: counts the
/// edge's purges, drops the oldest past the backlog's bound (and marks the
/// edge to be purged of everything, in the same transaction), and reads
/// the oldest batch; a [`Backlog`]. The same text for both databases,
/// expanded in each backend's module with its own statements.
macro_rules! take_backlog {
    ($tx:ident, $edge:expr, $limits:expr) => {{
        let count: i64 = sqlx::query_scalar(COUNT)
            .bind($edge)
            .fetch_one(&mut *$tx)
            .await
            .map_err(error)?;
        let dropped = excess(count, $limits.max_backlog);
        if dropped > 0 {
            sqlx::query(DROP_OLDEST)
                .bind($edge)
                .bind(dropped)
                .execute(&mut *$tx)
                .await
                .map_err(error)?;
            sqlx::query(SET_PURGE_ALL)
                .bind($edge)
                .execute(&mut *$tx)
                .await
                .map_err(error)?;
        }
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(OLDEST)
            .bind($edge)
            .bind(i64::from($limits.batch))
            .fetch_all(&mut *$tx)
            .await
            .map_err(error)?;
        Backlog { rows, count, dropped }
    }};
}

/// The outbox's writes and reads outside a claim, the same text for both
/// databases (expanded in each backend's module, with its statements and
/// `error`; the transaction is the backend's write transaction):
/// registering and taking out edges, listing the active ones, and
/// recording purges made outside the database.
macro_rules! outbox_statements {
    ($store:ty) => {
        pub(super) async fn register_edges(
            store: &$store,
            add: &[String],
            remove: &[String],
        ) -> Result<(), StoreError> {
            let mut tx = store.begin_write().await.map_err(error)?;
            for edge in add {
                sqlx::query(ADD_EDGE)
                    .bind(edge)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
            for edge in remove {
                for statement in [RETIRE_EDGE, DELETE_EDGE_PURGES] {
                    sqlx::query(statement)
                        .bind(edge)
                        .execute(&mut *tx)
                        .await
                        .map_err(error)?;
                }
            }
            tx.commit().await.map_err(error)
        }

        pub(super) async fn active_edges(store: &$store) -> Result<Vec<String>, StoreError> {
            sqlx::query_scalar(ACTIVE_EDGES)
                .fetch_all(&store.pool)
                .await
                .map_err(error)
        }

        /// `now` in microseconds since the Unix epoch.
        pub(super) async fn enqueue(store: &$store, urls: &[String], now: i64) -> Result<(), StoreError> {
            let mut tx = store.begin_write().await.map_err(error)?;
            for url in urls {
                sqlx::query(INSERT_PURGE)
                    .bind(url)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(error)?;
            }
            tx.commit().await.map_err(error)
        }
    };
}

pub(crate) mod sqlite {
    use super::*;

    outbox_statements!(SqliteStore);

    pub(crate) const INSERT_PURGE: &str = "INSERT INTO purge_outbox (edge, url, created_at_us) \
                                           SELECT edge, ?1, ?2 FROM purge_edges WHERE active = 1";
    pub(super) const ADD_EDGE: &str = "INSERT INTO purge_edges (edge) VALUES (?1) ON CONFLICT (edge) DO UPDATE \
                                       SET purge_all = CASE WHEN active = 0 THEN 1 ELSE purge_all END, \
                                       lease_until = CASE WHEN active = 0 THEN 0 ELSE lease_until END, active = 1";
    pub(super) const RETIRE_EDGE: &str = "UPDATE purge_edges SET active = 0, purge_all = 0 WHERE edge = ?1";
    pub(super) const DELETE_EDGE_PURGES: &str = "DELETE FROM purge_outbox WHERE edge = ?1";
    pub(super) const ACTIVE_EDGES: &str = "SELECT edge FROM purge_edges WHERE active = 1 ORDER BY edge";
    const OWED: &str = "SELECT purge_all OR EXISTS (SELECT 1 FROM purge_outbox WHERE edge = ?1) \
                        FROM purge_edges WHERE edge = ?1 AND active = 1";
    const TAKE_LEASE: &str = "UPDATE purge_edges SET lease_until = ?2, lease_owner = ?3 \
                              WHERE edge = ?1 AND active = 1 AND lease_until < ?4 RETURNING purge_all";
    const COUNT: &str = "SELECT COUNT(*) FROM purge_outbox WHERE edge = ?1";
    const DROP_OLDEST: &str = "DELETE FROM purge_outbox WHERE seq IN \
                               (SELECT seq FROM purge_outbox WHERE edge = ?1 ORDER BY seq LIMIT ?2)";
    const SET_PURGE_ALL: &str = "UPDATE purge_edges SET purge_all = 1 WHERE edge = ?1";
    const OLDEST: &str =
        "SELECT seq, url, created_at_us FROM purge_outbox WHERE edge = ?1 ORDER BY seq LIMIT ?2";
    pub(super) const DELETE_SENT: &str =
        "DELETE FROM purge_outbox WHERE edge = ?1 AND seq IN (SELECT value FROM json_each(?2))";
    pub(super) const RELEASE: &str = "UPDATE purge_edges SET lease_until = 0, \
                                      purge_all = CASE WHEN ?3 THEN 0 ELSE purge_all END \
                                      WHERE edge = ?1 AND lease_owner = ?2";

    pub(super) fn error(error: sqlx::Error) -> StoreError {
        crate::sqlite::classify_error(error)
    }

    pub(super) async fn claim(
        store: &SqliteStore,
        edge: &str,
        limits: ClaimLimits,
        now: SystemTime,
    ) -> Result<Option<PurgeClaim>, StoreError> {
        if let Some(answer) = nothing_to_claim!(store, edge) {
            return Ok(answer);
        }
        let now = micros_since_epoch(now);
        let lease_until = now.saturating_add(i64::try_from(limits.lease.as_micros()).unwrap_or(i64::MAX));
        let owner = format!(
            "{}:{}",
            std::process::id(),
            NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
        );
        let mut tx = store.begin_write().await.map_err(error)?;
        let Some(purge_all) = sqlx::query_scalar::<_, bool>(TAKE_LEASE)
            .bind(edge)
            .bind(lease_until)
            .bind(&owner)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?
        else {
            return Ok(None);
        };
        let backlog = take_backlog!(tx, edge, limits);
        tx.commit().await.map_err(error)?;
        Ok(Some(PurgeClaim::taken(
            edge,
            backlog,
            purge_all,
            Hold::Sqlite {
                store: store.clone(),
                owner,
            },
        )))
    }
}

pub(crate) mod postgres {
    use super::*;

    outbox_statements!(PostgresStore);

    pub(crate) const INSERT_PURGE: &str = "INSERT INTO purge_outbox (edge, url, created_at_us) \
                                           SELECT edge, $1, $2 FROM purge_edges WHERE active";
    pub(super) const ADD_EDGE: &str = "INSERT INTO purge_edges (edge) VALUES ($1) ON CONFLICT (edge) DO UPDATE \
                                       SET purge_all = purge_edges.purge_all OR NOT purge_edges.active, active = TRUE";
    pub(super) const RETIRE_EDGE: &str =
        "UPDATE purge_edges SET active = FALSE, purge_all = FALSE WHERE edge = $1";
    pub(super) const DELETE_EDGE_PURGES: &str = "DELETE FROM purge_outbox WHERE edge = $1";
    pub(super) const ACTIVE_EDGES: &str = "SELECT edge FROM purge_edges WHERE active ORDER BY edge";
    const OWED: &str = "SELECT purge_all OR EXISTS (SELECT 1 FROM purge_outbox WHERE edge = $1) \
                        FROM purge_edges WHERE edge = $1 AND active";
    const LOCK_EDGE: &str =
        "SELECT purge_all FROM purge_edges WHERE edge = $1 AND active FOR UPDATE SKIP LOCKED";
    const COUNT: &str = "SELECT COUNT(*) FROM purge_outbox WHERE edge = $1";
    const DROP_OLDEST: &str = "DELETE FROM purge_outbox WHERE seq IN \
                               (SELECT seq FROM purge_outbox WHERE edge = $1 ORDER BY seq LIMIT $2)";
    const SET_PURGE_ALL: &str = "UPDATE purge_edges SET purge_all = TRUE WHERE edge = $1";
    pub(super) const CLEAR_PURGE_ALL: &str = "UPDATE purge_edges SET purge_all = FALSE WHERE edge = $1";
    const OLDEST: &str =
        "SELECT seq, url, created_at_us FROM purge_outbox WHERE edge = $1 ORDER BY seq LIMIT $2";
    pub(super) const DELETE_SENT: &str = "DELETE FROM purge_outbox WHERE edge = $1 AND seq = ANY($2)";

    pub(super) fn error(error: sqlx::Error) -> StoreError {
        crate::postgres::classify_error(error)
    }

    pub(super) async fn claim(
        store: &PostgresStore,
        edge: &str,
        limits: ClaimLimits,
    ) -> Result<Option<PurgeClaim>, StoreError> {
        if let Some(answer) = nothing_to_claim!(store, edge) {
            return Ok(answer);
        }
        let mut tx = store.begin_write().await.map_err(error)?;
        let Some(purge_all) = sqlx::query_scalar::<_, bool>(LOCK_EDGE)
            .bind(edge)
            .fetch_optional(&mut *tx)
            .await
            .map_err(error)?
        else {
            tx.rollback().await.map_err(error)?;
            return Ok(None);
        };
        let backlog = take_backlog!(tx, edge, limits);
        Ok(Some(PurgeClaim::taken(
            edge,
            backlog,
            purge_all,
            Hold::Postgres {
                store: store.clone(),
                tx,
            },
        )))
    }
}
