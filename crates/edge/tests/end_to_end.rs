//! The edge in front of a real `revalidate serve` (static files and the
//! JSON API on a SQLite file), over real sockets.

use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::support::{Site, TestEdge};

const TOKEN: &str = "end-to-end-purge-token";

async fn edge_for(site: &Site) -> TestEdge {
    TestEdge::start_on(site.origin, None, |s| s.purge_token = Some(TOKEN.into())).await
}

#[tokio::test]
async fn a_change_at_the_origin_is_seen_within_the_freshness_rules() {
    let site = Site::start().await;
    site.write("fresh/page.txt", "version one");
    let edge = edge_for(&site).await;
    let first = edge.get("/fresh/page.txt", &[]).await;
    assert_eq!((first.status, first.body.as_str()), (200, "version one"));
    assert!(
        first.cache_status().contains("fwd=uri-miss"),
        "{}",
        first.cache_status()
    );
    let etag = first.header("etag").unwrap().to_owned();

    site.write("fresh/page.txt", "version two, longer");
    let still_fresh = edge.get("/fresh/page.txt", &[]).await;
    assert_eq!(
        still_fresh.body, "version one",
        "within max-age=2 the stored response is used"
    );
    assert!(still_fresh.is_hit());
    // The client's own conditional request is answered by the edge.
    let not_modified = edge.get("/fresh/page.txt", &[("if-none-match", &etag)]).await;
    assert_eq!(not_modified.status, 304);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let changed = edge.get("/fresh/page.txt", &[]).await;
    assert_eq!(
        changed.body, "version two, longer",
        "once stale, the edge revalidates and sees the change"
    );
    assert!(
        changed.cache_status().contains("fwd=stale; fwd-status=200"),
        "{}",
        changed.cache_status()
    );
    assert_ne!(changed.header("etag").unwrap(), etag);
    assert!(edge.get("/fresh/page.txt", &[]).await.is_hit());

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let unchanged = edge.get("/fresh/page.txt", &[]).await;
    assert_eq!(unchanged.body, "version two, longer");
    assert!(
        unchanged.cache_status().contains("fwd=stale; fwd-status=304"),
        "an unchanged file revalidates with a 304: {}",
        unchanged.cache_status()
    );
}

#[tokio::test]
async fn a_purge_after_a_write_makes_the_next_request_go_to_the_origin() {
    let site = Site::start().await;
    site.write("long/doc.txt", "first edition");
    let edge = edge_for(&site).await;
    assert_eq!(edge.get("/long/doc.txt", &[]).await.body, "first edition");
    site.write("long/doc.txt", "second edition!");
    let stale_content = edge.get("/long/doc.txt", &[]).await;
    assert_eq!(
        stale_content.body, "first edition",
        "max-age=3600 keeps the old copy"
    );
    assert!(stale_content.is_hit());

    // What `revalidate serve`'s deployment does after a write.
    let purged = edge
        .send(
            Method::POST,
            "/_revalidate/purge",
            &[
                ("authorization", &format!("Bearer {TOKEN}")),
                ("content-type", "application/json"),
            ],
            r#"{"urls": ["/long/doc.txt"]}"#,
        )
        .await;
    assert_eq!(purged.status, 200, "{}", purged.body);
    let fetched = edge.get("/long/doc.txt", &[]).await;
    assert_eq!(fetched.body, "second edition!");
    assert!(
        fetched.cache_status().contains("fwd=uri-miss"),
        "{}",
        fetched.cache_status()
    );
    assert!(edge.get("/long/doc.txt", &[]).await.is_hit());
}

#[tokio::test]
async fn api_writes_through_the_edge_invalidate_and_reads_revalidate() {
    let site = Site::start().await;
    let edge = edge_for(&site).await;
    let created = edge
        .send(
            Method::PUT,
            "/api/notes/a",
            &[("content-type", "application/json"), ("if-none-match", "*")],
            r#"{"text": "v1"}"#,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(
        created.cache_status().contains("fwd=method"),
        "{}",
        created.cache_status()
    );

    let read = edge.get("/api/notes/a", &[]).await;
    assert_eq!(read.status, 200);
    assert_eq!(serde_json::from_str::<Value>(&read.body).unwrap()["text"], "v1");
    let etag = read.header("etag").unwrap().to_owned();
    // `Cache-Control: no-cache`: stored, and validated with the origin on every use.
    let again = edge.get("/api/notes/a", &[]).await;
    assert_eq!(again.status, 200);
    assert!(
        again.cache_status().contains("fwd-status=304"),
        "{}",
        again.cache_status()
    );
    let conditional = edge.get("/api/notes/a", &[("if-none-match", &etag)]).await;
    assert_eq!(conditional.status, 304);

    let stale_write = edge
        .send(
            Method::PUT,
            "/api/notes/a",
            &[
                ("content-type", "application/json"),
                ("if-match", "\"not-the-etag\""),
            ],
            r#"{"text": "lost"}"#,
        )
        .await;
    assert_eq!(
        stale_write.status, 412,
        "the origin decides preconditions on writes"
    );
    let updated = edge
        .send(
            Method::PUT,
            "/api/notes/a",
            &[("content-type", "application/json"), ("if-match", &etag)],
            r#"{"text": "v2"}"#,
        )
        .await;
    assert!(
        updated.status == 200 || updated.status == 204,
        "{}",
        updated.status
    );
    let after = edge.get("/api/notes/a", &[]).await;
    assert!(
        after.cache_status().contains("fwd=uri-miss"),
        "the write invalidated it: {}",
        after.cache_status()
    );
    assert_eq!(serde_json::from_str::<Value>(&after.body).unwrap()["text"], "v2");
}
