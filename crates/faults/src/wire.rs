//! Raw HTTP/1.1 over `TcpStream`s: requests written byte for byte
//! (malformed or slow ones included) and responses read with a deadline,
//! keeping what a client library would hide: whether the body ended as
//! its framing promised, or was cut short.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The largest response head read.
const MAX_HEAD: usize = 64 * 1024;

/// How a response body ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyEnd {
    /// All of it, as its framing says (`Content-Length` bytes, the last
    /// chunk, or no body by status).
    Complete,
    /// The connection closed before the framing was satisfied (for a body
    /// without length, the close is its end: [`BodyEnd::Complete`]).
    Truncated,
    /// The connection was reset before the framing was satisfied.
    Reset,
    /// The deadline passed with the body unfinished.
    Deadline,
}

/// A response as read off the wire.
#[derive(Clone, Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) end: BodyEnd,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub(crate) fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is an RFC 9457 problem document.
    pub(crate) fn is_problem_json(&self) -> bool {
        self.header("content-type")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/problem+json"))
    }

    /// The status and how the body ended, for figures.
    pub(crate) fn summary(&self) -> String {
        match self.end {
            BodyEnd::Complete => format!("{}", self.status),
            BodyEnd::Truncated => format!("{} (body cut at {} bytes)", self.status, self.body.len()),
            BodyEnd::Reset => format!("{} (reset after {} body bytes)", self.status, self.body.len()),
            BodyEnd::Deadline => format!("{} (body stalled at {} bytes)", self.status, self.body.len()),
        }
    }
}

/// How an exchange ended.
#[derive(Clone, Debug)]
pub(crate) enum Ending {
    /// A response head arrived (the body may be cut short: see its `end`).
    Response(RawResponse),
    /// The server closed the connection without a response.
    Closed,
    /// The connection was reset (or could not be opened) without a response.
    Reset(String),
    /// No complete response head before the deadline.
    Deadline,
}

impl Ending {
    /// The response, if one arrived.
    pub(crate) fn response(&self) -> Option<&RawResponse> {
        match self {
            Self::Response(response) => Some(response),
            _ => None,
        }
    }

    /// The status, if a response arrived.
    pub(crate) fn status(&self) -> Option<u16> {
        self.response().map(|r| r.status)
    }

    /// For figures.
    pub(crate) fn summary(&self) -> String {
        match self {
            Self::Response(response) => response.summary(),
            Self::Closed => "closed without a response".to_owned(),
            Self::Reset(why) => format!("reset without a response ({why})"),
            Self::Deadline => "no response before the deadline".to_owned(),
        }
    }
}

/// A request head (and body): `Host` is added unless given, and
/// `Content-Length` for a non-empty body unless framing is given.
pub(crate) fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\n");
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        out.push_str("Host: faults.invalid\r\n");
    }
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Connects within `timeout`.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(stream) => stream,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// Opens a connection, writes `bytes`, reads one response; everything
/// within `timeout`.
pub(crate) async fn exchange(addr: SocketAddr, bytes: &[u8], timeout: Duration, head: bool) -> Ending {
    let deadline = Instant::now() + timeout;
    let mut stream = match connect(addr, timeout).await {
        Ok(stream) => stream,
        Err(e) => return Ending::Reset(format!("connect: {e}")),
    };
    match tokio::time::timeout_at(deadline, stream.write_all(bytes)).await {
        Ok(Ok(())) => {}
        // The server may have answered and closed before taking everything.
        Ok(Err(_)) => {}
        Err(_) => return Ending::Deadline,
    }
    read_response(&mut stream, deadline, head).await
}

/// Writes `head` then `body` (in pieces, while reading) and reads the
/// response: a server that answers early and stops reading still has its
/// answer read, as a client that streams an upload would.
pub(crate) async fn exchange_upload(addr: SocketAddr, head: &[u8], body: &[u8], timeout: Duration) -> Ending {
    let deadline = Instant::now() + timeout;
    let stream = match connect(addr, timeout).await {
        Ok(stream) => stream,
        Err(e) => return Ending::Reset(format!("connect: {e}")),
    };
    let (mut reader, mut writer) = stream.into_split();
    let mut upload = head.to_vec();
    upload.extend_from_slice(body);
    let writing = tokio::spawn(async move {
        for piece in upload.chunks(16 * 1024) {
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
        // Keep the write half open until the response is read.
        std::future::pending::<()>().await;
    });
    let ending = read_response(&mut reader, deadline, false).await;
    writing.abort();
    ending
}

/// Reads one response (skipping `1xx`) from `stream` until `deadline`.
pub(crate) async fn read_response(
    stream: &mut (impl AsyncRead + Unpin),
    deadline: Instant,
    head_request: bool,
) -> Ending {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let (status, headers, head_len) = loop {
            if let Some(parsed) = parse_head(&buf) {
                break parsed;
            }
            if buf.len() > MAX_HEAD {
                return Ending::Reset("response head too large".to_owned());
            }
            match read_some(stream, &mut buf, deadline).await {
                Read::Data => {}
                Read::Eof if buf.is_empty() => return Ending::Closed,
                Read::Eof => return Ending::Reset("closed inside the response head".to_owned()),
                Read::Reset(e) => return Ending::Reset(e),
                Read::Deadline => return Ending::Deadline,
            }
        };
        buf.drain(..head_len);
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
            end: BodyEnd::Complete,
        };
        let no_body = head_request || status == 204 || status == 304;
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = response
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok());
        response.end = if no_body {
            BodyEnd::Complete
        } else if chunked {
            read_chunked(stream, buf, deadline, &mut response.body).await
        } else if let Some(length) = length {
            response.body = buf;
            read_length(stream, length, deadline, &mut response.body).await
        } else {
            response.body = buf;
            read_to_end(stream, deadline, &mut response.body).await
        };
        return Ending::Response(response);
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(buf: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let headers = response
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect();
            Some((response.code.unwrap_or(0), headers, len))
        }
        _ => None,
    }
}

