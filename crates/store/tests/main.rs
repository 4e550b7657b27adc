//! Tests of revalidate-store: one conformance suite run against every
//! backend, plus backend-specific checks.
//!
//! - `support`: builds two "nodes" (two independent pools) per backend; the
//!   PostgreSQL ones need `REVALIDATE_TEST_PG_URL` (see scripts/test-postgres.sh).
//! - `conformance`: the cases every backend must pass.
//! - `keys`: the name grammar.
//! - `outbox`: the purge outbox: writes record purges, exclusive claims, the backlog bound,
//!   edges taken out and back, a late commit on PostgreSQL, `LISTEN` wake-ups.
//! - `sqlite_file`: durability of the SQLite file across reopening; migrations of both
//!   backends, from an empty database and from one written before the latest migration.
//! - `timeouts`: a lock held too long elsewhere makes reads and writes fail as transient.
#![allow(clippy::unwrap_used)]

mod conformance;
mod keys;
mod outbox;
mod sqlite_file;
mod support;
mod timeouts;
