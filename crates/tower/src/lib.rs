//! Tower middleware: strong ETags, 304 and 412 for any axum or hyper app
//!
//! (Being written.)
