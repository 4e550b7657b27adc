//! Writes that must not lose updates or hold resources, over real sockets
//! on a real SQLite file: which preconditions guard a write (428), a
//! delete and re-creation within one second against a stale
//! `If-Unmodified-Since`, a stalled request body (408), and a database
//! lock held past the store's timeout (503).

use std::io::{Read, Write};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::api_support::{Api, etag, problem};

/// A table row: the case, the method, and the precondition fields sent.
type Case<'a> = (&'a str, reqwest::Method, &'a [(&'a str, &'a str)]);

/// RFC 6585 §3 with RFC 9110 §13: on a collection that requires
/// preconditions, only a field that actually guards the write against a
/// lost update lets it through; one the evaluation ignores (invalid,
/// `If-Match: *`, a future date, `If-None-Match` with tags) gets 428 and
/// writes nothing.
#[tokio::test]
async fn preconditions_that_do_not_guard_a_write_get_428() {
    let api = Api::start().await;
    let far_future = "Fri, 31 Dec 9999 23:59:59 GMT";
    let valid_date = "Sat, 29 Oct 1994 19:43:31 GMT";
    // (case, method, fields)
    let cases: [Case<'_>; 11] = [
        ("no precondition", reqwest::Method::PUT, &[]),
        (
            "If-None-Match: garbage",
            reqwest::Method::PUT,
            &[("if-none-match", "garbage")],
        ),
        (
            "If-Unmodified-Since: garbage",
            reqwest::Method::PUT,
            &[("if-unmodified-since", "garbage")],
        ),
        (
            "If-None-Match with a tag on PUT",
            reqwest::Method::PUT,
            &[("if-none-match", "\"zzz\"")],
        ),
        (
            "far-future If-Unmodified-Since on DELETE",
            reqwest::Method::DELETE,
            &[("if-unmodified-since", far_future)],
        ),
        (
            "far-future If-Unmodified-Since on PATCH",
            reqwest::Method::PATCH,
            &[("if-unmodified-since", far_future)],
        ),
        ("If-Match: *", reqwest::Method::PUT, &[("if-match", "*")]),
        (
            "If-Match: garbage",
            reqwest::Method::PUT,
            &[("if-match", "garbage")],
        ),
        (
            "If-Match: * hides If-Unmodified-Since",
            reqwest::Method::DELETE,
            &[("if-match", "*"), ("if-unmodified-since", valid_date)],
        ),
        (
            "If-Modified-Since only",
            reqwest::Method::PUT,
            &[("if-modified-since", valid_date)],
        ),
        (
            "If-Unmodified-Since listed twice",
            reqwest::Method::PUT,
            &[
                ("if-unmodified-since", valid_date),
                ("if-unmodified-since", valid_date),
            ],
        ),
    ];
    for (i, (case, method, fields)) in cases.into_iter().enumerate() {
        let path = format!("/api/guarded/unguarded-{i}");
        let created = api
            .put_json(&path, &json!({"v": 1}), &[("if-none-match", "*")])
            .await;
        assert_eq!(created.status(), StatusCode::CREATED, "{case}: setup");
        let before = etag(&created);
        let mut request = api.request(method.clone(), &path);
        if method != reqwest::Method::DELETE {
            let media_type = if method == reqwest::Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            request = request.header("content-type", media_type).body(r#"{"v": 2}"#);
        }
        for (name, value) in fields {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::PRECONDITION_REQUIRED, "{case}");
        let body = problem(response, StatusCode::PRECONDITION_REQUIRED).await;
        assert!(
            body["detail"].as_str().unwrap().contains("If-Match"),
            "{case}: {body}"
        );
        let after = api.request(reqwest::Method::GET, &path).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::OK, "{case}: nothing was deleted");
        assert_eq!(etag(&after), before, "{case}: nothing was written");
    }
}

/// The fields that do guard a write are accepted on a collection that
/// requires preconditions: If-Match with the current tag, If-Unmodified-
/// Since with the current Last-Modified (not in the future), and
/// If-None-Match: * to create.
#[tokio::test]
async fn preconditions_that_guard_a_write_are_accepted() {
    let api = Api::start().await;
    let created = api
        .put_json("/api/guarded/ok", &json!({"v": 1}), &[("if-none-match", "*")])
        .await;
    assert_eq!(created.status(), StatusCode::CREATED, "If-None-Match: * creates");
    let by_tag = api
        .put_json(
            "/api/guarded/ok",
            &json!({"v": 2}),
            &[("if-match", &etag(&created))],
        )
        .await;
    assert_eq!(by_tag.status(), StatusCode::OK, "If-Match with the current tag");
    let created = api
        .put_json(
            "/api/guarded/by-date",
            &json!({"v": 1}),
            &[("if-none-match", "*")],
        )
        .await;
    let last_modified = created.headers()["last-modified"].to_str().unwrap().to_owned();
    let by_date = api
        .request(reqwest::Method::DELETE, "/api/guarded/by-date")
        .header("if-unmodified-since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(
        by_date.status(),
        StatusCode::NO_CONTENT,
        "If-Unmodified-Since with the current Last-Modified"
    );
}

