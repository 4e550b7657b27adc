//! Active health checks (`[health]`): one task per pool probes every
//! member with `GET path` each `interval`, each probe bounded by
//! `timeout`; `unhealthy_threshold` failures in a row mark a member down,
//! `healthy_threshold` successes in a row mark it up again. A success is a
//! `2xx` or `3xx` head in time (nginx's `health_check` default); anything
//! else, no head included, is a failure. Members start up, so that
//! traffic flows before the first round. The task holds the pool weakly
//! and ends with it, or when the server stops it ([`HealthChecks::stop`]).

use std::sync::{Arc, Weak};
use std::time::Duration;

use http::header::{HeaderValue, USER_AGENT};
use http::{Request, Uri};
use tokio::task::{JoinHandle, JoinSet};

use super::Pool;
use crate::body::empty;

/// How members are probed; see [`crate::config::HealthConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthSettings {
    /// The path (and query) probed, such as `/healthz`.
    pub path: http::uri::PathAndQuery,
    /// Time between two rounds of probes.
    pub interval: Duration,
    /// The longest a probe waits for a response head.
    pub timeout: Duration,
    /// Successes in a row that mark a down member up.
    pub healthy_threshold: u32,
    /// Failures in a row that mark an up member down.
    pub unhealthy_threshold: u32,
}

/// The running checks of one pool.
#[derive(Debug)]
pub struct HealthChecks {
    task: JoinHandle<()>,
}

impl HealthChecks {
    /// Starts probing `pool`'s members, if it has checks configured.
    pub(crate) fn spawn(pool: &Arc<Pool>) -> Option<Self> {
        let settings = pool.health()?.clone();
        let task = tokio::spawn(run(Arc::downgrade(pool), settings));
        Some(Self { task })
    }

    /// Stops the checks (a probe in flight is dropped) and waits until
    /// the task has ended.
    pub async fn stop(self) {
        self.task.abort();
        // A cancelled task ends at its next await; its error says so.
        let _ = self.task.await;
    }
}

/// The streaks of one member.
#[derive(Clone, Copy, Default)]
struct Streak {
    successes: u32,
    failures: u32,
}

async fn run(pool: Weak<Pool>, settings: HealthSettings) {
    let count = match pool.upgrade() {
        Some(pool) => pool.member_count(),
        None => return,
    };
    let mut streaks = vec![Streak::default(); count];
    let mut ticks = tokio::time::interval(settings.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let mut probes = JoinSet::new();
        for member in 0..count {
            let (pool, path, timeout) = (Arc::clone(&pool), settings.path.clone(), settings.timeout);
            probes.spawn(async move { (member, probe(&pool, member, path, timeout).await) });
        }
        // Each probe is bounded by its timeout.
        while let Some(done) = probes.join_next().await {
            let Ok((member, healthy)) = done else { continue };
            let streak = &mut streaks[member];
            if healthy {
                streak.successes = streak.successes.saturating_add(1);
                streak.failures = 0;
                if streak.successes >= settings.healthy_threshold {
                    pool.mark_checked(member, true);
                }
            } else {
                streak.failures = streak.failures.saturating_add(1);
                streak.successes = 0;
                if streak.failures >= settings.unhealthy_threshold {
                    pool.mark_checked(member, false);
                }
            }
        }
    }
}

/// One probe of member `member`: whether a `2xx` or `3xx` head came in
/// time. It goes through the pool's own client (its TLS and protocol),
/// but is neither timed nor counted as a request.
async fn probe(pool: &Pool, member: usize, path: http::uri::PathAndQuery, timeout: Duration) -> bool {
    let mut request = Request::new(empty());
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path);
    *request.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
    request.headers_mut().insert(
        USER_AGENT,
        HeaderValue::from_static("revalidate-edge health check"),
    );
    pool.aim(member, &mut request);
    match pool.upstream.send_within(request, timeout).await {
        Ok(response) => {
            let status = response.status();
            status.is_success() || status.is_redirection()
        }
        Err(_) => false,
    }
}
