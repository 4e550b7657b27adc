//! What a check records: the requests it sent and what came back.
//!
//! A [`Recording`] is plain data. The prober fills it over the network; the
//! tests build one by hand. Rules read nothing else, so every rule can be
//! tested without a socket.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use revalidate_core::HttpDate;

/// The most body bytes kept per response; longer bodies are hashed whole
/// but stored cut to this length.
pub const BODY_CAP: usize = 4 * 1024 * 1024;

/// A tag no server can have issued: it is the checker's own and changes
/// nothing on the server.
pub const FOREIGN_TAG: &str = "\"revalidate-check-not-a-current-tag\"";

/// How an `If-None-Match` probe writes the current tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InmForm {
    /// The tag exactly as the server sent it.
    Exact,
    /// The tag with `W/` added (or kept): weak comparison must still match.
    Weak,
    /// A list with a foreign tag first and the current tag second.
    List,
    /// `*`, which matches any current representation.
    Star,
    /// Only a foreign tag: nothing matches, so the full response is due.
    Foreign,
}

/// How an `If-Modified-Since` probe dates its question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImsForm {
    /// The `Last-Modified` the server sent: not modified since.
    AtLastModified,
    /// A day before `Last-Modified`: modified since, so the full response is due.
    BeforeLastModified,
    /// Later than `Last-Modified` (a day, or up to the server's `Date`):
    /// not modified since, so 304 is due (stock nginx compares for
    /// equality and answers 200).
    AfterLastModified,
    /// Not an HTTP-date: the field must be ignored, so 200.
    Invalid,
}

/// How a `GET` with `If-Match` names the current representation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfMatchForm {
    /// The current strong tag: the condition holds, so 200.
    Current,
    /// The current strong tag with `W/`: `If-Match` compares strongly, so 412.
    Weak,
    /// A list with a foreign tag first and the current tag second: 200.
    List,
    /// `*`, which any current representation satisfies: 200.
    Star,
    /// Only a foreign tag: the condition fails, so 412.
    Foreign,
}

/// How a `GET` with `If-Unmodified-Since` dates its question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IusForm {
    /// The `Last-Modified` the server sent: unmodified since, so 200.
    AtLastModified,
    /// A day before `Last-Modified`: modified since, so 412.
    BeforeLastModified,
    /// Not an HTTP-date: the field must be ignored, so 200.
    Invalid,
    /// A day before `Last-Modified` next to `If-Match` of the current tag:
    /// the date must be ignored, so 200.
    WithIfMatch,
}

/// Which validator an `If-Range` probe sends with its `Range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IfRangeForm {
    /// The current strong entity-tag: the range is due.
    CurrentTag,
    /// A foreign entity-tag: the whole representation is due.
    StaleTag,
    /// The current tag marked weak: `If-Range` compares strongly, so the
    /// whole representation is due.
    WeakTag,
    /// A day before `Last-Modified`: the whole representation is due.
    StaleDate,
}

/// One step of the write checks (`--unsafe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WriteStep {
    /// `PUT` with `If-Match: <foreign tag>`: 412 is due.
    IfMatchStale,
    /// `PUT` with `If-Unmodified-Since` a day before `Last-Modified`: 412 is due.
    IfUnmodifiedSinceStale,
    /// `PUT` with `If-None-Match: *` on a resource that exists: 412 is due.
    CreateOnlyExisting,
    /// `GET` after the refused writes: nothing may have changed.
    AfterRefused,
    /// `PUT` of the same bytes without any precondition (only an
    /// `If-Modified-Since` at `Last-Modified`, which a `PUT` must ignore):
    /// 428 or accepted, never 304 or 412.
    Unconditional,
    /// `GET` of the tag the racing writers start from.
    BeforeRace,
    /// First of two concurrent `PUT`s with `If-Match` of the same tag.
    RaceA,
    /// Second of two concurrent `PUT`s with `If-Match` of the same tag.
    RaceB,
    /// `GET` after the race: the winner's bytes must be there.
    AfterRace,
    /// `PUT` of the original bytes with `If-Match`, to leave things as found.
    Restore,
}

