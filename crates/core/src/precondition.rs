//! Conditional requests: parsing the five precondition fields once and
//! evaluating them in the order of [RFC 9110 §13.2.2].
//!
//! [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::etag::{ListShape, scan_list, strong_match, trim_ows};
use crate::validators::LastModifiedStrength;
use crate::{EntityTag, EntityTagList, HttpDate, InvalidEntityTagList, InvalidHttpDate, Validators};

/// What the server should do after evaluating a request's preconditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Every precondition passed, or none applied: perform the method,
    /// honouring `Range` if the request has one.
    Proceed,
    /// Answer `304 Not Modified` ([RFC 9110 §15.4.5]); see
    /// [`not_modified_headers`](crate::not_modified_headers) for its header set.
    ///
    /// [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5
    NotModified,
    /// Answer `412 Precondition Failed` ([RFC 9110 §15.5.13]) and do not
    /// perform the method.
    ///
    /// [RFC 9110 §15.5.13]: https://www.rfc-editor.org/rfc/rfc9110#section-15.5.13
    PreconditionFailed,
    /// `If-Range` did not match: ignore `Range` and send the whole selected
    /// representation with `200 OK` ([RFC 9110 §13.1.5]).
    ///
    /// [RFC 9110 §13.1.5]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    IgnoreRange,
}

/// The precondition field that decided an [`Outcome`] other than a plain
/// [`Outcome::Proceed`], for logs and diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `If-Match` ([RFC 9110 §13.1.1]).
    ///
    /// [RFC 9110 §13.1.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.1
    IfMatch,
    /// `If-None-Match` ([RFC 9110 §13.1.2]).
    ///
    /// [RFC 9110 §13.1.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2
    IfNoneMatch,
    /// `If-Modified-Since` ([RFC 9110 §13.1.3]).
    ///
    /// [RFC 9110 §13.1.3]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
    IfModifiedSince,
    /// `If-Unmodified-Since` ([RFC 9110 §13.1.4]).
    ///
    /// [RFC 9110 §13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
    IfUnmodifiedSince,
    /// `If-Range` ([RFC 9110 §13.1.5]).
    ///
    /// [RFC 9110 §13.1.5]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    IfRange,
}

impl Condition {
    /// The field name, e.g. `if-match`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IfMatch => "if-match",
            Self::IfNoneMatch => "if-none-match",
            Self::IfModifiedSince => "if-modified-since",
            Self::IfUnmodifiedSince => "if-unmodified-since",
            Self::IfRange => "if-range",
        }
    }
}

/// An [`Outcome`] and the field that produced it (`None` when the outcome
/// is [`Outcome::Proceed`] or no precondition applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Evaluation {
    /// What to do.
    pub outcome: Outcome,
    /// Which field decided it.
    pub decided_by: Option<Condition>,
}

impl Evaluation {
    const fn proceed() -> Self {
        Self {
            outcome: Outcome::Proceed,
            decided_by: None,
        }
    }

    const fn by(outcome: Outcome, condition: Condition) -> Self {
        Self {
            outcome,
            decided_by: Some(condition),
        }
    }
}

/// The value of an `If-Range` field ([RFC 9110 §13.1.5]).
///
/// [RFC 9110 §13.1.5]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfRange {
    /// An entity-tag; matched by strong comparison.
    EntityTag(EntityTag),
    /// An HTTP-date; matched exactly against a strong `Last-Modified`.
    Date(HttpDate),
    /// Neither a valid entity-tag nor a valid HTTP-date, or several field
    /// lines. It never matches, so the full representation is sent.
    Invalid,
}

impl IfRange {
    /// Parses the field's lines. "A valid entity-tag can be distinguished
    /// from a valid HTTP-date by examining the first three characters for a
    /// DQUOTE" ([RFC 9110 §13.1.5]).
    ///
    /// [RFC 9110 §13.1.5]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.5
    pub fn from_field<'a, I>(lines: I) -> Option<Self>
    where
        I: IntoIterator<Item = &'a HeaderValue>,
    {
        let mut lines = lines.into_iter();
        let first = lines.next()?;
        if lines.next().is_some() {
            return Some(Self::Invalid);
        }
        let bytes = trim_ows(first.as_bytes());
        let looks_like_tag = bytes.iter().take(3).any(|&b| b == b'"');
        Some(if looks_like_tag {
            EntityTag::parse(bytes).map_or(Self::Invalid, Self::EntityTag)
        } else {
            HttpDate::parse(bytes).map_or(Self::Invalid, Self::Date)
        })
    }
}

