//! The two layers and their settings.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::clock::{Clock, SystemClock};
use crate::context::Settings;
use crate::decide::Role;
use crate::lookup::{Lookup, NoLookup};
use crate::service::Conditional;

/// Bodies up to this many bytes are hashed by default: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// Answers conditional requests for the services it wraps: strong ETags
/// for dynamic responses, 304 Not Modified, 412 Precondition Failed and
/// byte ranges guarded by `If-Range`.
///
/// See the [crate docs](crate) for what it does with each response, and
/// for the layer order with compression.
///
/// ```
/// use revalidate_tower::ConditionalLayer;
///
/// // Hash bodies up to 256 KiB; larger ones pass through untouched.
/// let layer = ConditionalLayer::new().max_body(256 * 1024);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct ConditionalLayer<L = NoLookup> {
    settings: Settings,
    clock: Arc<dyn Clock>,
    lookup: L,
}

impl ConditionalLayer<NoLookup> {
    /// A layer that hashes bodies up to [`DEFAULT_MAX_BODY`], serves
    /// ranges of the bodies it read, and reads the system clock.
    pub fn new() -> Self {
        Self {
            settings: Settings {
                role: Role::Evaluate,
                max_body: DEFAULT_MAX_BODY,
                ranges: true,
            },
            clock: Arc::new(SystemClock),
            lookup: NoLookup,
        }
    }
}

impl Default for ConditionalLayer<NoLookup> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L> ConditionalLayer<L> {
    /// The largest body, in bytes, that the layer reads into memory to
    /// hash; larger ones pass through untagged (unless the handler tagged
    /// them). The decision is made on the body's announced length (its size
    /// hint or `Content-Length`) before reading anything, so a stream is
    /// never held back.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.settings.max_body = bytes;
        self
    }

    /// Whether the layer answers `Range` requests for bodies it read
    /// (default: yes), with 206 (one range, or a `multipart/byteranges`
    /// body for several), or 416 for a range past the end. With
    /// `false`, `Range` reaches the handler untouched, except that a
    /// request with `If-Range` then gets the whole representation (the
    /// layer cannot check the handler's partial response against it).
    pub fn ranges(mut self, enabled: bool) -> Self {
        self.settings.ranges = enabled;
        self
    }

    /// The clock for the evaluation's `now` (default: [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Looks up the current validators before the handler runs, and
    /// answers 304 and 412 without calling it: Django's
    /// `@condition(etag_func=…)`.
    ///
    /// This is also the only way the layer answers `If-Match` and
    /// `If-Unmodified-Since` on unsafe methods (PUT, PATCH, DELETE,
    /// POST): those must be checked before the method is performed
    /// ([RFC 9110 §13.1.1]). See [`Lookup`] for what the answer means.
    ///
    /// ```
    /// use revalidate_core::{EntityTag, Validators};
    /// use revalidate_tower::{ConditionalLayer, Current};
    ///
    /// let layer = ConditionalLayer::new().with_lookup(|request: &http::request::Parts| {
    ///     let path = request.uri.path().to_owned();
    ///     async move {
    ///         // A real app reads a version column here.
    ///         let version = path.len();
    ///         Some(Current::new(
    ///             Validators::new().with_etag(EntityTag::strong(format!("v{version}")).unwrap()),
    ///         ))
    ///     }
    /// });
    /// # let _ = layer;
    /// ```
    ///
    /// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
    pub fn with_lookup<F: Lookup>(self, lookup: F) -> ConditionalLayer<F> {
        ConditionalLayer {
            settings: self.settings,
            clock: self.clock,
            lookup,
        }
    }
}

impl<S, L: Clone> Layer<S> for ConditionalLayer<L> {
    type Service = Conditional<S, L>;

    fn layer(&self, inner: S) -> Self::Service {
        Conditional::new(inner, self.settings, Arc::clone(&self.clock), self.lookup.clone())
    }
}

impl<L> fmt::Debug for ConditionalLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionalLayer")
            .field("max_body", &self.settings.max_body)
            .field("ranges", &self.settings.ranges)
            .field("lookup", &std::any::type_name::<L>())
            .finish_non_exhaustive()
    }
}

/// The tagging half of [`ConditionalLayer`], for the inside of a
/// compression layer: it hashes the identity bytes into a strong `ETag`
/// and evaluates nothing.
///
/// The [`ConditionalLayer`] outside the compression layer then rewrites
/// that tag to the tag of the coding actually sent (`"…-gzip"`), adds
/// `Vary: accept-encoding`, and evaluates the request against it. See the
/// [crate docs](crate#compression) for the order.
#[derive(Clone, Copy, Debug)]
pub struct ETagLayer {
    max_body: u64,
}

impl ETagLayer {
    /// Hashes bodies up to [`DEFAULT_MAX_BODY`].
    pub fn new() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The largest body, in bytes, that the layer reads to hash.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }
}

impl Default for ETagLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for ETagLayer {
    type Service = Conditional<S, NoLookup>;

    fn layer(&self, inner: S) -> Self::Service {
        let settings = Settings {
            role: Role::TagOnly,
            max_body: self.max_body,
            ranges: false,
        };
        Conditional::new(inner, settings, Arc::new(SystemClock), NoLookup)
    }
}
