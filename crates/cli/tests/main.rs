//! Tests of the `revalidate` binary as a user runs it: real processes,
//! real sockets, a real SQLite file and a real PostgreSQL server.
#![allow(clippy::unwrap_used)]

mod support;

mod access_log;
mod check;
mod config;
mod edge;
mod errors;
mod reload;
mod signals;
mod tls;
mod two_nodes;
