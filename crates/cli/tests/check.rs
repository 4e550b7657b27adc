//! `revalidate check` as a user runs it: exit codes and output against a
//! real `revalidate serve`, a server without validators, and a port where
//! nothing listens.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use crate::support::{Server, sample_root};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .arg("check")
        .args(["--timeout", "5"])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Answers every request (one per connection) with what `respond` makes of
/// its head, lowercased, until the test ends; returns its URL.
fn server_answering(respond: impl Fn(&str) -> &'static [u8] + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 8192];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let head = String::from_utf8_lossy(&buffer[..n]).to_ascii_lowercase();
            let _ = stream.write_all(respond(&head));
        }
    });
    format!("http://{addr}/")
}

/// Answers every request with a 200 that has no validators, until the test ends.
fn server_without_validators() -> String {
    server_answering(|_| {
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: max-age=60\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
    })
}

#[test]
fn check_exit_codes_and_output() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--root",
        sample_root().to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ]);

    // The project's own origin is clean: exit 0.
    let clean = check(&[&server.url("/"), &server.url("/assets/site.3f9a2b1c.css")]);
    let stdout = text(&clean.stdout);
    assert_eq!(clean.status.code(), Some(0), "{stdout}{}", text(&clean.stderr));
    assert!(stdout.contains("2 URLs: 0 errors, 0 warnings"), "{stdout}");
    assert!(stdout.contains("freshness"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no colour into a pipe: {stdout}");

    // JSON lines end with a summary.
    let json = check(&["--format", "json", &server.url("/robots.txt")]);
    assert_eq!(json.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["exit_code"], 0);
    assert!(
        lines
            .iter()
            .any(|l| l["id"] == "freshness" && l["rfc"] == "RFC 9111 §4.2")
    );

    // Findings: exit 1.
    let broken = server_without_validators();
    let flagged = check(&["--format", "json", &broken]);
    assert_eq!(flagged.status.code(), Some(1), "{}", text(&flagged.stdout));
    assert!(text(&flagged.stdout).contains("\"id\":\"no-validators\""));

    // Nothing listening: one line on stderr, exit 2, even next to a good URL.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = check(&[&format!("http://{closed}/"), &server.url("/")]);
    assert_eq!(unreachable.status.code(), Some(2));
    let stderr = text(&unreachable.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");

    // Not a URL: exit 2.
    let invalid = check(&["ftp://example.test/"]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(text(&invalid.stderr).contains("only http:// and https://"));
}

/// Answers 304 to any If-None-Match (an error: 304 for a tag it never
/// sent) and 200 with an ETag otherwise; 401 unless the request carries
/// `cookie: session=ok` when `guarded`.
fn server_with_an_error(guarded: bool) -> String {
    server_answering(move |head| {
        if guarded && !head.contains("\r\ncookie: session=ok\r\n") {
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        } else if head.contains("\r\nif-none-match:") {
            b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncache-control: max-age=60\r\nconnection: close\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\netag: \"v1\"\r\ncontent-type: text/plain\r\ncache-control: max-age=60\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
        }
    })
}

/// Answers every request with a permanent redirect: one warning
/// (`redirect-not-followed`) and nothing else.
fn server_that_redirects() -> String {
    server_answering(|_| {
        b"HTTP/1.1 308 Permanent Redirect\r\nlocation: /new\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    })
}

#[test]
fn fail_on_sets_which_findings_fail_the_run() {
    let warnings_only = server_that_redirects();
    let json = check(&["--format", "json", &warnings_only]);
    let severities: Vec<String> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["type"] == "finding")
        .map(|l| l["severity"].as_str().unwrap().to_owned())
        .collect();
    assert!(severities.contains(&"warning".to_owned()), "{severities:?}");
    assert!(!severities.contains(&"error".to_owned()), "{severities:?}");
    // Warnings fail by default and with --fail-on warning, not with --fail-on error.
    assert_eq!(check(&[&warnings_only]).status.code(), Some(1));
    assert_eq!(
        check(&["--fail-on", "warning", &warnings_only]).status.code(),
        Some(1)
    );
    let passing = check(&["--fail-on", "error", "--format", "json", &warnings_only]);
    assert_eq!(passing.status.code(), Some(0), "{}", text(&passing.stdout));
    assert!(text(&passing.stdout).contains("\"exit_code\":0"));

    // An error fails either way.
    let broken = server_with_an_error(false);
    assert_eq!(check(&["--fail-on", "error", &broken]).status.code(), Some(1));
    assert_eq!(check(&["--fail-on", "warning", &broken]).status.code(), Some(1));

    // A URL that cannot be checked is 2 either way.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable = format!("http://{closed}/");
    assert_eq!(
        check(&["--fail-on", "error", &unreachable]).status.code(),
        Some(2)
    );

    // Anything else is a usage error.
    let bad = check(&["--fail-on", "info", &broken]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn header_reaches_the_server_and_a_bad_one_is_a_one_line_error() {
    let guarded = server_with_an_error(true);
    let without = check(&["--format", "json", &guarded]);
    assert!(text(&without.stdout).contains("\"id\":\"unexpected-status\""));
    let with = check(&["--format", "json", "--header", "Cookie: session=ok", &guarded]);
    let stdout = text(&with.stdout);
    assert!(!stdout.contains("unexpected-status"), "{stdout}");
    assert!(
        stdout.contains("\"id\":\"not-modified-for-changed-content\""),
        "{stdout}"
    );

    for (header, says) in [
        ("Cookie session=ok", "colon"),
        ("Bad Name: x", "not a valid field name"),
        ("If-None-Match: \"v1\"", "set by the probes"),
    ] {
        let refused = check(&["--header", header, &guarded]);
        assert_eq!(refused.status.code(), Some(2), "{header}");
        let stderr = text(&refused.stderr);
        assert_eq!(stderr.lines().count(), 1, "{header}: {stderr}");
        assert!(stderr.starts_with("revalidate: error: --header"), "{stderr}");
        assert!(stderr.contains(says), "{header}: {stderr}");
        assert!(refused.stdout.is_empty(), "nothing was checked");
    }
}

#[test]
fn html_report_on_stdout_or_in_a_file() {
    let broken = server_with_an_error(false);
    let page = check(&["--format", "html", &broken]);
    assert_eq!(page.status.code(), Some(1));
    let html = text(&page.stdout);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("not-modified-for-changed-content"), "{html}");
    assert!(html.contains("Exit code 1"), "{html}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.html");
    let both = check(&["--format", "json", "--html", file.to_str().unwrap(), &broken]);
    assert_eq!(both.status.code(), Some(1));
    assert!(text(&both.stdout).lines().all(|l| l.starts_with('{')));
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with("<!DOCTYPE html>") && written.ends_with("</html>"));

    // An unwritable path fails at once, before any probe.
    let nowhere = dir.path().join("no/such/dir/report.html");
    let refused = check(&["--html", nowhere.to_str().unwrap(), &broken]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = text(&refused.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--html"), "{stderr}");
}
