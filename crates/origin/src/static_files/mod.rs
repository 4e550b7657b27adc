//! Static files with content-hash entity-tags.
//!
//! # Map
//!
//! | module | what it decides or does |
//! |---|---|
//! | `request_path` | pure: the request path → cleaned segments, refusing `..`, `%2e%2e`, `%2f`, `\`, NUL, hidden files |
//! | `encoding` | pure: `Accept-Encoding` → codings ranked by the client's weights ([RFC 9110 §12.5.3]) |
//! | [`cache_control`] | pure: path → `Cache-Control` (configured globs, then fingerprint/HTML defaults) |
//! | `index` | IO: (device, inode) + (size, mtime ns, ctime ns) → BLAKE3, in memory and saved in the data dir |
//! | `compress` | IO: on-the-fly compression, done once per content and coding, cached in the data dir |
//! | `listing` | IO: the optional directory listing |
//! | `watch` | IO: optional pre-warming of the index from file system events ([`StaticFiles::watch`]) |
//! | this module | the shell: resolve and open the file, pick the variant, follow the core's plan ([`revalidate_core::answer::plan`]: preconditions, then ranges), build the response |
//!
//! A request goes: method check (`405`) → path cleaning (`400`/`404`) →
//! confinement (each segment `lstat`ed; a symlink is resolved and must stay
//! under the root: else `404`) → open and `fstat` → the variant
//! (precompressed sibling, cached on-the-fly compression, or identity) and
//! its hash from the index → the core's plan against that variant's
//! validators and length ([RFC 9110 §13.2.2], then `Range`, [RFC 9110
//! §14.2]: `304`, `412`, `200`, `206`, `416`) → the body, read at once
//! when small, else streamed.
//!
//! Threads: a request is first answered right on the async worker, as
//! nginx does on its event loop, because the common case (a known file
//! whose stamp matches the index) is a few metadata syscalls and at most
//! one read of up to 256 KiB, cheaper than a hop to another thread. When
//! that attempt meets long work (hashing a new or changed file,
//! compressing, listing a directory) it gives up and the request starts
//! over on a blocking thread (`spawn_blocking`). Bodies over 256 KiB are
//! streamed through `tokio::fs`.
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
//!   body under `Content-Encoding` is ambiguous to clients.
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

pub mod cache_control;
mod compress;
mod encoding;
mod index;
mod listing;
mod request_path;
mod watch;

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::fs::{File, Metadata};
use std::future::Future;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use revalidate_core::answer::{self, Plan, RangeField, Segment};
use revalidate_core::{EntityTag, HttpDate, Outcome, Preconditions, Validators, not_modified_headers};

pub use self::cache_control::InvalidRule;
pub use self::compress::{MAX_COMPRESS_LEN, MIN_COMPRESS_LEN};
pub use self::encoding::Coding;
use self::encoding::{AcceptEncoding, RankedCodings};
pub use self::index::ContentHash;
use self::index::{ContentIndex, FileIdentity, FileStamp, identity_and_stamp};
use self::request_path::{CleanPath, PathRejection};
pub use self::watch::StaticWatcher;
use crate::problem::Problem;

/// Bodies up to this size are read in one go on the blocking thread;
/// larger ones are streamed in chunks of this size.
const READ_AT_ONCE: u64 = 256 * 1024;
/// Files up to this size are compressed on the fly while the first request
/// waits (a few milliseconds); larger ones in the background.
pub const COMPRESS_WHILE_WAITING: u64 = 256 * 1024;

/// What [`StaticFiles`] needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticConfig {
    /// Root of the tree to serve.
    pub root: PathBuf,
    /// Where the ETag index and the compressed variants are kept (`--data`).
    pub data_dir: PathBuf,
    /// Serve an HTML listing for directories without `index.html`.
    pub directory_listing: bool,
    /// Follow symbolic links whose target is outside the root.
    pub follow_symlinks_outside_root: bool,
    /// `(glob over the path relative to the root, Cache-Control value)`,
    /// first match wins, before the defaults of [`cache_control`].
    pub cache_control: Vec<(String, String)>,
    /// Compress text-like files on the fly (once, cached) when they have
    /// no precompressed sibling.
    pub compress_on_the_fly: bool,
}

impl StaticConfig {
    /// Defaults: no listing, symlinks confined to the root, default
    /// `Cache-Control`, on-the-fly compression on.
    pub fn new(root: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            data_dir: data_dir.into(),
            directory_listing: false,
            follow_symlinks_outside_root: false,
            cache_control: Vec::new(),
            compress_on_the_fly: true,
        }
    }

    /// From the `revalidate serve` configuration.
    pub fn from_origin_config(config: &crate::config::OriginConfig) -> Self {
        let section = &config.static_files;
        Self {
            directory_listing: section.directory_listing,
            follow_symlinks_outside_root: section.follow_symlinks,
            cache_control: section
                .cache_control
                .iter()
                .map(|r| (r.pattern.clone(), r.value.clone()))
                .collect(),
            ..Self::new(&config.root, &config.data)
        }
    }
}

/// Why [`StaticFiles::open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    /// The root cannot be resolved.
    #[error("static root {path}: {source}")]
    Root {
        /// The configured root.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The root is not a directory.
    #[error("static root {0} is not a directory")]
    RootNotDirectory(PathBuf),
    /// The data directory cannot be created.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The configured directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A `Cache-Control` rule is invalid.
    #[error(transparent)]
    CacheControl(#[from] InvalidRule),
}

/// What [`StaticFiles::index_all`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexSummary {
    /// Regular files seen.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// How many had to be read and hashed (the rest were in the index).
    pub hashed: u64,
}

