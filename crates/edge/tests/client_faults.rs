//! Faults in the client's own request are the client's: a 4xx with
//! problem details, never a 5xx, never counted against the origin; and an
//! origin's own 4xx reaches the client unchanged. Raw sockets where the
//! framing is the point.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{RawOrigin, Reply, Seen, TestEdge, TestOrigin, clock, raw_exchange, read_head};

/// The edge's three `revalidate_edge_origin_errors_total` series, summed.
async fn origin_errors(edge: &TestEdge) -> f64 {
    let mut total = 0.0;
    for kind in ["connect", "timeout", "protocol"] {
        total += edge
            .metric(&format!("revalidate_edge_origin_errors_total{{kind=\"{kind}\"}}"))
            .await;
    }
    total
}

const DEADLINE: Duration = Duration::from_secs(20);

/// A PUT whose chunked body has a chunk size that is not hexadecimal: the
/// origin would say 400, and so must the edge (it used to say 502 and
/// count an origin error).
#[tokio::test]
async fn a_malformed_chunked_upload_is_400_and_not_an_origin_error() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::status(204)).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    // (case, the body after a `Transfer-Encoding: chunked` head)
    let cases: [(&str, &[u8]); 3] = [
        ("chunk size not hex", b"zz\r\nhello\r\n0\r\n\r\n"),
        ("chunk longer than its size", b"2\r\nhello\r\n0\r\n\r\n"),
        ("chunk size overflows", b"fffffffffffffffffffff\r\nx\r\n0\r\n\r\n"),
    ];
    for (case, body) in cases {
        let mut request =
            b"PUT /doc HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec();
        request.extend_from_slice(body);
        let answer = raw_exchange(edge.addr, &request, DEADLINE).await;
        assert!(
            answer.status_line().starts_with("HTTP/1.1 400"),
            "{case}: {:?}",
            answer.text
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json"),
            "{case}"
        );
    }
    assert_eq!(origin_errors(&edge).await, 0.0);
    assert_eq!(
        edge.metric("revalidate_edge_requests_total{outcome=\"client-error\"}")
            .await,
        3.0
    );
}

/// RFC 9110 §9.3.7: `OPTIONS *` asks about the server itself, so the edge
/// answers it (200, `Allow`, `Content-Length: 0`); the asterisk form with
/// any other method is a bad request (400), and CONNECT, which a reverse
/// proxy does not tunnel, is 405 with `Allow`. None of them reaches the
/// origin or counts against it (they used to be 502 "could not connect").
#[tokio::test]
async fn asterisk_and_connect_requests_are_answered_by_the_edge_not_the_origin() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::ok("origin")).await;
    let edge = TestEdge::start(origin.addr, clock).await;
    // (request, status line, whether it carries Allow)
    let cases: [(&str, &str, bool); 5] = [
        ("OPTIONS * HTTP/1.1", "HTTP/1.1 200 OK", true),
        ("GET * HTTP/1.1", "HTTP/1.1 400 Bad Request", false),
        ("HEAD * HTTP/1.1", "HTTP/1.1 400 Bad Request", false),
        ("DELETE * HTTP/1.1", "HTTP/1.1 400 Bad Request", false),
        (
            "CONNECT origin.example:443 HTTP/1.1",
            "HTTP/1.1 405 Method Not Allowed",
            true,
        ),
    ];
    for (line, status, allow) in cases {
        let request = format!("{line}\r\nHost: edge\r\nConnection: close\r\n\r\n");
        let answer = raw_exchange(edge.addr, request.as_bytes(), DEADLINE).await;
        assert_eq!(answer.status_line(), status, "{line}: {:?}", answer.text);
        assert_eq!(
            answer.header("allow").is_some(),
            allow,
            "{line}: {:?}",
            answer.text
        );
        if let Some(methods) = answer.header("allow") {
            assert!(
                methods.contains("GET") && methods.contains("OPTIONS"),
                "{line}: {methods}"
            );
            assert!(!methods.contains("CONNECT"), "{line}: {methods}");
        }
        if status.contains("200") {
            assert_eq!(answer.header("content-length"), Some("0"), "{line}");
        } else if !line.starts_with("HEAD") {
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json"),
                "{line}"
            );
        }
    }
    assert_eq!(origin.count("*"), 0);
    assert_eq!(origin_errors(&edge).await, 0.0);
}

/// A client that sends part of its upload and then nothing: 408 after
/// `client_body_timeout` of silence, like nginx's `client_body_timeout`
/// (it used to wait for the origin's answer and say 504, counted against
/// the origin).
#[tokio::test]
async fn a_stalled_upload_is_408_and_not_an_origin_error() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::status(204)).await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.client_body_timeout = Duration::from_millis(300);
        s.response_timeout = Duration::from_secs(10);
    })
    .await;
    let request = b"PUT /doc HTTP/1.1\r\nHost: edge\r\nContent-Length: 100\r\n\r\n0123456789";
    // The client keeps its connection open and never sends the other 90 bytes.
    let answer = raw_exchange(edge.addr, request, DEADLINE).await;
    assert!(
        answer.status_line().starts_with("HTTP/1.1 408"),
        "{:?}",
        answer.text
    );
    assert_eq!(answer.header("content-type"), Some("application/problem+json"));
    assert!(answer.closed, "the edge closes the connection after a 408");
    assert_eq!(origin_errors(&edge).await, 0.0);
}

