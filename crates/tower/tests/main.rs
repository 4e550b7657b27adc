//! Integration tests for revalidate-tower: one binary.
//!
//! - `support`: the handler, probe bodies and request helpers every module uses.
//! - `conditional`: If-None-Match, If-Modified-Since, If-Match and
//!   If-Unmodified-Since after the handler, the 304 header set, HEAD.
//! - `lookup`: validators before the handler: 304/412 without calling it.
//! - `ranges`: 206 (one range, multipart), 200 and 416 from the bytes the
//!   layer read, If-Range, HEAD.
//! - `pass_through`: what the layer must never read or change.
//! - `compression`: tower-http's CompressionLayer between the layers,
//!   per-coding tags and their round trip.
//! - `server`: a real axum server on 127.0.0.1:0, raw TCP.
#![allow(clippy::unwrap_used)]

mod compression;
mod conditional;
mod lookup;
mod pass_through;
mod ranges;
mod server;
mod support;
