//! Integration tests of `revalidate-origin`, over real sockets.
#![allow(clippy::unwrap_used)]

mod api;
mod json_numbers;
mod shutdown;
mod static_files;
