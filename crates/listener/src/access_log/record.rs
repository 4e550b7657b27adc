//! One access-log record: what is captured when a request arrives
//! (`Pending`), completed when its response ends ([`Record`]); and what
//! a proxy adds about its upstream ([`Upstream`]).

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use http::header::{HOST, REFERER, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri, Version};

/// The request-id field: kept from the request when sane, else generated
/// and set on the request, so that a proxy forwards it.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id kept from a request.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// What a proxy knows about how it answered: put into the response's
/// extensions by the service, read (and removed) by the front door when
/// it logs the request. `Copy`, so inserting it costs no allocation
/// beyond the extension map's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// The cache's verdict: `hit`, `miss`, `revalidated`, `stale`,
    /// `collapsed`, `pass`, `error`, `client-error`.
    pub cache: &'static str,
    /// The status the upstream answered with, when it was asked.
    pub status: Option<u16>,
    /// How long the upstream took to answer its head, when it was asked.
    pub duration: Option<Duration>,
}

/// A request being served, as the log will have it: captured when it
/// arrives (only when logging is on), its status set at the response
/// head and its body bytes counted as they are sent, then queued whole
/// (one allocation per request: this box travels to the writer).
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) record: Record,
    started: Instant,
    /// Where it goes; taken when it is sent.
    pub(crate) log: Option<super::AccessLog>,
}

impl Pending {
    /// Captures what the log needs from `request`, and makes sure it
    /// carries a sane `X-Request-Id` (generating one if not).
    pub(crate) fn capture<B>(
        request: &mut Request<B>,
        remote: SocketAddr,
        log: &super::AccessLog,
    ) -> Box<Self> {
        let headers = request.headers_mut();
        let request_id = match headers.get(&X_REQUEST_ID) {
            Some(id) if is_sane_request_id(id.as_bytes()) => id.clone(),
            _ => {
                let id = generate_request_id();
                headers.insert(X_REQUEST_ID, id.clone());
                id
            }
        };
        let headers = request.headers();
        let host = headers.get(HOST).cloned().or_else(|| {
            // HTTP/2 carries the host in `:authority`, which hyper puts in the URI.
            request
                .uri()
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        Box::new(Self {
            record: Record {
                time: SystemTime::UNIX_EPOCH,
                duration: Duration::ZERO,
                remote,
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                host,
                referer: headers.get(REFERER).cloned(),
                user_agent: headers.get(USER_AGENT).cloned(),
                request_id,
                // Until a response head is known: the client went away
                // first (nginx's 499, "client closed request").
                status: 499,
                body_bytes: 0,
                upstream: None,
            },
            started: Instant::now(),
            log: Some(log.clone()),
        })
    }

    /// A finished record, with no request behind it (tests, tools).
    pub(crate) fn finished(record: Record) -> Box<Self> {
        Box::new(Self {
            record,
            started: Instant::now(),
            log: None,
        })
    }

    /// The response ended now (or was abandoned): timed, and queued.
    pub(crate) fn finish(mut self: Box<Self>) {
        if let Some(log) = self.log.take() {
            self.record.time = SystemTime::now();
            self.record.duration = self.started.elapsed();
            log.send(self);
        }
    }
}

/// One request as logged.
#[derive(Clone, Debug)]
pub struct Record {
    /// When the response ended (its last byte was handed to the
    /// connection, or it was abandoned).
    pub time: SystemTime,
    /// From the request's arrival to the end of its response.
    pub duration: Duration,
    /// The client's address.
    pub remote: SocketAddr,
    /// The request method.
    pub method: Method,
    /// The request target.
    pub uri: Uri,
    /// The protocol version.
    pub version: Version,
    /// `Host`, or HTTP/2's `:authority`.
    pub host: Option<HeaderValue>,
    /// `Referer`.
    pub referer: Option<HeaderValue>,
    /// `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// The request id (the client's, or generated).
    pub request_id: HeaderValue,
    /// The status sent; 499 when the client went away before a response
    /// head was ready (nginx's code for it).
    pub status: u16,
    /// The body bytes sent (all of them, or those sent before the
    /// response was abandoned).
    pub body_bytes: u64,
    /// What a proxy said about its upstream.
    pub upstream: Option<Upstream>,
}

impl Record {
    /// The request target as it is logged: the path and query (the
    /// origin form, also for HTTP/2 and absolute-form requests), the
    /// authority of a `CONNECT`, `*`.
    pub fn target(&self) -> &str {
        match self.uri.path_and_query() {
            Some(path) => path.as_str(),
            None => self.uri.authority().map_or("*", |a| a.as_str()),
        }
    }

    /// The protocol as nginx's `$server_protocol` says it.
    pub fn protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_11 => "HTTP/1.1",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP",
        }
    }
}

/// A request id worth keeping: 1 to 128 bytes of printable ASCII (no
/// space), so that it can be logged and forwarded as it is.
pub fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_BYTES).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

/// A new request id: this process's random 64-bit prefix and a counter,
/// in hex (`5f0c6a1e9b2d4c37-1a`). Unique within the process and, with
/// overwhelming likelihood, across processes; cheaper than a UUID (no
/// random number per request).
pub fn generate_request_id() -> HeaderValue {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(random_prefix);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let id = format!("{prefix:016x}-{n:x}");
    HeaderValue::try_from(id).expect("hex digits and a hyphen are a valid field value")
}

/// 64 random bits from the standard library's per-process hash keys,
/// mixed with the time and the process id.
fn random_prefix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_printable_and_short() {
        assert!(is_sane_request_id(b"abc-123_XYZ.~"));
        assert!(is_sane_request_id(&[b'a'; 128]));
        assert!(!is_sane_request_id(&[b'a'; 129]));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"has space"));
        assert!(!is_sane_request_id(b"tab\there"));
        assert!(!is_sane_request_id("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn generated_request_ids_are_distinct_and_sane() {
        let a = generate_request_id();
        let b = generate_request_id();
        assert_ne!(a, b);
        assert!(is_sane_request_id(a.as_bytes()), "{a:?}");
        assert_eq!(a.as_bytes()[..17], b.as_bytes()[..17], "one prefix per process");
    }

    #[test]
    fn a_request_without_a_sane_id_gets_one_and_a_sane_one_is_kept() {
        let peer: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let (queue, _records) = std::sync::mpsc::sync_channel(1);
        let (_done, done) = std::sync::mpsc::sync_channel(1);
        let log =
            super::super::AccessLog::from_parts(queue, done, Default::default(), super::super::Format::Json);
        let mut request = Request::get("/")
            .header("x-request-id", "bad id")
            .body(())
            .unwrap();
        let pending = Pending::capture(&mut request, peer, &log);
        assert_ne!(pending.record.request_id, "bad id");
        assert_eq!(
            request.headers()[X_REQUEST_ID],
            pending.record.request_id,
            "set on the request"
        );
        let mut request = Request::get("/")
            .header("x-request-id", "client-1")
            .body(())
            .unwrap();
        let pending = Pending::capture(&mut request, peer, &log);
        assert_eq!(pending.record.request_id, "client-1");
    }
}
