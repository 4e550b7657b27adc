//! Graceful shutdown of [`server::serve`]: a response in flight when the
//! signal comes is finished, byte for byte; new connections are refused.

use std::io::{Read, Write};
use std::time::Duration;

use revalidate_origin::metrics::Metrics;
use revalidate_origin::server;
use revalidate_origin::static_files::{StaticConfig, StaticFiles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_response_in_flight() {
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Large enough to be streamed in many chunks and to fill the socket
    // buffers while the client is not reading.
    let body: Vec<u8> = (0..32 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.path().join("big.bin"), &body).unwrap();
    let files = StaticFiles::open(StaticConfig::new(root.path(), data.path())).unwrap();
    let indexing = files.clone();
    tokio::task::spawn_blocking(move || indexing.index_all(false))
        .await
        .unwrap()
        .unwrap();
    let metrics = Metrics::new();
    let app = server::app(axum::Router::new(), "/api/", Some(files), &metrics, true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server::serve(listener, app, None, async move {
        let _ = stopped.await;
    }));

    let expected_len = body.len();
    let (first_bytes_tx, first_bytes_rx) = tokio::sync::oneshot::channel();
    let (go_on_tx, go_on_rx) = std::sync::mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut received = vec![0u8; 64 * 1024];
        let n = stream.read(&mut received).unwrap();
        received.truncate(n);
        first_bytes_tx.send(()).unwrap();
        // Shutdown is signalled while most of the body is still unsent.
        go_on_rx.recv().unwrap();
        stream.read_to_end(&mut received).unwrap();
        received
    });
    first_bytes_rx.await.unwrap();
    stop.send(()).unwrap();
    // The listener closes promptly...
    let mut refused = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener still accepts after shutdown");
    go_on_tx.send(()).unwrap();
    let received = tokio::task::spawn_blocking(move || client.join().unwrap())
        .await
        .unwrap();
    // ...and the response in flight still arrives whole.
    let head_end = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(received.len() - head_end, expected_len, "{head}");
    assert!(received[head_end..] == body[..], "the body differs");
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("serve returns once the response is done")
        .unwrap()
        .unwrap();
}
