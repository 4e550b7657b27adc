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

/// Answers every request with a 200 that has no validators, until the test ends.
fn server_without_validators() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncache-control: max-age=60\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    format!("http://{addr}/")
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
