//! Which requests to send next, decided from what came back so far. Pure.
//!
//! [`next_batch`] looks at a [`Recording`] and returns the probes still to
//! send, or `None` when the check is complete. The prober calls it in a
//! loop; each call sees every earlier answer, so a probe can depend on a
//! value the server sent (its entity-tag, its `Last-Modified`, the tag of
//! its gzip variant). The stages:
//!
//! 1. the plain `GET` ([`ProbeKind::Initial`]);
//! 2. if it answered 2xx: repeats, `HEAD`, every conditional form, ranges,
//!    content codings, each node, the origin;
//! 3. follow-ups that need stage 2's answers: each coding's tag sent back,
//!    the URL's tag sent to each node;
//! 4. with `--unsafe`, the writes, one step at a time.

use bytes::Bytes;
use http::header::{
    ACCEPT_ENCODING, CONTENT_TYPE, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE,
    RANGE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use revalidate_core::{EntityTag, HttpDate, Validators};

use crate::model::{
    BODY_CAP, FOREIGN_TAG, IfMatchForm, IfRangeForm, ImsForm, InmForm, IusForm, ProbeKind, RecordedResponse,
    Recording, Target, WriteStep,
};

/// The content codings whose variants are requested.
pub const CODINGS: [&str; 3] = ["gzip", "br", "zstd"];

/// How far before `Last-Modified` a "stale" date goes.
const A_DAY: u64 = 24 * 60 * 60;

/// What no parser reads as an HTTP-date, for the "invalid date" probes.
const NOT_A_DATE: &str = "not a date";

/// One request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Why.
    pub kind: ProbeKind,
    /// The method.
    pub method: Method,
    /// Header fields to set.
    pub headers: HeaderMap,
    /// Content to send, for writes.
    pub body: Option<Bytes>,
    /// Where.
    pub target: Target,
    /// Send over a raw HTTP/1.1 connection and keep every byte that follows
    /// the header section.
    pub raw: bool,
}

impl ProbeSpec {
    fn get(kind: ProbeKind) -> Self {
        Self {
            kind,
            method: Method::GET,
            headers: HeaderMap::new(),
            body: None,
            target: Target::Url,
            raw: false,
        }
    }

    fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    fn body(mut self, body: Bytes, content_type: Option<&HeaderValue>) -> Self {
        if let Some(content_type) = content_type {
            self.headers.insert(CONTENT_TYPE, content_type.clone());
        }
        self.body = Some(body);
        self
    }
}

/// Probes to send together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// The probes.
    pub probes: Vec<ProbeSpec>,
    /// Whether they may go out at the same time (or must, for the race).
    pub concurrent: bool,
}

impl Batch {
    fn one(probe: ProbeSpec) -> Self {
        Self {
            probes: vec![probe],
            concurrent: false,
        }
    }
}

/// The validators of a response, read by the core.
pub fn validators(response: &RecordedResponse) -> Validators {
    Validators::from_response_headers(&response.headers)
}

/// The next probes to send, or `None` when the check is complete.
pub fn next_batch(recording: &Recording) -> Option<Batch> {
    let Some(initial) = recording.exchange(&ProbeKind::Initial) else {
        return Some(Batch::one(ProbeSpec::get(ProbeKind::Initial)));
    };
    let initial = initial.response.as_ref().ok()?;
    if !initial.status.is_success() {
        return None;
    }
    for (stage, concurrent) in [
        (basic_probes(recording, initial), true),
        (follow_ups(recording), true),
    ] {
        let missing: Vec<ProbeSpec> = stage.into_iter().filter(|p| !recording.sent(&p.kind)).collect();
        if !missing.is_empty() {
            return Some(Batch {
                probes: missing,
                concurrent,
            });
        }
    }
    if recording.options.unsafe_writes {
        return next_write(recording, initial);
    }
    None
}

fn tag_value(tag: &EntityTag) -> HeaderValue {
    tag.to_header_value()
}

fn list_value(tag: &EntityTag) -> Option<HeaderValue> {
    let mut bytes = FOREIGN_TAG.as_bytes().to_vec();
    bytes.extend_from_slice(b", ");
    bytes.extend_from_slice(tag.to_header_value().as_bytes());
    HeaderValue::from_bytes(&bytes).ok()
}

fn foreign() -> HeaderValue {
    HeaderValue::from_static(FOREIGN_TAG)
}

