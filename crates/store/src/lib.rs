//! Storage for the origin's JSON resource API: whole records, strong
//! entity-tags identical on every node, and atomic conditional writes.
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | `key` | [`CollectionName`], [`ResourceKey`]: validated names; [`InvalidKey`] |
//! | `json_text` | [`JsonText`]: a document's bytes, checked to be JSON and then kept as sent ([RFC 9110 §9.3.4]) |
//! | `resource` | [`Resource`] (one committed version), [`Current`] (what a write's decision sees), [`Change`], [`WriteOutcome`], [`entity_tag_for`]; the pure `plan` step every backend shares |
//! | `stamp` | when each state of a resource began and the `Last-Modified` it is sent with: the pure rule that tells two changes within one second apart |
//! | `limits` | [`StoreOptions`] (the database timeout, the tombstone retention) and the deadline every operation runs under |
//! | `store` | the [`Store`] trait (reads, the atomic conditional write, create) |
//! | `any` | [`AnyStore`], the backend chosen at run time by [`open`], dispatching to it |
//! | `memory` | [`MemoryStore`]: a `HashMap` behind a mutex, for tests of other crates |
//! | `sqlite` | [`SqliteStore`]: the embedded default, a real file (WAL, `BEGIN IMMEDIATE`) |
//! | `postgres` | [`PostgresStore`]: several nodes on one database (`SELECT … FOR UPDATE`, `INSERT … ON CONFLICT DO NOTHING`) |
//! | `sql` | what both SQL backends share: read the row or tombstone, decide, plan, run the statements, check the rows they touched, commit (`SqlDialect` says the statements), and the `Store` impl both expand (`sql_store!`) |
//! | `outbox` | the purge outbox: [`AnyStore::with_purge_outbox`] (writes record the purge of their URL in their own transaction), [`AnyStore::enqueue_purges`], [`AnyStore::claim_purges`] → [`PurgeClaim`] (`FOR UPDATE SKIP LOCKED` on PostgreSQL, a lease on SQLite), [`PurgeNotifications`] (`LISTEN`); one row per purge and edge, bounded per edge |
//! | `retry` | bounded re-runs of a write transaction that lost a race (backon, exponential with jitter) |
//! | `error` | [`StoreError`], classified for the HTTP layer ([`StoreError::is_transient`] → 503) |
//!
//! # How a conditional write stays atomic
//!
//! [`Store::write`] takes a decision closure. The backend locks the
//! resource (or, for a resource that does not exist yet, arranges that only
//! one creator can win), reads it, calls the closure with it, and writes
//! what the closure chose, all in one transaction. The HTTP layer evaluates
//! `If-Match`, `If-None-Match` and `If-Unmodified-Since` with
//! [`revalidate_core::Preconditions::evaluate`] inside the closure, against
//! [`Current::validators`] of the current state, and maps a refusal to 412
//! (or 304).
//! The store guarantees that the state the evaluation saw is the state that
//! gets replaced. That is what makes `If-Match` do its job, per
//! [RFC 9110 §13.1.1]: it "is most often used with state-changing methods
//! (e.g., POST, PUT, DELETE) to prevent accidental overwrites when multiple
//! user agents might be acting in parallel on the same resource (i.e., to
//! prevent the "lost update" problem)". With several nodes, the tag must be
//! compared with the state current *inside* the write, not before it.
//! The RFC logic stays in the core, the atomicity here.
//!
//! # Entity-tags
//!
//! Computed in Rust when a version is written, from the version number and
//! the exact JSON text stored ([`entity_tag_for`]: blake3, 128 bits, hex),
//! and stored in their own column. Every node reads the same column, so the
//! tag is the same everywhere; nothing node-local (mtime, inode, row
//! address) goes into it.
//!
//! # Modification times and `If-Unmodified-Since`
//!
//! Each version stores the `now` its writer passed, to the microsecond
//! (never earlier than its predecessor's, so a lagging node cannot move it
//! backwards), and whether an earlier state of the resource may have been
//! sent with the same `Last-Modified` second. The store reads no clock.
//! A `Last-Modified` has one-second resolution, so two writes within one
//! second would leave two versions with one date, and two writers that
//! both read the first and send `If-Unmodified-Since` with its date would
//! both pass. [RFC 9110 §8.8.2.2] lets an origin treat the date as strong
//! only when it "reliably knows that the associated representation did not
//! change twice during the second covered by the presented validator":
//! [`Resource::validators`] says
//! [`Weak`](revalidate_core::LastModifiedStrength::Weak) while the current
//! version shares its second with an earlier state (the core's evaluator
//! then answers 412 to that date), and from the next second on sends the
//! next second, strong, so a client that re-reads can retry
//! ([`Resource::last_modified`]; the rule is the `stamp` module's).
//!
//! Deletes leave a tombstone (key and deletion time, kept for
//! [`StoreOptions::tombstone_retention`], an hour by default): a resource
//! created again continues from it, so a delete and a re-creation within
//! one second count as two changes in it, and [`Current::validators`] of a
//! recently deleted resource carry the deletion time, so a client that read
//! the deleted version cannot re-create it with `If-Unmodified-Since`. This
//! assumes the nodes sharing a database keep their clocks in step (NTP) to
//! well under a second, as any date validator does; `If-Match` does not
//! depend on clocks at all.
//!
//! # Bounded waits
//!
//! Every operation ([`Store::get`], [`Store::write`] with its retries,
//! [`Store::ping`]) runs under [`StoreOptions::timeout`] (10 s by default)
//! and fails with [`StoreError::Timeout`] past it; the pool's acquire
//! timeout, SQLite's busy timeout and PostgreSQL's `statement_timeout`,
//! `lock_timeout` and `idle_in_transaction_session_timeout` are derived
//! from it. [`open_with`] takes the options.
//!
//! # Why two typed pools rather than `AnyPool`
//!
//! The two SQL backends differ exactly where atomicity lives: SQLite needs
//! `BEGIN IMMEDIATE` (sqlx's `begin_with`), PostgreSQL needs `FOR UPDATE`
//! and `ON CONFLICT`, and the retryable error codes differ (SQLite
//! busy/locked vs SQLSTATE 40001/40P01). `AnyPool` would hide the driver's
//! error codes we classify and supports only a few types, so each backend
//! uses its own `SqlitePool`/`PgPool` with its own SQL and its own embedded
//! migrations directory (`migrations/sqlite`, `migrations/postgres`,
//! applied by `sqlx::migrate!` on open). What they share, deciding the next
//! row from the current one, is a pure function.
//!
//! # Policies
//!
//! - The body is stored as JSON text (TEXT, not JSONB), exactly as the
//!   client sent it ([`JsonText`]; no parse and re-serialise), so the bytes
//!   served are the bytes the strong tag names ([`Resource::json`]), and a
//!   `PUT` may answer with validators: the representation "was saved
//!   without any transformation applied to the body" ([RFC 9110 §9.3.4]).
//!   Rows written before this rule hold the serialisation of the parsed
//!   body; they are served and tagged as they are, no migration needed.
//! - Every write makes a new version and a new tag, even when the body is
//!   unchanged: the tag then identifies a version, which is what optimistic
//!   concurrency needs.
//! - Deleting removes the row and leaves a tombstone; a resource created
//!   again later starts at version 1. Its tag can only equal an old one if
//!   the bytes are identical too, which is what a strong validator means.
//! - A version that shares its second is sent with `Last-Modified` one
//!   second later than it was written once that second has begun (never
//!   later than the clock): the date an origin "believes the selected
//!   representation was last modified" may err late, never early. Rows
//!   written before this rule existed are treated as sharing their second.
//!
//! No deviations from the RFCs are made in this crate; it relies on two of
//! the core's (`DEVIATION(weak-unmodified-since)`,
//! `DEVIATION(removed-unmodified-since)`, see `revalidate_core`).
//!
//! [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
//! [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
//! [RFC 9110 §9.3.4]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.4

