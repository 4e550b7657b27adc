//! The edge cache's storage: both tiers, restarts, damaged files, streaming, purges.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use revalidate_edge::storage::{
    HybridConfig, HybridStorage, MemoryConfig, MemoryStorage, ObjectHead, ObjectWriter, Storage,
    StorageError, StoredObject, TooLarge, parse_size,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn body_for(key: &str, len: usize) -> Bytes {
    // Distinct, recognisable bytes per key so that a mixed-up entry cannot pass as the right one.
    let pattern = format!("<{key}>");
    Bytes::from(pattern.bytes().cycle().take(len).collect::<Vec<u8>>())
}

fn object(url: &str, tags: &[&str], body: Bytes) -> StoredObject {
    let tags = tags.iter().map(|t| (*t).to_owned()).collect();
    StoredObject::new(url, tags, Bytes::from(format!("meta for {url}")), body)
}

fn memory(capacity: u64) -> MemoryStorage {
    MemoryStorage::new(MemoryConfig::new(capacity)).unwrap()
}

fn hybrid_config(dir: &Path) -> HybridConfig {
    // 256 KiB memory, 4 MiB disk, 32 KiB objects at most: small enough to overflow in a test.
    HybridConfig::new(dir, 256 * KIB, 4 * MIB)
}

async fn hybrid(dir: &Path) -> HybridStorage {
    HybridStorage::open(hybrid_config(dir)).await.unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[tokio::test]
async fn insert_then_get_round_trips_in_both_tiers() {
    let dir = tempfile::tempdir().unwrap();
    let hybrid = hybrid(dir.path()).await;
    let memory = memory(MIB);
    let body = body_for("a", 3000);
    for storage in [revalidate_edge::storage::AnyStorage::from(memory), hybrid.into()] {
        assert!(storage.get("GET http://o/a").await.unwrap().is_none());
        storage
            .insert(
                "GET http://o/a".to_owned(),
                object("http://o/a", &["t1", "t2"], body.clone()),
            )
            .await
            .unwrap();
        let got = storage.get("GET http://o/a").await.unwrap().unwrap();
        assert_eq!(got.url, "http://o/a");
        assert_eq!(got.tags, ["t1", "t2"]);
        assert_eq!(got.meta, "meta for http://o/a");
        assert_eq!(got.body, body);
        assert_eq!(got.generation(), storage.stats().generation);
        storage.remove("GET http://o/a").await.unwrap();
        assert!(
            storage.get("GET http://o/a").await.unwrap().is_none(),
            "{storage:?}"
        );
        storage.close().await.unwrap();
        assert!(matches!(
            storage.get("GET http://o/a").await,
            Err(StorageError::Closed)
        ));
    }
}

#[tokio::test]
async fn memory_tier_evicts_to_stay_within_its_capacity() {
    let storage = memory(MIB);
    let count = 4000;
    for n in 0..count {
        let key = format!("k{n}");
        storage
            .insert(
                key.clone(),
                object(&format!("http://o/{n}"), &[], body_for(&key, 1024)),
            )
            .await
            .unwrap();
    }
    let stats = storage.stats();
    assert!(stats.memory_bytes <= stats.memory_capacity, "{stats:?}");
    assert!(stats.memory_entries < count, "{stats:?}");
    assert!(stats.memory_entries > 100, "{stats:?}");
    let mut hits = 0;
    for n in 0..count {
        let key = format!("k{n}");
        if let Some(found) = storage.get(&key).await.unwrap() {
            assert_eq!(found.body, body_for(&key, 1024));
            hits += 1;
        }
    }
    assert!(hits > 100 && hits < count, "hits {hits}");
}

#[tokio::test]
async fn objects_over_the_maximum_size_are_not_stored() {
    let storage = memory(MIB);
    let max = storage.max_object_size();
    assert_eq!(max, MIB / 8);
    let too_big = object("http://o/big", &[], body_for("big", max as usize + 1));
    let error = storage.insert("big".to_owned(), too_big).await.unwrap_err();
    assert!(
        matches!(error, StorageError::TooLarge { max: m, .. } if m == max),
        "{error}"
    );
    assert!(storage.get("big").await.unwrap().is_none());
}

#[tokio::test]
async fn disk_tier_evicts_to_stay_within_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let storage = hybrid(dir.path()).await;
    let count = 1280; // 20 MiB of 16 KiB bodies into a 4 MiB disk.
    for n in 0..count {
        let key = format!("k{n}");
        if n == count - 1 {
            // The newest object is asserted below: it must not be the write
            // dropped by a full submit queue on a busy machine.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        storage
            .insert(key.clone(), object("http://o/x", &[], body_for(&key, 16 * 1024)))
            .await
            .unwrap();
        if n % 64 == 0 {
            // Let the flusher keep up: foyer drops writes when its submit queue overflows.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let stats = storage.stats();
    assert!(
        stats.memory_bytes <= stats.memory_capacity,
        "memory tier over capacity: {stats:?}"
    );
    storage.close().await.unwrap();
    let on_disk: u64 = files_under(&dir.path().join("blocks"))
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 4 * MIB + 64 * KIB, "{on_disk} bytes on disk");

    let storage = hybrid(dir.path()).await;
    let mut hits = 0;
    for n in 0..count {
        let key = format!("k{n}");
        if let Some(found) = storage.get(&key).await.unwrap() {
            assert_eq!(found.body, body_for(&key, 16 * 1024), "{key}");
            hits += 1;
        }
    }
    assert!(
        hits > 0 && hits < 256,
        "hits {hits}: a 4 MiB disk holds at most 256 such objects"
    );
    // The newest objects are the ones kept (FIFO block eviction).
    assert!(storage.get(&format!("k{}", count - 1)).await.unwrap().is_some());
    assert!(storage.get("k0").await.unwrap().is_none());
}

#[tokio::test]
async fn reopen_after_restart_finds_entries_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let storage = hybrid(dir.path()).await;
    for n in 0..50 {
        let key = format!("k{n}");
        storage
            .insert(
                key.clone(),
                object(&format!("http://o/{n}"), &["t"], body_for(&key, 2000)),
            )
            .await
            .unwrap();
    }
    storage.close().await.unwrap();
    drop(storage);

    let storage = hybrid(dir.path()).await;
    assert_eq!(
        storage.stats().memory_entries,
        0,
        "a restart starts with an empty memory tier"
    );
    for n in 0..50 {
        let key = format!("k{n}");
        let found = storage
            .get(&key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} lost by the restart"));
        assert_eq!(found.body, body_for(&key, 2000));
        assert_eq!(found.url, format!("http://o/{n}"));
        assert_eq!(found.tags, ["t"]);
    }
    storage.close().await.unwrap();
}

#[tokio::test]
async fn removed_and_replaced_entries_stay_that_way_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = hybrid(dir.path()).await;
    for key in ["removed", "replaced"] {
        storage
            .insert(key.to_owned(), object("http://o/old", &[], body_for("old", 900)))
            .await
            .unwrap();
    }
    storage.remove("removed").await.unwrap();
    storage
        .insert(
            "replaced".to_owned(),
            object("http://o/new", &[], body_for("new", 900)),
        )
        .await
        .unwrap();
    storage.close().await.unwrap();

    let storage = hybrid(dir.path()).await;
    assert!(
        storage.get("removed").await.unwrap().is_none(),
        "a removed entry came back"
    );
    assert_eq!(
        storage.get("replaced").await.unwrap().unwrap().body,
        body_for("new", 900)
    );
    storage.close().await.unwrap();
}

