//! Starting `revalidate serve` and `revalidate edge` processes and stopping them.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `revalidate serve` or `revalidate edge`, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts `revalidate serve --listen 127.0.0.1:0 ARGS…` and waits for
    /// the line that says where it listens.
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        Self::spawn(&all, "revalidate: listening on http://")
    }

    /// Starts `revalidate ARGS…` (a command that listens) and waits for its
    /// first stdout line, `announcement` followed by the address.
    pub(crate) fn spawn(args: &[&str], announcement: &str) -> Self {
        let mut child = launch(args);
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix(announcement)
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    /// [`Server::spawn`] for a server started with `--admin-listen`: the
    /// line after the first says where the admin listener listens,
    /// `admin_announcement` followed by the address.
    pub(crate) fn spawn_with_admin(
        args: &[&str],
        announcement: &str,
        admin_announcement: &str,
    ) -> (Self, SocketAddr) {
        let mut child = launch(args);
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read = |prefix: &str| -> SocketAddr {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
                .parse()
                .unwrap()
        };
        let addr = read(announcement);
        let admin = read(admin_announcement);
        (Self { child, addr }, admin)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends `signal` (`USR1`, `HUP`) to the process.
    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Whether the process is still running.
    pub(crate) fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not stop within 5 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sample site shipped with the repository.
pub(crate) fn sample_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sample/public"))
}

/// The PostgreSQL URL for tests, or `None` after saying the test is skipped.
/// Under CI a missing server is a failure, not a skip.
pub(crate) fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("REVALIDATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: REVALIDATE_TEST_PG_URL is not set, and under CI a skipped PostgreSQL test is a failure"
            );
            eprintln!("SKIPPED: {test} (set REVALIDATE_TEST_PG_URL; see scripts/test-postgres.sh)");
            None
        }
    }
}

/// Starts `revalidate ARGS…` with its stdout piped (the "listening" lines
/// are read from it) and warnings only on stderr.
pub(crate) fn launch(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_revalidate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}
