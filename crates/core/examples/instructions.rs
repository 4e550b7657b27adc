//! Runs one benchmark scenario N times, for instruction counting under
//! `valgrind --tool=callgrind` (see `scripts/bench-core-instructions.sh`).
//! Counting instructions is repeatable on a shared, noisy machine where
//! wall-clock figures are not.
//!
//! Usage: `instructions SCENARIO N`. Scenarios: `inm-list-304`,
//! `inm-list-304-headers`, `ims-304`, `ims-304-headers`, `unconditional`.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::process::ExitCode;

use headers::{HeaderMapExt, IfModifiedSince, IfNoneMatch};
use http::{HeaderMap, HeaderValue, Method};
use revalidate_core::{EntityTag, HttpDate, Preconditions, Validators};

const LM: &str = "Tue, 15 Nov 1994 12:45:26 GMT";
const TAG: &str = "3f9a2b1c5d7e8f90a1b2c3d4e5f60718";

fn request(name: &'static str, value: &'static str) -> HeaderMap {
    let mut map = HeaderMap::new();
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
    if !name.is_empty() {
        map.insert(name, HeaderValue::from_static(value));
    }
    map
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(scenario), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: instructions SCENARIO N");
        return ExitCode::from(2);
    };
    let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
    let current = Validators::new()
        .with_etag(EntityTag::strong(TAG).unwrap())
        .with_last_modified(LM.parse().unwrap());
    let their_etag: headers::ETag = format!("\"{TAG}\"").parse().unwrap();
    let their_lm = current.last_modified().unwrap().to_system_time();
    let inm = request("if-none-match", "W/\"a\", \"3f9a2b1c5d7e8f90a1b2c3d4e5f60718\"");
    let ims = request("if-modified-since", LM);
    let plain = request("", "");
    let mut hits = 0u64;
    for _ in 0..n {
        let not_modified = match scenario.as_str() {
            "inm-list-304" => {
                Preconditions::from_headers(black_box(&inm)).evaluate(&Method::GET, &current, now)
                    == revalidate_core::Outcome::NotModified
            }
            "inm-list-304-headers" => black_box(&inm)
                .typed_get::<IfNoneMatch>()
                .is_some_and(|h| !h.precondition_passes(&their_etag)),
            "ims-304" => {
                Preconditions::from_headers(black_box(&ims)).evaluate(&Method::GET, &current, now)
                    == revalidate_core::Outcome::NotModified
            }
            "ims-304-headers" => black_box(&ims)
                .typed_get::<IfModifiedSince>()
                .is_some_and(|h| !h.is_modified(their_lm)),
            "unconditional" => {
                Preconditions::from_headers(black_box(&plain)).evaluate(&Method::GET, &current, now)
                    == revalidate_core::Outcome::NotModified
            }
            other => {
                eprintln!("unknown scenario {other}");
                return ExitCode::from(2);
            }
        };
        hits += u64::from(not_modified);
    }
    println!("{scenario} {n} not_modified={hits}");
    ExitCode::SUCCESS
}
