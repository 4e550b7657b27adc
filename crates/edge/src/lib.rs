//! The RFC 9111 shared cache behind `revalidate edge`: a reverse proxy in
//! front of one origin that stores responses, reuses them while fresh,
//! revalidates them with conditional requests, answers clients' own
//! conditional requests from what it holds, and collapses concurrent
//! requests for one URL into one origin request.
//!
//! # Map
//!
//! | module | what it holds |
//! |---|---|
//! | [`proxy`] | [`Edge`]: the request state machine (lookup → [`revalidate_core::cache`] decision → serve, revalidate or fetch), streaming origin bodies to the client while storing them |
//! | [`decide`] | the edge's pure decisions: routing, header sets to the origin and the client, client conditionals and ranges answered from a stored response, what an origin's answer to a revalidation means |
//! | [`entry`] | what is stored per response (status, headers, clock readings, the request fields `Vary` names), the `Vary` index, and what the first lookup derives from a stored response and keeps with it (the core's validators and its freshness on arrival, the plain-hit header sets of the current second) |
//! | `flight` | request collapsing: one origin request per key in flight |
//! | [`upstream`] | the pooled HTTP/1.1 client to the origin; failures → 502/504 |
//! | [`surrogate`] | `Surrogate-Control` translated into `CDN-Cache-Control` |
//! | [`storage`] | memory and disk tiers, checksums, purges by URL, prefix and tag |
//! | [`purge`] | the token-protected purge API |
//! | [`metrics`] | Prometheus counters at `/metrics` |
//! | [`clock`] | the clock seam (tests move time instead of sleeping) |
//! | [`config`] | the TOML configuration of `revalidate edge` |
//! | [`server`] | the listener through the front door of `revalidate-listener` (header, idle and send timeouts, connection cap, lingering close, graceful shutdown) |
//!
//! Every RFC 9111 decision (storable? fresh? reusable? which validators?
//! does this 304 select the stored response? what to invalidate?) is the
//! core's; this crate is the IO around them.
//!
//! # Policies where the RFCs leave a choice
//!
//! - **Cache key**: the request target's path and query. One edge fronts
//!   one origin, so the scheme and authority are the same for every entry.
//!   Requests reach the origin with `Host` set to the `--origin` URL's
//!   authority, not the client's (as nginx's `proxy_pass` does by default;
//!   a gateway is the origin's client, [RFC 9110 §7.2]), so that a client
//!   cannot make the origin answer for another site under a shared key
//!   (cache poisoning); an origin that serves several sites by `Host`
//!   needs one edge per site.
//! - **Client conditionals**: a cache fill never forwards the client's
//!   `If-None-Match`, `If-Modified-Since`, `If-Match`,
//!   `If-Unmodified-Since`, `If-Range` or `Range`; the edge asks for the
//!   whole response (with the stored validators when revalidating) and
//!   answers the client's conditionals itself. `If-Match` and
//!   `If-Unmodified-Since` on `GET`/`HEAD` are evaluated against the
//!   stored (or just fetched) response and give `412` from the cache;
//!   on unsafe methods they go to the origin untouched, since the edge
//!   never answers a write. Peers differ here (Squid answers 412 for
//!   `If-Match`, Varnish drops both on fills); RFC 9110 §13.1.1 lets a
//!   cache evaluate them.
//! - **Ranges**: a single range of a stored `200` is served as `206`
//!   (with `If-Range` through the core); several ranges get the whole
//!   `200`. `206` responses from the origin are never stored: a fill asks
//!   for the whole representation.
//! - **`HEAD`**: answered from a stored `GET`; a `HEAD` miss fills the
//!   cache with a `GET`.
//! - **Unsolicited `304`** (to a request without validators): `502`. A
//!   `304` whose validator selects no stored response: one unconditional
//!   retry (§4.3.4 forbids using it).
//! - **304 updates** keep the stored `Content-Encoding`, `Content-Range`,
//!   `Content-MD5` and `ETag`: the stored body depends on them (§3.2).
//! - **Stale on error** only within `stale-if-error` (response or
//!   request); otherwise an unreachable origin gives `502` (refused) or
//!   `504` (timeout).
//! - **Collapsing**: requests that wait for another request's origin fetch
//!   are answered from what it stored, even when it is already stale
//!   (`max-age=0`), because it was fetched after they arrived; if it was
//!   not storable they go to the origin themselves. Their `Cache-Status`
//!   says they went forward with the leader (`fwd=uri-miss` or
//!   `fwd=stale`, the leader's `fwd-status`, `collapsed`), never `hit`
//!   ([RFC 9211 §2.8]).
//! - **`Surrogate-Control`** (Edge Architecture 1.0) is honoured like
//!   `CDN-Cache-Control` when the response has no `CDN-Cache-Control`:
//!   translated into it (directives for this device only; the original is
//!   forwarded unchanged);
//!   fills announce `Surrogate-Capability: <cache name>="Surrogate/1.0"`.
//!   Off together with `cdn_cache_control = false`.
//! - **Purge** removes (a later request is a miss and fetches again);
//!   unsafe methods invalidate the target URI and same-origin `Location`
//!   and `Content-Location` (§4.4).
//!
//! # Deviations
//!
//! None (`grep -rn DEVIATION crates/edge`).
//!
//! [RFC 9111]: https://www.rfc-editor.org/rfc/rfc9111
//! [RFC 9110 §7.2]: https://www.rfc-editor.org/rfc/rfc9110#section-7.2
//! [RFC 9211 §2.8]: https://www.rfc-editor.org/rfc/rfc9211#section-2.8

pub mod body;
pub mod clock;
pub mod config;
pub mod decide;
pub mod entry;
mod flight;
pub mod metrics;
pub mod problem;
pub mod proxy;
pub mod purge;
pub mod server;
pub mod storage;
pub mod surrogate;
pub mod upstream;

pub use proxy::{Edge, EdgeSettings};
