//! Property tests.
//!
//! - `evaluate_matches_rfc_model`: the §13.2.2 evaluator against a naive
//!   model written from the text of [RFC 9110 §13], on random requests
//!   rendered as real header text and random current validators.
//! - `*_never_panics`: every parser on arbitrary bytes.
//! - `*_round_trips`: formatting then parsing gives back the value, and the
//!   three HTTP-date forms (rendered here, not by the crate) agree.
//! - `comparison_laws`: the two comparison functions of [RFC 9110 §8.8.3.2].
//! - `not_modified_headers_match_model`: the 304 header set of [RFC 9110 §15.4.5].
//!
//! The model works on plain values (tags as `(weak, opaque)`, dates as
//! seconds) and computes each condition's truth value first, `None` meaning
//! "absent or ignored", then walks the steps of §13.2.2. It shares no code
//! with `src/precondition.rs`.
//!
//! Failures are not persisted to a file: a shrunk failing case belongs in
//! the tables of `precondition.rs` as a named regression test.
//!
//! [RFC 9110 §13]: https://www.rfc-editor.org/rfc/rfc9110#section-13
//! [RFC 9110 §8.8.3.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2
//! [RFC 9110 §15.4.5]: https://www.rfc-editor.org/rfc/rfc9110#section-15.4.5

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::Config;
use revalidate_core::{
    Condition, EntityTag, EntityTagList, HttpDate, IfRange, Outcome, Preconditions, Validators,
    not_modified_headers, not_modified_response, strip_to_not_modified,
};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Calendar arithmetic, written here so the date forms are rendered
// independently of `httpdate`.
// ---------------------------------------------------------------------------

/// 2000-01-01T00:00:00Z.
const Y2000: u64 = 946_684_800;
/// 2070-01-01T00:00:00Z: RFC 850 two-digit years below this are unambiguous.
const Y2070: u64 = 3_155_760_000;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const WEEKDAYS_LONG: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

struct Civil {
    year: u64,
    /// 1..=12
    month: usize,
    day: u64,
    /// 0 = Sunday
    weekday: usize,
    hour: u64,
    minute: u64,
    second: u64,
}

/// Splits seconds since the epoch into calendar fields (proleptic Gregorian,
/// days-from-civil inverted by eras of 400 years).
fn civil(secs: u64) -> Civil {
    let days = (secs / 86_400) as i64;
    let in_day = secs % 86_400;
    // 1970-01-01 was a Thursday.
    let weekday = ((days + 4) % 7) as usize;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    Civil {
        year: year as u64,
        month: month as usize,
        day: day as u64,
        weekday,
        hour: in_day / 3600,
        minute: in_day / 60 % 60,
        second: in_day % 60,
    }
}

#[derive(Clone, Copy, Debug)]
enum DateForm {
    ImfFixdate,
    Rfc850,
    Asctime,
}

fn date_form() -> impl Strategy<Value = DateForm> {
    prop_oneof![
        Just(DateForm::ImfFixdate),
        Just(DateForm::Rfc850),
        Just(DateForm::Asctime)
    ]
}

/// Renders `secs` in one of the three forms of RFC 9110 §5.6.7. RFC 850
/// carries a two-digit year, so callers keep such dates in 2000–2069.
fn render_date(secs: u64, form: DateForm) -> String {
    let c = civil(secs);
    let month = MONTHS[c.month - 1];
    let (h, m, s) = (c.hour, c.minute, c.second);
    match form {
        DateForm::ImfFixdate => format!(
            "{}, {:02} {month} {:04} {h:02}:{m:02}:{s:02} GMT",
            WEEKDAYS[c.weekday], c.day, c.year
        ),
        DateForm::Rfc850 => format!(
            "{}, {:02}-{month}-{:02} {h:02}:{m:02}:{s:02} GMT",
            WEEKDAYS_LONG[c.weekday],
            c.day,
            c.year % 100
        ),
        DateForm::Asctime => format!(
            "{} {month} {:>2} {h:02}:{m:02}:{s:02} {:04}",
            WEEKDAYS[c.weekday], c.day, c.year
        ),
    }
}

/// An IMF-fixdate naming the day after the real weekday: no such day exists.
fn render_wrong_weekday(secs: u64) -> String {
    let c = civil(secs);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(c.weekday + 1) % 7],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

fn offset(base: u64, by: i64) -> u64 {
    base.checked_add_signed(by).unwrap()
}

// ---------------------------------------------------------------------------
// The model: plain values and the RFC's rules.
// ---------------------------------------------------------------------------

/// Opaque parts for generated tags: few, so that matches are frequent; one
/// holds a comma (legal inside the quotes) and one is obs-text.
const OPAQUES: [&[u8]; 4] = [b"a", b"b", b"a,b", b"\xe9"];

/// An entity-tag as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ModelTag {
    weak: bool,
    opaque: &'static [u8],
}

impl ModelTag {
    fn render(self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.weak {
            out.extend_from_slice(b"W/");
        }
        out.push(b'"');
        out.extend_from_slice(self.opaque);
        out.push(b'"');
        out
    }

