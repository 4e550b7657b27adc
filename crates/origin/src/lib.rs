//! The origin server behind `revalidate serve`: static files with
//! content-hash entity-tags and a JSON resource API with optimistic
//! concurrency, both answering conditional requests through
//! `revalidate-core`.
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`static_files`] | [`StaticFiles`](static_files::StaticFiles): BLAKE3 ETags kept in a persisted index keyed by (device, inode) and stamped with size, mtime and ctime; `Cache-Control` by pattern; ranges; precompressed and on-the-fly variants with their own ETags; path safety. In rooms by role (the module's map lists them): `answer` (a request's route), `request`, `respond` (the core's plan → a response), `template` (the one 200/304 header set, memoised per stamp), `body`, `variant`, `compress`, `confine` and `request_path` (path safety), `failure` (detours and IO errors → statuses), `media_type`, `config`, `index`, `walk`, `watch`, `listing`, `encoding`, `cache_control` |
//! | [`api`] | the JSON API: `GET`/`HEAD`/`PUT`/`PATCH`/`DELETE`/`POST`, a `PUT`'s bytes stored as sent (so its validators may be sent, RFC 9110 §9.3.4), preconditions evaluated inside the store's write transaction, 428 policy |
//! | [`clock`] | the time seam of the API and the static files: [`Clock`](clock::Clock), read once per request as the exact time (a write's stamp) and its HTTP-date |
//! | [`edge_purge`] | [`EdgePurger`](edge_purge::EdgePurger): durable purges of the edges after each API write and each static file change, recorded in the store's outbox in the write's transaction and delivered by any node (one task per registered edge, claims, backoff through `backon`, `LISTEN`/poll wake-ups, edges replaced on reload); the pure parts (what a write or a claim purges, the verdict on an attempt) apart from the HTTP transport; the request body and path are the core's [`revalidate_core::purge`] |
//! | [`problem`] | RFC 9457 problem details for every error response |
//! | [`metrics`] | Prometheus counters and the latency histogram, and the middleware that records them |
//! | [`config`] | the TOML configuration of `revalidate serve` |
//! | [`reload`] | [`ConfigReload`](reload::ConfigReload): the configuration read again on `SIGHUP`, validated, and new routes (API settings, static `Cache-Control` rules, the edge purger) put in force over the same store, tree and metrics; keys that need a restart keep their running values |
//! | [`server`] | [`Origin`](server::Origin): opens the store and the tree, assembles the routes, serves (with `[admin]`, an admin listener: `/metrics`, `/healthz`, `/readyz` pinging the database; [`OriginAdmin`](server::OriginAdmin)) through the front door of `revalidate-listener` (header, idle and send timeouts, connection cap, lingering close, graceful shutdown; with `[tls]`, a TLS listener speaking HTTP/2 and HTTP/1.1 by ALPN with certificates reloaded on `SIGHUP` and on change; with `[access_log]`, a line per request, reopened on `SIGHUP` and `SIGUSR1`) |
//!
//! The decisions (which validators, 304 or 412, which headers a 304
//! keeps) are the core's; this crate is the IO around them: files,
//! sockets, the database.
//!
//! # Deviations
//!
//! - `DEVIATION(patch-json)` (in [`api`]): `PATCH` accepts
//!   `application/json` as a JSON Merge Patch as well as
//!   `application/merge-patch+json`.

pub mod api;
pub mod clock;
pub mod config;
pub mod edge_purge;
pub mod metrics;
pub mod problem;
pub mod reload;
pub mod server;
pub mod static_files;