/// The static file server. Cheap to clone; clones share the index.
///
/// Use [`StaticFiles::router`] as the application's fallback, or the value
/// itself as a tower [`Service`](tower::Service).
#[derive(Clone, Debug)]
pub struct StaticFiles {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    data_dir: PathBuf,
    /// Whether `data_dir` lies inside `root` (only then can a request path
    /// reach it, and only then is each path compared with it).
    data_dir_in_root: bool,
    compressed_dir: PathBuf,
    directory_listing: bool,
    follow_symlinks_outside_root: bool,
    compress_on_the_fly: bool,
    cache_control: cache_control::CacheControlPolicy,
    index: Arc<ContentIndex>,
    /// (content, coding) pairs whose compression did not pay off.
    not_worth_compressing: RwLock<HashSet<(ContentHash, Coding)>>,
    /// (content, coding) pairs being compressed in the background.
    compressing: Mutex<HashSet<(ContentHash, Coding)>>,
    /// Extension → media type.
    media_types: RwLock<HashMap<Box<str>, MediaType>>,
    small_files: Arc<SmallFiles>,
    templates: Templates,
}

#[derive(Clone, Debug)]
struct MediaType {
    content_type: HeaderValue,
    is_html: bool,
    compressible: bool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.index.save() {
            tracing::warn!(error = %e, "cannot save the static ETag index");
        }
    }
}

/// The request fields the blocking part needs, owned.
struct StaticRequest {
    method: Method,
    path: CleanPath,
    query: Option<String>,
    codings: RankedCodings,
    preconditions: Preconditions,
    /// Read only when the core saw a `Range` line.
    range: RangeField,
    now: HttpDate,
    /// Where to count the bytes a 304 saves, when the caller counts
    /// requests into [`Metrics`](crate::metrics::Metrics).
    metrics: Option<crate::metrics::Metrics>,
    /// Answering on the async worker: anything that may take long
    /// (hashing, compressing, listing) gives up with [`NeedsBlocking`].
    inline: bool,
}

/// The inline attempt met work that belongs on a blocking thread.
#[derive(Debug, thiserror::Error)]
#[error("needs a blocking thread")]
struct NeedsBlocking;

/// Whether `e` wraps a `T` (one of the markers above or below).
fn carries<T: std::error::Error + 'static>(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(<dyn std::error::Error + Send + Sync>::is::<T>)
}

/// What a file's identity 200 and 304 look like, for one stamp of the
/// file: answering from it is a header-map clone instead of formatting the
/// ETag, Last-Modified, media type and Cache-Control (a glob match) anew.
/// Held in [`Templates`]; valid while the `lstat` shows the same stamp.
struct Template {
    identity: FileIdentity,
    stamp: FileStamp,
    len: u64,
    validators: Validators,
    /// False when Last-Modified was clamped to the clock (an mtime in the
    /// future), which makes the template good for this response only.
    last_modified_is_mtime: bool,
    /// The 200's fields, `Content-Length` included.
    ok_headers: HeaderMap,
    /// The 304's fields (§15.4.5), chosen by the core. Kept as a list: a
    /// fresh map filled from it costs about half a map clone.
    not_modified_fields: Box<[(HeaderName, HeaderValue)]>,
}

/// Relative path → [`Template`].
type Templates = quick_cache::sync::Cache<Box<str>, Arc<Template>>;

impl Template {
    /// The whole identity representation (no `Range`): 304, 412, or 200
    /// (HEAD without a body).
    fn respond(
        &self,
        request: &StaticRequest,
        source: impl FnOnce() -> Source,
    ) -> Result<Response, FileChanged> {
        match request
            .preconditions
            .evaluate(&request.method, &self.validators, request.now)
        {
            Outcome::NotModified => {
                let mut headers = HeaderMap::with_capacity(self.not_modified_fields.len());
                for (name, value) in &self.not_modified_fields {
                    headers.append(name.clone(), value.clone());
                }
                Ok(not_modified(request, headers, self.len))
            }
            Outcome::PreconditionFailed => Ok(precondition_failed(&self.validators)),
            Outcome::Proceed | Outcome::IgnoreRange => {
                let body = if request.method == Method::HEAD {
                    Body::empty()
                } else {
                    let segments = vec![Segment::Slice {
                        start: 0,
                        len: self.len,
                    }];
                    match body_of(source(), segments, self.len) {
                        Ok(body) => body,
                        Err(e) if carries::<FileChanged>(&e) => {
                            return Err(FileChanged);
                        }
                        Err(e) => return Ok(io_failure(&e)),
                    }
                };
                let mut response = Response::new(body);
                *response.headers_mut() = self.ok_headers.clone();
                Ok(response)
            }
        }
    }
}

/// A 304 with `headers`; the `len` bytes it saved are counted into the
/// request's metrics when it has them, else noted on the response for a
/// [`TrackLayer`](crate::metrics::TrackLayer) (a response extension costs
/// two allocations, about a twentieth of a whole 304).
fn not_modified(request: &StaticRequest, headers: HeaderMap, len: u64) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    *response.headers_mut() = headers;
    match &request.metrics {
        Some(metrics) => metrics.record_bytes_saved(len),
        None => {
            response.extensions_mut().insert(crate::metrics::BytesSaved(len));
        }
    }
    response
}

