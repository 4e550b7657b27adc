//! The JSON resource API over real sockets, on a real SQLite file:
//! conditional reads, conditional writes, 428, bad input, lost updates.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{Api, etag, problem};

/// Create-only with `If-None-Match: *`, then read, revalidate and update
/// with `If-Match`: the whole optimistic-concurrency flow.
#[tokio::test]
async fn create_read_revalidate_update_delete() {
    let api = Api::start().await;
    let created = api
        .put_json("/api/notes/a", &json!({"text": "v1"}), &[("if-none-match", "*")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["location"], "/api/notes/a");
    let v1 = etag(&created);
    assert!(v1.starts_with('"') && !v1.starts_with("W/"), "strong tag: {v1}");

    // Create-only again: the resource exists now.
    let again = api
        .put_json(
            "/api/notes/a",
            &json!({"text": "other"}),
            &[("if-none-match", "*")],
        )
        .await;
    let body = problem(again, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(body["current_etag"], v1);

    let read = api
        .request(reqwest::Method::GET, "/api/notes/a")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(etag(&read), v1);
    assert_eq!(read.headers()["cache-control"], "no-cache");
    assert_eq!(read.headers()["content-type"], "application/json");
    assert!(read.headers().contains_key("last-modified"));
    assert_eq!(read.json::<Value>().await.unwrap(), json!({"text": "v1"}));

    let revalidated = api
        .request(reqwest::Method::GET, "/api/notes/a")
        .header("if-none-match", &v1)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&revalidated), v1);
    assert!(revalidated.headers().get("content-type").is_none());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let updated = api
        .put_json("/api/notes/a", &json!({"text": "v2"}), &[("if-match", &v1)])
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let v2 = etag(&updated);
    assert_ne!(v1, v2);

    let stale = api
        .put_json("/api/notes/a", &json!({"text": "lost"}), &[("if-match", &v1)])
        .await;
    assert_eq!(
        stale.headers()["etag"],
        v2.as_str(),
        "412 carries the current ETag"
    );
    let body = problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(body["current_etag"], v2);
    assert!(body["detail"].as_str().unwrap().contains("Re-fetch"));

    let stale_delete = api
        .request(reqwest::Method::DELETE, "/api/notes/a")
        .header("if-match", &v1)
        .send()
        .await
        .unwrap();
    problem(stale_delete, StatusCode::PRECONDITION_FAILED).await;
    let deleted = api
        .request(reqwest::Method::DELETE, "/api/notes/a")
        .header("if-match", &v2)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = api
        .request(reqwest::Method::GET, "/api/notes/a")
        .send()
        .await
        .unwrap();
    problem(gone, StatusCode::NOT_FOUND).await;
    // RFC 9110 §13.2.1: without preconditions a DELETE here is a 404, so If-Match is not evaluated.
    let gone = api
        .request(reqwest::Method::DELETE, "/api/notes/a")
        .header("if-match", &v2)
        .send()
        .await
        .unwrap();
    problem(gone, StatusCode::NOT_FOUND).await;
}

/// HEAD has GET's headers, Content-Length included, and no body.
#[tokio::test]
async fn head_matches_get() {
    let api = Api::start().await;
    api.put_json("/api/notes/h", &json!({"n": 1}), &[]).await;
    let get = api
        .request(reqwest::Method::GET, "/api/notes/h")
        .send()
        .await
        .unwrap();
    let head = api
        .request(reqwest::Method::HEAD, "/api/notes/h")
        .send()
        .await
        .unwrap();
    for name in [
        "etag",
        "last-modified",
        "content-type",
        "content-length",
        "cache-control",
    ] {
        assert_eq!(get.headers().get(name), head.headers().get(name), "{name}");
    }
    assert!(head.bytes().await.unwrap().is_empty());
}

