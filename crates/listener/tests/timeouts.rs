//! Header, idle and send timeouts.

use std::time::{Duration, Instant};

use revalidate_listener::Limits;
use tokio::io::AsyncWriteExt;

use crate::support::{GET, PATIENCE, Server, closed_by_server, exchange, patient};

/// A connection that never sends a byte is closed at the header timeout,
/// counted from the accept (hyper-util's protocol detection waits for a
/// first byte with no timeout of its own).
#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let server = Server::start(Limits {
        header_timeout_ms: 500,
        ..patient()
    })
    .await;
    let mut stream = server.connect().await;
    let connected = Instant::now();
    let closed = closed_by_server(&mut stream).await;
    let after = closed - connected;
    assert!(after >= Duration::from_millis(250), "closed after {after:?}");
    assert_eq!(server.closed("header_timeout"), 1.0);
    server.wait_for(Server::open, 0.0, "open connections").await;
}

/// A client that trickles a head, a byte at a time, is closed when the
/// header timeout has passed since the head's first byte, however
/// recently the last byte came. Here it is the second request of a
/// keep-alive connection, so the timeout counts from its first byte, not
/// from the accept or the first response.
#[tokio::test]
async fn a_trickling_head_is_closed_at_the_header_timeout_though_its_bytes_keep_coming() {
    let server = Server::start(Limits {
        header_timeout_ms: 600,
        ..patient()
    })
    .await;
    let mut stream = server.connect().await;
    assert_eq!(exchange(&mut stream, GET).await, "HTTP/1.1 200 OK");
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move {
        let mut sink = [0u8; 1024];
        let _ = tokio::io::AsyncReadExt::read(&mut reader, &mut sink).await;
        Instant::now()
    });
    // A head of 200 bytes at one per 50 ms would take 10 s.
    let head = format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(160)
    );
    let started = Instant::now();
    let mut sent = 0;
    for byte in head.as_bytes() {
        if closed.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let closed_at = tokio::time::timeout(PATIENCE, closed).await.unwrap().unwrap();
    assert!(
        sent < head.len(),
        "the whole trickled head was accepted ({sent} bytes over {:?})",
        started.elapsed()
    );
    let after = closed_at - started;
    // Timeouts may fire a little early (the coarse clock): not before half.
    assert!(after >= Duration::from_millis(300), "closed after {after:?}");
    assert_eq!(server.closed("header_timeout"), 1.0);
}

/// A keep-alive connection serves request after request, and once it
/// stays without one it is closed at the idle timeout, counted from its
/// last response (not at the shorter header timeout).
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_after_its_requests_are_answered() {
    let server = Server::start(Limits {
        header_timeout_ms: 300,
        idle_timeout_ms: 1_200,
        ..patient()
    })
    .await;
    let mut stream = server.connect().await;
    for _ in 0..3 {
        assert_eq!(exchange(&mut stream, GET).await, "HTTP/1.1 200 OK");
    }
    let answered = Instant::now();
    let closed = closed_by_server(&mut stream).await;
    let after = closed - answered;
    assert!(
        after >= Duration::from_millis(600),
        "closed {after:?} after the last response"
    );
    assert_eq!(server.closed("idle_timeout"), 1.0);
    assert_eq!(server.closed("header_timeout"), 0.0);
}

/// A client that asks for a large response and never reads it is closed
/// at the send timeout: its writes stay pending.
#[tokio::test]
async fn a_client_that_never_reads_a_large_response_is_closed_at_the_send_timeout() {
    let server = Server::start(Limits {
        send_timeout_ms: 500,
        ..patient()
    })
    .await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    server
        .wait_for(|s| s.closed("send_timeout"), 1.0, "closes for the send timeout")
        .await;
    server.wait_for(Server::open, 0.0, "open connections").await;
    // What the buffers held arrives, then the end: never the whole body.
    let mut received = 0usize;
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match tokio::time::timeout(PATIENCE, tokio::io::AsyncReadExt::read(&mut stream, &mut sink)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the connection is still open"),
        }
    }
    assert!(received < crate::support::BIG, "received {received} bytes");
}

/// The slowest of the timeouts are no excuse for the others: a request
/// sent promptly on a connection whose other timeouts are short is
/// answered, and a slow response (1 s, longer than every timeout here) is
/// not cut by them: a request in flight has no header or idle deadline.
#[tokio::test]
async fn a_request_in_flight_outlives_the_header_and_idle_timeouts() {
    let server = Server::start(Limits {
        header_timeout_ms: 800,
        idle_timeout_ms: 300,
        send_timeout_ms: 300,
        ..Limits::default()
    })
    .await;
    let mut stream = server.connect().await;
    assert_eq!(
        exchange(&mut stream, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n").await,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        server.closed("header_timeout") + server.closed("idle_timeout"),
        0.0
    );
}

/// HTTP/2 with prior knowledge is served too; between requests its
/// control frames do not count as a new head, so an HTTP/2 connection
/// whose client only sends PINGs after its requests is closed at the idle
/// timeout (not kept for the header timeout from each PING).
#[tokio::test]
async fn an_http2_connection_that_only_pings_after_its_requests_is_closed_at_the_idle_timeout() {
    use http_body_util::{BodyExt, Empty};
    let server = Server::start(Limits {
        idle_timeout_ms: 700,
        ..patient()
    })
    .await;
    let stream = server.connect().await;
    let (mut sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Duration::from_millis(100))
            .keep_alive_while_idle(true)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    for _ in 0..2 {
        let request = http::Request::get("http://test/")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
    }
    let answered = Instant::now();
    let _ = tokio::time::timeout(PATIENCE, connection)
        .await
        .expect("the HTTP/2 connection is still open");
    let after = answered.elapsed();
    assert!(
        after >= Duration::from_millis(350),
        "closed {after:?} after the last response"
    );
    assert_eq!(server.closed("idle_timeout"), 1.0);
}