/// The 412 for a file: its current ETag, and a problem saying to re-fetch.
fn precondition_failed(validators: &Validators) -> Response {
    let mut problem = Problem::new(StatusCode::PRECONDITION_FAILED, "Precondition Failed")
        .with_detail("The file does not match the request's preconditions; fetch it again.")
        .with_header(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(etag) = validators.etag() {
        problem = problem.with_header(header::ETAG, etag.to_header_value());
    }
    problem.into_response()
}

/// The selected representation, ready for preconditions and ranges.
struct Representation {
    source: Source,
    len: u64,
    etag: EntityTag,
    last_modified: Option<HttpDate>,
    content_type: HeaderValue,
    content_encoding: Option<Coding>,
    cache_control: HeaderValue,
}

enum Source {
    File(File),
    Bytes(Bytes),
    /// A file known only by its `lstat` so far: opened (and checked to be
    /// the same file) only if the response has a body, so a 304, a 412 or
    /// a HEAD costs one metadata syscall and no open/fstat/close.
    Stated {
        path: PathBuf,
        meta: Metadata,
        small_files: Arc<SmallFiles>,
    },
}

/// The bytes of small files by identity, valid for one stamp: a repeat 200
/// is then one `lstat` and no open/read/close. The stamp (size, mtime and
/// ctime in ns) is the same trust as the ETag index's, so a cached body can
/// never be sent under another file's ETag.
type SmallFiles = quick_cache::sync::Cache<FileIdentity, (FileStamp, Bytes), SmallFileWeight>;

/// How many files' [`Template`]s are kept (about 1 KiB each).
const TEMPLATES_CAPACITY: usize = 16 * 1024;
/// Files up to this size are kept in [`SmallFiles`].
const SMALL_FILE_MAX: u64 = 64 * 1024;
/// The bytes [`SmallFiles`] may hold in all.
const SMALL_FILES_CAPACITY: u64 = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
struct SmallFileWeight;

impl quick_cache::Weighter<FileIdentity, (FileStamp, Bytes)> for SmallFileWeight {
    fn weight(&self, _key: &FileIdentity, value: &(FileStamp, Bytes)) -> u64 {
        // The bytes plus the entry's own bookkeeping, so empty files count.
        value.1.len() as u64 + 64
    }
}

/// The file changed between its `lstat` and its `open`.
#[derive(Debug, thiserror::Error)]
#[error("the file changed while it was being opened")]
struct FileChanged;

impl StaticFiles {
    /// Resolves the root, creates the data directory, compiles the
    /// `Cache-Control` rules and loads the saved ETag index. Does not
    /// walk the tree; see [`StaticFiles::index_all`].
    pub fn open(config: StaticConfig) -> Result<Self, StaticError> {
        let root = std::fs::canonicalize(&config.root).map_err(|source| StaticError::Root {
            path: config.root.clone(),
            source,
        })?;
        if !root.is_dir() {
            return Err(StaticError::RootNotDirectory(config.root));
        }
        let compressed = config.data_dir.join("compressed");
        std::fs::create_dir_all(&compressed).map_err(|source| StaticError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let data_dir = std::fs::canonicalize(&config.data_dir).map_err(|source| StaticError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let cache_control = cache_control::CacheControlPolicy::new(&config.cache_control)?;
        let index = Arc::new(ContentIndex::load(&data_dir));
        let data_dir_in_root = data_dir.starts_with(&root);
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                compressed_dir: data_dir.join("compressed"),
                data_dir_in_root,
                data_dir,
                directory_listing: config.directory_listing,
                follow_symlinks_outside_root: config.follow_symlinks_outside_root,
                compress_on_the_fly: config.compress_on_the_fly,
                cache_control,
                index,
                not_worth_compressing: RwLock::new(HashSet::new()),
                compressing: Mutex::new(HashSet::new()),
                media_types: RwLock::new(HashMap::new()),
                templates: Templates::new(TEMPLATES_CAPACITY),
                small_files: Arc::new(SmallFiles::with_weighter(
                    4096,
                    SMALL_FILES_CAPACITY,
                    SmallFileWeight,
                )),
            }),
        })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.inner.root
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
    /// compressions of content no file has any more, and saves the index. Shows a progress bar on stderr when `progress` is set and
    /// stderr is a terminal. Blocking: call before serving, or through
    /// `spawn_blocking`.
    pub fn index_all(&self, progress: bool) -> io::Result<IndexSummary> {
        let inner = &self.inner;
        let hashed_before = inner.index.files_hashed();
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(&inner.root)
            .follow_links(inner.follow_symlinks_outside_root)
            .into_iter()
            .filter_entry(|e| {
                let hidden = e
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with('.') && n != ".well-known");
                e.depth() == 0 || !(hidden || e.path().starts_with(&inner.data_dir))
            });
        for entry in walker {
            let Ok(entry) = entry else { continue };
            if entry.file_type().is_file() {
                let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
                files.push((entry.into_path(), len));
            }
        }
        let total: u64 = files.iter().map(|(_, len)| len).sum();
        let bar = if progress && io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "indexing {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let hash_file = |path: &Path| -> io::Result<(ContentHash, Metadata)> {
            let mut file = File::open(path)?;
            let meta = file.metadata()?;
            inner.index.hash_of(&mut file, meta)
        };
        let mut keep = HashSet::with_capacity(files.len());
        let mut live = HashSet::with_capacity(files.len());
        for (path, len) in &files {
            match hash_file(path) {
                Ok((hash, meta)) => {
                    keep.insert(index::identity_and_stamp(&meta).0);
                    live.insert(hash.to_hex());
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot index file"),
            }
            bar.inc(*len);
        }
        bar.finish_and_clear();
        // Compressions of content no file has any more are deleted; the
        // others stay indexed.
        for entry in std::fs::read_dir(&inner.compressed_dir)?.flatten() {
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            if !live.contains(stem) {
                if let Err(e) = std::fs::remove_file(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove stale compression");
                }
                continue;
            }
            if let Ok((_, meta)) = hash_file(&path) {
                keep.insert(index::identity_and_stamp(&meta).0);
            }
        }
        inner.index.retain(&keep);
        inner.index.save()?;
        Ok(IndexSummary {
            files: files.len() as u64,
            bytes: total,
            hashed: inner.index.files_hashed() - hashed_before,
        })
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
        if *method != Method::GET && *method != Method::HEAD {
            // §15.5.6: "The origin server MUST generate an Allow header
            // field in a 405 response containing a list of the target
            // resource's currently supported methods."
            return Answer::Ready(
                Problem::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
                    .with_detail(format!("Static files answer GET and HEAD, not {method}."))
                    .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
                    .into_response(),
            );
        }
        let path = match request_path::clean_request_path(uri.path()) {
            Ok(path) => path,
            Err(PathRejection::Malformed(why)) => {
                return Answer::Ready(
                    Problem::new(StatusCode::BAD_REQUEST, "Bad Request")
                        .with_detail(why)
                        .into_response(),
                );
            }
            Err(PathRejection::Refused(why)) => return Answer::Ready(not_found(why)),
        };
        let preconditions = Preconditions::from_headers(headers);
        let mut request = StaticRequest {
            method: method.clone(),
            path,
            query: uri.query().map(str::to_owned),
            codings: AcceptEncoding::from_field(headers.get_all(header::ACCEPT_ENCODING)).ranked(),
            range: if preconditions.has_range() {
                RangeField::from_headers(headers)
            } else {
                RangeField::default()
            },
            preconditions,
            now: HttpDate::from_system_time(SystemTime::now()).unwrap_or(HttpDate::MAX),
            metrics: metrics.cloned(),
            inline: true,
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
            let response = inner.answer(&request).unwrap_or_else(|NeedsBlocking| {
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
            });
            inner.index.schedule_save();
            response
        })
        .await;
        answered.unwrap_or_else(|e| {
            tracing::error!(error = %e, "static file task failed");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
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

impl Inner {
    /// Everything from resolving the path to building the response.
    /// Blocking.
    fn answer(self: &Arc<Self>, request: &StaticRequest) -> Result<Response, NeedsBlocking> {
        let relative = request.path.relative();
        let (path, lstat) = match self.confine_below(&self.root, relative) {
            Ok(confined) => confined,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        if let Some(meta) = lstat
            && meta.is_file()
            && !request.path.trailing_slash
            && let Some(response) = self.answer_from_stat(request, &path, relative, meta)
        {
            return Ok(response);
        }
        let (file, meta) = match open(&path) {
            Ok(opened) => opened,
            Err(e) => return Ok(io_failure(&e)),
        };
        if meta.is_dir() {
            return self.answer_directory(request, &path, relative);
        }
        if request.path.trailing_slash {
            return Ok(not_found("a file was requested as a directory"));
        }
        self.answer_file(request, file, meta, &path, relative)
    }

    /// The common case answered from the `lstat` that confinement already
    /// made: an identity response whose hash the index knows, from the
    /// file's [`Template`]. The file is opened only for a body, and its
    /// bytes come from [`SmallFiles`] when they are there. `None` sends the
    /// request down the general path (another coding wanted, a file not
    /// indexed yet, or a file that changed between the `lstat` and the
    /// `open`).
    fn answer_from_stat(
        self: &Arc<Self>,
        request: &StaticRequest,
        path: &Path,
        relative: &str,
        meta: Metadata,
    ) -> Option<Response> {
        if request.codings.preferred_over_identity().next().is_some()
            || !request.codings.identity_acceptable()
        {
            return None;
        }
        let (identity, stamp) = identity_and_stamp(&meta);
        let template = match self.templates.get(relative) {
            Some(template) if template.identity == identity && template.stamp == stamp => template,
            _ => {
                let template = Arc::new(self.template(relative, &meta, request.now)?);
                // A Last-Modified clamped to the clock (§8.8.2.1) holds
                // only for this moment; such files are not kept.
                if template.last_modified_is_mtime {
                    self.templates.insert(relative.into(), Arc::clone(&template));
                }
                template
            }
        };
        // Only a response with a body needs the bytes: a 304, a 412 or a
        // HEAD never looks them up.
        let source = || match self.small_files.get(&identity) {
            Some((cached_stamp, bytes)) if cached_stamp == stamp => Source::Bytes(bytes),
            _ => Source::Stated {
                path: path.to_path_buf(),
                meta,
                small_files: Arc::clone(&self.small_files),
            },
        };
        if !request.range.is_present() {
            return template.respond(request, source).ok();
        }
        let source = source();
        let representation = Representation {
            len: template.len,
            etag: template.validators.etag()?.clone(),
            last_modified: template.validators.last_modified(),
            source,
            cache_control: template.ok_headers.get(header::CACHE_CONTROL)?.clone(),
            content_type: template.ok_headers.get(header::CONTENT_TYPE)?.clone(),
            content_encoding: None,
        };
        try_respond_with(request, representation).ok()
    }

    /// The headers of a file's identity 200 and 304, made once per stamp.
    fn template(&self, relative: &str, meta: &Metadata, now: HttpDate) -> Option<Template> {
        let hash = self.index.lookup(meta)?;
        let media = self.media_type(relative);
        let etag = strong_etag(&hash);
        let last_modified = last_modified(meta, now);
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let mut ok_headers = HeaderMap::with_capacity(10);
        ok_headers.insert(header::ETAG, etag.to_header_value());
        if let Some(last_modified) = last_modified {
            ok_headers.insert(header::LAST_MODIFIED, last_modified.to_header_value());
        }
        ok_headers.insert(
            header::CACHE_CONTROL,
            self.cache_control.for_path(relative, media.is_html),
        );
        ok_headers.insert(header::CONTENT_TYPE, media.content_type);
        ok_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        ok_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        ok_headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        let not_modified_headers = not_modified_headers(&ok_headers);
        let not_modified_fields = not_modified_headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        ok_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        let mut validators = Validators::new().with_etag(etag);
        if let Some(last_modified) = last_modified {
            validators = validators.with_last_modified(last_modified);
        }
        let (identity, stamp) = identity_and_stamp(meta);
        Some(Template {
            identity,
            stamp,
            len: meta.len(),
            validators,
            last_modified_is_mtime: last_modified.is_none()
                || last_modified.map(HttpDate::unix_seconds) == mtime,
            ok_headers,
            not_modified_fields,
        })
    }

    /// The media type of `relative`, by extension, memoised: the guess and
    /// the formatting of the header value happen once per extension.
    fn media_type(&self, relative: &str) -> MediaType {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        let extension = name.rsplit_once('.').map_or("", |(_, extension)| extension);
        if let Some(media) = self
            .media_types
            .read()
            .ok()
            .and_then(|m| m.get(extension).cloned())
        {
            return media;
        }
        let mime = mime_guess::from_ext(extension).first_or_octet_stream();
        let media = MediaType {
            content_type: content_type_value(&mime),
            is_html: mime.essence_str() == "text/html",
            compressible: compress::is_compressible(mime.essence_str()),
        };
        // Bounded: names with odd extensions cannot grow the map forever.
        if let Ok(mut map) = self.media_types.write()
            && map.len() < 1024
        {
            map.insert(extension.into(), media.clone());
        }
        media
    }

    /// `base` (confined already) joined with `relative` (clean segments
    /// joined by `/`, see [`request_path`]), confined: each
    /// step is `lstat`ed, and only when one is a symlink is the rest
    /// resolved by [`Inner::confine`]. Cheaper than canonicalizing the
    /// whole path, whose components above the root need no checking.
    ///
    /// Also returns the last step's `lstat` when it is not a symlink: the
    /// metadata of the file itself, which answers a 304 without opening it.
    fn confine_below(&self, base: &Path, relative: &str) -> Result<(PathBuf, Option<Metadata>), Refusal> {
        let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + relative.len());
        path.push(base);
        let mut last = None;
        let mut remaining = relative;
        while !remaining.is_empty() {
            let (segment, after) = remaining.split_once('/').unwrap_or((remaining, ""));
            remaining = after;
            // Appended as bytes: a clean segment holds no separator, and
            // `PathBuf::push` would look for one (and for a root) each time.
            let os = path.as_mut_os_string();
            if !os.as_encoded_bytes().ends_with(b"/") {
                os.push("/");
            }
            os.push(segment);
            if self.follow_symlinks_outside_root {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).map_err(Refusal::Io)?;
            if meta.file_type().is_symlink() {
                if !remaining.is_empty() {
                    path.push(remaining);
                }
                return Ok((self.confine(&path)?, None));
            }
            last = Some(meta);
        }
        if self.data_dir_in_root && path.starts_with(&self.data_dir) {
            return Err(Refusal::DataDir);
        }
        Ok((path, last))
    }

    /// The real path to open, or why not: a path whose canonical form
    /// leaves the root (through a symlink) unless allowed, and the data
    /// directory, are answered like missing files.
    fn confine(&self, path: &Path) -> Result<PathBuf, Refusal> {
        if self.follow_symlinks_outside_root {
            if path.starts_with(&self.data_dir) {
                return Err(Refusal::DataDir);
            }
            return Ok(path.to_path_buf());
        }
        let canonical = std::fs::canonicalize(path).map_err(Refusal::Io)?;
        if !canonical.starts_with(&self.root) {
            tracing::debug!(path = %path.display(), "refused: a symlink leads outside the root");
            return Err(Refusal::OutsideRoot);
        }
        if canonical.starts_with(&self.data_dir) {
            return Err(Refusal::DataDir);
        }
        Ok(canonical)
    }

    fn answer_directory(
        self: &Arc<Self>,
        request: &StaticRequest,
        dir: &Path,
        relative: &str,
    ) -> Result<Response, NeedsBlocking> {
        let location = request.path.directory_location();
        if !request.path.trailing_slash {
            let target = match &request.query {
                Some(query) => format!("{location}?{query}"),
                None => location,
            };
            return Ok(match HeaderValue::from_str(&target) {
                Ok(target) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, target)]).into_response(),
                Err(_) => not_found("unrepresentable directory location"),
            });
        }
        if let Ok((index_path, _)) = self.confine_below(dir, "index.html")
            && let Ok((file, meta)) = open(&index_path)
            && meta.is_file()
        {
            let relative = if relative.is_empty() {
                "index.html".to_owned()
            } else {
                format!("{relative}/index.html")
            };
            return self.answer_file(request, file, meta, &index_path, &relative);
        }
        if !self.directory_listing {
            return Ok(Problem::new(StatusCode::FORBIDDEN, "Forbidden")
                .with_detail("This directory has no index.html and directory listing is disabled.")
                .into_response());
        }
        if request.inline {
            return Err(NeedsBlocking);
        }
        let html = match listing::render(dir, &location) {
            Ok(html) => Bytes::from(html),
            Err(e) => return Ok(io_failure(&e)),
        };
        let representation = Representation {
            len: html.len() as u64,
            etag: strong_etag(&ContentHash::of(&html)),
            source: Source::Bytes(html),
            last_modified: None,
            content_type: HeaderValue::from_static("text/html; charset=utf-8"),
            content_encoding: None,
            cache_control: self.cache_control.for_path(&format!("{relative}/"), true),
        };
        Ok(respond_with(request, representation))
    }

    fn answer_file(
        self: &Arc<Self>,
        request: &StaticRequest,
        file: File,
        meta: Metadata,
        path: &Path,
        relative: &str,
    ) -> Result<Response, NeedsBlocking> {
        let media = self.media_type(relative);
        let content_type = media.content_type;
        let cache_control = self.cache_control.for_path(relative, media.is_html);
        let compressible = self.compress_on_the_fly
            && media.compressible
            && (MIN_COMPRESS_LEN..=MAX_COMPRESS_LEN).contains(&meta.len());
        Ok(
            match self.select_variant(request, file, meta, path, compressible) {
                Ok(Some(variant)) => respond_with(
                    request,
                    Representation {
                        len: variant.meta.len(),
                        etag: strong_etag(&variant.hash),
                        last_modified: last_modified(&variant.modified_meta, request.now),
                        source: Source::File(variant.file),
                        content_type,
                        content_encoding: variant.coding,
                        cache_control,
                    },
                ),
                Ok(None) => Problem::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable")
                    .with_detail(
                        "Accept-Encoding excludes identity and none of the acceptable codings is available.",
                    )
                    .with_header(header::VARY, HeaderValue::from_static("accept-encoding"))
                    .into_response(),
                Err(e) if carries::<NeedsBlocking>(&e) => return Err(NeedsBlocking),
                Err(e) => io_failure(&e),
            },
        )
    }

    /// The content hash from the index; hashing the file only off the
    /// async worker.
    fn hash(&self, inline: bool, file: &mut File, meta: Metadata) -> io::Result<(ContentHash, Metadata)> {
        if inline {
            return match self.index.lookup(&meta) {
                Some(hash) => Ok((hash, meta)),
                None => Err(io::Error::other(NeedsBlocking)),
            };
        }
        self.index.hash_of(file, meta)
    }

    /// Picks what to send: a precompressed sibling ranked above identity,
    /// else an on-the-fly compression so ranked, else identity (if the
    /// client accepts it; `None` if not).
    fn select_variant(
        self: &Arc<Self>,
        request: &StaticRequest,
        mut file: File,
        meta: Metadata,
        path: &Path,
        compressible: bool,
    ) -> io::Result<Option<Variant>> {
        for coding in request.codings.preferred_over_identity() {
            if let Some((mut sibling, sibling_meta)) = self.open_sibling(path, &meta, coding) {
                let (hash, sibling_meta) = self.hash(request.inline, &mut sibling, sibling_meta)?;
                return Ok(Some(Variant {
                    file: sibling,
                    modified_meta: sibling_meta.clone(),
                    meta: sibling_meta,
                    hash,
                    coding: Some(coding),
                }));
            }
        }
        let (identity_hash, meta) = self.hash(request.inline, &mut file, meta)?;
        if compressible {
            for coding in request.codings.preferred_over_identity() {
                if let Some((compressed, compressed_meta, hash)) =
                    self.compressed(request.inline, &mut file, path, identity_hash, coding)?
                {
                    return Ok(Some(Variant {
                        file: compressed,
                        meta: compressed_meta,
                        modified_meta: meta,
                        hash,
                        coding: Some(coding),
                    }));
                }
            }
        }
        if !request.codings.identity_acceptable() {
            return Ok(None);
        }
        Ok(Some(Variant {
            file,
            modified_meta: meta.clone(),
            meta,
            hash: identity_hash,
            coding: None,
        }))
    }

    /// `path.<ext>` when it is a regular file inside the root, modified no
    /// earlier than the original. The sibling sits in a directory already
    /// confined, so only a symlink needs the full check.
    ///
    /// A sibling older than its original was most likely left behind when
    /// the original changed; sending it would give gzip clients other
    /// content than identity clients, so it is skipped (and the original
    /// compressed on the fly instead).
    fn open_sibling(&self, path: &Path, original: &Metadata, coding: Coding) -> Option<(File, Metadata)> {
        let mut name = path.file_name()?.to_os_string();
        name.push(".");
        name.push(coding.extension());
        let sibling = path.with_file_name(name);
        let link_meta = std::fs::symlink_metadata(&sibling).ok()?;
        let sibling = if link_meta.file_type().is_symlink() {
            self.confine(&sibling).ok()?
        } else {
            sibling
        };
        let (file, meta) = open(&sibling).ok()?;
        if let (Ok(sibling_time), Ok(original_time)) = (meta.modified(), original.modified())
            && sibling_time < original_time
        {
            tracing::debug!(path = %sibling.display(), "precompressed sibling older than its original; skipped");
            return None;
        }
        meta.is_file().then_some((file, meta))
    }

    /// The cached compression of the identity content. When missing, it
    /// is made now for files up to [`COMPRESS_WHILE_WAITING`]; larger ones
    /// are compressed in the background and this request gets the next
    /// best variant. `None` when there is none yet or it does not pay off.
    fn compressed(
        self: &Arc<Self>,
        inline: bool,
        identity: &mut File,
        identity_path: &Path,
        identity_hash: ContentHash,
        coding: Coding,
    ) -> io::Result<Option<(File, Metadata, ContentHash)>> {
        let key = (identity_hash, coding);
        if self
            .not_worth_compressing
            .read()
            .is_ok_and(|set| set.contains(&key))
        {
            return Ok(None);
        }
        let cached = compress::cache_path(&self.compressed_dir, &identity_hash, coding);
        match open(&cached) {
            Ok((mut file, meta)) => {
                let (hash, meta) = self.hash(inline, &mut file, meta)?;
                return Ok(Some((file, meta, hash)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if inline {
            return Err(io::Error::other(NeedsBlocking));
        }
        let len = identity.metadata()?.len();
        if len > COMPRESS_WHILE_WAITING
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let first = self.compressing.lock().is_ok_and(|mut set| set.insert(key));
            if first {
                let inner = Arc::clone(self);
                let path = identity_path.to_path_buf();
                runtime.spawn_blocking(move || {
                    let made = File::open(&path).and_then(|mut file| inner.make_compressed(&mut file, key));
                    if let Err(e) = made {
                        tracing::warn!(path = %path.display(), error = %e, "background compression failed");
                    }
                    if let Ok(mut set) = inner.compressing.lock() {
                        set.remove(&key);
                    }
                });
            }
            return Ok(None);
        }
        self.make_compressed(identity, key)
    }

    /// Compresses the identity content into the cache, if its bytes still
    /// hash to `key.0` and compressing saves at least a tenth.
    fn make_compressed(
        &self,
        identity: &mut File,
        (identity_hash, coding): (ContentHash, Coding),
    ) -> io::Result<Option<(File, Metadata, ContentHash)>> {
        identity.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(usize::try_from(identity.metadata()?.len()).unwrap_or(0));
        identity.read_to_end(&mut bytes)?;
        identity.seek(SeekFrom::Start(0))?;
        if ContentHash::of(&bytes) != identity_hash {
            // Changed since it was hashed: do not file a compression of
            // new bytes under the old hash. Identity is sent this time.
            return Ok(None);
        }
        let output = compress::compress(&bytes, coding)?;
        if output.len() as u64 * 10 > bytes.len() as u64 * 9 {
            if let Ok(mut set) = self.not_worth_compressing.write() {
                set.insert((identity_hash, coding));
            }
            return Ok(None);
        }
        let cached = compress::cache_path(&self.compressed_dir, &identity_hash, coding);
        index::write_atomically(&cached, &output)?;
        let (file, meta) = open(&cached)?;
        let hash = ContentHash::of(&output);
        if meta.len() == output.len() as u64 {
            self.index.record(&meta, hash);
        }
        Ok(Some((file, meta, hash)))
    }
}

/// Why [`Inner::confine`] refused a path.
#[derive(Debug)]
enum Refusal {
    Io(io::Error),
    OutsideRoot,
    DataDir,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Io(e) => io_failure(&e),
            Refusal::OutsideRoot => not_found("the path leads outside the root"),
            Refusal::DataDir => not_found("the data directory is not served"),
        }
    }
}