/// Stores `count` objects, closes the cache and returns each key with its body.
async fn fill_and_close(dir: &Path, count: usize) -> Vec<(String, Bytes)> {
    let storage = hybrid(dir).await;
    let mut stored = Vec::new();
    for n in 0..count {
        let key = format!("key-{n}");
        let body = body_for(&key, 3000);
        storage
            .insert(key.clone(), object(&format!("http://o/{n}"), &[], body.clone()))
            .await
            .unwrap();
        stored.push((key, body));
    }
    storage.close().await.unwrap();
    stored
}

/// After reopening, every entry is either exactly what was stored or gone.
async fn assert_intact_or_missing(dir: &Path, stored: &[(String, Bytes)]) -> usize {
    let storage = hybrid(dir).await;
    let mut missing = 0;
    for (key, body) in stored {
        match storage.get(key).await.unwrap() {
            Some(found) => assert_eq!(&found.body, body, "{key} came back damaged"),
            None => missing += 1,
        }
    }
    storage.close().await.unwrap();
    missing
}

#[tokio::test]
async fn corrupted_disk_entries_are_dropped_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let stored = fill_and_close(dir.path(), 20).await;
    // Flip one byte in the middle of the bodies of every third entry, wherever foyer put them.
    let mut corrupted = Vec::new();
    for file in files_under(&dir.path().join("blocks")) {
        let mut bytes = std::fs::read(&file).unwrap();
        for (key, body) in stored.iter().step_by(3) {
            if let Some(at) = find(&bytes, &body[..64]) {
                bytes[at + 1500] ^= 0x20;
                corrupted.push(key.clone());
            }
        }
        std::fs::write(&file, bytes).unwrap();
    }
    assert_eq!(corrupted.len(), 7, "every third body found on disk");

    let storage = hybrid(dir.path()).await;
    for (key, body) in &stored {
        let found = storage.get(key).await.unwrap();
        if corrupted.contains(key) {
            assert!(found.is_none(), "{key} was corrupted on disk but served");
        } else {
            assert_eq!(&found.unwrap().body, body, "{key} untouched but lost");
        }
    }
}