fn basic_probes(recording: &Recording, initial: &RecordedResponse) -> Vec<ProbeSpec> {
    let current = validators(initial);
    let mut probes = vec![
        ProbeSpec::get(ProbeKind::Repeat(1)),
        ProbeSpec::get(ProbeKind::Repeat(2)),
        ProbeSpec::get(ProbeKind::Head).method(Method::HEAD),
    ];
    if let Some(tag) = current.etag() {
        probes.push(
            ProbeSpec::get(ProbeKind::IfNoneMatch(InmForm::Exact)).header(IF_NONE_MATCH, tag_value(tag)),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::IfNoneMatch(InmForm::Weak))
                .header(IF_NONE_MATCH, tag_value(&tag.clone().into_weak())),
        );
        if let Some(list) = list_value(tag) {
            probes.push(ProbeSpec::get(ProbeKind::IfNoneMatch(InmForm::List)).header(IF_NONE_MATCH, list));
        }
    }
    probes.push(
        ProbeSpec::get(ProbeKind::IfNoneMatch(InmForm::Star))
            .header(IF_NONE_MATCH, HeaderValue::from_static("*")),
    );
    probes.push(ProbeSpec::get(ProbeKind::IfNoneMatch(InmForm::Foreign)).header(IF_NONE_MATCH, foreign()));
    if let Some(modified) = current.last_modified() {
        let before = HttpDate::from_unix_seconds(modified.unix_seconds().saturating_sub(A_DAY))
            .unwrap_or(HttpDate::UNIX_EPOCH);
        probes.push(
            ProbeSpec::get(ProbeKind::IfModifiedSince(ImsForm::AtLastModified))
                .header(IF_MODIFIED_SINCE, modified.to_header_value()),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::IfModifiedSince(ImsForm::BeforeLastModified))
                .header(IF_MODIFIED_SINCE, before.to_header_value()),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::InmWithIms)
                .header(IF_NONE_MATCH, foreign())
                .header(IF_MODIFIED_SINCE, modified.to_header_value()),
        );
        // The other side of §13.1.3: a matching tag with a date the
        // representation changed after must still give 304.
        if let Some(tag) = current.etag() {
            probes.push(
                ProbeSpec::get(ProbeKind::InmWithOldIms)
                    .header(IF_NONE_MATCH, tag_value(tag))
                    .header(IF_MODIFIED_SINCE, before.to_header_value()),
            );
        }
        // §13.1.3: "earlier or equal to the date provided", so a later date
        // is a 304 too; kept no later than the server's `Date`, since a
        // date in the server's future may be ignored.
        if let Some(after) = later_than_last_modified(initial, modified) {
            probes.push(
                ProbeSpec::get(ProbeKind::IfModifiedSince(ImsForm::AfterLastModified))
                    .header(IF_MODIFIED_SINCE, after.to_header_value()),
            );
        }
        probes.push(
            ProbeSpec::get(ProbeKind::IfModifiedSince(ImsForm::Invalid))
                .header(IF_MODIFIED_SINCE, HeaderValue::from_static(NOT_A_DATE)),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::IfUnmodifiedSince(IusForm::AtLastModified))
                .header(IF_UNMODIFIED_SINCE, modified.to_header_value()),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::IfUnmodifiedSince(IusForm::BeforeLastModified))
                .header(IF_UNMODIFIED_SINCE, before.to_header_value()),
        );
        probes.push(
            ProbeSpec::get(ProbeKind::IfUnmodifiedSince(IusForm::Invalid))
                .header(IF_UNMODIFIED_SINCE, HeaderValue::from_static(NOT_A_DATE)),
        );
        if let Some(tag) = current.etag().filter(|t| t.is_strong()) {
            probes.push(
                ProbeSpec::get(ProbeKind::IfUnmodifiedSince(IusForm::WithIfMatch))
                    .header(IF_MATCH, tag_value(tag))
                    .header(IF_UNMODIFIED_SINCE, before.to_header_value()),
            );
        }
    }
    // If-Match on GET (§13.1.1), both sides: forms that hold must not get
    // 412, forms that fail must. Only a strong tag can ever match.
    if let Some(tag) = current.etag().filter(|t| t.is_strong()) {
        probes
            .push(ProbeSpec::get(ProbeKind::IfMatch(IfMatchForm::Current)).header(IF_MATCH, tag_value(tag)));
        probes.push(
            ProbeSpec::get(ProbeKind::IfMatch(IfMatchForm::Weak))
                .header(IF_MATCH, tag_value(&tag.clone().into_weak())),
        );
        if let Some(list) = list_value(tag) {
            probes.push(ProbeSpec::get(ProbeKind::IfMatch(IfMatchForm::List)).header(IF_MATCH, list));
        }
    }
    probes.push(
        ProbeSpec::get(ProbeKind::IfMatch(IfMatchForm::Star)).header(IF_MATCH, HeaderValue::from_static("*")),
    );
    probes.push(ProbeSpec::get(ProbeKind::IfMatch(IfMatchForm::Foreign)).header(IF_MATCH, foreign()));
    // §13.2.1: preconditions are not evaluated when the answer without
    // them would be neither 2xx nor 412.
    probes.push(ProbeSpec::get(ProbeKind::MissingPlain).target(Target::Missing));
    probes.push(
        ProbeSpec::get(ProbeKind::MissingIfMatch)
            .target(Target::Missing)
            .header(IF_MATCH, HeaderValue::from_static("*")),
    );
    if recording.url.starts_with("http://") {
        let raw = ProbeSpec {
            raw: true,
            ..ProbeSpec::get(ProbeKind::RawNotModified)
        };
        if let Some(tag) = current.etag() {
            probes.push(raw.header(IF_NONE_MATCH, tag_value(tag)));
        } else if let Some(modified) = current.last_modified() {
            probes.push(raw.header(IF_MODIFIED_SINCE, modified.to_header_value()));
        }
    }
    if let Some(range) = range_value(initial) {
        probes.push(ProbeSpec::get(ProbeKind::Range).header(RANGE, range.clone()));
        let if_range = |form| ProbeSpec::get(ProbeKind::IfRange(form)).header(RANGE, range.clone());
        if let Some(tag) = current.etag().filter(|t| t.is_strong()) {
            probes.push(if_range(IfRangeForm::CurrentTag).header(IF_RANGE, tag_value(tag)));
            probes.push(if_range(IfRangeForm::WeakTag).header(IF_RANGE, tag_value(&tag.clone().into_weak())));
        }
        probes.push(if_range(IfRangeForm::StaleTag).header(IF_RANGE, foreign()));
        if let Some(modified) = current.last_modified() {
            let before = HttpDate::from_unix_seconds(modified.unix_seconds().saturating_sub(A_DAY))
                .unwrap_or(HttpDate::UNIX_EPOCH);
            probes.push(if_range(IfRangeForm::StaleDate).header(IF_RANGE, before.to_header_value()));
        }
    }
    for coding in CODINGS {
        probes.push(
            ProbeSpec::get(ProbeKind::Encoding(coding.to_owned()))
                .header(ACCEPT_ENCODING, HeaderValue::from_static(coding)),
        );
    }
    for node in &recording.options.backends {
        probes.push(ProbeSpec::get(ProbeKind::Node(*node)).target(Target::Node(*node)));
    }
    if let Some(origin) = &recording.options.origin {
        probes.push(ProbeSpec::get(ProbeKind::Origin).target(Target::Origin(origin.clone())));
    }
    probes
}