struct Variant {
    file: File,
    meta: Metadata,
    /// Whose modification time is the `Last-Modified` (the source file for
    /// on-the-fly compression).
    modified_meta: Metadata,
    hash: ContentHash,
    coding: Option<Coding>,
}

/// [`try_respond_with`] for a source that is open or in memory already.
fn respond_with(request: &StaticRequest, representation: Representation) -> Response {
    try_respond_with(request, representation)
        .unwrap_or_else(|FileChanged| io_failure(&io::Error::new(io::ErrorKind::WouldBlock, FileChanged)))
}

/// Preconditions, then ranges, then the body. Fails only for a
/// [`Source::Stated`] file that changed before it could be opened.
fn try_respond_with(
    request: &StaticRequest,
    representation: Representation,
) -> Result<Response, FileChanged> {
    let mut headers = HeaderMap::with_capacity(10);
    headers.insert(header::ETAG, representation.etag.to_header_value());
    if let Some(last_modified) = representation.last_modified {
        headers.insert(header::LAST_MODIFIED, last_modified.to_header_value());
    }
    headers.insert(header::CACHE_CONTROL, representation.cache_control.clone());
    headers.insert(header::CONTENT_TYPE, representation.content_type.clone());
    if let Some(coding) = representation.content_encoding {
        headers.insert(header::CONTENT_ENCODING, coding.header_value());
    }
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );

    let mut validators = Validators::new().with_etag(representation.etag.clone());
    if let Some(last_modified) = representation.last_modified {
        validators = validators.with_last_modified(last_modified);
    }
    let len = representation.len;
    // §13.2.2 fixes the order: If-Match, If-Unmodified-Since,
    // If-None-Match, If-Modified-Since, If-Range, and only then Range
    // (§14.2). The core decides them all, for every shell alike.
    let mut plan = answer::plan(
        &request.method,
        &request.preconditions,
        &request.range,
        StatusCode::OK,
        &validators,
        Some(len),
        request.now,
    );
    // The shell's choice: no multipart body under a Content-Encoding (is
    // each part coded, do the ranges count coded bytes?), the whole
    // variant instead; §14.2: "A server MAY ignore the Range header field."
    if representation.content_encoding.is_some() && matches!(plan, Plan::Multipart(_)) {
        plan = Plan::Full;
    }
    let head = request.method == Method::HEAD;
    let (status, segments, body_len) = match plan {
        Plan::NotModified => {
            // §15.4.5: the 304 carries the fields a 200 would have sent
            // among Content-Location, Date, ETag, Vary, Cache-Control and
            // Expires; the core picks them.
            return Ok(not_modified(request, not_modified_headers(&headers), len));
        }
        Plan::PreconditionFailed(_) => return Ok(precondition_failed(&validators)),
        Plan::Full => (StatusCode::OK, vec![Segment::Slice { start: 0, len }], len),
        Plan::Partial(range) => {
            let part_len = answer::range_length(&range);
            headers.insert(header::CONTENT_RANGE, answer::content_range(&range, len));
            (
                StatusCode::PARTIAL_CONTENT,
                vec![Segment::Slice {
                    start: *range.start(),
                    len: part_len,
                }],
                part_len,
            )
        }
        Plan::Multipart(ranges) => {
            let layout = answer::multipart_layout(
                &ranges,
                len,
                &representation.content_type,
                representation.etag.opaque(),
            );
            headers.insert(header::CONTENT_TYPE, layout.content_type);
            (StatusCode::PARTIAL_CONTENT, layout.segments, layout.length)
        }
        Plan::Unsatisfiable => {
            // §15.5.17: "a server generating a 416 ... SHOULD generate a
            // Content-Range header field specifying the current length".
            let mut response = Problem::new(StatusCode::RANGE_NOT_SATISFIABLE, "Range Not Satisfiable")
                .with_detail(format!("The selected representation is {len} bytes long."))
                .with_header(header::VARY, HeaderValue::from_static("accept-encoding"))
                .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, answer::unsatisfied_range(len));
            return Ok(response);
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    let body = if head {
        Body::empty()
    } else {
        match body_of(representation.source, segments, body_len) {
            Ok(body) => body,
            Err(e) if carries::<FileChanged>(&e) => return Err(FileChanged),
            Err(e) => return Ok(io_failure(&e)),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// The body for `segments` of `source`: read now when small, else a stream.
fn body_of(source: Source, segments: Vec<Segment>, body_len: u64) -> io::Result<Body> {
    match source {
        Source::Bytes(bytes) => {
            if let [Segment::Slice { start: 0, len }] = segments.as_slice()
                && *len == bytes.len() as u64
            {
                return Ok(Body::from(bytes));
            }
            let mut out = Vec::with_capacity(usize::try_from(body_len).unwrap_or(0));
            for segment in segments {
                match segment {
                    Segment::Literal(literal) => out.extend_from_slice(literal.as_bytes()),
                    Segment::Slice { start, len } => {
                        let start = usize::try_from(start).unwrap_or(usize::MAX).min(bytes.len());
                        let end = start
                            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
                            .min(bytes.len());
                        out.extend_from_slice(&bytes[start..end]);
                    }
                }
            }
            Ok(Body::from(out))
        }
        Source::File(file) if body_len <= READ_AT_ONCE => {
            let mut out = Vec::with_capacity(usize::try_from(body_len).unwrap_or(0));
            for segment in segments {
                match segment {
                    Segment::Literal(literal) => out.extend_from_slice(literal.as_bytes()),
                    Segment::Slice { start, len } => {
                        let old = out.len();
                        out.resize(old + usize::try_from(len).unwrap_or(0), 0);
                        read_exact_at(&file, &mut out[old..], start)?;
                    }
                }
            }
            Ok(Body::from(out))
        }
        Source::File(file) => Ok(stream_file(file, segments)),
        Source::Stated {
            path,
            meta,
            small_files,
        } => {
            let (mut file, opened) = open(&path)?;
            let (identity, stamp) = identity_and_stamp(&opened);
            if (identity, stamp) != identity_and_stamp(&meta) {
                return Err(io::Error::other(FileChanged));
            }
            if opened.len() > SMALL_FILE_MAX {
                return body_of(Source::File(file), segments, body_len);
            }
            let mut bytes = Vec::with_capacity(usize::try_from(opened.len()).unwrap_or(0));
            file.read_to_end(&mut bytes)?;
            if bytes.len() as u64 != opened.len() {
                return Err(io::Error::other(FileChanged));
            }
            let bytes = Bytes::from(bytes);
            // Kept only if the file did not change while being read: a
            // cached body outlives this response.
            if file
                .metadata()
                .is_ok_and(|after| identity_and_stamp(&after) == (identity, stamp))
            {
                small_files.insert(identity, (stamp, bytes.clone()));
            }
            body_of(Source::Bytes(bytes), segments, body_len)
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while being read")
        } else {
            e
        }
    })
}

/// Streams `segments` of a large file in chunks of [`READ_AT_ONCE`]. A
/// file that shrinks mid-way ends the stream with an error, which aborts
/// the connection rather than sending fewer bytes than `Content-Length`.
///
/// Each chunk is read on the worker itself, as nginx does
/// without `aio`: a static tree sits in the page cache, where a 256 KiB
/// read takes tens of microseconds, less than handing it to a blocking
/// thread and back (tokio::fs does that for every chunk).
fn stream_file(file: File, segments: Vec<Segment>) -> Body {
    struct State {
        file: File,
        segments: std::vec::IntoIter<Segment>,
        remaining: u64,
    }
    let state = State {
        file,
        segments: segments.into_iter(),
        remaining: 0,
    };
    let stream = futures_util::stream::try_unfold(state, |mut state| async move {
        loop {
            if state.remaining > 0 {
                let want = state.remaining.min(READ_AT_ONCE);
                // `read_to_end` fills spare capacity without zeroing it first.
                let mut chunk = Vec::with_capacity(usize::try_from(want).unwrap_or(64 * 1024));
                (&state.file).take(want).read_to_end(&mut chunk)?;
                if (chunk.len() as u64) < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while being sent",
                    ));
                }
                state.remaining -= want;
                return Ok::<_, io::Error>(Some((Bytes::from(chunk), state)));
            }
            match state.segments.next() {
                None => return Ok(None),
                Some(Segment::Literal(literal)) => return Ok(Some((Bytes::from(literal), state))),
                Some(Segment::Slice { start, len }) => {
                    state.file.seek(SeekFrom::Start(start))?;
                    state.remaining = len;
                }
            }
        }
    });
    Body::from_stream(stream)
}

