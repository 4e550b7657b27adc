//! The only IO: sending the planned requests and recording the answers.
//!
//! [`Transport`] is the seam: [`HttpTransport`] speaks HTTP over real
//! sockets (reqwest, with redirects and decompression off so the checker
//! sees exactly what the server sent, and a raw HTTP/1.1 connection for the
//! bytes after a 304's header section); tests may pass any other
//! implementation. [`record`] drives the [`plan`] loop.

use std::collections::HashMap;
use std::error::Error as _;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use http::header::HOST;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use reqwest::Url;
use revalidate_core::HttpDate;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::model::{
    BODY_CAP, CheckOptions, Exchange, ProbeKind, RecordedRequest, RecordedResponse, Recording, Target,
};
use crate::plan::{self, ProbeSpec};

/// The most probes in flight at once for one URL.
const IN_FLIGHT: usize = 4;

/// The most batches one check sends; the plan ends long before.
const MAX_BATCHES: usize = 32;

/// Why a URL could not be checked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The URL does not parse or is not http(s).
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("{url}: no response within {seconds} s")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        seconds: u64,
    },
    /// The host cannot be resolved or does not accept connections.
    #[error("{url}: cannot connect: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The TLS handshake failed (certificate, protocol).
    #[error("{url}: TLS error: {reason}")]
    Tls {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Anything else the HTTP client reports (a malformed response, a reset).
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Sends one probe and records the answer.
pub trait Transport: Sync {
    /// Sends `probe` for the checked `url`.
    fn send(
        &self,
        url: &Url,
        probe: &ProbeSpec,
    ) -> impl Future<Output = Result<(RecordedRequest, RecordedResponse), CheckError>> + Send;
}

/// HTTP over real sockets.
#[derive(Clone, Debug)]
pub struct HttpTransport {
    timeout: Duration,
    client: reqwest::Client,
    nodes: HashMap<SocketAddr, reqwest::Client>,
    extra: HeaderMap,
}

/// Fields `--header` may not set: the probes' own questions (a fixed
/// `If-None-Match` or `Range` would change every answer the rules read)
/// and the framing the HTTP client writes.
const PROBE_OWNED: [&str; 9] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "range",
    "content-length",
    "transfer-encoding",
    "connection",
];

/// Parses one `--header 'Name: value'`: a field name, a colon, a value
/// (surrounding whitespace dropped). Refuses what is not a valid field and
/// the fields the probes set themselves; the message is one line.
///
/// ```
/// use revalidate_checker::probe::parse_header_field;
///
/// let (name, value) = parse_header_field("Authorization: Bearer abc").unwrap();
/// assert_eq!((name.as_str(), value.to_str().unwrap()), ("authorization", "Bearer abc"));
/// assert!(parse_header_field("If-None-Match: \"x\"").is_err()); // the probes' own field
/// assert!(parse_header_field("no colon").is_err());
/// ```
pub fn parse_header_field(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(format!("--header {text:?}: expected 'Name: value' with a colon"));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("--header {text:?}: {:?} is not a valid field name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        format!("--header {text:?}: the value has a control character or a byte that is not visible ASCII")
    })?;
    if PROBE_OWNED.contains(&name.as_str()) {
        return Err(format!(
            "--header {text:?}: {name} is set by the probes themselves (conditional requests, ranges, framing) and cannot be given"
        ));
    }
    Ok((name, value))
}

/// The fields one probe sends: its own, then each `extra` (`--header`)
/// field whose name the probe does not set itself, so a probe's
/// conditional fields, `Range` or `Accept-Encoding` always win. The extra
/// values are marked sensitive: reports show them redacted.
pub fn with_extra_fields(own: &HeaderMap, extra: &HeaderMap) -> HeaderMap {
    let mut fields = own.clone();
    for name in extra.keys() {
        if own.contains_key(name) {
            continue;
        }
        for value in extra.get_all(name) {
            let mut value = value.clone();
            value.set_sensitive(true);
            fields.append(name.clone(), value);
        }
    }
    fields
}

fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        // Redirects are reported, not followed (the initial 3xx is a finding).
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        // A fresh connection per probe: a server that writes a body after a
        // 304 would otherwise corrupt the next answer on the same connection.
        .pool_max_idle_per_host(0)
        .user_agent(concat!("revalidate-check/", env!("CARGO_PKG_VERSION")))
}

