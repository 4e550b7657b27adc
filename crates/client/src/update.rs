//! Optimistic concurrency: read, apply a change, write it back only if
//! nobody else wrote in between — and when somebody did, re-fetch, merge
//! and retry.
//!
//! The loop of [`Updater::update`] is the "re-fetch, merge, retry" recipe
//! for lost updates ([RFC 9110 §13.1.1], the `If-Match` example):
//!
//! 1. `GET` the resource and keep its strong `ETag` (a missing resource is
//!    `None` to the closure).
//! 2. Apply the caller's closure to the current value.
//! 3. `PUT` the result with `If-Match: <etag>` — or `If-None-Match: *` when
//!    the resource did not exist, so the write only creates.
//! 4. On `412 Precondition Failed` someone else won the race: wait a
//!    full-jitter exponential backoff and go back to 1, at most
//!    [`RetryPolicy::max_attempts`] times, then fail with
//!    [`UpdateError::AttemptsExhausted`].
//!
//! The helper refuses to write without a validator: if the `GET` carries no
//! `ETag` (or only a weak one, which `If-Match` can never match, RFC 9110
//! §13.1.1) it fails with [`UpdateError::PreconditionsUnsupported`] before
//! sending anything, rather than overwriting blindly.
//!
//! [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_MATCH, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use rand::Rng;
use revalidate_core::EntityTag;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::Problem;
use crate::transport::{ReqwestTransport, Transport, TransportError};

/// How many times to try and how long to wait between tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts (read + write) before giving up; at least 1.
    pub max_attempts: u32,
    /// The backoff cap after the first conflict; it doubles per conflict.
    pub base_delay: Duration,
    /// The backoff cap never grows beyond this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, backoff caps of 10 ms doubling up to 1 s.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the wait after conflict number `conflicts` (1 for
    /// the first): `min(max_delay, base_delay · 2^(conflicts-1))`.
    pub fn backoff_cap(&self, conflicts: u32) -> Duration {
        let doubling = conflicts.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << doubling)
            .min(self.max_delay)
    }

    /// "Full jitter": a uniformly random wait in `[0, backoff_cap]`, so
    /// updaters that collided do not collide again in lock step.
    pub fn backoff(&self, conflicts: u32, rng: &mut impl Rng) -> Duration {
        let cap = u64::try_from(self.backoff_cap(conflicts).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.random_range(0..=cap))
    }
}

/// What the closure wants done with the current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update<T> {
    /// Write this value (create it if the resource does not exist).
    Replace(T),
    /// Write nothing; the update ends with [`Written::Unchanged`].
    Keep,
}

/// What the update did in the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// The resource did not exist and was created (`If-None-Match: *`).
    Created,
    /// The resource was replaced (`If-Match`).
    Replaced,
    /// The closure returned [`Update::Keep`]; nothing was written.
    Unchanged,
}

/// The result of a successful update or create.
#[derive(Clone, Debug, PartialEq)]
pub struct Updated<T> {
    /// The value now stored: what the server sent back after the write
    /// (or what was written, if the body was empty). `None` only when the
    /// resource is absent and the closure kept it that way.
    pub value: Option<T>,
    /// The resource's entity-tag after the update, if the server sent one.
    pub etag: Option<EntityTag>,
    /// What was done.
    pub written: Written,
    /// How many read-apply-write rounds it took (1 without conflicts).
    pub attempts: u32,
}

/// Why the server cannot be used for optimistic updates.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// The `GET` response has no (valid) `ETag` field.
    #[error("its GET response carries no entity-tag")]
    NoEntityTag,
    /// The `GET` response has a weak entity-tag, which `If-Match` compares
    /// strongly and so never matches (RFC 9110 §13.1.1).
    #[error("its GET response carries only a weak entity-tag ({0}), which If-Match never matches")]
    WeakEntityTag(EntityTag),
}

