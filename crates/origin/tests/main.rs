//! Integration tests of `revalidate-origin`, over real sockets.
//!
//! - `admin`: the admin listener (`/metrics`, `/healthz` through a
//!   graceful shutdown, `/readyz` with a closed database)
//! - `api`: the JSON API's conditional reads and writes, bad input, metrics
//! - `api_writes`: which preconditions guard a write (428), same-second
//!   `If-Unmodified-Since`, a stalled body (408), a database lock (503)
//! - `api_support`: the API on a real SQLite file, and shared helpers
//! - `edge_purge`: durable purges at a fake edge (a real server on its
//!   own runtime): a write's purge within the deadline, an edge down then
//!   back gets what it missed in order, a changed static file, two
//!   delivering nodes on SQLite and PostgreSQL, a PostgreSQL node gone
//!   right after its commit, a replaced edge set, the purge lag
//!   (`REVALIDATE_PURGE_LAG_WRITES`)
//! - `put_bytes`: a PUT is stored byte for byte and its validators name
//!   what GET serves (RFC 9110 §9.3.4); PUT and PATCH against the RFC table
//! - `racing_writers`: two writers that read one version never both win,
//!   on SQLite and on two nodes sharing PostgreSQL (`REVALIDATE_RACE_ROUNDS`)
//! - `reload`: the configuration reloaded under load with no failed
//!   request; a broken file and restart-only keys change nothing
//! - `shutdown`, `static_files`: the server and the static tree
//! - `tls`: the same answers over HTTP/2 and HTTP/1.1 on the TLS listener
#![allow(clippy::unwrap_used)]

mod admin;
mod api;
mod api_support;
mod api_writes;
mod connections;
mod edge_purge;
mod json_numbers;
mod put_bytes;
mod racing_writers;
mod reload;
mod shutdown;
mod static_files;
mod tls;
