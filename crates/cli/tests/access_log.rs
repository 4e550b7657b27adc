//! The access log through the binary: both servers log, the edge with
//! its cache verdict and the origin's status, under one request id; a
//! rotated file is reopened on SIGUSR1 and SIGHUP; a log file that cannot
//! be opened is a one-line error at start.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Server, sample_root};

/// Long enough for a line to be flushed (every 1 s by default) on a busy
/// machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// `GET path` over a fresh connection; returns the status code.
fn get(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nUser-Agent: access-log-test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The lines of `path` once there are at least `count` of them.
fn wait_for_lines(path: &Path, count: usize) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= count {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} has {} lines, not {count}: {lines:#?}",
            path.display(),
            lines.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn the_edge_logs_its_cache_verdict_and_the_origin_the_same_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let origin_log = dir.path().join("origin.log");
    let edge_log = dir.path().join("edge.log");
    let origin = Server::start(&[
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--access-log",
        origin_log.to_str().unwrap(),
        "--access-log-format",
        "json",
    ]);
    let edge = Server::spawn(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--origin",
            &origin.url(""),
            "--access-log",
            edge_log.to_str().unwrap(),
            "--access-log-format",
            "json",
        ],
        "revalidate: edge listening on http://",
    );
    let path = "/assets/site.3f9a2b1c.css";
    assert_eq!(get(edge.addr, path), 200);
    assert_eq!(get(edge.addr, path), 200);

    let edge_lines = wait_for_lines(&edge_log, 2);
    let (miss, hit) = (json(&edge_lines[0]), json(&edge_lines[1]));
    assert_eq!(miss["target"], path);
    assert_eq!(miss["cache"], "miss", "{miss}");
    assert_eq!(miss["upstream_status"], 200, "{miss}");
    assert!(miss["upstream_ms"].as_f64().unwrap() >= 0.0, "{miss}");
    assert_eq!(hit["cache"], "hit", "{hit}");
    assert!(
        hit.get("upstream_status").is_none(),
        "a hit asks no origin: {hit}"
    );
    assert_eq!(hit["user_agent"], "access-log-test");

    let origin_lines = wait_for_lines(&origin_log, 1);
    assert_eq!(
        origin_lines.len(),
        1,
        "one request reached the origin: {origin_lines:#?}"
    );
    let at_origin = json(&origin_lines[0]);
    assert_eq!(at_origin["target"], path);
    assert_eq!(at_origin["status"], 200);
    assert!(at_origin.get("cache").is_none(), "{at_origin}");
    assert_eq!(
        at_origin["request_id"], miss["request_id"],
        "the edge forwards the id it logged"
    );
    assert_ne!(miss["request_id"], hit["request_id"]);
}

#[test]
fn sigusr1_and_sighup_reopen_a_rotated_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let mut server = Server::start(&[
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--access-log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(get(server.addr, "/robots.txt"), 200);
    let first = wait_for_lines(&log, 1);
    assert!(
        first[0].contains("\"GET /robots.txt HTTP/1.1\" 200 "),
        "combined by default: {}",
        first[0]
    );
    for (signal, rotated) in [("USR1", "access.log.1"), ("HUP", "access.log.2")] {
        let rotated = dir.path().join(rotated);
        std::fs::rename(&log, &rotated).unwrap();
        server.signal(signal);
        // The reopen creates the file anew.
        let deadline = Instant::now() + PATIENCE;
        while !log.exists() {
            assert!(Instant::now() < deadline, "SIG{signal}: no new file");
            std::thread::sleep(Duration::from_millis(10));
        }
        let target = format!("/index.html?after={signal}");
        assert_eq!(get(server.addr, &target), 200);
        let lines = wait_for_lines(&log, 1);
        assert!(lines[0].contains(&target), "SIG{signal}: {lines:#?}");
        assert!(
            !std::fs::read_to_string(&rotated).unwrap().contains(&target),
            "SIG{signal}: the rotated file got no new line"
        );
        assert!(server.running(), "SIG{signal} did not end the server");
    }
    assert!(server.terminate().success());
}

#[test]
fn an_access_log_in_a_missing_directory_is_a_one_line_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("access.log");
    for command in [
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
            dir.path().to_str().unwrap(),
        ],
        vec![
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "http://127.0.0.1:9",
        ],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
            .args(&command)
            .args(["--access-log", missing.to_str().unwrap()])
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "revalidate: error: cannot open access log {}: ",
                missing.display()
            )),
            "{stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "nothing listened: {:?}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}