/// A list field (`If-Match`, `If-None-Match`) as received: its raw field
/// lines. Evaluation validates and matches them in one scan instead of
/// keeping parsed tags, so parsing a request allocates nothing in the
/// common case of one field line (`HeaderValue` clones share the request's
/// buffer).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ListField {
    lines: FieldLines,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FieldLines {
    One(HeaderValue),
    Many(Vec<HeaderValue>),
}

impl FieldLines {
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let slice = match self {
            Self::One(value) => std::slice::from_ref(value),
            Self::Many(values) => values.as_slice(),
        };
        slice.iter().map(HeaderValue::as_bytes)
    }
}

impl ListField {
    /// Adds one field line; lines combine as a list (§5.3).
    fn push(field: &mut Option<Self>, line: &HeaderValue) {
        match field {
            None => {
                *field = Some(Self {
                    lines: FieldLines::One(line.clone()),
                });
            }
            Some(Self { lines }) => match lines {
                FieldLines::One(first) => *lines = FieldLines::Many(vec![first.clone(), line.clone()]),
                FieldLines::Many(all) => all.push(line.clone()),
            },
        }
    }

    fn parsed(&self) -> Result<EntityTagList, InvalidEntityTagList> {
        EntityTagList::parse_lines(self.lines.iter())
    }

    /// Validates the field and, in the same scan, finds whether a listed
    /// tag matches `current` by strong or weak comparison.
    fn scan(
        &self,
        current: Option<&EntityTag>,
        strong: bool,
    ) -> Result<(ListShape, bool), InvalidEntityTagList> {
        // The usual revalidation sends back exactly the tag it was given.
        // A sole line equal to the current tag, quoted, is a valid
        // one-element list without a grammar check: the current tag's
        // opaque part is all `etagc`, so it holds no DQUOTE or comma.
        if let (FieldLines::One(line), Some(current)) = (&self.lines, current)
            && let Some(weak) = sole_tag_with_opaque(trim_ows(line.as_bytes()), current.opaque())
        {
            let matched =
                !strong || strong_match(weak, current.opaque(), current.is_weak(), current.opaque());
            return Ok((ListShape::Tags, matched));
        }
        let mut matched = false;
        let shape = scan_list(self.lines.iter(), |weak, opaque| {
            if let Some(current) = current {
                matched |= if strong {
                    strong_match(weak, opaque, current.is_weak(), current.opaque())
                } else {
                    opaque == current.opaque()
                };
            }
        })?;
        Ok((shape, matched))
    }
}

/// Whether `line` is exactly `"<opaque>"` or `W/"<opaque>"`, and if so
/// whether it is the weak form.
fn sole_tag_with_opaque(line: &[u8], opaque: &[u8]) -> Option<bool> {
    let (weak, quoted) = match line.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let inner = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    (inner == opaque).then_some(weak)
}

/// The precondition fields of one request, parsed once
/// ([RFC 9110 §13.1]).
///
/// Parsing never fails: an invalid field is kept as invalid, because the
/// evaluation rules say what each invalid field means (usually: ignore it).
///
/// ```
/// use http::{HeaderMap, Method};
/// use revalidate_core::{EntityTag, Outcome, Preconditions, Validators, HttpDate};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "W/\"v1\", \"v2\"".parse().unwrap());
/// let pre = Preconditions::from_headers(&headers);
///
/// let current = Validators::new().with_etag(EntityTag::strong("v1").unwrap());
/// let now = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
/// assert_eq!(pre.evaluate(&Method::GET, &current, now), Outcome::NotModified);
/// assert_eq!(pre.evaluate(&Method::PUT, &current, now), Outcome::PreconditionFailed);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    if_match: Option<ListField>,
    if_none_match: Option<ListField>,
    if_modified_since: Option<Result<HttpDate, InvalidHttpDate>>,
    if_unmodified_since: Option<Result<HttpDate, InvalidHttpDate>>,
    if_range: Option<IfRange>,
    has_range: bool,
}

/// Adds one field line of a date field: the first is parsed, a second
/// makes the field invalid (§13.1.3, §13.1.4: a value that "appears to be
/// a list of dates" is ignored).
fn push_date(field: &mut Option<Result<HttpDate, InvalidHttpDate>>, line: &HeaderValue) {
    *field = Some(match field {
        None => HttpDate::parse(line.as_bytes()),
        Some(_) => Err(InvalidHttpDate::MultipleValues),
    });
}