    fn to_core(self) -> EntityTag {
        if self.weak {
            EntityTag::weak(self.opaque).unwrap()
        } else {
            EntityTag::strong(self.opaque).unwrap()
        }
    }
}

fn model_tag() -> impl Strategy<Value = ModelTag> {
    (any::<bool>(), prop::sample::select(OPAQUES.to_vec()))
        .prop_map(|(weak, opaque)| ModelTag { weak, opaque })
}

/// §8.8.3.2: "Strong comparison: two entity tags are equivalent if both are
/// not weak and their opaque-tags match character-by-character."
fn model_strong_eq(a: ModelTag, b: ModelTag) -> bool {
    !a.weak && !b.weak && a.opaque == b.opaque
}

/// §8.8.3.2: "Weak comparison: two entity tags are equivalent if their
/// opaque-tags match character-by-character, regardless of either or both
/// being tagged as 'weak'."
fn model_weak_eq(a: ModelTag, b: ModelTag) -> bool {
    a.opaque == b.opaque
}

/// What an `If-Match`/`If-None-Match` field means.
#[derive(Clone, Debug)]
enum ListValue {
    Absent,
    Any,
    Tags(Vec<ModelTag>),
    /// Present but not `"*" / #entity-tag`.
    Invalid,
}

/// What a single-date field (`If-Modified-Since`, `If-Unmodified-Since`) means.
#[derive(Clone, Copy, Debug)]
enum DateValue {
    Absent,
    Valid(u64),
    /// Present but not exactly one valid HTTP-date.
    Invalid,
}

/// What an `If-Range` field means.
#[derive(Clone, Copy, Debug)]
enum IfRangeValue {
    Absent,
    Tag(ModelTag),
    Date(u64),
    Invalid,
}

#[derive(Clone, Debug)]
struct ModelRequest {
    method: Method,
    if_match: ListValue,
    if_none_match: ListValue,
    if_modified_since: DateValue,
    if_unmodified_since: DateValue,
    if_range: IfRangeValue,
    has_range: bool,
}

#[derive(Clone, Copy, Debug)]
struct ModelCurrent {
    exists: bool,
    etag: Option<ModelTag>,
    last_modified: Option<u64>,
    date: Option<u64>,
}

/// `If-Match` (§13.1.1). `None` when absent.
///
/// "If the field value is "*", the condition is true if the origin server
/// has a current representation for the target resource. If the field value
/// is a list of entity tags, the condition is true if any of the listed tags
/// match the entity tag of the selected representation." Strong comparison.
/// Crate policy: an invalid value is false.
fn if_match_truth(field: &ListValue, current: ModelCurrent) -> Option<bool> {
    match field {
        ListValue::Absent => None,
        ListValue::Any => Some(current.exists),
        ListValue::Tags(tags) => Some(match (current.exists, current.etag) {
            (true, Some(selected)) => tags.iter().any(|&t| model_strong_eq(t, selected)),
            _ => false,
        }),
        ListValue::Invalid => Some(false),
    }
}

/// `If-None-Match` (§13.1.2). `None` when absent.
///
/// "If the field value is "*", the condition is false if the origin server
/// has a current representation for the target resource. If the field value
/// is a list of entity tags, the condition is false if one of the listed
/// tags matches the entity tag of the selected representation." Weak
/// comparison. Crate policy: an invalid value matches nothing, so is true.
fn if_none_match_truth(field: &ListValue, current: ModelCurrent) -> Option<bool> {
    match field {
        ListValue::Absent => None,
        ListValue::Any => Some(!current.exists),
        ListValue::Tags(tags) => Some(match (current.exists, current.etag) {
            (true, Some(selected)) => !tags.iter().any(|&t| model_weak_eq(t, selected)),
            _ => true,
        }),
        ListValue::Invalid => Some(true),
    }
}

/// `If-Unmodified-Since` (§13.1.4). `None` when absent or ignored.
///
/// "A recipient MUST ignore If-Unmodified-Since if the request contains an
/// If-Match header field", "if the received field value is not a valid
/// HTTP-date", "if the resource does not have a modification date
/// available". "If the selected representation's last modification date is
/// earlier than or equal to the date provided in the field value, the
/// condition is true. Otherwise, the condition is false."
fn if_unmodified_since_truth(request: &ModelRequest, current: ModelCurrent) -> Option<bool> {
    if !matches!(request.if_match, ListValue::Absent) {
        return None;
    }
    let DateValue::Valid(date) = request.if_unmodified_since else {
        return None;
    };
    let last_modified = current.last_modified?;
    Some(last_modified <= date)
}

/// `If-Modified-Since` (§13.1.3). `None` when absent or ignored.
///
/// "A recipient MUST ignore If-Modified-Since if the request contains an
/// If-None-Match header field", "if the received field value is not a valid
/// HTTP-date", "or if the request method is neither GET nor HEAD", "if the
/// resource does not have a modification date available". "If the selected
/// representation's last modification date is earlier or equal to the date
/// provided in the field value, the condition is false. Otherwise, the
/// condition is true." DEVIATION(future-ims): a date after `now` is ignored.
fn if_modified_since_truth(request: &ModelRequest, current: ModelCurrent, now: u64) -> Option<bool> {
    if !matches!(request.if_none_match, ListValue::Absent) {
        return None;
    }
    if request.method != Method::GET && request.method != Method::HEAD {
        return None;
    }
    let DateValue::Valid(date) = request.if_modified_since else {
        return None;
    };
    if date > now {
        return None;
    }
    let last_modified = current.last_modified?;
    Some(last_modified > date)
}

