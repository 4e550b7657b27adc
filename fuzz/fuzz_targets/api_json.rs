//! The JSON API's body handling (`crates/origin/src/api.rs`: `read_json`
//! and JSON Merge Patch) and the store's name validation
//! (`crates/store/src/key.rs`: `CollectionName`, `ResourceKey`), driven
//! through the public router over a memory store, since the handlers are
//! private.
//!
//! Properties:
//! - `CollectionName::new` / `ResourceKey::new` agree with a model of their
//!   documented grammar, error and byte position included; a valid key
//!   prints as `collection/id` and re-parses from that;
//! - `PUT` then `PATCH` answer what a model of the API expects: `400` for a
//!   bad name (`404` when a path segment is empty, so no route matches),
//!   `415` for another media type (`PATCH` adds `Accept-Patch`), `413` past
//!   the body limit, `400` for invalid JSON, `201` / `200` otherwise, `404`
//!   for a `PATCH` of a missing resource; never a 5xx; every error carries
//!   an `application/problem+json` body;
//! - what is stored is the document sent, and a `PATCH` stores what an
//!   RFC 7396 merge written here gives; `GET` returns it with the same
//!   `ETag`.
#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Body;
use http::{Method, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use revalidate_core::EntityTag;
use revalidate_origin::api::{ApiSettings, router};
use revalidate_store::{AnyStore, CollectionName, InvalidKey, KeyPart, MemoryStore, ResourceKey};
use serde_json::{Map, Value};
use tower::ServiceExt;

const BODY_LIMIT: usize = 512;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            // The API bounds body reads with a timer.
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

// ----- names ---------------------------------------------------------------

fn model_collection(name: &str) -> Result<(), InvalidKey> {
    let part = KeyPart::Collection;
    if name.is_empty() {
        return Err(InvalidKey::Empty { part });
    }
    if name.len() > 64 {
        return Err(InvalidKey::TooLong { part, max: 64 });
    }
    for (position, b) in name.bytes().enumerate() {
        let ok = matches!(b, b'a'..=b'z' | b'0'..=b'9') || (position > 0 && matches!(b, b'_' | b'-'));
        if !ok {
            return Err(InvalidKey::BadCharacter { part, position });
        }
    }
    Ok(())
}

fn model_key(collection: &str, id: &str) -> Result<(), InvalidKey> {
    model_collection(collection)?;
    let part = KeyPart::Id;
    if id.is_empty() {
        return Err(InvalidKey::Empty { part });
    }
    if id.len() > 128 {
        return Err(InvalidKey::TooLong { part, max: 128 });
    }
    if id == "." || id == ".." {
        return Err(InvalidKey::DotSegment);
    }
    // RFC 3986 §2.3 unreserved.
    for (position, b) in id.bytes().enumerate() {
        if !matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~') {
            return Err(InvalidKey::BadCharacter { part, position });
        }
    }
    Ok(())
}

fn check_names(collection: &str, id: &str) -> Result<(), InvalidKey> {
    let parsed = CollectionName::new(collection);
    assert_eq!(
        parsed.as_ref().map(|_| ()).map_err(|e| *e),
        model_collection(collection),
        "collection {collection:?}"
    );
    if let Ok(name) = &parsed {
        assert_eq!(name.as_str(), collection);
        assert_eq!(name.to_string(), collection);
    }
    let key = ResourceKey::new(collection, id);
    let model = model_key(collection, id);
    assert_eq!(
        key.as_ref().map(|_| ()).map_err(|e| *e),
        model,
        "key {collection:?} {id:?}"
    );
    if let Ok(key) = &key {
        assert_eq!((key.collection().as_str(), key.id()), (collection, id));
        let printed = key.to_string();
        let (c, i) = printed.split_once('/').expect("collection/id");
        assert_eq!(ResourceKey::new(c, i).as_ref(), Ok(key));
        if let Ok(name) = parsed {
            assert_eq!(ResourceKey::in_collection(name, id).as_ref(), Ok(key));
        }
    }
    model
}

// ----- bodies --------------------------------------------------------------

#[derive(Arbitrary, Debug)]
enum MediaType {
    Json,
    MergePatch,
    JsonWithCharset,
    UpperCase,
    TextPlain,
    Missing,
    Other(String),
}

impl MediaType {
    fn header(&self) -> Option<&str> {
        Some(match self {
            Self::Json => "application/json",
            Self::MergePatch => "application/merge-patch+json",
            Self::JsonWithCharset => "application/json; charset=utf-8",
            Self::UpperCase => "Application/JSON ; charset=UTF-8",
            Self::TextPlain => "text/plain",
            Self::Missing => return None,
            Self::Other(text) => text,
        })
    }

