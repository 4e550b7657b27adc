//! The RFC 9111 shared cache behind `revalidate edge`: a reverse proxy in
//! front of one origin pool per site (one site, or several chosen by
//! host) that stores responses, reuses them while fresh,
//! revalidates them with conditional requests, answers clients' own
//! conditional requests from what it holds, and collapses concurrent
//! requests for one URL into one origin request.
//!
//! # Map
//!
//! | module | role |
//! |---|---|
//! | [`proxy`] | [`Edge`], the state machine: route, look up, follow the core's reuse decision, collapse, serve, revalidate or fetch; it alone counts, writes `Cache-Status` and (with an access log) tells the log its verdict and the origin's status and time (an `Upstream` response extension) (the field name [`revalidate_core::cache::CACHE_STATUS`] and its value [`revalidate_core::cache::CacheStatus`] are the core's). Rooms: `setup` (the edge value), `lookup` (the stored response a request selects; `Ask`, one request, with what its log line will say), `render` (pure response builders), `fill` (fetch, revalidate, store while streaming; a `POST` response RFC 9110 §9.3.3 lets answer a `GET`), `pass` (other methods, §4.4 invalidation) |
//! | [`sites`] | several sites per edge: [`Sites`] routes each request by host to its site's [`Edge`] (`421` for another host, `400` without a usable `Host`); rooms: `table` (host patterns and the pure lookup), `key` (a site's cache-key rules: query sorted, ignored, parameters dropped), `ttl` (lifetimes by path), `config` (`[[sites]]`), `reload` (`SIGHUP`: the configuration read again and the table swapped) |
//! | [`decide`] | the edge's own pure decisions: routing, the cache key, the core's answer plan for a client, what the edge declines to store |
//! | [`forward`] | the header sets sent to the origin |
//! | [`entry`] | what a stored object's meta bytes hold (the core's [`StoredHead`](revalidate_core::cache::StoredHead), or a `Vary` index) and what a lookup derives from them once ([`entry::DecodedEntry`], kept in the object's slot in the storage) |
//! | `flight` | request collapsing |
//! | `upload` | the client's request body on its way to the origin |
//! | [`body`] | response bodies |
//! | [`pool`] | the origin pool: its members (`http`/`https`), the pick ([`pool::balance`], pure: round robin or least connections), passive ejection, failover, the target URI and `Host` of each origin request, active health checks ([`pool::health`], a task per pool started and stopped by the server); the configuration's pool keys ([`PoolConfig`](pool::PoolConfig)) |
//! | [`upstream`] | the client to the origins (HTTP/1.1 or HTTP/2, TCP or rustls, connections kept), and whose fault a failure is |
//! | [`surrogate`] | `Surrogate-Control` as `CDN-Cache-Control` |
//! | [`storage`] | memory and disk tiers, purges; the speed-up cache: each [`storage::StoredObject`] keeps what the proxy decoded from it in a typed slot ([`storage::StoredObject::derived`]; the storage is generic over its type and never looks inside) |
//! | [`purge`] | the purge API's HTTP handling (token, body limits, storage); its wire format is the core's [`revalidate_core::purge`] |
//! | [`metrics`] | Prometheus counters, and the latency histograms (request arrival to response head by outcome; origin request to origin head by origin and status class) |
//! | [`problem`] | problem details for the errors the edge answers |
//! | [`clock`] | the clock seam: the core's time ([`HttpDate`](revalidate_core::HttpDate)) and a monotonic instant |
//! | [`config`] | the TOML configuration |
//! | [`server`] | the listeners (cleartext, and with `[tls]` a TLS one speaking HTTP/2 and HTTP/1.1 by ALPN, whose requests carry `X-Forwarded-Proto: https`) through the front door of `revalidate-listener`, the access log (`[access_log]`), the admin listener (`/metrics`, `/healthz`, `/readyz`; `[admin]`, on `127.0.0.1:9081` by default), and graceful shutdown |
//!
//! Every RFC 9111 decision (storable? fresh? reusable? which validators?
//! does this 304 select the stored response? what to invalidate?) and the
//! answer to a client's conditionals and ranges (304, 412, 206, multipart
//! 206, 416: [`revalidate_core::answer::plan`]) are the core's; this crate
//! is the IO around them.
//!
//! # Policies where the RFCs leave a choice
//!
//! - **Cache key**: the scheme the request came on, the site's name and
//!   the target's path and query after the site's key rules
//!   (`https://www.example.com/a?b=1`; [`decide::primary_key`]). The
//!   site's name stands for every host name of the site: requests reach
//!   each member of the site's origin pool with `Host` set to that
//!   member's authority, not the client's (as nginx's `proxy_pass` does by default; a gateway is
//!   the origin's client, [RFC 9110 §7.2]), so the answer does not depend
//!   on which of the site's names the client used, and a client cannot
//!   make the origin answer for another site under a shared key (cache
//!   poisoning) nor grow the cache with made-up host names. An origin that
//!   serves several sites by `Host` gets one `[[sites]]` entry per site.
//!   Key rules (per site: query sorted, ignored, parameters dropped)
//!   rewrite the target the origin is asked for too, so a stored response
//!   always answers its own key.
//! - **Origin pools** (`origins`, [`pool`]): requests are spread round
//!   robin (or to the member with the fewest requests waiting for a head)
//!   over the members neither ejected nor marked down; when none is left,
//!   the one down longest is still tried (as nginx). A member is ejected
//!   for `[ejection] cool_down_ms` after `consecutive_failures` connect
//!   errors, timeouts, broken heads or `5xx` in a row (nginx
//!   `max_fails`/`fail_timeout`, Envoy outlier detection), and marked down
//!   and up by `[health]` probes. A fill or revalidation (`GET`, which
//!   [RFC 9110 §9.2.2] lets a client retry) with no response head from a
//!   member (refused, timed out, connection broken) goes to the next one,
//!   at most once per member; any other method only when the connection
//!   never came up and its body was not taken (nginx `proxy_next_upstream
//!   error timeout`, which also retries only when nothing was sent for
//!   non-idempotent methods). A `5xx` is an answer, not retried.
//!   `revalidate_edge_origin_errors_total` counts each failed attempt by
//!   member, so a request that failed over counts there and still
//!   succeeds.
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
//! - **Ranges**: the core's plan, as at the origin and in the tower layer:
//!   a single range of a stored `200` is a `206` (`bytes=0-` too), several
//!   ranges one `multipart/byteranges` `206` (boundary from the `ETag`, so
//!   every node sends the same bytes), `If-Range` through the core. While a
//!   fill still streams, the length is not at hand and `Range` is ignored
//!   (the whole `200`). `206` responses from the origin are never stored: a
//!   fill asks for the whole representation.
//! - **`HEAD`**: answered from a stored `GET`; a `HEAD` miss fills the
//!   cache with a `GET`.
//! - **`POST`**: after the §4.4 invalidation, a `200` or `203` response
//!   with explicit freshness and a `Content-Location` naming the target is
//!   stored as the target's response and answers later `GET`s and `HEAD`s
//!   ([RFC 9110 §9.3.3]; the core's
//!   [`post_storage_decision`](revalidate_core::cache::post_storage_decision)).
//!   Other `POST` responses are not stored.
//! - **Unsolicited `304`** (to a request without validators): `502`. A
//!   `304` whose validator selects no stored response: one unconditional
//!   retry (§4.3.4 forbids using it).
//! - **304 updates** keep the stored `Content-Encoding`, `Content-Range`,
//!   `Content-MD5` and `ETag`: the stored body depends on them (§3.2).
//! - **Stale on error** only within `stale-if-error` (response or
//!   request); otherwise an unreachable origin gives `502` (refused) or
//!   `504` (timeout).
//! - **Collapsing**: a request that needs the origin while another
//!   request's fetch for the same key is in flight follows that fetch only
//!   if it was sent after the request arrived (monotonic time), and is
//!   then answered with what it stored even when already stale
//!   (`max-age=0`, `no-cache`): it is as new as what the request would
//!   have fetched. A fetch sent before the request arrived may predate a
//!   write that returned before the request started, so the request waits
//!   for it to land, is answered from what it stored only if that is still
//!   fresh for it, and otherwise joins again: the first such request leads
//!   the next fetch and the others follow it. The origin gets at most one
//!   request per key in flight plus one queued. If nothing was stored they
//!   go to the origin themselves, and none waits longer than
//!   `collapse_timeout` (default 5 s, nginx's `proxy_cache_lock_timeout`)
//!   before it does. Their `Cache-Status` says they went forward with the
//!   leader (`fwd=uri-miss` or `fwd=stale`, the leader's `fwd-status`,
//!   `collapsed`), never `hit` ([RFC 9211 §2.6]).
//! - **`Set-Cookie`** (`cache_set_cookie`, the core's
//!   [`SetCookiePolicy`](revalidate_core::cache::SetCookiePolicy)): by
//!   default (`"explicit"`) a response carrying `Set-Cookie` is stored,
//!   whole as RFC 9111 §3.1 says, only when the origin gave it an explicit
//!   lifetime for this cache (`s-maxage`, `max-age`, `Expires`, or its
//!   `CDN-Cache-Control`/`Surrogate-Control` one) that has not run out on
//!   arrival: the origin declared it reusable (§7.3: `Set-Cookie` "does
//!   not inhibit caching"). On heuristic freshness alone, or stale on
//!   arrival (`max-age=0`, whose every reuse would follow a validation
//!   handing the stored cookie to the next client), it is not stored
//!   (`Cache-Status` says `detail=set-cookie`, no `stored`) and every
//!   client gets its own cookie from the origin. `"never"` declines them
//!   all (Varnish's built-in VCL, nginx's `proxy_cache`), `"always"` stores
//!   them like any other response. RFC 9111 lets a cache decline to store
//!   (§2: caching is "entirely OPTIONAL"), so none of these is a
//!   deviation. A cookie the origin names in `no-cache="Set-Cookie"` or
//!   `private="Set-Cookie"` is never kept, so such responses are stored
//!   without it under every policy.
//! - **Forwarding fields**: the client's own `Forwarded`,
//!   `X-Forwarded-For`, `-Host`, `-Proto`, `-Port`, `-Prefix` and
//!   `X-Real-IP` are not forwarded (the cache key does not hold them, so
//!   an origin that builds its answer from `X-Forwarded-Host` would store
//!   one client's choice for everyone); the edge sets `X-Forwarded-For` to
//!   the peer and `X-Forwarded-Proto` to the connection's scheme. A peer in
//!   `trusted_proxies` passes its `X-Forwarded-For` chain (appended to) and
//!   its `X-Forwarded-Proto`, never `X-Forwarded-Host` or `Forwarded`.
//! - **The client's faults are the client's**: an upload with broken
//!   framing is `400`; one that stops arriving for `client_body_timeout`
//!   (default 30 s, nginx's `client_body_timeout`) between two chunks is
//!   `408`; neither counts as an origin error, and the origin's response
//!   timeout runs only while the origin has the turn (from the end of the
//!   upload). `OPTIONS *` is answered by the edge (`200`, `Allow`,
//!   [RFC 9110 §9.3.7]), the asterisk form with another method is `400`,
//!   `CONNECT` is `405`. An origin's own `4xx` (a `413` sent before it read
//!   the upload, say) reaches the client unchanged.
//! - **Stalled origin bodies**: an origin body silent for
//!   `upstream_body_timeout` (default 30 s, nginx's `proxy_read_timeout`)
//!   between two chunks is aborted: nothing is stored, the client's
//!   response ends as an error (never a complete-looking short one), an
//!   origin timeout is counted, and requests that waited for that fill go
//!   to the origin themselves.
//! - **`GET` with content**: the content is not forwarded (RFC 9110
//!   §9.3.1 gives it no meaning), and neither are its framing fields: a
//!   fill carries no `Content-Length`, `Transfer-Encoding` or `Expect`.
//! - **`Surrogate-Control`** (Edge Architecture 1.0) is honoured like
//!   `CDN-Cache-Control` when the response has no `CDN-Cache-Control`:
//!   translated into it (directives for this device only; the original is
//!   forwarded unchanged);
//!   fills announce `Surrogate-Capability: <cache name>="Surrogate/1.0"`.
//!   Off together with `cdn_cache_control = false`.
//! - **`/metrics`** on the public listener is the origin's path like any
//!   other: the edge's own metrics, health and readiness are on its admin
//!   listener (on by default on loopback, `127.0.0.1:9081`), whose
//!   `/readyz` reports the origin's last answer without failing on it
//!   (see [`config`]).
//! - **Purge** removes (a later request is a miss and fetches again),
//!   within the site whose host the purge was sent to (every site with
//!   the top-level token); a URL without a query purges its query
//!   variants too ([`purge`]). Unsafe methods invalidate the target URI
//!   and same-origin `Location` and `Content-Location` (§4.4) of their
//!   site the same way, under both schemes, with a ban on the URL: every
//!   `Vary` variant, and also what a fill sent before the write returned
//!   stores afterwards.
//! - **Hosts** ([`sites`]): a host no site names gets `421 Misdirected
//!   Request` (RFC 9110 §15.5.20), never another site's content; an
//!   HTTP/1.1 request without `Host`, with two, or with an invalid one
//!   gets `400` (RFC 9112 §3.2, for one site too).
//!
//! # Deviations
//!
//! None of its own (`grep -rn DEVIATION crates/edge`). An operator who
//! configures `override_ttl_s` ([`sites::ttl`]) turns on the core's
//! `DEVIATION(ttl-override)`: that path's lifetime is the configured one
//! whatever the origin says.
//!
//! [RFC 9111]: https://www.rfc-editor.org/rfc/rfc9111
//! [RFC 9110 §7.2]: https://www.rfc-editor.org/rfc/rfc9110#section-7.2
//! [RFC 9110 §9.3.3]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.3
//! [RFC 9110 §9.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-9.2.2
//! [RFC 9110 §9.3.7]: https://www.rfc-editor.org/rfc/rfc9110#section-9.3.7
//! [RFC 9211 §2.6]: https://www.rfc-editor.org/rfc/rfc9211#section-2.6

pub mod body;
pub mod clock;
pub mod config;
pub mod decide;
pub mod entry;
mod flight;
pub mod forward;
pub mod metrics;
pub mod pool;
pub mod problem;
pub mod proxy;
pub mod purge;
pub mod server;
pub mod sites;
pub mod storage;
pub mod surrogate;
mod upload;
pub mod upstream;

pub use proxy::{Edge, EdgeSettings, Responding};
pub use sites::Sites;