impl Preconditions {
    /// Reads `If-Match`, `If-None-Match`, `If-Modified-Since`,
    /// `If-Unmodified-Since`, `If-Range` and whether `Range` is present,
    /// combining repeated field lines as [RFC 9110 §5.3] describes.
    ///
    /// [RFC 9110 §5.3]: https://www.rfc-editor.org/rfc/rfc9110#section-5.3
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut pre = Self::default();
        // One pass over the field lines: most requests carry none or one of
        // the six fields, and a first-byte test per line is cheaper than a
        // hash lookup per field. `HeaderMap::iter` yields a name's lines
        // together and in order, so a list grows line by line, and a
        // second line of a one-value field makes it invalid, as
        // `HttpDate::from_field` and `IfRange::from_field` rule.
        for (name, value) in headers {
            match name.as_str().as_bytes().first() {
                Some(b'i') => {
                    if *name == IF_NONE_MATCH {
                        ListField::push(&mut pre.if_none_match, value);
                    } else if *name == IF_MATCH {
                        ListField::push(&mut pre.if_match, value);
                    } else if *name == IF_MODIFIED_SINCE {
                        push_date(&mut pre.if_modified_since, value);
                    } else if *name == IF_UNMODIFIED_SINCE {
                        push_date(&mut pre.if_unmodified_since, value);
                    } else if *name == IF_RANGE {
                        pre.if_range = match pre.if_range {
                            None => IfRange::from_field([value]),
                            Some(_) => Some(IfRange::Invalid),
                        };
                    }
                }
                Some(b'r') if *name == RANGE => pre.has_range = true,
                _ => {}
            }
        }
        pre
    }

    /// Whether the request carries any precondition field.
    pub fn is_conditional(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_modified_since.is_some()
            || self.if_unmodified_since.is_some()
            || (self.if_range.is_some() && self.has_range)
    }

    /// Whether the request's preconditions protect a write from a lost
    /// update, and which one does; see [`WriteGuard`]. A server that
    /// requires conditional writes answers `428 Precondition Required`
    /// ([RFC 6585 §3]) to a [`WriteGuard::Unguarded`] request. `now` is the
    /// server's clock: an `If-Unmodified-Since` later than it cannot be a
    /// `Last-Modified` the server sent, and guards nothing.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use revalidate_core::{HttpDate, Preconditions, Unguarded, WriteGuard};
    ///
    /// let now = HttpDate::from_unix_seconds(1_700_000_000).unwrap();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("if-match", "*".parse().unwrap());
    /// let guard = Preconditions::from_headers(&headers).write_guard(now);
    /// assert_eq!(guard, WriteGuard::Unguarded(Unguarded::IfMatchAny));
    ///
    /// headers.insert("if-match", "\"v7\"".parse().unwrap());
    /// assert_eq!(Preconditions::from_headers(&headers).write_guard(now), WriteGuard::IfMatch);
    /// ```
    ///
    /// [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3
    pub fn write_guard(&self, now: HttpDate) -> WriteGuard {
        // If-None-Match: * lets the method proceed only where there is no
        // current representation, so no version can be overwritten,
        // whatever the other fields say (§13.1.2).
        let if_none_match = self.if_none_match.as_ref().map(|field| field.scan(None, false));
        if let Some(Ok((ListShape::Any, _))) = if_none_match {
            return WriteGuard::CreateOnly;
        }
        // §13.1.4: "A recipient MUST ignore If-Unmodified-Since if the
        // request contains an If-Match header field", so If-Match alone
        // decides whether the write is guarded.
        if let Some(if_match) = &self.if_match {
            return match if_match.scan(None, true) {
                Ok((ListShape::Tags, _)) => WriteGuard::IfMatch,
                // "*" is true for any current representation: it says the
                // resource exists, not which version the client changed.
                Ok((ListShape::Any, _)) => WriteGuard::Unguarded(Unguarded::IfMatchAny),
                Err(_) => WriteGuard::Unguarded(Unguarded::InvalidIfMatch),
            };
        }
        match self.if_unmodified_since {
            Some(Ok(date)) if date <= now => return WriteGuard::IfUnmodifiedSince,
            Some(Ok(_)) => return WriteGuard::Unguarded(Unguarded::FutureIfUnmodifiedSince),
            // §13.1.4: "A recipient MUST ignore the If-Unmodified-Since
            // header field if the received field value is not a valid
            // HTTP-date".
            Some(Err(_)) => return WriteGuard::Unguarded(Unguarded::InvalidIfUnmodifiedSince),
            None => {}
        }
        match if_none_match {
            // Listed tags only keep the client from overwriting versions
            // it names; any other version is overwritten.
            Some(Ok(_)) => WriteGuard::Unguarded(Unguarded::IfNoneMatchTags),
            Some(Err(_)) => WriteGuard::Unguarded(Unguarded::InvalidIfNoneMatch),
            None => WriteGuard::Unguarded(Unguarded::Missing),
        }
    }

    /// Whether [`Preconditions::write_guard`] finds a guard.
    pub fn guards_write(&self, now: HttpDate) -> bool {
        !matches!(self.write_guard(now), WriteGuard::Unguarded(_))
    }

    /// The parsed `If-Match`, if present (an `Err` when invalid).
    pub fn if_match(&self) -> Option<Result<EntityTagList, InvalidEntityTagList>> {
        self.if_match.as_ref().map(ListField::parsed)
    }

    /// The parsed `If-None-Match`, if present (an `Err` when invalid).
    pub fn if_none_match(&self) -> Option<Result<EntityTagList, InvalidEntityTagList>> {
        self.if_none_match.as_ref().map(ListField::parsed)
    }

    /// The parsed `If-Modified-Since`, if present (an `Err` when invalid).
    pub fn if_modified_since(&self) -> Option<Result<HttpDate, InvalidHttpDate>> {
        self.if_modified_since
    }

    /// The parsed `If-Unmodified-Since`, if present (an `Err` when invalid).
    pub fn if_unmodified_since(&self) -> Option<Result<HttpDate, InvalidHttpDate>> {
        self.if_unmodified_since
    }

    /// The parsed `If-Range`, if present.
    pub fn if_range(&self) -> Option<&IfRange> {
        self.if_range.as_ref()
    }

    /// Whether the request has a `Range` field.
    pub fn has_range(&self) -> bool {
        self.has_range
    }

    /// Evaluates the preconditions as an origin server
    /// ([RFC 9110 §13.2.2]) against the current representation's
    /// validators, with `now` as the server's clock.
    ///
    /// Call it when the response to the same request without preconditions
    /// would be 2xx; [`Preconditions::evaluate_for_status`] checks that for you.
    ///
    /// [RFC 9110 §13.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
    pub fn evaluate(&self, method: &Method, current: &Validators, now: HttpDate) -> Outcome {
        self.evaluate_detailed(method, current, now).outcome
    }

    /// Like [`Preconditions::evaluate`], first applying [RFC 9110 §13.2.1]:
    /// "A server MUST ignore all received preconditions if its response to
    /// the same request without those conditions, prior to processing the
    /// request content, would have been a status code other than a 2xx
    /// (Successful) or 412 (Precondition Failed)."
    ///
    /// [RFC 9110 §13.2.1]: https://www.rfc-editor.org/rfc/rfc9110#section-13.2.1
    pub fn evaluate_for_status(
        &self,
        method: &Method,
        status_without_preconditions: StatusCode,
        current: &Validators,
        now: HttpDate,
    ) -> Outcome {
        if !(status_without_preconditions.is_success()
            || status_without_preconditions == StatusCode::PRECONDITION_FAILED)
        {
            return Outcome::Proceed;
        }
        self.evaluate(method, current, now)
    }

    /// Evaluates as [`Preconditions::evaluate`] does and also reports which
    /// field decided the outcome.
    pub fn evaluate_detailed(&self, method: &Method, current: &Validators, now: HttpDate) -> Evaluation {
        // RFC 9110 §13.2.1: "a server MUST ignore the conditional request
        // header fields defined by this specification when received with a
        // request method that does not involve the selection or modification
        // of a selected representation, such as CONNECT, OPTIONS, or TRACE."
        if matches!(*method, Method::CONNECT | Method::OPTIONS | Method::TRACE) {
            return Evaluation::proceed();
        }
        let get_or_head = matches!(*method, Method::GET | Method::HEAD);

        // Step 1: If-Match. Step 2: If-Unmodified-Since, only without If-Match
        // (§13.1.4: "A recipient MUST ignore If-Unmodified-Since if the
        // request contains an If-Match header field").
        if let Some(if_match) = &self.if_match {
            if !if_match_passes(if_match, current) {
                // §13.1.1: "An origin server that evaluates an If-Match
                // condition MUST NOT perform the requested method if the
                // condition evaluates to false."
                return Evaluation::by(Outcome::PreconditionFailed, Condition::IfMatch);
            }
        } else if let Some(Ok(date)) = self.if_unmodified_since {
            // §13.1.4: "A recipient MUST ignore the If-Unmodified-Since header
            // field if the received field value is not a valid HTTP-date" (the
            // `Ok` above) and "if the resource does not have a modification
            // date available" (the `Some` below; a removal the server still
            // knows of is such a date: see `Validators::removed_at`).
            if let Some(last_modified) = current.last_modified()
                && !unmodified_since(last_modified, current.last_modified_strength(), date)
            {
                return Evaluation::by(Outcome::PreconditionFailed, Condition::IfUnmodifiedSince);
            }
        }

        // Step 3: If-None-Match.
        if let Some(if_none_match) = &self.if_none_match {
            if !if_none_match_passes(if_none_match, current) {
                // §13.1.2: "the origin server MUST NOT perform the requested
                // method; instead, if the request method was GET or HEAD, the
                // server SHOULD respond with a 304 (Not Modified) status code
                // [...]. For all other request methods, the server MUST
                // respond with a 412 (Precondition Failed) status code."
                let outcome = if get_or_head {
                    Outcome::NotModified
                } else {
                    Outcome::PreconditionFailed
                };
                return Evaluation::by(outcome, Condition::IfNoneMatch);
            }
        } else if get_or_head {
            // Step 4: If-Modified-Since, only for GET/HEAD and without
            // If-None-Match (§13.1.3: "A recipient MUST ignore
            // If-Modified-Since if the request contains an If-None-Match
            // header field [...] if the request method is neither GET nor HEAD").
            if let Some(Ok(date)) = self.if_modified_since {
                // "A recipient MUST ignore the If-Modified-Since header field
                // if the received field value is not a valid HTTP-date [...]
                // or if the resource does not have a modification date available."
                if let Some(last_modified) = current.last_modified().filter(|_| current.exists()) {
                    // DEVIATION(future-ims): a date later than the server's
                    // clock cannot be a Last-Modified this server sent; it is
                    // ignored (as httpd, Varnish and ASP.NET do), so a clock
                    // that was once fast cannot pin clients to an old copy.
                    // "If the selected representation's last modification date
                    // is earlier or equal to the date provided in the field
                    // value, the condition is false."
                    if date <= now && last_modified <= date {
                        return Evaluation::by(Outcome::NotModified, Condition::IfModifiedSince);
                    }
                }
            }
        }

        // Step 5: If-Range, for GET with Range. §13.1.5: "A server MUST ignore
        // an If-Range header field received in a request that does not
        // contain a Range header field."
        if *method == Method::GET
            && self.has_range
            && let Some(if_range) = &self.if_range
            && !if_range_passes(if_range, current, now)
        {
            return Evaluation::by(Outcome::IgnoreRange, Condition::IfRange);
        }

        Evaluation::proceed()
    }
}

