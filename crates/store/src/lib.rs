//! Resource storage for the origin's JSON API (work in progress).
