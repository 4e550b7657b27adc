//! Findings: what a rule reports, how bad it is, where the RFC says so and
//! how to fix it.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A broken MUST, or a real bug: clients or caches get wrong content.
    Error,
    /// A broken SHOULD or bad practice: caching or revalidation works less well.
    Warning,
    /// An explanation, not a problem.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }

    /// Whether this counts as a finding for the exit code (errors and warnings).
    pub fn is_problem(self) -> bool {
        self != Self::Info
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A section of an RFC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Section {
    /// The RFC number, such as 9110.
    pub rfc: u16,
    /// The section, such as `13.1.2`.
    pub section: &'static str,
}

impl Section {
    /// The rfc-editor.org link to the section.
    pub fn link(&self) -> String {
        format!(
            "https://www.rfc-editor.org/rfc/rfc{}#section-{}",
            self.rfc, self.section
        )
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RFC {} §{}", self.rfc, self.section)
    }
}

const fn rfc(rfc: u16, section: &'static str) -> Section {
    Section { rfc, section }
}

/// A rule: a stable id, its severity, the section it rests on and the fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// Stable kebab-case id, for CI filters.
    pub id: &'static str,
    /// How bad a finding of this rule is.
    pub severity: Severity,
    /// The section the rule rests on.
    pub section: Section,
    /// How to fix it.
    pub fix: &'static str,
}

/// One thing a rule found about one URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// What was seen, in words, with the values involved.
    pub message: String,
}

impl Finding {
    /// A finding of `rule` with `message`.
    pub fn new(rule: &'static Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
        }
    }

    /// The rule's severity.
    pub fn severity(&self) -> Severity {
        self.rule.severity
    }
}

