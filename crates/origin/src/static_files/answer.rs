//! The route of one request through the rooms, and the state they share
//! ([`Inner`]): confine the path, answer from the `lstat` and the file's
//! kept template when that is enough, else open the file, choose a variant
//! (or the directory's index, redirect or listing) and respond.
//!
//! Stops on the way are [`Detour`]s; this is where each is settled: on the
//! fast path a changed file takes the general path, elsewhere it becomes a
//! `503`; an IO error becomes its status; long work on the async worker
//! becomes [`NeedsBlocking`], and the request starts over on a blocking
//! thread.

use std::borrow::Cow;
use std::fs::{File, Metadata};
use std::path::Path;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderValue};

use super::body::{SmallFiles, Source, small_files};
use super::cache_control::CacheControlPolicy;
use super::compress::Compressions;
use super::config::{StaticConfig, StaticError};
use super::confine::Confinement;
use super::failure::{Detour, NeedsBlocking, io_failure, not_found};
use super::index::{ContentHash, ContentIndex, identity_and_stamp, open};
use super::listing;
use super::media_type::MediaTypes;
use super::request::StaticRequest;
use super::respond::respond;
use super::template::{Description, Stamped, Template, Templates, last_modified, strong_etag};
use super::variant::Variants;
use crate::clock::SharedClock;
use crate::problem::Problem;

/// What every request shares. Saves the index when dropped.
#[derive(Debug)]
pub(super) struct Inner {
    pub(super) confinement: Confinement,
    pub(super) index: Arc<ContentIndex>,
    pub(super) variants: Variants,
    directory_listing: bool,
    cache_control: CacheControlPolicy,
    media_types: MediaTypes,
    templates: Templates,
    small_files: Arc<SmallFiles>,
    /// Where a request's `now` comes from.
    pub(super) clock: SharedClock,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.index.save() {
            tracing::warn!(error = %e, "cannot save the static ETag index");
        }
    }
}

impl Inner {
    /// Resolves the root, creates the data directory, compiles the
    /// `Cache-Control` rules and loads the saved ETag index.
    pub(super) fn open(config: StaticConfig, clock: SharedClock) -> Result<Self, StaticError> {
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
        let cache_control = CacheControlPolicy::new(&config.cache_control)?;
        let index = Arc::new(ContentIndex::load(&data_dir));
        let compressions = Compressions::new(data_dir.join("compressed"), Arc::clone(&index));
        Ok(Self {
            confinement: Confinement::new(root, data_dir, config.follow_symlinks_outside_root),
            variants: Variants {
                index: Arc::clone(&index),
                compressions: Arc::new(compressions),
                compress_on_the_fly: config.compress_on_the_fly,
            },
            index,
            directory_listing: config.directory_listing,
            cache_control,
            media_types: MediaTypes::default(),
            templates: Templates::new(),
            small_files: Arc::new(small_files()),
            clock,
        })
    }

    /// A server over the same tree, index, compressions and small-file
    /// memo as this one, with `config`'s listing, symlink and
    /// `Cache-Control` settings, for a configuration reload. Its answer
    /// templates start empty, since they hold the `Cache-Control` value.
    /// The root and the data directory stay this server's: they change
    /// only with a restart.
    pub(super) fn reconfigured(&self, config: &StaticConfig) -> Result<Self, StaticError> {
        let cache_control = CacheControlPolicy::new(&config.cache_control)?;
        let root = self.confinement.root().to_path_buf();
        let data_dir = self.confinement.data_dir().to_path_buf();
        Ok(Self {
            confinement: Confinement::new(root, data_dir, config.follow_symlinks_outside_root),
            index: Arc::clone(&self.index),
            variants: Variants {
                index: Arc::clone(&self.index),
                compressions: Arc::clone(&self.variants.compressions),
                compress_on_the_fly: config.compress_on_the_fly,
            },
            directory_listing: config.directory_listing,
            cache_control,
            media_types: MediaTypes::default(),
            templates: Templates::new(),
            small_files: Arc::clone(&self.small_files),
            clock: Arc::clone(&self.clock),
        })
    }

