//! Static files with content-hash entity-tags.
//!
//! Hand-written on purpose: tower-http's `ServeDir` tags files by mtime and size (different on
//! each node, not a content hash) and keeps its precondition logic private to itself.
//!
//! # Map
//!
//! Each room holds one role. The "uses" column is the whole import graph
//! between rooms: it has no circle (no room imports, directly or through
//! others, from a room that imports it), and no room imports from this
//! module.
//!
//! | room | what it decides or does | uses |
//! |---|---|---|
//! | this module | the public entry: [`StaticFiles`] (open, index, watch, answer now or on a blocking thread), [`Answer`], the tower `Service` | `answer`, `request`, `failure`, `walk`, `watch`; re-exports |
//! | `answer` | the route of one request: confine, answer from the `lstat` and a kept template, else open, pick the variant (or the directory's index, redirect or listing), respond; settles every `Detour` | `request`, `respond`, `template`, `body`, `variant`, `compress`, `confine`, `failure`, `media_type`, `config`, `index`, `listing`, `cache_control` |
//! | `request` | the request read once and owned: method check (`405`), path cleaning (`400`/`404`), codings, preconditions, `Range` | `request_path`, `encoding`, `failure` |
//! | `respond` | response assembly: the core's plan ([`revalidate_core::answer::plan`]: 304, 412, 200, 206, multipart 206, 416) turned into a response; no multipart under a content coding (the shell's choice) | `template`, `body`, `failure`, `request` |
//! | `template` | the one builder of a representation's 200/304 header set, and the per-stamp memo of files' templates | `index`, `encoding` |
//! | `body` | where the bytes are (`Source`), which are sent, read at once or streamed; the per-stamp memo of small files' bytes | `index`, `failure` |
//! | `variant` | precompressed sibling, on-the-fly compression or identity, by `Accept-Encoding` | `compress`, `confine`, `encoding`, `index`, `failure` |
//! | `confine` | security: a cleaned path joined onto the root, each step `lstat`ed, symlinks resolved and kept under the root, the data directory refused | — |
//! | `failure` | control flow and errors: `Detour` (needs a blocking thread / file changed / IO error) and IO error or refusal → status | `confine` |
//! | `media_type` | extension → `Content-Type`, memoised | `compress` |
//! | `config` | [`StaticConfig`], [`StaticError`], [`IndexSummary`] | `cache_control` |
//! | `walk` | IO: [`StaticFiles::index_all`], the whole tree into the index | `config`, `confine`, `index`, `request_path` |
//! | `watch` | IO: optional pre-warming of the index from file system events ([`StaticFiles::watch`]), and the URLs of changed files for the edge purges ([`StaticFiles::watch_with_purges`]) | `index`, `request_path` |
//! | `compress` | IO: on-the-fly compression, done once per content and coding, cached in the data dir | `index`, `encoding`, `failure` |
//! | `index` | IO: (device, inode) + (size, mtime ns, ctime ns) → BLAKE3, in memory and saved in the data dir | — |
//! | `listing` | IO: the optional directory listing | `request_path` |
//! | `request_path` | pure: the request path → cleaned segments, refusing `..`, `%2e%2e`, `%2f`, `\`, NUL, hidden files | — |
//! | `encoding` | pure: `Accept-Encoding` → codings ranked by the client's weights ([RFC 9110 §12.5.3]) | — |
//! | [`cache_control`] | pure: path → `Cache-Control` (configured globs, then fingerprint/HTML defaults) | — |
//!
//! A request goes: method check (`405`) → path cleaning (`400`/`404`) →
//! confinement (each segment `lstat`ed; a symlink is resolved and must stay
//! under the root: else `404`) → open and `fstat` → the variant
//! (precompressed sibling, cached on-the-fly compression, or identity) and
//! its hash from the index → the core's plan against that variant's
//! validators and length ([RFC 9110 §13.2.2] then [RFC 9110 §14.2]:
//! `304`, `412`, `200`, `206`, `416`) → the body, read at once when
//! small, else streamed.
//!
//! Threads: a request is first answered right on the async worker, as
//! nginx does on its event loop, because the common case (a known file
//! whose stamp matches the index) is a few metadata syscalls and at most
//! one read of up to 256 KiB, cheaper than a hop to another thread. When
//! that attempt meets long work (hashing a new or changed file,
//! compressing, listing a directory) it stops with
//! `Detour::NeedsBlocking` and the request starts over on a blocking
//! thread (`spawn_blocking`). Bodies over 256 KiB are streamed.
//!
//! Every `200`, `206`, `304` and `416` carries `Vary: Accept-Encoding`,
//! also for identity responses: the selection depends on that field
//! whether or not this request got a coding ([RFC 9110 §12.5.5]).
//!
//! # Policies
//!
//! - Hidden files and directories (a segment starting with `.`, except
//!   `.well-known`) are not served: `404`.
//! - A directory requested without its trailing slash is redirected
//!   (`301`) to the slash form, built from the cleaned segments; with the
//!   slash it serves `index.html`, else the listing when enabled, else `403`.
//! - When `Accept-Encoding` excludes identity and no coding we have is
//!   acceptable, the answer is `406` (§12.5.3 allows it).
//! - Multiple ranges of a content-coded variant are answered with the
//!   whole variant (`200`), which §14.2 allows: a `multipart/byteranges`
//!   body under `Content-Encoding` is ambiguous to clients (in `respond`).
//! - The other `Range` policies are the core's, shared with the tower
//!   layer and the edge: a range covering the whole representation gets a
//!   `206`; more than two overlapping ranges are ignored (`200`).
//! - On-the-fly compression: text-like types from 1 KiB to 16 MiB without
//!   a precompressed sibling, kept only if it saves a tenth; files up to
//!   256 KiB are compressed while the first request waits, larger ones in
//!   the background (identity meanwhile).
//! - A precompressed sibling (`app.js.gz`) older than its original is
//!   stale and skipped, so every coding carries the same content.
//! - Unix only: the index keys on device and inode numbers.
//!
//! # Deviations
//!
//! None: each MUST that applies is quoted where it is implemented.
//!
//! [RFC 9110 §12.5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.3
//! [RFC 9110 §12.5.5]: https://www.rfc-editor.org/rfc/rfc9110#section-12.5.5
//! [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
//! [RFC 9110 §14.2]: https://www.rfc-editor.org/rfc/rfc9110#section-14.2

