//! A small JSON API behind `revalidate-tower`.
//!
//! - `GET /items`: the list, tagged by hashing the body (no code in the handler).
//! - `GET /items/{id}`: one item; its validators come from a lookup run
//!   before the handler, so a 304 never renders the item.
//! - `PUT /items/{id}`: replace or create; `If-Match` is checked by the
//!   layer before the handler (412) and again inside the write lock, so
//!   two racing writers cannot both win. Updating without a precondition
//!   gets 428.
//! - `DELETE /items/{id}`: the same checks.
//! - `GET /stats`: how often the item handler rendered, to watch 304s skip it.
//!
//! Layers, outermost first: `ConditionalLayer` (with the lookup),
//! tower-http's `CompressionLayer`, `ETagLayer`. See README.md.

use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, LAST_MODIFIED, VARY};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use revalidate_core::{EntityTag, HttpDate, Outcome, Preconditions, Validators};
use revalidate_tower::{Clock, ConditionalLayer, Current, ETagLayer, SystemClock};
use serde::{Deserialize, Serialize};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;

/// An item as clients send and receive it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Item {
    name: String,
    price_cents: u64,
}

/// An item as stored: its content and the version and time of its last write.
#[derive(Clone, Debug)]
struct Stored {
    item: Item,
    version: u64,
    modified: HttpDate,
}

impl Stored {
    /// The validators of the item's current representation: a strong tag
    /// naming the version, and the time of the write.
    fn validators(&self, id: u64) -> Validators {
        Validators::new()
            .with_etag(item_tag(id, self.version))
            .with_last_modified(self.modified)
    }
}

fn item_tag(id: u64, version: u64) -> EntityTag {
    EntityTag::strong(format!("item{id}-v{version}")).expect("digits, letters and '-' are etagc")
}

/// The items, and how often an item was rendered.
#[derive(Clone, Default)]
struct Catalog {
    items: Arc<RwLock<BTreeMap<u64, Stored>>>,
    renders: Arc<AtomicU64>,
}

