//! The writer thread: takes records off the bounded queue, formats them
//! into a buffered file (or stdout), flushes every `flush_ms` and when
//! its buffer fills, reopens the file when asked (rotation), and drains
//! the queue when closed.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::format::Format;
use super::record::{Pending, Record};

/// The writer's buffer: flushed when full, or `flush_ms` after its first
/// line.
const BUFFER_BYTES: usize = 64 << 10;

/// At most one warning about failed writes per this long.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What the writer is sent.
#[derive(Debug)]
pub(crate) enum Message {
    /// A request to log.
    Record(Box<Pending>),
    /// Reopen the file (after a rotation): a wake-up; the request itself
    /// is the `reopen` flag, which a full queue cannot lose.
    Reopen,
    /// Write what is queued, flush and stop.
    Close,
}

/// Where lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A file, opened for appending (created if missing).
    File(PathBuf),
    /// The standard output (`-`).
    Stdout,
}

impl Destination {
    /// `-` is the standard output; anything else a file.
    pub fn parse(path: &Path) -> Self {
        if path.as_os_str() == "-" {
            Self::Stdout
        } else {
            Self::File(path.to_owned())
        }
    }

    /// Opens it for appending.
    pub(crate) fn open(&self) -> io::Result<Box<dyn Write + Send>> {
        match self {
            Self::Stdout => Ok(Box::new(io::stdout())),
            Self::File(path) => {
                let file: File = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot open access log {}: {e}", path.display()),
                        )
                    })?;
                Ok(Box::new(file))
            }
        }
    }
}

/// The state of the writer thread.
pub(crate) struct Writer {
    pub(crate) destination: Destination,
    pub(crate) format: Format,
    pub(crate) flush_every: Duration,
    pub(crate) out: BufWriter<Box<dyn Write + Send>>,
    pub(crate) reopen: Arc<AtomicBool>,
    last_warning: Option<Instant>,
    line: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        destination: Destination,
        format: Format,
        flush_every: Duration,
        out: Box<dyn Write + Send>,
        reopen: Arc<AtomicBool>,
    ) -> Self {
        Self {
            destination,
            format,
            flush_every,
            out: BufWriter::with_capacity(BUFFER_BYTES, out),
            reopen,
            last_warning: None,
            line: Vec::with_capacity(512),
        }
    }

    /// Runs until closed (or every sender is gone), then says so on `done`.
    pub(crate) fn run(mut self, queue: &Receiver<Message>, done: &SyncSender<()>) {
        let mut flush_at: Option<Instant> = None;
        loop {
            let message = match flush_at {
                Some(at) => queue.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            if self.reopen.swap(false, Ordering::AcqRel) {
                self.reopen_now();
            }
            match message {
                Ok(Message::Record(record)) => {
                    self.write(&record.record);
                    flush_at.get_or_insert_with(|| Instant::now() + self.flush_every);
                }
                Ok(Message::Reopen) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.flush();
                    flush_at = None;
                }
                Ok(Message::Close) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // What was queued before the close is written.
        while let Ok(message) = queue.try_recv() {
            if let Message::Record(record) = message {
                self.write(&record.record);
            }
        }
        self.flush();
        let _ = done.try_send(());
    }

    fn write(&mut self, record: &Record) {
        self.line.clear();
        self.format.write(record, &mut self.line);
        if let Err(error) = self.out.write_all(&self.line) {
            self.warn("cannot write to the access log", &error);
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.out.flush() {
            self.warn("cannot write to the access log", &error);
        }
    }

    /// Reopens the destination (the file was renamed by a rotation): what
    /// is buffered goes to the old file, what comes next to the new one.
    /// If the new one cannot be opened, the old one stays.
    fn reopen_now(&mut self) {
        self.flush();
        if self.destination == Destination::Stdout {
            return;
        }
        match self.destination.open() {
            Ok(out) => {
                self.out = BufWriter::with_capacity(BUFFER_BYTES, out);
                tracing::info!("access log reopened");
            }
            Err(error) => self.warn("cannot reopen the access log, writing to the old file", &error),
        }
    }

    fn warn(&mut self, what: &str, error: &io::Error) {
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= WARN_EVERY)
        {
            self.last_warning = Some(now);
            tracing::warn!(%error, "{what} (lines are lost; warnings at most every 10 s)");
        }
    }
}