mod answer;
mod body;
pub mod cache_control;
mod compress;
mod config;
mod confine;
mod encoding;
mod failure;
mod index;
mod listing;
mod media_type;
mod request;
mod request_path;
mod respond;
mod template;
mod variant;
mod walk;
mod watch;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, Request, Uri};

use self::answer::Inner;
pub use self::cache_control::InvalidRule;
pub use self::compress::{COMPRESS_WHILE_WAITING, MAX_COMPRESS_LEN, MIN_COMPRESS_LEN};
pub use self::config::{IndexSummary, StaticConfig, StaticError};
pub use self::encoding::Coding;
use self::failure::{NeedsBlocking, internal_error};
pub use self::index::ContentHash;
use self::request::StaticRequest;
pub use self::watch::StaticWatcher;

/// The static file server. Cheap to clone; clones share the index.
///
/// Use [`StaticFiles::router`] as the application's fallback, or the value
/// itself as a tower [`Service`](tower::Service).
#[derive(Clone, Debug)]
pub struct StaticFiles {
    inner: Arc<Inner>,
}

impl StaticFiles {
    /// Resolves the root, creates the data directory, compiles the
    /// `Cache-Control` rules and loads the saved ETag index. Does not
    /// walk the tree; see [`StaticFiles::index_all`].
    pub fn open(config: StaticConfig) -> Result<Self, StaticError> {
        Self::open_with_clock(config, crate::clock::system_clock())
    }

    /// [`StaticFiles::open`] reading the time from `clock` (`Date`, the
    /// `If-Modified-Since` and `Last-Modified` checks against now).
    pub fn open_with_clock(
        config: StaticConfig,
        clock: crate::clock::SharedClock,
    ) -> Result<Self, StaticError> {
        Ok(Self {
            inner: Arc::new(Inner::open(config, clock)?),
        })
    }

