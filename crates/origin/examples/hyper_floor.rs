//! The floor under `revalidate serve`: hyper (the same version and
//! connection builder) answering every request with a canned 304 carrying
//! the same header set as the origin's, with no routing, no file system and
//! no metrics. `scripts/bench-origin-vs-nginx.sh` measures it beside nginx
//! so the report shows how much of the gap to nginx is hyper's own.
//!
//! `cargo run --release -p revalidate-origin --example hyper_floor -- 127.0.0.1:19011`

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:19011".to_owned());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("hyper_floor: listening on http://{addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_request| async {
                    let mut response = Response::new(Full::new(Bytes::new()));
                    *response.status_mut() = StatusCode::NOT_MODIFIED;
                    let headers = response.headers_mut();
                    headers.insert(
                        header::ETAG,
                        HeaderValue::from_static("\"39ff6781d81a66169b67bb6e00fa665b\""),
                    );
                    headers.insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static("public, no-cache"),
                    );
                    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
                    headers.insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
