//! Criterion benchmarks of the hot paths: parsing a request's preconditions
//! and evaluating them. Figures are recorded in BENCHMARKS.md.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use revalidate_core::{EntityTag, EntityTagList, HttpDate, Preconditions, Validators, not_modified_headers};

const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";

fn request(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    // Typical browser headers around the conditionals, so lookups are realistic.
    map.insert("host", HeaderValue::from_static("example.com"));
    map.insert(
        "user-agent",
        HeaderValue::from_static("Mozilla/5.0 (X11; Linux x86_64)"),
    );
    map.insert(
        "accept",
        HeaderValue::from_static("text/html,application/xhtml+xml"),
    );
    map.insert(
        "accept-encoding",
        HeaderValue::from_static("gzip, deflate, br, zstd"),
    );
    for (name, value) in fields {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn bench_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let cases = [
        ("unconditional", request(&[])),
        (
            "inm_single",
            request(&[("if-none-match", "\"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"")]),
        ),
        (
            "inm_list_4",
            request(&[("if-none-match", "W/\"a\", \"b\", \"c,d\", \"3f9a2b1c5d7e8f90\"")]),
        ),
        ("ims", request(&[("if-modified-since", LM)])),
        (
            "if_match_ius",
            request(&[("if-match", "\"v1\""), ("if-unmodified-since", LM)]),
        ),
        (
            "range_if_range",
            request(&[("range", "bytes=0-99"), ("if-range", "\"v1\"")]),
        ),
    ];
    for (name, headers) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| Preconditions::from_headers(black_box(headers)));
        });
    }
    group.bench_function("entity_tag", |b| {
        b.iter(|| EntityTag::parse(black_box(b"W/\"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"")));
    });
    group.bench_function("entity_tag_list_4", |b| {
        b.iter(|| EntityTagList::parse(black_box(b"W/\"a\", \"b\", \"c,d\", \"3f9a2b1c5d7e8f90\"")));
    });
    group.bench_function("http_date_imf", |b| {
        b.iter(|| HttpDate::parse(black_box(LM.as_bytes())));
    });
    group.finish();
}

fn bench_evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
    let current = Validators::new()
        .with_etag(EntityTag::strong("3f9a2b1c5d7e8f90a1b2c3d4e5f60718").unwrap())
        .with_last_modified(LM.parse().unwrap());
    let cases = [
        ("unconditional", Method::GET, request(&[])),
        (
            "inm_hit_304",
            Method::GET,
            request(&[("if-none-match", "\"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"")]),
        ),
        (
            "inm_miss_200",
            Method::GET,
            request(&[("if-none-match", "\"0000\"")]),
        ),
        ("ims_304", Method::GET, request(&[("if-modified-since", LM)])),
        (
            "if_match_put_412",
            Method::PUT,
            request(&[("if-match", "\"stale\"")]),
        ),
    ];
    for (name, method, headers) in &cases {
        let pre = Preconditions::from_headers(headers);
        group.bench_function(*name, |b| {
            b.iter(|| black_box(&pre).evaluate(method, &current, now));
        });
        group.bench_function(format!("{name}_parse_and_evaluate"), |b| {
            b.iter(|| Preconditions::from_headers(black_box(headers)).evaluate(method, &current, now));
        });
    }
    group.finish();
}

fn bench_not_modified(c: &mut Criterion) {
    let mut ok = HeaderMap::new();
    for (name, value) in [
        ("date", "Wed, 18 Feb 2026 00:00:00 GMT"),
        ("etag", "\"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\""),
        ("last-modified", LM),
        ("cache-control", "public, max-age=3600"),
        ("vary", "Accept-Encoding"),
        ("content-type", "text/css; charset=utf-8"),
        ("content-length", "1024"),
        ("accept-ranges", "bytes"),
    ] {
        ok.insert(name, HeaderValue::from_static(value));
    }
    c.bench_function("not_modified_headers", |b| {
        b.iter(|| not_modified_headers(black_box(&ok)));
    });
}

/// Side by side with the `headers` crate (hyperium), the typed headers most
/// Rust servers use: decode the field, then answer "304 or not" for GET.
/// It leaves the §13.2.2 order to its caller, so only single fields compare.
fn bench_peer_headers_crate(c: &mut Criterion) {
    use headers::{HeaderMapExt, IfModifiedSince, IfNoneMatch};

    let mut group = c.benchmark_group("peer");
    let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
    let tag_text = "\"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"";
    let current = Validators::new()
        .with_etag(EntityTag::strong("3f9a2b1c5d7e8f90a1b2c3d4e5f60718").unwrap())
        .with_last_modified(LM.parse().unwrap());
    let their_etag: headers::ETag = tag_text.parse().unwrap();
    let their_lm: std::time::SystemTime = current.last_modified().unwrap().to_system_time();

    let inm = request(&[("if-none-match", "W/\"a\", \"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"")]);
    group.bench_function("inm_list_304/revalidate", |b| {
        b.iter(|| Preconditions::from_headers(black_box(&inm)).evaluate(&Method::GET, &current, now));
    });
    group.bench_function("inm_list_304/headers", |b| {
        b.iter(|| {
            black_box(&inm)
                .typed_get::<IfNoneMatch>()
                .is_some_and(|h| !h.precondition_passes(&their_etag))
        });
    });
    let ims = request(&[("if-modified-since", LM)]);
    group.bench_function("ims_304/revalidate", |b| {
        b.iter(|| Preconditions::from_headers(black_box(&ims)).evaluate(&Method::GET, &current, now));
    });
    group.bench_function("ims_304/headers", |b| {
        b.iter(|| {
            black_box(&ims)
                .typed_get::<IfModifiedSince>()
                .is_some_and(|h| !h.is_modified(their_lm))
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_evaluate,
    bench_not_modified,
    bench_peer_headers_crate
);
criterion_main!(benches);