impl Catalog {
    fn seeded(now: HttpDate) -> Self {
        let catalog = Self::default();
        let seed = [("kettle", 2_499), ("teapot", 1_899), ("mug", 799)];
        let mut items = catalog.write();
        for (id, (name, price_cents)) in (1..).zip(seed) {
            let item = Item {
                name: name.to_owned(),
                price_cents,
            };
            items.insert(
                id,
                Stored {
                    item,
                    version: 1,
                    modified: now,
                },
            );
        }
        drop(items);
        catalog
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Stored>> {
        // A panic while holding the lock leaves the map consistent: every
        // write is a single insert or remove.
        self.items.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u64, Stored>> {
        self.items.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lookup the `ConditionalLayer` runs before any handler: the
    /// validators of `/items/{id}`, without rendering the item.
    fn current(&self, path: &str) -> Option<Current> {
        let id = path.strip_prefix("/items/")?.parse::<u64>().ok()?;
        Some(match self.read().get(&id) {
            // A 304 answered before the handler repeats what a 200 would
            // carry (RFC 9110 §15.4.5): Cache-Control, and the Vary that the
            // compression layer below adds.
            Some(stored) => Current::new(stored.validators(id))
                .with_header(CACHE_CONTROL, no_cache())
                .with_header(VARY, HeaderValue::from_static("accept-encoding")),
            None => Current::missing(),
        })
    }
}

fn no_cache() -> HeaderValue {
    // Caches may keep the item but must ask before reusing it: every
    // reuse is a conditional request, answered by a 304 when unchanged.
    HeaderValue::from_static("no-cache")
}

/// The application with its layers.
fn app(catalog: Catalog) -> Router {
    let lookup_catalog = catalog.clone();
    let lookup = move |request: &http::request::Parts| -> Ready<Option<Current>> {
        ready(lookup_catalog.current(request.uri.path()))
    };
    Router::new()
        .route("/items", get(list_items))
        .route("/items/{id}", get(get_item).put(put_item).delete(delete_item))
        .route("/stats", get(stats))
        .with_state(catalog)
        .layer(
            ServiceBuilder::new()
                .layer(ConditionalLayer::new().with_lookup(lookup))
                .layer(CompressionLayer::new())
                .layer(ETagLayer::new()),
        )
}

async fn list_items(State(catalog): State<Catalog>) -> Response {
    let items: BTreeMap<u64, Item> = catalog
        .read()
        .iter()
        .map(|(id, stored)| (*id, stored.item.clone()))
        .collect();
    ([(CACHE_CONTROL, no_cache())], Json(items)).into_response()
}

async fn get_item(State(catalog): State<Catalog>, Path(id): Path<u64>) -> Response {
    let Some(stored) = catalog.read().get(&id).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such item",
            &format!("There is no item {id}."),
        );
    };
    // The layer sets ETag and Last-Modified from the lookup.
    catalog.renders.fetch_add(1, Ordering::Relaxed);
    ([(CACHE_CONTROL, no_cache())], Json(stored.item)).into_response()
}

async fn put_item(
    State(catalog): State<Catalog>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Json(item): Json<Item>,
) -> Response {
    let now = SystemClock.now();
    let mut items = catalog.write();
    let current = items.get(&id);
    if let Err(refusal) = check_write(&headers, &Method::PUT, id, current, now) {
        return refusal.into_response();
    }
    let version = current.map_or(1, |stored| stored.version + 1);
    let created = current.is_none();
    items.insert(
        id,
        Stored {
            item: item.clone(),
            version,
            modified: now,
        },
    );
    drop(items);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(item)).into_response();
    // RFC 9110 §8.8.3: a response to PUT may carry the new tag, so the
    // client can make its next write conditional without a GET.
    response
        .headers_mut()
        .insert(ETAG, item_tag(id, version).to_header_value());
    response
        .headers_mut()
        .insert(LAST_MODIFIED, now.to_header_value());
    response
}

async fn delete_item(State(catalog): State<Catalog>, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    let now = SystemClock.now();
    let mut items = catalog.write();
    let current = items.get(&id);
    if current.is_none() {
        return problem(
            StatusCode::NOT_FOUND,
            "No such item",
            &format!("There is no item {id}."),
        );
    }
    if let Err(refusal) = check_write(&headers, &Method::DELETE, id, current, now) {
        return refusal.into_response();
    }
    items.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}

/// Why a write is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// The item exists and the request names no precondition.
    PreconditionRequired,
    /// The precondition does not hold for the current item.
    PreconditionFailed,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            // RFC 6585 §3: 428 when the server requires conditional writes.
            Self::PreconditionRequired => problem(
                StatusCode::PRECONDITION_REQUIRED,
                "Precondition Required",
                "Send If-Match with the item's ETag to change it.",
            ),
            Self::PreconditionFailed => problem(
                StatusCode::PRECONDITION_FAILED,
                "Precondition Failed",
                "The item changed since you read it. Fetch it again and retry with the new ETag.",
            ),
        }
    }
}

/// Checks a write's preconditions inside the write lock: the layer already
/// checked them before the handler, but another writer may have won in
/// between, and only this check sees the state that is about to be replaced.
fn check_write(
    headers: &HeaderMap,
    method: &Method,
    id: u64,
    current: Option<&Stored>,
    now: HttpDate,
) -> Result<(), Refusal> {
    let pre = Preconditions::from_headers(headers);
    if current.is_some() && !pre.guards_write(now) {
        return Err(Refusal::PreconditionRequired);
    }
    let validators = current.map_or_else(Validators::missing, |stored| stored.validators(id));
    match pre.evaluate(method, &validators, now) {
        Outcome::PreconditionFailed | Outcome::NotModified => Err(Refusal::PreconditionFailed),
        Outcome::Proceed | Outcome::IgnoreRange => Ok(()),
    }
}