/// §13.1.4: "If the selected representation's last modification date is
/// earlier than or equal to the date provided in the field value, the
/// condition is true."
///
/// DEVIATION(weak-unmodified-since): an equal date does not satisfy the
/// condition when the server says the representation may have changed
/// twice during that second ([`LastModifiedStrength::Weak`]). A date has
/// one-second resolution, and a Last-Modified is "implicitly weak unless
/// [...] that origin server reliably knows that the associated
/// representation did not change twice during the second covered by the
/// presented validator" (§8.8.2.2): two writers that read the same version
/// would otherwise both pass when the first write falls in that second,
/// the lost update the field exists to prevent. The client that gets this
/// 412 re-reads and retries with the new date.
fn unmodified_since(last_modified: HttpDate, strength: LastModifiedStrength, date: HttpDate) -> bool {
    last_modified < date || (last_modified == date && strength != LastModifiedStrength::Weak)
}

/// Whether a request's preconditions protect a write from a lost update
/// ([RFC 6585 §3]: a server that requires conditional requests answers
/// those without such a guard with `428 Precondition Required`), from
/// [`Preconditions::write_guard`].
///
/// [RFC 6585 §3]: https://www.rfc-editor.org/rfc/rfc6585#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteGuard {
    /// A valid `If-Match` listing entity-tags: the write proceeds only on
    /// a version the client names.
    IfMatch,
    /// A valid `If-Unmodified-Since` no later than the server's clock, and
    /// no `If-Match`: the write proceeds only if nothing changed since.
    IfUnmodifiedSince,
    /// `If-None-Match: *`: the write proceeds only where nothing exists,
    /// so it can create but never overwrite.
    CreateOnly,
    /// Nothing protects the write from a lost update.
    Unguarded(Unguarded),
}

