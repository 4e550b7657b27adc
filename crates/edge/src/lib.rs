//! The RFC 9111 shared cache behind `revalidate edge`
//!
//! (Being written.)

pub mod storage;