/// A resource deleted and created again within one second has the same
/// `Last-Modified` second as the version before the delete: a writer who
/// read that version must still get 412 (RFC 9110 §8.8.2.2, §13.1.4).
#[tokio::test]
async fn delete_and_recreate_in_one_second_then_a_stale_if_unmodified_since_gets_412() {
    let api = Api::start().await;
    // Repeat until the three writes fall in one second (almost always the
    // first time); the assertion holds in every attempt.
    for attempt in 0..20 {
        let path = format!("/api/notes/reborn-{attempt}");
        let first = api.put_json(&path, &json!({"v": 1}), &[]).await;
        let stale = first.headers()["last-modified"].to_str().unwrap().to_owned();
        let deleted = api.request(reqwest::Method::DELETE, &path).send().await.unwrap();
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
        let reborn = api.put_json(&path, &json!({"v": "new"}), &[]).await;
        assert_eq!(reborn.status(), StatusCode::CREATED);
        let same_second = reborn.headers()["last-modified"] == stale.as_str();
        let write = api
            .put_json(&path, &json!({"v": "lost"}), &[("if-unmodified-since", &stale)])
            .await;
        problem(write, StatusCode::PRECONDITION_FAILED).await;
        let kept = api.request(reqwest::Method::GET, &path).send().await.unwrap();
        assert_eq!(kept.json::<Value>().await.unwrap(), json!({"v": "new"}));
        if same_second {
            return;
        }
    }
    panic!("no attempt put the delete and the re-creation in the second of the first version");
}

/// A client that declares a body and stops sending gets 408 once the body
/// read timeout passes, with `Connection: close`; nothing is written.
#[tokio::test]
async fn a_stalled_request_body_gets_408_and_writes_nothing() {
    let api = Api::start_with_settings(vec![], Duration::from_millis(200), Duration::from_secs(10)).await;
    let addr = api.addr;
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        // The server must answer on its own; this only keeps a broken
        // server from hanging the test.
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream
            .write_all(
                b"PUT /api/notes/stalled HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 1000\r\n\r\n{\"a\": \"01",
            )
            .unwrap();
        let mut raw = Vec::new();
        // Read until the server closes the connection.
        let _ = stream.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).into_owned()
    })
    .await
    .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    assert!(head.starts_with("HTTP/1.1 408 "), "{raw:?}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-type: application/problem+json"), "{head}");
    assert!(lower.contains("connection: close"), "{head}");
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["status"], 408);
    let not_written = api
        .request(reqwest::Method::GET, "/api/notes/stalled")
        .send()
        .await
        .unwrap();
    assert_eq!(not_written.status(), StatusCode::NOT_FOUND);
}

/// A database that keeps a write waiting past the store's timeout (here
/// another process holding SQLite's write lock) gets 503 with Retry-After
/// and problem details, not a hang or a 500; reads go on meanwhile, and
/// writes work again once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_lock_held_past_the_timeout_gets_503_with_retry_after() {
    use sqlx::Connection;
    let api = Api::start_with_settings(vec![], Duration::from_secs(30), Duration::from_millis(300)).await;
    let created = api.put_json("/api/notes/busy", &json!({"v": 1}), &[]).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let mut holder = sqlx::SqliteConnection::connect(&api.database).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();

    let blocked = api.put_json("/api/notes/busy", &json!({"v": 2}), &[]).await;
    assert_eq!(blocked.headers()["retry-after"], "1");
    let body = problem(blocked, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body["detail"].as_str().unwrap().contains("nothing was written"),
        "{body}"
    );
    let read = api
        .request(reqwest::Method::GET, "/api/notes/busy")
        .send()
        .await
        .unwrap();
    assert_eq!(read.json::<Value>().await.unwrap(), json!({"v": 1}));

    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let retried = api.put_json("/api/notes/busy", &json!({"v": 3}), &[]).await;
        if retried.status() == StatusCode::OK {
            break;
        }
        assert_eq!(retried.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            tokio::time::Instant::now() < deadline,
            "writes never worked again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
