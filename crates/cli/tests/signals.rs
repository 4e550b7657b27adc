//! SIGTERM sent the moment a server prints where it listens: a graceful
//! shutdown and a clean exit, every time. The handlers used to be
//! installed only when the shutdown future was first polled, after that
//! line, so a supervisor (or a test) quick enough killed the process
//! instead.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Starts `revalidate ARGS…`, sends SIGTERM as soon as its first stdout
/// line arrives and returns how it exited.
fn terminate_on_first_line(args: &[&str], announcement: &str) -> ExitStatus {
    // A shell already waiting on its input sends the signal: no fork and
    // exec between reading the line and the signal, as a supervisor that
    // calls kill(2) itself.
    let mut killer = Command::new("sh")
        .args(["-c", "read pid && kill -TERM \"$pid\""])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut order = killer.stdin.take().unwrap();
    writeln!(order, "{}", child.id()).unwrap();
    drop(order);
    assert!(line.starts_with(announcement), "first line: {line:?}");
    assert!(killer.wait().unwrap().success(), "kill failed");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "no exit within 20 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_the_moment_serve_says_where_it_listens_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let root = crate::support::sample_root().to_str().unwrap();
    let data = data.path().to_str().unwrap();
    let args = ["serve", "--listen", "127.0.0.1:0", "--root", root, "--data", data];
    for attempt in 1..=50 {
        let status = terminate_on_first_line(&args, "revalidate: listening on http://");
        assert!(status.success(), "attempt {attempt}: {status}");
    }
}

#[test]
fn sigterm_the_moment_edge_says_where_it_listens_exits_cleanly() {
    let args = [
        "edge",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--origin",
        "http://127.0.0.1:9",
    ];
    for attempt in 1..=50 {
        let status = terminate_on_first_line(&args, "revalidate: edge listening on http://");
        assert!(status.success(), "attempt {attempt}: {status}");
    }
}
