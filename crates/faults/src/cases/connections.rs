//! `origin-slow-and-silent-connections` and `edge-silent-connections`:
//! nothing a client sends (or does not send) may hold a connection, a
//! file descriptor or memory for long.
//!
//! Against one server (`revalidate serve`, or `revalidate edge` in front
//! of a `revalidate serve`) configured with 1 s header, idle and send
//! timeouts:
//!
//! 1. 500 silent connections and 500 that trickle a request head (a byte
//!    every 300 ms: faster than the timeout, so only a deadline on the
//!    whole head closes them); a normal request on a new connection must
//!    still be answered (its latency is the figure), and each of the 1,000
//!    must be closed within the header timeout plus [`MARGIN`];
//! 2. an idle keep-alive connection (one request answered, then nothing)
//!    must be closed within the idle timeout plus the margin;
//! 3. 200 connections each sending 400 KB of a head that never ends must
//!    be rejected (`431`, or closed) within the header timeout plus the
//!    margin;
//!
//! and the server's resident memory (`VmRSS`) must stay bounded: it may
//! grow by at most [`HELD_RSS_GROWTH_BOUND_KIB`] with the 1,000
//! connections held, and by at most [`HEADS_RSS_GROWTH_BOUND_KIB`] while
//! the partial heads arrive (200 buffered 400 KB heads are 80 MB).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Context, HEADER_TIMEOUT, IDLE_TIMEOUT, MARGIN, REQUEST_TIMEOUT, SEND_TIMEOUT};
use crate::process::{ConfigFile, Server, keys, millis, server_notes};
use crate::report::{Checks, Observation, ms, secs};
use crate::wire::{self, BodyEnd, Ending};

pub(crate) const EXPECTED: &str = "with 500 trickling and 500 silent connections open a normal request is \
                                   answered within 2 s; each of them is closed within header_read_timeout (1 s) \
                                   + 2 s; an idle keep-alive connection is closed within keep_alive_timeout (1 s) \
                                   + 2 s; 200 connections each sending a 400 KB partial head are rejected (431 or \
                                   closed) within 1 s + 2 s; the server's RSS grows by at most 32 MiB with the \
                                   1,000 held and 40 MiB during the partial heads";

/// Which server is under test.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    Origin,
    Edge,
}

const SILENT: usize = 500;
const TRICKLING: usize = 500;
const TRICKLE_INTERVAL: Duration = Duration::from_millis(300);
const PARTIAL_HEADS: usize = 200;
const PARTIAL_HEAD_BYTES: usize = 400 * 1000;
/// A normal request slower than this while the connections are held fails.
const LATENCY_BOUND: Duration = Duration::from_secs(2);
/// The most the server's RSS may grow (KiB) with the silent and trickling
/// connections held: each costs a few KiB of buffers and task state.
const HELD_RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;
/// The most it may grow while the partial heads arrive. A server that
/// bounds heads (64 KiB by default) buffers at most a few MiB for 200 of
/// them; one that buffers them whole grows by about 80 MB.
const HEADS_RSS_GROWTH_BOUND_KIB: u64 = 40 * 1024;
/// Connections opened at once, so the listen backlog is not the test.
const CONNECTS_AT_ONCE: usize = 100;
/// How long past the bound a connection is watched, to report when (if)
/// it closed.
const WATCH_PAST_BOUND: Duration = Duration::from_secs(1);

