//! The access log of both servers: one line per request, in nginx's
//! `combined` format or as JSON lines ([`Format`]), written off the
//! request path.
//!
//! ```toml
//! [access_log]
//! path = "/var/log/revalidate/access.log"   # or "-" for stdout; without it, no access log
//! format = "combined"                       # or "json"
//! queue_records = 65536                     # records waiting for the writer; more are dropped and counted
//! flush_ms = 1000                           # lines reach the file at most this late
//! ```
//!
//! How a request becomes a line: the front door's service wrapper
//! captures the peer, the request line and the few fields logged when
//! the request arrives ([`record`]), sets the status when the response
//! head is ready and counts the body bytes as its frames are handed to
//! the connection, and when the response body ends, or is dropped (the
//! client went away: the line has the bytes handed over so far, as
//! nginx's has those sent; a frame counts whole), pushes the [`Record`] into a
//! bounded queue. A dedicated thread (`writer`) formats and writes it
//! through a 64 KiB buffer flushed every `flush_ms`. A full queue drops
//! the record and counts it (`<prefix>_access_log_dropped_total`); a
//! failed write is a warning (at most every 10 s), never an error to a
//! client nor a wait. On shutdown the queue is drained and flushed,
//! within [`CLOSE_WITHIN`].
//!
//! Rotation: `SIGHUP` and `SIGUSR1` reopen the file
//! ([`crate::signals::OperatorSignals`]), so that logrotate renames it and
//! signals (or `copytruncate` is not needed). A file that cannot be
//! reopened leaves the old one in use, with a warning.
//!
//! Request ids: when logging is on, a request without a sane
//! `X-Request-Id` (1 to 128 printable ASCII bytes) gets one, set on the
//! request before the service sees it, so a proxy forwards it upstream
//! and both servers' lines share it. The id is not echoed in responses
//! (nginx does not either). With logging off nothing is generated; a
//! client's id is forwarded as any end-to-end field.
//!
//! Cost: with logging off, one branch on an `Option` per request and per
//! response head. With it on, per request: one allocation for the record,
//! the clones of a few header values (reference counts), an id when the
//! request brings none, two clock reads and a non-blocking queue push.

pub mod format;
pub mod record;
pub(crate) mod writer;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Deserialize;

pub use format::Format;
pub use record::{Record, Upstream, X_REQUEST_ID, generate_request_id, is_sane_request_id};
pub use writer::Destination;

use crate::signals::{OperatorSignal, OperatorSignals};
use writer::{Message, Writer};

/// How long a shutdown waits for the queue to be written and flushed.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// The `[access_log]` section of both servers (`--access-log` and
/// `--access-log-format` override `path` and `format`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AccessLogSettings {
    /// Where lines go: a file (appended to, created if missing) or `-`
    /// for stdout; `None`: no access log.
    pub path: Option<PathBuf>,
    /// The line format.
    pub format: Format,
    /// How many records may wait for the writer; when full, records are
    /// dropped and counted.
    pub queue_records: usize,
    /// How late a line may reach the file (the buffer is flushed this long
    /// after its first line, or when full).
    pub flush_ms: u64,
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        Self {
            path: None,
            format: Format::Combined,
            queue_records: 65_536,
            flush_ms: 1_000,
        }
    }
}

impl AccessLogSettings {
    /// The longest queue.
    pub const MAX_QUEUE_RECORDS: usize = 1 << 24;
    /// The longest flush interval: a minute.
    pub const MAX_FLUSH_MS: u64 = 60_000;

    /// Whether an access log is configured.
    pub fn enabled(&self) -> bool {
        self.path.is_some()
    }

    /// Checks the values; the error is one line naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(path) = &self.path
            && path.as_os_str().is_empty()
        {
            return Err("access_log.path must be a file or -, got an empty string".into());
        }
        if !(1..=Self::MAX_QUEUE_RECORDS).contains(&self.queue_records) {
            return Err(format!(
                "access_log.queue_records must be between 1 and {}, got {}",
                Self::MAX_QUEUE_RECORDS,
                self.queue_records
            ));
        }
        if !(1..=Self::MAX_FLUSH_MS).contains(&self.flush_ms) {
            return Err(format!(
                "access_log.flush_ms must be between 1 and {} ms, got {}",
                Self::MAX_FLUSH_MS,
                self.flush_ms
            ));
        }
        Ok(())
    }
}