/// Why a request was sent: what the rules look it up by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProbeKind {
    /// The first plain `GET`; every other probe is planned from it.
    Initial,
    /// The same plain `GET` again (1, 2, …), to see whether validators hold still.
    Repeat(u8),
    /// `GET` with `If-None-Match`.
    IfNoneMatch(InmForm),
    /// `GET` with `If-Modified-Since`.
    IfModifiedSince(ImsForm),
    /// `GET` with a foreign `If-None-Match` and `If-Modified-Since` at
    /// `Last-Modified`: the date must be ignored.
    InmWithIms,
    /// `GET` with `If-None-Match` of the current tag and `If-Modified-Since`
    /// a day before `Last-Modified`: the tag decides, so 304 (stock nginx
    /// wants both to pass and answers 200).
    InmWithOldIms,
    /// `GET` with `If-Match`.
    IfMatch(IfMatchForm),
    /// `GET` with `If-Unmodified-Since`.
    IfUnmodifiedSince(IusForm),
    /// `GET` of a sibling path that should not exist, without
    /// preconditions: what its status is without them.
    MissingPlain,
    /// The same `GET` with `If-Match: *`: a failing precondition must not
    /// turn a 404 into a 412 (§13.2.1).
    MissingIfMatch,
    /// `GET` with `If-None-Match` of the current tag over a raw HTTP/1.1
    /// connection, to see the bytes after a 304's header section.
    RawNotModified,
    /// `HEAD`.
    Head,
    /// `GET` with `Range: bytes=0-N`.
    Range,
    /// `GET` with `Range` and `If-Range`.
    IfRange(IfRangeForm),
    /// `GET` with `Accept-Encoding: <coding>`.
    Encoding(String),
    /// `GET` with `Accept-Encoding: <coding>` and `If-None-Match` of the tag
    /// that coding's response carried.
    EncodingRevalidate(String),
    /// The plain `GET` sent to one node, with the URL's `Host`.
    Node(SocketAddr),
    /// `GET` to one node with `If-None-Match` of the tag the URL itself gave.
    NodeRevalidate(SocketAddr),
    /// The plain `GET` sent to the origin given with `--origin`.
    Origin,
    /// A write check (`--unsafe`).
    Write(WriteStep),
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Initial => f.write_str("GET"),
            Self::Repeat(n) => write!(f, "GET again (#{n})"),
            Self::IfNoneMatch(form) => write!(f, "If-None-Match ({form:?})"),
            Self::IfModifiedSince(form) => write!(f, "If-Modified-Since ({form:?})"),
            Self::InmWithIms => f.write_str("If-None-Match with If-Modified-Since"),
            Self::InmWithOldIms => f.write_str("matching If-None-Match with an old If-Modified-Since"),
            Self::IfMatch(form) => write!(f, "If-Match ({form:?})"),
            Self::IfUnmodifiedSince(form) => write!(f, "If-Unmodified-Since ({form:?})"),
            Self::MissingPlain => f.write_str("GET of a missing sibling"),
            Self::MissingIfMatch => f.write_str("If-Match: * on a missing sibling"),
            Self::RawNotModified => f.write_str("raw HTTP/1.1 If-None-Match"),
            Self::Head => f.write_str("HEAD"),
            Self::Range => f.write_str("Range"),
            Self::IfRange(form) => write!(f, "If-Range ({form:?})"),
            Self::Encoding(coding) => write!(f, "Accept-Encoding: {coding}"),
            Self::EncodingRevalidate(coding) => write!(f, "If-None-Match with Accept-Encoding: {coding}"),
            Self::Node(addr) => write!(f, "GET via node {addr}"),
            Self::NodeRevalidate(addr) => write!(f, "If-None-Match via node {addr}"),
            Self::Origin => f.write_str("GET from the origin"),
            Self::Write(step) => write!(f, "write {step:?}"),
        }
    }
}

/// Where a probe goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The checked URL, resolved as usual.
    Url,
    /// The checked URL's path on this node, with the URL's `Host`.
    Node(SocketAddr),
    /// The origin URL given with `--origin`.
    Origin(String),
    /// The checked URL with [`MISSING_SUFFIX`] appended to its path (the
    /// query dropped): a sibling that should not exist.
    Missing,
}

/// Appended to the checked path for [`Target::Missing`].
pub const MISSING_SUFFIX: &str = ".revalidate-check-missing";

/// A request as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The URL it went to.
    pub url: String,
    /// The header fields the checker set (the client adds `Host` and framing).
    pub headers: HeaderMap,
}

/// A response as received: status, fields and the body's bytes (cut at
/// [`BODY_CAP`]), with the length and hash of the whole body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedResponse {
    /// The status code.
    pub status: StatusCode,
    /// The HTTP version, such as `HTTP/1.1`.
    pub version: String,
    /// The header fields.
    pub headers: HeaderMap,
    /// The first [`BODY_CAP`] bytes of the body, exactly as sent (no decoding).
    pub body: Bytes,
    /// The length of the whole body.
    pub body_len: u64,
    /// BLAKE3 of the whole body, hex.
    pub body_hash: String,
}

