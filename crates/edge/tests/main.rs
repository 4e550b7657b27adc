//! Integration tests for revalidate-edge.
#![allow(clippy::unwrap_used)]

mod storage;
