//! The JSON resource API with optimistic concurrency.
//!
//! | route | methods |
//! |---|---|
//! | `{prefix}{collection}` | `POST` creates a resource with a generated id: `201` with `Location` and `ETag` |
//! | `{prefix}{collection}/{id}` | `GET`, `HEAD`, `PUT` (create or replace), `PATCH` (JSON Merge Patch, [RFC 7396]), `DELETE` |
//!
//! # What a write stores, and the validators it answers with
//!
//! A `PUT` (and a `POST` to a collection) stores the request body exactly
//! as sent, once it is checked to be JSON within `body_limit`: no parse
//! and re-serialise, so whitespace, key order, `1.0` and `\u00e9` survive
//! and a GET returns the same bytes. That is what allows the `ETag` and
//! `Last-Modified` on the 200/201: an origin "MUST NOT send a validator
//! field ... in a successful response to PUT unless the request's
//! representation data was saved without any transformation applied to
//! the body" ([RFC 9110 §9.3.4]).
//!
//! A `PATCH` ([RFC 5789]; the one format is JSON Merge Patch) makes a new
//! representation the server computed: the merge of the stored document
//! and the patch, stored as its compact serialisation. §9.3.4 is about
//! `PUT`; [RFC 5789 §2] leaves a `PATCH` response's fields to the method's
//! semantics, and the 200 carries that new representation in full, so
//! its `ETag` and `Last-Modified` name exactly the bytes in the body (and
//! what the next GET returns): the client learns the server's form and
//! can use the tag for its next `If-Match`.
//!
//! Every representation carries a strong `ETag` computed by the store when
//! the version was written, so every node sharing the database sends the
//! same one. Writes evaluate `If-Match`, `If-None-Match` and
//! `If-Unmodified-Since` with the core evaluator *inside* the store's write
//! transaction: the comparison and the write are one atomic step, so of two
//! writers holding the same `ETag` exactly one wins and the other gets
//! `412` with the current `ETag` and a problem body that says to re-fetch.
//!
//! `If-Unmodified-Since` is as safe as `If-Match` against racing writers:
//! the store knows when a resource changed more than once within the
//! second a `Last-Modified` names (or was deleted and created again in it),
//! sends that date as weak while the second lasts and the next second
//! after it, and the core's evaluator refuses a weak date
//! (`revalidate_store`'s crate docs; `DEVIATION(weak-unmodified-since)` in
//! `revalidate_core`). A stale `If-Unmodified-Since` cannot re-create a
//! resource another client deleted either
//! (`DEVIATION(removed-unmodified-since)`).
//!
//! On a collection listed in `require_preconditions`, a write must carry a
//! precondition that guards it ([`revalidate_core::WriteGuard`]): `If-Match`
//! with entity-tags, an `If-Unmodified-Since` not later than the server's
//! clock, or `If-None-Match: *` to create. Anything else, `If-Match: *`
//! included (it holds for every version), gets `428` ([RFC 6585 §3]).
//!
//! Request bodies are read within `body_read_timeout` (`[api]
//! body_read_timeout_ms`): a client that stops sending gets `408` with
//! `Connection: close`, and nothing is written. Store operations are
//! bounded by the store's own timeout; one that runs out is a `503` with
//! `Retry-After`.
//!
//! Deliberate leniency: `PATCH` accepts `application/json` as well as
//! `application/merge-patch+json` (`DEVIATION(patch-json)`), since many
//! clients send the former for merge patches.
//!
//! With `[edge_purge]`, each successful write records the purge of the
//! resource's URL in the store's outbox, in the write's own transaction
//! (the store given to [`router_with_edge_purge`] was opened with
//! [`AnyStore::with_purge_outbox`]), and wakes the [`EdgePurger`], which
//! delivers it to the edges ([`crate::edge_purge`]).
//!
//! [RFC 7396]: https://www.rfc-editor.org/rfc/rfc7396
//! [RFC 9110 §9.3.4]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.4
//! [RFC 5789]: https://www.rfc-editor.org/rfc/rfc5789
//! [RFC 5789 §2]: https://www.rfc-editor.org/rfc/rfc5789#section-2
//! [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use revalidate_core::cache::CDN_CACHE_CONTROL;
use revalidate_core::{HttpDate, Outcome, Preconditions, WriteGuard, not_modified_headers};
use revalidate_store::{
    AnyStore, Change, CollectionName, Current, JsonText, Resource, ResourceKey, Store, StoreError,
    WriteOutcome,
};
use serde_json::Value;

