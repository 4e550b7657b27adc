//! Integration tests of `revalidate-client`.
//!
//! - `cache`: the private-cache rules as step tables over the in-memory
//!   transport and a manual clock.
//! - `disk` (feature `disk`): `DiskCache` survives reopening; a corrupt
//!   file is a miss.
//! - `limits`: timeouts against servers that stall, 64-way contention on
//!   one counter with the default retry policy, one cache shared by reads
//!   and updates.
//! - `live`: the caching client against `revalidate serve` over real
//!   sockets (a static file and a JSON resource, 200 then 304).
//! - `middleware`: `CacheMiddleware` in a `reqwest_middleware` client,
//!   each `CacheMode` as a table row, stale-if-error and offline use.
//! - `update`: the optimistic-update loop against `revalidate serve`
//!   (concurrent counters, create-only) and tiny axum servers that
//!   misbehave (always 412, no ETags).
//! - `support`: starting servers on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

mod cache;
#[cfg(feature = "disk")]
mod disk;
mod limits;
mod live;
mod middleware;
mod support;
mod update;