/// Why a request's preconditions do not guard a write ([`WriteGuard`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unguarded {
    /// No `If-Match`, `If-Unmodified-Since` or `If-None-Match` field.
    Missing,
    /// `If-Match: *` is true for any current version: it does not say
    /// which one the client changed.
    IfMatchAny,
    /// `If-Match` is not a valid list of entity-tags.
    InvalidIfMatch,
    /// `If-Unmodified-Since` is not one valid HTTP-date, so it is ignored
    /// (§13.1.4).
    InvalidIfUnmodifiedSince,
    /// `If-Unmodified-Since` is later than the server's clock: it cannot
    /// be a `Last-Modified` the server sent, and any version passes it.
    FutureIfUnmodifiedSince,
    /// `If-None-Match` lists entity-tags: it only refuses the versions it
    /// names, and overwrites any other.
    IfNoneMatchTags,
    /// `If-None-Match` is not a valid list, so it matches nothing.
    InvalidIfNoneMatch,
}

impl Unguarded {
    /// One sentence on why the fields do not guard the write, for a 428's
    /// problem details.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "The request has no If-Match, If-Unmodified-Since or If-None-Match field.",
            Self::IfMatchAny => {
                "If-Match: * only says that the resource exists, not which version you changed."
            }
            Self::InvalidIfMatch => "The If-Match field is not a valid list of entity-tags.",
            Self::InvalidIfUnmodifiedSince => {
                "The If-Unmodified-Since field is not a valid HTTP-date, so it is ignored."
            }
            Self::FutureIfUnmodifiedSince => {
                "The If-Unmodified-Since date is in the future, so every version passes it."
            }
            Self::IfNoneMatchTags => {
                "If-None-Match with entity-tags only refuses those versions; it does not guard an update."
            }
            Self::InvalidIfNoneMatch => "The If-None-Match field is not a valid list of entity-tags.",
        }
    }
}