#[tokio::test]
async fn truncated_disk_files_drop_entries_never_serve_them() {
    let dir = tempfile::tempdir().unwrap();
    let stored = fill_and_close(dir.path(), 20).await;
    let mut truncated = false;
    for file in files_under(&dir.path().join("blocks")) {
        let bytes = std::fs::read(&file).unwrap();
        // Cut the file in the middle of the 10th body.
        if let Some(at) = find(&bytes, &stored[10].1[..64]) {
            std::fs::write(&file, &bytes[..at + 1000]).unwrap();
            truncated = true;
        }
    }
    assert!(truncated, "the 10th body was found on disk");
    let missing = assert_intact_or_missing(dir.path(), &stored).await;
    assert!(
        missing >= 10,
        "entries from the cut on are gone, {missing} missing"
    );
}

/// Scattered damage anywhere in the disk tier's files (blocks, tombstone log, headers): whatever
/// reopening recovers is exactly what was stored.
#[tokio::test]
async fn random_damage_anywhere_in_the_disk_files_never_serves_wrong_bytes() {
    for seed in 1..=12u64 {
        let dir = tempfile::tempdir().unwrap();
        let stored = fill_and_close(dir.path(), 30).await;
        // A fixed xorshift sequence per seed keeps failures reproducible.
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for file in files_under(&dir.path().join("blocks")) {
            let mut bytes = std::fs::read(&file).unwrap();
            let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
            if used == 0 {
                continue;
            }
            for _ in 0..8 {
                let at = (next() % used as u64) as usize;
                bytes[at] ^= 1 << (next() % 8);
            }
            std::fs::write(&file, bytes).unwrap();
        }
        let missing = assert_intact_or_missing(dir.path(), &stored).await;
        assert!(
            missing > 0,
            "seed {seed}: the damage hit no entry, so this case tests nothing"
        );
    }
}

