//! `edge-client-faults-are-4xx`: a fault in the client's own request,
//! seen through `revalidate edge`, is the client's: a 4xx (with a problem
//! document when the edge writes it), never a 5xx, and never counted
//! against the origin (`revalidate_edge_origin_errors_total`).
//!
//! - an upload the origin refuses with `413` (larger than its `[api]
//!   body_limit`, sent whole before reading the answer): the client gets
//!   that `413`, every time;
//! - a `PUT` with a malformed chunked body: `400`;
//! - `OPTIONS *`: `200` from the edge itself (RFC 9110 §9.3.7); `GET *`:
//!   `400`;
//! - a request body that stops arriving: `408` within the edge's
//!   `client_body_timeout_ms` plus the margin (the origin's own body
//!   timeout is set longer, so only the edge's can meet the bound).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{BODY_TIMEOUT, Context, MARGIN, REQUEST_TIMEOUT, client};
use crate::process::{ConfigFile, Server, keys, millis, server_notes};
use crate::report::{Checks, Observation, secs};
use crate::wire::{self, Ending};

pub(crate) const EXPECTED: &str = "through the edge: an upload the origin refuses with 413 → 413 in 50 of 50 \
                                   tries; a malformed chunked PUT → 400 problem+json; OPTIONS * → 200; GET * → 400; \
                                   a stalled request body → 408 within client_body_timeout (1 s) + 2 s; \
                                   revalidate_edge_origin_errors_total does not move";

const UPLOAD_TRIES: usize = 50;
/// The origin's `[api] body_limit`; the uploads are far larger.
const BODY_LIMIT: i64 = 1024;
const UPLOAD_BYTES: usize = 256 * 1024;
/// The origin's own `[api] body_read_timeout_ms`: longer than the edge's
/// bound, so a 408 in time can only be the edge's.
const ORIGIN_BODY_TIMEOUT: Duration = Duration::from_secs(4);
/// The edge's `response_timeout_ms`.
const EDGE_RESPONSE_TIMEOUT: Duration = Duration::from_secs(8);