impl HttpTransport {
    /// A transport for `url` with this timeout per request, able to reach
    /// each of `nodes` directly.
    pub fn new(url: &Url, nodes: &[SocketAddr], timeout: Duration) -> Result<Self, CheckError> {
        let build = |builder: reqwest::ClientBuilder| {
            builder.build().map_err(|e| CheckError::Http {
                url: url.to_string(),
                reason: format!("cannot build the HTTP client: {e}"),
            })
        };
        let client = build(client_builder(timeout))?;
        let mut clients = HashMap::new();
        for node in nodes {
            let mut builder = client_builder(timeout);
            if let Some(host) = url.domain() {
                builder = builder.resolve(host, *node);
            }
            clients.insert(*node, build(builder)?);
        }
        Ok(Self {
            timeout,
            client,
            nodes: clients,
            extra: HeaderMap::new(),
        })
    }

    /// Sends `fields` (`--header`) with every probe, under the rule of
    /// [`with_extra_fields`].
    pub fn with_headers(mut self, fields: HeaderMap) -> Self {
        self.extra = fields;
        self
    }
}

/// The URL to send a probe to, and the `Host` to send with it when that
/// differs from the URL's own.
fn destination(url: &Url, target: &Target) -> Result<(Url, Option<HeaderValue>), CheckError> {
    let invalid = |reason: String| CheckError::InvalidUrl {
        url: url.to_string(),
        reason,
    };
    match target {
        Target::Url => Ok((url.clone(), None)),
        Target::Missing => {
            let mut to = url.clone();
            to.set_path(&format!("{}{}", url.path(), crate::model::MISSING_SUFFIX));
            to.set_query(None);
            Ok((to, None))
        }
        Target::Origin(origin) => Url::parse(origin)
            .map(|u| (u, None))
            .map_err(|e| invalid(format!("--origin: {e}"))),
        Target::Node(node) => {
            let authority = match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_owned(),
            };
            let host = HeaderValue::from_str(&authority).map_err(|e| invalid(e.to_string()))?;
            let mut to = url.clone();
            if url.domain().is_none() {
                to.set_ip_host(node.ip())
                    .map_err(|()| invalid("cannot set the node".to_owned()))?;
            }
            // With a name, the client resolves it to the node (so TLS still
            // names the host); the node's port goes in the URL either way.
            to.set_port(Some(node.port()))
                .map_err(|()| invalid("cannot set the port".to_owned()))?;
            Ok((to, Some(host)))
        }
    }
}

/// The checker's clock, with the core's one fallback for a clock outside
/// 1970..=9999.
fn now() -> HttpDate {
    HttpDate::saturating_from_system_time(SystemTime::now())
}

/// Sorts a client error into the kinds a user can act on.
pub(crate) fn classify(url: &str, timeout: Duration, error: &reqwest::Error) -> CheckError {
    let url = url.to_owned();
    if error.is_timeout() {
        return CheckError::Timeout {
            url,
            seconds: timeout.as_secs().max(1),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    let mut innermost = error.to_string();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return CheckError::Tls {
                url,
                reason: tls.to_string(),
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return CheckError::Tls {
                    url,
                    reason: tls.to_string(),
                };
            }
            // hyper-rustls reports a peer that hangs up mid-handshake (a
            // plain-HTTP port behind an https:// URL) as an io::Error.
            if io.to_string().contains("tls handshake") {
                return CheckError::Tls {
                    url,
                    reason: format!("{io} (is the port speaking TLS?)"),
                };
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return CheckError::Timeout {
                    url,
                    seconds: timeout.as_secs().max(1),
                };
            }
        }
        innermost = cause.to_string();
        source = cause.source();
    }
    if error.is_connect() {
        let reason = if innermost.contains("dns error") || innermost.contains("failed to lookup") {
            format!("cannot resolve the host ({innermost})")
        } else {
            innermost
        };
        return CheckError::Unreachable { url, reason };
    }
    CheckError::Http {
        url,
        reason: innermost,
    }
}

impl Transport for HttpTransport {
    async fn send(
        &self,
        url: &Url,
        probe: &ProbeSpec,
    ) -> Result<(RecordedRequest, RecordedResponse), CheckError> {
        let (to, host) = destination(url, &probe.target)?;
        let mut headers = with_extra_fields(&probe.headers, &self.extra);
        if let Some(host) = host {
            headers.insert(HOST, host);
        }
        let request = RecordedRequest {
            method: probe.method.clone(),
            url: to.to_string(),
            headers: headers.clone(),
        };
        if probe.raw {
            let response = raw_exchange(&to, &probe.target, &request, self.timeout).await?;
            return Ok((request, response));
        }
        let client = match &probe.target {
            Target::Node(node) => self.nodes.get(node).unwrap_or(&self.client),
            Target::Url | Target::Missing | Target::Origin(_) => &self.client,
        };
        let mut builder = client.request(probe.method.clone(), to.clone()).headers(headers);
        if let Some(body) = &probe.body {
            builder = builder.body(body.clone());
        }
        let to_text = to.to_string();
        let mut response = builder
            .send()
            .await
            .map_err(|e| classify(&to_text, self.timeout, &e))?;
        let mut recorded = RecordedResponse::new(response.status().as_u16());
        recorded.status = response.status();
        recorded.version = format!("{:?}", response.version());
        recorded.headers = response.headers().clone();
        let mut hasher = blake3::Hasher::new();
        let mut kept = BytesMut::new();
        let mut length = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify(&to_text, self.timeout, &e))?
        {
            hasher.update(&chunk);
            length += chunk.len() as u64;
            let room = BODY_CAP.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        recorded.body = kept.freeze();
        recorded.body_len = length;
        recorded.body_hash = hasher.finalize().to_hex().to_string();
        Ok((request, recorded))
    }
}

