//! A small HTTP/1.1 server over raw sockets that serves one resource
//! correctly, or broken in exactly one way ([`Breakage`]), and helpers to
//! run the checker against it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use revalidate_checker::{Settings, UrlReport};
use revalidate_core::{EntityTag, HttpDate, Outcome, Preconditions, Validators};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// `Last-Modified` of the resource: 2023-11-14.
pub(crate) const LAST_MODIFIED: u64 = 1_700_000_000;

/// One way to be wrong. `Breakage::default()` is a correct server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Breakage {
    pub(crate) no_validators: bool,
    /// 304 to any If-None-Match, matching or not.
    pub(crate) not_modified_for_any_tag: bool,
    /// Writes the body after a 304's header section.
    pub(crate) body_on_304: bool,
    /// Honours Range whatever If-Range says.
    pub(crate) if_range_ignored: bool,
    /// Evaluates If-Modified-Since before (and regardless of) If-None-Match.
    pub(crate) ims_before_inm: bool,
    /// Answers 304 only when both If-None-Match and If-Modified-Since
    /// pass, as stock nginx does.
    pub(crate) ims_and_inm_both_required: bool,
    /// Answers 304 to If-Modified-Since only when it equals Last-Modified,
    /// as stock nginx does (`if_modified_since exact`).
    pub(crate) ims_exact_only: bool,
    /// Answers 304 to an If-Modified-Since that is not a date.
    pub(crate) ims_invalid_not_ignored: bool,
    /// Answers 304 to a PUT with If-Modified-Since at Last-Modified.
    pub(crate) ims_on_put: bool,
    /// Ignores If-Match on GET and HEAD.
    pub(crate) if_match_ignored_on_read: bool,
    /// Compares If-Match weakly: the W/ form of the current tag matches.
    pub(crate) if_match_weak_compare: bool,
    /// Compares If-Match as a whole string: lists and `*` fail.
    pub(crate) if_match_string_compare: bool,
    /// Ignores If-Unmodified-Since on GET and HEAD.
    pub(crate) ius_ignored_on_read: bool,
    /// Evaluates If-Unmodified-Since even next to If-Match, as stock nginx does.
    pub(crate) ius_not_ignored_with_if_match: bool,
    /// Answers 412 to an If-Unmodified-Since that is not a date.
    pub(crate) ius_invalid_refused: bool,
    /// Compares If-Unmodified-Since with `<` instead of `<=`: 412 at Last-Modified.
    pub(crate) ius_equal_refused: bool,
    /// Evaluates If-Match on a missing path: 412 instead of 404.
    pub(crate) preconditions_before_not_found: bool,
    /// HEAD gets another ETag than GET.
    pub(crate) head_other_etag: bool,
    /// 304s leave out Vary.
    pub(crate) no_vary_on_304: bool,
    /// The gzip variant keeps the identity's strong ETag.
    pub(crate) same_etag_for_gzip: bool,
    /// Compares If-None-Match as a whole string, so W/ forms and lists fail.
    pub(crate) inm_string_compare: bool,
    /// The ETag changes on every response.
    pub(crate) unstable_etag: bool,
    /// Checks If-Match, waits, then writes: racing writers both win.
    pub(crate) racy_writes: bool,
    /// Ignores If-Match and If-Unmodified-Since on PUT altogether.
    pub(crate) ignores_write_preconditions: bool,
    /// Answers PUT without a precondition with 428.
    pub(crate) require_preconditions: bool,
    /// Mixed into the ETag: another node's inode number, say.
    pub(crate) node_salt: Option<&'static str>,
    /// Replaces the content (a CDN's old copy, another deploy).
    pub(crate) content: Option<&'static str>,
    /// Extra fields on every response (`Age`, `X-Cache`, `Cache-Control`).
    pub(crate) extra: Vec<(&'static str, &'static str)>,
    /// Replaces `Cache-Control`.
    pub(crate) cache_control: Option<&'static str>,
    /// A field every request must carry with this value, else 401 (a
    /// resource behind a cookie or a token).
    pub(crate) require: Option<(&'static str, &'static str)>,
}

struct State {
    body: Vec<u8>,
    version: u64,
    modified: u64,
    served: u64,
}