pub(crate) async fn run(ctx: Arc<Context>) -> anyhow::Result<Observation> {
    let origin_config = ConfigFile::new().set_in("api", "body_limit", BODY_LIMIT).set_in(
        "api",
        "body_read_timeout_ms",
        millis(ORIGIN_BODY_TIMEOUT),
    );
    let origin = Server::origin(&ctx, "origin", origin_config).await?;
    let edge_config = ConfigFile::new()
        .with(keys::CLIENT_BODY_TIMEOUT, millis(BODY_TIMEOUT))
        .set("response_timeout_ms", millis(EDGE_RESPONSE_TIMEOUT));
    let edge = Server::edge(&ctx, "edge", &origin.url(""), edge_config).await?;
    let metrics = client();
    let errors_before = origin_errors(&metrics, &edge).await?;
    let mut checks = Checks::default();

    // An oversized upload, written whole before the answer is read.
    let mut statuses: Vec<String> = Vec::new();
    let mut got_413 = 0;
    // The origin's problem document reaches the client unchanged.
    let mut problem_413 = 0;
    let mut body = b"[".to_vec();
    while body.len() < UPLOAD_BYTES {
        body.extend_from_slice(b"12345678,");
    }
    body.extend_from_slice(b"0]");
    for i in 0..UPLOAD_TRIES {
        let head = wire::request(
            "PUT",
            &format!("/api/uploads/big-{}-{i}", ctx.run_id),
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", &body.len().to_string()),
            ],
            b"",
        );
        let ending = wire::exchange_upload(edge.addr, &head, &body, REQUEST_TIMEOUT).await;
        if ending.status() == Some(413) {
            got_413 += 1;
            problem_413 += usize::from(ending.response().is_some_and(wire::RawResponse::is_problem_json));
        } else {
            statuses.push(ending.summary());
        }
    }
    statuses.sort();
    statuses.dedup();
    checks.check(
        format!(
            "an upload of {} KiB over the origin's body_limit",
            UPLOAD_BYTES / 1024
        ),
        got_413 == UPLOAD_TRIES && problem_413 == got_413,
        format!(
            "413 in {got_413} of {UPLOAD_TRIES} tries ({problem_413} with the origin's problem+json); otherwise: \
             {statuses:?}"
        ),
    );

    // A malformed chunked body.
    let request = wire::request(
        "PUT",
        &format!("/api/uploads/chunked-{}", ctx.run_id),
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        b"zz\r\n{}\r\n0\r\n\r\n",
    );
    let ending = wire::exchange(edge.addr, &request, REQUEST_TIMEOUT, false).await;
    let problem = ending.response().is_some_and(wire::RawResponse::is_problem_json);
    checks.check(
        "PUT with a malformed chunk size",
        ending.status() == Some(400) && problem,
        described(&ending, problem),
    );

    // The asterisk form.
    let ending = wire::exchange(
        edge.addr,
        &wire::request("OPTIONS", "*", &[], b""),
        REQUEST_TIMEOUT,
        false,
    )
    .await;
    let allow = ending
        .response()
        .and_then(|r| r.header("allow"))
        .unwrap_or("(none)");
    checks.check(
        "OPTIONS *",
        ending.status() == Some(200),
        format!("{}, Allow: {allow}", ending.summary()),
    );
    let ending = wire::exchange(
        edge.addr,
        &wire::request("GET", "*", &[], b""),
        REQUEST_TIMEOUT,
        false,
    )
    .await;
    let problem = ending.response().is_some_and(wire::RawResponse::is_problem_json);
    checks.check("GET *", ending.status() == Some(400), described(&ending, problem));

    // A request body that stops arriving.
    let (ending, waited) = stalled_body(&edge, &ctx.run_id).await;
    let bound = BODY_TIMEOUT + MARGIN;
    let problem = ending.response().is_some_and(wire::RawResponse::is_problem_json);
    checks.check(
        "a PUT declaring 1000 body bytes that sends 10",
        ending.status() == Some(408) && waited <= bound,
        format!(
            "{} after {} (bound {})",
            described(&ending, problem),
            secs(waited),
            secs(bound)
        ),
    );

    let errors_after = origin_errors(&metrics, &edge).await?;
    checks.check(
        "revalidate_edge_origin_errors_total",
        errors_after == errors_before,
        format!("{errors_before} before, {errors_after} after"),
    );
    let mut observation = checks.into_observation();
    observation.details.extend(server_notes([&origin, &edge]));
    Ok(observation)
}

fn described(ending: &Ending, problem: bool) -> String {
    format!(
        "{}{}",
        ending.summary(),
        if problem { " problem+json" } else { "" }
    )
}

/// Declares 1000 bytes, sends 10, waits: what came back and when.
async fn stalled_body(edge: &Server, run_id: &str) -> (Ending, Duration) {
    let head = wire::request(
        "PUT",
        &format!("/api/uploads/stalled-{run_id}"),
        &[("Content-Type", "application/json"), ("Content-Length", "1000")],
        b"",
    );
    let started = Instant::now();
    let mut stream = match wire::connect(edge.addr, REQUEST_TIMEOUT).await {
        Ok(stream) => stream,
        Err(e) => return (Ending::Reset(format!("connect: {e}")), started.elapsed()),
    };
    if let Err(e) = stream
        .write_all(&[head.as_slice(), b"{\"a\": 1,  "].concat())
        .await
    {
        return (Ending::Reset(format!("write: {e}")), started.elapsed());
    }
    let deadline = started + EDGE_RESPONSE_TIMEOUT + MARGIN;
    let ending = wire::read_response(&mut stream, deadline, false).await;
    (ending, started.elapsed())
}

/// The sum of `revalidate_edge_origin_errors_total` over its kinds.
async fn origin_errors(http: &reqwest::Client, edge: &Server) -> anyhow::Result<f64> {
    let text = http.get(edge.admin_url("/metrics")).send().await?.text().await?;
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("revalidate_edge_origin_errors_total"))
        .collect();
    if lines.is_empty() {
        anyhow::bail!("the edge's /metrics has no revalidate_edge_origin_errors_total");
    }
    Ok(lines
        .iter()
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}
