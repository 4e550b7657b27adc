//! [`CacheMode`]: how one request uses the cache, set per request through
//! its extensions (the modes of the Fetch standard's `cache` option, as
//! `http-cache`'s `CacheMode` has them), and [`CacheOptions`]: what the
//! cache does when the server cannot be reached.

/// How one request uses the cache. Set it per request in the request's
/// extensions (`RequestBuilder::with_extension(CacheMode::NoStore)` with
/// [`reqwest_middleware`], `request.extensions_mut().insert(..)` with
/// [`CachingClient::send`](crate::CachingClient::send)); without one the
/// cache's default applies ([`CacheMode::Default`] unless configured).
///
/// The modes only change what this client does with its own store; the
/// request goes out unchanged (no `Cache-Control` is added).
///
/// ```no_run
/// use bytes::Bytes;
/// use revalidate_client::{CacheMode, CachingClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = CachingClient::new()?;
/// // Offline: whatever the store holds, however stale, or a 504 made by the cache.
/// let mut request = http::Request::get("https://example.com/app.css").body(Bytes::new())?;
/// request.extensions_mut().insert(CacheMode::OnlyIfCached);
/// let response = client.send(request).await?;
/// # let _ = response;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CacheMode {
    /// RFC 9111: a fresh stored response is used, a stale one is
    /// validated, and what may be stored is stored.
    #[default]
    Default,
    /// The cache is neither read nor written: the request goes to the
    /// server and the response is not stored (unsafe methods still
    /// invalidate, RFC 9111 §4.4).
    NoStore,
    /// The stored response is not used: the request goes to the server
    /// without validators, and the response is stored if it may be.
    Reload,
    /// A stored response is always validated with a conditional request
    /// before it is used, fresh or not; the response is stored if it may
    /// be. Never stale-if-error: the caller asked for the server's word.
    NoCache,
    /// Any stored response for the request is used, however stale (even
    /// against `must-revalidate`: `DEVIATION(force-cache)` in the crate
    /// docs), without contacting the server; without one, the request goes
    /// to the server and the response is stored if it may be.
    ForceCache,
    /// Any stored response for the request is used, however stale; without
    /// one the cache answers `504 Gateway Timeout` itself and nothing goes
    /// over the network (offline use of the store, RFC 9111 §5.2.1.7).
    OnlyIfCached,
}

/// What the cache does when the server fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// The mode of requests that carry none in their extensions.
    pub default_mode: CacheMode,
    /// Serve a stored response, however stale, when the server cannot be
    /// reached at all (connection refused, timeout, reset) — offline use.
    /// RFC 9111 §4.2.4 allows a cache that "is disconnected" to serve
    /// stale, but never against `must-revalidate`, `no-cache` or the
    /// request's own `no-cache`; those are still honoured. Off by default:
    /// then a stale response is served on error only as `stale-if-error`
    /// (RFC 5861 §4) in the response or the request allows.
    pub stale_if_disconnected: bool,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            default_mode: CacheMode::Default,
            stale_if_disconnected: false,
        }
    }
}
