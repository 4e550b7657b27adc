//! Integration tests for revalidate-edge.
#![allow(clippy::unwrap_used)]

mod connections;
mod end_to_end;
mod origin_purge;
mod proxy;
mod storage;
mod support;
