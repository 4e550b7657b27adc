//! Integration tests of `revalidate-origin`, over real sockets.
#![allow(clippy::unwrap_used)]

mod api;
mod connections;
mod shutdown;
mod static_files;
