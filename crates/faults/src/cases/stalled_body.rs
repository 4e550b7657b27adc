//! `stalled-origin-body`: the (fake) origin sends a head with
//! `Content-Length: 100000`, 1,000 bytes of body, then nothing. Two
//! clients ask the edge for that URL, the second while the first is
//! waiting. Each must see its response end short (a body cut before its
//! length, or a reset; never a response that looks complete) within the
//! edge's `upstream_body_timeout_ms` (plus `collapse_timeout_ms` for the
//! second, which may have waited on the first) plus the margin. Then the
//! origin answers properly, and a later request must get the whole body:
//! the truncated one was not stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::{COLLAPSE_TIMEOUT, Context, MARGIN, REQUEST_TIMEOUT, UPSTREAM_BODY_TIMEOUT};
use crate::fake_origin::{FakeOrigin, Reply, owned};
use crate::process::{ConfigFile, Server, keys, millis, server_notes};
use crate::report::{Checks, Observation, secs};
use crate::wire::{self, BodyEnd, Ending};

pub(crate) const EXPECTED: &str = "an origin that sends a head (Content-Length 100000), 1,000 bytes, then \
                                   nothing: two clients of that URL through the edge each see the response end \
                                   short, never complete-looking, within upstream_body_timeout (1 s) [+ \
                                   collapse_timeout (1 s) for the second] + 2 s; a later request gets the whole \
                                   body, not the truncated one from cache";

const PATH: &str = "/stalled";
const LENGTH: usize = 100_000;
const SENT: usize = 1_000;
/// How long past its bound a client keeps waiting, to report when (if) it ended.
const WATCH_PAST_BOUND: Duration = Duration::from_secs(1);

pub(crate) async fn run(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let stalling = Arc::new(AtomicBool::new(true));
    let stall = Arc::clone(&stalling);
    let origin = FakeOrigin::start(move |_, _| {
        let headers = [
            ("Cache-Control", "max-age=60"),
            ("Content-Type", "application/octet-stream"),
        ];
        if stall.load(Ordering::SeqCst) {
            Reply::Stall {
                headers: owned(&headers),
                content_length: LENGTH,
                sent: pattern(SENT),
            }
        } else {
            Reply::ok(&headers, pattern(LENGTH))
        }
    })
    .await?;
    let config = ConfigFile::new()
        .with(keys::UPSTREAM_BODY_TIMEOUT, millis(UPSTREAM_BODY_TIMEOUT))
        .with(keys::COLLAPSE_TIMEOUT, millis(COLLAPSE_TIMEOUT));
    let edge = Server::edge(&ctx, "edge", &origin.base_url(), config).await?;
    let addr = edge.addr;
    let request = wire::request("GET", PATH, &[], b"");
    let mut checks = Checks::default();

    let first_bound = UPSTREAM_BODY_TIMEOUT + MARGIN;
    let second_bound = COLLAPSE_TIMEOUT + UPSTREAM_BODY_TIMEOUT + MARGIN;
    let timed = |bound: Duration| {
        let request = request.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let ending = wire::exchange(addr, &request, bound + WATCH_PAST_BOUND, false).await;
            (ending, started.elapsed())
        })
    };
    let first = timed(first_bound);
    let first_arrived = origin.wait_for(PATH, 1, REQUEST_TIMEOUT).await;
    let second = timed(second_bound);
    let (first, second) = (first.await?, second.await?);
    if !first_arrived {
        checks.note("the first request never reached the origin");
    }
    for (label, (ending, took), bound) in [
        ("first client", first, first_bound),
        ("second client", second, second_bound),
    ] {
        let (pass, text) = judge_stalled(&ending, took, bound);
        checks.check(label, pass, text);
    }

    stalling.store(false, Ordering::SeqCst);
    let requests_before = origin.count(PATH);
    let started = Instant::now();
    let ending = wire::exchange(addr, &request, REQUEST_TIMEOUT, false).await;
    let took = started.elapsed();
    let whole = ending
        .response()
        .is_some_and(|r| r.status == 200 && r.end == BodyEnd::Complete && r.body == pattern(LENGTH));
    let cache_status = ending
        .response()
        .and_then(|r| r.header("cache-status"))
        .unwrap_or("(none)")
        .to_owned();
    checks.check(
        "a later request, once the origin answers properly",
        whole,
        format!(
            "{} after {}, {} bytes, Cache-Status: {cache_status}; the origin got {} request(s) for it",
            ending.summary(),
            secs(took),
            ending.response().map_or(0, |r| r.body.len()),
            origin.count(PATH) - requests_before
        ),
    );
    checks.note(format!(
        "the origin received {} requests for {PATH}",
        origin.count(PATH)
    ));
    origin.release();
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&edge]));
    Ok(observation)
}

/// The body bytes: a pattern a truncation or a mix-up cannot reproduce.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A stalled response must end short, in time, and never look complete.
fn judge_stalled(ending: &Ending, took: Duration, bound: Duration) -> (bool, String) {
    let in_time = took <= bound;
    let (ended_short, what) = match ending {
        Ending::Response(response) => match response.end {
            BodyEnd::Truncated | BodyEnd::Reset => (true, response.summary()),
            BodyEnd::Deadline => (false, format!("{}: still open", response.summary())),
            // A complete error answer is not the resource; a complete 200 with
            // a short body would be passed off as the whole representation.
            BodyEnd::Complete if response.status >= 500 => (true, format!("complete {}", response.status)),
            BodyEnd::Complete => (
                false,
                format!(
                    "complete-looking {} with {} body bytes",
                    response.status,
                    response.body.len()
                ),
            ),
        },
        Ending::Closed | Ending::Reset(_) => (true, ending.summary()),
        Ending::Deadline => (false, "no response head: still waiting".to_owned()),
    };
    (
        ended_short && in_time,
        format!("{what} after {} (bound {})", secs(took), secs(bound)),
    )
}