enum Read {
    Data,
    Eof,
    Reset(String),
    Deadline,
}

async fn read_some(stream: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>, deadline: Instant) -> Read {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        Ok(Ok(0)) => Read::Eof,
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Read::Data
        }
        Ok(Err(e)) => Read::Reset(e.to_string()),
        Err(_) => Read::Deadline,
    }
}

fn cut(read: Read) -> BodyEnd {
    match read {
        Read::Data => BodyEnd::Complete,
        Read::Eof => BodyEnd::Truncated,
        Read::Reset(_) => BodyEnd::Reset,
        Read::Deadline => BodyEnd::Deadline,
    }
}

async fn read_length(
    stream: &mut (impl AsyncRead + Unpin),
    length: usize,
    deadline: Instant,
    body: &mut Vec<u8>,
) -> BodyEnd {
    while body.len() < length {
        match read_some(stream, body, deadline).await {
            Read::Data => {}
            other => return cut(other),
        }
    }
    body.truncate(length);
    BodyEnd::Complete
}

async fn read_to_end(
    stream: &mut (impl AsyncRead + Unpin),
    deadline: Instant,
    body: &mut Vec<u8>,
) -> BodyEnd {
    loop {
        match read_some(stream, body, deadline).await {
            Read::Data => {}
            Read::Eof => return BodyEnd::Complete,
            other => return cut(other),
        }
    }
}

/// Decodes a chunked body into `body`; `buf` holds bytes already read.
async fn read_chunked(
    stream: &mut (impl AsyncRead + Unpin),
    mut buf: Vec<u8>,
    deadline: Instant,
    body: &mut Vec<u8>,
) -> BodyEnd {
    loop {
        // A chunk-size line.
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            match read_some(stream, &mut buf, deadline).await {
                Read::Data => {}
                other => return cut(other),
            }
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            return BodyEnd::Truncated;
        };
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers end with an empty line; a missing one still ends the body.
            return BodyEnd::Complete;
        }
        while buf.len() < size + 2 {
            match read_some(stream, &mut buf, deadline).await {
                Read::Data => {}
                other => {
                    let have = buf.len().min(size);
                    body.extend_from_slice(&buf[..have]);
                    return cut(other);
                }
            }
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// Waits until the peer closes `stream` (EOF or reset), discarding what it
/// sends, or until `deadline`: when it closed, or `None`.
pub(crate) async fn wait_closed(stream: &mut (impl AsyncRead + Unpin), deadline: Instant) -> Option<Instant> {
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &'static [u8]) -> Ending {
        let mut reader = bytes;
        read_response(&mut reader, Instant::now() + Duration::from_secs(5), false).await
    }

    #[tokio::test]
    async fn a_body_shorter_than_its_content_length_is_truncated() {
        let ending = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345").await;
        let response = ending.response().unwrap();
        assert_eq!((response.status, response.end), (200, BodyEnd::Truncated));
        let ending = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345").await;
        assert_eq!(ending.response().unwrap().end, BodyEnd::Complete);
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_a_missing_last_chunk_is_truncation() {
        let ending =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
                .await;
        let response = ending.response().unwrap();
        assert_eq!(
            (response.body.as_slice(), response.end),
            (&b"abcde"[..], BodyEnd::Complete)
        );
        let ending = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n").await;
        assert_eq!(ending.response().unwrap().end, BodyEnd::Truncated);
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_and_silence_is_closed() {
        let ending =
            parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(ending.status(), Some(413));
        assert!(matches!(parse(b"").await, Ending::Closed));
    }

    #[test]
    fn requests_get_host_and_length() {
        let bytes = request("PUT", "/a", &[("Content-Type", "application/json")], b"{}");
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "PUT /a HTTP/1.1\r\nHost: faults.invalid\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
