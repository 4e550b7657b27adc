//! Tower middleware for conditional requests: strong ETags for dynamic
//! responses, `304 Not Modified`, `412 Precondition Failed` and
//! `If-Range`-guarded byte ranges, for any axum or hyper app.
//!
//! Every decision is made by [`revalidate_core`] (entity-tag comparison,
//! date parsing, the [RFC 9110 §13.2.2] evaluation order, the
//! [RFC 9110 §15.4.5] header set of a 304, and the one plan for answering
//! from a complete representation: 304, 412, 206, multipart 206 or 416);
//! this crate is the shell that reads bodies, reads the clock and turns
//! that plan into responses. It depends on no
//! async runtime: only `tower-service`, `tower-layer`, `http` and
//! `http-body`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use revalidate_tower::ConditionalLayer;
//!
//! let app: Router = Router::new()
//!     .route("/items", get(|| async { axum::Json(vec!["a", "b"]) }))
//!     .layer(ConditionalLayer::new());
//! # let _ = app;
//! ```
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | `layer` | [`ConditionalLayer`], [`ETagLayer`] |
//! | `context` | what a request carries through the layer: its settings, its context while the inner service runs, the response extensions ([`KnownValidators`]) |
//! | `service` | [`Conditional`]: reads the request's preconditions, starts the lookup or calls the handler |
//! | `future` | [`ResponseFuture`]: the lookup → handler → read body → answer state machine |
//! | `respond` | the answer: turns the core's plan into a 304, 412, the response as it is, a 206 (one range or `multipart/byteranges`) or a 416 |
//! | `decide` | the layer's own decisions: whether to read a response, its validators, the answer before the handler (lookup) |
//! | `coding` | content-coded variants: per-coding tags, `Vary: accept-encoding`, `Accept-Encoding`, a client's coded tag |
//! | `lookup` | [`Lookup`] (validators before the handler) and [`Current`] |
//! | `body` | [`ConditionalBody`] (what goes out), [`DeferredBody`] (rendered on first read) |
//! | `tag` | strong tags from the body bytes (XXH3-128), the response's own `ETag` read back |
//! | `clock` | [`Clock`], [`SystemClock`] |
//! | `problem` | the `application/problem+json` bodies of 412 and 416 |
//!
//! # What the layer does with a response
//!
//! For GET and HEAD, when the handler answers 2xx:
//!
//! 1. **Validators.** A handler's own `ETag` (strong or weak) and
//!    `Last-Modified` win. Otherwise validators the layer was given are set:
//!    a [`KnownValidators`] response extension, or what the [`Lookup`]
//!    found. Otherwise, if the body announces a length (size hint or
//!    `Content-Length`) up to [`ConditionalLayer::max_body`], the layer
//!    reads it and sets a strong `ETag` from its XXH3-128 hash (next to a
//!    `Last-Modified`, too: a date has one-second resolution). A body
//!    without a tag that cannot be read is evaluated on its
//!    `Last-Modified` alone, if it has one.
//! 2. **Evaluation** of `If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//!    `If-Modified-Since` and `If-Range`, in that order, by
//!    [`Preconditions::evaluate`](revalidate_core::Preconditions::evaluate):
//!    - 304 with the §15.4.5 header set (`Cache-Control`,
//!      `Content-Location`, `Date`, `ETag`, `Expires`, `Vary` kept; content
//!      metadata dropped) and no body. A body the layer did not read is
//!      dropped unread.
//!    - 412 with a small `application/problem+json` body naming the field
//!      that failed, and the current `ETag`.
//!    - otherwise the response, with `Accept-Ranges: bytes` when the layer
//!      read the body, and, when a GET has `Range`, what the core's
//!      [`answer::plan`](revalidate_core::answer::plan) says, cut from the
//!      bytes read: a 206 for one range, also one that covers the whole
//!      body (`bytes=0-`); a 206 with a `multipart/byteranges` body
//!      ([RFC 9110 §14.6]) for several; a 416 when none overlaps. A body
//!      the layer did not read goes out whole ([RFC 9110 §14.2] lets a
//!      server ignore `Range`). When the request has `If-Range`, the layer
//!      removes `Range` before calling the handler, so that it gets the
//!      whole representation to check the validator against before
//!      cutting; a `Range` without `If-Range` reaches the handler, and a
//!      handler's own 206 goes out as it is.
//! 3. **HEAD** gets the same header fields as GET and no body. The layer
//!    needs the GET body to hash it: apply it with `Router::layer` (axum
//!    calls GET handlers for HEAD and removes the body outside the route's
//!    layers), not around a service that already removed it.
//!
//! Untouched, never read: non-2xx responses ([RFC 9110 §13.2.1]: "A
//! server MUST ignore all received preconditions if its response to the
//! same request without those conditions [...] would have been a status
//! code other than a 2xx"), `Cache-Control: no-store` responses, bodies
//! above the limit or without an announced length (streams), and other
//! methods' responses. The size decision is made before the first byte is
//! read; a body that then outgrows its announced length is handed on as
//! read plus the rest, untagged.
//!
//! # Where to apply it
//!
//! The layer must sit inside the route, where axum still hands the GET
//! body to a HEAD request (see HEAD above). Two ways do that, with the
//! same behaviour:
//!
//! - `Router::layer` (or `route_layer`, or `MethodRouter::layer`) for all
//!   routes at once, as in the example at the top. axum wraps each route's
//!   service in one more boxed service, which it clones for every request:
//!   a cost any layer applied this way pays (about 1.5k instructions per
//!   request in `crates/tower/benches/instructions-server.sh`, measured
//!   with a layer that does nothing).
//! - `Handler::layer` on a hot handler, which skips that extra box: about
//!   800 fewer instructions per request than `Router::layer` there
//!   (BENCHMARKS.md has the figures).
//!
//! ```
//! use axum::handler::Handler;
//! use axum::{Router, routing::get};
//! use revalidate_tower::ConditionalLayer;
//!
//! let items = || async { axum::Json(vec!["a", "b"]) };
//! let app: Router = Router::new().route("/items", get(items.layer(ConditionalLayer::new())));
//! # let _ = app;
//! ```
//!
//! Not around the whole `Router` (`ServiceBuilder::new().layer(…).service(router)`):
//! the router has removed a HEAD response's body by then, so HEAD would
//! go out untagged while GET is tagged.
//!
//! # Validators before the handler
//!
//! [`ConditionalLayer::with_lookup`] takes a function from the request
//! head to the current validators, run before the handler: Django's
//! `@condition(etag_func=…)`. On 304 or 412 the handler never runs. It is
//! also what makes the layer answer `If-Match`/`If-Unmodified-Since` on
//! PUT, PATCH, DELETE and POST with 412 before the write happens ([RFC
//! 9110 §13.1.1]: "An origin server that evaluates an If-Match condition
//! MUST NOT perform the requested method if the condition evaluates to
//! false."). Without a lookup, unsafe methods pass through: after the
//! handler ran it is too late.
//!
//! The lookup runs before the handler, not inside its write: two clients
//! sending the same current tag at the same moment both pass it. Where
//! writes race, check again where the write happens (a transaction, a
//! compare-and-swap; `revalidate-store` does this), as
//! `examples/axum-api` shows. The layer's check still answers the common
//! stale-tag case without touching the write path.
//!
//! Inside a handler, the same idea is a response with [`KnownValidators`]
//! and a [`DeferredBody`]: a 304 drops the body before it is rendered.
//!
//! # Compression
//!
//! tower-http's `CompressionLayer` keeps the `ETag` of the response it
//! compresses, so identity and gzip bodies would share one strong tag
//! ([RFC 9110 §8.8.3.3] gives them different ones). Use this order,
//! outermost first:
//!
//! ```
//! use axum::{Router, routing::get};
//! use revalidate_tower::{ConditionalLayer, ETagLayer};
//! use tower::ServiceBuilder;
//! use tower_http::compression::CompressionLayer;
//!
//! let app: Router = Router::new()
//!     .route("/items", get(|| async { "[\"a\",\"b\"]".repeat(20) }))
//!     .layer(
//!         ServiceBuilder::new()
//!             .layer(ConditionalLayer::new()) // 1. evaluates against the tag of the coding sent
//!             .layer(CompressionLayer::new()) // 2. compresses
//!             .layer(ETagLayer::new()),       // 3. hashes the identity bytes
//!     );
//! # let _ = app;
//! ```
//!
//! The [`ETagLayer`] tags the identity bytes (`"h"`) and marks the
//! response; the [`ConditionalLayer`] sees the `Content-Encoding` the
//! compression layer chose and sends `"h-gzip"`, `"h-br"` or `"h"`, with
//! `Vary: accept-encoding` on every variant and on 304s. It evaluates
//! `If-None-Match`, `If-Match` and `If-Range` against that tag, so a tag
//! round-trips: `"h-gzip"` gets 304 from a request that accepts gzip and
//! 200 from one that does not. With a [`Lookup`], the lookup's identity tag
//! is coded the same way, and before the handler a client's coded tag is
//! recognised when the request accepts that coding (GET/HEAD) or for any
//! coding (writes).
//!
//! Without the [`ETagLayer`], compressed responses (which announce no
//! length) pass the outer layer untagged. With the [`ConditionalLayer`]
//! inside the compression layer, every coding gets the identity tag:
//! do not do that.
//!
//! # Deviations
//!
//! Each is marked `DEVIATION(name)` in the code.
//!
//! - `DEVIATION(coded-tag)`: the tag of a coded variant is the identity
//!   tag with the coding's name appended, not a hash of the coded bytes
//!   (those are never held in memory). It stays a strong validator only
//!   while the compression settings (level, window) do not change; bump
//!   nothing but the settings and a client could join ranges of two
//!   different gzip streams. Deploys that change compression settings
//!   should change the tags, e.g. with [`ETagLayer`] behind a handler that
//!   sets its own versioned tags.
//! - `DEVIATION(variant-304)`: before the handler runs, a lookup cannot
//!   know which coding the compression layer will pick, so an
//!   `If-None-Match` tag of any coded variant the request accepts gets a
//!   304 naming that variant; a cache then reuses the variant it holds,
//!   which the client can decode ([RFC 9111 §4.3.4]).
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's API on purpose; those a
//! caller builds values of are re-exported, so it can name the same version:
//!
//! - [`revalidate_core`] (same version): the [`Validators`](revalidate_core::Validators)
//!   of [`KnownValidators`] and [`Current`], the [`HttpDate`](revalidate_core::HttpDate)
//!   a [`Clock`] returns. Re-exported.
//! - [`http`](https://docs.rs/http/1) 1.x: requests, responses and their parts, header names and
//!   values. Re-exported.
//! - [`http_body`] 1.x and [`bytes`] 1.x: [`ConditionalBody`] and
//!   [`DeferredBody`] are `http_body::Body<Data = Bytes>`. Re-exported.
//! - `tower-layer` and `tower-service` 0.3: the layers and services
//!   implement their traits (the ones `tower` re-exports).
//!
//! [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
//! [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
//! [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2
//! [RFC 9110 §14.6]: https://www.rfc-editor.org/rfc/rfc9110#section-14.6
//! [RFC 9110 §13.2.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.1
//! [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
//! [RFC 9110 §8.8.3.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.3
//! [RFC 9111 §4.3.4]: https://www.rfc-editor.org/rfc/rfc9111#section-4.3.4

/// The README's example, run as a doctest (not part of the API).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use bytes;
pub use http;
pub use http_body;
pub use revalidate_core;

mod body;
mod clock;
mod coding;
mod context;
mod decide;
mod future;
mod layer;
mod lookup;
mod problem;
mod respond;
mod service;
mod tag;

pub use body::{ConditionalBody, DeferredBody};
pub use clock::{Clock, SystemClock};
pub use context::KnownValidators;
pub use future::ResponseFuture;
pub use layer::{ConditionalLayer, DEFAULT_MAX_BODY, ETagLayer};
pub use lookup::{Current, Lookup, NoLookup};
pub use service::Conditional;