/// RFC 7396 merge patch, guarded by If-Match; other media types get 415
/// with Accept-Patch (RFC 5789 §3.1).
#[tokio::test]
async fn merge_patch() {
    let api = Api::start().await;
    let created = api
        .put_json("/api/notes/p", &json!({"a": 1, "b": {"c": 2, "d": 3}}), &[])
        .await;
    let v1 = etag(&created);
    let patched = api
        .request(reqwest::Method::PATCH, "/api/notes/p")
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &v1)
        .body(r#"{"a": null, "b": {"c": 20}, "e": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert_ne!(etag(&patched), v1);
    assert_eq!(
        patched.json::<Value>().await.unwrap(),
        json!({"b": {"c": 20, "d": 3}, "e": true})
    );

    let stale = api
        .request(reqwest::Method::PATCH, "/api/notes/p")
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &v1)
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(stale, StatusCode::PRECONDITION_FAILED).await;

    let wrong_type = api
        .request(reqwest::Method::PATCH, "/api/notes/p")
        .header("content-type", "application/json-patch+json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_type.headers()["accept-patch"],
        "application/merge-patch+json"
    );
    problem(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let missing = api
        .request(reqwest::Method::PATCH, "/api/notes/nope")
        .header("content-type", "application/merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    problem(missing, StatusCode::NOT_FOUND).await;
}

/// POST to a collection creates with a generated id.
#[tokio::test]
async fn post_creates_with_location() {
    let api = Api::start().await;
    let created = api
        .request(reqwest::Method::POST, "/api/notes")
        .json(&json!({"x": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/api/notes/"), "{location}");
    let tag = etag(&created);
    let read = api.request(reqwest::Method::GET, &location).send().await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(etag(&read), tag);
}

/// RFC 6585 §3: a collection that requires preconditions answers 428 to
/// unconditional writes and accepts conditional ones.
#[tokio::test]
async fn precondition_required_428() {
    let api = Api::start().await;
    let unconditional = api.put_json("/api/guarded/x", &json!({}), &[]).await;
    let body = problem(unconditional, StatusCode::PRECONDITION_REQUIRED).await;
    assert!(body["detail"].as_str().unwrap().contains("If-Match"));
    let created = api
        .put_json("/api/guarded/x", &json!({"v": 1}), &[("if-none-match", "*")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let v1 = etag(&created);
    let delete = api
        .request(reqwest::Method::DELETE, "/api/guarded/x")
        .send()
        .await
        .unwrap();
    problem(delete, StatusCode::PRECONDITION_REQUIRED).await;
    let updated = api
        .put_json("/api/guarded/x", &json!({"v": 2}), &[("if-match", &v1)])
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    // Reads are never guarded.
    let read = api
        .request(reqwest::Method::GET, "/api/guarded/x")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
}

/// If-Unmodified-Since guards writes too (RFC 9110 §13.1.4).
#[tokio::test]
async fn if_unmodified_since_guards_writes() {
    let api = Api::start().await;
    let created = api.put_json("/api/notes/u", &json!({}), &[]).await;
    let last_modified = created.headers()["last-modified"].to_str().unwrap().to_owned();
    let old = "Sat, 29 Oct 1994 19:43:31 GMT";
    let refused = api
        .put_json("/api/notes/u", &json!({"v": 2}), &[("if-unmodified-since", old)])
        .await;
    problem(refused, StatusCode::PRECONDITION_FAILED).await;
    let accepted = api
        .put_json(
            "/api/notes/u",
            &json!({"v": 2}),
            &[("if-unmodified-since", &last_modified)],
        )
        .await;
    assert_eq!(accepted.status(), StatusCode::OK);
}

/// Bad input: a clear 4xx problem, never a 500, and nothing written.
#[tokio::test]
async fn bad_input_gets_problem_details() {
    let api = Api::start().await;
    let cases: Vec<(&str, reqwest::RequestBuilder, StatusCode)> = vec![
        (
            "invalid JSON",
            api.request(reqwest::Method::PUT, "/api/notes/bad")
                .header("content-type", "application/json")
                .body("{"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "wrong content type",
            api.request(reqwest::Method::PUT, "/api/notes/bad")
                .header("content-type", "text/plain")
                .body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "no content type",
            api.request(reqwest::Method::PUT, "/api/notes/bad").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "body over the limit",
            api.request(reqwest::Method::PUT, "/api/notes/bad")
                .header("content-type", "application/json")
                .body(format!("\"{}\"", "x".repeat(5000))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "invalid collection",
            api.request(reqwest::Method::GET, "/api/Bad%20Name/x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid id",
            api.request(reqwest::Method::GET, "/api/notes/bad%20id"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unknown method",
            api.request(reqwest::Method::from_bytes(b"BREW").unwrap(), "/api/notes/x"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "GET on a collection",
            api.request(reqwest::Method::GET, "/api/notes"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "too deep",
            api.request(reqwest::Method::GET, "/api/a/b/c"),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (name, request, status) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{name}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{name}"
        );
    }
    let not_written = api
        .request(reqwest::Method::GET, "/api/notes/bad")
        .send()
        .await
        .unwrap();
    assert_eq!(
        not_written.status(),
        StatusCode::NOT_FOUND,
        "a refused write leaves nothing behind"
    );
    let allow = api
        .request(reqwest::Method::POST, "/api/notes/x")
        .send()
        .await
        .unwrap();
    assert_eq!(allow.headers()["allow"], "GET, HEAD, PUT, PATCH, DELETE");
}

/// Found by `fuzz/` (target `api_json`): a segment that is not UTF-8 once
/// percent-decoded was refused by axum's `Path` extractor with its own
/// plain-text 400, not problem details.
#[tokio::test]
async fn a_path_segment_that_is_not_utf8_gets_problem_details() {
    let api = Api::start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/notes/%FF"),
        (reqwest::Method::DELETE, "/api/%C3%28/x"),
        (reqwest::Method::POST, "/api/%FF"),
    ] {
        let response = api
            .request(method.clone(), path)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let body = problem(response, StatusCode::BAD_REQUEST).await;
        assert!(
            body["detail"].as_str().unwrap().contains("UTF-8"),
            "{method} {path}: {body}"
        );
    }
}

/// A 304 on the wire: status line, no body, no framing of a body.
#[tokio::test]
async fn not_modified_on_the_wire_has_no_body() {
    let api = Api::start().await;
    let created = api.put_json("/api/notes/w", &json!({"w": 1}), &[]).await;
    let tag = etag(&created);
    let addr = api.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET /api/notes/w HTTP/1.1\r\nHost: x\r\nIf-None-Match: {tag}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        String::from_utf8(raw).unwrap()
    })
    .await
    .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{head}");
    assert!(body.is_empty(), "304 must have no body: {body:?}");
    let lower = head.to_ascii_lowercase();
    for absent in [
        "content-type:",
        "content-length:",
        "transfer-encoding:",
        "last-modified:",
    ] {
        assert!(!lower.contains(absent), "{absent} in {head}");
    }
    for present in ["etag:", "cache-control: no-cache", "date:"] {
        assert!(lower.contains(present), "{present} missing from {head}");
    }
}

/// Many clients doing read-modify-write with If-Match on one counter: the
/// final count equals the number of successful writes (no lost update).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_read_modify_write_loses_no_update() {
    let api = Arc::new(Api::start().await);
    api.put_json("/api/counters/c", &json!({"count": 0}), &[]).await;
    let successes = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (api, successes, conflicts) = (api.clone(), successes.clone(), conflicts.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                loop {
                    let read = api
                        .request(reqwest::Method::GET, "/api/counters/c")
                        .send()
                        .await
                        .unwrap();
                    let tag = etag(&read);
                    let count = read.json::<Value>().await.unwrap()["count"].as_u64().unwrap();
                    let write = api
                        .put_json(
                            "/api/counters/c",
                            &json!({"count": count + 1}),
                            &[("if-match", &tag)],
                        )
                        .await;
                    match write.status() {
                        StatusCode::OK => {
                            successes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        StatusCode::PRECONDITION_FAILED => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        other => panic!("unexpected {other}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let final_count = api
        .request(reqwest::Method::GET, "/api/counters/c")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["count"]
        .as_u64()
        .unwrap();
    assert_eq!(successes.load(Ordering::Relaxed), 120);
    assert_eq!(
        final_count,
        120,
        "{} conflicts were retried",
        conflicts.load(Ordering::Relaxed)
    );
}

/// `/metrics` counts 304s, 412s and the bytes 304s saved.
#[tokio::test]
async fn metrics_count_revalidations() {
    let api = Api::start().await;
    let created = api
        .put_json("/api/notes/m", &json!({"text": "0123456789"}), &[])
        .await;
    let tag = etag(&created);
    let length = created.bytes().await.unwrap().len();
    for _ in 0..3 {
        let r = api
            .request(reqwest::Method::GET, "/api/notes/m")
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }
    let r = api
        .put_json("/api/notes/m", &json!({}), &[("if-match", "\"stale\"")])
        .await;
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    let text = api
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("revalidate_http_not_modified_total 3"), "{text}");
    assert!(
        text.contains("revalidate_http_precondition_failed_total 1"),
        "{text}"
    );
    assert!(
        text.contains(&format!("revalidate_http_bytes_saved_total {}", 3 * length)),
        "{text}"
    );
    assert!(
        text.contains("revalidate_http_requests_total{method=\"PUT\",status=\"201\"} 1"),
        "{text}"
    );
}

/// The API reads the time through its clock seam: a write is stamped with
/// the clock's time (`Last-Modified`), and `If-Unmodified-Since` is judged
/// against it (a date later than the server's clock does not guard a write,
/// RFC 6585 §3 as `Preconditions::write_guard` reads it).
#[tokio::test]
async fn api_writes_are_stamped_and_judged_by_the_servers_clock() {
    use std::time::{Duration, UNIX_EPOCH};
    let start = UNIX_EPOCH + Duration::from_millis(1_700_000_000_400);
    let clock = revalidate_origin::clock::ManualClock::new(start);
    let api = Api::start_with_clock(Arc::new(clock.clone())).await;
    let created = api
        .put_json("/api/guarded/a", &json!({"v": 1}), &[("if-none-match", "*")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let stamped = revalidate_core::HttpDate::from_unix_seconds(1_700_000_000)
        .unwrap()
        .to_string();
    assert_eq!(created.headers()["last-modified"], stamped.as_str());

    let later = revalidate_core::HttpDate::from_unix_seconds(1_700_000_010)
        .unwrap()
        .to_string();
    let refused = api
        .put_json(
            "/api/guarded/a",
            &json!({"v": 2}),
            &[("if-unmodified-since", &later)],
        )
        .await;
    problem(refused, StatusCode::PRECONDITION_REQUIRED).await;
    clock.advance(Duration::from_secs(20));
    let updated = api
        .put_json(
            "/api/guarded/a",
            &json!({"v": 2}),
            &[("if-unmodified-since", &later)],
        )
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let restamped = revalidate_core::HttpDate::from_unix_seconds(1_700_000_020)
        .unwrap()
        .to_string();
    assert_eq!(updated.headers()["last-modified"], restamped.as_str());
}