async fn stats(State(catalog): State<Catalog>) -> Response {
    let renders = catalog.renders.load(Ordering::Relaxed);
    let mut response = Json(serde_json::json!({ "item_renders": renders })).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::var("ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("ADDR: {e}")))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("axum-api listening on http://{}", listener.local_addr()?);
    let app = app(Catalog::seeded(SystemClock.now()));
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            // Without a signal handler the server simply runs until killed.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn send(app: &Router, method: &str, uri: &str, fields: &[(&str, &str)], body: &str) -> Response {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in fields {
            request = request.header(*name, *value);
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        app.clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap()
    }

    fn etag(response: &Response) -> String {
        response.headers()["etag"].to_str().unwrap().to_owned()
    }

    fn catalog() -> Catalog {
        Catalog::seeded(HttpDate::from_unix_seconds(1_700_000_000).unwrap())
    }

    #[tokio::test]
    async fn item_304_does_not_render() {
        let catalog = catalog();
        let app = app(catalog.clone());
        let ok = send(&app, "GET", "/items/1", &[], "").await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(etag(&ok), "\"item1-v1\"");
        assert_eq!(catalog.renders.load(Ordering::Relaxed), 1);

        let again = send(&app, "GET", "/items/1", &[("if-none-match", "\"item1-v1\"")], "").await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()["cache-control"], "no-cache");
        assert_eq!(
            again.headers()["vary"],
            "accept-encoding",
            "the Vary a 200 carries"
        );
        assert_eq!(
            catalog.renders.load(Ordering::Relaxed),
            1,
            "the 304 skipped the handler"
        );
    }

    #[tokio::test]
    async fn writes_need_the_current_tag() {
        let app = app(catalog());
        let body = r#"{"name":"kettle","price_cents":2999}"#;
        let unguarded = send(&app, "PUT", "/items/1", &[], body).await;
        assert_eq!(unguarded.status(), StatusCode::PRECONDITION_REQUIRED);

        let stale = send(&app, "PUT", "/items/1", &[("if-match", "\"item1-v0\"")], body).await;
        assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.headers()["content-type"], "application/problem+json");

        let updated = send(&app, "PUT", "/items/1", &[("if-match", "\"item1-v1\"")], body).await;
        assert_eq!(updated.status(), StatusCode::OK);
        assert_eq!(etag(&updated), "\"item1-v2\"");

        let lost = send(&app, "PUT", "/items/1", &[("if-match", "\"item1-v1\"")], body).await;
        assert_eq!(
            lost.status(),
            StatusCode::PRECONDITION_FAILED,
            "the second writer with the old tag loses"
        );

        let create = send(&app, "PUT", "/items/9", &[("if-none-match", "*")], body).await;
        assert_eq!(create.status(), StatusCode::CREATED);
        let again = send(&app, "PUT", "/items/9", &[("if-none-match", "*")], body).await;
        assert_eq!(again.status(), StatusCode::PRECONDITION_FAILED, "create-only");
    }

    #[tokio::test]
    async fn compressed_list_round_trips() {
        let app = app(catalog());
        let gzip = send(&app, "GET", "/items", &[("accept-encoding", "gzip")], "").await;
        assert_eq!(gzip.headers()["content-encoding"], "gzip");
        let tag = etag(&gzip);
        assert!(tag.ends_with("-gzip\""), "{tag}");

        let hit = send(
            &app,
            "GET",
            "/items",
            &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
            "",
        )
        .await;
        assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
        let identity = send(
            &app,
            "GET",
            "/items",
            &[("accept-encoding", "identity"), ("if-none-match", &tag)],
            "",
        )
        .await;
        assert_eq!(identity.status(), StatusCode::OK);
        let list: serde_json::Value =
            serde_json::from_slice(&identity.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(list["1"]["name"], "kettle");
    }
}
