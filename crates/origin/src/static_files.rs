//! Static files with content-hash entity-tags (work in progress).
