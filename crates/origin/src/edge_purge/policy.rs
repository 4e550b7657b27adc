//! The pure parts of purging the edges: what a write or a claim purges,
//! the verdict on one attempt, and the pauses between attempts.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use http::StatusCode;
use revalidate_core::purge::PurgeRequest;
use revalidate_store::{ClaimLimits, ResourceKey};

use crate::config::EdgePurgeConfig;

/// What a successful write of `key`, under the API mounted at `api_prefix`
/// (such as `/api/`), makes stale at the edges: the resource's URL.
pub fn purge_for_write(api_prefix: &str, key: &ResourceKey) -> PurgeRequest {
    PurgeRequest::urls([resource_url(api_prefix, key)])
}

/// The URL a resource is read at: `{prefix}{collection}/{id}` (the store's
/// outbox records the same).
fn resource_url(api_prefix: &str, key: &ResourceKey) -> String {
    format!("{api_prefix}{}/{}", key.collection().as_str(), key.id())
}

/// The request that delivers a claim: its URLs, each once, in order, after
/// a purge of everything when the edge missed purges.
pub fn purge_for_claim<'a>(urls: impl IntoIterator<Item = &'a str>, purge_all: bool) -> PurgeRequest {
    let mut request = PurgeRequest::urls(urls.into_iter().map(str::to_owned));
    if purge_all {
        request.prefixes = vec!["/".to_owned()];
    }
    request
}

/// What became of one attempt to send a purge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The edge answered with this status.
    Answered(StatusCode),
    /// No answer: refused, reset, or timed out.
    NoAnswer,
}

/// What an attempt means for the purges it carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Acknowledged: delete them.
    Acknowledged,
    /// Not delivered (no answer, `408`, `429`, `5xx`): keep them and retry
    /// after a growing pause.
    Retry,
    /// Refused in a way a retry cannot fix (`401`, `404`, `400`): keep
    /// them, log, and retry at the longest pause (a reload may fix it).
    Refused,
}

/// Judges one attempt.
pub fn verdict(result: Attempt) -> Verdict {
    match result {
        Attempt::Answered(status) if status.is_success() => Verdict::Acknowledged,
        Attempt::Answered(status)
            if status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS =>
        {
            Verdict::Retry
        }
        Attempt::Answered(_) => Verdict::Refused,
        Attempt::NoAnswer => Verdict::Retry,
    }
}

/// Timeouts, pauses and bounds of the delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurgePolicy {
    /// How long one request may take.
    pub timeout: Duration,
    /// The pause after a first failed attempt; it grows (doubling, with
    /// jitter) up to [`max_backoff`](Self::max_backoff).
    pub first_backoff: Duration,
    /// The longest pause between attempts.
    pub max_backoff: Duration,
    /// How often an idle node looks for purges without being woken (and
    /// for edges other nodes registered).
    pub poll: Duration,
    /// Most purges in one request (the edge reads at most 64 KiB of body).
    pub batch: u32,
    /// Most purges kept per edge (see the module docs).
    pub max_backlog: u64,
}

impl PurgePolicy {
    /// The policy of `[edge_purge]`: its timeout, pauses from 100 ms to
    /// 5 s, a poll every second, 100 purges per request, 100 000 per edge.
    pub fn from_config(config: &EdgePurgeConfig) -> Self {
        Self {
            timeout: Duration::from_millis(config.timeout_ms),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            batch: 100,
            max_backlog: 100_000,
        }
    }

    /// The pauses between failed attempts, with jitter.
    pub(super) fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let longest = self.max_backoff;
        ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(longest)
            .with_jitter()
            .without_max_times()
            .build()
            // The jitter adds up to the delay again: keep the bound.
            .map(move |pause| pause.min(longest))
    }

    pub(super) fn claim_limits(&self) -> ClaimLimits {
        ClaimLimits {
            batch: self.batch.max(1),
            max_backlog: self.max_backlog.max(1),
            // A claim covers one attempt, and a little for the database.
            lease: self.timeout + Duration::from_secs(1),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn purge_body_for_a_write_names_the_resource_url() {
        let cases = [
            ("/api/", "notes", "a", r#"{"urls":["/api/notes/a"]}"#),
            (
                "/v1/",
                "orders",
                "2024-01.x~y",
                r#"{"urls":["/v1/orders/2024-01.x~y"]}"#,
            ),
        ];
        for (prefix, collection, id, json) in cases {
            let key = ResourceKey::new(collection, id).unwrap();
            let body = purge_for_write(prefix, &key);
            assert_eq!(body.to_json(), json, "{prefix}{collection}/{id}");
        }
    }

    #[test]
    fn a_claim_names_each_url_once_in_order_after_a_purge_of_everything() {
        let urls = ["/api/n/b", "/api/n/a", "/api/n/b", "/api/n/c", "/api/n/a"];
        assert_eq!(
            purge_for_claim(urls, false).to_json(),
            r#"{"urls":["/api/n/b","/api/n/a","/api/n/c"]}"#
        );
        assert_eq!(
            purge_for_claim(["/api/n/a"], true).to_json(),
            r#"{"urls":["/api/n/a"],"prefixes":["/"]}"#
        );
        assert_eq!(purge_for_claim([], true).to_json(), r#"{"prefixes":["/"]}"#);
    }

    #[test]
    fn the_verdict_on_each_kind_of_attempt() {
        let answered = |code: u16| Attempt::Answered(StatusCode::from_u16(code).unwrap());
        let cases = [
            ("acknowledged", answered(200), Verdict::Acknowledged),
            ("acknowledged without body", answered(204), Verdict::Acknowledged),
            ("edge storage busy", answered(503), Verdict::Retry),
            ("edge failed", answered(500), Verdict::Retry),
            ("refused connection", Attempt::NoAnswer, Verdict::Retry),
            ("rate limited", answered(429), Verdict::Retry),
            ("request timeout", answered(408), Verdict::Retry),
            ("wrong token", answered(401), Verdict::Refused),
            ("purge API off", answered(404), Verdict::Refused),
            ("body refused", answered(400), Verdict::Refused),
        ];
        for (case, result, expected) in cases {
            assert_eq!(verdict(result), expected, "{case}");
        }
    }

    #[test]
    fn the_pauses_grow_to_the_longest_and_go_on() {
        let policy = PurgePolicy {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            timeout: Duration::from_millis(200),
            poll: Duration::from_millis(50),
            batch: 100,
            max_backlog: 1000,
        };
        let pauses: Vec<Duration> = policy.backoff().take(20).collect();
        assert_eq!(pauses.len(), 20, "never gives up");
        assert!(pauses[0] >= Duration::from_millis(100), "{pauses:?}");
        assert!(pauses.iter().all(|p| *p <= Duration::from_secs(5)), "{pauses:?}");
        assert_eq!(pauses[19], Duration::from_secs(5), "{pauses:?}");
    }
}
