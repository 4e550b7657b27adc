//! `CacheMiddleware` in a `reqwest_middleware` client against a real
//! server: each `CacheMode` as a table row, stale-if-error and offline
//! use, and one cache shared with `CachingClient` and `Updater`.

use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest_middleware::ClientWithMiddleware;
use revalidate_client::{CacheMiddleware, CacheMode, CacheOptions, CacheStorage, CachingClient, Source};

use crate::support::serve_router;

const OK: u8 = 0;
const UNAVAILABLE: u8 = 1;
const HANG: u8 = 2;

/// A resource with the entity-tag `"v1"` and the `Cache-Control` the test
/// sets; it can be told to answer 503 or never to answer.
#[derive(Default)]
struct Origin {
    behaviour: AtomicU8,
    cache_control: Mutex<String>,
    hits: AtomicU32,
    conditional_hits: AtomicU32,
}

async fn start(cache_control: &str) -> (Arc<Origin>, String) {
    let origin = Arc::new(Origin::default());
    *origin.cache_control.lock().unwrap() = cache_control.to_owned();
    let state = origin.clone();
    let router = Router::new().route(
        "/r",
        get(move |request: HeaderMap| {
            let state = state.clone();
            async move {
                state.hits.fetch_add(1, Ordering::SeqCst);
                match state.behaviour.load(Ordering::SeqCst) {
                    UNAVAILABLE => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
                    HANG => std::future::pending::<()>().await,
                    _ => {}
                }
                let cache_control = state.cache_control.lock().unwrap().clone();
                let headers = [("etag", "\"v1\"".to_owned()), ("cache-control", cache_control)];
                if request.get("if-none-match").is_some_and(|v| v == "\"v1\"") {
                    state.conditional_hits.fetch_add(1, Ordering::SeqCst);
                    return (StatusCode::NOT_MODIFIED, headers).into_response();
                }
                (headers, "body v1").into_response()
            }
        }),
    );
    let base = serve_router(router).await;
    (origin, format!("{base}/r"))
}

fn client(middleware: CacheMiddleware) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build()
}

/// What is stored before the request under test.
#[derive(Clone, Copy, Debug)]
enum Stored {
    Nothing,
    Fresh,
    Stale,
}

/// (mode, stored, server hits, of them conditional, source, status,
/// stored entries afterwards)
type ModeCase = (CacheMode, Stored, u32, u32, Source, u16, usize);

#[tokio::test]
async fn each_mode_uses_the_store_as_specified() {
    use CacheMode::*;
    use Stored::*;
    let cases: [ModeCase; 14] = [
        (Default, Nothing, 1, 0, Source::Network, 200, 1),
        (Default, Fresh, 0, 0, Source::Cache, 200, 1),
        (Default, Stale, 1, 1, Source::Revalidated, 200, 1),
        (NoStore, Nothing, 1, 0, Source::Network, 200, 0),
        (NoStore, Fresh, 1, 0, Source::Network, 200, 1),
        (Reload, Fresh, 1, 0, Source::Network, 200, 1),
        (Reload, Nothing, 1, 0, Source::Network, 200, 1),
        (NoCache, Fresh, 1, 1, Source::Revalidated, 200, 1),
        (NoCache, Nothing, 1, 0, Source::Network, 200, 1),
        (ForceCache, Stale, 0, 0, Source::Cache, 200, 1),
        (ForceCache, Nothing, 1, 0, Source::Network, 200, 1),
        (OnlyIfCached, Stale, 0, 0, Source::Cache, 200, 1),
        (OnlyIfCached, Fresh, 0, 0, Source::Cache, 200, 1),
        (OnlyIfCached, Nothing, 0, 0, Source::Unavailable, 504, 0),
    ];
    for (mode, stored, hits, conditional, source, status, entries) in cases {
        let case = format!("{mode:?} with {stored:?} stored");
        let cache_control = match stored {
            Stale => "max-age=0",
            Nothing | Fresh => "max-age=600",
        };
        let (origin, url) = start(cache_control).await;
        let middleware = CacheMiddleware::new();
        let storage_view = middleware.clone();
        let http = client(middleware);
        if !matches!(stored, Nothing) {
            let primed = http.get(&url).send().await.unwrap();
            assert_eq!(
                primed.extensions().get::<Source>(),
                Some(&Source::Network),
                "{case}"
            );
        }
        let before = (
            origin.hits.load(Ordering::SeqCst),
            origin.conditional_hits.load(Ordering::SeqCst),
        );
        let response = http.get(&url).with_extension(mode).send().await.unwrap();
        assert_eq!(
            response.extensions().get::<Source>(),
            Some(&source),
            "{case}: source"
        );
        assert_eq!(response.status().as_u16(), status, "{case}: status");
        if status == 200 {
            assert_eq!(response.headers()["etag"], "\"v1\"", "{case}");
            assert_eq!(response.text().await.unwrap(), "body v1", "{case}: body");
        }
        assert_eq!(
            (
                origin.hits.load(Ordering::SeqCst) - before.0,
                origin.conditional_hits.load(Ordering::SeqCst) - before.1
            ),
            (hits, conditional),
            "{case}: requests the server saw (all, conditional)"
        );
        assert_eq!(
            storage_view.storage().load(&url).len(),
            entries,
            "{case}: stored entries afterwards"
        );
    }
}

