//! Integration tests for `revalidate-core`: one binary, one module per RFC area.
//!
//! - `answer`: the plan for answering from a complete representation (§13.2.2, §14), as tables,
//!   and the range step against a model written from §14.1.2–§14.2
//! - `etag`: entity-tag grammar and the comparison table of RFC 9110 §8.8.3.2
//! - `date`: HTTP-date forms of RFC 9110 §5.6.7
//! - `precondition`: the §13 examples and the §13.2.2 evaluation order, as tables
//! - `not_modified`: the 304 header set of §15.4.5
//! - `write_guard`: RFC 6585 §3 (which fields guard a write) and If-Unmodified-Since
//!   against a weak `Last-Modified` or a removal (RFC 9110 §8.8.2.2, §13.1.4), as tables
//! - `pitfalls`: one named test per origin pitfall in `shared/guide/peers.md` §3
//! - `properties`: property tests against a naive model written from the RFC text
//! - `purity`: proves the clippy ban on clocks in this crate is live
//! - `cache`: RFC 9111 tables for `revalidate_core::cache`
//! - `cache_suite`: the cache-tests.fyi cases the cache decisions settle, replayed
//! - `cache_directives`, `cache_freshness`, `cache_storage`, `cache_validate`,
//!   `cache_invalidate`: RFC 9111 / 9211 / 9213 tables per cache module
//! - `cache_stored`: the stored head a cache keeps (Vary fields, clock readings) and its serde form
//! - `cache_properties`: property tests for the cache module
//! - `purge`: the purge API's wire format (request and answer JSON)
#![allow(clippy::unwrap_used)]

mod support;

mod answer;
mod cache;
mod cache_directives;
mod cache_freshness;
mod cache_invalidate;
mod cache_properties;
mod cache_storage;
mod cache_stored;
mod cache_suite;
mod cache_validate;
mod date;
mod etag;
mod not_modified;
mod pitfalls;
mod precondition;
mod properties;
mod purge;
mod purity;
mod write_guard;
