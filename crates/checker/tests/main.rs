//! Tests of `revalidate-checker`: rule tables over hand-built recordings
//! (no network), snapshots of the output, and real-socket checks of the
//! project's own origin and edge, of deliberately broken servers, and of
//! stock nginx when it is installed.
#![allow(clippy::unwrap_used)]

mod support;

mod broken;
mod nginx;
mod own;
mod plan;
mod reach;
mod rules;
mod snapshots;