    /// This server with `config`'s directory listing, symlink and
    /// `Cache-Control` settings, sharing the tree's ETag index,
    /// compressions and watcher with it (a configuration reload). Requests
    /// already answering keep the settings they started with. The root
    /// and the data directory are not changed: they need a restart.
    ///
    /// # Errors
    ///
    /// A `Cache-Control` rule is invalid.
    pub fn reconfigured(&self, config: &StaticConfig) -> Result<Self, StaticError> {
        Ok(Self {
            inner: Arc::new(self.inner.reconfigured(config)?),
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        self.inner.confinement.root()
    }

    /// Files read and hashed since [`StaticFiles::open`]; stays 0 across a
    /// restart when nothing changed.
    pub fn files_hashed(&self) -> u64 {
        self.inner.index.files_hashed()
    }

    /// Entries in the ETag index.
    pub fn indexed_files(&self) -> usize {
        self.inner.index.len()
    }

    /// Saves the ETag index now if it changed (it is also saved shortly
    /// after new files are hashed, after [`StaticFiles::index_all`], and
    /// when the last clone is dropped). Blocking.
    pub fn persist_index(&self) -> io::Result<()> {
        self.inner.index.save()
    }

    /// Walks the tree and hashes every regular file the index does not
    /// know yet, then drops entries of files that are gone, deletes cached
    /// compressions of content no file has any more, and saves the index.
    /// Shows a progress bar on stderr when `progress` is set and stderr is
    /// a terminal. Blocking: call before serving, or through
    /// `spawn_blocking`.
    pub fn index_all(&self, progress: bool) -> io::Result<IndexSummary> {
        let inner = &self.inner;
        walk::index_tree(
            &inner.confinement,
            &inner.index,
            inner.variants.compressions.dir(),
            progress,
        )
    }

    /// Watches the root and hashes created or modified files shortly after
    /// they settle, until the server is dropped.
    pub fn watch(&self) -> notify::Result<StaticWatcher> {
        let confinement = &self.inner.confinement;
        watch::watch(
            confinement.root(),
            confinement.data_dir(),
            Arc::downgrade(&self.inner.index),
            None,
        )
    }

    /// [`StaticFiles::watch`], also calling `on_change` with the URLs of
    /// the files that changed (created, modified, renamed or removed) in
    /// each burst of events, once it settled: each file's path, and `/dir/`
    /// for a `dir/index.html` (see `watch`). From the watcher's thread.
    pub fn watch_with_purges(
        &self,
        on_change: impl Fn(Vec<String>) + Send + 'static,
    ) -> notify::Result<StaticWatcher> {
        let confinement = &self.inner.confinement;
        watch::watch(
            confinement.root(),
            confinement.data_dir(),
            Arc::downgrade(&self.inner.index),
            Some(Box::new(on_change)),
        )
    }

    /// A router that serves every path from the tree; merge it last or use
    /// it as the fallback.
    pub fn router(&self) -> Router {
        Router::new().fallback_service(self.clone())
    }

    /// Answers one request.
    pub async fn respond(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        match self.respond_now(method, uri, headers) {
            Answer::Ready(response) => response,
            Answer::Blocking(blocking) => blocking.run().await,
        }
    }

    /// Answers one request right away when that takes only a few metadata
    /// syscalls and at most one small read (a known file whose stamp
    /// matches the index), as nginx does on its event loop: a thread hop
    /// would cost more than the work. Anything longer (hashing,
    /// compressing, listing) comes back as [`Answer::Blocking`], to run on a
    /// blocking thread.
    ///
    /// A `304` carries a [`BytesSaved`](crate::metrics::BytesSaved)
    /// extension for a [`TrackLayer`](crate::metrics::TrackLayer).
    pub fn respond_now(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Answer {
        self.respond_now_counting(method, uri, headers, None)
    }

    /// [`StaticFiles::respond_now`], counting the bytes each `304` saves
    /// straight into `metrics` (when given) instead of through a response
    /// extension.
    pub(crate) fn respond_now_counting(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        metrics: Option<&crate::metrics::Metrics>,
    ) -> Answer {
        let now = self.inner.clock.read().date;
        let mut request = match StaticRequest::read(method, uri, headers, metrics, now) {
            Ok(request) => request,
            Err(rejection) => return Answer::Ready(rejection.into_response()),
        };
        match self.inner.answer(&request) {
            Ok(response) => Answer::Ready(response),
            Err(NeedsBlocking) => {
                request.inline = false;
                Answer::Blocking(BlockingAnswer {
                    inner: Arc::clone(&self.inner),
                    request,
                })
            }
        }
    }
}

/// What [`StaticFiles::respond_now`] could do at once.
#[derive(Debug)]
pub enum Answer {
    /// The response.
    Ready(Response),
    /// The rest of the work, for a blocking thread.
    Blocking(BlockingAnswer),
}

/// A request whose answer needs a blocking thread (hashing a file seen for
/// the first time, compressing, listing a directory).
pub struct BlockingAnswer {
    inner: Arc<Inner>,
    request: StaticRequest,
}

impl std::fmt::Debug for BlockingAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingAnswer")
            .field("path", &self.request.path.relative())
            .finish_non_exhaustive()
    }
}

impl BlockingAnswer {
    /// Answers on a blocking thread; then schedules an index save, since
    /// the work most likely hashed a file.
    pub async fn run(self) -> Response {
        let Self { inner, request } = self;
        let answered = tokio::task::spawn_blocking(move || {
            // Off the worker nothing asks for a blocking thread again; if
            // it did, that is a bug.
            let response = inner
                .answer(&request)
                .unwrap_or_else(|NeedsBlocking| internal_error());
            inner.index.schedule_save();
            response
        })
        .await;
        answered.unwrap_or_else(|e| {
            tracing::error!(error = %e, "static file task failed");
            internal_error()
        })
    }
}

impl<B> tower::Service<Request<B>> for StaticFiles {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        let (parts, _body) = request.into_parts();
        Box::pin(async move { Ok(this.respond(&parts.method, &parts.uri, &parts.headers).await) })
    }
}