#[tokio::test]
async fn damaged_ban_log_clears_the_disk_tier() {
    let dir = tempfile::tempdir().unwrap();
    let stored = fill_and_close(dir.path(), 5).await;
    let log = dir.path().join("bans.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&log, bytes).unwrap();
    assert_eq!(assert_intact_or_missing(dir.path(), &stored).await, stored.len());
}

#[tokio::test]
async fn missing_ban_log_clears_the_disk_tier() {
    let dir = tempfile::tempdir().unwrap();
    let stored = fill_and_close(dir.path(), 5).await;
    std::fs::remove_file(dir.path().join("bans.log")).unwrap();
    assert_eq!(assert_intact_or_missing(dir.path(), &stored).await, stored.len());
}

fn head(url: &str, size_hint: Option<u64>) -> ObjectHead {
    ObjectHead {
        url: url.to_owned(),
        tags: vec!["tag".to_owned()],
        meta: Bytes::from_static(b"m"),
        size_hint,
        purge_generation: None,
    }
}

#[tokio::test]
async fn streaming_writer_commits_aborts_and_refuses_too_large_bodies() {
    let storage = memory(MIB);
    let max = storage.max_object_size();

    // Commit: the chunks become the body.
    let mut writer = storage.begin("streamed".to_owned(), head("http://o/s", None));
    for chunk in [&b"hello, "[..], b"streaming ", b"world"] {
        writer.push(chunk).unwrap();
    }
    assert_eq!(writer.written(), 22);
    writer.commit().await.unwrap();
    let found = storage.get("streamed").await.unwrap().unwrap();
    assert_eq!(found.body, "hello, streaming world");
    assert_eq!(found.tags, ["tag"]);

    // Abort (or drop): nothing stored.
    let mut writer = storage.begin("aborted".to_owned(), head("http://o/a", None));
    writer.push(b"partial").unwrap();
    writer.abort();
    let mut writer = storage.begin("dropped".to_owned(), head("http://o/d", None));
    writer.push(b"partial").unwrap();
    drop(writer);
    assert!(storage.get("aborted").await.unwrap().is_none());
    assert!(storage.get("dropped").await.unwrap().is_none());

    // Too large while streaming: refused from the chunk that crosses the limit on, nothing stored.
    let mut writer = storage.begin("huge".to_owned(), head("http://o/h", None));
    let chunk = vec![7u8; 16 * 1024];
    let mut refused_at = None;
    for n in 0..((max / chunk.len() as u64) + 2) {
        if writer.push(&chunk) == Err(TooLarge { max }) {
            refused_at.get_or_insert(n);
        }
    }
    // URL, tag and meta (14 bytes) count too, so the 8th 16 KiB chunk already crosses the 128 KiB limit.
    assert_eq!(
        refused_at,
        Some(max / chunk.len() as u64 - 1),
        "refused at the first chunk over the limit"
    );
    assert!(matches!(
        writer.commit().await,
        Err(StorageError::TooLarge { .. })
    ));
    assert!(storage.get("huge").await.unwrap().is_none());

    // A Content-Length over the limit is refused at the first push.
    let mut writer = storage.begin("hinted".to_owned(), head("http://o/h", Some(max + 1)));
    assert_eq!(writer.push(b"x"), Err(TooLarge { max }));
    assert!(writer.commit().await.is_err());
    assert!(storage.get("hinted").await.unwrap().is_none());
}

#[tokio::test]
async fn purges_by_url_prefix_and_tag_drop_exactly_what_they_cover() {
    let storage = memory(MIB);
    let entries = [
        ("GET http://o/a|gzip", "http://o/a", &["product-1"][..]),
        ("GET http://o/a|br", "http://o/a", &["product-1"][..]),
        ("GET http://o/ab", "http://o/ab", &[][..]),
        ("GET http://o/img/1", "http://o/img/1", &["images"][..]),
        (
            "GET http://o/img/2",
            "http://o/img/2",
            &["images", "product-2"][..],
        ),
        ("GET http://o/other", "http://o/other", &["product-2"][..]),
    ];
    for (key, url, tags) in entries {
        storage
            .insert(key.to_owned(), object(url, tags, body_for(key, 100)))
            .await
            .unwrap();
    }
    async fn alive(storage: &MemoryStorage, keys: &[&str]) -> Vec<String> {
        let mut alive = Vec::new();
        for key in keys {
            if storage.get(key).await.unwrap().is_some() {
                alive.push((*key).to_owned());
            }
        }
        alive
    }
    let keys: Vec<&str> = entries.iter().map(|(key, _, _)| *key).collect();

    // A URL purge covers every variant of that URL and nothing else (not /ab).
    storage.purge_url("http://o/a").await.unwrap();
    assert_eq!(alive(&storage, &keys).await, &keys[2..]);

    storage.ban_prefix("http://o/img/").await.unwrap();
    assert_eq!(
        alive(&storage, &keys).await,
        ["GET http://o/ab", "GET http://o/other"]
    );

    storage.ban_tag("product-2").await.unwrap();
    assert_eq!(alive(&storage, &keys).await, ["GET http://o/ab"]);
    assert_eq!(storage.stats().bans, 3);

    // Objects stored after a purge are not covered by it.
    storage
        .insert(
            "GET http://o/a".to_owned(),
            object("http://o/a", &["product-2"], body_for("x", 10)),
        )
        .await
        .unwrap();
    assert!(storage.get("GET http://o/a").await.unwrap().is_some());

    // A body that was streaming when the purge arrived is covered by it.
    let mut writer = storage.begin("GET http://o/img/3".to_owned(), head("http://o/img/3", None));
    writer.push(b"old image").unwrap();
    storage.ban_prefix("http://o/img/").await.unwrap();
    writer.commit().await.unwrap();
    assert!(storage.get("GET http://o/img/3").await.unwrap().is_none());
}

#[tokio::test]
async fn bans_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let storage = hybrid(dir.path()).await;
    for (key, url, tag) in [
        ("a", "http://o/a", "ta"),
        ("b", "http://o/p/b", "tb"),
        ("c", "http://o/c", "tc"),
    ] {
        storage
            .insert(key.to_owned(), object(url, &[tag], body_for(key, 500)))
            .await
            .unwrap();
    }
    storage.purge_url("http://o/a").await.unwrap();
    storage.ban_prefix("http://o/p/").await.unwrap();
    storage.ban_tag("tc").await.unwrap();
    storage
        .insert(
            "d".to_owned(),
            object("http://o/p/d", &["tc"], body_for("d", 500)),
        )
        .await
        .unwrap();
    let generation = storage.stats().generation;
    storage.close().await.unwrap();

    let storage = hybrid(dir.path()).await;
    assert_eq!(storage.stats().bans, 3);
    assert_eq!(storage.stats().generation, generation);
    for key in ["a", "b", "c"] {
        assert!(
            storage.get(key).await.unwrap().is_none(),
            "purged {key} came back after a restart"
        );
    }
    assert_eq!(storage.get("d").await.unwrap().unwrap().body, body_for("d", 500));
    storage.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_gets_and_inserts_never_mix_up_entries() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(hybrid(dir.path()).await);
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let storage = storage.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..300 {
                let key = format!("k{}", (worker * 7 + round) % 64);
                if round % 3 == 0 {
                    let body = body_for(&key, 1000 + round % 5);
                    storage
                        .insert(key.clone(), object("http://o/c", &[], body))
                        .await
                        .unwrap();
                } else if let Some(found) = storage.get(&key).await.unwrap() {
                    assert_eq!(
                        found.body[..key.len() + 2],
                        body_for(&key, key.len() + 2),
                        "{key}"
                    );
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    storage.close().await.unwrap();
}

#[test]
fn sizes_parse_with_binary_and_decimal_units() {
    let cases: &[(&str, Option<u64>)] = &[
        ("0", Some(0)),
        ("512", Some(512)),
        ("512B", Some(512)),
        ("64KiB", Some(64 * 1024)),
        ("64k", Some(64 * 1024)),
        ("64 MiB", Some(64 * MIB)),
        ("1G", Some(1 << 30)),
        ("2gib", Some(2 << 30)),
        ("1T", Some(1 << 40)),
        ("10MB", Some(10_000_000)),
        ("1kb", Some(1000)),
        (" 3M ", Some(3 * MIB)),
        ("1P", Some(1 << 50)),
        ("1PB", Some(1_000_000_000_000_000)),
        ("4Ki", Some(4096)),
        ("16E", None),
        ("1.0G", None),
        ("1e3", None),
        ("1_000", None),
        ("1 000", None),
        ("1 K B", None),
        ("KB", None),
        ("12b5", None),
        ("", None),
        ("MiB", None),
        ("1.5G", None),
        ("-1", None),
        ("12 parsecs", None),
        ("99999999999999999999", None),
        ("16777216T", None),
    ];
    for (input, expected) in cases {
        assert_eq!(parse_size(input).ok(), *expected, "{input:?}");
    }
    let message = parse_size("12 parsecs").unwrap_err().to_string();
    assert!(
        message.contains("\"12 parsecs\"") && message.contains("unit"),
        "{message}"
    );
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Measures memory per cached 1 KiB object (the issue compares against Varnish). Ignored by default
/// because other tests running in parallel disturb the process's RSS; run it alone:
/// `cargo test -p revalidate-edge --test edge -- --ignored memory_overhead --nocapture`.
#[tokio::test]
#[ignore = "measurement; run alone with --ignored --nocapture"]
async fn memory_overhead_per_object() {
    let count = 100_000u64;
    let storage = memory(4 << 30);
    let body = Bytes::from(vec![b'x'; 1024]);
    let before = resident_bytes();
    for n in 0..count {
        let url = format!("http://origin.example/objects/{n:08}");
        let key = format!("GET {url}");
        let object = StoredObject::new(
            url,
            Vec::new(),
            Bytes::from(vec![0u8; 200]),
            body.slice(..).to_vec().into(),
        );
        storage.insert(key, object).await.unwrap();
    }
    let after = resident_bytes();
    let stats = storage.stats();
    assert_eq!(stats.memory_entries, count);
    let per_object = (after - before) / count;
    let weighed = stats.memory_bytes / count;
    // Payload per object: 1024 body + 200 meta + 37 URL + 41 key = 1302 bytes.
    println!("RSS per object: {per_object} bytes; weigher per object: {weighed} bytes; payload 1302 bytes");
    assert!(
        per_object < 1302 + 1024,
        "overhead above 1 KiB per object: {per_object}"
    );
    // The weigher (what `--memory` limits) must not undercount what an entry really costs.
    assert!(
        weighed * 100 >= per_object * 90,
        "weigher {weighed} undercounts RSS {per_object}"
    );
}

/// `get_in_memory` answers as `get` would whenever memory can tell (always for the memory tier,
/// for the hybrid tier while the object is in its memory part), covers purges as `get` does,
/// and for the hybrid tier says "only the disk can tell" after a restart emptied memory.
#[tokio::test]
async fn get_in_memory_answers_as_get_does_or_defers_to_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let body = body_for("a", 3000);
    for storage in [
        revalidate_edge::storage::AnyStorage::from(memory(MIB)),
        hybrid(dir.path()).await.into(),
    ] {
        assert!(matches!(
            storage.get_in_memory("GET http://o/a"),
            Some(Ok(None)) | None
        ));
        storage
            .insert(
                "GET http://o/a".to_owned(),
                object("http://o/a", &["t"], body.clone()),
            )
            .await
            .unwrap();
        let got = storage.get_in_memory("GET http://o/a").unwrap().unwrap().unwrap();
        assert_eq!(got.body, body, "{storage:?}");
        storage.purge_url("http://o/a").await.unwrap();
        assert!(
            matches!(storage.get_in_memory("GET http://o/a"), Some(Ok(None)) | None),
            "a purged object is not answered from memory: {storage:?}"
        );
        assert!(storage.get("GET http://o/a").await.unwrap().is_none());
        storage.close().await.unwrap();
        assert!(matches!(
            storage.get_in_memory("GET http://o/a"),
            Some(Err(StorageError::Closed))
        ));
    }

    // After a restart the hybrid tier's memory is empty: only the disk can tell, and `get` does.
    let dir = tempfile::tempdir().unwrap();
    let storage = hybrid(dir.path()).await;
    storage
        .insert("k".to_owned(), object("http://o/k", &[], body.clone()))
        .await
        .unwrap();
    storage.close().await.unwrap();
    drop(storage);
    let storage = hybrid(dir.path()).await;
    assert!(storage.get_in_memory("k").is_none());
    assert_eq!(storage.get("k").await.unwrap().unwrap().body, body);
    storage.close().await.unwrap();
}