/// Hand-written on purpose: no HTTP client hands over the bytes a server sends after a 304.
///
/// One request over a fresh plain-TCP HTTP/1.1 connection: the header
/// section parsed by httparse, and every byte after it kept, whatever the
/// status. hyper (rightly) never reads content after a 304, so this is the
/// only way to see a server that sends some.
async fn raw_exchange(
    to: &Url,
    target: &Target,
    request: &RecordedRequest,
    timeout: Duration,
) -> Result<RecordedResponse, CheckError> {
    let url = to.to_string();
    let io_error = |e: std::io::Error| CheckError::Unreachable {
        url: url.clone(),
        reason: e.to_string(),
    };
    let host = to.host_str().unwrap_or_default().to_owned();
    let port = to.port_or_known_default().unwrap_or(80);
    let connect = async {
        match target {
            Target::Node(node) => tokio::net::TcpStream::connect(*node).await,
            Target::Url | Target::Missing | Target::Origin(_) => {
                tokio::net::TcpStream::connect((host.as_str(), port)).await
            }
        }
    };
    let timed_out = || CheckError::Timeout {
        url: url.clone(),
        seconds: timeout.as_secs().max(1),
    };
    let mut stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| timed_out())?
        .map_err(io_error)?;
    let query = to.query().map(|q| format!("?{q}")).unwrap_or_default();
    let mut head = format!("{} {}{query} HTTP/1.1\r\n", request.method, to.path()).into_bytes();
    if !request.headers.contains_key(HOST) {
        let authority = match to.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        head.extend_from_slice(format!("host: {authority}\r\n").as_bytes());
    }
    for (name, value) in &request.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    tokio::time::timeout(timeout, stream.write_all(&head))
        .await
        .map_err(|_| timed_out())?
        .map_err(io_error)?;
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + timeout;
    let mut head_end: Option<usize> = None;
    loop {
        // Before the header section is complete, wait up to the timeout;
        // after it, stop at the first second of silence: a server that keeps
        // the connection open after a bodiless 304 is not an error.
        let wait = match head_end {
            None => deadline.saturating_duration_since(Instant::now()),
            Some(_) => Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())),
        };
        let read = match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
            Err(_) if head_end.is_some() => break,
            Err(_) => return Err(timed_out()),
            Ok(read) => read.map_err(io_error)?,
        };
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
        if head_end.is_none() {
            head_end = parse_head(&received, &url)?.map(|(end, _)| end);
        }
        if received.len() > BODY_CAP {
            break;
        }
    }
    let Some((end, mut response)) = parse_head(&received, &url)? else {
        return Err(CheckError::Http {
            url,
            reason: "the connection closed before a complete header section".to_owned(),
        });
    };
    response = response.body(Bytes::copy_from_slice(&received[end..]));
    Ok(response)
}

/// The end offset and the response of a complete header section, or
/// `None` when more bytes are needed.
fn parse_head(bytes: &[u8], url: &str) -> Result<Option<(usize, RecordedResponse)>, CheckError> {
    let mut fields = [httparse::EMPTY_HEADER; 128];
    let mut head = httparse::Response::new(&mut fields);
    let status = head.parse(bytes).map_err(|e| CheckError::Http {
        url: url.to_owned(),
        reason: format!("malformed response head: {e}"),
    })?;
    let httparse::Status::Complete(end) = status else {
        return Ok(None);
    };
    let mut response = RecordedResponse::new(head.code.unwrap_or(500));
    response.status = StatusCode::from_u16(head.code.unwrap_or(500)).unwrap_or(StatusCode::BAD_GATEWAY);
    response.version = format!("HTTP/1.{}", head.version.unwrap_or(1));
    let mut headers = HeaderMap::new();
    for field in head.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(field.name.as_bytes()),
            HeaderValue::from_bytes(field.value),
        ) {
            headers.append(name, value);
        }
    }
    response.headers = headers;
    Ok(Some((end, response)))
}

