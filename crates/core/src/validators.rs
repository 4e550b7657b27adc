//! The validators of a selected representation ([RFC 9110 §8.8]).
//!
//! [RFC 9110 §8.8]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8

use http::HeaderMap;
use http::header::{DATE, ETAG, LAST_MODIFIED};

use crate::{EntityTag, HttpDate};

/// What the server knows about the current representation of a target
/// resource when it evaluates preconditions: whether one exists, and its
/// entity-tag, modification date and `Date`.
///
/// ```
/// use revalidate_core::{EntityTag, HttpDate, Validators};
///
/// let lm = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
/// let v = Validators::new()
///     .with_etag(EntityTag::strong("v1").unwrap())
///     .with_last_modified(lm);
/// assert!(v.exists());
/// assert!(Validators::missing().etag().is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validators {
    exists: bool,
    etag: Option<EntityTag>,
    last_modified: Option<HttpDate>,
    last_modified_strength: LastModifiedStrength,
    date: Option<HttpDate>,
}

/// What the server knows about the second a `Last-Modified` names
/// ([RFC 9110 §8.8.2.2]): a date has one-second resolution, so it tells
/// two changes within that second apart only if the server knows there
/// was just one.
///
/// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LastModifiedStrength {
    /// Nothing beyond the date itself (the default). `If-Range` deduces
    /// strength from a `Date` at least one second later
    /// ([`last_modified_is_strong`]); `If-Unmodified-Since` is the plain
    /// date comparison of §13.1.4.
    #[default]
    Deduced,
    /// The origin "reliably knows that the associated representation did
    /// not change twice during the second covered by" the date (§8.8.2.2).
    Strong,
    /// The representation may have changed more than once during that
    /// second: a client holding this date may hold an earlier version, so
    /// the date cannot confirm that nothing changed. `If-Unmodified-Since`
    /// with exactly this date fails, and `If-Range` with it never matches.
    Weak,
}

impl Default for Validators {
    fn default() -> Self {
        Self::new()
    }
}

impl Validators {
    /// A current representation exists, so far with no validators.
    pub fn new() -> Self {
        Self {
            exists: true,
            etag: None,
            last_modified: None,
            last_modified_strength: LastModifiedStrength::Deduced,
            date: None,
        }
    }

    /// There is no current representation (the resource does not exist or
    /// has been deleted): `If-Match: *` is false and `If-None-Match: *` is
    /// true ([RFC 9110 §13.1.1], [§13.1.2]).
    ///
    /// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
    /// [§13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
    pub fn missing() -> Self {
        Self {
            exists: false,
            etag: None,
            last_modified: None,
            last_modified_strength: LastModifiedStrength::Deduced,
            date: None,
        }
    }

    /// There is no current representation because it was removed at
    /// `removed` (a server that keeps a record of recent deletions knows
    /// this). Like [`Validators::missing`] for `If-Match` and
    /// `If-None-Match`, but `If-Unmodified-Since` is evaluated against the
    /// removal, the resource's last change: a client that read the removed
    /// version and sends its `Last-Modified` gets 412 rather than
    /// re-creating what another client deleted ([RFC 9110 §13.1.4]: the
    /// field is ignored only "if the resource does not have a modification
    /// date available").
    ///
    /// ```
    /// use revalidate_core::{HttpDate, Validators};
    ///
    /// let removed = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
    /// let v = Validators::removed_at(removed);
    /// assert!(!v.exists());
    /// assert_eq!(v.last_modified(), Some(removed));
    /// ```
    ///
    /// [RFC 9110 §13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
    pub fn removed_at(removed: HttpDate) -> Self {
        // DEVIATION(removed-unmodified-since): §13.1.4 ignores the field
        // without a selected representation; a removal the server knows of
        // is a modification a stale writer must not undo.
        Self {
            last_modified: Some(removed),
            ..Self::missing()
        }
    }

    /// Sets the entity-tag ([RFC 9110 §8.8.3]). Implies that a representation exists.
    ///
    /// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
    pub fn with_etag(mut self, etag: EntityTag) -> Self {
        self.exists = true;
        self.etag = Some(etag);
        self
    }