macro_rules! rules {
    ($( $(#[$doc:meta])* $name:ident = ($id:literal, $severity:ident, $rfc:literal, $section:literal, $fix:literal); )*) => {
        $( $(#[$doc])* pub static $name: Rule = Rule {
            id: $id,
            severity: Severity::$severity,
            section: rfc($rfc, $section),
            fix: $fix,
        }; )*
        /// Every rule, in report order.
        pub static RULES: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    /// The URL could not be checked past its first request.
    UNEXPECTED_STATUS = ("unexpected-status", Warning, 9110, "15",
        "Check a URL that answers 200 to a plain GET; the other checks need a representation.");
    /// The URL redirects; the checker reports it and does not follow.
    REDIRECT = ("redirect-not-followed", Warning, 9110, "15.4",
        "Check the URL in Location instead; the checker does not follow redirects.");
    /// A later probe failed (timeout, reset) where the first one worked.
    PROBE_FAILED = ("probe-failed", Warning, 9110, "9.3.1",
        "Make sure the server answers every request within the timeout, conditional or not.");
    /// Neither `ETag` nor `Last-Modified`.
    NO_VALIDATORS = ("no-validators", Warning, 9110, "8.8.3",
        "Send a strong ETag (a hash of the bytes) and Last-Modified so that caches can revalidate with a cheap 304.");
    /// An `ETag` that is not an entity-tag, or several `ETag` lines.
    ETAG_MALFORMED = ("etag-malformed", Error, 9110, "8.8.3",
        "Send exactly one ETag of the form \"opaque\" or W/\"opaque\": double quotes are part of the value.");
    /// A `Last-Modified` that is not one HTTP-date.
    LAST_MODIFIED_MALFORMED = ("last-modified-malformed", Error, 9110, "8.8.2",
        "Send Last-Modified as one IMF-fixdate, such as Sun, 06 Nov 1994 08:49:37 GMT.");
    /// `Last-Modified` later than `Date`.
    LAST_MODIFIED_FUTURE = ("last-modified-in-future", Error, 9110, "8.8.2.1",
        "Clamp Last-Modified to the time the response is generated.");
    /// The ETag changes between identical requests for identical bytes.
    ETAG_UNSTABLE = ("etag-unstable", Error, 9110, "8.8.3",
        "Derive the ETag from the content (a hash) or a stored version, never from time, a request id or a node id.");
    /// `Last-Modified` changes between identical requests for identical bytes.
    LAST_MODIFIED_UNSTABLE = ("last-modified-unstable", Warning, 9110, "8.8.2",
        "Use the content's real modification time, not the time of the request.");
    /// The same strong ETag for different bytes.
    ETAG_SAME_FOR_DIFFERENT_BYTES = ("etag-same-for-different-bytes", Error, 9110, "8.8.1",
        "A strong ETag must change whenever the bytes change: hash the bytes, or send a weak ETag if only the meaning is the same.");
    /// `If-None-Match` with the current tag gives a full response.
    INM_IGNORED = ("if-none-match-ignored", Warning, 9110, "13.1.2",
        "Compare If-None-Match with the current ETag and answer 304 Not Modified when one matches.");
    /// The `W/` form of the current tag does not match.
    INM_WEAK_COMPARISON = ("if-none-match-weak-comparison", Error, 9110, "8.8.3.2",
        "Compare If-None-Match with the weak comparison: ignore W/ on both sides and compare the quoted parts.");
    /// A list holding the current tag does not match.
    INM_LIST = ("if-none-match-list", Error, 9110, "13.1.2",
        "Parse If-None-Match as a comma-separated list of entity-tags (commas may appear inside quotes).");
    /// `If-None-Match: *` does not match an existing representation.
    INM_STAR = ("if-none-match-star", Warning, 9110, "13.1.2",
        "Treat If-None-Match: * as matching any current representation: answer 304 to GET and HEAD.");
    /// A 304 for a validator that does not match the current content.
    NOT_MODIFIED_FOR_CHANGED = ("not-modified-for-changed-content", Error, 9110, "13.1.2",
        "Answer 304 only when the client's validator matches the current representation; otherwise send 200 with the content.");
    /// A conditional GET answered with something other than 200 or 304.
    CONDITIONAL_STATUS = ("conditional-unexpected-status", Error, 9110, "13.2.2",
        "A GET whose If-None-Match or If-Modified-Since matches gets 304; one that does not gets 200. Never 412 for GET.");
    /// `If-Modified-Since` at `Last-Modified` gives a full response.
    IMS_IGNORED = ("if-modified-since-ignored", Warning, 9110, "13.1.3",
        "Compare If-Modified-Since with Last-Modified (whole seconds) and answer 304 when not modified since.");
    /// `If-Modified-Since` later than `Last-Modified` gives a full response.
    IMS_LATER_IGNORED = ("if-modified-since-later-date-ignored", Warning, 9110, "13.1.3",
        "Answer 304 when Last-Modified is earlier than or equal to the If-Modified-Since date, not only when they are equal (nginx: if_modified_since before).");
    /// `If-Modified-Since` decided the answer although it must be ignored:
    /// next to `If-None-Match`, or not a valid date.
    IMS_NOT_IGNORED_WITH_INM = ("if-modified-since-not-ignored", Error, 9110, "13.1.3",
        "Ignore If-Modified-Since when the request has If-None-Match (the entity-tag decides), when its value is not one valid HTTP-date, and on methods other than GET and HEAD.");
    /// A 304 without a field the 200 had and §15.4.5 requires.
    NOT_MODIFIED_MISSING = ("not-modified-missing-fields", Error, 9110, "15.4.5",
        "Send on a 304 the ETag, Vary, Cache-Control, Expires, Content-Location and Date that a 200 would carry.");
    /// A 304 with representation metadata that a 200 carries.
    NOT_MODIFIED_EXTRA = ("not-modified-extra-metadata", Warning, 9110, "15.4.5",
        "Drop Content-Type, Content-Encoding, Content-Range and the like from 304 responses.");
    /// A 304 with a tag other than the current one.
    NOT_MODIFIED_OTHER_TAG = ("not-modified-different-etag", Error, 9110, "15.4.5",
        "Send on a 304 the ETag of the current representation, the one a 200 would carry.");
    /// A 304 with a `Content-Length` other than the 200's.
    NOT_MODIFIED_LENGTH = ("not-modified-content-length", Error, 9110, "8.6",
        "Do not send Content-Length on a 304, or send the one the 200 would carry.");
    /// Bytes after the header section of a 304.
    NOT_MODIFIED_BODY = ("not-modified-has-body", Error, 9112, "6.3",
        "Send no content after a 304's header section: clients read those bytes as the start of the next response.");
    /// `HEAD` and `GET` disagree on the status.
    HEAD_STATUS = ("head-status-differs", Error, 9110, "9.3.2",
        "Route HEAD exactly like GET and answer with the same status.");
    /// `HEAD` and `GET` disagree on validators.
    HEAD_VALIDATORS = ("head-validators-differ", Error, 9110, "9.3.2",
        "Compute ETag and Last-Modified the same way for HEAD as for GET.");
    /// `HEAD` and `GET` disagree on other fields.
    HEAD_FIELDS = ("head-fields-differ", Warning, 9110, "9.3.2",
        "Send the same Content-Type, Content-Length, Cache-Control and Vary for HEAD as for GET.");
    /// A 206 that does not match the request or the full content.
    RANGE_INCONSISTENT = ("range-inconsistent", Error, 9110, "14.4",
        "Send exactly the requested bytes, with Content-Range bytes first-last/complete-length matching the full content.");
    /// A 206 with other validators than the 200.
    RANGE_VALIDATORS = ("range-validators-differ", Error, 9110, "15.3.7",
        "Send on a 206 the ETag and Last-Modified of the representation the bytes come from.");
    /// `Accept-Ranges: bytes` but `Range` ignored.
    RANGE_IGNORED = ("range-ignored", Warning, 9110, "14.3",
        "Either honour Range with 206 or stop sending Accept-Ranges: bytes.");
    /// `If-Range` with a validator that does not match gave a 206.
    IF_RANGE_STALE = ("if-range-stale-gave-partial", Error, 9110, "13.1.5",
        "When If-Range does not match (strong comparison for tags, exact strong date), ignore Range and send 200 with the whole content.");
    /// `If-Range` with the current strong tag gave a full response.
    IF_RANGE_IGNORED = ("if-range-match-ignored", Warning, 9110, "13.1.5",
        "When If-Range matches the current strong ETag, honour Range with 206 so downloads can resume.");
    /// The same strong tag for two content codings.
    ENCODING_SAME_ETAG = ("encoding-same-strong-etag", Error, 9110, "8.8.3.3",
        "Give each content coding its own ETag (such as \"tag-gzip\"), or mark the compressed one weak.");
    /// A coding's own tag does not revalidate.
    ENCODING_ROUND_TRIP = ("encoding-etag-round-trip", Warning, 9110, "13.1.2",
        "Accept each coding's ETag in If-None-Match (map a suffixed tag back before comparing), so compressed clients get 304s too.");
    /// Responses that differ by coding without `Vary: Accept-Encoding`.
    VARY_MISSING_ACCEPT_ENCODING = ("vary-missing-accept-encoding", Error, 9110, "12.5.5",
        "Send Vary: Accept-Encoding on every response of a resource whose coding depends on the request, 304s included.");
    /// `Vary` differs between responses of one resource.
    VARY_INCONSISTENT = ("vary-inconsistent", Warning, 9111, "4.1",
        "Send the same Vary on every response of the resource, whatever coding or status.");
    /// `Vary: *`.
    VARY_STAR = ("vary-star", Warning, 9111, "4.1",
        "Name the request fields the response depends on instead of *: a Vary: * response can never be reused.");
    /// `Vary: User-Agent` and similar.
    VARY_FRAGMENTS = ("vary-fragments-cache", Warning, 9111, "4.1",
        "Vary on a normalised field (or on Accept-Encoding only): Vary: User-Agent splits the cache into one copy per browser build.");
    /// `Cache-Control` that does not follow the grammar.
    CACHE_CONTROL_SYNTAX = ("cache-control-syntax", Warning, 9111, "5.2",
        "Write Cache-Control as comma-separated directives, name or name=value, with delta-seconds as plain digits.");
    /// Directives that contradict each other.
    CACHE_CONTROL_CONFLICT = ("cache-control-conflict", Warning, 9111, "5.2.2",
        "Send one meaning: drop the directives that the stronger one overrides.");
    /// `Expires` that is not one HTTP-date.
    EXPIRES_MALFORMED = ("expires-malformed", Warning, 9111, "5.3",
        "Send Expires as one IMF-fixdate, or use Cache-Control: max-age instead.");
    /// No explicit lifetime: caches guess.
    FRESHNESS_HEURISTIC = ("freshness-heuristic", Warning, 9111, "4.2.2",
        "Say how long the response may be reused: Cache-Control: max-age=N, or no-cache to revalidate every time.");
    /// How long browsers and shared caches may reuse the response.
    FRESHNESS = ("freshness", Info, 9111, "4.2",
        "Nothing to fix; this explains what the caching fields mean.");
    /// Different validators on different nodes for the same bytes.
    ETAG_DIFFERS_BETWEEN_NODES = ("etag-differs-between-nodes", Error, 9110, "8.8.3",
        "Derive the ETag from the content, not from inode numbers, mtimes or node ids, so every node gives the same tag for the same bytes.");
    /// Different `Last-Modified` on different nodes for the same bytes.
    LAST_MODIFIED_DIFFERS_BETWEEN_NODES = ("last-modified-differs-between-nodes", Warning, 9110, "8.8.2",
        "Deploy files with the same modification time on every node, or derive Last-Modified from the content's version.");
    /// Different bytes on different nodes.
    CONTENT_DIFFERS_BETWEEN_NODES = ("content-differs-between-nodes", Warning, 9110, "8.8.1",
        "Finish the deploy on every node; clients behind the balancer see the versions flip.");
    /// A node does not accept another node's tag.
    NODE_REVALIDATION = ("node-revalidation-fails", Error, 9110, "13.1.2",
        "Make every node answer 304 to the tags the others issue for the same bytes.");
    /// A CDN or cache is in front.
    CDN_DETECTED = ("cdn-detected", Info, 9111, "5.1",
        "Nothing to fix; checks also ran through the cache.");
    /// The cache answers 304 itself.
    CDN_ANSWERS_304 = ("cdn-answers-not-modified", Info, 9111, "4.3.2",
        "Nothing to fix; the cache evaluates conditional requests without asking the origin.");
    /// The cache's tag differs from the origin's for the same bytes.
    CDN_ETAG_DIFFERS = ("cdn-etag-differs-from-origin", Error, 9110, "8.8.3",
        "Let the CDN pass the origin's ETag through unchanged (weakening under compression is fine, rewriting is not).");
    /// The cache's `Last-Modified` differs from the origin's for the same bytes.
    CDN_LAST_MODIFIED_DIFFERS = ("cdn-last-modified-differs-from-origin", Warning, 9110, "8.8.2",
        "Let the CDN pass the origin's Last-Modified through unchanged.");
    /// The cache serves an older version past its freshness lifetime.
    CDN_STALE_ETAG = ("cdn-stale-etag", Error, 9111, "4.2.4",
        "Purge the CDN, and make it revalidate stale responses (no stale serving without stale-while-revalidate or stale-if-error).");
    /// The cache holds an older version that is still fresh.
    CDN_OLDER_COPY = ("cdn-holds-older-copy", Info, 9111, "4.2",
        "Nothing to fix if the delay is acceptable; otherwise purge on deploy or shorten max-age.");
    /// The cache has the origin's tag with other bytes.
    CDN_SAME_TAG_OTHER_BYTES = ("cdn-same-etag-different-bytes", Error, 9110, "8.8.1",
        "The origin keeps its tag when the bytes change, or the CDN modifies content without weakening the tag: fix whichever does.");
    /// A `GET` with `If-Match` of a tag that is not current got the content.
    IF_MATCH_NOT_EVALUATED = ("if-match-not-evaluated", Error, 9110, "13.1.1",
        "Evaluate If-Match on every method: when no listed tag matches the current strong ETag, answer 412 Precondition Failed instead of performing the request.");
    /// `If-Match` with the `W/` form of the current tag was taken as a match.
    IF_MATCH_WEAK_COMPARISON = ("if-match-weak-comparison", Error, 9110, "8.8.3.2",
        "Compare If-Match with the strong comparison: a W/ tag never matches, so answer 412.");
    /// `If-Match` that holds (current tag, a list holding it, `*`) got 412.
    IF_MATCH_CURRENT_REFUSED = ("if-match-current-refused", Error, 9110, "13.1.1",
        "Parse If-Match as a list of entity-tags or *, and perform the request when one matches the current strong ETag (* matches any current representation).");
    /// A `GET` with `If-Unmodified-Since` before `Last-Modified` got the content.
    IUS_NOT_EVALUATED = ("if-unmodified-since-not-evaluated", Error, 9110, "13.1.4",
        "Evaluate If-Unmodified-Since on every method: when the resource changed after that date, answer 412 instead of performing the request.");
    /// `If-Unmodified-Since` at `Last-Modified` got 412.
    IUS_CURRENT_REFUSED = ("if-unmodified-since-current-refused", Error, 9110, "13.1.4",
        "Perform the request when Last-Modified is earlier than or equal to the If-Unmodified-Since date.");
    /// `If-Unmodified-Since` decided the answer although it must be ignored:
    /// next to `If-Match`, or not a valid date.
    IUS_NOT_IGNORED = ("if-unmodified-since-not-ignored", Error, 9110, "13.1.4",
        "Ignore If-Unmodified-Since when the request has If-Match (the entity-tag decides) or when its value is not one valid HTTP-date.");
    /// A precondition turned an error status into 412.
    PRECONDITION_BEFORE_STATUS = ("precondition-evaluated-on-error", Error, 9110, "13.2.1",
        "Evaluate preconditions only when the request would otherwise succeed: a missing resource is a 404 whatever If-Match says.");
    /// A write with a stale `If-Match` was performed.
    IF_MATCH_IGNORED = ("if-match-ignored", Error, 9110, "13.1.1",
        "Evaluate If-Match before writing and answer 412 Precondition Failed when no listed tag matches (strong comparison).");
    /// A write with a stale `If-Unmodified-Since` was performed.
    IUS_IGNORED = ("if-unmodified-since-ignored", Error, 9110, "13.1.4",
        "Evaluate If-Unmodified-Since before writing and answer 412 when the resource changed after that date.");
    /// `If-None-Match: *` did not stop a write over an existing resource.
    CREATE_ONLY_IGNORED = ("create-only-not-enforced", Error, 9110, "13.1.2",
        "Answer 412 to a PUT with If-None-Match: * when the resource exists: the client asked to create only.");
    /// A refused write changed the resource anyway.
    WRITE_DESPITE_412 = ("write-despite-precondition-failure", Error, 9110, "13.1.1",
        "Evaluate preconditions before performing the write, not after.");
    /// Writes without preconditions are accepted.
    NO_428_POLICY = ("unconditional-write-accepted", Info, 6585, "3",
        "To make lost updates impossible, answer 428 Precondition Required to writes without If-Match.");
    /// Writes without preconditions are refused with 428.
    REQUIRES_PRECONDITIONS = ("preconditions-required", Info, 6585, "3",
        "Nothing to fix; clients must send If-Match (or If-None-Match: * to create).");
    /// Both racing writers succeeded.
    LOST_UPDATE = ("lost-update", Error, 9110, "13.1.1",
        "Make the compare (If-Match) and the write one atomic step, such as UPDATE … WHERE version = $1.");
    /// Neither racing writer succeeded.
    RACE_BOTH_REFUSED = ("conditional-write-refused", Error, 9110, "13.1.1",
        "Accept a write whose If-Match names the current tag.");
    /// The write checks could not run.
    WRITES_SKIPPED = ("writes-skipped", Info, 9110, "9.3.4",
        "Nothing to fix if the resource is read-only; run --unsafe on a resource that accepts PUT.");
}

/// The rule with this id.
///
/// ```
/// use revalidate_checker::{Severity, finding::rule};
///
/// let ignored = rule("if-none-match-ignored").unwrap();
/// assert_eq!(ignored.severity, Severity::Warning);
/// assert_eq!(ignored.section.link(), "https://www.rfc-editor.org/rfc/rfc9110#section-13.1.2");
/// assert!(rule("no-such-rule").is_none());
/// ```
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}
