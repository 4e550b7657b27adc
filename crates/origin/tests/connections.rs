//! The origin's front door over raw sockets: an early 413 reaches a
//! client that sends its whole upload first (lingering close), connections
//! that send nothing are closed at the header timeout, and both show in
//! `/metrics`.

use std::io::Write;
use std::net::SocketAddr;

use revalidate_listener::Limits;
use revalidate_listener::testing::{PATIENCE, read_status_line};
use revalidate_origin::config::OriginConfig;
use revalidate_origin::server::Origin;

/// `revalidate serve` as its configuration describes it: an API that
/// takes bodies of up to 1 KiB, and `limits` in `[connections]`.
async fn origin(limits: Limits) -> (SocketAddr, tempfile::TempDir, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = OriginConfig {
        root: root.path().into(),
        data: data.path().into(),
        connections: limits,
        ..OriginConfig::default()
    };
    config.api.body_limit = 1024;
    config.validate().unwrap();
    let origin = Origin::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(origin.serve(listener, None, std::future::pending()));
    (addr, root, data)
}

/// How an oversized upload is framed.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// Writes a whole 4 MiB JSON upload (4,096 times the limit) before reading
/// anything, as a simple client or a proxy streaming the body does, and
/// returns the status line it then reads (or what went wrong).
fn upload_then_read(addr: SocketAddr, framing: Framing) -> String {
    const LEN: usize = 4 << 20;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let mut body = Vec::with_capacity(LEN);
    body.extend_from_slice(b"{\"pad\":\"");
    body.resize(LEN - 2, b'x');
    body.extend_from_slice(b"\"}");
    let mut message = Vec::with_capacity(LEN + 1024);
    match framing {
        Framing::ContentLength => {
            let head = format!(
                "POST /api/notes HTTP/1.1\r\nHost: origin\r\nContent-Type: application/json\r\nContent-Length: {LEN}\r\n\r\n"
            );
            message.extend_from_slice(head.as_bytes());
            message.extend_from_slice(&body);
        }
        Framing::Chunked => {
            message.extend_from_slice(
                b"POST /api/notes HTTP/1.1\r\nHost: origin\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            for chunk in body.chunks(64 * 1024) {
                message.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                message.extend_from_slice(chunk);
                message.extend_from_slice(b"\r\n");
            }
            message.extend_from_slice(b"0\r\n\r\n");
        }
    }
    if let Err(e) = stream.write_all(&message) {
        return format!("writing the upload failed: {e}");
    }
    read_status_line(&mut stream)
}

/// The origin answers 413 to an upload over its limit without reading
/// the body; before it closes, it shuts its write side and discards the
/// rest, so the client reads the 413 instead of a reset (which made an
/// edge in front answer 502 in up to half the tries). 100 of 100 tries,
/// with `Content-Length` and with chunked encoding.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_upload_gets_its_413_every_time_through_a_client_that_writes_it_whole() {
    let (addr, _root, _data) = origin(Limits::default()).await;
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let outcomes = tokio::task::spawn_blocking(move || {
            (0..100)
                .map(|_| upload_then_read(addr, framing))
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        let read_413 = outcomes
            .iter()
            .filter(|o| o.as_str() == "HTTP/1.1 413 Payload Too Large")
            .count();
        assert_eq!(read_413, 100, "{framing:?}: {outcomes:#?}");
    }
}

/// A connection that sends nothing is closed at the header timeout, and
/// the close is counted in `/metrics` by its reason.
#[tokio::test]
async fn a_silent_connection_to_the_origin_is_closed_at_the_header_timeout_and_counted() {
    let (addr, _root, _data) = origin(Limits {
        header_timeout_ms: 400,
        ..Limits::default()
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut sink = [0u8; 64];
    let read = tokio::time::timeout(PATIENCE, tokio::io::AsyncReadExt::read(&mut silent, &mut sink))
        .await
        .expect("the silent connection is still open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        "revalidate_connections_closed_total{reason=\"header_timeout\"} 1",
        "revalidate_connections_accepted_total 2",
        "revalidate_connections_open 1",
        "revalidate_accept_errors_total 0",
    ] {
        assert!(metrics.contains(series), "{series} in\n{metrics}");
    }
}