use crate::clock::SharedClock;
use crate::edge_purge::EdgePurger;
use crate::metrics::BytesSaved;
use crate::problem::{Problem, ProblemResponse};

/// What the API needs besides the store.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// The prefix the API is mounted under, e.g. `/api/` (for `Location`).
    pub prefix: String,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Collections whose writes must carry a precondition (`*` for all).
    pub require_preconditions: Vec<String>,
    /// How long reading a request body may take, from the handler's first
    /// read to its last byte; past it the client gets `408`.
    pub body_read_timeout: Duration,
    /// Where the time comes from, read once per request: the exact time
    /// a write is stamped with, and its HTTP-date for the preconditions and
    /// the headers ([`crate::clock`]).
    pub clock: SharedClock,
}

impl ApiSettings {
    fn requires_preconditions(&self, collection: &CollectionName) -> bool {
        self.require_preconditions
            .iter()
            .any(|c| c == "*" || c == collection.as_str())
    }
}

#[derive(Clone)]
struct Api {
    store: AnyStore,
    settings: Arc<ApiSettings>,
    edge_purge: Option<EdgePurger>,
}

impl Api {
    /// A write of `key` committed, and with it the purge of its URL (the
    /// store records it in the write's transaction): wakes this node's
    /// deliverer.
    fn written(&self, _key: &ResourceKey) {
        if let Some(purger) = &self.edge_purge {
            purger.wake();
        }
    }

    /// Adds what the edges are told beyond `Cache-Control` to a read's
    /// header fields.
    fn for_edges(&self, headers: &mut HeaderMap) {
        if let Some(value) = self.edge_purge.as_ref().and_then(EdgePurger::cdn_cache_control) {
            headers.insert(CDN_CACHE_CONTROL, value.clone());
        }
    }
}

/// The API's router, to be nested under `settings.prefix`.
pub fn router(store: AnyStore, settings: ApiSettings) -> Router {
    router_with_edge_purge(store, settings, None)
}

/// [`router`] that wakes `edge_purge` after each successful write (pass
/// the store [`EdgePurger::start`] returned: its writes record their
/// purges), and gives reads the edges' `CDN-Cache-Control` (see
/// [`crate::edge_purge`]).
pub fn router_with_edge_purge(
    store: AnyStore,
    settings: ApiSettings,
    edge_purge: Option<EdgePurger>,
) -> Router {
    let api = Api {
        store,
        settings: Arc::new(settings),
        edge_purge,
    };
    let item: MethodRouter<Api> = get(read)
        .put(put)
        .patch(patch)
        .delete(delete)
        .fallback(item_not_allowed);
    let collection: MethodRouter<Api> = post(create).fallback(collection_not_allowed);
    Router::new()
        .route("/{collection}/{id}", item)
        .route("/{collection}", collection)
        .fallback(not_found)
        .with_state(api)
}

/// Why a write's decision refused to change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    PreconditionFailed,
    NotFound,
    /// The stored body of the resource to patch does not parse (a row
    /// edited by hand): nothing can be merged into it.
    StoredBodyUnreadable,
}

// ----- handlers ------------------------------------------------------------

async fn read(
    State(api): State<Api>,
    method: Method,
    path: ItemPath,
    headers: HeaderMap,
) -> Result<Response, ProblemResponse> {
    let key = key_from(path)?;
    // §13.2.1: without preconditions a missing resource is a 404, so they are ignored.
    let resource = api
        .store
        .get(&key)
        .await
        .map_err(|e| store_failure(&e))?
        .ok_or_else(|| not_found_resource(&key))?;
    let preconditions = Preconditions::from_headers(&headers);
    let now = api.settings.clock.read().date;
    Ok(
        match preconditions.evaluate(&method, &resource.validators(now), now) {
            Outcome::NotModified => {
                let mut response = StatusCode::NOT_MODIFIED.into_response();
                let mut headers = representation_headers(&resource, now);
                api.for_edges(&mut headers);
                *response.headers_mut() = not_modified_headers(&headers);
                response
                    .extensions_mut()
                    .insert(BytesSaved(resource.json().len() as u64));
                response
            }
            Outcome::PreconditionFailed => precondition_failed(Some(&resource)).into_response(),
            Outcome::Proceed | Outcome::IgnoreRange => {
                let mut response = representation(StatusCode::OK, &resource, now);
                api.for_edges(response.headers_mut());
                response
            }
        },
    )
}

