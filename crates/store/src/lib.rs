//! Storage for the origin's JSON resource API: whole records, strong
//! entity-tags identical on every node, and atomic conditional writes.
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | `key` | [`CollectionName`], [`ResourceKey`]: validated names; [`InvalidKey`] |
//! | `resource` | [`Resource`] (one committed version), [`Change`], [`WriteOutcome`], [`entity_tag_for`]; the pure `plan` step every backend shares |
//! | `store` | the [`Store`] trait and [`AnyStore`], chosen at run time by [`open`] |
//! | `memory` | [`MemoryStore`]: a `HashMap` behind a mutex, for tests of other crates |
//! | `sqlite` | [`SqliteStore`]: the embedded default, a real file (WAL, `BEGIN IMMEDIATE`) |
//! | `postgres` | [`PostgresStore`]: several nodes on one database (`SELECT … FOR UPDATE`, `INSERT … ON CONFLICT DO NOTHING`) |
//! | `sql` | what both SQL backends share: decide, plan, run the one row statement, check it touched one row, commit (`SqlDialect` says the statements) |
//! | `retry` | bounded re-runs of a write transaction that lost a race |
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
//! [`validators_of`] the current record, and maps a refusal to 412 (or 304).
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
//! address) goes into it. `Last-Modified` is the `now` the writer passed;
//! the store reads no clock (a new version's date is never earlier than its
//! predecessor's, so a lagging node cannot move it backwards).
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
//! - The body is stored as JSON text (TEXT, not JSONB) so the bytes served
//!   are the bytes the strong tag names ([`Resource::json`]).
//! - Every write makes a new version and a new tag, even when the body is
//!   unchanged: the tag then identifies a version, which is what optimistic
//!   concurrency needs.
//! - Deleting removes the row; a resource created again later starts at
//!   version 1. Its tag can only equal an old one if the bytes are
//!   identical too, which is what a strong validator means.
//!
//! No deviations from the RFCs are made in this crate (it implements none
//! of their rules itself).
//!
//! [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1

mod error;
mod key;
mod memory;
mod postgres;
mod resource;
mod retry;
mod sql;
mod sqlite;
mod store;

pub use error::StoreError;
pub use key::{CollectionName, InvalidKey, KeyPart, MAX_COLLECTION_LEN, MAX_ID_LEN, ResourceKey};
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use resource::{Change, Resource, WriteOutcome, entity_tag_for, validators_of};
pub use sqlite::SqliteStore;
pub use store::{AnyStore, Store};

/// Opens the store a URL names, running migrations for SQL backends:
///
/// - `memory:` — a new, empty [`MemoryStore`];
/// - `sqlite://path/to/file.db` (also `sqlite:path`) — a [`SqliteStore`],
///   creating the file if missing;
/// - `postgres://…` or `postgresql://…` — a [`PostgresStore`].
pub async fn open(url: &str) -> Result<AnyStore, StoreError> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("memory") => Ok(AnyStore::Memory(MemoryStore::new())),
        Some("sqlite") => Ok(AnyStore::Sqlite(SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(AnyStore::Postgres(PostgresStore::open(url).await?)),
        _ => Err(StoreError::UnsupportedUrl(
            "expected a URL starting with memory:, sqlite: or postgres:".to_owned(),
        )),
    }
}
