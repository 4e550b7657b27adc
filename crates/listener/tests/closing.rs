//! Lingering close and the graceful shutdown.

use std::io::Write;

use tokio::io::AsyncWriteExt;

use revalidate_listener::testing::read_status_line;

use crate::support::{
    GET, PATIENCE, Server, closed_by_server, exchange, patient, read_response, read_response_head,
};

/// Sends a whole upload of `len` bytes before reading anything, as a
/// simple client (or a proxy streaming a body) does, and returns what it
/// read: the server's early answer must arrive, not a reset.
fn upload_then_read(addr: std::net::SocketAddr, len: usize) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let head = format!("POST /reject HTTP/1.1\r\nHost: test\r\nContent-Length: {len}\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let body = vec![b'x'; len];
    if let Err(e) = stream.write_all(&body) {
        return format!("writing the body failed: {e}");
    }
    read_status_line(&mut stream)
}

/// An answer given before the request body was read (a 413 decided from
/// `Content-Length`) reaches a client that writes its whole body first:
/// the server shuts its write side and reads and discards the rest before
/// closing, instead of closing on unread bytes (which makes the kernel
/// send a reset that destroys the response).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_answer_to_an_unread_upload_reaches_the_client_instead_of_a_reset() {
    let server = Server::start(patient()).await;
    let addr = server.addr;
    let outcomes = tokio::task::spawn_blocking(move || {
        (0..20)
            .map(|_| upload_then_read(addr, 4 << 20))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for outcome in &outcomes {
        assert_eq!(outcome, "HTTP/1.1 413 Payload Too Large", "{outcomes:#?}");
    }
}

/// Whether a response head says `Connection: close`.
fn says_close(head: &str) -> bool {
    head.lines().skip(1).any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close")
        })
    })
}

/// Reported by the fault run (`edge-client-faults-are-4xx`): the origin
/// answered 413 to an upload it had not read without `Connection: close`,
/// then closed the connection; the edge took the connection for a
/// reusable one, sent the next upload into it and answered that one 502.
/// A response given before the request body was read to its end must say
/// that the connection closes (RFC 9112 §9.6), however small the body and
/// whatever its framing, and the server must then close it.
#[tokio::test]
async fn edge_client_faults_an_answer_before_the_body_was_read_says_connection_close() {
    let server = Server::start(patient()).await;
    for request in [
        &b"POST /reject HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789"[..],
        &b"POST /reject HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"[..],
        // The body is still to come: the client waits for an answer.
        &b"POST /reject HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n"[..],
    ] {
        let mut stream = server.connect().await;
        stream.write_all(request).await.unwrap();
        let head = read_response_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(says_close(&head), "{head}");
        closed_by_server(&mut stream).await;
    }
}

/// A response given after the body was read to its end leaves the
/// connection open for the next request (no `Connection: close`), with
/// `Content-Length` and with chunked framing.
#[tokio::test]
async fn an_answer_after_the_body_was_read_keeps_the_connection_open() {
    let server = Server::start(patient()).await;
    let mut stream = server.connect().await;
    for request in [
        &b"POST /consume HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n0123456789"[..],
        &b"POST /consume HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"[..],
        GET,
    ] {
        stream.write_all(request).await.unwrap();
        let head = read_response_head(&mut stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(!says_close(&head), "{head}");
    }
}

/// The shutdown closes a silent connection and an idle keep-alive one at
/// once, lets the request in flight finish, and returns when all are
/// closed.
#[tokio::test]
async fn shutdown_closes_idle_connections_and_finishes_the_request_in_flight() {
    let mut server = Server::start(patient()).await;
    let mut silent = server.connect().await;
    let mut idle = server.connect().await;
    assert_eq!(exchange(&mut idle, GET).await, "HTTP/1.1 200 OK");
    let mut busy = server.connect().await;
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    server.wait_for(Server::open, 3.0, "open connections").await;
    // The slow request is in flight: its connection is the one the
    // shutdown must not cut.
    server
        .wait_for(Server::slow_requests, 1.0, "slow requests in flight")
        .await;
    server.stop();
    closed_by_server(&mut silent).await;
    closed_by_server(&mut idle).await;
    assert_eq!(read_response(&mut busy).await, "HTTP/1.1 200 OK");
    let task = server.task.take().unwrap();
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("serve returns once every connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(server.closed("shutdown"), 3.0);
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed"
    );
}
