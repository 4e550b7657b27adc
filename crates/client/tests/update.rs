//! The optimistic-update helper: `update` (re-fetch, merge, retry after
//! 412) and `create` (`If-None-Match: *`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use http::HeaderMap;
use revalidate_client::update::{
    ReadVerdict, RetryPolicy, Unsupported, Update, UpdateError, Updater, WriteVerdict, Written,
    classify_read, classify_write,
};
use serde_json::{Value, json};

use crate::support::{Served, serve_router};

fn updater() -> Updater {
    Updater::new().unwrap()
}

fn increment(current: Option<Value>) -> Result<Update<Value>, &'static str> {
    let n = current.as_ref().and_then(|v| v["n"].as_u64()).unwrap_or(0);
    Ok(Update::Replace(json!({ "n": n + 1 })))
}

/// (case, status, ETag lines, verdict)
type ReadCase<'a> = (&'a str, u16, Vec<&'a str>, ReadVerdict);

#[test]
fn read_verdicts() {
    let cases: Vec<ReadCase<'_>> = vec![
        (
            "strong tag",
            200,
            vec!["\"a\""],
            ReadVerdict::Found("\"a\"".parse().unwrap()),
        ),
        ("missing", 404, vec![], ReadVerdict::Missing),
        ("gone", 410, vec![], ReadVerdict::Missing),
        (
            "no tag",
            200,
            vec![],
            ReadVerdict::Unsupported(Unsupported::NoEntityTag),
        ),
        (
            "unquoted tag is invalid",
            200,
            vec!["abc"],
            ReadVerdict::Unsupported(Unsupported::NoEntityTag),
        ),
        (
            "two ETag lines",
            200,
            vec!["\"a\"", "\"b\""],
            ReadVerdict::Unsupported(Unsupported::NoEntityTag),
        ),
        (
            "weak tag",
            200,
            vec!["W/\"a\""],
            ReadVerdict::Unsupported(Unsupported::WeakEntityTag("W/\"a\"".parse().unwrap())),
        ),
        ("server error", 500, vec!["\"a\""], ReadVerdict::Failed),
        ("forbidden", 403, vec![], ReadVerdict::Failed),
    ];
    for (case, status, tags, expected) in cases {
        let mut headers = HeaderMap::new();
        for tag in tags {
            headers.append("etag", tag.parse().unwrap());
        }
        let verdict = classify_read(StatusCode::from_u16(status).unwrap(), &headers);
        assert_eq!(verdict, expected, "{case}");
    }
}

#[test]
fn write_verdicts() {
    for (status, expected) in [
        (200, WriteVerdict::Written),
        (201, WriteVerdict::Written),
        (204, WriteVerdict::Written),
        (412, WriteVerdict::Conflict),
        (428, WriteVerdict::Failed),
        (409, WriteVerdict::Failed),
        (500, WriteVerdict::Failed),
    ] {
        assert_eq!(
            classify_write(StatusCode::from_u16(status).unwrap()),
            expected,
            "{status}"
        );
    }
}

/// Decorrelated jitter: each wait lies in `[base, min(cap, 3 × the
/// previous)]`, so the lower end never grows, and runs differ.
#[test]
fn delays_are_decorrelated_jitter_within_base_and_cap() {
    let policy = RetryPolicy {
        max_attempts: 8,
        max_elapsed: Duration::from_secs(600),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    };
    let mut short_after_long = false;
    for _ in 0..200 {
        let waits: Vec<Duration> = policy.delays(Instant::now()).collect();
        assert_eq!(waits.len(), 7, "one wait between each two of 8 attempts");
        let mut previous = policy.base_delay;
        for (n, wait) in waits.iter().enumerate() {
            let upper = (previous * 3).min(policy.max_delay);
            assert!(
                *wait >= policy.base_delay && *wait <= upper,
                "wait {n}: {wait:?} outside [10ms, {upper:?}]"
            );
            short_after_long |= previous >= Duration::from_millis(60) && *wait < Duration::from_millis(20);
            previous = *wait;
        }
    }
    assert!(short_after_long, "a long wait may be followed by a short one");
    let a: Vec<Duration> = policy.delays(Instant::now()).collect();
    let b: Vec<Duration> = policy.delays(Instant::now()).collect();
    assert_ne!(a, b, "jitter");
}