/// `If-Range` (§13.1.5). `None` when absent or ignored.
///
/// Only GET defines range handling, and "A server MUST ignore an If-Range
/// header field received in a request that does not contain a Range header
/// field." An entity-tag: "If the entity-tag validator provided exactly
/// matches the ETag field value for the selected representation using the
/// strong comparison function, the condition is true." A date: "If the
/// HTTP-date validator provided is not a strong validator in the sense
/// defined by Section 8.8.2.2, the condition is false. If the HTTP-date
/// validator provided exactly matches the Last-Modified field value for the
/// selected representation, the condition is true."
///
/// §8.8.2.2, crate policy: Last-Modified is strong when the response's
/// `Date` (or `now` when there is none) is at least one second after it.
/// An invalid or repeated field never matches.
fn if_range_truth(request: &ModelRequest, current: ModelCurrent, now: u64) -> Option<bool> {
    if request.method != Method::GET || !request.has_range {
        return None;
    }
    match request.if_range {
        IfRangeValue::Absent => None,
        IfRangeValue::Tag(tag) => Some(
            current
                .etag
                .is_some_and(|selected| model_strong_eq(tag, selected)),
        ),
        IfRangeValue::Date(date) => Some(match current.last_modified {
            Some(last_modified) => {
                let strong = current.date.unwrap_or(now).saturating_sub(last_modified) >= 1;
                strong && date == last_modified
            }
            None => false,
        }),
        IfRangeValue::Invalid => Some(false),
    }
}

/// The steps of §13.2.2 over the truth values above.
fn model_evaluate(request: &ModelRequest, current: ModelCurrent, now: u64) -> (Outcome, Option<Condition>) {
    // §13.2.1: "a server MUST ignore the conditional request header fields
    // [...] when received with a request method that does not involve the
    // selection or modification of a selected representation, such as
    // CONNECT, OPTIONS, or TRACE."
    if [Method::CONNECT, Method::OPTIONS, Method::TRACE].contains(&request.method) {
        return (Outcome::Proceed, None);
    }
    let get_or_head = request.method == Method::GET || request.method == Method::HEAD;

    let if_match = if_match_truth(&request.if_match, current);
    let if_unmodified_since = if_unmodified_since_truth(request, current);
    let if_none_match = if_none_match_truth(&request.if_none_match, current);
    let if_modified_since = if_modified_since_truth(request, current, now);
    let if_range = if_range_truth(request, current, now);

    // 1. If-Match present: if false, 412.
    if if_match == Some(false) {
        return (Outcome::PreconditionFailed, Some(Condition::IfMatch));
    }
    // 2. If-Match absent and If-Unmodified-Since present: if false, 412.
    if if_match.is_none() && if_unmodified_since == Some(false) {
        return (Outcome::PreconditionFailed, Some(Condition::IfUnmodifiedSince));
    }
    // 3. If-None-Match present: if false, 304 for GET/HEAD, otherwise 412.
    if if_none_match == Some(false) {
        let outcome = if get_or_head {
            Outcome::NotModified
        } else {
            Outcome::PreconditionFailed
        };
        return (outcome, Some(Condition::IfNoneMatch));
    }
    // 4. GET/HEAD, If-None-Match absent, If-Modified-Since present: if false, 304.
    if if_modified_since == Some(false) {
        return (Outcome::NotModified, Some(Condition::IfModifiedSince));
    }
    // 5. GET with Range and If-Range: if false, ignore Range.
    if if_range == Some(false) {
        return (Outcome::IgnoreRange, Some(Condition::IfRange));
    }
    // 6. Perform the method.
    (Outcome::Proceed, None)
}

// ---------------------------------------------------------------------------
// Request generation: a field spec knows both its meaning and its text.
// ---------------------------------------------------------------------------

/// List separators, with the optional whitespace and empty elements that
/// RFC 9110 §5.6.1 allows.
const SEPARATORS: [&str; 5] = [",", ", ", " , ", ",,", ", ,\t"];

#[derive(Clone, Debug)]
enum ListSpec {
    Absent,
    Any,
    Tags {
        tags: Vec<ModelTag>,
        separators: Vec<&'static str>,
        /// Start of the second field line, taken modulo the tag count; 0
        /// keeps one line.
        split: usize,
        leading_comma: bool,
    },
    Invalid(&'static [&'static [u8]]),
}

const INVALID_LISTS: [&[&[u8]]; 12] = [
    &[b"\"a\" \"b\""],
    &[b"*, \"a\""],
    &[b"\"a\"", b"*"],
    &[b"*", b"*"],
    &[b"a"],
    &[b"\"a"],
    &[b"W/ \"a\""],
    &[b"w/\"a\""],
    &[b""],
    &[b"\"a\";q=1"],
    &[b"\"a\", b"],
    &[b"\"a\"", b"\"b"],
];

