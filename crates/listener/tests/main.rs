//! Tests of the front door: raw sockets against a real listener serving a
//! small hyper service, with timeouts of a fraction of a second.
#![allow(clippy::unwrap_used)]

mod support;

mod access_log;
mod cap;
mod closing;
mod timeouts;
mod tls;
