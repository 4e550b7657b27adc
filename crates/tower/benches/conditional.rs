//! The layer against no layer on 1 KiB and 64 KiB JSON responses, called
//! with tower's `call` and polled to the end with a no-op waker: no
//! runtime, no sockets, only the middleware's own cost.
//!
//! Groups: `json_1k` and `json_64k`, each with
//! - `no_layer`: the handler alone (serialises the document, 200);
//! - `layer_200`: through `ConditionalLayer`, unconditional (hash + tag);
//! - `layer_200_inm_miss`: `If-None-Match` with another tag (evaluated, 200);
//! - `layer_304`: `If-None-Match` with the current tag (handler runs, body dropped);
//! - `lookup_304`: a lookup answers before the handler (handler skipped).
//!
//! `cargo bench -p revalidate-tower --bench conditional`

mod support;

use std::future::ready;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{ConditionalLayer, Current};
use tower::{Layer, Service};

use support::{complete, document, exchange, get, handler};

fn bench_size(c: &mut Criterion, name: &str, bytes: usize) {
    let doc = Arc::new(document(bytes));
    let mut plain = handler(Arc::clone(&doc));
    let mut layered = ConditionalLayer::new().layer(handler(Arc::clone(&doc)));
    let tag = {
        let response = complete(layered.call(get(None))).expect("infallible");
        response.headers()["etag"].to_str().expect("ascii tag").to_owned()
    };
    let lookup_tag = EntityTag::strong("v42").expect("valid tag");
    let mut with_lookup = ConditionalLayer::new()
        .with_lookup(move |_: &http::request::Parts| {
            ready(Some(Current::new(
                Validators::new().with_etag(lookup_tag.clone()),
            )))
        })
        .layer(handler(doc));

    assert_eq!(exchange(&mut layered, get(Some(&tag))).0, 304);
    assert_eq!(exchange(&mut with_lookup, get(Some("\"v42\""))).0, 304);

    let mut group = c.benchmark_group(name);
    group.bench_function("no_layer", |b| {
        b.iter(|| black_box(exchange(&mut plain, get(None))));
    });
    group.bench_function("layer_200", |b| {
        b.iter(|| black_box(exchange(&mut layered, get(None))));
    });
    group.bench_function("layer_200_inm_miss", |b| {
        b.iter(|| black_box(exchange(&mut layered, get(Some("\"no-such-tag\"")))));
    });
    group.bench_function("layer_304", |b| {
        b.iter(|| black_box(exchange(&mut layered, get(Some(&tag)))));
    });
    group.bench_function("lookup_304", |b| {
        b.iter(|| black_box(exchange(&mut with_lookup, get(Some("\"v42\"")))));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_size(c, "json_1k", 1024);
    bench_size(c, "json_64k", 64 * 1024);
}

criterion_group!(conditional, benches);
criterion_main!(conditional);
