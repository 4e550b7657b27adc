//! `DiskCache` (feature `disk`): entries survive reopening; a damaged file
//! is a miss, never garbage.

use std::time::Duration;

use revalidate_client::{CacheStorage, CachingClient, DiskCache, ManualClock, Source};

use crate::cache::{reply, scripted, start};

const URL: &str = "http://origin.test/disk";

#[tokio::test]
async fn disk_store_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let fresh = [
        ("cache-control", "max-age=60"),
        ("etag", "\"a\""),
        ("x-multi", "1"),
    ];
    let transport = scripted(&clock, vec![reply(200, &fresh, "stored on disk")]);
    let first = CachingClient::from_parts(
        transport.clone(),
        DiskCache::open(dir.path()).unwrap(),
        clock.clone(),
    );
    let network = first.get(URL).await.unwrap();
    assert_eq!(network.source, Source::Network);
    drop(first);

    clock.advance(Duration::from_secs(5));
    let reopened = CachingClient::from_parts(
        transport.clone(),
        DiskCache::open(dir.path()).unwrap(),
        clock.clone(),
    );
    let cached = reopened.get(URL).await.unwrap();
    assert_eq!(cached.source, Source::Cache);
    assert_eq!(cached.body, "stored on disk");
    assert_eq!(cached.headers["etag"], "\"a\"");
    assert_eq!(cached.headers["age"], "5");
    assert_eq!(transport.request_count(), 1, "served from disk without a request");
}

#[tokio::test]
async fn corrupt_file_is_a_miss() {
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage); 5] = [
        ("flipped payload byte", |b| {
            let last = b.len() - 1;
            b[last] ^= 0x55;
        }),
        ("flipped checksum byte", |b| b[10] ^= 0x01),
        ("truncated", |b| b.truncate(b.len() / 2)),
        ("bad magic", |b| b[0] = b'X'),
        ("empty", Vec::clear),
    ];
    for (case, damage) in cases {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(start());
        let fresh = [("cache-control", "max-age=60"), ("etag", "\"a\"")];
        let transport = scripted(
            &clock,
            vec![reply(200, &fresh, "v1"), reply(200, &fresh, "v1 again")],
        );
        let store = DiskCache::open(dir.path()).unwrap();
        let path = store.path_for(URL);
        let client = CachingClient::from_parts(transport.clone(), store, clock.clone());
        client.get(URL).await.unwrap();
        assert_eq!(client.storage().load(URL).len(), 1, "{case}: stored");

        let mut bytes = std::fs::read(&path).unwrap();
        damage(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();

        assert!(client.storage().load(URL).is_empty(), "{case}: a miss");
        assert!(!path.exists(), "{case}: the damaged file is removed");
        let again = client.get(URL).await.unwrap();
        assert_eq!(
            (again.source, again.body.as_ref()),
            (Source::Network, b"v1 again".as_slice()),
            "{case}"
        );
        assert_eq!(transport.request_count(), 2, "{case}");
    }
}

#[test]
fn another_keys_file_under_the_same_name_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskCache::open(dir.path()).unwrap();
    let other = "http://origin.test/other";
    let at = revalidate_core::HttpDate::saturating_from_system_time(start());
    let entry = revalidate_client::StoredResponse {
        head: revalidate_core::cache::StoredHead::new(
            http::StatusCode::OK,
            http::HeaderMap::new(),
            &http::HeaderMap::new(),
            at,
            at,
        ),
        body: bytes::Bytes::from_static(b"x"),
    };
    store.save(other, vec![entry]);
    std::fs::rename(store.path_for(other), store.path_for(URL)).unwrap();
    assert!(store.load(URL).is_empty());
    assert_eq!(store.load(other).len(), 0, "moved away");
}

/// A crash between writing and renaming leaves a temporary file: it is
/// never read and is removed on the next open. A crash that tore the entry
/// itself (the machine lost the tail of the file) is a miss, and the next
/// response replaces it.
#[tokio::test]
async fn crash_leftovers_and_torn_entries_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(start());
    let fresh = [("cache-control", "max-age=60"), ("etag", "\"a\"")];
    let transport = scripted(&clock, vec![reply(200, &fresh, "v1"), reply(200, &fresh, "v2")]);
    let client = CachingClient::from_parts(
        transport.clone(),
        DiskCache::open(dir.path()).unwrap(),
        clock.clone(),
    );
    client.get(URL).await.unwrap();
    let path = client.storage().path_for(URL);
    let leftover = dir.path().join(".tmp-99999-0");
    std::fs::write(&leftover, b"half an entry").unwrap();
    // The machine died mid-write: only the first half of the entry made it.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    drop(client);

    let reopened = CachingClient::from_parts(
        transport.clone(),
        DiskCache::open(dir.path()).unwrap(),
        clock.clone(),
    );
    assert!(!leftover.exists(), "the temporary file is removed on open");
    let again = reopened.get(URL).await.unwrap();
    assert_eq!(
        (again.source, again.body.as_ref()),
        (Source::Network, b"v2".as_slice())
    );
    let cached = reopened.get(URL).await.unwrap();
    assert_eq!(
        (cached.source, cached.body.as_ref()),
        (Source::Cache, b"v2".as_slice())
    );
    assert_eq!(transport.request_count(), 2);
}
