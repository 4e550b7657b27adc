//! `revalidate-client-bench`: the cost per request of a private cache in a
//! `reqwest_middleware` client, `revalidate-client`'s [`CacheMiddleware`]
//! against `http-cache-reqwest`'s `Cache`, with the same kind of store:
//! in memory (`revalidate`: our `MemoryCache`; `http-cache`: its
//! `MokaManager`) or on disk (`revalidate-disk`: our `DiskCache`, a file per
//! URL; `http-cache-redb`: its `RedbManager`, one redb file; neither syncs
//! each write), the disk stores in a temporary directory.
//!
//! ```text
//! revalidate-client-bench serve
//!     prints `http://127.0.0.1:PORT` and serves until killed:
//!     /cached       200, Cache-Control: max-age=31536000, ETag "c", 1 KiB
//!     /revalidated  200, Cache-Control: no-cache, ETag "r", 1 KiB; 304 to If-None-Match: "r"
//! revalidate-client-bench proxy IMPL PORT ORIGIN
//!     listens on 127.0.0.1:PORT and sends every request through IMPL's
//!     cache to ORIGIN (the HTTP cache test suite's origin), so the suite
//!     can test a client-side cache as it tests a proxy
//!     (scripts/client-cache-tests.sh)
//! revalidate-client-bench run IMPL KIND N BASE [--count-allocations]
//!     IMPL revalidate | http-cache | revalidate-disk | http-cache-redb;
//!     KIND cached | revalidated
//!     one priming GET, then N GETs of BASE/KIND; checks each answer;
//!     with --count-allocations prints `allocations_per_request=X`
//! ```
//!
//! Instructions per request come from two runs under callgrind with
//! different N (scripts/bench-client-instructions.sh): the difference
//! cancels start-up. The server runs in another process, so only the
//! client's work is counted.
//!
//! [`CacheMiddleware`]: revalidate_client::CacheMiddleware

use std::process::ExitCode;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest_middleware::ClientWithMiddleware;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

const BODY: &str = include_str!("body.txt");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.as_slice() {
        ["serve"] => runtime.block_on(serve()),
        ["proxy", implementation, port, origin] => match port.parse::<u16>() {
            Ok(port) => runtime.block_on(proxy(implementation, port, origin)),
            Err(_) => Err(format!("PORT must be a port number, got {port}")),
        },
        ["run", implementation, kind, n, base, rest @ ..] => match n.parse::<u64>() {
            Ok(n) => runtime.block_on(run(
                implementation,
                kind,
                n,
                base,
                rest == ["--count-allocations"],
            )),
            Err(_) => Err(format!("N must be a whole number, got {n}")),
        },
        _ => Err(
            "usage: revalidate-client-bench serve | run IMPL KIND N BASE [--count-allocations]".to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("revalidate-client-bench: {message}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("http://{addr}");
    let router = Router::new()
        .route(
            "/cached",
            get(|| async { ([("cache-control", "max-age=31536000"), ("etag", "\"c\"")], BODY) }),
        )
        .route(
            "/revalidated",
            get(|request: HeaderMap| async move {
                let headers = [("cache-control", "no-cache"), ("etag", "\"r\"")];
                if request.get("if-none-match").is_some_and(|v| v == "\"r\"") {
                    return (StatusCode::NOT_MODIFIED, headers).into_response();
                }
                (headers, BODY).into_response()
            }),
        );
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}

/// Every request through `implementation`'s cache to `origin`; the answer
/// as the cache gave it. 502 with the error when there was none.
async fn proxy(implementation: &str, port: u16, origin: &str) -> Result<(), String> {
    let (client, _store_dir) = client(implementation)?;
    let client = std::sync::Arc::new(client);
    let origin = origin.trim_end_matches('/').to_owned();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let router = Router::new().fallback(move |request: axum::extract::Request| {
        let (client, origin) = (client.clone(), origin.clone());
        async move { forward(&client, &origin, request).await }
    });
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}

async fn forward(
    client: &ClientWithMiddleware,
    origin: &str,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 16 << 20).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body over 16 MiB").into_response();
    };
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    for name in ["host", "connection", "transfer-encoding", "content-length"] {
        headers.remove(name);
    }
    let sent = client
        .request(parts.method, format!("{origin}{target}"))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let status = response.status();
    let mut headers = response.headers().clone();
    for name in ["connection", "transfer-encoding", "content-length"] {
        headers.remove(name);
    }
    match response.bytes().await {
        Ok(body) => (status, headers, body).into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    }
}

/// The client for `implementation`, and the temporary directory of its
/// disk store (removed when dropped).
fn client(implementation: &str) -> Result<(ClientWithMiddleware, Option<tempfile::TempDir>), String> {
    let reqwest = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let builder = reqwest_middleware::ClientBuilder::new(reqwest);
    let temp = || tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"));
    let http_cache = |manager| http_cache_reqwest::HttpCache {
        mode: http_cache_reqwest::CacheMode::Default,
        manager,
        options: http_cache_reqwest::HttpCacheOptions::default(),
    };
    Ok(match implementation {
        "revalidate" => (
            builder.with(revalidate_client::CacheMiddleware::new()).build(),
            None,
        ),
        "revalidate-disk" => {
            let dir = temp()?;
            let store = revalidate_client::DiskCache::open(dir.path()).map_err(|e| e.to_string())?;
            let middleware =
                revalidate_client::CacheMiddleware::from_parts(store, revalidate_client::SystemClock);
            (builder.with(middleware).build(), Some(dir))
        }
        "http-cache" => (
            builder
                .with(http_cache_reqwest::Cache(http_cache(
                    http_cache_reqwest::MokaManager::default(),
                )))
                .build(),
            None,
        ),
        "http-cache-redb" => {
            let dir = temp()?;
            let manager = http_cache_reqwest::RedbManager::new(dir.path().join("cache.redb"))
                .map_err(|e| e.to_string())?;
            (
                builder
                    .with(http_cache_reqwest::Cache(http_cache_reqwest::HttpCache {
                        mode: http_cache_reqwest::CacheMode::Default,
                        manager,
                        options: http_cache_reqwest::HttpCacheOptions::default(),
                    }))
                    .build(),
                Some(dir),
            )
        }
        other => {
            return Err(format!(
                "IMPL is revalidate, http-cache, revalidate-disk or http-cache-redb, got {other}"
            ));
        }
    })
}

async fn run(implementation: &str, kind: &str, n: u64, base: &str, count: bool) -> Result<(), String> {
    if !matches!(kind, "cached" | "revalidated") {
        return Err(format!("KIND is cached or revalidated, got {kind}"));
    }
    let (client, _store_dir) = client(implementation)?;
    let url = format!("{base}/{kind}");
    get_once(&client, &url).await?;
    let profiler = count.then(|| dhat::Profiler::builder().testing().build());
    let before = profiler.as_ref().map(|_| dhat::HeapStats::get().total_blocks);
    for _ in 0..n {
        get_once(&client, &url).await?;
    }
    if let Some(before) = before {
        let allocations = dhat::HeapStats::get().total_blocks - before;
        println!(
            "allocations_per_request={:.1}",
            allocations as f64 / n.max(1) as f64
        );
    }
    drop(profiler);
    Ok(())
}

async fn get_once(client: &ClientWithMiddleware, url: &str) -> Result<(), String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("GET {url}: status {}", response.status()));
    }
    let body = response.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
    if body.len() != BODY.len() {
        return Err(format!(
            "GET {url}: {} bytes, expected {}",
            body.len(),
            BODY.len()
        ));
    }
    Ok(())
}