fn list_spec() -> impl Strategy<Value = ListSpec> {
    prop_oneof![
        3 => Just(ListSpec::Absent),
        1 => Just(ListSpec::Any),
        4 => (
            prop::collection::vec(model_tag(), 1..=3),
            prop::collection::vec(prop::sample::select(SEPARATORS.to_vec()), 2),
            0usize..3,
            prop::bool::weighted(0.1),
        )
            .prop_map(|(tags, separators, split, leading_comma)| ListSpec::Tags {
                tags,
                separators,
                split,
                leading_comma
            }),
        1 => prop::sample::select(INVALID_LISTS.to_vec()).prop_map(ListSpec::Invalid),
    ]
}

impl ListSpec {
    fn value(&self) -> ListValue {
        match self {
            Self::Absent => ListValue::Absent,
            Self::Any => ListValue::Any,
            Self::Tags { tags, .. } => ListValue::Tags(tags.clone()),
            Self::Invalid(_) => ListValue::Invalid,
        }
    }

    fn lines(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Absent => vec![],
            Self::Any => vec![b"*".to_vec()],
            Self::Tags {
                tags,
                separators,
                split,
                leading_comma,
            } => {
                let split = split % tags.len();
                let mut lines = vec![Vec::new()];
                if *leading_comma {
                    lines[0].extend_from_slice(b", ");
                }
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 && i == split {
                        lines.push(Vec::new());
                    } else if i > 0 {
                        lines
                            .last_mut()
                            .unwrap()
                            .extend_from_slice(separators[i - 1].as_bytes());
                    }
                    lines.last_mut().unwrap().extend_from_slice(&tag.render());
                }
                lines
            }
            Self::Invalid(lines) => lines.iter().map(|l| l.to_vec()).collect(),
        }
    }
}

#[derive(Clone, Debug)]
enum DateSpec {
    Absent,
    Valid {
        by: i64,
        form: DateForm,
    },
    Garbage(&'static str),
    WrongWeekday {
        by: i64,
    },
    /// Two dates in one field line.
    ListInOneLine {
        first: i64,
        second: i64,
    },
    /// Two field lines, each a valid date.
    TwoLines {
        first: i64,
        second: i64,
        form: DateForm,
    },
}

const GARBAGE_DATES: [&str; 6] = [
    "yesterday",
    "",
    "0",
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "1994-11-06T08:49:37Z",
    "Sun, 06 Nov 94 08:49:37 GMT",
];

fn date_offset() -> impl Strategy<Value = i64> {
    -2i64..=2
}

fn date_spec() -> impl Strategy<Value = DateSpec> {
    prop_oneof![
        3 => Just(DateSpec::Absent),
        6 => (date_offset(), date_form()).prop_map(|(by, form)| DateSpec::Valid { by, form }),
        1 => prop::sample::select(GARBAGE_DATES.to_vec()).prop_map(DateSpec::Garbage),
        1 => date_offset().prop_map(|by| DateSpec::WrongWeekday { by }),
        1 => (date_offset(), date_offset())
            .prop_map(|(first, second)| DateSpec::ListInOneLine { first, second }),
        1 => (date_offset(), date_offset(), date_form())
            .prop_map(|(first, second, form)| DateSpec::TwoLines { first, second, form }),
    ]
}

impl DateSpec {
    fn value(&self, base: u64) -> DateValue {
        match self {
            Self::Absent => DateValue::Absent,
            Self::Valid { by, .. } => DateValue::Valid(offset(base, *by)),
            Self::Garbage(_)
            | Self::WrongWeekday { .. }
            | Self::ListInOneLine { .. }
            | Self::TwoLines { .. } => DateValue::Invalid,
        }
    }

    fn lines(&self, base: u64) -> Vec<Vec<u8>> {
        let render = |by: i64, form| render_date(offset(base, by), form).into_bytes();
        match self {
            Self::Absent => vec![],
            Self::Valid { by, form } => vec![render(*by, *form)],
            Self::Garbage(text) => vec![text.as_bytes().to_vec()],
            Self::WrongWeekday { by } => vec![render_wrong_weekday(offset(base, *by)).into_bytes()],
            Self::ListInOneLine { first, second } => {
                let mut line = render(*first, DateForm::ImfFixdate);
                line.extend_from_slice(b", ");
                line.extend_from_slice(&render(*second, DateForm::ImfFixdate));
                vec![line]
            }
            Self::TwoLines { first, second, form } => vec![render(*first, *form), render(*second, *form)],
        }
    }
}

#[derive(Clone, Debug)]
enum IfRangeSpec {
    Absent,
    Tag(ModelTag),
    Date {
        by: i64,
        form: DateForm,
    },
    Invalid(&'static [&'static [u8]]),
    /// The same valid date on two field lines.
    DateTwice {
        by: i64,
    },
}

const INVALID_IF_RANGES: [&[&[u8]]; 9] = [
    &[b"\"a"],
    &[b"abc"],
    &[b"W/a"],
    &[b"yesterday"],
    &[b""],
    &[b"\"a\" \"b\""],
    &[b"\"a\", \"b\""],
    &[b"\"a\"", b"\"a\""],
    &[b"*"],
];

