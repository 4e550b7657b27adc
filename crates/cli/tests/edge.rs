//! `revalidate edge` as a user runs it: the real binary in front of a real
//! `revalidate serve`, over real sockets.

use std::process::Command;
use std::time::Duration;

use crate::support::{Server, sample_root};

/// Starts `revalidate edge --listen 127.0.0.1:0 --origin ORIGIN` (no admin
/// listener: tests run in parallel, and the default port is one) and waits
/// for the line that says where it listens; killed on drop.
fn start_edge(origin: &str) -> Server {
    Server::spawn(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--origin",
            origin,
        ],
        "revalidate: edge listening on http://",
    )
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn edge_serves_a_miss_then_a_hit_answers_304_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let origin = Server::start(&[
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    let edge = start_edge(&origin.url(""));
    let client = reqwest::Client::new();
    let path = "/assets/site.3f9a2b1c.css";

    let miss = client.get(edge.url(path)).send().await.unwrap();
    assert_eq!(miss.status(), 200);
    let miss_status = header(&miss, "cache-status");
    assert!(miss_status.contains("fwd=uri-miss"), "{miss_status}");
    let etag = header(&miss, "etag");
    let body = miss.text().await.unwrap();
    let direct = client.get(origin.url(path)).send().await.unwrap();
    assert_eq!(
        header(&direct, "etag"),
        etag,
        "the edge forwards the origin's ETag"
    );
    assert_eq!(direct.text().await.unwrap(), body);

    let hit = client.get(edge.url(path)).send().await.unwrap();
    assert_eq!(hit.status(), 200);
    let hit_status = header(&hit, "cache-status");
    assert!(hit_status.contains("; hit"), "{hit_status}");
    assert_eq!(hit.text().await.unwrap(), body);

    let not_modified = client
        .get(edge.url(path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert!(header(&not_modified, "cache-status").contains("; hit"));
    assert_eq!(header(&not_modified, "etag"), etag);
    assert!(not_modified.bytes().await.unwrap().is_empty());

    let status = edge.terminate();
    assert!(status.success(), "SIGTERM: {status:?}");
    // The origin is untouched by the edge stopping.
    assert_eq!(client.get(origin.url(path)).send().await.unwrap().status(), 200);
    assert!(origin.terminate().success());
}

/// Both servers with `--admin-listen 127.0.0.1:0` print where their admin
/// listener listens after the public address; there `/metrics`,
/// `/healthz` and `/readyz` answer. The edge's public `/metrics` is the
/// origin's (forwarded like any path), and the origin's public `/metrics`
/// is gone once it has an admin listener.
#[tokio::test]
async fn both_servers_print_their_admin_address_and_serve_metrics_and_health_there() {
    let data = tempfile::tempdir().unwrap();
    let root = sample_root().to_str().unwrap().to_owned();
    let data_arg = data.path().to_str().unwrap().to_owned();
    // An origin without an admin listener: /metrics is its own public path.
    let origin = Server::start(&["--root", &root, "--data", &data_arg]);
    let (edge, edge_admin) = Server::spawn_with_admin(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--origin",
            &origin.url(""),
        ],
        "revalidate: edge listening on http://",
        "revalidate: edge admin listening on http://",
    );
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status().as_u16();
            let content_type = header(&response, "content-type");
            (status, content_type, response.text().await.unwrap())
        }
    };
    assert_eq!(get(edge.url("/")).await.0, 200);
    let (status, content_type, body) = get(format!("http://{edge_admin}/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        body.contains("revalidate_edge_requests_total{site=\"default\",outcome=\"miss\"} 1"),
        "{body}"
    );
    let (status, _, body) = get(edge.url("/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("revalidate_http_requests_total") && !body.contains("revalidate_edge_"),
        "the edge's public /metrics is the origin's: {body}"
    );
    // The origin says no-store: every read reaches it, and sees the count move.
    let (_, _, again) = get(edge.url("/metrics")).await;
    assert_ne!(again, body, "the origin's /metrics was answered from the cache");
    let (status, _, body) = get(format!("http://{edge_admin}/healthz")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"serving"}"#));
    let (status, _, body) = get(format!("http://{edge_admin}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"origin\":\"last answer 2xx"), "{body}");
    assert!(edge.terminate().success());
    assert!(origin.terminate().success());

    // The origin with an admin listener: /metrics moves there.
    let (origin, origin_admin) = Server::spawn_with_admin(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--root",
            &root,
            "--data",
            &data_arg,
            "--admin-listen",
            "127.0.0.1:0",
        ],
        "revalidate: listening on http://",
        "revalidate: origin admin listening on http://",
    );
    assert_eq!(get(origin.url("/metrics")).await.0, 404);
    let (status, _, body) = get(format!("http://{origin_admin}/metrics")).await;
    assert_eq!(status, 200);
    assert!(body.contains("revalidate_http_requests_total"), "{body}");
    let (status, _, body) = get(format!("http://{origin_admin}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"database\":\"ok (sqlite)\""), "{body}");
    assert!(origin.terminate().success());
}

#[test]
fn edge_bad_pool_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let ca = not_pem.display().to_string();
    for (case, text, message) in [
        (
            "a CA file without certificates",
            format!("origins = [\"https://127.0.0.1:1\", \"https://127.0.0.1:2\"]\norigin_ca = {ca:?}\n"),
            "holds no certificate",
        ),
        (
            "origin and origins",
            "origin = \"http://127.0.0.1:1\"\norigins = [\"http://127.0.0.1:2\"]\n".to_owned(),
            "origin and origins are both set",
        ),
        (
            "a bad balance",
            "origins = [\"http://127.0.0.1:1\"]\nbalance = \"random\"\n".to_owned(),
            "balance",
        ),
    ] {
        let config = dir.path().join("edge.toml");
        std::fs::write(&config, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
            .args([
                "edge",
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "off",
                "--config",
            ])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{case}: {stderr}");
        assert!(lines[0].contains(message), "{case}: {stderr}");
    }
}

#[test]
fn edge_bad_flags_are_one_line_errors() {
    let cases: [(&str, &[&str], &str); 5] = [
        ("no origin", &["edge"], "an origin is required"),
        (
            "origin not http",
            &["edge", "--origin", "ftp://127.0.0.1:1"],
            "origin must be an http://",
        ),
        (
            "origin with a path",
            &["edge", "--origin", "http://127.0.0.1:1/base"],
            "path",
        ),
        (
            "bad memory size",
            &["edge", "--origin", "http://127.0.0.1:1", "--memory", "lots"],
            "memory",
        ),
        (
            "bad admin address",
            &[
                "edge",
                "--origin",
                "http://127.0.0.1:1",
                "--admin-listen",
                "localhost",
            ],
            "--admin-listen: admin listen must be an address such as 127.0.0.1:9081, or off",
        ),
    ];
    for (case, args, message) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{case}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{case}: {stderr}");
        assert!(
            lines[0].starts_with("revalidate: error:") && lines[0].contains(message),
            "{case}: {stderr}"
        );
    }
    // The admin port taken: the edge does not start without its admin
    // listener (an operator asked for it), one line naming the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args([
            "edge",
            "--origin",
            "http://127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--admin-listen", &taken])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("revalidate: error: cannot listen on") && lines[0].contains(&taken),
        "{stderr}"
    );
    // A flag the edge does not have: clap's usage error, exit 2, naming it.
    let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(["edge", "--origin", "http://127.0.0.1:1", "--frobnicate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.lines().next().unwrap().contains("--frobnicate"),
        "{stderr}"
    );
}