    /// RFC 9110 §8.3.1: `type "/" subtype *( OWS ";" OWS parameter )`,
    /// compared case-insensitively.
    fn accepted(&self, accepted: &[&str]) -> bool {
        let Some(text) = self.header() else { return false };
        if http::HeaderValue::from_str(text).is_err() {
            return false;
        }
        let essence = text.split(';').next().unwrap_or("").trim_matches([' ', '\t']);
        accepted.iter().any(|a| a.eq_ignore_ascii_case(essence))
    }
}

fn json(u: &mut Unstructured<'_>, depth: u32) -> arbitrary::Result<Value> {
    let choice = if depth == 0 {
        u.int_in_range(0..=4)?
    } else {
        u.int_in_range(0..=6)?
    };
    Ok(match choice {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(u.arbitrary::<i64>()?),
        3 => serde_json::Number::from_f64(u.arbitrary()?).map_or(Value::Null, Value::Number),
        4 => Value::String(u.arbitrary()?),
        5 => {
            let mut items = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                items.push(json(u, depth - 1)?);
            }
            Value::Array(items)
        }
        _ => {
            let mut map = Map::new();
            for _ in 0..u.int_in_range(0..=4)? {
                // Few keys, so that patches meet the document's members.
                let key = u.choose(&["a", "b", "c", "", "\u{e9}"])?.to_string();
                map.insert(key, json(u, depth - 1)?);
            }
            Value::Object(map)
        }
    })
}

#[derive(Debug)]
enum Payload {
    Raw(Vec<u8>),
    Json(Value),
}

impl<'a> Arbitrary<'a> for Payload {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(if u.ratio(1, 3)? {
            Self::Raw(u.arbitrary()?)
        } else {
            Self::Json(json(u, 4)?)
        })
    }
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Raw(bytes) => bytes.clone(),
            Self::Json(value) => serde_json::to_vec(value).expect("a Value serializes"),
        }
    }
}

/// A name: mostly one of a few valid ones, so that bodies reach the store,
/// or any string.
#[derive(Arbitrary, Debug)]
enum Name {
    Known(u8),
    Any(String),
}

