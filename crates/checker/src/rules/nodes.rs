//! The same request to every node: the same bytes must come with the same
//! validators ([RFC 9110 §8.8](https://www.rfc-editor.org/rfc/rfc9110#section-8.8)),
//! and a tag from one node must revalidate on another.

use http::StatusCode;

use super::{Findings, etag_of, etag_text, tags_differ};
use crate::finding;
use crate::model::{ProbeKind, RecordedResponse, Recording};

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let nodes: Vec<_> = recording
        .options
        .backends
        .iter()
        .filter_map(|addr| {
            recording
                .response(&ProbeKind::Node(*addr))
                .filter(|r| r.status.is_success())
                .map(|r| (*addr, r))
        })
        .collect();
    let Some((first_addr, first)) = nodes.first() else {
        return;
    };
    for (addr, node) in nodes.iter().skip(1) {
        if node.same_body(first) {
            if tags_differ(first, node) {
                out.push(
                    &finding::ETAG_DIFFERS_BETWEEN_NODES,
                    format!(
                        "the same {} bytes have ETag {} on {first_addr} and {} on {addr}",
                        first.body_len,
                        etag_text(first),
                        etag_text(node)
                    ),
                );
            }
            if first.joined("last-modified") != node.joined("last-modified") {
                out.push(
                    &finding::LAST_MODIFIED_DIFFERS_BETWEEN_NODES,
                    format!(
                        "the same bytes have Last-Modified {} on {first_addr} and {} on {addr}",
                        first.joined("last-modified").unwrap_or_else(|| "none".to_owned()),
                        node.joined("last-modified").unwrap_or_else(|| "none".to_owned())
                    ),
                );
            }
        } else {
            out.push(
                &finding::CONTENT_DIFFERS_BETWEEN_NODES,
                format!(
                    "{first_addr} sends {} bytes ({}), {addr} sends {} bytes ({})",
                    first.body_len,
                    etag_text(first),
                    node.body_len,
                    etag_text(node)
                ),
            );
        }
    }
    let Some(url_tag) = etag_of(initial) else {
        return;
    };
    for (addr, node) in &nodes {
        let Some(answer) = recording.response(&ProbeKind::NodeRevalidate(*addr)) else {
            continue;
        };
        let node_tag = etag_of(node);
        if answer.status == StatusCode::NOT_MODIFIED && !node.same_body(initial) {
            out.push(
                &finding::NOT_MODIFIED_FOR_CHANGED,
                format!(
                    "{addr} answers 304 to {url_tag} although it serves other content ({})",
                    etag_text(node)
                ),
            );
        } else if answer.status.is_success()
            && node.same_body(initial)
            && node_tag.as_ref().is_some_and(|t| t.weak_eq(&url_tag))
        {
            out.push(
                &finding::NODE_REVALIDATION,
                format!(
                    "{addr} answers {} to If-None-Match: {url_tag}, its own tag",
                    answer.status
                ),
            );
        }
    }
}
