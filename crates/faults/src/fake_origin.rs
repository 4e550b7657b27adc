//! A tiny scriptable origin for the edge cases: it records every request
//! it receives (method, target, header fields, body length, when) and
//! answers with whatever its handler says, including a head followed by
//! part of the body and then silence.
//!
//! It behaves as a strict HTTP/1.1 server would about request framing: a
//! request that declares a body (`Content-Length`, `Transfer-Encoding:
//! chunked`) is answered only once that body has arrived, which is what
//! exposes a proxy that forwards framing fields without the body. Every
//! wait has a bound, and dropping the [`FakeOrigin`] closes every
//! connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How long a connection may sit idle, or a declared body take to arrive.
const WAIT_BOUND: Duration = Duration::from_secs(30);
/// How long a stalled response is held before the connection is closed,
/// when nobody calls [`FakeOrigin::release`].
const HOLD_BOUND: Duration = Duration::from_secs(60);

/// A request the fake origin received.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    /// Body bytes received (those declared may never have come).
    pub(crate) body_len: usize,
}

impl Recorded {
    /// Every value of header `name` (case-insensitive).
    pub(crate) fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).into_iter().next()
    }
}

/// What the fake origin answers.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// A whole response with `Content-Length`.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A head announcing `content_length` body bytes, then `sent` of
    /// them, then silence until [`FakeOrigin::release`] (or a bound),
    /// then the connection closes.
    Stall {
        headers: Vec<(String, String)>,
        content_length: usize,
        sent: Vec<u8>,
    },
}

impl Reply {
    /// `200 OK` with `body` and the given header fields.
    pub(crate) fn ok(headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self::Full {
            status: 200,
            headers: owned(headers),
            body: body.into(),
        }
    }
}

/// Header fields as owned pairs.
pub(crate) fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// Decides the reply to a request, given how many earlier requests had the
/// same target.
type Handler = dyn Fn(&Recorded, usize) -> Reply + Send + Sync;

struct State {
    requests: Mutex<Vec<Recorded>>,
    handler: Box<Handler>,
    release: watch::Sender<bool>,
}

/// The fake origin; dropping it closes its listener and connections.
pub(crate) struct FakeOrigin {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl Drop for FakeOrigin {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it aborts them.
        self.accept.abort();
    }
}

impl FakeOrigin {
    /// Listens on 127.0.0.1 and answers with `handler`.
    pub(crate) async fn start(
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (release, _) = watch::channel(false);
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            handler: Box::new(handler),
            release,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(Self { addr, state, accept })
    }

    /// `http://ADDR`.
    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests for `target` were received.
    pub(crate) fn count(&self, target: &str) -> usize {
        self.requests().iter().filter(|r| r.target == target).count()
    }

    /// Waits (bounded) until at least `n` requests for `target` arrived.
    pub(crate) async fn wait_for(&self, target: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.count(target) < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Ends every stalled response: their connections close.
    pub(crate) fn release(&self) {
        self.state.release.send_replace(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&state)));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let Some((mut recorded, head_len, framing)) = read_head(&mut stream, &mut buf).await else {
            return;
        };
        buf.drain(..head_len);
        // Recorded as soon as the head is in, so a case sees what arrived
        // even when the declared body never does.
        let (index, earlier) = {
            let mut requests = state.requests.lock().unwrap_or_else(PoisonError::into_inner);
            let earlier = requests.iter().filter(|r| r.target == recorded.target).count();
            requests.push(recorded.clone());
            (requests.len() - 1, earlier)
        };
        let body_complete = read_body(&mut stream, &mut buf, framing, &mut recorded).await;
        if let Some(entry) = state
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(index)
        {
            entry.body_len = recorded.body_len;
        }
        if !body_complete {
            // The declared body never came: a real server gives up and closes.
            return;
        }
        match (state.handler)(&recorded, earlier) {
            Reply::Full {
                status,
                headers,
                body,
            } => {
                let mut bytes = head(status, &headers, body.len());
                if recorded.method != "HEAD" {
                    bytes.extend_from_slice(&body);
                }
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Stall {
                headers,
                content_length,
                sent,
            } => {
                let mut bytes = head(200, &headers, content_length);
                bytes.extend_from_slice(&sent);
                if stream.write_all(&bytes).await.is_ok() {
                    let mut released = state.release.subscribe();
                    let _ = tokio::time::timeout(HOLD_BOUND, released.wait_for(|r| *r)).await;
                }
                return;
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Framing {
    None,
    Length(usize),
    Chunked,
}

async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Recorded, usize, Framing)> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let headers: Vec<(String, String)> = request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                let recorded = Recorded {
                    method: request.method.unwrap_or("").to_owned(),
                    target: request.path.unwrap_or("").to_owned(),
                    headers,
                    body_len: 0,
                };
                let chunked = recorded
                    .header("transfer-encoding")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
                let framing = if chunked {
                    Framing::Chunked
                } else {
                    match recorded
                        .header("content-length")
                        .map(|v| v.trim().parse::<usize>())
                    {
                        Some(Ok(n)) => Framing::Length(n),
                        Some(Err(_)) => return None,
                        None => Framing::None,
                    }
                };
                return Some((recorded, len, framing));
            }
            Ok(httparse::Status::Partial) if buf.len() < 64 * 1024 => {}
            _ => return None,
        }
        if !read_more(stream, buf).await {
            return None;
        }
    }
}

/// Reads the declared body; whether it all arrived in time.
async fn read_body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    framing: Framing,
    recorded: &mut Recorded,
) -> bool {
    match framing {
        Framing::None => true,
        Framing::Length(n) => {
            while buf.len() < n {
                if !read_more(stream, buf).await {
                    recorded.body_len = buf.len();
                    return false;
                }
            }
            recorded.body_len = n;
            buf.drain(..n);
            true
        }
        Framing::Chunked => loop {
            // Enough for the fake origin's clients: the body ends at the last chunk.
            if let Some(end) = buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                recorded.body_len = end;
                buf.drain(..end + 5);
                return true;
            }
            if !read_more(stream, buf).await {
                recorded.body_len = buf.len();
                return false;
            }
        },
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match tokio::time::timeout(WAIT_BOUND, stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

fn head(status: u16, headers: &[(String, String)], content_length: usize) -> Vec<u8> {
    let reason = if status == 200 { "OK" } else { "Fake" };
    let mut text = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!("Content-Length: {content_length}\r\n\r\n"));
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire;

    #[tokio::test]
    async fn it_records_requests_and_waits_for_a_declared_body() {
        let origin = FakeOrigin::start(|_, earlier| Reply::ok(&[], format!("n={earlier}")))
            .await
            .unwrap();
        let timeout = Duration::from_secs(5);
        let ending = wire::exchange(origin.addr, &wire::request("GET", "/a", &[], b""), timeout, false).await;
        assert_eq!(ending.response().unwrap().body, b"n=0");
        // A declared body that never comes: no answer, the connection closes
        // once the fake origin gives up (here: the client's deadline first).
        let started = Instant::now();
        let bytes = wire::request("GET", "/a", &[("Content-Length", "10")], b"");
        let ending = wire::exchange(origin.addr, &bytes, Duration::from_millis(300), false).await;
        assert!(matches!(ending, wire::Ending::Deadline), "{ending:?}");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(origin.wait_for("/a", 2, timeout).await);
        assert_eq!(origin.requests()[1].header("content-length"), Some("10"));
    }
}
