//! The origin server behind `revalidate serve` (work in progress).

pub mod static_files;
