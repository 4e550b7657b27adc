//! Integration tests for revalidate-tower.
#![allow(clippy::unwrap_used)]