/// A date after `modified`: a day later, but no later than the initial
/// response's `Date`; `None` when that leaves no later second.
fn later_than_last_modified(initial: &RecordedResponse, modified: HttpDate) -> Option<HttpDate> {
    let date = initial
        .get("date")
        .and_then(|d| HttpDate::parse(d.as_bytes()).ok())?;
    let after = modified
        .unix_seconds()
        .saturating_add(A_DAY)
        .min(date.unix_seconds());
    if after > modified.unix_seconds() {
        HttpDate::from_unix_seconds(after)
    } else {
        None
    }
}

/// `bytes=0-N` for the first half of the content, at most 10 bytes; `None`
/// when the content is shorter than 2 bytes.
pub fn range_value(initial: &RecordedResponse) -> Option<HeaderValue> {
    let (first, last) = requested_range(initial)?;
    HeaderValue::from_str(&format!("bytes={first}-{last}")).ok()
}

/// The first and last byte positions [`range_value`] asks for.
pub fn requested_range(initial: &RecordedResponse) -> Option<(u64, u64)> {
    if initial.body_len < 2 {
        return None;
    }
    let half = initial.body_len.min(20) / 2;
    Some((0, half - 1))
}

fn follow_ups(recording: &Recording) -> Vec<ProbeSpec> {
    let mut probes = Vec::new();
    for coding in CODINGS {
        let Some(response) = recording.response(&ProbeKind::Encoding(coding.to_owned())) else {
            continue;
        };
        let used = response
            .get("content-encoding")
            .is_some_and(|ce| ce.trim().eq_ignore_ascii_case(coding));
        if let (true, true, Some(tag)) = (response.status.is_success(), used, validators(response).etag()) {
            probes.push(
                ProbeSpec::get(ProbeKind::EncodingRevalidate(coding.to_owned()))
                    .header(ACCEPT_ENCODING, HeaderValue::from_static(coding))
                    .header(IF_NONE_MATCH, tag_value(tag)),
            );
        }
    }
    let url_tag = recording.initial().and_then(|r| validators(r).etag().cloned());
    for node in &recording.options.backends {
        let node_ok = recording
            .response(&ProbeKind::Node(*node))
            .is_some_and(|r| r.status.is_success());
        if let (true, Some(tag)) = (node_ok, &url_tag) {
            probes.push(
                ProbeSpec::get(ProbeKind::NodeRevalidate(*node))
                    .target(Target::Node(*node))
                    .header(IF_NONE_MATCH, tag_value(tag)),
            );
        }
    }
    probes
}

