//! Starting `revalidate serve` and `revalidate edge` as child processes,
//! each in its own temporary directory with its own config file, and
//! stopping them.
//!
//! A server is started with `--config FILE` (its listen address
//! `127.0.0.1:0`) and is ready when it prints its "listening on" line
//! (`revalidate: listening on http://ADDR`, `revalidate: edge listening on
//! http://ADDR`); the wait is bounded. The child is killed when its
//! [`Server`] is dropped, so a case that fails, panics or is interrupted
//! leaves nothing behind.
//!
//! The config files deny unknown keys, and the keys the reliability fixes
//! add ([`keys`]) are unknown to a build without those fixes. When a
//! build refuses to start because of one of them, the runner drops that
//! key, starts again, and the case says so in its details: the case then
//! runs against the build's defaults and fails (or passes) on its own
//! merits, instead of failing because the server never started.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cases::Context;

/// A config key: its `[section]` (`None`: the top level) and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    pub(crate) section: Option<&'static str>,
    pub(crate) name: &'static str,
}

/// The keys the reliability fixes added. Every case names them through
/// these constants, so a rename is one line here.
pub(crate) mod keys {
    use super::Key;

    const fn top(name: &'static str) -> Key {
        Key { section: None, name }
    }

    const fn connections(name: &'static str) -> Key {
        Key {
            section: Some("connections"),
            name,
        }
    }

    /// Both servers: a whole request head must arrive within it.
    pub(crate) const HEADER_READ_TIMEOUT: Key = connections("header_timeout_ms");
    /// Both servers: an idle keep-alive connection is closed after it.
    pub(crate) const KEEP_ALIVE_TIMEOUT: Key = connections("idle_timeout_ms");
    /// Both servers: a client that stops reading is closed after it.
    pub(crate) const SEND_TIMEOUT: Key = connections("send_timeout_ms");
    /// Both servers: the cap on open connections.
    pub(crate) const MAX_CONNECTIONS: Key = connections("max_connections");
    /// Edge: silence allowed between two chunks of a request body.
    pub(crate) const CLIENT_BODY_TIMEOUT: Key = top("client_body_timeout_ms");
    /// Edge: silence allowed between two chunks of an origin's body.
    pub(crate) const UPSTREAM_BODY_TIMEOUT: Key = top("upstream_body_timeout_ms");
    /// Edge: the longest wait for another request's origin fetch.
    pub(crate) const COLLAPSE_TIMEOUT: Key = top("collapse_timeout_ms");
    /// Edge: which responses with `Set-Cookie` are stored (`"never"`,
    /// `"explicit"`, `"always"`).
    pub(crate) const CACHE_SET_COOKIE: Key = top("cache_set_cookie");
    /// Edge: peers whose `X-Forwarded-For`/`-Proto` are passed on.
    pub(crate) const TRUSTED_PROXIES: Key = top("trusted_proxies");
}

/// How long a server may take to print its "listening on" line (the
/// PostgreSQL migrations run before it).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A TOML config file under construction.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConfigFile {
    table: toml::Table,
}

impl ConfigFile {
    /// An empty file: every key at the build's default.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Sets a top-level key.
    pub(crate) fn set(mut self, key: &str, value: impl Into<toml::Value>) -> Self {
        self.table.insert(key.to_owned(), value.into());
        self
    }

    /// Sets `key` where it lives.
    pub(crate) fn with(self, key: Key, value: impl Into<toml::Value>) -> Self {
        match key.section {
            None => self.set(key.name, value),
            Some(section) => self.set_in(section, key.name, value),
        }
    }

