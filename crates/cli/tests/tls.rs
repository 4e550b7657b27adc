//! The `revalidate` binary with a TLS listener: `curl --http2` gets its
//! 304 over HTTP/2 from `serve` and from `edge`; an unusable certificate
//! or key is one line on stderr and exit code 2.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use revalidate_listener::testing::tls::{TestCa, days_from_now};

/// A running `revalidate` that listens on a cleartext and a TLS port,
/// killed on drop.
struct Running {
    child: Child,
    http: SocketAddr,
    https: SocketAddr,
}

impl Running {
    /// Starts `revalidate ARGS…` and reads its two "listening" lines.
    fn start(args: &[&str]) -> Self {
        let mut child = crate::support::launch(args);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut address = |scheme: &str| {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            let (_, addr) = line
                .trim()
                .split_once(&format!("listening on {scheme}://"))
                .unwrap_or_else(|| panic!("expected a {scheme} address, got {line:?}"));
            addr.parse().unwrap()
        };
        let http = address("http");
        let https = address("https");
        Self { child, http, https }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this curl speaks HTTP/2 (its `Features:` line says `HTTP2`);
/// says the test is skipped when not.
fn curl_has_http2(test: &str) -> bool {
    let version = Command::new("curl").arg("-V").output();
    let has = version.is_ok_and(|out| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|line| line.starts_with("Features:") && line.split_whitespace().any(|f| f == "HTTP2"))
    });
    if !has {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: curl without HTTP/2 support (curl -V), and under CI a skipped test is a failure"
        );
        eprintln!("SKIPPED: {test} (curl -V lists no HTTP2 feature)");
    }
    has
}

/// `curl --http2` to `https://localhost:PORT/PATH` trusting `ca` only;
/// returns the response head as curl prints it (`HTTP/2 304`, fields).
fn curl_h2(ca: &Path, port: u16, path: &str, headers: &[&str]) -> String {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--http2", "--max-time", "20", "-o", "/dev/null", "-D", "-"])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")]);
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().replace('\r', "")
}

fn etag_of(head: &str) -> String {
    head.lines()
        .find_map(|line| line.strip_prefix("etag: "))
        .unwrap_or_else(|| panic!("no etag in {head}"))
        .to_owned()
}

/// A test CA with a leaf for `localhost`, written to `dir`.
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = TestCa::new();
    let (cert, key) = ca.issue(&["localhost"]).write(dir, "server");
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    (ca_file, cert, key)
}

#[test]
fn curl_gets_a_304_over_http2_from_serve_on_its_tls_listener() {
    if !curl_has_http2("curl_gets_a_304_over_http2_from_serve_on_its_tls_listener") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let data = dir.path().join("data");
    let root = crate::support::sample_root().to_str().unwrap();
    let server = Running::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--root",
        root,
        "--data",
        data.to_str().unwrap(),
    ]);
    let port = server.https.port();
    let ok = curl_h2(&ca, port, "/", &[]);
    assert!(ok.starts_with("HTTP/2 200"), "{ok}");
    let etag = etag_of(&ok);
    let not_modified = curl_h2(&ca, port, "/", &[&format!("If-None-Match: {etag}")]);
    assert!(not_modified.starts_with("HTTP/2 304"), "{not_modified}");
    assert_eq!(etag_of(&not_modified), etag);
    for field in [
        "connection:",
        "keep-alive:",
        "transfer-encoding:",
        "content-type:",
    ] {
        assert!(
            !not_modified.contains(field),
            "{field} in the 304: {not_modified}"
        );
    }
    // The cleartext listener answers as before.
    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/", server.http))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "200");
}

#[test]
fn curl_gets_a_304_over_http2_from_edge_on_its_tls_listener() {
    if !curl_has_http2("curl_gets_a_304_over_http2_from_edge_on_its_tls_listener") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(dir.path());
    let data = dir.path().join("data");
    let root = crate::support::sample_root().to_str().unwrap();
    let origin = crate::support::Server::start(&["--root", root, "--data", data.to_str().unwrap()]);
    let edge = Running::start(&[
        "edge",
        "--origin",
        &format!("http://{}", origin.addr),
        "--listen",
        "127.0.0.1:0",
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--admin-listen",
        "off",
    ]);
    let port = edge.https.port();
    let ok = curl_h2(&ca, port, "/", &[]);
    assert!(ok.starts_with("HTTP/2 200"), "{ok}");
    let etag = etag_of(&ok);
    let not_modified = curl_h2(&ca, port, "/", &[&format!("If-None-Match: {etag}")]);
    assert!(not_modified.starts_with("HTTP/2 304"), "{not_modified}");
    assert!(not_modified.contains("cache-status:"), "{not_modified}");
}