/// The origin's answer timeout counts from the end of the upload, not its
/// start: a client that keeps sending (every chunk well within
/// `client_body_timeout`) for longer than `response_timeout` is neither
/// timed out nor blamed on the origin.
#[tokio::test]
async fn a_slow_but_steady_upload_outlasting_the_response_timeout_goes_through() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| Reply::status(204)).await;
    let edge = TestEdge::start_with(origin.addr, clock, |s| {
        s.client_body_timeout = Duration::from_secs(5);
        s.response_timeout = Duration::from_millis(400);
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(edge.addr).await.unwrap();
    stream
        .write_all(
            b"PUT /slow HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    // Ten chunks, 150 ms apart: 1.5 s in all, over three response timeouts.
    for _ in 0..10 {
        stream.write_all(b"5\r\nhello\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    stream.write_all(b"0\r\n\r\n").await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 204"), "{response:?}");
    assert_eq!(origin.count("/slow"), 1);
    assert_eq!(origin_errors(&edge).await, 0.0);
}

/// The origin refuses an upload with 413 as soon as it has read the head,
/// then reads and discards the rest (lingering close, as nginx does). The
/// edge must pass the 413 on, status and body unchanged, on every try;
/// with `Content-Length` and with chunked framing.
#[tokio::test]
async fn an_origin_413_sent_before_the_upload_was_read_reaches_the_client_unchanged() {
    const PROBLEM: &str = r#"{"type":"about:blank","title":"Content Too Large","status":413}"#;
    let origin = RawOrigin::start(|mut stream, _| async move {
        let _head = read_head(&mut stream).await;
        let answer = format!(
            "HTTP/1.1 413 Content Too Large\r\ncontent-type: application/problem+json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{PROBLEM}",
            PROBLEM.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        // Lingering close: read what the client still sends, then close.
        let mut sink = vec![0u8; 64 * 1024];
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock()).await;
    let upload = vec![b'x'; 256 * 1024];
    for attempt in 0..20 {
        let chunked = attempt % 2 == 1;
        let mut request = if chunked {
            b"PUT /big HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                .to_vec()
        } else {
            format!(
                "PUT /big HTTP/1.1\r\nHost: edge\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                upload.len()
            )
            .into_bytes()
        };
        if chunked {
            request.extend_from_slice(format!("{:x}\r\n", upload.len()).as_bytes());
            request.extend_from_slice(&upload);
            request.extend_from_slice(b"\r\n0\r\n\r\n");
        } else {
            request.extend_from_slice(&upload);
        }
        let answer = raw_exchange(edge.addr, &request, DEADLINE).await;
        assert!(
            answer.status_line().starts_with("HTTP/1.1 413"),
            "attempt {attempt} (chunked: {chunked}): {:?}",
            answer.text
        );
        assert_eq!(answer.body(), PROBLEM, "attempt {attempt}");
    }
    // Each upload reached the origin once (the origin closes each
    // connection, and a PUT that got an answer is never retried).
    assert_eq!(origin.accepted(), 20);
    assert_eq!(origin_errors(&edge).await, 0.0);
}

/// A GET with content (RFC 9110 §9.3.1 gives it no meaning): the cache
/// fill carries no body, so it must not carry the client's
/// `Content-Length` either, or the origin waits for bytes that never come
/// (it used to stall until the response timeout: 504).
#[tokio::test]
async fn a_get_with_a_body_reaches_the_origin_without_content_length() {
    let clock = clock();
    let origin = TestOrigin::start(clock.clone(), |_: &Seen| {
        Reply::ok("got it").header("cache-control", "max-age=60")
    })
    .await;
    let edge = TestEdge::start(origin.addr, clock).await;
    let cases: [(&str, &str); 2] = [
        ("/with-length", "Content-Length: 5\r\n\r\nhello"),
        (
            "/with-chunks",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
    ];
    for (path, framing) in cases {
        let request = format!("GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n{framing}");
        let answer = raw_exchange(edge.addr, request.as_bytes(), DEADLINE).await;
        assert!(
            answer.status_line().starts_with("HTTP/1.1 200"),
            "{path}: {:?}",
            answer.text
        );
        assert_eq!(answer.body(), "got it", "{path}");
        let seen = origin.requests(path);
        assert_eq!(seen.len(), 1, "{path}");
        for field in ["content-length", "transfer-encoding"] {
            assert_eq!(seen[0].header(field), None, "{path}: {field} reached the origin");
        }
    }
}