    /// Sets a key in a `[section]`.
    pub(crate) fn set_in(mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> Self {
        let entry = self
            .table
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(table) = entry {
            table.insert(key.to_owned(), value.into());
        }
        self
    }

    fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    fn render(&self) -> anyhow::Result<String> {
        Ok(toml::to_string(&self.table)?)
    }
}

/// A millisecond setting as a TOML integer.
pub(crate) fn millis(duration: Duration) -> toml::Value {
    toml::Value::Integer(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

/// A running `revalidate serve` or `revalidate edge`, killed on drop.
#[derive(Debug)]
pub(crate) struct Server {
    /// Behind a lock so that a shared reference can ask whether it exited.
    child: Mutex<Child>,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Where its admin listener listens (`/metrics`, `/healthz`,
    /// `/readyz`): every edge has one, on a port of its own.
    pub(crate) admin: Option<SocketAddr>,
    pid: Option<u32>,
    stderr_path: PathBuf,
    label: String,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts `revalidate serve` with `config` (listen, root and data are
    /// filled in: a small static tree and a data directory of its own).
    pub(crate) async fn origin(ctx: &Context, label: &str, config: ConfigFile) -> anyhow::Result<Self> {
        Self::origin_on(ctx, label, config, "127.0.0.1:0").await
    }

    /// [`Server::origin`] listening on `listen` (a fixed port, so that a
    /// restarted node is found where it was).
    pub(crate) async fn origin_on(
        ctx: &Context,
        label: &str,
        config: ConfigFile,
        listen: &str,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("revalidate-faults-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let root = dir.path().join("public");
        std::fs::create_dir_all(&root)?;
        std::fs::write(root.join("index.html"), INDEX_HTML)?;
        let data = dir.path().join("data");
        let mut config = config.set("listen", listen);
        if !config.has("root") {
            config = config.set("root", path_value(&root));
        }
        if !config.has("data") {
            config = config.set("data", path_value(&data));
        }
        spawn(
            ctx,
            label,
            "serve",
            ("revalidate: listening on http://", None),
            config,
            dir,
        )
        .await
    }

    /// Starts `revalidate edge` in front of `origin` (`http://host:port`)
    /// with `config` (listen and origin are filled in).
    pub(crate) async fn edge(
        ctx: &Context,
        label: &str,
        origin: &str,
        config: ConfigFile,
    ) -> anyhow::Result<Self> {
        Self::edge_on(ctx, label, config.set("origin", origin), "127.0.0.1:0").await
    }

    /// Starts `revalidate edge` on `listen` with `config` as it is (its
    /// upstream included: `origin`, `origins` or `shields`), with an admin
    /// listener of its own.
    pub(crate) async fn edge_on(
        ctx: &Context,
        label: &str,
        config: ConfigFile,
        listen: &str,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("revalidate-faults-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        // Several edges run at once: each admin listener on a port of its
        // own rather than the default 9081.
        let config = config
            .set("listen", listen)
            .set_in("admin", "listen", "127.0.0.1:0");
        spawn(
            ctx,
            label,
            "edge",
            (
                "revalidate: edge listening on http://",
                Some("revalidate: edge admin listening on http://"),
            ),
            config,
            dir,
        )
        .await
    }

    /// Kills the process at once (`SIGKILL`: no graceful shutdown, as a
    /// crash or a lost machine) and waits for it to be gone.
    pub(crate) async fn kill(self) {
        let mut child = self.child.into_inner().unwrap_or_else(PoisonError::into_inner);
        let _ = child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    }

    /// `http://ADDR` followed by `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://ADMIN-ADDR` followed by `path`, on the admin listener (the
    /// public address when the server has none).
    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin.unwrap_or(self.addr))
    }

    /// The resident set size of the process now, in KiB (`VmRSS` in
    /// `/proc/PID/status`).
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Whether the process has exited (it crashed: nobody stopped it).
    pub(crate) fn has_exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(child.try_wait(), Ok(None))
    }

    /// Notes for the case's details: whether the server died during the
    /// case.
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.has_exited() {
            notes.push(format!(
                "note: {} exited during the case; its stderr ends: {}",
                self.label,
                self.stderr_tail(5)
            ));
        }
        notes
    }

    /// The last lines the server wrote to stderr.
    pub(crate) fn stderr_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join(" | ")
    }
}

/// Notes for a case's details about its servers (see [`Server::notes`]).
pub(crate) fn server_notes<'a>(servers: impl IntoIterator<Item = &'a Server>) -> Vec<String> {
    servers.into_iter().flat_map(Server::notes).collect()
}

const INDEX_HTML: &str = "<!doctype html>\n<title>fault run</title>\n<p>A small page the fault run asks for \
                          while it holds connections open.</p>\n";

fn path_value(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Starts `revalidate SUBCOMMAND --config FILE` and waits for the line
/// starting with `announcement` (and then, when given, the admin
/// listener's line). A build that rejects the config (a key renamed, say)
/// fails the case, with the server's error.
async fn spawn(
    ctx: &Context,
    label: &str,
    subcommand: &str,
    (announcement, admin_announcement): (&str, Option<&str>),
    config: ConfigFile,
    dir: tempfile::TempDir,
) -> anyhow::Result<Server> {
    let config_path = dir.path().join(format!("{subcommand}.toml"));
    let stderr_path = dir.path().join(format!("{subcommand}.stderr"));
    std::fs::write(&config_path, config.render()?)?;
    let stderr = std::fs::File::create(&stderr_path)?;
    let mut child = Command::new(&ctx.revalidate)
        .arg(subcommand)
        .arg("--config")
        .arg(&config_path)
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        // Flags' environment fallbacks would override the config file.
        .env_remove("REVALIDATE_DATABASE")
        .env_remove("REVALIDATE_WORKERS")
        .env_remove("REVALIDATE_LOG_FORMAT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", ctx.revalidate.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let announced = tokio::time::timeout(START_TIMEOUT, async {
        // The announcement is the first line, the admin one after it; a
        // few lines of slack.
        let mut addr = None;
        for _ in 0..8 {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    let line = line.trim();
                    if let Some(found) = line.strip_prefix(announcement) {
                        addr = Some(found.parse::<SocketAddr>().ok()?);
                    } else if let Some(found) = admin_announcement.and_then(|a| line.strip_prefix(a)) {
                        return Some((addr?, Some(found.parse::<SocketAddr>().ok()?)));
                    }
                    if let (Some(addr), None) = (addr, admin_announcement) {
                        return Some((addr, None));
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
        None
    })
    .await;
    if let Ok(Some((addr, admin))) = announced {
        // Keep reading stdout so that the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let pid = child.id();
        return Ok(Server {
            child: Mutex::new(child),
            addr,
            admin,
            pid,
            stderr_path,
            label: label.to_owned(),
            _dir: dir,
        });
    }
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let why = if announced.is_err() {
        format!("no \"listening on\" line within {} s", START_TIMEOUT.as_secs())
    } else {
        "it exited before listening".to_owned()
    };
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    bail!(
        "{label} (revalidate {subcommand}) did not start: {why}; stderr: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    );
}
