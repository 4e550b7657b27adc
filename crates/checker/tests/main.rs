//! Tests of `revalidate-checker`: rule tables over hand-built recordings
//! (no network), snapshots of the output, and real-socket checks of the
//! project's own origin and edge and of deliberately broken servers.
#![allow(clippy::unwrap_used)]

mod support;

mod broken;
mod own;
mod plan;
mod rules;
mod snapshots;
