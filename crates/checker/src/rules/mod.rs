//! The rules: pure functions from a [`Recording`] to [`Finding`]s.
//!
//! Each submodule covers one part of the issue and pushes at most one
//! finding per rule and URL (several occurrences go into one message).
//! Every judgement about entity-tags, dates, `Cache-Control`, freshness,
//! `Vary` and the 304 header set comes from `revalidate-core`. [`evidence`]
//! says which exchanges stand behind a finding of each rule, for reports.

mod cdn;
mod conditional;
mod encoding;
pub mod evidence;
mod freshness;
mod headers;
mod nodes;
mod preconditions;
mod requests;
mod validators;
mod writes;

use std::collections::BTreeSet;

use revalidate_core::EntityTag;

use crate::finding::{self, Finding, Rule};
use crate::model::{ProbeKind, RecordedResponse, Recording};

/// Every finding for one recording, errors first, then warnings, then
/// explanations; within a severity in rule order.
pub fn evaluate(recording: &Recording) -> Vec<Finding> {
    let mut out = Findings::default();
    let Some(initial) = recording.initial() else {
        return Vec::new();
    };
    if initial.status.is_redirection() {
        let location = initial.get("location").unwrap_or("(no Location field)");
        out.push(
            &finding::REDIRECT,
            format!(
                "{} redirects to {location}; nothing else was checked",
                initial.status
            ),
        );
        return out.finish();
    }
    if !initial.status.is_success() {
        out.push(
            &finding::UNEXPECTED_STATUS,
            format!("a plain GET answers {}; nothing else was checked", initial.status),
        );
        return out.finish();
    }
    let failed: Vec<String> = recording
        .exchanges
        .iter()
        .filter_map(|e| e.response.as_ref().err().map(|why| format!("{} ({why})", e.kind)))
        .collect();
    if !failed.is_empty() {
        out.push(
            &finding::PROBE_FAILED,
            format!("no answer to: {}", failed.join("; ")),
        );
    }
    validators::check(recording, initial, &mut out);
    conditional::check(recording, initial, &mut out);
    preconditions::check(recording, initial, &mut out);
    requests::check(recording, initial, &mut out);
    encoding::check(recording, initial, &mut out);
    headers::check(initial, &mut out);
    freshness::check(recording, initial, &mut out);
    nodes::check(recording, initial, &mut out);
    cdn::check(recording, initial, &mut out);
    writes::check(recording, initial, &mut out);
    out.finish()
}

/// Findings being collected: one per rule, later messages appended.
#[derive(Default)]
pub(crate) struct Findings {
    items: Vec<Finding>,
}

impl Findings {
    /// Adds `message` under `rule`, joining it to an earlier finding of the
    /// same rule.
    pub(crate) fn push(&mut self, rule: &'static Rule, message: impl Into<String>) {
        let message = message.into();
        if let Some(existing) = self.items.iter_mut().find(|f| f.rule.id == rule.id) {
            if !existing.message.contains(&message) {
                existing.message.push_str("; ");
                existing.message.push_str(&message);
            }
        } else {
            self.items.push(Finding::new(rule, message));
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        let order = |f: &Finding| {
            let index = finding::RULES
                .iter()
                .position(|r| r.id == f.rule.id)
                .unwrap_or(usize::MAX);
            (f.rule.severity, index)
        };
        self.items.sort_by_key(order);
        self.items
    }
}

/// The response's single valid entity-tag, if it has one.
pub(crate) fn etag_of(response: &RecordedResponse) -> Option<EntityTag> {
    crate::plan::validators(response).etag().cloned()
}

/// The `ETag` field as sent (all lines joined), for messages.
pub(crate) fn etag_text(response: &RecordedResponse) -> String {
    response.joined("etag").unwrap_or_else(|| "no ETag".to_owned())
}

/// The names a response's `Vary` lists, lowercased and sorted; `{"*"}` for `Vary: *`.
pub(crate) fn vary_set(response: &RecordedResponse) -> BTreeSet<String> {
    match revalidate_core::cache::vary_names(&response.headers) {
        Some(names) => names.iter().map(|n| n.as_str().to_owned()).collect(),
        None => BTreeSet::from(["*".to_owned()]),
    }
}

/// The content coding of a response, lowercased; `identity` when none.
pub(crate) fn coding_of(response: &RecordedResponse) -> String {
    response
        .joined("content-encoding")
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "identity".to_owned())
}

/// Whether the ETag field changed between two responses for the same bytes
/// would be a fault: both sent one, and they differ.
pub(crate) fn tags_differ(a: &RecordedResponse, b: &RecordedResponse) -> bool {
    match (a.joined("etag"), b.joined("etag")) {
        (Some(x), Some(y)) => x != y,
        (None, None) => false,
        _ => true,
    }
}

/// Whether the probe of `kind` answered with this status.
pub(crate) fn answered(recording: &Recording, kind: &ProbeKind, status: u16) -> bool {
    recording
        .response(kind)
        .is_some_and(|r| r.status.as_u16() == status)
}