#[test]
fn delays_stop_at_the_time_bound() {
    let policy = RetryPolicy {
        max_attempts: 1000,
        max_elapsed: Duration::from_millis(200),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    };
    let waits: Vec<Duration> = policy.delays(Instant::now()).collect();
    let total: Duration = waits.iter().sum();
    assert!(total <= Duration::from_millis(200), "{total:?}");
    assert!(waits.len() < 20, "{} waits", waits.len());
    // An update that began long ago gets no wait at all.
    let long_ago = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
    assert_eq!(policy.delays(long_ago).count(), 0);
    // max_attempts of 0 or 1: no retry.
    let once = RetryPolicy {
        max_attempts: 0,
        ..policy
    };
    assert_eq!(once.delays(Instant::now()).count(), 0);
}

/// 16 updaters each add 1 ten times to the same counter on a real
/// `revalidate serve` (SQLite): the final count is exactly the number of
/// successful updates, so no update was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updaters_lose_no_update() {
    const UPDATERS: usize = 16;
    const EACH: usize = 10;
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/counters/shared");
    let created = updater().create(&url, json!({ "n": 0 })).await.unwrap();
    assert_eq!(created.written, Written::Created);

    let mut tasks = Vec::new();
    for _ in 0..UPDATERS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let updater = updater();
            let (mut ok, mut attempts) = (0u64, 0u64);
            for _ in 0..EACH {
                match updater.update(&url, increment).await {
                    Ok(updated) => {
                        assert_eq!(updated.written, Written::Replaced);
                        ok += 1;
                        attempts += u64::from(updated.attempts);
                    }
                    Err(UpdateError::AttemptsExhausted { .. }) => {}
                    Err(other) => panic!("unexpected error: {other}"),
                }
            }
            (ok, attempts)
        }));
    }
    let (mut successes, mut attempts) = (0, 0);
    for task in tasks {
        let (ok, tried) = task.await.unwrap();
        successes += ok;
        attempts += tried;
    }
    let final_value: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(final_value["n"].as_u64().unwrap(), successes, "lost updates");
    assert_eq!(successes, (UPDATERS * EACH) as u64, "every updater got through");
    assert!(attempts >= successes);
}

#[tokio::test]
async fn update_of_missing_resource_creates_it_with_if_none_match_star() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/counters/fresh");
    let first = updater().update(&url, increment).await.unwrap();
    assert_eq!(first.written, Written::Created);
    assert_eq!(first.value, Some(json!({ "n": 1 })));
    let second = updater().update(&url, increment).await.unwrap();
    assert_eq!(second.written, Written::Replaced);
    assert_eq!(second.value, Some(json!({ "n": 2 })));
    assert_ne!(first.etag, second.etag);
    assert!(second.etag.unwrap().is_strong());
}

#[tokio::test]
async fn keep_writes_nothing() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/notes/a");
    let created = updater().create(&url, json!({ "text": "v1" })).await.unwrap();
    let kept = updater()
        .update(&url, |_: Option<Value>| Ok::<_, ()>(Update::Keep))
        .await
        .unwrap();
    assert_eq!(kept.written, Written::Unchanged);
    assert_eq!(kept.etag, created.etag);
    assert_eq!(kept.value, Some(json!({ "text": "v1" })));
}

#[tokio::test]
async fn closure_refusal_is_returned_and_nothing_written() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/notes/a");
    let created = updater().create(&url, json!({ "text": "v1" })).await.unwrap();
    let refused = updater()
        .update(&url, |_: Option<Value>| Err::<Update<Value>, _>("no"))
        .await
        .unwrap_err();
    assert!(matches!(refused, UpdateError::Rejected("no")), "{refused}");
    let again = updater()
        .update(&url, |_: Option<Value>| Ok::<_, ()>(Update::Keep))
        .await
        .unwrap();
    assert_eq!(again.etag, created.etag);
}

#[tokio::test]
async fn create_only_conflict_is_already_exists() {
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/notes/once");
    let first = updater().create(&url, json!({ "text": "first" })).await.unwrap();
    assert_eq!(first.written, Written::Created);
    let second = updater()
        .create(&url, json!({ "text": "second" }))
        .await
        .unwrap_err();
    let UpdateError::AlreadyExists { current, problem, .. } = second else {
        panic!("expected AlreadyExists, got {second}");
    };
    assert_eq!(current, first.etag);
    let problem = problem.expect("problem+json body");
    assert_eq!(problem.status, Some(412));
    assert_eq!(
        problem.extensions["current_etag"],
        first.etag.unwrap().to_string()
    );
    let stored: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(stored, json!({ "text": "first" }));
}