async fn put(
    State(api): State<Api>,
    path: ItemPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ProblemResponse> {
    let key = key_from(path)?;
    let preconditions = required_preconditions(&api, &key, &headers, api.settings.clock.read().date)?;
    let document = read_document(&api, &headers, body).await?;
    let now = api.settings.clock.read();
    let outcome = api
        .store
        .write(&key, now.exact, |current| {
            guard(&preconditions, &Method::PUT, current, now.date)?;
            Ok(Change::Put(document.clone()))
        })
        .await;
    Ok(write_response(&api, outcome, now.date))
}

async fn patch(
    State(api): State<Api>,
    path: ItemPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ProblemResponse> {
    let key = key_from(path)?;
    // DEVIATION(patch-json): RFC 7396 registers application/merge-patch+json;
    // plain application/json is accepted too because many clients send it.
    let accepted = ["application/merge-patch+json", "application/json"];
    let preconditions = required_preconditions(&api, &key, &headers, api.settings.clock.read().date)?;
    let merge_patch = read_body(&api, &headers, body, &accepted)
        .await
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| invalid_json(&e)))
        .map_err(|problem| problem.with_header(ACCEPT_PATCH, accept_patch()))?;
    let now = api.settings.clock.read();
    let outcome = api
        .store
        .write(&key, now.exact, |current| {
            // §13.2.1: a PATCH of a missing resource is a 404 whatever its
            // preconditions, so they are not evaluated.
            let Some(current_resource) = current.resource() else {
                return Err(Refusal::NotFound);
            };
            guard(&preconditions, &Method::PATCH, current, now.date)?;
            let mut merged = current_resource
                .json_text()
                .to_value()
                .map_err(|_| Refusal::StoredBodyUnreadable)?;
            json_patch::merge(&mut merged, &merge_patch);
            // The new representation is the server's serialisation of the
            // merge; the response carries it with its validators (see the
            // module docs on PATCH).
            Ok(Change::Put(JsonText::from_value(&merged)))
        })
        .await;
    Ok(write_response(&api, outcome, now.date))
}

async fn delete(
    State(api): State<Api>,
    path: ItemPath,
    headers: HeaderMap,
) -> Result<Response, ProblemResponse> {
    let key = key_from(path)?;
    let now = api.settings.clock.read();
    let preconditions = required_preconditions(&api, &key, &headers, now.date)?;
    let outcome = api
        .store
        .write(&key, now.exact, |current| {
            if current.resource().is_none() {
                return Err(Refusal::NotFound);
            }
            guard(&preconditions, &Method::DELETE, current, now.date)?;
            Ok(Change::Delete)
        })
        .await;
    Ok(write_response(&api, outcome, now.date))
}

async fn create(
    State(api): State<Api>,
    collection: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ProblemResponse> {
    let Path(collection) = collection.map_err(|e| invalid_path(&e))?;
    let collection = CollectionName::new(&collection).map_err(|e| invalid_name(&e.to_string()))?;
    let document = read_document(&api, &headers, body).await?;
    let now = api.settings.clock.read();
    let resource = api
        .store
        .create(&collection, document, now.exact)
        .await
        .map_err(|e| store_failure(&e))?;
    api.written(resource.key());
    Ok(created(&api, &resource, now.date))
}

async fn item_not_allowed(method: Method) -> Response {
    not_allowed(&method, "GET, HEAD, PUT, PATCH, DELETE").into_response()
}

async fn collection_not_allowed(method: Method) -> Response {
    not_allowed(&method, "POST").into_response()
}

async fn not_found() -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not Found")
        .with_detail("API paths are {collection} (POST) and {collection}/{id}.")
        .into_response()
}

// ----- decisions -------------------------------------------------------------

