//! A revalidating HTTP client (RFC 9111 private cache) and an
//! optimistic-update helper (RFC 9110 §13 preconditions).
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`client`] | [`CachingClient`]: the private cache over a [`Transport`]; clones share store and pool; [`Source`] says where a response came from |
//! | `engine` (private) | the cache's IO shell shared by the client and the middleware: lookup, reuse, validation, storing, stale-if-error, invalidation |
//! | [`middleware`] | [`CacheMiddleware`]: the same cache as a [`reqwest_middleware::Middleware`] |
//! | [`mode`] | [`CacheMode`] (per request, through extensions) and [`CacheOptions`] (default mode, stale when disconnected) |
//! | `policy` (private) | the RFC 9111 decisions from `revalidate_core::cache` (private-cache configuration), adapted to the stored type |
//! | [`storage`] | the [`CacheStorage`] trait and the bounded [`MemoryCache`] (default) |
//! | `disk` (feature `disk`) | `DiskCache`: one checksummed postcard file per URL; a torn or corrupt file is a miss and is deleted; bounded in bytes, evicting by CLOCK-Pro |
//! | [`update`] | [`Updater`]: read, apply, write with `If-Match`; re-fetch, merge and retry on `412` (backon, decorrelated jitter, bounded by attempts and time); updates of one URL through one client take turns; create-only with `If-None-Match: *` |
//! | [`transport`] | the IO seam: [`Transport`], [`ReqwestTransport`] (real HTTP, default [`Timeouts`]) and [`InMemoryTransport`] (tests) |
//! | [`clock`] | [`Clock`]: freshness is computed against a clock you pass in ([`SystemClock`], [`ManualClock`]) |
//! | [`problem`] | [`Problem`]: RFC 9457 problem details read from error responses |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use revalidate_client::{CachingClient, Source, Update};
//! use serde_json::{Value, json};
//!
//! let client = CachingClient::new()?;
//! let first = client.get("http://127.0.0.1:8080/app.css").await?;
//! let again = client.get("http://127.0.0.1:8080/app.css").await?;
//! assert!(matches!(again.source, Source::Cache | Source::Revalidated));
//!
//! // The same cache and connection pool for updates:
//! let updater = client.updater();
//! updater
//!     .update("http://127.0.0.1:8080/api/counters/a", |current: Option<Value>| {
//!         let n = current.and_then(|v| v["n"].as_u64()).unwrap_or(0);
//!         Ok::<_, std::convert::Infallible>(Update::Replace(json!({ "n": n + 1 })))
//!     })
//!     .await?;
//! # let _ = first;
//! # Ok(()) }
//! ```
//!
//! # Policies where the RFC leaves a choice
//!
//! - Only `GET` is stored. A request with its own conditional fields
//!   bypasses the cache. Unsafe methods invalidate the URL on a non-error
//!   answer (RFC 9111 §4.4).
//! - A stored response whose `304` names a different entity-tag is dropped
//!   and the request is repeated without validators (§4.3.4).
//! - Heuristic freshness is 10% of `Date − Last-Modified`, capped at a day
//!   (§4.2.2).
//! - Every request has a bound: connect 10 s, the whole response 30 s
//!   ([`Timeouts`]); the middleware gives a request without its own timeout
//!   the response timeout.
//! - A stale response is served on error (a 500, 502, 503 or 504, or no
//!   response) only as `stale-if-error` (RFC 5861 §4) allows, or, with
//!   [`CacheOptions::stale_if_disconnected`], when no response came at all
//!   (RFC 9111 §4.2.4 lets a disconnected cache serve stale); never
//!   against `must-revalidate` or `no-cache`.
//! - `only-if-cached` (the request directive or [`CacheMode::OnlyIfCached`])
//!   without a usable stored response is a `504` the cache makes itself
//!   (§5.2.1.7).
//! - The optimistic-update helper refuses to write when the `GET` has no
//!   strong `ETag`: an unguarded write could lose someone else's update.
//!   It cannot detect a server that ignores `If-Match` on writes.
//!
//! # Deviations
//!
//! `grep -rn DEVIATION crates/client`:
//!
//! - `force-cache`: [`CacheMode::ForceCache`] and [`CacheMode::OnlyIfCached`]
//!   serve a stored response however stale, even one whose
//!   `must-revalidate` or `no-cache` forbids that (RFC 9111 §4.2.4): the
//!   caller asked for the store's content explicitly, as with the Fetch
//!   standard's modes of the same names. [`CacheMode::Default`] never does.
//!
//! # Features
//!
#![doc = document_features::document_features!()]
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's API on purpose; each is
//! re-exported, so a caller can name the same version:
//!
//! - [`http`](https://docs.rs/http/1) 1.x and [`bytes`] 1.x: requests, responses, status codes and
//!   header fields, bodies as [`Bytes`](bytes::Bytes).
//! - [`reqwest`] 0.13: [`ReqwestTransport`] wraps a `reqwest::Client`,
//!   [`Timeouts::client_builder`] returns a `reqwest::ClientBuilder`.
//! - [`reqwest_middleware`] 0.5: [`CacheMiddleware`] implements its
//!   `Middleware` trait.
//! - [`revalidate_core`] (same version): the stored head
//!   ([`StoredHead`](revalidate_core::cache::StoredHead)) of a
//!   [`StoredResponse`], the entity-tag of an [`Updated`].
//! - [`serde_json`] 1.x: the extension members of a [`Problem`].
//!
//! The values [`Updater`] reads and writes implement [`serde`] 1.x
//! `Serialize` and `DeserializeOwned`.

/// The README's example, run as a doctest (not part of the API).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use bytes;
pub use http;
pub use reqwest;
pub use reqwest_middleware;
pub use revalidate_core;
pub use serde_json;

pub mod client;
pub mod clock;
#[cfg(feature = "disk")]
pub mod disk;
mod engine;
pub mod middleware;
pub mod mode;
mod policy;
pub mod problem;
pub mod storage;
pub mod transport;
pub mod update;

pub use client::{CachedResponse, CachingClient, ClientError, Source};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "disk")]
pub use disk::DiskCache;
pub use middleware::CacheMiddleware;
pub use mode::{CacheMode, CacheOptions};
pub use problem::Problem;
pub use storage::{CacheStorage, MemoryCache, StoredResponse};
pub use transport::{InMemoryTransport, ReqwestTransport, Timeouts, Transport, TransportError};
pub use update::{RetryPolicy, Update, UpdateError, Updated, Updater, Written};
