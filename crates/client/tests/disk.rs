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

fn stored(body_len: usize) -> revalidate_client::StoredResponse {
    let at = revalidate_core::HttpDate::saturating_from_system_time(start());
    revalidate_client::StoredResponse {
        head: revalidate_core::cache::StoredHead::new(
            http::StatusCode::OK,
            http::HeaderMap::new(),
            &http::HeaderMap::new(),
            at,
            at,
        ),
        body: bytes::Bytes::from(vec![b'x'; body_len]),
    }
}

/// The entry files in `dir`: how many, and their bytes.
fn entry_files(dir: &std::path::Path) -> (usize, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(".entry") {
            count += 1;
            bytes += entry.metadata().unwrap().len();
        }
    }
    (count, bytes)
}

fn key(i: usize) -> String {
    format!("http://origin.test/page/{i}")
}

/// The bound holds after every save, the cache's count matches the files
/// on disk exactly, and what it keeps reads back whole.
#[test]
fn disk_store_stays_within_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let capacity = 16 * 1024;
    let store = DiskCache::with_capacity(dir.path(), capacity).unwrap();
    for i in 0..64 {
        store.save(&key(i), vec![stored(1000)]);
        let (count, bytes) = entry_files(dir.path());
        assert!(bytes <= capacity, "after save {i}: {bytes} bytes on disk");
        assert_eq!((count, bytes), (store.len(), store.bytes()), "after save {i}");
        assert_eq!(
            store.load(&key(i)).len(),
            1,
            "after save {i}: the entry just saved is kept"
        );
    }
    let kept: Vec<usize> = (0..64).filter(|&i| !store.load(&key(i)).is_empty()).collect();
    assert!(
        (10..=16).contains(&kept.len()),
        "about 16 KiB of 1 KiB entries are kept: {kept:?}"
    );
    assert!(kept.contains(&63), "{kept:?}");
}

/// An entry used again outlives entries saved once since: the index
/// evicts by use, not only by age.
#[test]
fn an_entry_used_again_outlives_one_off_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskCache::with_capacity(dir.path(), 16 * 1024).unwrap();
    let favourite = "http://origin.test/favourite";
    store.save(favourite, vec![stored(1000)]);
    for i in 0..200 {
        assert_eq!(store.load(favourite).len(), 1, "before one-off entry {i}");
        store.save(&key(i), vec![stored(1000)]);
    }
}

/// An entry larger than the whole bound is not kept (nor is its file),
/// and saving it evicts nothing else.
#[test]
fn an_entry_larger_than_the_capacity_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskCache::with_capacity(dir.path(), 8 * 1024).unwrap();
    store.save(&key(0), vec![stored(1000)]);
    store.save(&key(1), vec![stored(20_000)]);
    assert!(store.load(&key(1)).is_empty());
    assert!(!store.path_for(&key(1)).exists());
    assert_eq!(store.load(&key(0)).len(), 1);
    assert_eq!(entry_files(dir.path()), (store.len(), store.bytes()));
}

/// Opened again with a smaller bound, the directory is trimmed at once,
/// the least recently written entries first; removing an entry frees its
/// bytes.
#[test]
fn reopening_with_a_smaller_capacity_trims_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskCache::with_capacity(dir.path(), 1024 * 1024).unwrap();
        for i in 0..20 {
            store.save(&key(i), vec![stored(1000)]);
            // Distinct modification times, whatever the file system's
            // resolution: entry i was written i minutes after the first.
            let file = std::fs::File::options()
                .write(true)
                .open(store.path_for(&key(i)))
                .unwrap();
            file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60 * i as u64))
                .unwrap();
        }
        assert_eq!(store.len(), 20);
    }
    let store = DiskCache::with_capacity(dir.path(), 8 * 1024).unwrap();
    let (count, bytes) = entry_files(dir.path());
    assert!(bytes <= 8 * 1024, "{bytes}");
    assert_eq!((count, bytes), (store.len(), store.bytes()));
    let kept: Vec<usize> = (0..20).filter(|&i| store.path_for(&key(i)).exists()).collect();
    assert!(!kept.is_empty());
    let oldest_kept = kept[0];
    assert_eq!(
        kept,
        (oldest_kept..20).collect::<Vec<_>>(),
        "the newest entries are the ones kept"
    );

    store.save(&key(19), Vec::new());
    assert_eq!(entry_files(dir.path()), (store.len(), store.bytes()));
    assert!(!store.path_for(&key(19)).exists());
}

#[test]
fn another_keys_file_under_the_same_name_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskCache::open(dir.path()).unwrap();
    let other = "http://origin.test/other";
    store.save(other, vec![stored(1)]);
    std::fs::rename(store.path_for(other), store.path_for(URL)).unwrap();
    // Opened again, the cache indexes the file under URL's name and reads it.
    let store = DiskCache::open(dir.path()).unwrap();
    assert_eq!(store.len(), 1);
    assert!(store.load(URL).is_empty());
    assert!(!store.path_for(URL).exists(), "the misplaced file is removed");
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