fn if_range_spec() -> impl Strategy<Value = IfRangeSpec> {
    prop_oneof![
        2 => Just(IfRangeSpec::Absent),
        3 => model_tag().prop_map(IfRangeSpec::Tag),
        3 => (date_offset(), date_form()).prop_map(|(by, form)| IfRangeSpec::Date { by, form }),
        1 => prop::sample::select(INVALID_IF_RANGES.to_vec()).prop_map(IfRangeSpec::Invalid),
        1 => date_offset().prop_map(|by| IfRangeSpec::DateTwice { by }),
    ]
}

impl IfRangeSpec {
    fn value(&self, base: u64) -> IfRangeValue {
        match self {
            Self::Absent => IfRangeValue::Absent,
            Self::Tag(tag) => IfRangeValue::Tag(*tag),
            Self::Date { by, .. } => IfRangeValue::Date(offset(base, *by)),
            Self::Invalid(_) | Self::DateTwice { .. } => IfRangeValue::Invalid,
        }
    }

    fn lines(&self, base: u64) -> Vec<Vec<u8>> {
        match self {
            Self::Absent => vec![],
            Self::Tag(tag) => vec![tag.render()],
            Self::Date { by, form } => vec![render_date(offset(base, *by), *form).into_bytes()],
            Self::Invalid(lines) => lines.iter().map(|l| l.to_vec()).collect(),
            Self::DateTwice { by } => {
                let line = render_date(offset(base, *by), DateForm::ImfFixdate).into_bytes();
                vec![line.clone(), line]
            }
        }
    }
}

/// The current representation: missing, or present with optional
/// validators. Its Last-Modified, when it has one, is the scenario's base.
#[derive(Clone, Debug)]
struct CurrentSpec {
    exists: bool,
    etag: Option<ModelTag>,
    has_last_modified: bool,
    date_by: Option<i64>,
}

fn current_spec() -> impl Strategy<Value = CurrentSpec> {
    (
        prop::bool::weighted(0.85),
        prop::option::weighted(0.8, model_tag()),
        prop::bool::weighted(0.8),
        prop::option::weighted(0.3, date_offset()),
    )
        .prop_map(|(exists, etag, has_last_modified, date_by)| CurrentSpec {
            exists,
            etag,
            has_last_modified,
            date_by,
        })
}

impl CurrentSpec {
    fn model(&self, base: u64) -> ModelCurrent {
        ModelCurrent {
            exists: self.exists,
            etag: self.etag.filter(|_| self.exists),
            last_modified: (self.exists && self.has_last_modified).then_some(base),
            date: self.date_by.map(|by| offset(base, by)),
        }
    }

    fn to_core(&self, base: u64) -> Validators {
        let mut v = if self.exists {
            Validators::new()
        } else {
            Validators::missing()
        };
        if self.exists {
            if let Some(tag) = self.etag {
                v = v.with_etag(tag.to_core());
            }
            if self.has_last_modified {
                v = v.with_last_modified(date_at(base));
            }
        }
        if let Some(by) = self.date_by {
            v = v.with_date(date_at(offset(base, by)));
        }
        v
    }
}

fn date_at(secs: u64) -> HttpDate {
    HttpDate::from_unix_seconds(secs).unwrap()
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ])
}

fn now_offset() -> impl Strategy<Value = i64> {
    prop_oneof![4 => -3i64..=3, 1 => Just(86_400), 1 => Just(-86_400)]
}

#[derive(Clone, Debug)]
struct Scenario {
    /// Last-Modified of the current representation; request dates lie
    /// within two seconds of it. In 2000–2069 so RFC 850 years are exact.
    base: u64,
    method: Method,
    if_match: ListSpec,
    if_none_match: ListSpec,
    if_modified_since: DateSpec,
    if_unmodified_since: DateSpec,
    if_range: IfRangeSpec,
    has_range: bool,
    current: CurrentSpec,
    now_by: i64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        (Y2000 + 86_400)..(Y2070 - 86_400),
        method(),
        list_spec(),
        list_spec(),
        date_spec(),
        date_spec(),
        if_range_spec(),
        any::<bool>(),
        current_spec(),
        now_offset(),
    )
        .prop_map(
            |(
                base,
                method,
                if_match,
                if_none_match,
                if_modified_since,
                if_unmodified_since,
                if_range,
                has_range,
                current,
                now_by,
            )| Scenario {
                base,
                method,
                if_match,
                if_none_match,
                if_modified_since,
                if_unmodified_since,
                if_range,
                has_range,
                current,
                now_by,
            },
        )
}

impl Scenario {
    fn model_request(&self) -> ModelRequest {
        ModelRequest {
            method: self.method.clone(),
            if_match: self.if_match.value(),
            if_none_match: self.if_none_match.value(),
            if_modified_since: self.if_modified_since.value(self.base),
            if_unmodified_since: self.if_unmodified_since.value(self.base),
            if_range: self.if_range.value(self.base),
            has_range: self.has_range,
        }
    }

    fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        let fields = [
            ("if-match", self.if_match.lines()),
            ("if-none-match", self.if_none_match.lines()),
            ("if-modified-since", self.if_modified_since.lines(self.base)),
            ("if-unmodified-since", self.if_unmodified_since.lines(self.base)),
            ("if-range", self.if_range.lines(self.base)),
            (
                "range",
                if self.has_range {
                    vec![b"bytes=0-9".to_vec()]
                } else {
                    vec![]
                },
            ),
        ];
        for (name, lines) in fields {
            for line in lines {
                map.append(name, HeaderValue::from_bytes(&line).unwrap());
            }
        }
        map
    }
}

const STATUSES: [u16; 9] = [200, 201, 204, 206, 301, 304, 404, 412, 500];

proptest! {
    #![proptest_config(config(4096))]

    /// RFC 9110 §13.2.2 against the model, through real header text.
    #[test]
    fn evaluate_matches_rfc_model(s in scenario(), status in prop::sample::select(STATUSES.to_vec())) {
        let request = s.model_request();
        let model_current = s.current.model(s.base);
        let now = offset(s.base, s.now_by);
        let (expected, decided_by) = model_evaluate(&request, model_current, now);

        let headers = s.header_map();
        let pre = Preconditions::from_headers(&headers);
        let current = s.current.to_core(s.base);
        let core_now = date_at(now);

        let evaluation = pre.evaluate_detailed(&s.method, &current, core_now);
        prop_assert_eq!(evaluation.outcome, expected, "headers: {:?}, current: {:?}", headers, current);
        prop_assert_eq!(evaluation.decided_by, decided_by);
        prop_assert_eq!(pre.evaluate(&s.method, &current, core_now), expected);

        // §13.2.1: preconditions only apply where the unconditional answer
        // would have been 2xx or 412.
        let status = StatusCode::from_u16(status).unwrap();
        let expected_for_status = if status.is_success() || status == StatusCode::PRECONDITION_FAILED {
            expected
        } else {
            Outcome::Proceed
        };
        prop_assert_eq!(pre.evaluate_for_status(&s.method, status, &current, core_now), expected_for_status);

        let conditional = !matches!(request.if_match, ListValue::Absent)
            || !matches!(request.if_none_match, ListValue::Absent)
            || !matches!(request.if_modified_since, DateValue::Absent)
            || !matches!(request.if_unmodified_since, DateValue::Absent)
            || (!matches!(request.if_range, IfRangeValue::Absent) && request.has_range);
        prop_assert_eq!(pre.is_conditional(), conditional);
    }

    /// `Validators::from_response_headers` reads what the builder sets.
    #[test]
    fn validators_from_response_headers_match_builder(
        base in Y2000..Y2070,
        etag in prop::option::of(model_tag()),
        last_modified in prop::option::of((date_offset(), date_form())),
        date in prop::option::of((date_offset(), date_form())),
    ) {
        let mut headers = HeaderMap::new();
        let mut expected = Validators::new();
        if let Some(tag) = etag {
            headers.append("etag", HeaderValue::from_bytes(&tag.render()).unwrap());
            expected = expected.with_etag(tag.to_core());
        }
        if let Some((by, form)) = last_modified {
            headers.append("last-modified", render_date(offset(base, by), form).parse().unwrap());
            expected = expected.with_last_modified(date_at(offset(base, by)));
        }
        if let Some((by, form)) = date {
            headers.append("date", render_date(offset(base, by), form).parse().unwrap());
            expected = expected.with_date(date_at(offset(base, by)));
        }
        prop_assert_eq!(Validators::from_response_headers(&headers), expected);
    }
}

// ---------------------------------------------------------------------------
// Parsers never panic.
// ---------------------------------------------------------------------------

/// Bytes biased toward the characters the parsers branch on.
fn interesting_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"\"W/,* \t:-0123456789GMTSunNovJan".to_vec()),
        2 => any::<u8>(),
        1 => 0x80u8..=0xFF,
    ];
    prop::collection::vec(byte, 0..max)
}

/// Bytes that `HeaderValue::from_bytes` accepts.
fn header_value() -> impl Strategy<Value = HeaderValue> {
    interesting_bytes(48).prop_map(|bytes| {
        let cleaned: Vec<u8> = bytes
            .into_iter()
            .map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7F {
                    b'x'
                } else {
                    b
                }
            })
            .collect();
        HeaderValue::from_bytes(&cleaned).unwrap()
    })
}

