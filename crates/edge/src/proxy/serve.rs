//! Answers from a stored response (the client's conditionals and range
//! applied, `Age`, `Via` and `Cache-Status` set), and the answer when the
//! origin failed.

use http::header::HeaderValue;
use http::{HeaderMap, Response};
use revalidate_core::answer::Plan;
use revalidate_core::cache::{Forward, stale_if_error_allows};

use super::render::{self, Head};
use super::{Ask, Edge, Found, Label, ServedAt, ttl_of};
use crate::body::EdgeBody;
use crate::decide::{client_plan, decorate};
use crate::entry::HitAnswer;
use crate::metrics::{Outcome, StaleReason};
use crate::problem::Problem;
use crate::upstream::Failure;

impl Edge {
    /// The clock and `found`'s current age (§4.2.3), for
    /// [`Self::serve_stored`] where no reuse decision computed them.
    pub(super) fn age_now(&self, found: &Found) -> (u64, u64) {
        let now = self.now();
        (now, found.entry.age_at(now))
    }

    /// A stored response reused without the origin: counted, with the
    /// bytes it saved, and served.
    pub(super) fn serve_reused(
        &self,
        ask: &Ask,
        found: &Found,
        outcome: Outcome,
        label: Label,
        at: (u64, u64),
    ) -> Response<EdgeBody> {
        self.count(ask, outcome);
        self.inner
            .metrics
            .saved_from_origin(found.object.body.len() as u64);
        self.serve_stored(ask, found, label, at)
    }

    /// Answers from a stored response, applying the client's conditionals
    /// and range, at `(now, age)`: the clock reading and the stored
    /// response's current age (§4.2.3) at it, which the reuse decision has
    /// already computed. The `Cache-Status` gets its `ttl` here, from that
    /// age and the stored lifetime.
    pub(super) fn serve_stored(
        &self,
        ask: &Ask,
        found: &Found,
        label: Label,
        (now, age): (u64, u64),
    ) -> Response<EdgeBody> {
        let entry = &found.entry;
        let body = &found.object.body;
        let len = body.len() as u64;
        let plan = client_plan(
            &ask.method,
            &ask.headers,
            entry.meta.status,
            &entry.validators,
            Some(len),
            now,
        );
        if plan == Plan::NotModified {
            self.inner.metrics.not_modified(len);
        }
        let served = ServedAt {
            entry,
            label,
            age,
            len,
        };
        let (mut response, head) = render::from_stored(&ask.method, plan, &entry.meta, body);
        match head {
            Head::Plain(answer) => *response.headers_mut() = self.served_headers(&served, answer),
            Head::Built => decorate(
                response.headers_mut(),
                Some(age),
                &self.served_status(&served),
                &self.inner.via,
            ),
        }
        response
    }

    /// The `Cache-Status` member of a stored response served at `served.age`.
    fn served_status(&self, served: &ServedAt<'_>) -> HeaderValue {
        let ttl = ttl_of(served.entry.freshness_on_arrival.lifetime, served.age);
        match &served.label {
            Label::Hit => self.status(None).ttl(ttl),
            Label::Other(status) => status.clone().ttl(ttl),
        }
        .to_header_value()
    }

    /// The fields of the stored response whole (`Content-Length` set to the
    /// stored body's) or of a `304` for it, with `Age`, `Via` and
    /// `Cache-Status`. A plain hit's are kept with the entry for the second
    /// its age stays the same ([`ResponseEntry::hit_headers`]).
    fn served_headers(&self, served: &ServedAt<'_>, answer: HitAnswer) -> HeaderMap {
        let build = || {
            let mut headers = render::plain_headers(&served.entry.meta, answer, served.len);
            decorate(
                &mut headers,
                Some(served.age),
                &self.served_status(served),
                &self.inner.via,
            );
            headers
        };
        match served.label {
            Label::Hit => served.entry.hit_headers(served.age, answer, build),
            Label::Other(_) => build(),
        }
    }

    /// The origin failed a fill or revalidation: serve stale if
    /// `stale-if-error` allows, else 502/504.
    pub(super) fn failed(
        &self,
        ask: &Ask,
        found: Option<&Found>,
        failure: Failure,
        why: Forward,
        collapsed: bool,
    ) -> Response<EdgeBody> {
        let now = self.now();
        if let Some(found) = found
            && stale_if_error_allows(&self.inner.cache, &found.entry.meta.stored(), &ask.headers, now)
        {
            self.count(ask, Outcome::Stale);
            self.inner.metrics.stale(StaleReason::IfError);
            let status = self
                .status(Some(Forward::Stale))
                .collapsed(collapsed)
                .detail("stale-if-error");
            return self.serve_stored(ask, found, Label::Other(status), self.age_now(found));
        }
        self.count(ask, Outcome::Error);
        let mut response = Problem::new(failure.status(), failure.title())
            .with_detail(failure.detail())
            .into_response();
        let status = self
            .status(Some(why))
            .collapsed(collapsed)
            .detail(failure.token());
        decorate(
            response.headers_mut(),
            None,
            &status.to_header_value(),
            &self.inner.via,
        );
        response
    }
}