    /// Everything from resolving the path to building the response.
    /// Blocking unless `request.inline`.
    pub(super) fn answer(&self, request: &StaticRequest) -> Result<Response, NeedsBlocking> {
        let relative = request.path.relative();
        let (path, lstat) = match self.confinement.below(self.confinement.root(), relative) {
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
        self.answer_file(request, (file, meta), &path, relative)
    }

    /// The common case answered from the `lstat` that confinement already
    /// made: an identity response whose hash the index knows, from the
    /// file's kept [`Template`]. The file is opened only for a body, and
    /// its bytes come from [`SmallFiles`] when they are there. `None` sends
    /// the request down the general path (another coding wanted, a file
    /// not indexed yet, or a file that changed between the `lstat` and the
    /// `open`).
    fn answer_from_stat(
        &self,
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
        let stamped = match self.templates.get(relative, identity, stamp) {
            Some(stamped) => stamped,
            None => {
                let hash = self.index.lookup(&meta)?;
                let media = self.media_types.of(relative);
                let cache_control = self.cache_control.for_path(relative, media.is_html);
                let (stamped, keep) =
                    Stamped::of_file(&meta, &hash, media.content_type, cache_control, request.now);
                let stamped = Arc::new(stamped);
                if keep {
                    self.templates.keep(relative, Arc::clone(&stamped));
                }
                stamped
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
        match respond(request, Cow::Borrowed(&stamped.template), source) {
            Ok(response) => Some(response),
            Err(Detour::FileChanged) => None,
            Err(detour) => detour.settle().ok(),
        }
    }

    fn answer_directory(
        &self,
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
        if let Ok((index_path, _)) = self.confinement.below(dir, "index.html")
            && let Ok((file, meta)) = open(&index_path)
            && meta.is_file()
        {
            let relative = if relative.is_empty() {
                "index.html".to_owned()
            } else {
                format!("{relative}/index.html")
            };
            return self.answer_file(request, (file, meta), &index_path, &relative);
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
        let template = Template::new(Description {
            etag: strong_etag(&ContentHash::of(&html)),
            last_modified: None,
            content_type: HeaderValue::from_static("text/html; charset=utf-8"),
            content_encoding: None,
            cache_control: self.cache_control.for_path(&format!("{relative}/"), true),
            len: html.len() as u64,
        });
        respond(request, Cow::Owned(template), || Source::Bytes(html)).or_else(Detour::settle)
    }

    fn answer_file(
        &self,
        request: &StaticRequest,
        opened: (File, Metadata),
        path: &Path,
        relative: &str,
    ) -> Result<Response, NeedsBlocking> {
        let media = self.media_types.of(relative);
        let variant = match self.variants.select(
            &request.codings,
            request.inline,
            &self.confinement,
            opened,
            path,
            media.compressible,
        ) {
            Ok(Some(variant)) => variant,
            // §12.5.3 allows a 406 when no acceptable coding is at hand.
            Ok(None) => {
                return Ok(Problem::new(StatusCode::NOT_ACCEPTABLE, "Not Acceptable")
                    .with_detail(
                        "Accept-Encoding excludes identity and none of the acceptable codings is available.",
                    )
                    .with_header(header::VARY, HeaderValue::from_static("accept-encoding"))
                    .into_response());
            }
            Err(detour) => return detour.settle(),
        };
        let template = Template::new(Description {
            etag: strong_etag(&variant.hash),
            last_modified: last_modified(&variant.modified_meta, request.now),
            content_type: media.content_type,
            content_encoding: variant.coding,
            cache_control: self.cache_control.for_path(relative, media.is_html),
            len: variant.meta.len(),
        });
        respond(request, Cow::Owned(template), || Source::File(variant.file)).or_else(Detour::settle)
    }
}