    /// Sets the modification date ([RFC 9110 §8.8.2]). Implies that a representation exists.
    ///
    /// [RFC 9110 §8.8.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2
    pub fn with_last_modified(mut self, last_modified: HttpDate) -> Self {
        self.exists = true;
        self.last_modified = Some(last_modified);
        self
    }

    /// Says what the server knows about the second the modification date
    /// names ([`LastModifiedStrength`]); the default is
    /// [`LastModifiedStrength::Deduced`].
    pub fn with_last_modified_strength(mut self, strength: LastModifiedStrength) -> Self {
        self.last_modified_strength = strength;
        self
    }

    /// Sets the `Date` of the response the validators came from. A cache
    /// sets it from its stored response; an origin leaves it unset, and
    /// the evaluation's `now` stands in for it ([RFC 9110 §8.8.2.2]).
    ///
    /// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
    pub fn with_date(mut self, date: HttpDate) -> Self {
        self.date = Some(date);
        self
    }

    /// Reads `ETag`, `Last-Modified` and `Date` from response headers.
    ///
    /// An invalid or repeated field is treated as absent: a response with
    /// two `ETag` lines has no usable entity-tag.
    pub fn from_response_headers(headers: &HeaderMap) -> Self {
        let mut v = Self::new();
        let mut etags = headers.get_all(ETAG).iter();
        if let (Some(first), None) = (etags.next(), etags.next()) {
            v.etag = EntityTag::from_header(first).ok();
        }
        v.last_modified = HttpDate::from_field(headers.get_all(LAST_MODIFIED)).ok();
        v.date = HttpDate::from_field(headers.get_all(DATE)).ok();
        v
    }

    /// Whether a current representation exists.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// The entity-tag, if any.
    pub fn etag(&self) -> Option<&EntityTag> {
        self.etag.as_ref()
    }

    /// The modification date, if any.
    pub fn last_modified(&self) -> Option<HttpDate> {
        self.last_modified
    }

    /// What the server knows about the second the modification date names.
    pub fn last_modified_strength(&self) -> LastModifiedStrength {
        self.last_modified_strength
    }

    /// The `Date` of the response the validators came from, if known.
    pub fn date(&self) -> Option<HttpDate> {
        self.date
    }

    /// Whether the modification date may be used as a strong validator
    /// ([RFC 9110 §8.8.2.2]): as the server said
    /// ([`with_last_modified_strength`](Self::with_last_modified_strength)),
    /// else deduced from the `Date` (or `now` when no `Date` is set).
    ///
    /// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
    pub fn last_modified_is_strong(&self, now: HttpDate) -> bool {
        self.last_modified
            .is_some_and(|lm| match self.last_modified_strength {
                LastModifiedStrength::Strong => true,
                LastModifiedStrength::Weak => false,
                LastModifiedStrength::Deduced => last_modified_is_strong(lm, self.date.unwrap_or(now)),
            })
    }
}

/// Whether a `Last-Modified` value counts as a strong validator, given the
/// `Date` of the response that carried it ([RFC 9110 §8.8.2.2]).
///
/// The RFC deduces strength when "that cache entry includes a Date value
/// that is at least one second after the Last-Modified value": within the
/// second of the last change, a second change could still follow and keep
/// the same date. An origin server passes its current time as `date`: once
/// that second has passed, its current representation cannot have changed
/// twice during it without showing a later modification date.
///
/// ```
/// use revalidate_core::{HttpDate, last_modified_is_strong};
///
/// let lm = HttpDate::from_unix_seconds(100).unwrap();
/// assert!(!last_modified_is_strong(lm, lm));
/// assert!(last_modified_is_strong(lm, lm.saturating_add(1)));
/// ```
///
/// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
pub fn last_modified_is_strong(last_modified: HttpDate, date: HttpDate) -> bool {
    date.unix_seconds() > last_modified.unix_seconds()
}