/// A mode set as the default in the options applies to requests without one.
#[tokio::test]
async fn default_mode_from_the_options() {
    let (origin, url) = start("max-age=600").await;
    let http = client(CacheMiddleware::new().with_options(CacheOptions {
        default_mode: CacheMode::NoStore,
        ..CacheOptions::default()
    }));
    for _ in 0..2 {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.extensions().get::<Source>(), Some(&Source::Network));
    }
    assert_eq!(origin.hits.load(Ordering::SeqCst), 2);
}

/// (case, stored Cache-Control, mode, server failure, stale if
/// disconnected, expected source: `None` for an error)
type StaleCase = (
    &'static str,
    &'static str,
    CacheMode,
    u8,
    bool,
    Option<(Source, u16)>,
);

/// The server fails while a stale response is stored: it is served only
/// as `stale-if-error` (RFC 5861) or the offline option allows, never
/// against `must-revalidate` or a mode that asked for the server's word.
#[tokio::test]
async fn stale_if_error_and_offline_use() {
    use CacheMode::*;
    let cases: [StaleCase; 10] = [
        (
            "503, stale-if-error",
            "max-age=0, stale-if-error=600",
            Default,
            UNAVAILABLE,
            false,
            Some((Source::Stale, 200)),
        ),
        (
            "503, no stale-if-error",
            "max-age=0",
            Default,
            UNAVAILABLE,
            false,
            Some((Source::Network, 503)),
        ),
        (
            "503, offline option only covers no response",
            "max-age=0",
            Default,
            UNAVAILABLE,
            true,
            Some((Source::Network, 503)),
        ),
        (
            "timeout, stale-if-error",
            "max-age=0, stale-if-error=600",
            Default,
            HANG,
            false,
            Some((Source::Stale, 200)),
        ),
        (
            "timeout, offline option",
            "max-age=0",
            Default,
            HANG,
            true,
            Some((Source::Stale, 200)),
        ),
        (
            "timeout, nothing allows stale",
            "max-age=0",
            Default,
            HANG,
            false,
            None,
        ),
        (
            "timeout, must-revalidate beats the offline option",
            "max-age=0, must-revalidate",
            Default,
            HANG,
            true,
            None,
        ),
        (
            "503, no-cache mode wants the server",
            "max-age=0, stale-if-error=600",
            NoCache,
            UNAVAILABLE,
            false,
            Some((Source::Network, 503)),
        ),
        (
            "503, reload mode wants the server",
            "max-age=0, stale-if-error=600",
            Reload,
            UNAVAILABLE,
            false,
            Some((Source::Network, 503)),
        ),
        (
            "timeout, only-if-cached never asks",
            "max-age=0",
            OnlyIfCached,
            HANG,
            false,
            Some((Source::Cache, 200)),
        ),
    ];
    for (case, cache_control, mode, failure, offline, expected) in cases {
        let (origin, url) = start(cache_control).await;
        let http = client(
            CacheMiddleware::new()
                .with_options(CacheOptions {
                    stale_if_disconnected: offline,
                    ..CacheOptions::default()
                })
                .with_response_timeout(Some(Duration::from_millis(300))),
        );
        http.get(&url).send().await.unwrap();
        origin.behaviour.store(failure, Ordering::SeqCst);
        let result = http.get(&url).with_extension(mode).send().await;
        match (result, expected) {
            (Ok(response), Some((source, status))) => {
                assert_eq!(
                    response.extensions().get::<Source>(),
                    Some(&source),
                    "{case}: source"
                );
                assert_eq!(response.status().as_u16(), status, "{case}: status");
                if status == 200 {
                    assert_eq!(response.text().await.unwrap(), "body v1", "{case}");
                }
            }
            (Err(error), None) => assert!(error.is_timeout(), "{case}: {error}"),
            (Ok(response), None) => panic!("{case}: expected an error, got {}", response.status()),
            (Err(error), Some(_)) => panic!("{case}: expected a response, got {error}"),
        }
        origin.behaviour.store(OK, Ordering::SeqCst);
    }
}

/// The same offline rules through `CachingClient`, with the mode in the
/// request's extensions.
#[tokio::test]
async fn caching_client_reads_the_mode_from_extensions() {
    let (origin, url) = start("max-age=600").await;
    let client = CachingClient::new().unwrap();
    assert_eq!(client.get(&url).await.unwrap().source, Source::Network);
    let mut request = http::Request::get(&url).body(bytes::Bytes::new()).unwrap();
    request.extensions_mut().insert(CacheMode::Reload);
    assert_eq!(client.send(request).await.unwrap().source, Source::Network);
    assert_eq!(client.get(&url).await.unwrap().source, Source::Cache);
    assert_eq!(origin.hits.load(Ordering::SeqCst), 2);
}

/// The middleware made from a `CachingClient` shares its store: what one
/// stored the other serves.
#[tokio::test]
async fn middleware_shares_the_clients_store() {
    let (origin, url) = start("max-age=600").await;
    let client = CachingClient::new().unwrap();
    let http = reqwest_middleware::ClientBuilder::new(client.transport().reqwest_client().clone())
        .with(client.middleware())
        .build();
    assert_eq!(client.get(&url).await.unwrap().source, Source::Network);
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.extensions().get::<Source>(), Some(&Source::Cache));
    assert_eq!(origin.hits.load(Ordering::SeqCst), 1);
}
