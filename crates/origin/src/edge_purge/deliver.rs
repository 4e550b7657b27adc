//! Delivering the outbox to the edges: one task per registered edge, each
//! claiming its oldest purges, sending them and releasing the claim.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use revalidate_store::PurgeClaim;
use tokio_util::sync::CancellationToken;

use super::policy::{Attempt, Verdict, purge_for_claim, verdict};
use super::{PurgerInner, Settings, endpoint};

/// Keeps one delivery task per registered edge: reads the edges every
/// poll interval (others may have registered some) and when told.
pub(super) async fn supervise(weak: std::sync::Weak<PurgerInner>) {
    // A task taken out is told to stop rather than aborted, so that it
    // never stops between a claim and its release.
    let mut tasks: HashMap<String, CancellationToken> = HashMap::new();
    loop {
        let Some(inner) = weak.upgrade() else { break };
        if inner.retired.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        match inner.store.purge_edges().await {
            Ok(edges) => {
                tasks.retain(|edge, stop| {
                    let keep = edges.contains(edge);
                    if !keep {
                        stop.cancel();
                    }
                    keep
                });
                for edge in edges {
                    let weak = Arc::downgrade(&inner);
                    tasks.entry(edge.clone()).or_insert_with(|| {
                        let stop = CancellationToken::new();
                        tokio::spawn(deliver_to(weak, edge, stop.clone()));
                        stop
                    });
                }
            }
            Err(e) if e.is_closed() => break,
            Err(e) => tracing::warn!(error = %e, "edge purge: cannot read the edges"),
        }
        let poll = inner.settings().policy.poll;
        let edges_changed = Arc::clone(&inner.edges_changed);
        drop(inner);
        let _ = tokio::time::timeout(poll, edges_changed.notified()).await;
    }
    for stop in tasks.into_values() {
        stop.cancel();
    }
}

/// How soon a node looks again at an edge another node is delivering to.
const BUSY_RECHECK: Duration = Duration::from_millis(25);

/// What one round of delivery to an edge came to.
enum Round {
    /// Delivered, and more are waiting.
    More,
    /// Nothing (more) to send.
    Idle,
    /// Another node is delivering to the edge (or it was taken out).
    Busy,
    /// The attempt failed; pause before the next.
    Failed { refused: bool },
    /// The store was closed: the server is stopping.
    Closed,
}