/// An open access log: a cheap handle to its queue. The front door that
/// holds it ([`crate::FrontDoor::with_access_log`]) closes it when it
/// has finished serving.
#[derive(Clone, Debug)]
pub struct AccessLog {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: SyncSender<Message>,
    reopen: Arc<AtomicBool>,
    dropped: AtomicU64,
    dropped_counter: OnceLock<metrics::Counter>,
    done: Mutex<Option<Receiver<()>>>,
    format: Format,
    reopener: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl AccessLog {
    /// Opens the destination now (so that a bad path is an error at
    /// start) and starts the writer thread; with `signals`, `SIGHUP` and
    /// `SIGUSR1` reopen the file (call it inside the runtime then).
    ///
    /// # Errors
    ///
    /// No path is configured, or the file cannot be opened (one line,
    /// naming it).
    pub fn open(settings: &AccessLogSettings, signals: Option<&OperatorSignals>) -> io::Result<Self> {
        settings.validate().map_err(io::Error::other)?;
        let path = settings
            .path
            .as_deref()
            .ok_or_else(|| io::Error::other("no access log path configured"))?;
        let destination = Destination::parse(path);
        let out = destination.open()?;
        let (queue, records) = std::sync::mpsc::sync_channel(settings.queue_records);
        let (done_tx, done) = std::sync::mpsc::sync_channel(1);
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer::new(
            destination,
            settings.format,
            Duration::from_millis(settings.flush_ms),
            out,
            Arc::clone(&reopen),
        );
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(&records, &done_tx))?;
        let log = Self::from_parts(queue, done, reopen, settings.format);
        if let Some(signals) = signals {
            let mut requests = signals.subscribe();
            let reopening = log.clone();
            let task = tokio::spawn(async move {
                // Both signals reopen; a lag means at least one was sent.
                while let Ok(OperatorSignal::Hangup | OperatorSignal::User1)
                | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) = requests.recv().await
                {
                    reopening.reopen();
                }
            });
            *lock(&log.shared.reopener) = Some(task);
        }
        Ok(log)
    }

    pub(crate) fn from_parts(
        queue: SyncSender<Message>,
        done: Receiver<()>,
        reopen: Arc<AtomicBool>,
        format: Format,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue,
                reopen,
                dropped: AtomicU64::new(0),
                dropped_counter: OnceLock::new(),
                done: Mutex::new(Some(done)),
                format,
                reopener: Mutex::new(None),
            }),
        }
    }

    /// The line format.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    /// Counts dropped records into `counter` as well (the server's
    /// `<prefix>_access_log_dropped_total`); the first counter given stays.
    pub fn count_dropped_in(&self, counter: metrics::Counter) {
        let _ = self.shared.dropped_counter.set(counter);
    }

    /// Records dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Asks the writer to reopen the file (after a rotation renamed it).
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Ordering::Release);
        // A wake-up; when the queue is full the next record wakes it.
        let _ = self.shared.queue.try_send(Message::Reopen);
    }

    /// Queues `record`, or drops and counts it when the queue is full.
    pub fn log(&self, record: Record) {
        self.send(record::Pending::finished(record));
    }

    fn send(&self, pending: Box<record::Pending>) {
        match self.shared.queue.try_send(Message::Record(pending)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(counter) = self.shared.dropped_counter.get() {
                    counter.increment(1);
                }
            }
        }
    }

    /// Writes what is queued, flushes, and stops the writer, waiting at
    /// most `within` (off the async workers). Later records are dropped.
    pub async fn close(&self, within: Duration) {
        if let Some(task) = lock(&self.shared.reopener).take() {
            task.abort();
        }
        let Some(done) = lock(&self.shared.done).take() else {
            return;
        };
        let queue = self.shared.queue.clone();
        let finished = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + within;
            // The close goes behind the queued records; a full queue is
            // waited on, within the bound.
            let mut message = Message::Close;
            loop {
                match queue.try_send(message) {
                    Ok(()) => break,
                    Err(TrySendError::Disconnected(_)) => return true,
                    Err(TrySendError::Full(back)) => {
                        if std::time::Instant::now() >= deadline {
                            return false;
                        }
                        message = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
            done.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if !finished {
            tracing::warn!("the access log was not written out within {within:?}; lines may be lost");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use http::{HeaderValue, Method, Version};

    use super::*;

    fn record(n: u16) -> Record {
        Record {
            time: SystemTime::now(),
            duration: Duration::from_millis(1),
            remote: "127.0.0.1:1".parse().unwrap(),
            method: Method::GET,
            uri: format!("/{n}").parse().unwrap(),
            version: Version::HTTP_11,
            host: None,
            referer: None,
            user_agent: None,
            request_id: HeaderValue::from_static("x"),
            status: 200,
            body_bytes: 0,
            upstream: None,
        }
    }

    fn settings(path: PathBuf, queue_records: usize) -> AccessLogSettings {
        AccessLogSettings {
            path: Some(path),
            queue_records,
            ..AccessLogSettings::default()
        }
    }

    #[tokio::test]
    async fn a_closed_log_has_every_queued_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&settings(path.clone(), 1024), None).unwrap();
        for n in 0..100 {
            log.log(record(n));
        }
        log.close(CLOSE_WITHIN).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let targets: Vec<_> = text
            .lines()
            .map(|l| l.split(' ').nth(6).unwrap().to_owned())
            .collect();
        let expected: Vec<_> = (0..100).map(|n| format!("/{n}")).collect();
        assert_eq!(targets, expected);
        assert_eq!(log.dropped(), 0);
    }

    #[test]
    fn a_full_queue_drops_records_and_counts_them() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let scrape = recorder.handle();
        let counter =
            metrics::with_local_recorder(&recorder, || metrics::counter!("test_access_log_dropped_total"));
        // A queue of 4 whose writer has not started: the fifth record on
        // finds it full.
        let (queue, records) = std::sync::mpsc::sync_channel(4);
        let (_done_tx, done) = std::sync::mpsc::sync_channel(1);
        let log = AccessLog::from_parts(queue, done, Arc::new(AtomicBool::new(false)), Format::Combined);
        log.count_dropped_in(counter);
        for n in 0..10 {
            log.log(record(n));
        }
        assert_eq!(log.dropped(), 6);
        assert_eq!(
            records.try_iter().count(),
            4,
            "the first four wait for the writer"
        );
        assert!(
            scrape.render().contains("test_access_log_dropped_total 6"),
            "{}",
            scrape.render()
        );
    }

    #[tokio::test]
    async fn reopen_writes_to_a_new_file_after_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let rotated = dir.path().join("access.log.1");
        let mut s = settings(path.clone(), 1024);
        s.flush_ms = 1;
        let log = AccessLog::open(&s, None).unwrap();
        log.log(record(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&path).unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "flushed within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        while !path.exists() {
            assert!(std::time::Instant::now() < deadline, "reopened within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log.log(record(2));
        log.close(CLOSE_WITHIN).await;
        assert!(std::fs::read_to_string(&rotated).unwrap().contains("\"GET /1 "));
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(new.contains("\"GET /2 ") && !new.contains("/1 "), "{new}");
    }

    #[test]
    fn settings_are_validated_with_one_line_naming_the_key() {
        let mut s = AccessLogSettings::default();
        assert!(s.validate().is_ok());
        s.queue_records = 0;
        assert_eq!(
            s.validate().unwrap_err(),
            "access_log.queue_records must be between 1 and 16777216, got 0"
        );
        s.queue_records = 1;
        s.flush_ms = 0;
        assert!(
            s.validate()
                .unwrap_err()
                .starts_with("access_log.flush_ms must be")
        );
        let parsed: AccessLogSettings = toml::from_str("path = \"-\"\nformat = \"json\"").unwrap();
        assert_eq!(parsed.format, Format::Json);
        assert!(toml::from_str::<AccessLogSettings>("format = \"common\"").is_err());
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let error = AccessLog::open(&settings("/nonexistent-dir/x/access.log".into(), 4), None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot open access log /nonexistent-dir/x/access.log: "),
            "{error}"
        );
    }
}