/// A valid rendering of some date with a few bytes replaced: reaches the
/// inner branches of the date grammar that random bytes rarely get to.
fn mutated_date() -> impl Strategy<Value = Vec<u8>> {
    (
        0..=HttpDate::MAX.unix_seconds(),
        date_form(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    )
        .prop_map(|(secs, form, edits)| {
            let mut bytes = render_date(secs, form).into_bytes();
            for (at, byte) in edits {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            bytes
        })
}

const PRECONDITION_FIELDS: [&str; 6] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "range",
];

const ALL_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn entity_tag_parse_never_panics(bytes in interesting_bytes(40)) {
        if let Ok(tag) = EntityTag::parse(&bytes) {
            // Whatever parses formats back to something that parses the same.
            prop_assert_eq!(EntityTag::parse(tag.to_header_value().as_bytes()), Ok(tag));
        }
    }

    #[test]
    fn entity_tag_list_parse_never_panics(
        bytes in interesting_bytes(60),
        lines in prop::collection::vec(interesting_bytes(30), 0..4),
    ) {
        if let Ok(list) = EntityTagList::parse(&bytes) {
            prop_assert_eq!(EntityTagList::parse(list.to_header_value().as_bytes()), Ok(list));
        }
        let _ = EntityTagList::parse_lines(lines.iter().map(Vec::as_slice));
    }

    #[test]
    fn http_date_parse_never_panics(bytes in interesting_bytes(40), mutated in mutated_date()) {
        for input in [&bytes, &mutated] {
            if let Ok(date) = HttpDate::parse(input) {
                prop_assert!(date <= HttpDate::MAX);
                prop_assert_eq!(HttpDate::parse(date.to_header_value().as_bytes()), Ok(date));
            }
        }
    }

    #[test]
    fn if_range_from_field_never_panics(lines in prop::collection::vec(header_value(), 0..3)) {
        let parsed = IfRange::from_field(&lines);
        prop_assert_eq!(parsed.is_none(), lines.is_empty());
        if lines.len() > 1 {
            prop_assert_eq!(parsed, Some(IfRange::Invalid));
        }
    }

    #[test]
    fn preconditions_from_headers_never_panics(
        fields in prop::collection::vec((prop::sample::select(PRECONDITION_FIELDS.to_vec()), header_value()), 0..8),
        etag in prop::option::of(interesting_bytes(12)),
        last_modified in prop::option::of(0..=HttpDate::MAX.unix_seconds()),
        now in 0..=HttpDate::MAX.unix_seconds(),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(name, value);
        }
        let pre = Preconditions::from_headers(&headers);
        let mut current = Validators::new();
        if let Some(tag) = etag.and_then(|bytes| EntityTag::parse(&bytes).ok()) {
            current = current.with_etag(tag);
        }
        if let Some(secs) = last_modified {
            current = current.with_last_modified(date_at(secs));
        }
        for method in ALL_METHODS {
            let method: Method = method.parse().unwrap();
            for validators in [&current, &Validators::missing()] {
                let _ = pre.evaluate_detailed(&method, validators, date_at(now));
            }
        }
        let _ = (pre.is_conditional(), pre.guards_write(date_at(now)));
    }

    #[test]
    fn validators_from_response_headers_never_panics(
        fields in prop::collection::vec(
            (prop::sample::select(vec!["etag", "last-modified", "date"]), header_value()),
            0..6,
        ),
    ) {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(name, value);
        }
        let v = Validators::from_response_headers(&headers);
        prop_assert!(v.exists());
        if headers.get_all("etag").iter().count() != 1 {
            prop_assert!(v.etag().is_none());
        }
    }
}

// ---------------------------------------------------------------------------
// Round trips.
// ---------------------------------------------------------------------------

/// `etagc = %x21 / %x23-7E / obs-text`
fn etagc() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0x21u8), 0x23u8..=0x7E, 0x80u8..=0xFF]
}

fn any_entity_tag() -> impl Strategy<Value = EntityTag> {
    (any::<bool>(), prop::collection::vec(etagc(), 0..24)).prop_map(|(weak, opaque)| {
        if weak {
            EntityTag::weak(opaque).unwrap()
        } else {
            EntityTag::strong(opaque).unwrap()
        }
    })
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn entity_tag_round_trips(tag in any_entity_tag()) {
        let value = tag.to_header_value();
        prop_assert_eq!(EntityTag::parse(value.as_bytes()), Ok(tag.clone()));
        prop_assert_eq!(EntityTag::from_header(&value), Ok(tag.clone()));
        // The wire form is exactly `[W/]"opaque"`.
        let mut expected = if tag.is_weak() { b"W/\"".to_vec() } else { b"\"".to_vec() };
        expected.extend_from_slice(tag.opaque());
        expected.push(b'"');
        prop_assert_eq!(value.as_bytes(), &expected[..]);
    }

    #[test]
    fn entity_tag_list_round_trips(
        tags in prop::collection::vec(any_entity_tag(), 1..6),
        split in any::<prop::sample::Index>(),
    ) {
        let list = EntityTagList::Tags(tags.clone());
        let value = list.to_header_value();
        prop_assert_eq!(EntityTagList::parse(value.as_bytes()), Ok(list.clone()));

        // The same tags on two field lines.
        let at = split.index(tags.len());
        let render = |part: &[EntityTag]| EntityTagList::Tags(part.to_vec()).to_header_value();
        if at > 0 {
            let (first, second) = (render(&tags[..at]), render(&tags[at..]));
            prop_assert_eq!(
                EntityTagList::parse_lines([first.as_bytes(), second.as_bytes()]),
                Ok(list.clone())
            );
        }
        prop_assert_eq!(EntityTagList::parse(EntityTagList::Any.to_header_value().as_bytes()), Ok(EntityTagList::Any));
    }

    #[test]
    fn http_date_round_trips(secs in 0..=HttpDate::MAX.unix_seconds()) {
        let date = date_at(secs);
        let value = date.to_header_value();
        prop_assert_eq!(HttpDate::parse(value.as_bytes()), Ok(date));
        // The crate's IMF-fixdate is the one rendered here independently.
        prop_assert_eq!(value.to_str().unwrap(), render_date(secs, DateForm::ImfFixdate));
        prop_assert_eq!(date.to_string(), render_date(secs, DateForm::ImfFixdate));
    }

    #[test]
    fn http_date_three_forms_agree(secs in Y2000..Y2070) {
        let date = date_at(secs);
        for form in [DateForm::ImfFixdate, DateForm::Rfc850, DateForm::Asctime] {
            let text = render_date(secs, form);
            prop_assert_eq!(HttpDate::parse(text.as_bytes()), Ok(date), "{}", text);
        }
        prop_assert!(HttpDate::parse(render_wrong_weekday(secs).as_bytes()).is_err());
    }
}

