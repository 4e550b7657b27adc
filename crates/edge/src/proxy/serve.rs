//! Answers from a stored response (the client's conditionals and range
//! applied, `Age`, `Via` and `Cache-Status` set), and the answer when the
//! origin failed.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use revalidate_core::cache::{Forward, stale_if_error_allows};
use revalidate_core::not_modified_headers;

use super::{Ask, Edge, Found, Label, ServedAt, ttl_of};
use crate::body::{EdgeBody, empty, full};
use crate::decide::{self, ClientAnswer, answer_client, decorate, partial_headers};
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
        let body = found.object.body.clone();
        let len = body.len() as u64;
        let answer = answer_client(
            &ask.method,
            &ask.headers,
            entry.meta.status,
            &entry.validators,
            Some(len),
            now,
        );
        let served = ServedAt {
            entry,
            label,
            age,
            len,
        };
        let whole = |body: Bytes| {
            if ask.method == Method::HEAD {
                empty()
            } else {
                full(body)
            }
        };
        let mut response = match answer {
            ClientAnswer::NotModified => {
                self.inner.metrics.not_modified(len);
                let headers = self.served_headers(&served, HitAnswer::NotModified);
                let mut response = Response::new(empty());
                *response.status_mut() = StatusCode::NOT_MODIFIED;
                *response.headers_mut() = headers;
                return response;
            }
            ClientAnswer::Full => {
                let headers = self.served_headers(&served, HitAnswer::Full);
                let mut response = Response::new(whole(body));
                *response.status_mut() = entry.meta.status;
                *response.headers_mut() = headers;
                return response;
            }
            ClientAnswer::PreconditionFailed => precondition_failed(&entry.meta.headers),
            ClientAnswer::Range(range) => {
                let mut response = Response::new(whole(body.slice(slice_bounds(&range))));
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                *response.headers_mut() = partial_headers(&entry.meta.headers, &range, len);
                response
            }
            ClientAnswer::Unsatisfiable(len) => {
                Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                    .with_detail("None of the requested ranges overlaps the stored representation.")
                    .with_header(http::header::CONTENT_RANGE, decide::content_range(None, len))
                    .into_response()
            }
        };
        decorate(
            response.headers_mut(),
            Some(age),
            &self.served_status(&served),
            &self.inner.via,
        );
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
            let stored = &served.entry.meta;
            let mut headers = match answer {
                HitAnswer::NotModified => not_modified_headers(&stored.headers),
                HitAnswer::Full => {
                    let mut headers = stored.headers.clone();
                    if stored.status != StatusCode::NO_CONTENT && stored.status != StatusCode::NOT_MODIFIED {
                        headers.insert(CONTENT_LENGTH, HeaderValue::from(served.len));
                    }
                    headers
                }
            };
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

fn slice_bounds(range: &std::ops::RangeInclusive<u64>) -> std::ops::Range<usize> {
    let start = usize::try_from(*range.start()).unwrap_or(usize::MAX);
    let end = usize::try_from(*range.end()).unwrap_or(usize::MAX - 1);
    start..end + 1
}

/// `412` from the cache: the client's `If-Match` or `If-Unmodified-Since`
/// failed against the stored response. The stored `ETag` goes along so
/// that the client can see what is current.
pub(super) fn precondition_failed(stored: &HeaderMap) -> Response<EdgeBody> {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
        .with_detail("The representation does not match the request's If-Match or If-Unmodified-Since.");
    if let Some(etag) = stored.get(http::header::ETAG) {
        problem = problem.with_header(http::header::ETAG, etag.clone());
    }
    problem.into_response()
}