fn open(path: &Path) -> io::Result<(File, Metadata)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// `"<first 128 bits of BLAKE3, hex>"`: strong, and the same on every node
/// for the same bytes.
fn strong_etag(hash: &ContentHash) -> EntityTag {
    EntityTag::strong(hash.etag_opaque()).expect("hex digits are valid etagc characters")
}

/// The modification time, truncated to seconds; none for the bogus 0 and
/// 1 s after the epoch that reproducible builds (Nix, Bazel) stamp on every
/// file, where it would say nothing and make `If-Modified-Since` lie.
fn last_modified(meta: &Metadata, now: HttpDate) -> Option<HttpDate> {
    let secs = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if secs <= 1 {
        return None;
    }
    let modified = HttpDate::from_unix_seconds(secs)?;
    // §8.8.2.1: "An origin server with a clock MUST NOT generate a
    // Last-Modified date that is later than the server's time of message
    // origination (Date). If the last modification time is derived from
    // implementation-specific metadata that evaluates to some time in the
    // future, according to the origin server's clock, then the origin
    // server MUST replace that value with the message origination date."
    Some(if modified > now { now } else { modified })
}

/// `Content-Type` with `charset=utf-8` for text.
fn content_type_value(mime: &mime_guess::Mime) -> HeaderValue {
    let essence = mime.essence_str();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || mime
            .suffix()
            .is_some_and(|s| s == mime_guess::mime::JSON || s == mime_guess::mime::XML)
        || matches!(
            essence,
            "application/javascript" | "application/json" | "application/xml"
        );
    let value = if textual && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn not_found(why: &'static str) -> Response {
    Problem::new(StatusCode::NOT_FOUND, "Not Found")
        .with_detail(why)
        .into_response()
}

/// Maps a file system error to a 4xx: missing → 404, not allowed → 403,
/// still changing → 503; other errors are the server's (500).
fn io_failure(e: &io::Error) -> Response {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename => {
            not_found("no such file")
        }
        io::ErrorKind::PermissionDenied => Problem::new(StatusCode::FORBIDDEN, "Forbidden")
            .with_detail("The file is not readable.")
            .into_response(),
        io::ErrorKind::WouldBlock => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            .with_detail("The file is being modified; retry shortly.")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response(),
        _ => {
            tracing::error!(error = %e, "static file IO error");
            Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
    }
}