// ---------------------------------------------------------------------------
// Comparison laws (RFC 9110 §8.8.3.2).
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn comparison_laws(a in model_tag(), b in model_tag(), c in model_tag()) {
        let (x, y, z) = (a.to_core(), b.to_core(), c.to_core());
        // Agreement with the model.
        prop_assert_eq!(x.strong_eq(&y), model_strong_eq(a, b));
        prop_assert_eq!(x.weak_eq(&y), model_weak_eq(a, b));
        // Strong implies weak.
        prop_assert!(!x.strong_eq(&y) || x.weak_eq(&y));
        // Weak comparison is an equivalence relation.
        prop_assert!(x.weak_eq(&x));
        prop_assert_eq!(x.weak_eq(&y), y.weak_eq(&x));
        prop_assert!(!(x.weak_eq(&y) && y.weak_eq(&z)) || x.weak_eq(&z));
        // Strong comparison is symmetric and never holds for a weak tag.
        prop_assert_eq!(x.strong_eq(&y), y.strong_eq(&x));
        if x.is_weak() || y.is_weak() {
            prop_assert!(!x.strong_eq(&y));
        }
        prop_assert_eq!(x.strong_eq(&x), x.is_strong());
        // Lists use the same functions.
        let list = EntityTagList::Tags(vec![x.clone(), y.clone()]);
        prop_assert_eq!(list.weak_matches(&z), x.weak_eq(&z) || y.weak_eq(&z));
        prop_assert_eq!(list.strong_matches(&z), x.strong_eq(&z) || y.strong_eq(&z));
        prop_assert!(EntityTagList::Any.weak_matches(&z) && EntityTagList::Any.strong_matches(&z));
    }
}

// ---------------------------------------------------------------------------
// The 304 header set (RFC 9110 §15.4.5).
// ---------------------------------------------------------------------------

/// "The server generating a 304 response MUST generate any of the following
/// header fields that would have been sent in a 200 (OK) response to the
/// same request: Content-Location, Date, ETag, and Vary; Cache-Control and
/// Expires".
const MUST_KEEP: [&str; 6] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
];
/// Representation metadata and framing for content a 304 does not carry.
const MUST_DROP: [&str; 6] = [
    "content-type",
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "accept-ranges",
    "content-range",
];
/// Not representation metadata: kept by crate policy.
const OTHER_KEPT: [&str; 2] = ["set-cookie", "x-custom"];

fn response_field() -> impl Strategy<Value = (&'static str, u8)> {
    let names: Vec<&'static str> = MUST_KEEP
        .iter()
        .chain(&MUST_DROP)
        .chain(&OTHER_KEPT)
        .chain(&["last-modified", "vary"])
        .copied()
        .collect();
    (prop::sample::select(names), 0u8..4)
}

fn values(map: &HeaderMap, name: &str) -> Vec<HeaderValue> {
    map.get_all(name).iter().cloned().collect()
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn not_modified_headers_match_model(fields in prop::collection::vec(response_field(), 0..14)) {
        let mut ok = HeaderMap::new();
        for (name, n) in &fields {
            ok.append(*name, HeaderValue::from_str(&format!("{name}-{n}")).unwrap());
        }
        let out = not_modified_headers(&ok);

        for name in MUST_KEEP.iter().chain(&OTHER_KEPT) {
            prop_assert_eq!(values(&out, name), values(&ok, name), "{}", name);
        }
        for name in MUST_DROP {
            prop_assert!(!out.contains_key(name), "{} kept", name);
        }
        let expected_last_modified = if ok.contains_key("etag") {
            vec![]
        } else {
            values(&ok, "last-modified")
        };
        prop_assert_eq!(values(&out, "last-modified"), expected_last_modified);
        // Nothing is invented.
        for name in out.keys() {
            prop_assert!(ok.contains_key(name), "{} invented", name);
        }

        // The in-place and response forms agree with it.
        let mut stripped = ok.clone();
        strip_to_not_modified(&mut stripped);
        let response = not_modified_response(&ok);
        prop_assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        for name in ok.keys() {
            prop_assert_eq!(values(&stripped, name.as_str()), values(&out, name.as_str()));
            prop_assert_eq!(values(response.headers(), name.as_str()), values(&out, name.as_str()));
        }
        prop_assert_eq!(stripped.len(), out.len());
    }
}