/// One edge's task: delivers until the purger is gone or the edge is
/// taken out.
async fn deliver_to(weak: std::sync::Weak<PurgerInner>, edge: String, stop: CancellationToken) {
    let Some(mut woken) = weak.upgrade().map(|inner| inner.wake.subscribe()) else {
        return;
    };
    let mut pauses: Option<Box<dyn Iterator<Item = Duration> + Send>> = None;
    let mut failing = false;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let Some(inner) = weak.upgrade() else { return };
        woken.borrow_and_update();
        let settings = inner.settings();
        let round = deliver_once(&inner, &settings, &edge, failing).await;
        drop(inner);
        match round {
            Round::More => {
                pauses = None;
                failing = false;
            }
            Round::Idle => {
                pauses = None;
                failing = false;
                // Woken by a write, or the poll.
                tokio::select! {
                    _ = tokio::time::timeout(settings.policy.poll, woken.changed()) => {}
                    () = stop.cancelled() => return,
                }
            }
            Round::Busy => {
                // Its delivery may not include what this node's writes
                // recorded meanwhile, and on SQLite it is not woken by
                // them: look again soon.
                tokio::select! {
                    () = tokio::time::sleep(BUSY_RECHECK) => {}
                    () = stop.cancelled() => return,
                }
            }
            Round::Closed => return,
            Round::Failed { refused } => {
                failing = true;
                let pause = if refused {
                    settings.policy.max_backoff
                } else {
                    pauses
                        .get_or_insert_with(|| Box::new(settings.policy.backoff()))
                        .next()
                        .unwrap_or(settings.policy.max_backoff)
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    }
}

/// Claims the edge's oldest purges, sends them, and acknowledges or
/// releases them.
async fn deliver_once(inner: &PurgerInner, settings: &Settings, edge: &str, failing: bool) -> Round {
    let policy = &settings.policy;
    let claim = match inner
        .store
        .claim_purges(edge, policy.claim_limits(), SystemTime::now())
        .await
    {
        Ok(Some(claim)) => claim,
        Ok(None) => return Round::Busy,
        Err(e) if e.is_closed() => return Round::Closed,
        Err(e) => {
            tracing::warn!(edge, error = %e, "edge purge: cannot read the outbox");
            return Round::Failed { refused: false };
        }
    };
    if claim.dropped() > 0 {
        tracing::warn!(
            edge,
            dropped = claim.dropped(),
            "edge purge: purges dropped past the backlog bound; the edge will be purged of everything"
        );
        inner.metrics.record_edge_purges_dropped(edge, claim.dropped());
    }
    let now = SystemTime::now();
    let age = |time: SystemTime| now.duration_since(time).unwrap_or_default().as_secs_f64();
    let oldest = claim.purges().first().map_or(0.0, |p| age(p.created_at));
    inner
        .metrics
        .set_edge_purge_backlog(edge, claim.backlog(), oldest);
    if claim.is_empty() {
        release(claim).await;
        return Round::Idle;
    }
    let endpoint = match endpoint(edge) {
        Ok(endpoint) => endpoint,
        Err(why) => {
            tracing::warn!(edge, reason = why, "edge purge: not an edge URL");
            release(claim).await;
            return Round::Failed { refused: true };
        }
    };
    let body = purge_for_claim(claim.purges().iter().map(|p| p.url.as_str()), claim.purge_all());
    let json = Bytes::from(body.to_json());
    let sent = claim.purges().len() as u64;
    let (result, why) =
        match tokio::time::timeout(policy.timeout, settings.transport.post_boxed(&endpoint, json)).await {
            Ok(Ok(answer)) => (
                Attempt::Answered(answer.status),
                format!("{}: {}", answer.status, answer.detail),
            ),
            Ok(Err(error)) => (Attempt::NoAnswer, error.to_string()),
            Err(_) => (
                Attempt::NoAnswer,
                format!("no answer within {} ms", policy.timeout.as_millis()),
            ),
        };
    match verdict(result) {
        Verdict::Acknowledged => {
            let created: Vec<SystemTime> = claim.purges().iter().map(|p| p.created_at).collect();
            let backlog = claim.backlog();
            if let Err(e) = claim.acknowledge().await {
                // Delivered, not recorded as such: sent again later.
                tracing::warn!(edge, error = %e, "edge purge: delivered, but cannot record it");
                return Round::Failed { refused: false };
            }
            if failing {
                tracing::info!(edge, "edge purge: the edge acknowledges purges again");
            }
            let acknowledged = SystemTime::now();
            inner.metrics.record_edge_purges(true, sent);
            inner.metrics.record_edge_purge_lags(created.iter().map(|time| {
                acknowledged
                    .duration_since(*time)
                    .unwrap_or_default()
                    .as_secs_f64()
            }));
            let left = backlog.saturating_sub(sent);
            if left > 0 {
                Round::More
            } else {
                inner.metrics.set_edge_purge_backlog(edge, 0, 0.0);
                Round::Idle
            }
        }
        verdict => {
            release(claim).await;
            inner.metrics.record_edge_purges(false, sent);
            let refused = verdict == Verdict::Refused;
            if failing {
                tracing::debug!(edge, reason = %why, "edge purge failed again; retrying");
            } else {
                tracing::warn!(
                    edge,
                    reason = %why,
                    refused,
                    "edge purge failed; kept and retried until the edge acknowledges"
                );
            }
            Round::Failed { refused }
        }
    }
}

async fn release(claim: PurgeClaim) {
    let edge = claim.edge().to_owned();
    if let Err(e) = claim.release().await {
        tracing::debug!(edge, error = %e, "edge purge: cannot release the claim (it expires)");
    }
}
