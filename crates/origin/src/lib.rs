//! The origin server behind `revalidate serve` (work in progress).

pub mod api;
pub mod config;
pub mod metrics;
pub mod problem;
pub mod server;
pub mod static_files;