pub(crate) async fn run(ctx: Arc<Context>, target: Target) -> anyhow::Result<Observation> {
    let guarded = ConfigFile::new()
        .with(keys::HEADER_READ_TIMEOUT, millis(HEADER_TIMEOUT))
        .with(keys::KEEP_ALIVE_TIMEOUT, millis(IDLE_TIMEOUT))
        .with(keys::SEND_TIMEOUT, millis(SEND_TIMEOUT))
        .with(keys::MAX_CONNECTIONS, 4096);
    let servers = match target {
        Target::Origin => vec![Server::origin(&ctx, "origin", guarded).await?],
        Target::Edge => {
            let origin = Server::origin(&ctx, "origin behind the edge", ConfigFile::new()).await?;
            let edge = Server::edge(&ctx, "edge", &origin.url(""), guarded).await?;
            vec![origin, edge]
        }
    };
    let server = &servers[servers.len() - 1];
    let addr = server.addr;
    let mut checks = Checks::default();
    let warm_up = normal_request(addr).await;
    if warm_up.1.status() != Some(200) {
        anyhow::bail!("the warm-up GET /index.html answered {}", warm_up.1.summary());
    }
    let rss_before = server.rss_kib().unwrap_or(0);

    // 1. Silent and trickling connections.
    let header_bound = HEADER_TIMEOUT + MARGIN;
    let mut held = JoinSet::new();
    let connects = Arc::new(Semaphore::new(CONNECTS_AT_ONCE));
    let connected = Arc::new(Semaphore::new(0));
    for i in 0..SILENT + TRICKLING {
        let behaviour = if i % 2 == 0 {
            Behaviour::Silent
        } else {
            Behaviour::Trickle
        };
        let (connects, connected) = (Arc::clone(&connects), Arc::clone(&connected));
        held.spawn(async move {
            let trace = hold(
                addr,
                behaviour,
                header_bound + WATCH_PAST_BOUND,
                &connects,
                &connected,
            )
            .await;
            (behaviour, trace)
        });
    }
    // Wait (bounded) until every connection is open (or failed to open).
    let all_open = tokio::time::timeout(
        REQUEST_TIMEOUT * 3,
        connected.acquire_many(u32::try_from(SILENT + TRICKLING).unwrap_or(u32::MAX)),
    )
    .await
    .is_ok();
    let (latency, answer) = normal_request(addr).await;
    let rss_held = server.rss_kib().unwrap_or(0);
    let mut silent = Vec::new();
    let mut trickling = Vec::new();
    while let Some(joined) = held.join_next().await {
        let (behaviour, trace) = joined?;
        match behaviour {
            Behaviour::Silent => silent.push(trace),
            Behaviour::Trickle => trickling.push(trace),
        }
    }
    let answered = answer
        .response()
        .is_some_and(|r| r.status == 200 && r.end == BodyEnd::Complete);
    checks.check(
        format!("a normal request with {} connections held", SILENT + TRICKLING),
        answered && latency <= LATENCY_BOUND,
        format!(
            "{} in {} (bound {}){}",
            answer.summary(),
            ms(latency),
            secs(LATENCY_BOUND),
            if all_open {
                ""
            } else {
                "; not every held connection could be opened"
            }
        ),
    );
    let (pass, text) = judge(&silent, header_bound);
    checks.check(format!("{SILENT} silent connections closed"), pass, text);
    let (pass, text) = judge(&trickling, header_bound);
    checks.check(format!("{TRICKLING} trickling connections closed"), pass, text);

    // 2. An idle keep-alive connection.
    let idle_bound = IDLE_TIMEOUT + MARGIN;
    let (pass, text) = idle_keep_alive(addr, idle_bound).await;
    checks.check("an idle keep-alive connection closed", pass, text);

    // 3. Partial heads, with the RSS sampled while they arrive.
    let rss_before_heads = server.rss_kib().unwrap_or(0);
    let mut heads = JoinSet::new();
    for _ in 0..PARTIAL_HEADS {
        let connects = Arc::clone(&connects);
        heads.spawn(async move { partial_head(addr, header_bound + WATCH_PAST_BOUND, &connects).await });
    }
    let mut rss_peak = rss_before_heads;
    let mut outcomes = Vec::new();
    let mut sample = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            joined = heads.join_next() => match joined {
                Some(joined) => outcomes.push(joined?),
                None => break,
            },
            _ = sample.tick() => rss_peak = rss_peak.max(server.rss_kib().unwrap_or(0)),
        }
    }
    rss_peak = rss_peak.max(server.rss_kib().unwrap_or(0));
    let (pass, text) = judge_partial_heads(&outcomes, header_bound);
    checks.check(
        format!(
            "{PARTIAL_HEADS} partial heads of {} KB rejected",
            PARTIAL_HEAD_BYTES / 1000
        ),
        pass,
        text,
    );
    let held_growth = rss_held.saturating_sub(rss_before);
    checks.check(
        format!("server RSS with the {} connections held", SILENT + TRICKLING),
        held_growth <= HELD_RSS_GROWTH_BOUND_KIB && rss_before > 0,
        format!(
            "VmRSS {} MiB before, {} MiB with them held: growth {} MiB (bound {} MiB)",
            mib(rss_before),
            mib(rss_held),
            mib(held_growth),
            mib(HELD_RSS_GROWTH_BOUND_KIB)
        ),
    );
    let heads_growth = rss_peak.saturating_sub(rss_before_heads);
    checks.check(
        "server RSS during the partial heads",
        heads_growth <= HEADS_RSS_GROWTH_BOUND_KIB && rss_before_heads > 0,
        format!(
            "VmRSS {} MiB before them, peak {} MiB, {} MiB after: growth {} MiB (bound {} MiB)",
            mib(rss_before_heads),
            mib(rss_peak),
            mib(server.rss_kib().unwrap_or(0)),
            mib(heads_growth),
            mib(HEADS_RSS_GROWTH_BOUND_KIB)
        ),
    );
    let (latency, answer) = normal_request(addr).await;
    checks.check(
        "a normal request afterwards",
        answer.status() == Some(200),
        format!("{} in {}", answer.summary(), ms(latency)),
    );
    let exited = servers.iter().any(Server::has_exited);
    checks.check(
        "the servers are still running",
        !exited,
        if exited {
            "one exited (see its note)"
        } else {
            "yes"
        },
    );
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes(&servers));
    Ok(observation)
}

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head a byte at a time, never finishing it.
    Trickle,
}

