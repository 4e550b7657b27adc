//! `Cache-Control` syntax and conflicts
//! ([RFC 9111 §5.2](https://www.rfc-editor.org/rfc/rfc9111#section-5.2)),
//! `Expires` ([§5.3](https://www.rfc-editor.org/rfc/rfc9111#section-5.3))
//! and `Vary` sanity ([§4.1](https://www.rfc-editor.org/rfc/rfc9111#section-4.1)).
//!
//! The meaning of `Cache-Control` comes from the core's
//! [`ResponseDirectives`]. The core skips what does not follow the grammar
//! without saying so, so [`lex`] splits the field once more only to report
//! those elements; it decides nothing about caching.

use http::header::{CACHE_CONTROL, EXPIRES};
use revalidate_core::HttpDate;
use revalidate_core::cache::ResponseDirectives;
use revalidate_core::cache::directives::delta_seconds;

use super::{Findings, vary_set};
use crate::finding;
use crate::model::RecordedResponse;

/// Directives whose argument is delta-seconds.
const SECONDS: [&str; 4] = ["max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"];
/// Directives that take no argument.
const BARE: [&str; 7] = [
    "no-store",
    "public",
    "must-revalidate",
    "proxy-revalidate",
    "must-understand",
    "no-transform",
    "immutable",
];

/// One element of a `Cache-Control` line: its name as written and its
/// argument as written (quotes kept), if any.
#[derive(Debug, PartialEq, Eq)]
struct Element {
    name: String,
    argument: Option<String>,
}

/// Splits a field value at commas outside quoted strings.
fn lex(line: &str) -> Vec<Element> {
    let mut elements = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    let mut push = |part: &str| {
        let part = part.trim();
        if part.is_empty() {
            return;
        }
        let (name, argument) = match part.split_once('=') {
            Some((name, argument)) => (name, Some(argument.to_owned())),
            None => (part, None),
        };
        elements.push(Element {
            name: name.to_owned(),
            argument,
        });
    };
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(&line[start..]);
    elements
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn check_syntax(response: &RecordedResponse, out: &mut Findings) {
    let mut seen: Vec<(String, Option<String>)> = Vec::new();
    for line in response.headers.get_all(CACHE_CONTROL) {
        let text = String::from_utf8_lossy(line.as_bytes());
        for element in lex(&text) {
            if !is_token(&element.name) {
                out.push(
                    &finding::CACHE_CONTROL_SYNTAX,
                    format!(
                        "{:?} is not a directive (a name is a token, with no space before =); caches ignore it",
                        element.name
                    ),
                );
                continue;
            }
            let name = element.name.to_ascii_lowercase();
            if SECONDS.contains(&name.as_str()) {
                match element.argument.as_deref() {
                    None => out.push(
                        &finding::CACHE_CONTROL_SYNTAX,
                        format!("{name} needs a number of seconds"),
                    ),
                    Some(arg) if arg.starts_with('"') => out.push(
                        &finding::CACHE_CONTROL_SYNTAX,
                        format!("{name}={arg}: send delta-seconds unquoted (§5.2.2: the token form)"),
                    ),
                    Some(arg) if delta_seconds(arg).is_none() => out.push(
                        &finding::CACHE_CONTROL_SYNTAX,
                        format!("{name}={arg} is not delta-seconds (digits only); caches treat the response as stale"),
                    ),
                    Some(_) => {}
                }
            } else if BARE.contains(&name.as_str())
                && let Some(arg) = &element.argument
            {
                out.push(
                    &finding::CACHE_CONTROL_SYNTAX,
                    format!("{name} takes no argument, but has ={arg}"),
                );
            } else if matches!(name.as_str(), "pre-check" | "post-check") {
                out.push(
                    &finding::CACHE_CONTROL_SYNTAX,
                    format!("{name} is an old Internet Explorer extension that no cache acts on"),
                );
            }
            if let Some((_, earlier)) = seen.iter().find(|(n, _)| *n == name) {
                out.push(
                    &finding::CACHE_CONTROL_CONFLICT,
                    format!(
                        "{name} appears twice ({} and {}); caches use the first or treat the response as stale",
                        earlier.as_deref().unwrap_or("bare"),
                        element.argument.as_deref().unwrap_or("bare")
                    ),
                );
            } else {
                seen.push((name, element.argument));
            }
        }
    }
}

fn check_conflicts(directives: &ResponseDirectives, out: &mut Findings) {
    if directives.no_store {
        let mut overridden = Vec::new();
        if directives.max_age.is_some() {
            overridden.push("max-age");
        }
        if directives.s_maxage.is_some() {
            overridden.push("s-maxage");
        }
        if directives.public {
            overridden.push("public");
        }
        if directives.immutable {
            overridden.push("immutable");
        }
        if directives.must_revalidate {
            overridden.push("must-revalidate");
        }
        if !overridden.is_empty() {
            out.push(
                &finding::CACHE_CONTROL_CONFLICT,
                format!(
                    "no-store forbids storing, so {} mean nothing",
                    overridden.join(", ")
                ),
            );
        }
    }
    if directives.public && directives.private.is_some() {
        out.push(
            &finding::CACHE_CONTROL_CONFLICT,
            "public and private together: shared caches cannot tell whether they may store it",
        );
    }
    if directives
        .private
        .as_ref()
        .is_some_and(revalidate_core::cache::FieldNames::is_all)
        && directives.s_maxage.is_some()
    {
        out.push(
            &finding::CACHE_CONTROL_CONFLICT,
            "s-maxage is for shared caches, which private forbids to store the response",
        );
    }
    if directives.immutable
        && directives
            .no_cache
            .as_ref()
            .is_some_and(revalidate_core::cache::FieldNames::is_all)
    {
        out.push(
            &finding::CACHE_CONTROL_CONFLICT,
            "immutable (never revalidate while fresh) with no-cache (always revalidate)",
        );
    }
    if directives.immutable && directives.max_age.is_none() && directives.s_maxage.is_none() {
        out.push(
            &finding::CACHE_CONTROL_CONFLICT,
            "immutable without max-age: it only applies while the response is fresh, and nothing says for how long",
        );
    }
}

pub(super) fn check(initial: &RecordedResponse, out: &mut Findings) {
    check_syntax(initial, out);
    let directives = ResponseDirectives::from_headers(&initial.headers);
    check_conflicts(&directives, out);
    // An invalid Expires next to max-age is the common HTTP/1.0 fallback
    // (`Expires: 0`) and harmless: max-age wins (RFC 9111 §5.3).
    if initial.has("expires")
        && directives.max_age.is_none()
        && directives.s_maxage.is_none()
        && let Err(why) = HttpDate::from_field(initial.headers.get_all(EXPIRES))
    {
        out.push(
            &finding::EXPIRES_MALFORMED,
            format!(
                "Expires {:?}: {why}; caches take it as already expired",
                initial.joined("expires").unwrap_or_default()
            ),
        );
    }
    let vary = vary_set(initial);
    if vary.contains("*") {
        out.push(
            &finding::VARY_STAR,
            "Vary: * means no stored copy ever matches a later request",
        );
    }
    if vary.contains("user-agent") {
        out.push(
            &finding::VARY_FRAGMENTS,
            "Vary: User-Agent keeps one copy per browser version string",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lex_keeps_commas_inside_quotes() {
        let elements = lex(r#"no-cache="set-cookie, x-a", max-age=60"#);
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0].name, "no-cache");
        assert_eq!(elements[1].argument.as_deref(), Some("60"));
    }
}
