//! Freshness in words: how long a browser and a shared cache may reuse the
//! response, and where that comes from
//! ([RFC 9111 §4.2](https://www.rfc-editor.org/rfc/rfc9111#section-4.2)).
//! The numbers come from the core's [`freshness()`].

use revalidate_core::HttpDate;
use revalidate_core::cache::{CacheConfig, Freshness, LifetimeSource, Stored, freshness};

use super::Findings;
use crate::finding;
use crate::model::{ProbeKind, RecordedResponse, Recording};

/// A duration in words: `90 seconds`, `10 minutes`, `about 3 hours`, `365 days`.
pub(crate) fn duration(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    for (unit, size) in [("day", 86_400), ("hour", 3_600), ("minute", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) && (unit != "minute" || seconds >= 120) {
            return plural(seconds / size, unit);
        }
    }
    let (unit, size) = match seconds {
        0..120 => return plural(seconds, "second"),
        120..7_200 => ("minute", 60),
        7_200..172_800 => ("hour", 3_600),
        _ => ("day", 86_400),
    };
    format!("about {}", plural((seconds + size / 2) / size, unit))
}

/// How a cache of one kind may reuse the response, as a clause.
fn reuse(f: &Freshness) -> String {
    let lifetime = duration(f.lifetime);
    let from = match f.source {
        LifetimeSource::SMaxAge => "s-maxage".to_owned(),
        LifetimeSource::MaxAge => "max-age".to_owned(),
        LifetimeSource::Expires => "Expires minus Date".to_owned(),
        LifetimeSource::Heuristic => {
            "a heuristic: no explicit lifetime, so caches guess 10 % of the time since Last-Modified"
                .to_owned()
        }
        LifetimeSource::Override => "a lifetime the cache's operator configured".to_owned(),
        LifetimeSource::None => {
            return "may store it but must revalidate before every reuse (no explicit lifetime and no Last-Modified to guess from)".to_owned();
        }
    };
    if f.lifetime == 0 {
        return format!("must revalidate before every reuse (a lifetime of 0 from {from})");
    }
    let mut text = format!("may reuse it without asking for {lifetime} (from {from})");
    if f.age > 0 {
        text.push_str(&format!(
            "; it is already {} old, so {} remain",
            duration(f.age),
            duration(f.remaining())
        ));
    }
    text
}

pub(super) fn check(recording: &Recording, initial: &RecordedResponse, out: &mut Findings) {
    let exchange = recording.exchange(&ProbeKind::Initial);
    let (request_time, response_time) = exchange.map_or((HttpDate::UNIX_EPOCH, HttpDate::UNIX_EPOCH), |e| {
        (e.request_time, e.response_time)
    });
    let stored = Stored {
        status: initial.status,
        headers: &initial.headers,
        request_time,
        response_time,
    };
    let browser = freshness(&CacheConfig::private(), &stored, response_time);
    let shared = freshness(&CacheConfig::shared(), &stored, response_time);
    let d = &browser.directives;
    let mut sentences = Vec::new();
    if d.no_store {
        sentences.push("No cache may store it (no-store): every use downloads it again.".to_owned());
    } else {
        if d.no_cache
            .as_ref()
            .is_some_and(revalidate_core::cache::FieldNames::is_all)
        {
            sentences.push(
                "Browsers and shared caches may store it but must revalidate before every reuse (no-cache)"
                    .to_owned()
                    + if initial.has("etag") || initial.has("last-modified") {
                        "; with its validators that is a cheap 304."
                    } else {
                        "; it has no validators, so each revalidation downloads it again."
                    },
            );
        } else {
            sentences.push(format!("A browser {}.", reuse(&browser)));
            if shared
                .directives
                .private
                .as_ref()
                .is_some_and(revalidate_core::cache::FieldNames::is_all)
            {
                sentences.push("Shared caches (CDNs, proxies) must not store it (private).".to_owned());
            } else {
                sentences.push(format!("A shared cache {}.", reuse(&shared)));
            }
            if let Some(swr) = shared.directives.stale_while_revalidate {
                sentences.push(format!(
                    "After that, caches may serve it stale for {} while they revalidate in the background (stale-while-revalidate).",
                    duration(swr)
                ));
            }
            if let Some(sie) = shared.directives.stale_if_error {
                sentences.push(format!(
                    "If the origin fails, caches may serve it stale for {} (stale-if-error).",
                    duration(sie)
                ));
            }
            if d.immutable {
                sentences
                    .push("While fresh, browsers skip revalidation even on reload (immutable).".to_owned());
            }
            if d.must_revalidate {
                sentences.push(
                    "Once stale, it must not be served without revalidation (must-revalidate).".to_owned(),
                );
            }
        }
        let heuristic = [&browser, &shared]
            .iter()
            .any(|f| f.source == LifetimeSource::Heuristic && f.lifetime > 0);
        if heuristic && d.no_cache.is_none() {
            out.push(
                &finding::FRESHNESS_HEURISTIC,
                format!(
                    "no Cache-Control max-age or Expires: caches guess a lifetime of {} from Last-Modified, so changes may go unseen that long",
                    duration(browser.lifetime.max(shared.lifetime))
                ),
            );
        }
    }
    out.push(&finding::FRESHNESS, sentences.join(" "));
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        for (seconds, words) in [
            (0, "0 seconds"),
            (1, "1 second"),
            (90, "90 seconds"),
            (600, "10 minutes"),
            (120, "2 minutes"),
            (3_600, "1 hour"),
            (5_000, "about 83 minutes"),
            (10_000, "about 3 hours"),
            (86_400, "1 day"),
            (200_000, "about 2 days"),
            (31_536_000, "365 days"),
        ] {
            assert_eq!(duration(seconds), words, "{seconds}");
        }
    }
}
