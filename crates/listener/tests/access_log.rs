//! The access log through real sockets: requests over HTTP/1.1 and
//! HTTP/2 become lines, an abandoned response is logged, the log is written out at shutdown.

use std::path::Path;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use revalidate_listener::access_log::Format;
use revalidate_listener::{AccessLog, AccessLogSettings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{BIG, Server, exchange, patient};

fn open(path: &Path, format: Format) -> AccessLog {
    let settings = AccessLogSettings {
        path: Some(path.to_owned()),
        format,
        ..AccessLogSettings::default()
    };
    AccessLog::open(&settings, None).unwrap()
}

/// Stops the server and waits until it has finished (the log is then
/// written out), returning the log's lines.
async fn stop_and_read(mut server: Server, path: &Path) -> Vec<String> {
    server.stop();
    server.task.take().unwrap().await.unwrap().unwrap();
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn requests_over_http1_and_http2_become_json_lines_and_an_abandoned_response_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let server = Server::start_logged(patient(), open(&path, Format::Json)).await;

    let mut stream = server.connect().await;
    let status = exchange(
        &mut stream,
        b"GET /?a=1 HTTP/1.1\r\nHost: test\r\nUser-Agent: say \"hi\"\r\nReferer: http://r/\r\nX-Request-Id: client-42\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");

    // HTTP/2 with prior knowledge on the cleartext port.
    let io = TokioIo::new(server.connect().await);
    let (mut h2, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = h2
        .send_request(
            Request::get(format!("http://{}/h2?x", server.addr))
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    drop(h2);

    // 64 MiB asked for, a little read, then the client hangs up.
    let mut abandoning = server.connect().await;
    abandoning
        .write_all(b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut some = vec![0u8; 64 << 10];
    abandoning.read_exact(&mut some).await.unwrap();
    drop(abandoning);

    let lines = stop_and_read(server, &path).await;
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let parsed: Vec<serde_json::Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by_target = |target: &str| {
        parsed
            .iter()
            .find(|v| v["target"] == target)
            .unwrap_or_else(|| panic!("no line for {target}: {lines:#?}"))
    };

    let first = by_target("/?a=1");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["body_bytes_sent"], 5, "hello");
    assert_eq!(first["remote_addr"], "127.0.0.1");
    assert_eq!(first["host"], "test");
    assert_eq!(first["user_agent"], "say \"hi\"");
    assert_eq!(first["referer"], "http://r/");
    assert_eq!(first["request_id"], "client-42", "a sane id is kept");
    assert!(first["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(first.get("cache").is_none(), "no upstream: no cache field");

    let second = by_target("/h2?x");
    assert_eq!(second["protocol"], "HTTP/2.0");
    assert_eq!(second["status"], 200);
    assert_eq!(
        second["host"],
        server_authority(second),
        "the host from :authority"
    );
    assert!(
        revalidate_listener::access_log::is_sane_request_id(
            second["request_id"].as_str().unwrap().as_bytes()
        ),
        "an id is generated: {second}"
    );

    // Logged although its body never ended; `/big` is one frame, which
    // counts whole once handed to the connection.
    let big = by_target("/big");
    assert_eq!(big["status"], 200, "the status that was sent");
    assert_eq!(big["body_bytes_sent"], BIG);
}

/// The h2 line's host is the authority the client asked for.
fn server_authority(line: &serde_json::Value) -> serde_json::Value {
    let host = line["host"].as_str().unwrap_or_default();
    assert!(host.starts_with("127.0.0.1:"), "{line}");
    serde_json::Value::String(host.to_owned())
}

#[tokio::test]
async fn the_combined_format_is_nginx_combined() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let server = Server::start_logged(patient(), open(&path, Format::Combined)).await;
    let mut stream = server.connect().await;
    let status = exchange(
        &mut stream,
        b"GET /x?y=1 HTTP/1.1\r\nHost: test\r\nUser-Agent: agent \"q\"\r\n\r\n",
    )
    .await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    drop(stream);
    let lines = stop_and_read(server, &path).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    assert!(line.contains(" +0000] "), "{line}");
    assert!(
        line.ends_with(r#"] "GET /x?y=1 HTTP/1.1" 200 5 "-" "agent \x22q\x22""#),
        "{line}"
    );
}