/// A certificate broken at reload (its key replaced by another) is a
/// one-line warning on stderr, and the server keeps answering with the
/// certificate in force.
#[test]
fn a_broken_key_at_reload_is_a_one_line_warning_and_the_certificate_in_force_stays() {
    if !curl_has_http2("a_broken_key_at_reload_is_a_one_line_warning_and_the_certificate_in_force_stays") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let (cert, key) = ca.issue(&["localhost"]).write(dir.path(), "server");
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--data")
        .arg(&data)
        .arg("--root")
        .arg(crate::support::sample_root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = String::new();
    stdout.read_line(&mut lines).unwrap();
    stdout.read_line(&mut lines).unwrap();
    let port: u16 = lines
        .rsplit(':')
        .next()
        .and_then(|port| port.trim().parse().ok())
        .unwrap_or_else(|| panic!("no https port in {lines:?}"));
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let collected = std::sync::Arc::clone(&stderr);
    let reader = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            collected.lock().unwrap().push(line);
        }
    });
    let running = Running {
        child,
        http: "127.0.0.1:0".parse().unwrap(),
        https: format!("127.0.0.1:{port}").parse().unwrap(),
    };
    assert!(curl_h2(&ca_file, port, "/", &[]).starts_with("HTTP/2 "));

    // A new certificate with the old key: refused at reload.
    let other = ca.issue(&["localhost"]);
    std::fs::write(&cert, &other.chain_pem).unwrap();
    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let warning = loop {
        let found = stderr
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.contains("TLS certificates not reloaded"))
            .cloned();
        if let Some(line) = found {
            break line;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {:?}",
            stderr.lock().unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(warning.contains("does not match the certificate"), "{warning}");
    // The old certificate and key still serve: curl checks the chain,
    // and the new certificate with the old key could not sign the
    // handshake.
    let head = curl_h2(&ca_file, port, "/", &[]);
    assert!(head.starts_with("HTTP/2 "), "{head}");
    drop(running);
}

/// Runs `revalidate ARGS…` that must fail to start: exit code 2 and one
/// `revalidate: error:` line containing `message`.
fn fails_to_start(args: &[&str], message: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    let lines: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("revalidate: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
    assert!(lines[0].contains(message), "{args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "it said it listens: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn an_expired_mismatched_or_missing_certificate_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let good = ca.issue(&["localhost"]);
    let (cert, key) = good.write(dir.path(), "good");
    let (expired, expired_key) = ca
        .issue_valid(&["localhost"], days_from_now(-60), days_from_now(-1))
        .write(dir.path(), "expired");
    let (later, later_key) = ca
        .issue_valid(&["localhost"], days_from_now(3), days_from_now(60))
        .write(dir.path(), "later");
    let (_, other_key) = ca.issue(&["localhost"]).write(dir.path(), "other");
    let missing = dir.path().join("missing.pem");
    let data = dir.path().join("data");
    let path = |p: &PathBuf| p.to_str().unwrap().to_owned();
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("expired", path(&expired), path(&expired_key), "expired on"),
        (
            "not yet valid",
            path(&later),
            path(&later_key),
            "is not valid before",
        ),
        (
            "mismatched key",
            path(&cert),
            path(&other_key),
            "does not match the certificate",
        ),
        ("missing certificate", path(&missing), path(&key), "cannot read"),
        ("missing key", path(&cert), path(&missing), "cannot read"),
        (
            "a key as the certificate",
            path(&key),
            path(&key),
            "no usable PEM certificate",
        ),
    ];
    for (case, cert, key, message) in &cases {
        for command in ["serve", "edge"] {
            let mut args = vec![command, "--listen", "127.0.0.1:0", "--listen-tls", "127.0.0.1:0"];
            args.extend_from_slice(&["--tls-cert", cert, "--tls-key", key]);
            match command {
                "serve" => args.extend_from_slice(&["--data", data.to_str().unwrap()]),
                _ => args.extend_from_slice(&["--origin", "http://127.0.0.1:9", "--admin-listen", "off"]),
            }
            eprintln!("{command}: {case}");
            fails_to_start(&args, message);
        }
    }
    let cert = path(&cert);
    fails_to_start(
        &[
            "serve",
            "--listen-tls",
            "127.0.0.1:0",
            "--data",
            data.to_str().unwrap(),
        ],
        "needs a certificate",
    );
    fails_to_start(
        &[
            "edge",
            "--origin",
            "http://127.0.0.1:9",
            "--tls-cert",
            &cert,
            "--tls-key",
            &cert,
        ],
        "without tls.listen",
    );
}