impl Name {
    fn text(&self, known: &[&str]) -> String {
        match self {
            Self::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
            Self::Any(text) => text.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    collection: Name,
    id: Name,
    put_type: MediaType,
    put_body: Payload,
    patch_type: MediaType,
    patch_body: Payload,
    declare_length: bool,
    /// Appends `%FF` to the id: a path that is not UTF-8 once decoded.
    break_utf8: bool,
}

/// RFC 7396 §2, as its pseudo-code reads.
fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut result = match target {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (name, value) in patch {
        if value.is_null() {
            result.remove(name);
        } else {
            let merged = merge_patch(result.get(name).unwrap_or(&Value::Null), value);
            result.insert(name.clone(), merged);
        }
    }
    Value::Object(result)
}

// ----- requests ------------------------------------------------------------

fn encode_segment(segment: &str) -> String {
    segment.bytes().map(|b| format!("%{b:02X}")).collect()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

fn send(
    app: &axum::Router,
    method: Method,
    uri: &str,
    media: &MediaType,
    body: Vec<u8>,
    declare: bool,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(text) = media.header()
        && let Ok(value) = http::HeaderValue::from_str(text)
    {
        request = request.header(http::header::CONTENT_TYPE, value);
    }
    if declare {
        request = request.header(http::header::CONTENT_LENGTH, body.len());
    }
    let request = request.body(Body::from(body)).expect("a request");
    let response: Response<Body> = runtime()
        .block_on(app.clone().oneshot(request))
        .expect("infallible");
    let (parts, body) = response.into_parts();
    let body = runtime()
        .block_on(axum::body::to_bytes(body, usize::MAX))
        .expect("a body")
        .to_vec();
    let answer = Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    };
    assert!(
        !answer.status.is_server_error(),
        "{} {:?}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    answer
}

/// What the API answers to a body, before it looks at the store.
fn body_status(media: &MediaType, accepted: &[&str], body: &[u8]) -> Option<StatusCode> {
    if !media.accepted(accepted) {
        Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    } else if body.len() > BODY_LIMIT {
        Some(StatusCode::PAYLOAD_TOO_LARGE)
    } else if serde_json::from_slice::<Value>(body).is_err() {
        Some(StatusCode::BAD_REQUEST)
    } else {
        None
    }
}

fn assert_problem(answer: &Answer) {
    if answer.status.is_success() {
        return;
    }
    assert_eq!(
        answer
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..]),
        "{}",
        answer.status
    );
    let problem: Value = serde_json::from_slice(&answer.body).expect("a problem body is JSON");
    assert_eq!(problem["status"], answer.status.as_u16(), "{problem}");
}

fn document_of(answer: &Answer) -> (Value, EntityTag) {
    let document = serde_json::from_slice(&answer.body).expect("a representation is JSON");
    let etag = EntityTag::from_header(answer.headers.get(http::header::ETAG).expect("an ETag"))
        .expect("a valid ETag");
    assert!(etag.is_strong());
    (document, etag)
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    let collection = input.collection.text(&["notes", "a", "x-1", "0_0", "Notes"]);
    let id = input.id.text(&["1", "a.b", "~x-_.", "..", "n 1"]);
    let key = check_names(&collection, &id);
    let app = router(
        AnyStore::Memory(MemoryStore::new()),
        ApiSettings {
            prefix: "/api/".to_owned(),
            body_limit: BODY_LIMIT,
            require_preconditions: Vec::new(),
            body_read_timeout: std::time::Duration::from_secs(30),
            clock: revalidate_origin::clock::system_clock(),
        },
    );
    let path_is_utf8 = !input.break_utf8;
    let broken = if path_is_utf8 { "" } else { "%FF" };
    let uri = format!("/{}/{}{broken}", encode_segment(&collection), encode_segment(&id));
    // A name error comes first (the path), then the body.
    let name_status = match key {
        Ok(()) if path_is_utf8 => None,
        _ => Some(StatusCode::BAD_REQUEST),
    };
    // An empty segment may also match no route at all.
    let no_route =
        |status: StatusCode| status == StatusCode::NOT_FOUND && (collection.is_empty() || id.is_empty());

    let put_bytes = input.put_body.bytes();
    let put = send(
        &app,
        Method::PUT,
        &uri,
        &input.put_type,
        put_bytes.clone(),
        input.declare_length,
    );
    let expected = name_status
        .or_else(|| body_status(&input.put_type, &["application/json"], &put_bytes))
        .unwrap_or(StatusCode::CREATED);
    assert!(
        put.status == expected || no_route(put.status),
        "{} instead of {expected}: PUT {uri} {:?} {:?} answered {:?}",
        put.status,
        input.put_type,
        String::from_utf8_lossy(&put_bytes),
        String::from_utf8_lossy(&put.body)
    );
    assert_problem(&put);
    let mut current = None;
    if put.status == StatusCode::CREATED {
        let (document, etag) = document_of(&put);
        assert_eq!(
            document,
            serde_json::from_slice::<Value>(&put_bytes).unwrap(),
            "the stored document is the one sent"
        );
        // RFC 9110 §9.3.4: the 201 carries validators, so the bytes were
        // stored without any transformation.
        assert_eq!(put.body, put_bytes, "the stored bytes are the ones sent");
        let get = send(&app, Method::GET, &uri, &MediaType::Missing, Vec::new(), false);
        assert_eq!(get.status, StatusCode::OK);
        assert_eq!(get.body, put_bytes, "GET serves the bytes the PUT's ETag names");
        assert_eq!(document_of(&get), (document.clone(), etag));
        current = Some(document);
    }

    let patch_bytes = input.patch_body.bytes();
    let patch = send(
        &app,
        Method::PATCH,
        &uri,
        &input.patch_type,
        patch_bytes.clone(),
        input.declare_length,
    );
    let accepted = ["application/merge-patch+json", "application/json"];
    let expected = name_status
        .or_else(|| body_status(&input.patch_type, &accepted, &patch_bytes))
        .unwrap_or(if current.is_some() {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        });
    assert!(
        patch.status == expected || no_route(patch.status),
        "{} instead of {expected}: PATCH {uri} {:?} {:?} answered {:?}",
        patch.status,
        input.patch_type,
        String::from_utf8_lossy(&patch_bytes),
        String::from_utf8_lossy(&patch.body)
    );
    assert_problem(&patch);
    if patch.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        assert_eq!(
            patch.headers.get("accept-patch").map(|v| v.as_bytes()),
            Some(&b"application/merge-patch+json"[..])
        );
    }
    if patch.status == StatusCode::OK {
        let patch_document: Value = serde_json::from_slice(&patch_bytes).unwrap();
        let expected = merge_patch(current.as_ref().unwrap(), &patch_document);
        let (document, etag) = document_of(&patch);
        assert_eq!(
            document, expected,
            "RFC 7396 merge of {patch_document} into {:?}",
            current
        );
        let get = send(&app, Method::GET, &uri, &MediaType::Missing, Vec::new(), false);
        assert_eq!(document_of(&get), (expected, etag));
    }
});
