//! Integration tests for revalidate-edge.
#![allow(clippy::unwrap_used)]

mod end_to_end;
mod proxy;
mod storage;
mod support;