/// Evaluates the preconditions against the state the store locked.
fn guard(
    preconditions: &Preconditions,
    method: &Method,
    current: Current<'_>,
    now: HttpDate,
) -> Result<(), Refusal> {
    match preconditions.evaluate(method, &current.validators(now), now) {
        Outcome::Proceed | Outcome::IgnoreRange => Ok(()),
        // Unsafe methods never get 304: a failed If-None-Match is a 412
        // (§13.1.2), which the evaluator already says.
        Outcome::PreconditionFailed | Outcome::NotModified => Err(Refusal::PreconditionFailed),
    }
}

/// The request's preconditions; a `428` when the collection requires them
/// and none guards the write ([RFC 6585 §3]; the core's
/// [`Preconditions::write_guard`] decides). Checked before the body is
/// read, so a refused write costs no upload.
///
/// [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3
fn required_preconditions(
    api: &Api,
    key: &ResourceKey,
    headers: &HeaderMap,
    now: HttpDate,
) -> Result<Preconditions, Problem> {
    let preconditions = Preconditions::from_headers(headers);
    if api.settings.requires_preconditions(key.collection())
        && let WriteGuard::Unguarded(why) = preconditions.write_guard(now)
    {
        return Err(Problem::new(StatusCode::PRECONDITION_REQUIRED, "Precondition Required")
            .with_detail(format!(
                "Writes to collection {:?} must be conditional: send If-Match with the ETag of the version \
                 you changed (GET it first), If-Unmodified-Since with its Last-Modified, or \
                 If-None-Match: * to create. {}",
                key.collection().as_str(),
                why.describe()
            ))
            .with_member("unguarded", format!("{why:?}")));
    }
    Ok(preconditions)
}

fn write_response(api: &Api, outcome: Result<WriteOutcome<Refusal>, StoreError>, now: HttpDate) -> Response {
    match outcome {
        Ok(WriteOutcome::Created(resource)) => {
            api.written(resource.key());
            created(api, &resource, now)
        }
        Ok(WriteOutcome::Replaced(resource)) => {
            api.written(resource.key());
            representation(StatusCode::OK, &resource, now)
        }
        Ok(WriteOutcome::Deleted(resource)) => {
            api.written(resource.key());
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(
            WriteOutcome::Absent
            | WriteOutcome::Refused {
                refusal: Refusal::NotFound,
                ..
            },
        ) => Problem::new(StatusCode::NOT_FOUND, "Not Found")
            .with_detail("No such resource.")
            .into_response(),
        Ok(WriteOutcome::Refused {
            refusal: Refusal::PreconditionFailed,
            current,
        }) => precondition_failed(current.as_ref()).into_response(),
        Ok(WriteOutcome::Refused {
            refusal: Refusal::StoredBodyUnreadable,
            ..
        }) => {
            tracing::error!("the stored body of a resource to patch is not valid JSON");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                .with_detail("The stored resource is not valid JSON, so the patch cannot be applied; nothing was written.")
                .into_response()
        }
        Err(e) => store_failure(&e).into_response(),
    }
}

// ----- responses -------------------------------------------------------------

const ACCEPT_PATCH: HeaderName = HeaderName::from_static("accept-patch");

fn accept_patch() -> HeaderValue {
    HeaderValue::from_static("application/merge-patch+json")
}

/// The header fields of a 200 carrying `resource`, sent at `now`.
fn representation_headers(resource: &Resource, now: HttpDate) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::ETAG, resource.etag().to_header_value());
    headers.insert(
        header::LAST_MODIFIED,
        resource.last_modified(now).to_header_value(),
    );
    // The resource can change at any moment: caches may store it but must
    // revalidate before each use (RFC 9111 §5.2.2.4).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers
}

fn representation(status: StatusCode, resource: &Resource, now: HttpDate) -> Response {
    let mut headers = representation_headers(resource, now);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(resource.json().len()));
    (status, headers, resource.json().to_owned()).into_response()
}

