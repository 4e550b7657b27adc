//! Integration tests for revalidate-edge.
#![allow(clippy::unwrap_used)]

mod admin;
mod client_faults;
mod collapse;
mod connections;
mod end_to_end;
mod origin_purge;
mod pool;
mod proxy;
mod shared_cache;
mod shield;
mod sites;
mod storage;
mod support;
mod tls;