/// Statuses that say the resource takes no `PUT` from this client.
pub fn refuses_writes(status: StatusCode) -> bool {
    matches!(status.as_u16(), 401 | 403 | 404 | 405 | 501)
}

/// The bytes each racing writer sends: the JSON object with one more
/// member when the content is a JSON object, else the content with a line
/// appended.
pub fn racer_body(initial: &RecordedResponse, writer: &str) -> Bytes {
    if let Ok(serde_json::Value::Object(mut object)) =
        serde_json::from_slice::<serde_json::Value>(&initial.body)
    {
        object.insert(
            "revalidate_check_writer".to_owned(),
            serde_json::Value::String(writer.to_owned()),
        );
        if let Ok(bytes) = serde_json::to_vec(&serde_json::Value::Object(object)) {
            return Bytes::from(bytes);
        }
    }
    let mut bytes = initial.body.to_vec();
    bytes.extend_from_slice(format!("\nrevalidate check writer {writer}\n").as_bytes());
    Bytes::from(bytes)
}

fn next_write(recording: &Recording, initial: &RecordedResponse) -> Option<Batch> {
    if initial.body_len > BODY_CAP as u64 {
        return None;
    }
    // Stop at the first sign that this resource takes no writes.
    let refused = recording.exchanges.iter().any(|e| {
        matches!(e.kind, ProbeKind::Write(_))
            && e.request.method == Method::PUT
            && e.response.as_ref().is_ok_and(|r| refuses_writes(r.status))
    });
    if refused {
        return None;
    }
    let current = validators(initial);
    let content_type = initial.headers.get(CONTENT_TYPE);
    let put = |step| {
        ProbeSpec::get(ProbeKind::Write(step))
            .method(Method::PUT)
            .body(initial.body.clone(), content_type)
    };
    let sent = |step| recording.sent(&ProbeKind::Write(step));
    if !sent(WriteStep::IfMatchStale) {
        return Some(Batch::one(
            put(WriteStep::IfMatchStale).header(IF_MATCH, foreign()),
        ));
    }
    if let (false, Some(modified)) = (sent(WriteStep::IfUnmodifiedSinceStale), current.last_modified()) {
        let before = HttpDate::from_unix_seconds(modified.unix_seconds().saturating_sub(A_DAY))
            .unwrap_or(HttpDate::UNIX_EPOCH);
        return Some(Batch::one(
            put(WriteStep::IfUnmodifiedSinceStale).header(IF_UNMODIFIED_SINCE, before.to_header_value()),
        ));
    }
    if !sent(WriteStep::CreateOnlyExisting) {
        return Some(Batch::one(
            put(WriteStep::CreateOnlyExisting).header(IF_NONE_MATCH, HeaderValue::from_static("*")),
        ));
    }
    if !sent(WriteStep::AfterRefused) {
        return Some(Batch::one(ProbeSpec::get(ProbeKind::Write(
            WriteStep::AfterRefused,
        ))));
    }
    if !sent(WriteStep::Unconditional) {
        // If-Modified-Since is no precondition for PUT (§13.1.3: ignored
        // unless the method is GET or HEAD), so this write is unconditional.
        let mut unconditional = put(WriteStep::Unconditional);
        if let Some(modified) = current.last_modified() {
            unconditional = unconditional.header(IF_MODIFIED_SINCE, modified.to_header_value());
        }
        return Some(Batch::one(unconditional));
    }
    if !sent(WriteStep::BeforeRace) {
        return Some(Batch::one(ProbeSpec::get(ProbeKind::Write(
            WriteStep::BeforeRace,
        ))));
    }
    let before = recording.response(&ProbeKind::Write(WriteStep::BeforeRace))?;
    let tag = validators(before).etag()?.clone();
    if !sent(WriteStep::RaceA) {
        let racer = |step, writer| {
            ProbeSpec::get(ProbeKind::Write(step))
                .method(Method::PUT)
                .body(racer_body(initial, writer), content_type)
                .header(IF_MATCH, tag_value(&tag))
        };
        return Some(Batch {
            probes: vec![racer(WriteStep::RaceA, "a"), racer(WriteStep::RaceB, "b")],
            concurrent: true,
        });
    }
    if !sent(WriteStep::AfterRace) {
        return Some(Batch::one(ProbeSpec::get(ProbeKind::Write(WriteStep::AfterRace))));
    }
    if !sent(WriteStep::Restore) {
        let after = recording.response(&ProbeKind::Write(WriteStep::AfterRace))?;
        let tag = validators(after).etag()?.clone();
        return Some(Batch::one(
            put(WriteStep::Restore).header(IF_MATCH, tag_value(&tag)),
        ));
    }
    None
}
