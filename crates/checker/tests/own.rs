//! The project's own origin (`revalidate serve`: static files and the JSON
//! API on a SQLite file) and edge (`revalidate edge` in front of it), over
//! real sockets: both must come out clean.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use revalidate_edge::storage::{MemoryConfig, MemoryStorage};
use revalidate_edge::{Edge, EdgeSettings};

use crate::support::{check, describe, problems};

struct Site {
    addr: SocketAddr,
    _root: tempfile::TempDir,
    _data: tempfile::TempDir,
}

/// An origin with an HTML page, a fingerprinted stylesheet, a text file
/// big enough to compress, and one JSON document.
async fn origin() -> Site {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("assets")).unwrap();
    std::fs::write(
        root.path().join("index.html"),
        "<!doctype html><title>t</title><p>hello</p>\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("assets/site.3f9a2b1c.css"),
        "body { color: #222; }\n".repeat(200),
    )
    .unwrap();
    std::fs::write(
        root.path().join("notes.txt"),
        "the quick brown fox jumps over the lazy dog\n".repeat(500),
    )
    .unwrap();
    let addr = crate::support::serve_origin(root.path(), data.path()).await;
    let created = reqwest::Client::new()
        .put(format!("http://{addr}/api/notes/check"))
        .header("if-none-match", "*")
        .header("content-type", "application/json")
        .body(r#"{"text": "a note the checker may rewrite"}"#)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    Site {
        addr,
        _root: root,
        _data: data,
    }
}

const PATHS: [&str; 4] = ["/", "/assets/site.3f9a2b1c.css", "/notes.txt", "/api/notes/check"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_origin_is_clean() {
    let site = origin().await;
    let mut failures = Vec::new();
    for path in PATHS {
        let url = format!("http://{}{path}", site.addr);
        let report = check(&url, |s| s.unsafe_writes = path.starts_with("/api/")).await;
        if report.outcome.is_err() || !problems(&report).is_empty() {
            failures.push(describe(&report));
        }
        // The checks really ran: the racing writers on the API, codings on the text.
        let ids: Vec<_> = report.findings().iter().map(|f| f.rule.id).collect();
        assert!(ids.contains(&"freshness"), "{path}: {ids:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_edge_in_front_of_own_origin_is_clean() {
    let site = origin().await;
    let settings = EdgeSettings::new(format!("http://{}", site.addr).parse().unwrap());
    let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
    let edge = Edge::new(
        settings,
        storage.into(),
        Arc::new(revalidate_edge::clock::SystemClock),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let edge_addr = listener.local_addr().unwrap();
    tokio::spawn(revalidate_edge::server::serve(
        listener,
        edge,
        16 * 1024,
        std::future::pending(),
    ));
    let mut failures = Vec::new();
    for path in PATHS {
        let url = format!("http://{edge_addr}{path}");
        let report = check(&url, |s| {
            s.origin = Some(format!("http://{}", site.addr));
            s.timeout = Duration::from_secs(10);
        })
        .await;
        if report.outcome.is_err() || !problems(&report).is_empty() {
            failures.push(describe(&report));
        }
        let ids: Vec<_> = report.findings().iter().map(|f| f.rule.id).collect();
        assert!(ids.contains(&"cdn-detected"), "{path}: {ids:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