/// What happened to one held connection.
#[derive(Debug)]
struct Trace {
    /// Whether it could be opened.
    opened: bool,
    /// How long after it opened the server closed it (EOF, reset or a
    /// failed write), if within the watch.
    closed_after: Option<Duration>,
    /// The status of a response the server sent before closing, if any.
    answer: Option<u16>,
}

/// Opens a connection (at most [`CONNECTS_AT_ONCE`] at a time), says so on
/// `connected`, then behaves and watches for the server to close it, for
/// at most `watch`.
async fn hold(
    addr: std::net::SocketAddr,
    behaviour: Behaviour,
    watch: Duration,
    connects: &Semaphore,
    connected: &Semaphore,
) -> Trace {
    let opened = {
        let _permit = connects.acquire().await;
        wire::connect(addr, REQUEST_TIMEOUT).await
    };
    connected.add_permits(1);
    let Ok(mut stream) = opened else {
        return Trace {
            opened: false,
            closed_after: None,
            answer: None,
        };
    };
    let start = Instant::now();
    let deadline = start + watch;
    let head = b"GET /index.html HTTP/1.1\r\nHost: faults.invalid\r\nX-Trickle: ";
    let mut sent = 0usize;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let mut tick = tokio::time::interval(TRICKLE_INTERVAL);
    loop {
        tokio::select! {
            read = tokio::time::timeout_at(deadline, stream.read(&mut buf)) => match read {
                Ok(Ok(n)) if n > 0 => received.extend_from_slice(&buf[..n]),
                Ok(_) => break Trace { opened: true, closed_after: Some(start.elapsed()), answer: status_of(&received) },
                Err(_) => break Trace { opened: true, closed_after: None, answer: status_of(&received) },
            },
            _ = tick.tick(), if matches!(behaviour, Behaviour::Trickle) => {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                sent += 1;
                if stream.write_all(&[byte]).await.is_err() {
                    break Trace { opened: true, closed_after: Some(start.elapsed()), answer: status_of(&received) };
                }
            }
        }
    }
}