impl RecordedResponse {
    /// A response with no fields and an empty body.
    pub fn new(status: u16) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            version: "HTTP/1.1".to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            body_len: 0,
            body_hash: blake3::hash(b"").to_hex().to_string(),
        }
    }

    /// Appends a field line; lines that are not valid fields are skipped.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.append(name, value);
        }
        self
    }

    /// Sets the whole body (its length and hash too).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        let body: Bytes = body.into();
        self.body_len = body.len() as u64;
        self.body_hash = blake3::hash(&body).to_hex().to_string();
        self.body = body;
        self
    }

    /// The first value of a field as text, if present and visible ASCII.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the field is present.
    pub fn has(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    /// All lines of a field joined by `, `, or `None` when absent.
    pub fn joined(&self, name: &str) -> Option<String> {
        let lines: Vec<String> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    }

    /// Whether two responses carry the same bytes.
    pub fn same_body(&self, other: &Self) -> bool {
        self.body_len == other.body_len && self.body_hash == other.body_hash
    }
}

/// One request and its response, or why there was none.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Why it was sent.
    pub kind: ProbeKind,
    /// What was sent.
    pub request: RecordedRequest,
    /// What came back, or why nothing did.
    pub response: Result<RecordedResponse, String>,
    /// When the request was sent.
    pub request_time: HttpDate,
    /// When the response arrived.
    pub response_time: HttpDate,
    /// How long it took, milliseconds.
    pub elapsed_ms: u64,
}

/// What the user asked for besides the URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Nodes to send the same request to (`--backend`, or every A/AAAA record).
    pub backends: Vec<SocketAddr>,
    /// The origin behind a CDN (`--origin`), already joined with the URL's path.
    pub origin: Option<String>,
    /// Whether write checks may run (`--unsafe`).
    pub unsafe_writes: bool,
}

/// Everything sent and received while checking one URL.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The checked URL.
    pub url: String,
    /// The options the check ran with.
    pub options: CheckOptions,
    /// The exchanges, in the order they were sent.
    pub exchanges: Vec<Exchange>,
}

impl Recording {
    /// An empty recording for `url`.
    pub fn new(url: impl Into<String>, options: CheckOptions) -> Self {
        Self {
            url: url.into(),
            options,
            exchanges: Vec::new(),
        }
    }

    /// Adds an exchange built from a response, at time 0 (for tests and
    /// replays); `request` names the request fields that were sent.
    pub fn with(mut self, kind: ProbeKind, request: &[(&str, &str)], response: RecordedResponse) -> Self {
        self.push_simple(kind, request, Ok(response));
        self
    }

    /// Adds an exchange that failed with `error`.
    pub fn with_failure(mut self, kind: ProbeKind, error: &str) -> Self {
        self.push_simple(kind, &[], Err(error.to_owned()));
        self
    }

    fn push_simple(
        &mut self,
        kind: ProbeKind,
        request: &[(&str, &str)],
        response: Result<RecordedResponse, String>,
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in request {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        let method = match &kind {
            ProbeKind::Head => Method::HEAD,
            ProbeKind::Write(WriteStep::AfterRefused | WriteStep::BeforeRace | WriteStep::AfterRace) => {
                Method::GET
            }
            ProbeKind::Write(_) => Method::PUT,
            _ => Method::GET,
        };
        self.exchanges.push(Exchange {
            kind,
            request: RecordedRequest {
                method,
                url: self.url.clone(),
                headers,
            },
            response,
            request_time: HttpDate::UNIX_EPOCH,
            response_time: HttpDate::UNIX_EPOCH,
            elapsed_ms: 0,
        });
    }

    /// The exchange of this kind, if it was sent.
    pub fn exchange(&self, kind: &ProbeKind) -> Option<&Exchange> {
        self.exchanges.iter().find(|e| &e.kind == kind)
    }

    /// The response to the probe of this kind, if one came back.
    pub fn response(&self, kind: &ProbeKind) -> Option<&RecordedResponse> {
        self.exchange(kind).and_then(|e| e.response.as_ref().ok())
    }

    /// Whether a probe of this kind was sent.
    pub fn sent(&self, kind: &ProbeKind) -> bool {
        self.exchange(kind).is_some()
    }

    /// The first response, when it came back.
    pub fn initial(&self) -> Option<&RecordedResponse> {
        self.response(&ProbeKind::Initial)
    }
}