/// Why an update or a create failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The closure refused the current value.
    #[error("the change was refused: {0}")]
    Rejected(E),
    /// Every attempt met `412 Precondition Failed`: the resource kept
    /// changing faster than this client could write.
    #[error("gave up after {attempts} attempts: the resource changed before each write (412)")]
    AttemptsExhausted {
        /// How many rounds were tried.
        attempts: u32,
    },
    /// The server gives no strong validator, so a write could not be made
    /// conditional; nothing was written.
    #[error("{url} does not support preconditions: {reason}")]
    PreconditionsUnsupported {
        /// The resource.
        url: String,
        /// What was missing.
        reason: Unsupported,
    },
    /// A create-only write (`If-None-Match: *`) found the resource already
    /// there.
    #[error("{url} already exists")]
    AlreadyExists {
        /// The resource.
        url: String,
        /// Its current entity-tag, if the 412 named it.
        current: Option<EntityTag>,
        /// The server's problem details, if any.
        problem: Option<Box<Problem>>,
    },
    /// The server answered with a status the update cannot handle.
    #[error("{method} {url} answered {status}{}", problem_suffix(.problem))]
    Status {
        /// The method of the failed request.
        method: Method,
        /// The resource.
        url: String,
        /// The status code.
        status: StatusCode,
        /// The server's problem details, if the body was `application/problem+json`.
        problem: Option<Box<Problem>>,
    },
    /// A body was not the JSON the type expects, or the value could not be
    /// serialized.
    #[error("JSON for {url}: {source}")]
    Json {
        /// The resource.
        url: String,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The URL cannot be used in a request.
    #[error("invalid URL {url}: {message}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why.
        message: String,
    },
    /// No HTTP response at all.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

fn problem_suffix(problem: &Option<Box<Problem>>) -> String {
    problem.as_ref().map(|p| format!(" ({p})")).unwrap_or_default()
}

impl<E> UpdateError<E> {
    fn status(method: Method, url: &str, response: &Response<Bytes>) -> Self {
        Self::Status {
            method,
            url: url.to_owned(),
            status: response.status(),
            problem: Problem::from_response(response.headers(), response.body()).map(Box::new),
        }
    }
}

/// What a `GET` of the resource told the loop (pure, see [`classify_read`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadVerdict {
    /// The resource exists and has this strong entity-tag.
    Found(EntityTag),
    /// The resource does not exist (404 or 410).
    Missing,
    /// It exists but has no usable validator.
    Unsupported(Unsupported),
    /// Any other status: an error for the caller.
    Failed,
}

/// Decides what a `GET` response means for an optimistic update.
pub fn classify_read(status: StatusCode, headers: &HeaderMap) -> ReadVerdict {
    match status {
        StatusCode::NOT_FOUND | StatusCode::GONE => ReadVerdict::Missing,
        s if s.is_success() => {
            let mut lines = headers.get_all(ETAG).iter();
            let tag = match (lines.next(), lines.next()) {
                (Some(value), None) => EntityTag::from_header(value).ok(),
                // Several ETag lines are as unusable as none.
                _ => None,
            };
            match tag {
                None => ReadVerdict::Unsupported(Unsupported::NoEntityTag),
                Some(tag) if tag.is_weak() => ReadVerdict::Unsupported(Unsupported::WeakEntityTag(tag)),
                Some(tag) => ReadVerdict::Found(tag),
            }
        }
        _ => ReadVerdict::Failed,
    }
}

/// What a conditional write's response means (pure, see [`classify_write`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteVerdict {
    /// The write was applied.
    Written,
    /// `412`: the precondition was false — someone else wrote first (or,
    /// for create-only, the resource exists).
    Conflict,
    /// Any other status: an error for the caller.
    Failed,
}

/// Decides what the response to a conditional `PUT` means.
pub fn classify_write(status: StatusCode) -> WriteVerdict {
    match status {
        StatusCode::PRECONDITION_FAILED => WriteVerdict::Conflict,
        s if s.is_success() => WriteVerdict::Written,
        _ => WriteVerdict::Failed,
    }
}

/// Runs optimistic updates of JSON resources over a [`Transport`].
#[derive(Clone, Debug)]
pub struct Updater<X = ReqwestTransport> {
    transport: X,
    policy: RetryPolicy,
}

impl Updater<ReqwestTransport> {
    /// An updater over real HTTP with the default [`RetryPolicy`].
    pub fn new() -> Result<Self, TransportError> {
        Ok(Self::with_transport(ReqwestTransport::new()?))
    }
}

impl<X: Transport> Updater<X> {
    /// An updater over `transport` with the default [`RetryPolicy`].
    pub fn with_transport(transport: X) -> Self {
        Self {
            transport,
            policy: RetryPolicy::default(),
        }
    }

