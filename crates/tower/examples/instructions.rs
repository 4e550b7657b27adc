//! Runs one benchmark scenario N times, for callgrind to count
//! instructions per request (stable on a noisy machine, where wall-clock
//! time is not). `benches/instructions.sh` runs it.
//!
//! ```sh
//! instructions SCENARIO N    # SCENARIO: no_layer_1k layer_200_1k layer_304_1k ... (see below)
//! ```

#[path = "../benches/support/mod.rs"]
mod support;

use std::future::ready;
use std::hint::black_box;
use std::sync::Arc;

use revalidate_core::{EntityTag, Validators};
use revalidate_tower::{ConditionalLayer, Current};
use tower::{Layer, Service};

use support::{complete, document, exchange, get, handler};

fn main() {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let (variant, size) = scenario.rsplit_once('_').unwrap_or(("", ""));
    let bytes = match size {
        "1k" => 1024,
        "64k" => 64 * 1024,
        _ => {
            eprintln!(
                "usage: instructions <no_layer|layer_200|layer_200_inm_miss|layer_304|lookup_304>_<1k|64k> N"
            );
            std::process::exit(2);
        }
    };
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
    for _ in 0..n {
        let out = match variant {
            "no_layer" => exchange(&mut plain, get(None)),
            "layer_200" => exchange(&mut layered, get(None)),
            "layer_200_inm_miss" => exchange(&mut layered, get(Some("\"no-such-tag\""))),
            "layer_304" => exchange(&mut layered, get(Some(&tag))),
            "lookup_304" => exchange(&mut with_lookup, get(Some("\"v42\""))),
            _ => {
                eprintln!("unknown scenario {scenario}");
                std::process::exit(2);
            }
        };
        black_box(out);
    }
}