#[tokio::test]
async fn problem_details_are_surfaced() {
    let origin = Served::start(&[]).await;
    let error = updater()
        .update(&origin.url("/api/Bad/x"), increment)
        .await
        .unwrap_err();
    let UpdateError::Status { status, problem, .. } = &error else {
        panic!("expected Status, got {error}");
    };
    assert_eq!(*status, StatusCode::BAD_REQUEST);
    let problem = problem.as_ref().expect("problem+json body");
    assert_eq!(problem.status, Some(400));
    assert!(problem.detail.is_some());
    assert!(error.to_string().contains("400"), "{error}");
}

#[tokio::test]
async fn attempts_exhausted_when_the_server_always_answers_412() {
    let puts = Arc::new(AtomicU32::new(0));
    let counted = puts.clone();
    let router = Router::new().route(
        "/thing",
        get(|| async { ([("etag", "\"v1\"")], axum::Json(json!({ "n": 0 }))) }).put(move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                StatusCode::PRECONDITION_FAILED
            }
        }),
    );
    let base = serve_router(router).await;
    let updater = Updater::new().unwrap().with_policy(RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(10),
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    });
    let url = format!("{base}/thing");
    let error = updater.update(&url, increment).await.unwrap_err();
    assert!(
        matches!(&error, UpdateError::AttemptsExhausted { attempts: 3, method, url: named, .. }
            if *method == http::Method::PUT && *named == url),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("PUT {url}: gave up after 3 attempts in ")),
        "{message}"
    );
    assert_eq!(puts.load(Ordering::SeqCst), 3);

    // One attempt is "1 attempt"; the time bound stops retries too.
    let once = Updater::new().unwrap().with_policy(RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    });
    let error = once.update(&url, increment).await.unwrap_err();
    assert!(
        error.to_string().contains("gave up after 1 attempt in "),
        "{error}"
    );
    let timed = Updater::new().unwrap().with_policy(RetryPolicy {
        max_attempts: 1_000_000,
        max_elapsed: Duration::from_millis(300),
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    });
    let started = Instant::now();
    let error = timed.update(&url, increment).await.unwrap_err();
    let UpdateError::AttemptsExhausted {
        attempts, elapsed, ..
    } = error
    else {
        panic!("expected AttemptsExhausted, got {error}");
    };
    assert!(attempts > 1 && attempts < 1_000, "{attempts} attempts");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn preconditions_unsupported_when_the_server_sends_no_etag() {
    let puts = Arc::new(AtomicU32::new(0));
    let router = |etag: Option<&'static str>, puts: Arc<AtomicU32>| {
        Router::new().route(
            "/thing",
            get(move || async move {
                let mut headers = HeaderMap::new();
                if let Some(tag) = etag {
                    headers.insert("etag", tag.parse().unwrap());
                }
                (headers, axum::Json(json!({ "n": 0 })))
            })
            .put(move || {
                let puts = puts.clone();
                async move {
                    puts.fetch_add(1, Ordering::SeqCst);
                    StatusCode::OK
                }
            }),
        )
    };
    for (case, etag, reason) in [
        ("no ETag", None, Unsupported::NoEntityTag),
        (
            "weak ETag",
            Some("W/\"v1\""),
            Unsupported::WeakEntityTag("W/\"v1\"".parse().unwrap()),
        ),
    ] {
        let base = serve_router(router(etag, puts.clone())).await;
        let error = updater()
            .update(&format!("{base}/thing"), increment)
            .await
            .unwrap_err();
        let UpdateError::PreconditionsUnsupported { reason: got, .. } = &error else {
            panic!("{case}: expected PreconditionsUnsupported, got {error}");
        };
        assert_eq!(*got, reason, "{case}");
    }
    assert_eq!(puts.load(Ordering::SeqCst), 0, "nothing may be written unguarded");
}

/// Many updaters race to create the same missing resource: exactly one
/// create (`If-None-Match: *`) wins, the others get 412, re-fetch and
/// increment what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_lose_no_update() {
    const UPDATERS: u64 = 16;
    let origin = Served::start(&[]).await;
    let url = origin.url("/api/counters/racing");
    let mut tasks = Vec::new();
    for _ in 0..UPDATERS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            updater().update(&url, increment).await.unwrap()
        }));
    }
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap().written == Written::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    let final_value: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(final_value["n"].as_u64().unwrap(), UPDATERS);
}