/// The nodes to compare for `url`: `backends` when given, else every
/// A/AAAA record of the host when there are several. An IP literal or a
/// name with one address has no nodes to compare.
pub async fn nodes_of(url: &Url, backends: &[SocketAddr]) -> Vec<SocketAddr> {
    if !backends.is_empty() {
        return backends.to_vec();
    }
    let (Some(host), Some(port)) = (url.domain(), url.port_or_known_default()) else {
        return Vec::new();
    };
    if host.parse::<IpAddr>().is_ok() {
        return Vec::new();
    }
    let mut addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, port)).await {
        Ok(found) => found.collect(),
        Err(_) => return Vec::new(),
    };
    addrs.sort();
    addrs.dedup();
    if addrs.len() < 2 { Vec::new() } else { addrs }
}

/// `--origin` joined with the checked URL: an origin given without a path
/// takes the URL's path and query.
pub fn origin_for(origin: &str, url: &Url) -> Result<String, CheckError> {
    let mut parsed = Url::parse(origin).map_err(|e| CheckError::InvalidUrl {
        url: origin.to_owned(),
        reason: format!("--origin: {e}"),
    })?;
    if (parsed.path() == "/" || parsed.path().is_empty()) && parsed.query().is_none() {
        parsed.set_path(url.path());
        parsed.set_query(url.query());
    }
    Ok(parsed.to_string())
}

/// Parses and checks a URL given on the command line.
pub fn parse_url(url: &str) -> Result<Url, CheckError> {
    let parsed = Url::parse(url).map_err(|e| CheckError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(CheckError::InvalidUrl {
            url: url.to_owned(),
            reason: "only http:// and https:// URLs with a host can be checked".to_owned(),
        });
    }
    Ok(parsed)
}

/// Sends the planned probes for `url` through `transport` until the plan
/// is complete. Fails only when the first request fails; later failures
/// are recorded in the exchange.
pub async fn record<T: Transport>(
    transport: &T,
    url: &Url,
    options: CheckOptions,
) -> Result<Recording, CheckError> {
    let mut recording = Recording::new(url.to_string(), options);
    for _ in 0..MAX_BATCHES {
        let Some(batch) = plan::next_batch(&recording) else {
            break;
        };
        let send = |probe: ProbeSpec| async move {
            let request_time = now();
            let started = Instant::now();
            let result = transport.send(url, &probe).await;
            (probe, request_time, started.elapsed(), result)
        };
        let results: Vec<_> = if batch.concurrent {
            futures_util::stream::iter(batch.probes)
                .map(send)
                .buffered(IN_FLIGHT)
                .collect()
                .await
        } else {
            let mut results = Vec::new();
            for probe in batch.probes {
                results.push(send(probe).await);
            }
            results
        };
        for (probe, request_time, elapsed, result) in results {
            let (request, response) = match result {
                Ok((request, response)) => (request, Ok(response)),
                Err(error) if probe.kind == ProbeKind::Initial => return Err(error),
                Err(error) => (
                    RecordedRequest {
                        method: probe.method.clone(),
                        url: url.to_string(),
                        headers: probe.headers.clone(),
                    },
                    Err(error.to_string()),
                ),
            };
            recording.exchanges.push(Exchange {
                kind: probe.kind,
                request,
                response,
                request_time,
                response_time: now(),
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            });
        }
    }
    Ok(recording)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_needs_a_colon_a_valid_name_and_value_and_not_a_probe_field() {
        let (name, value) = parse_header_field("Authorization:  Bearer abc ").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("authorization", "Bearer abc")
        );
        let (name, value) = parse_header_field("Cookie: a=1; b=2").unwrap();
        assert_eq!((name.as_str(), value.to_str().unwrap()), ("cookie", "a=1; b=2"));
        for (bad, says) in [
            ("Authorization Bearer", "colon"),
            ("Bad Name: x", "not a valid field name"),
            (": x", "not a valid field name"),
            ("X-Ok: a\u{7f}b", "control character"),
            ("If-None-Match: \"v1\"", "set by the probes"),
            ("range: bytes=0-1", "set by the probes"),
        ] {
            let error = parse_header_field(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn the_probes_own_fields_win_and_extra_values_are_sensitive() {
        let mut own = HeaderMap::new();
        own.insert("accept-encoding", HeaderValue::from_static("gzip"));
        let mut extra = HeaderMap::new();
        extra.insert("accept-encoding", HeaderValue::from_static("br"));
        extra.append("cookie", HeaderValue::from_static("a=1"));
        extra.append("cookie", HeaderValue::from_static("b=2"));
        let fields = with_extra_fields(&own, &extra);
        assert_eq!(fields.get_all("accept-encoding").iter().count(), 1);
        assert_eq!(fields["accept-encoding"], "gzip");
        assert!(!fields["accept-encoding"].is_sensitive());
        let cookies: Vec<_> = fields.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(cookies.iter().all(|v| v.is_sensitive()));
    }
}