fn status_of(received: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(received.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Whether every connection was closed within `bound`, and the figures.
fn judge(traces: &[Trace], bound: Duration) -> (bool, String) {
    let total = traces.len();
    let unopened = traces.iter().filter(|t| !t.opened).count();
    let mut closes: Vec<Duration> = traces.iter().filter_map(|t| t.closed_after).collect();
    closes.sort_unstable();
    let within = closes.iter().filter(|d| **d <= bound).count();
    let still_open = total - unopened - closes.len();
    let answers = traces.iter().filter(|t| t.answer.is_some()).count();
    let spread = match (closes.first(), closes.get(closes.len() / 2), closes.last()) {
        (Some(first), Some(median), Some(last)) => {
            format!(
                "; closed after {} (first), {} (median), {} (last)",
                secs(*first),
                secs(*median),
                secs(*last)
            )
        }
        _ => String::new(),
    };
    let text = format!(
        "{within} of {total} closed within {} (header timeout + margin){spread}; {still_open} still open after {}; \
         {answers} got a response before the close; {unopened} could not be opened",
        secs(bound),
        secs(bound + WATCH_PAST_BOUND)
    );
    (within == total, text)
}

/// One request on a new connection: how long it took and what came back.
async fn normal_request(addr: std::net::SocketAddr) -> (Duration, Ending) {
    let started = Instant::now();
    let request = wire::request("GET", "/index.html", &[("Connection", "close")], b"");
    let ending = wire::exchange(addr, &request, REQUEST_TIMEOUT, false).await;
    (started.elapsed(), ending)
}

/// One request answered, then silence: closed within `bound`?
async fn idle_keep_alive(addr: std::net::SocketAddr, bound: Duration) -> (bool, String) {
    let mut stream = match wire::connect(addr, REQUEST_TIMEOUT).await {
        Ok(stream) => stream,
        Err(e) => return (false, format!("could not connect: {e}")),
    };
    let request = wire::request("GET", "/index.html", &[], b"");
    if let Err(e) = stream.write_all(&request).await {
        return (false, format!("could not send the request: {e}"));
    }
    let ending = wire::read_response(&mut stream, Instant::now() + REQUEST_TIMEOUT, false).await;
    let answered = ending
        .response()
        .is_some_and(|r| r.status == 200 && r.end == BodyEnd::Complete);
    if !answered {
        return (
            false,
            format!("the request was not answered: {}", ending.summary()),
        );
    }
    let idle_since = Instant::now();
    match wire::wait_closed(&mut stream, idle_since + bound + WATCH_PAST_BOUND).await {
        Some(closed) => {
            let idle = closed - idle_since;
            (
                idle <= bound,
                format!(
                    "answered 200, then closed after {} idle (bound {})",
                    secs(idle),
                    secs(bound)
                ),
            )
        }
        None => (
            false,
            format!(
                "answered 200, then still open after {} idle (bound {})",
                secs(bound + WATCH_PAST_BOUND),
                secs(bound)
            ),
        ),
    }
}

/// How a partial head ended.
#[derive(Debug)]
enum HeadOutcome {
    /// A response with this status, then (or without) a close, after this long.
    Answered(u16, Duration),
    /// Closed or reset without a response, after this long.
    Closed(Duration),
    /// Still open when the watch ended.
    Open,
    /// Could not connect.
    Unopened,
}

/// Sends 400 KB of a request head that never ends, while reading.
async fn partial_head(addr: std::net::SocketAddr, watch: Duration, connects: &Semaphore) -> HeadOutcome {
    let opened = {
        let _permit = connects.acquire().await;
        wire::connect(addr, REQUEST_TIMEOUT).await
    };
    let Ok(stream) = opened else {
        return HeadOutcome::Unopened;
    };
    let start = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let mut head = b"GET /index.html HTTP/1.1\r\nHost: faults.invalid\r\nX-Padding: ".to_vec();
        head.resize(PARTIAL_HEAD_BYTES, b'a');
        for piece in head.chunks(16 * 1024) {
            if writer.write_all(piece).await.is_err() {
                return;
            }
        }
        // Hold the connection open (the read side decides when it ends).
        std::future::pending::<()>().await;
    });
    let outcome = match wire::read_response(&mut reader, start + watch, false).await {
        Ending::Response(response) => {
            // The answer counts when it came; the close may follow.
            HeadOutcome::Answered(response.status, start.elapsed())
        }
        Ending::Closed | Ending::Reset(_) => HeadOutcome::Closed(start.elapsed()),
        Ending::Deadline => HeadOutcome::Open,
    };
    writing.abort();
    outcome
}

fn judge_partial_heads(outcomes: &[HeadOutcome], bound: Duration) -> (bool, String) {
    let mut answered_431 = 0;
    // nginx answers 400 to a head too large: any 4xx is a rejection.
    let mut answered_other_4xx = Vec::new();
    let mut answered_other = Vec::new();
    let mut closed = 0;
    let mut open = 0;
    let mut unopened = 0;
    let mut rejected_in_time = 0;
    let mut slowest = Duration::ZERO;
    for outcome in outcomes {
        let (rejected, after) = match outcome {
            HeadOutcome::Answered(431, after) => {
                answered_431 += 1;
                (true, *after)
            }
            HeadOutcome::Answered(status @ 400..=499, after) => {
                answered_other_4xx.push(*status);
                (true, *after)
            }
            HeadOutcome::Answered(status, after) => {
                answered_other.push(*status);
                (false, *after)
            }
            HeadOutcome::Closed(after) => {
                closed += 1;
                (true, *after)
            }
            HeadOutcome::Open => {
                open += 1;
                continue;
            }
            HeadOutcome::Unopened => {
                unopened += 1;
                continue;
            }
        };
        slowest = slowest.max(after);
        rejected_in_time += usize::from(rejected && after <= bound);
    }
    for statuses in [&mut answered_other_4xx, &mut answered_other] {
        statuses.sort_unstable();
        statuses.dedup();
    }
    (
        rejected_in_time == outcomes.len(),
        format!(
            "{rejected_in_time} of {} rejected within {}: {answered_431} answered 431, other 4xx {answered_other_4xx:?}, \
             {closed} closed without an answer; answered otherwise {answered_other:?}; {open} still open after {}; \
             {unopened} could not be opened; slowest end {}",
            outcomes.len(),
            secs(bound),
            secs(bound + WATCH_PAST_BOUND),
            secs(slowest)
        ),
    )
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