fn created(api: &Api, resource: &Resource, now: HttpDate) -> Response {
    let mut response = representation(StatusCode::CREATED, resource, now);
    let location = format!(
        "{}{}/{}",
        api.settings.prefix,
        resource.key().collection().as_str(),
        resource.key().id()
    );
    if let Ok(value) = HeaderValue::try_from(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn precondition_failed(current: Option<&Resource>) -> Problem {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed").with_detail(
        "The resource changed since you read it (or does not exist). Re-fetch it, apply your change to the \
         current version, and retry with its ETag in If-Match.",
    );
    if let Some(resource) = current {
        problem = problem
            .with_member("current_etag", resource.etag().to_string())
            .with_header(header::ETAG, resource.etag().to_header_value());
    }
    problem
}

fn not_found_resource(key: &ResourceKey) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "Not Found").with_detail(format!(
        "No resource {:?} in collection {:?}.",
        key.id(),
        key.collection().as_str()
    ))
}

fn not_allowed(method: &Method, allow: &'static str) -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        .with_detail(format!("{method} is not supported here; use one of: {allow}."))
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
}

fn invalid_name(message: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid resource name").with_detail(message.to_owned())
}

fn store_failure(error: &StoreError) -> Problem {
    match error {
        StoreError::InvalidKey(e) => invalid_name(&e.to_string()),
        e if e.is_transient() => {
            tracing::warn!(error = %e, "store unavailable");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
                .with_detail("The database is busy or unreachable; nothing was written. Retry shortly.")
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
        }
        e => {
            tracing::error!(error = %e, "store failure");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                .with_detail("The store failed; nothing was written.")
        }
    }
}

/// The `{collection}/{id}` of an item route, or axum's reason why the path
/// cannot be read (a segment that is not UTF-8 once percent-decoded).
type ItemPath = Result<Path<(String, String)>, PathRejection>;

fn key_from(path: ItemPath) -> Result<ResourceKey, Problem> {
    let Path((collection, id)) = path.map_err(|e| invalid_path(&e))?;
    ResourceKey::new(&collection, &id).map_err(|e| invalid_name(&e.to_string()))
}

/// axum's own rejection is a plain-text 400; ours is problem details like
/// every other refusal of a name (found by `fuzz/` target `api_json`).
fn invalid_path(rejection: &PathRejection) -> Problem {
    invalid_name(&rejection.body_text())
}

/// Reads a `PUT` or `POST` body and checks that it is JSON, keeping its
/// bytes exactly as sent ([RFC 9110 §9.3.4]: the validators the write
/// answers with then describe these bytes).
///
/// [RFC 9110 §9.3.4]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.4
async fn read_document(api: &Api, headers: &HeaderMap, body: Body) -> Result<JsonText, Problem> {
    let bytes = read_body(api, headers, body, &["application/json"]).await?;
    JsonText::parse(&bytes).map_err(|e| invalid_json(&e))
}

fn invalid_json(error: &dyn std::fmt::Display) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "Invalid JSON")
        .with_detail(format!("The body is not valid JSON: {error}."))
}

/// Reads a request body of one of the `accepted` media types: `415` for
/// another media type, `413` past the limit, `408` when it does not arrive
/// within the body read timeout.
async fn read_body(api: &Api, headers: &HeaderMap, body: Body, accepted: &[&str]) -> Result<Bytes, Problem> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if !media_type.as_deref().is_some_and(|m| accepted.contains(&m)) {
        return Err(
            Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported Media Type")
                .with_detail(format!("Send the body as {}.", accepted.join(" or "))),
        );
    }
    let limit = api.settings.body_limit;
    let too_large = || {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large").with_detail(format!(
            "The body is larger than the limit of {limit} bytes; nothing was written."
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let timeout = api.settings.body_read_timeout;
    tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| body_timed_out(timeout))?
        .map_err(|e| {
            if is_length_limit(&e) {
                too_large()
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "Unreadable body")
                    .with_detail(format!("The request body could not be read: {e}."))
            }
        })
}

/// `408 Request Timeout` for a body that did not arrive in time. The
/// connection is closed: the rest of the body may still come, and would be
/// read as the next request ([RFC 9110 §15.5.9]: "the server SHOULD send
/// the "close" connection option").
///
/// [RFC 9110 §15.5.9]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9
fn body_timed_out(timeout: Duration) -> Problem {
    Problem::new(StatusCode::REQUEST_TIMEOUT, "Request Timeout")
        .with_detail(format!(
            "The request body did not arrive within {} ms; nothing was written.",
            timeout.as_millis()
        ))
        .with_header(header::CONNECTION, HeaderValue::from_static("close"))
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}
