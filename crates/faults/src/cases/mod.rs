//! The cases: each reproduces one reliability defect against real
//! processes and judges the outcome the fix must give.
//!
//! | module | cases |
//! |---|---|
//! | [`lost_update`] | `lost-update-{ius,if-match}-{sqlite,postgres-two-nodes}` |
//! | [`preconditions`] | `428-bypass` |
//! | [`connections`] | `origin-slow-and-silent-connections`, `edge-silent-connections` |
//! | [`client_faults`] | `edge-client-faults-are-4xx` |
//! | [`read_after_write`] | `read-after-write-one-edge`, `read-after-write-two-edges` |
//! | [`stalled_body`] | `stalled-origin-body` |
//! | [`shared_cache`] | `set-cookie-not-shared`, `x-forwarded-host-not-forwarded`, `get-with-body` |
//!
//! The servers get small timeouts (about 1 s, the constants below) so
//! that the cases run fast; every bound a case judges against is that
//! setting plus [`MARGIN`].

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::report::Observation;

mod client_faults;
mod connections;
mod lost_update;
mod preconditions;
mod read_after_write;
mod shared_cache;
mod stalled_body;

/// What every case needs.
#[derive(Debug)]
pub(crate) struct Context {
    /// The `revalidate` binary under test.
    pub(crate) revalidate: PathBuf,
    /// A PostgreSQL database for the two-node cases.
    pub(crate) postgres: Option<String>,
    /// Racing rounds per lost-update case.
    pub(crate) rounds: usize,
    /// Unique to this run: resource names include it, so runs never meet.
    pub(crate) run_id: String,
}

/// `header_read_timeout_ms` given to the servers.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
/// `keep_alive_timeout_ms`.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_millis(1000);
/// `send_timeout_ms`.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_millis(1000);
/// `client_body_timeout_ms` (edge) and `[api] body_read_timeout_ms` (origin).
pub(crate) const BODY_TIMEOUT: Duration = Duration::from_millis(1000);
/// `upstream_body_timeout_ms` (edge).
pub(crate) const UPSTREAM_BODY_TIMEOUT: Duration = Duration::from_millis(1000);
/// `collapse_timeout_ms` (edge).
pub(crate) const COLLAPSE_TIMEOUT: Duration = Duration::from_millis(1000);
/// What a busy 2-core machine may add to a configured timeout before the
/// case calls it missed.
pub(crate) const MARGIN: Duration = Duration::from_secs(2);
/// The bound on any ordinary request of the runner.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

type CaseFuture = Pin<Box<dyn Future<Output = anyhow::Result<Observation>> + Send>>;

/// One case of the run.
pub(crate) struct Case {
    /// Its name, for `--case`.
    pub(crate) name: &'static str,
    /// The outcome expected once the defect is fixed.
    pub(crate) expected: &'static str,
    /// Runs it.
    pub(crate) run: fn(Arc<Context>) -> CaseFuture,
}

/// Every case, in the order they run.
pub(crate) fn all() -> Vec<Case> {
    use lost_update::{Backend, Guard};
    vec![
        Case {
            name: "lost-update-ius-sqlite",
            expected: lost_update::EXPECTED,
            run: |ctx| Box::pin(lost_update::run(ctx, Guard::IfUnmodifiedSince, Backend::Sqlite)),
        },
        Case {
            name: "lost-update-ius-postgres-two-nodes",
            expected: lost_update::EXPECTED,
            run: |ctx| {
                Box::pin(lost_update::run(
                    ctx,
                    Guard::IfUnmodifiedSince,
                    Backend::PostgresTwoNodes,
                ))
            },
        },
        Case {
            name: "lost-update-if-match-sqlite",
            expected: lost_update::EXPECTED,
            run: |ctx| Box::pin(lost_update::run(ctx, Guard::IfMatch, Backend::Sqlite)),
        },
        Case {
            name: "lost-update-if-match-postgres-two-nodes",
            expected: lost_update::EXPECTED,
            run: |ctx| Box::pin(lost_update::run(ctx, Guard::IfMatch, Backend::PostgresTwoNodes)),
        },
        Case {
            name: "428-bypass",
            expected: preconditions::EXPECTED,
            run: |ctx| Box::pin(preconditions::run(ctx)),
        },
        Case {
            name: "origin-slow-and-silent-connections",
            expected: connections::EXPECTED,
            run: |ctx| Box::pin(connections::run(ctx, connections::Target::Origin)),
        },
        Case {
            name: "edge-silent-connections",
            expected: connections::EXPECTED,
            run: |ctx| Box::pin(connections::run(ctx, connections::Target::Edge)),
        },
        Case {
            name: "edge-client-faults-are-4xx",
            expected: client_faults::EXPECTED,
            run: |ctx| Box::pin(client_faults::run(ctx)),
        },
        Case {
            name: "read-after-write-one-edge",
            expected: read_after_write::EXPECTED_ONE,
            run: |ctx| Box::pin(read_after_write::run(ctx, read_after_write::Layout::OneEdge)),
        },
        Case {
            name: "read-after-write-two-edges",
            expected: read_after_write::EXPECTED_TWO,
            run: |ctx| Box::pin(read_after_write::run(ctx, read_after_write::Layout::TwoEdges)),
        },
        Case {
            name: "stalled-origin-body",
            expected: stalled_body::EXPECTED,
            run: |ctx| Box::pin(stalled_body::run(ctx)),
        },
        Case {
            name: "set-cookie-not-shared",
            expected: shared_cache::EXPECTED_SET_COOKIE,
            run: |ctx| Box::pin(shared_cache::set_cookie(ctx)),
        },
        Case {
            name: "x-forwarded-host-not-forwarded",
            expected: shared_cache::EXPECTED_FORWARDED_HOST,
            run: |ctx| Box::pin(shared_cache::forwarded_host(ctx)),
        },
        Case {
            name: "get-with-body",
            expected: shared_cache::EXPECTED_GET_WITH_BODY,
            run: |ctx| Box::pin(shared_cache::get_with_body(ctx)),
        },
    ]
}

/// A client for normal traffic: its own connection pool, bounded
/// requests, no redirects.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// The first value of a response header, as text.
pub(crate) fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_unique_and_url_safe() {
        let cases = all();
        let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), cases.len());
    }
}
