//! The HTTP side of the layer's benchmark: one axum server, one
//! current-thread runtime, the same JSON handlers with and without
//! `ConditionalLayer`, for `wrk` to compare over loopback.
//!
//! | path | what |
//! |---|---|
//! | `/plain/1k`, `/plain/64k` | the handler alone |
//! | `/layered/1k`, `/layered/64k` | behind `ConditionalLayer::new()` (body hashed) |
//! | `/lookup/1k` | behind a layer whose lookup knows the tag (304 skips the handler) |
//! | `/noop/1k` | behind a layer that does nothing (`tower::layer::util::Identity`): what axum's `Router::layer` costs any layer |
//! | `/handler/1k` | `ConditionalLayer::new()` on the handler (`Handler::layer`) rather than the router |
//!
//! ```sh
//! ADDR=127.0.0.1:19080 taskset -c 0 cargo run --release -p revalidate-tower --example bench_server
//! ```
//! `crates/tower/benches/wrk.sh` drives it with the shared wrk harness.

use std::future::ready;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{ConditionalLayer, Current};
use serde_json::{Value, json};

/// A JSON array of records, about `bytes` long when serialised.
fn document(bytes: usize) -> Value {
    let record = |i: usize| json!({"id": i, "name": format!("item {i}"), "price": 1999, "tags": ["a", "b"]});
    let one = serde_json::to_vec(&record(1000)).map_or(64, |v| v.len() + 1);
    Value::Array((0..bytes / one).map(record).collect())
}

/// A handler serialising `doc` on every request, as a real handler would.
fn json(doc: Arc<Value>) -> impl Handler<((),), ()> {
    move || {
        let doc = Arc::clone(&doc);
        async move {
            (
                [(CONTENT_TYPE, "application/json")],
                serde_json::to_vec(&*doc).unwrap_or_default(),
            )
                .into_response()
        }
    }
}

/// The two document routes.
fn routes(small: Arc<Value>, large: Arc<Value>) -> Router {
    Router::new()
        .route("/1k", get(json(small)))
        .route("/64k", get(json(large)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:19080".to_owned())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("ADDR: {e}")))?;
    let small = Arc::new(document(1024));
    let large = Arc::new(document(64 * 1024));
    let tag = EntityTag::strong("v42").map_err(|e| std::io::Error::other(e.to_string()))?;
    let lookup =
        move |_: &http::request::Parts| ready(Some(Current::new(Validators::new().with_etag(tag.clone()))));
    let app = Router::new()
        .nest("/plain", routes(Arc::clone(&small), Arc::clone(&large)))
        .nest(
            "/layered",
            routes(Arc::clone(&small), Arc::clone(&large)).layer(ConditionalLayer::new()),
        )
        .nest(
            "/lookup",
            routes(Arc::clone(&small), Arc::clone(&large)).layer(ConditionalLayer::new().with_lookup(lookup)),
        )
        .nest(
            "/noop",
            routes(Arc::clone(&small), Arc::clone(&large)).layer(tower::layer::util::Identity::new()),
        )
        .nest(
            "/handler",
            Router::new().route("/1k", get(json(small).layer(ConditionalLayer::new()))),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("bench_server on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
