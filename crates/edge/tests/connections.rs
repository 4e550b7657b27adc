//! The edge's front door over raw sockets: header and idle timeouts,
//! counted in `/metrics` (on the admin listener), and an origin's early 413 passed on to a client
//! that writes its whole upload first.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use revalidate_edge::clock::SystemClock;
use revalidate_edge::storage::{MemoryConfig, MemoryStorage};
use revalidate_edge::{Edge, EdgeSettings};
use revalidate_listener::testing::{PATIENCE, closed_by_server, patient, read_status_line};
use revalidate_listener::{Limits, ListenerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::Site;

/// Where a test edge listens.
#[derive(Clone, Copy, Debug)]
struct Listening {
    public: SocketAddr,
    admin: SocketAddr,
}

/// An edge in front of `origin` with `limits`, with an admin listener;
/// stopped when the sender drops.
async fn edge(origin: SocketAddr, limits: Limits) -> (Listening, tokio::sync::oneshot::Sender<()>) {
    let settings = EdgeSettings::new(format!("http://{origin}").parse().unwrap());
    let storage = MemoryStorage::new(MemoryConfig::new(16 << 20)).unwrap();
    let edge = Edge::new(settings, storage.into(), Arc::new(SystemClock));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin_addr = admin.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ListenerConfig {
        connections: limits,
        max_header_bytes: 16 * 1024,
    };
    tokio::spawn(
        revalidate_edge::server::EdgeServer::new(listener, edge)
            .front_door(config)
            .admin(Some(admin))
            .serve(async move {
                let _ = stopped.await;
            }),
    );
    let listening = Listening {
        public: addr,
        admin: admin_addr,
    };
    (listening, stop)
}

/// One series of the edge's `/metrics`, from its admin listener.
async fn metric(edge: Listening, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", edge.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// hyper-util's protocol detection waits for a first byte with no timeout
/// of its own: a connection that sends nothing used to stay open for good.
#[tokio::test]
async fn the_edge_closes_a_silent_connection_at_the_header_timeout() {
    let site = Site::start().await;
    let (listening, _stop) = edge(
        site.origin,
        Limits {
            header_timeout_ms: 400,
            ..patient()
        },
    )
    .await;
    let addr = listening.public;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let connected = Instant::now();
    let after = closed_by_server(&mut silent).await - connected;
    assert!(after >= Duration::from_millis(200), "closed after {after:?}");
    let reason = "revalidate_edge_connections_closed_total{reason=\"header_timeout\"}";
    assert_eq!(metric(listening, reason).await, 1.0);
}

/// A head trickled a byte at a time is closed at the header timeout
/// counted from its first byte, however recent its last byte.
#[tokio::test]
async fn the_edge_closes_a_trickling_head_at_the_header_timeout() {
    let site = Site::start().await;
    let (listening, _stop) = edge(
        site.origin,
        Limits {
            header_timeout_ms: 600,
            ..patient()
        },
    )
    .await;
    let addr = listening.public;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move {
        let mut sink = [0u8; 1024];
        let _ = reader.read(&mut sink).await;
    });
    let head = format!(
        "GET / HTTP/1.1\r\nHost: edge\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(160)
    );
    let mut sent = 0;
    for byte in head.as_bytes() {
        if closed.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::timeout(PATIENCE, closed).await.unwrap().unwrap();
    assert!(sent < head.len(), "the whole trickled head was accepted");
    let reason = "revalidate_edge_connections_closed_total{reason=\"header_timeout\"}";
    assert_eq!(metric(listening, reason).await, 1.0);
}

/// A keep-alive connection is answered, then closed at the idle timeout.
#[tokio::test]
async fn the_edge_closes_an_idle_keep_alive_connection_at_the_idle_timeout() {
    let site = Site::start().await;
    site.write("long/page.txt", "hello");
    let (listening, _stop) = edge(
        site.origin,
        Limits {
            idle_timeout_ms: 700,
            ..patient()
        },
    )
    .await;
    let addr = listening.public;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /long/page.txt HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    while !received.ends_with(b"hello") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "closed before the response: {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&chunk[..n]);
    }
    assert!(received.starts_with(b"HTTP/1.1 200 OK"));
    let answered = Instant::now();
    let after = closed_by_server(&mut stream).await - answered;
    assert!(
        after >= Duration::from_millis(350),
        "closed {after:?} after the response"
    );
    let reason = "revalidate_edge_connections_closed_total{reason=\"idle_timeout\"}";
    assert_eq!(metric(listening, reason).await, 1.0);
}

/// A client that asks for a large response and never reads it is closed
/// at the send timeout (the response streams from the origin through the
/// edge, too large to be stored).
#[tokio::test]
async fn the_edge_closes_a_client_that_never_reads_its_response_at_the_send_timeout() {
    let site = Site::start().await;
    std::fs::write(site.root.path().join("long/big.bin"), vec![b'x'; 64 << 20]).unwrap();
    let (listening, _stop) = edge(
        site.origin,
        Limits {
            send_timeout_ms: 500,
            ..patient()
        },
    )
    .await;
    let addr = listening.public;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /long/big.bin HTTP/1.1\r\nHost: edge\r\n\r\n")
        .await
        .unwrap();
    let reason = "revalidate_edge_connections_closed_total{reason=\"send_timeout\"}";
    let deadline = Instant::now() + PATIENCE;
    while metric(listening, reason).await < 1.0 {
        assert!(Instant::now() < deadline, "not closed for the send timeout");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // What the buffers held arrives, then the end: never the whole body.
    let mut received = 0usize;
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut sink)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => received += n,
            Err(_) => panic!("the connection is still open"),
        }
    }
    assert!(received < 64 << 20, "received {received} bytes");
}

/// Writes a whole 1 MiB JSON upload through the edge before reading, and
/// returns the status line read then.
fn upload_then_read(edge: SocketAddr) -> String {
    const LEN: usize = 1 << 20;
    let mut stream = std::net::TcpStream::connect(edge).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut message = format!(
        "POST /api/notes HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: {LEN}\r\n\r\n"
    )
    .into_bytes();
    message.extend_from_slice(b"{\"pad\":\"");
    message.resize(message.len() + LEN - 10, b'x');
    message.extend_from_slice(b"\"}");
    if let Err(e) = stream.write_all(&message) {
        return format!("writing the upload failed: {e}");
    }
    read_status_line(&mut stream)
}

/// The origin answers 413 to an upload over its limit without reading it,
/// and closes in stages (lingering close); the edge, streaming the body
/// to it, reads that 413 instead of a reset and passes it on (it used to
/// answer 502 in up to half the tries), and closes its own client
/// connection in stages too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upload_through_the_edge_gets_the_origins_413_every_time() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let site = Site::start_on(listener, |config| config.api.body_limit = 1024).await;
    let (listening, _stop) = edge(site.origin, Limits::default()).await;
    let addr = listening.public;
    let outcomes =
        tokio::task::spawn_blocking(move || (0..100).map(|_| upload_then_read(addr)).collect::<Vec<_>>())
            .await
            .unwrap();
    let passed_on = outcomes.iter().filter(|o| o.starts_with("HTTP/1.1 413")).count();
    assert_eq!(passed_on, 100, "{outcomes:#?}");
}