/// §13.1.1: "If the field value is "*", the condition is true if the origin
/// server has a current representation for the target resource. If the field
/// value is a list of entity tags, the condition is true if any of the listed
/// tags match the entity tag of the selected representation. [...] An origin
/// server MUST use the strong comparison function when comparing entity-tags
/// for If-Match."
///
/// An invalid field fails: a write guarded by a precondition the server
/// cannot read must not go ahead unguarded.
fn if_match_passes(field: &ListField, current: &Validators) -> bool {
    match field.scan(current.etag(), true) {
        Ok((ListShape::Any, _)) => current.exists(),
        Ok((ListShape::Tags, matched)) => current.exists() && matched,
        Err(_) => false,
    }
}

/// §13.1.2: "If the field value is "*", the condition is false if the origin
/// server has a current representation for the target resource. If the field
/// value is a list of entity tags, the condition is false if one of the
/// listed tags matches the entity tag of the selected representation. A
/// recipient MUST use the weak comparison function when comparing
/// entity tags for If-None-Match."
///
/// An invalid field matches nothing, so the condition holds.
fn if_none_match_passes(field: &ListField, current: &Validators) -> bool {
    match field.scan(current.etag(), false) {
        Ok((ListShape::Any, _)) => !current.exists(),
        Ok((ListShape::Tags, matched)) => !(current.exists() && matched),
        Err(_) => true,
    }
}

/// §13.1.5: "If the validator given in the If-Range header field is an
/// entity tag, the condition is true if [...] a strong comparison [...]
/// matches; if it is a date, the condition is true if the Last-Modified date
/// is a strong validator [...] and the HTTP-date exactly matches".
fn if_range_passes(field: &IfRange, current: &Validators, now: HttpDate) -> bool {
    match field {
        IfRange::EntityTag(tag) => current
            .etag()
            .is_some_and(|etag| strong_match(tag.is_weak(), tag.opaque(), etag.is_weak(), etag.opaque())),
        IfRange::Date(date) => {
            current.exists() && current.last_modified() == Some(*date) && current.last_modified_is_strong(now)
        }
        IfRange::Invalid => false,
    }
}