/// A running test server; it stops when dropped.
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// The header section of every request received, in order.
    pub(crate) received: Arc<std::sync::Mutex<Vec<(Method, HeaderMap)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub(crate) fn url(&self) -> String {
        format!("http://{}/doc", self.addr)
    }
}

fn default_content() -> Vec<u8> {
    b"{\"text\": \"the quick brown fox jumps over the lazy dog\", \"n\": 1}\n".to_vec()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut fields);
        if let httparse::Status::Complete(end) = request.parse(&buffer).ok()? {
            let method = Method::from_bytes(request.method?.as_bytes()).ok()?;
            let path = request.path?.to_owned();
            let mut headers = HeaderMap::new();
            for field in request.headers.iter() {
                headers.append(
                    HeaderName::from_bytes(field.name.as_bytes()).ok()?,
                    HeaderValue::from_bytes(field.value).ok()?,
                );
            }
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .unwrap_or(0);
            let mut body = buffer[end..].to_vec();
            while body.len() < length {
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some(Request {
                method,
                path,
                headers,
                body,
            });
        }
    }
}

/// Starts the server on 127.0.0.1:0.
pub(crate) async fn serve(breakage: Breakage) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let content = breakage
        .content
        .map_or_else(default_content, |c| c.as_bytes().to_vec());
    let state = Arc::new(tokio::sync::Mutex::new(State {
        body: content,
        version: 1,
        modified: LAST_MODIFIED,
        served: 0,
    }));
    let breakage = Arc::new(breakage);
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = received.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (state, breakage, log) = (state.clone(), breakage.clone(), log.clone());
            tokio::spawn(async move {
                let Some(request) = read_request(&mut stream).await else {
                    return;
                };
                log.lock()
                    .unwrap()
                    .push((request.method.clone(), request.headers.clone()));
                let response = respond(&state, &breakage, request).await;
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    TestServer { addr, received, task }
}

fn tag_for(breakage: &Breakage, body: &[u8], suffix: &str, served: u64) -> EntityTag {
    let hash = blake3::hash(body).to_hex();
    let mut opaque = format!("{}{suffix}", &hash[..16]);
    if let Some(salt) = breakage.node_salt {
        opaque.push('-');
        opaque.push_str(salt);
    }
    if breakage.unstable_etag {
        opaque.push_str(&format!("-{served}"));
    }
    EntityTag::strong(opaque).unwrap()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn respond(state: &tokio::sync::Mutex<State>, breakage: &Breakage, request: Request) -> Vec<u8> {
    let authorised = breakage
        .require
        .is_none_or(|(name, value)| request.headers.get(name).is_some_and(|v| v == value));
    let reply = if !authorised {
        Reply {
            status: 401,
            headers: Vec::new(),
            body: Vec::new(),
        }
    } else if request.method == Method::PUT {
        write(state, breakage, &request).await
    } else {
        read(state, breakage, &request).await
    };
    let mut out = format!("HTTP/1.1 {} X\r\n", reply.status).into_bytes();
    for (name, value) in &reply.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    let bodiless = request.method == Method::HEAD || (reply.status == 304 && !breakage.body_on_304);
    if reply.status != 304 {
        out.extend_from_slice(format!("content-length: {}\r\n", reply.body.len()).as_bytes());
    }
    out.extend_from_slice(
        format!(
            "date: {}\r\nconnection: close\r\n\r\n",
            HttpDate::from_unix_seconds(now()).unwrap()
        )
        .as_bytes(),
    );
    if !bodiless {
        out.extend_from_slice(&reply.body);
    }
    out
}

async fn read(state: &tokio::sync::Mutex<State>, breakage: &Breakage, request: &Request) -> Reply {
    if request.path.ends_with(revalidate_checker::model::MISSING_SUFFIX) {
        let status = if breakage.preconditions_before_not_found && request.headers.contains_key("if-match") {
            412
        } else {
            404
        };
        return Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let mut state = state.lock().await;
    state.served += 1;
    let wants_gzip = request
        .headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let (body, suffix) = if wants_gzip {
        (
            gzip(&state.body),
            if breakage.same_etag_for_gzip { "" } else { "-gzip" },
        )
    } else {
        (state.body.clone(), "")
    };
    let mut tag = tag_for(breakage, &state.body, suffix, state.served);
    if breakage.head_other_etag && request.method == Method::HEAD {
        tag = EntityTag::strong("head-tag").unwrap();
    }
    let modified = HttpDate::from_unix_seconds(state.modified).unwrap();
    let mut headers: Vec<(String, String)> = vec![
        ("content-type".into(), "application/json".into()),
        (
            "cache-control".into(),
            breakage.cache_control.unwrap_or("max-age=60").into(),
        ),
        ("vary".into(), "accept-encoding".into()),
        ("accept-ranges".into(), "bytes".into()),
    ];
    if !breakage.no_validators {
        headers.push(("etag".into(), tag.to_string()));
        headers.push(("last-modified".into(), modified.to_string()));
    }
    if wants_gzip {
        headers.push(("content-encoding".into(), "gzip".into()));
    }
    for (name, value) in &breakage.extra {
        headers.push(((*name).into(), (*value).into()));
    }
    let current = if breakage.no_validators {
        Validators::new()
    } else {
        Validators::new()
            .with_etag(tag.clone())
            .with_last_modified(modified)
    };
    let mut fields = request.headers.clone();
    if breakage.if_match_ignored_on_read {
        fields.remove("if-match");
    }
    if breakage.ius_ignored_on_read {
        fields.remove("if-unmodified-since");
    }
    let if_match = fields
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(if_match) = &if_match {
        // Taken as a match: the precondition is dropped; as a failure: 412.
        if breakage.if_match_weak_compare && *if_match == tag.clone().into_weak().to_string() {
            fields.remove("if-match");
        }
        if breakage.if_match_string_compare && *if_match != tag.to_string() {
            fields.insert("if-match", HeaderValue::from_static("\"no-such-tag\""));
        }
    }
    let ius = fields
        .get("if-unmodified-since")
        .map(|v| HttpDate::parse(v.as_bytes()));
    let ius_refused = match ius {
        Some(Err(_)) => breakage.ius_invalid_refused,
        Some(Ok(date)) => {
            (breakage.ius_equal_refused && date == modified)
                || (breakage.ius_not_ignored_with_if_match && if_match.is_some() && date < modified)
        }
        None => false,
    };
    if ius_refused {
        return Reply {
            status: 412,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let mut outcome = Preconditions::from_headers(&fields).evaluate(
        &request.method,
        &current,
        HttpDate::from_unix_seconds(now()).unwrap(),
    );
    let inm = request.headers.get("if-none-match").and_then(|v| v.to_str().ok());
    if breakage.not_modified_for_any_tag && inm.is_some() {
        outcome = Outcome::NotModified;
    }
    if breakage.inm_string_compare
        && let Some(inm) = inm
    {
        outcome = if inm == tag.to_string() || inm == "*" {
            Outcome::NotModified
        } else {
            Outcome::Proceed
        };
    }
    if breakage.ims_before_inm
        && let Some(ims) = request.headers.get("if-modified-since")
        && HttpDate::parse(ims.as_bytes()).is_ok_and(|d| d >= modified)
    {
        outcome = Outcome::NotModified;
    }
    if breakage.ims_and_inm_both_required
        && outcome == Outcome::NotModified
        && let Some(ims) = request.headers.get("if-modified-since")
        && HttpDate::parse(ims.as_bytes()).is_ok_and(|d| d < modified)
    {
        outcome = Outcome::Proceed;
    }
    let ims = request
        .headers
        .get("if-modified-since")
        .filter(|_| inm.is_none())
        .map(|v| HttpDate::parse(v.as_bytes()));
    if breakage.ims_exact_only
        && outcome == Outcome::NotModified
        && let Some(Ok(date)) = ims
        && date != modified
    {
        outcome = Outcome::Proceed;
    }
    if breakage.ims_invalid_not_ignored && matches!(ims, Some(Err(_))) {
        outcome = Outcome::NotModified;
    }
    if breakage.if_range_ignored && outcome == Outcome::IgnoreRange {
        outcome = Outcome::Proceed;
    }
    match outcome {
        Outcome::NotModified => {
            headers.retain(|(name, _)| {
                !(matches!(
                    name.as_str(),
                    "content-type" | "content-encoding" | "accept-ranges"
                ) || (breakage.no_vary_on_304 && name == "vary"))
            });
            return Reply {
                status: 304,
                headers,
                body: body.clone(),
            };
        }
        Outcome::PreconditionFailed => {
            return Reply {
                status: 412,
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
        Outcome::Proceed | Outcome::IgnoreRange => {}
    }
    if outcome == Outcome::Proceed
        && let Some(range) = request.headers.get("range").and_then(|v| v.to_str().ok())
        && let Some((first, last)) = range
            .strip_prefix("bytes=")
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)))
        && last < body.len()
    {
        headers.push((
            "content-range".into(),
            format!("bytes {first}-{last}/{}", body.len()),
        ));
        return Reply {
            status: 206,
            headers,
            body: body[first..=last].to_vec(),
        };
    }
    Reply {
        status: 200,
        headers,
        body,
    }
}

async fn write(state: &tokio::sync::Mutex<State>, breakage: &Breakage, request: &Request) -> Reply {
    let guards = Preconditions::from_headers(&request.headers);
    if breakage.ims_on_put
        && let Some(Ok(date)) = request
            .headers
            .get("if-modified-since")
            .map(|v| HttpDate::parse(v.as_bytes()))
        && date >= HttpDate::from_unix_seconds(state.lock().await.modified).unwrap()
    {
        return Reply {
            status: 304,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    if breakage.require_preconditions && !guards.guards_write(HttpDate::from_unix_seconds(now()).unwrap()) {
        return Reply {
            status: 428,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let evaluate = |state: &State| {
        let current = Validators::new()
            .with_etag(tag_for(breakage, &state.body, "", 0))
            .with_last_modified(HttpDate::from_unix_seconds(state.modified).unwrap());
        if breakage.ignores_write_preconditions {
            Outcome::Proceed
        } else {
            guards.evaluate(
                &Method::PUT,
                &current,
                HttpDate::from_unix_seconds(now()).unwrap(),
            )
        }
    };
    if breakage.racy_writes {
        // The bug: compare, let go, write later.
        let outcome = evaluate(&*state.lock().await);
        tokio::time::sleep(Duration::from_millis(150)).await;
        if outcome != Outcome::Proceed {
            return Reply {
                status: 412,
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
        let mut state = state.lock().await;
        state.body = request.body.clone();
        state.version += 1;
        state.modified = now();
        return Reply {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let mut state = state.lock().await;
    if evaluate(&state) != Outcome::Proceed {
        return Reply {
            status: 412,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    state.body = request.body.clone();
    state.version += 1;
    state.modified = now().max(state.modified + 1);
    let tag = tag_for(breakage, &state.body, "", 0);
    Reply {
        status: 204,
        headers: vec![("etag".into(), tag.to_string())],
        body: Vec::new(),
    }
}

/// Checks `url` with a short timeout and the given tweaks.
pub(crate) async fn check(url: &str, tweak: impl FnOnce(&mut Settings)) -> UrlReport {
    let mut settings = Settings {
        timeout: Duration::from_secs(5),
        ..Settings::default()
    };
    tweak(&mut settings);
    revalidate_checker::check_url(url, &settings).await
}

/// The ids of the error and warning findings.
pub(crate) fn problems(report: &UrlReport) -> Vec<&'static str> {
    report
        .findings()
        .iter()
        .filter(|f| f.severity().is_problem())
        .map(|f| f.rule.id)
        .collect()
}

/// All finding ids with their messages, for assertion messages.
pub(crate) fn describe(report: &UrlReport) -> String {
    match &report.outcome {
        Err(e) => format!("could not check: {e}"),
        Ok(_) => revalidate_checker::render_text(std::slice::from_ref(report), false),
    }
}

/// `revalidate serve` over `root` with its data in `data`, on a loopback
/// port, until the test's runtime ends.
pub(crate) async fn serve_origin(root: &std::path::Path, data: &std::path::Path) -> SocketAddr {
    let config = revalidate_origin::config::OriginConfig {
        root: root.into(),
        data: data.into(),
        ..revalidate_origin::config::OriginConfig::default()
    };
    let origin = revalidate_origin::server::Origin::open(&config).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(origin.serve(listener, None, std::future::pending()));
    addr
}