    /// Replaces the retry policy; `max_attempts` of 0 counts as 1.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The retry policy in use.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Reads the JSON resource at `url`, applies `apply` and writes the
    /// result back conditionally, retrying on conflicts (see the module
    /// docs). `apply` may run once per attempt, so it must be a pure
    /// function of the value it is given.
    pub async fn update<T, E, F>(&self, url: &str, mut apply: F) -> Result<Updated<T>, UpdateError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Result<Update<T>, E>,
    {
        let max_attempts = self.policy.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let read = self.send(url, Method::GET, HeaderMap::new(), None).await?;
            let (current, validator) = match classify_read(read.status(), read.headers()) {
                ReadVerdict::Found(tag) => (Some(decode::<T, E>(url, read.body())?), Some(tag)),
                ReadVerdict::Missing => (None, None),
                ReadVerdict::Unsupported(reason) => {
                    return Err(UpdateError::PreconditionsUnsupported {
                        url: url.to_owned(),
                        reason,
                    });
                }
                ReadVerdict::Failed => return Err(UpdateError::status(Method::GET, url, &read)),
            };
            let new = match apply(current).map_err(UpdateError::Rejected)? {
                Update::Replace(new) => new,
                Update::Keep => {
                    let value = match read.status().is_success() {
                        true => Some(decode::<T, E>(url, read.body())?),
                        false => None,
                    };
                    return Ok(Updated {
                        value,
                        etag: validator,
                        written: Written::Unchanged,
                        attempts: attempt,
                    });
                }
            };
            let mut headers = HeaderMap::new();
            let written = match &validator {
                Some(tag) => {
                    headers.insert(IF_MATCH, tag.to_header_value());
                    Written::Replaced
                }
                None => {
                    headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
                    Written::Created
                }
            };
            let body = encode::<T, E>(url, &new)?;
            let response = self.send(url, Method::PUT, headers, Some(body)).await?;
            match classify_write(response.status()) {
                WriteVerdict::Written => return Ok(finish(response, new, written, attempt)),
                WriteVerdict::Conflict if attempt >= max_attempts => {
                    return Err(UpdateError::AttemptsExhausted { attempts: attempt });
                }
                WriteVerdict::Conflict => {
                    let wait = self.policy.backoff(attempt, &mut rand::rng());
                    tracing::debug!(url, attempt, ?wait, "412 on a conditional write; re-fetching");
                    tokio::time::sleep(wait).await;
                }
                WriteVerdict::Failed => return Err(UpdateError::status(Method::PUT, url, &response)),
            }
        }
    }

    /// Creates the JSON resource at `url` only if it does not exist yet
    /// (`PUT` with `If-None-Match: *`, RFC 9110 §13.1.2). If it exists the
    /// result is [`UpdateError::AlreadyExists`]; nothing is retried.
    pub async fn create<T>(&self, url: &str, value: T) -> Result<Updated<T>, UpdateError<Infallible>>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut headers = HeaderMap::new();
        headers.insert(IF_NONE_MATCH, HeaderValue::from_static("*"));
        let body = encode::<T, Infallible>(url, &value)?;
        let response = self.send(url, Method::PUT, headers, Some(body)).await?;
        match classify_write(response.status()) {
            WriteVerdict::Written => Ok(finish(response, value, Written::Created, 1)),
            WriteVerdict::Conflict => Err(UpdateError::AlreadyExists {
                url: url.to_owned(),
                current: response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| EntityTag::from_header(v).ok()),
                problem: Problem::from_response(response.headers(), response.body()).map(Box::new),
            }),
            WriteVerdict::Failed => Err(UpdateError::status(Method::PUT, url, &response)),
        }
    }

    async fn send<E>(
        &self,
        url: &str,
        method: Method,
        mut headers: HeaderMap,
        json: Option<Bytes>,
    ) -> Result<Response<Bytes>, UpdateError<E>> {
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if json.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let mut request = Request::builder()
            .method(method)
            .uri(url)
            .body(json.unwrap_or_default())
            .map_err(|e| UpdateError::InvalidUrl {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        *request.headers_mut() = headers;
        Ok(self.transport.send(request).await?)
    }
}

/// The success value of a write: the server's representation when it sent
/// one that parses, otherwise what was written.
fn finish<T: DeserializeOwned>(
    response: Response<Bytes>,
    written_value: T,
    written: Written,
    attempts: u32,
) -> Updated<T> {
    let etag = response
        .headers()
        .get(ETAG)
        .and_then(|v| EntityTag::from_header(v).ok());
    let value = serde_json::from_slice(response.body()).unwrap_or(written_value);
    Updated {
        value: Some(value),
        etag,
        written,
        attempts,
    }
}

fn decode<T: DeserializeOwned, E>(url: &str, body: &[u8]) -> Result<T, UpdateError<E>> {
    serde_json::from_slice(body).map_err(|source| UpdateError::Json {
        url: url.to_owned(),
        source,
    })
}

fn encode<T: Serialize, E>(url: &str, value: &T) -> Result<Bytes, UpdateError<E>> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|source| UpdateError::Json {
            url: url.to_owned(),
            source,
        })
}