/// `revalidate serve` with `[edge_purge]` naming an edge that accepts
/// connections but never answers: writes answer at once, and SIGTERM
/// stops the server promptly although purges are still waiting.
#[tokio::test]
async fn serve_with_a_silent_edge_answers_writes_and_stops_promptly() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("origin.toml");
    std::fs::write(
        &config,
        format!(
            "[edge_purge]\nedges = [\"http://{}\"]\ntoken = \"0123456789abcdef\"\ntimeout_ms = 10000\n",
            silent.local_addr().unwrap()
        ),
    )
    .unwrap();
    let origin = Server::start(&[
        "--config",
        config.to_str().unwrap(),
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let written = client
        .put(origin.url("/api/notes/a"))
        .header("content-type", "application/json")
        .body(r#"{"text": "v1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), 201);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The purge waits for the silent edge (10 s timeout, retried); the
    // server must not.
    let stopping = std::time::Instant::now();
    assert!(origin.terminate().success());
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopping.elapsed()
    );
    drop(silent);
}

#[test]
fn serve_rejects_a_bad_edge_purge_section_in_one_line() {
    let data = tempfile::tempdir().unwrap();
    let cases = [
        (
            "edges = [\"edge:8081\"]\ntoken = \"0123456789abcdef\"",
            "edge_purge.edges",
        ),
        (
            "edges = [\"http://127.0.0.1:8081\"]\ntoken = \"short\"",
            "edge_purge.token",
        ),
    ];
    for (section, message) in cases {
        let config = data.path().join("origin.toml");
        std::fs::write(&config, format!("[edge_purge]\n{section}\n")).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .args(["--data", data.path().to_str().unwrap()])
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{section}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{section}: {stderr}");
        assert!(stderr.contains(message), "{section}: {stderr}");
    }
}

/// `SIGHUP` reads `--config` again: a site added to the file answers once
/// the signal is handled, a broken file changes nothing, and the edge keeps
/// serving throughout.
#[tokio::test]
async fn edge_reloads_its_sites_from_the_config_file_on_sighup() {
    let data = tempfile::tempdir().unwrap();
    let origin = Server::start(&[
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edge.toml");
    let site = |name: &str| {
        format!(
            "[[sites]]\nname = \"{name}\"\nhosts = [\"{name}.test\"]\norigin = \"{}\"\n",
            origin.url("")
        )
    };
    std::fs::write(&file, site("a")).unwrap();
    let edge = Server::spawn(
        &[
            "edge",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "off",
            "--config",
            file.to_str().unwrap(),
        ],
        "revalidate: edge listening on http://",
    );
    let client = reqwest::Client::new();
    let status = |host: &'static str| {
        let request = client.get(edge.url("/")).header("host", host);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let until_served = |host: &'static str| {
        let status = &status;
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            while status(host).await != 200 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{host} not served after SIGHUP"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(status("a.test").await, 200);
    assert_eq!(status("b.test").await, 421);

    std::fs::write(&file, format!("{}{}", site("a"), site("b"))).unwrap();
    edge.signal("HUP");
    until_served("b.test").await;

    // A broken file is refused; the next good one is read.
    std::fs::write(&file, "[[sites]]\nname = \"a\"\n").unwrap();
    edge.signal("HUP");
    std::fs::write(&file, format!("{}{}{}", site("a"), site("b"), site("c"))).unwrap();
    edge.signal("HUP");
    until_served("c.test").await;
    assert_eq!(status("a.test").await, 200);
    assert_eq!(status("b.test").await, 200);
    assert_eq!(status("d.test").await, 421);
}