mod any;
mod error;
mod json_text;
mod key;
mod limits;
mod memory;
mod outbox;
mod postgres;
mod resource;
mod retry;
mod sql;
mod sqlite;
mod stamp;
mod store;

pub use any::AnyStore;
pub use error::StoreError;
pub use json_text::{InvalidJson, JsonText};
pub use key::{CollectionName, InvalidKey, KeyPart, MAX_COLLECTION_LEN, MAX_ID_LEN, ResourceKey};
pub use limits::StoreOptions;
pub use memory::MemoryStore;
pub use outbox::{ClaimLimits, PURGE_CHANNEL, PendingPurge, PurgeClaim, PurgeNotifications};
pub use postgres::PostgresStore;
pub use resource::{Change, Current, Resource, WriteOutcome, entity_tag_for};
pub use sqlite::SqliteStore;
pub use store::Store;

/// Opens the store a URL names, running migrations for SQL backends:
///
/// - `memory:` — a new, empty [`MemoryStore`];
/// - `sqlite://path/to/file.db` (also `sqlite:path`) — a [`SqliteStore`],
///   creating the file if missing;
/// - `postgres://…` or `postgresql://…` — a [`PostgresStore`].
pub async fn open(url: &str) -> Result<AnyStore, StoreError> {
    open_with(url, StoreOptions::default()).await
}

/// [`open`] with these options.
pub async fn open_with(url: &str, options: StoreOptions) -> Result<AnyStore, StoreError> {
    options.validate()?;
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("memory") => Ok(AnyStore::Memory(MemoryStore::with_options(options))),
        Some("sqlite") => Ok(AnyStore::Sqlite(SqliteStore::open_with(url, options).await?)),
        Some("postgres" | "postgresql") => {
            Ok(AnyStore::Postgres(PostgresStore::open_with(url, options).await?))
        }
        _ => Err(StoreError::UnsupportedUrl(
            "expected a URL starting with memory:, sqlite: or postgres:".to_owned(),
        )),
    }
}
