//! The cases every backend must pass, each run against memory, SQLite (a
//! real file) and PostgreSQL, with two nodes sharing the database.

use http::{HeaderMap, Method};
use revalidate_core::{EntityTag, Outcome, Preconditions};
use revalidate_store::{
    AnyStore, Change, CollectionName, Current, JsonText, Resource, ResourceKey, Store, WriteOutcome,
};
use serde_json::{Value, json};

use crate::support::{date, later, now, value};

/// Generates one test per case per backend.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::support::run(crate::support::Backend::Memory, super::$case).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::support::run(crate::support::Backend::Sqlite, super::$case).await;
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::support::run(crate::support::Backend::Postgres, super::$case).await;
            })*
        }
    };
}

conformance!(
    create_with_generated_id_then_get_from_other_node,
    put_creates_then_replaces,
    create_only_conflict,
    replace_guard_table,
    delete_then_delete_again,
    patch_style_read_modify_write,
    etag_identical_on_both_nodes,
    etag_changes_on_every_write,
    last_modified_never_moves_backwards,
    if_match_through_core_preconditions,
    two_writers_with_the_same_if_unmodified_since_never_both_win,
    delete_and_recreate_in_one_second_then_a_stale_if_unmodified_since_is_refused,
    a_stale_if_unmodified_since_does_not_recreate_a_deleted_resource,
    tombstones_are_pruned_after_the_retention,
    racing_creators_of_one_id_one_wins,
    concurrent_increments_lose_nothing,
    unicode_and_nested_bodies_round_trip,
    json_text_is_stored_byte_for_byte,
);

fn key(id: &str) -> ResourceKey {
    ResourceKey::new("notes", id).unwrap()
}

/// An unconditional PUT.
async fn put(store: &AnyStore, key: &ResourceKey, body: Value) -> Resource {
    match store
        .write(key, now(), |_| Ok::<_, ()>(Change::Put(body.clone().into())))
        .await
        .unwrap()
    {
        WriteOutcome::Created(r) | WriteOutcome::Replaced(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// A PUT guarded by "the current entity-tag is `expected`" (strong compare).
async fn put_if_match(
    store: &AnyStore,
    key: &ResourceKey,
    expected: &EntityTag,
    body: Value,
) -> WriteOutcome<&'static str> {
    store
        .write(key, now(), |current| match current.resource() {
            Some(c) if c.etag().strong_eq(expected) => Ok(Change::Put(body.clone().into())),
            _ => Err("precondition failed"),
        })
        .await
        .unwrap()
}

async fn create_with_generated_id_then_get_from_other_node(a: AnyStore, b: AnyStore) {
    let collection = CollectionName::new("notes").unwrap();
    let created = a
        .create(&collection, json!({"text": "hello"}).into(), now())
        .await
        .unwrap();
    assert_eq!(created.version(), 1);
    assert_eq!(value(&created), json!({"text": "hello"}));
    assert_eq!(created.json(), r#"{"text":"hello"}"#);
    assert_eq!(created.modified_at(), now(), "to the microsecond");
    assert_eq!(created.last_modified(date(now())), date(now()));
    let read = b.get(created.key()).await.unwrap().unwrap();
    assert_eq!(read, created);
    assert!(b.get(&key("missing")).await.unwrap().is_none());
    a.ping().await.unwrap();
}

async fn put_creates_then_replaces(a: AnyStore, b: AnyStore) {
    let k = key("p");
    let first = a
        .write(&k, now(), |_| Ok::<_, ()>(Change::Put(json!(1).into())))
        .await
        .unwrap();
    assert!(
        matches!(&first, WriteOutcome::Created(r) if r.version() == 1),
        "{first:?}"
    );
    let second = b
        .write(&k, now(), |_| Ok::<_, ()>(Change::Put(json!(2).into())))
        .await
        .unwrap();
    let WriteOutcome::Replaced(second) = second else {
        panic!("{second:?}")
    };
    assert_eq!(second.version(), 2);
    assert_eq!(value(&a.get(&k).await.unwrap().unwrap()), json!(2));
}

async fn create_only_conflict(a: AnyStore, b: AnyStore) {
    let k = key("only-once");
    let create_only = |body: Value| {
        move |current: Current<'_>| match current.resource() {
            None => Ok(Change::Put(body.clone().into())),
            Some(_) => Err("exists"),
        }
    };
    let first = a.write(&k, now(), create_only(json!("first"))).await.unwrap();
    assert!(matches!(first, WriteOutcome::Created(_)));
    let second = b.write(&k, now(), create_only(json!("second"))).await.unwrap();
    let WriteOutcome::Refused { refusal, current } = second else {
        panic!("{second:?}")
    };
    assert_eq!(refusal, "exists");
    let current = current.unwrap();
    assert_eq!(
        value(&current),
        json!("first"),
        "the refusal reports the state it saw"
    );
    assert_eq!(b.get(&k).await.unwrap().unwrap(), current, "nothing was written");
}

async fn replace_guard_table(a: AnyStore, b: AnyStore) {
    // (case, guard is the current tag?, expect replaced?)
    let cases = [
        ("matching_guard_replaces", true, true),
        ("stale_guard_is_refused", false, false),
    ];
    for (case, guard_is_current, expect_replaced) in cases {
        let k = key(case);
        let v1 = put(&a, &k, json!({"v": 1})).await;
        let v2 = put(&a, &k, json!({"v": 2})).await;
        let guard = if guard_is_current { v2.etag() } else { v1.etag() };
        let outcome = put_if_match(&b, &k, guard, json!({"v": 3})).await;
        let stored = a.get(&k).await.unwrap().unwrap();
        match outcome {
            WriteOutcome::Replaced(r) if expect_replaced => {
                assert_eq!(r.version(), 3, "{case}");
                assert_eq!(stored, r, "{case}");
            }
            WriteOutcome::Refused { current, .. } if !expect_replaced => {
                assert_eq!(current.as_ref(), Some(&v2), "{case}: reports the current version");
                assert_eq!(stored, v2, "{case}: unchanged");
            }
            other => panic!("{case}: unexpected {other:?}"),
        }
    }
    // A guard on a missing resource is refused and creates nothing.
    let k = key("never-created");
    let outcome = put_if_match(&a, &k, &EntityTag::strong("x").unwrap(), json!(1)).await;
    assert!(
        matches!(outcome, WriteOutcome::Refused { current: None, .. }),
        "{outcome:?}"
    );
    assert!(b.get(&k).await.unwrap().is_none());
}

async fn delete_then_delete_again(a: AnyStore, b: AnyStore) {
    let k = key("doomed");
    let stored = put(&a, &k, json!([1, 2, 3])).await;
    let deleted = b.write(&k, now(), |_| Ok::<_, ()>(Change::Delete)).await.unwrap();
    assert_eq!(deleted, WriteOutcome::Deleted(stored));
    assert!(a.get(&k).await.unwrap().is_none());
    let again = a.write(&k, now(), |_| Ok::<_, ()>(Change::Delete)).await.unwrap();
    assert_eq!(again, WriteOutcome::Absent);
    // Created again, it starts over at version 1.
    let recreated = put(&b, &k, json!("new")).await;
    assert_eq!(recreated.version(), 1);
}

async fn patch_style_read_modify_write(a: AnyStore, b: AnyStore) {
    let k = key("patched");
    put(&a, &k, json!({"title": "t", "tags": ["x"], "draft": true})).await;
    // A JSON Merge Patch (RFC 7396) computed inside the closure from the
    // locked current body.
    let patch = json!({"draft": null, "title": "final"});
    let outcome = b
        .write(&k, now(), |current| {
            let Some(current) = current.resource() else {
                return Err("not found");
            };
            let mut merged = value(current);
            let (Value::Object(target), Value::Object(changes)) = (&mut merged, &patch) else {
                return Err("not an object");
            };
            for (name, value) in changes {
                if value.is_null() {
                    target.remove(name);
                } else {
                    target.insert(name.clone(), value.clone());
                }
            }
            Ok(Change::Put(merged.into()))
        })
        .await
        .unwrap();
    let WriteOutcome::Replaced(patched) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(value(&patched), json!({"title": "final", "tags": ["x"]}));
    assert_eq!(a.get(&k).await.unwrap().unwrap(), patched);
}

async fn etag_identical_on_both_nodes(a: AnyStore, b: AnyStore) {
    let k = key("shared");
    let written = put(&a, &k, json!({"n": 1})).await;
    let via_a = a.get(&k).await.unwrap().unwrap();
    let via_b = b.get(&k).await.unwrap().unwrap();
    assert_eq!(via_a.etag(), written.etag());
    assert_eq!(via_b.etag(), written.etag());
    assert!(via_b.etag().is_strong());
    assert_eq!(via_b.modified_at(), written.modified_at());
    assert_eq!(via_b.validators(date(now())), written.validators(date(now())));
    assert_eq!(via_b.json(), written.json());
    // The tag is a pure function of the version and the stored text.
    assert_eq!(via_b.etag(), &revalidate_store::entity_tag_for(1, r#"{"n":1}"#));
    assert_eq!(via_b.etag().opaque().len(), 32);
}

async fn etag_changes_on_every_write(a: AnyStore, b: AnyStore) {
    let k = key("churn");
    let mut seen = Vec::new();
    for (i, body) in [json!(1), json!(1), json!(2), json!(1)].into_iter().enumerate() {
        let node = if i % 2 == 0 { &a } else { &b };
        let r = put(node, &k, body).await;
        assert!(!seen.contains(r.etag()), "write {i} reused a tag");
        seen.push(r.etag().clone());
    }
}

async fn last_modified_never_moves_backwards(a: AnyStore, b: AnyStore) {
    let k = key("dated");
    let ahead = later(100_000);
    let v1 = a
        .write(&k, ahead, |_| Ok::<_, ()>(Change::Put(json!(1).into())))
        .await
        .unwrap();
    let WriteOutcome::Created(v1) = v1 else {
        panic!("{v1:?}")
    };
    assert_eq!(v1.modified_at(), ahead);
    assert_eq!(v1.last_modified(date(ahead)), date(ahead));
    // A node whose clock lags writes next: the time stays where it was,
    // and the version shares its second with v1.
    let v2 = b
        .write(&k, now(), |_| Ok::<_, ()>(Change::Put(json!(2).into())))
        .await
        .unwrap();
    let WriteOutcome::Replaced(v2) = v2 else {
        panic!("{v2:?}")
    };
    assert_eq!(v2.modified_at(), ahead);
    assert_eq!(v2.last_modified(date(ahead)), date(ahead));
    assert!(!v2.validators(date(ahead)).last_modified_is_strong(date(ahead)));
    let v3 = b
        .write(&k, later(105_000), |_| Ok::<_, ()>(Change::Put(json!(3).into())))
        .await
        .unwrap();
    let WriteOutcome::Replaced(v3) = v3 else {
        panic!("{v3:?}")
    };
    assert_eq!(v3.modified_at(), later(105_000));
    assert_eq!(v3.last_modified(date(later(200_000))), date(later(105_000)));
}

/// The way the HTTP layer uses the store: the core's evaluator inside the
/// decision closure, against the state's validators at the writer's clock.
async fn put_with(
    store: &AnyStore,
    k: &ResourceKey,
    at: std::time::SystemTime,
    headers: &[(&str, &str)],
    body: Value,
) -> WriteOutcome<Outcome> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let preconditions = Preconditions::from_headers(&map);
    let today = date(at);
    store
        .write(k, at, |current| {
            match preconditions.evaluate(&Method::PUT, &current.validators(today), today) {
                Outcome::Proceed | Outcome::IgnoreRange => Ok(Change::Put(body.clone().into())),
                refused => Err(refused),
            }
        })
        .await
        .unwrap()
}

/// The validators a client reads at `at`, as header values.
async fn read_at(store: &AnyStore, k: &ResourceKey, at: std::time::SystemTime) -> (String, String) {
    let resource = store.get(k).await.unwrap().unwrap();
    let validators = resource.validators(date(at));
    (
        validators.etag().unwrap().to_string(),
        validators.last_modified().unwrap().to_string(),
    )
}

fn refused(outcome: &WriteOutcome<Outcome>) -> bool {
    matches!(
        outcome,
        WriteOutcome::Refused {
            refusal: Outcome::PreconditionFailed,
            ..
        }
    )
}

async fn if_match_through_core_preconditions(a: AnyStore, b: AnyStore) {
    let k = key("guarded");
    put(&a, &k, json!("one")).await;
    let (v1, _) = read_at(&a, &k, now()).await;
    let first = put_with(&a, &k, now(), &[("if-match", &v1)], json!("two")).await;
    assert!(matches!(first, WriteOutcome::Replaced(_)), "{first:?}");
    // The same If-Match again (another client that read v1): 412.
    let second = put_with(&b, &k, now(), &[("if-match", &v1)], json!("three")).await;
    assert!(refused(&second), "{second:?}");
    // If-None-Match: * on an existing resource: 412.
    let third = put_with(&b, &k, now(), &[("if-none-match", "*")], json!("four")).await;
    assert!(refused(&third), "{third:?}");
    // If-Unmodified-Since before Last-Modified: 412.
    let stale = "Sat, 29 Oct 1994 19:43:31 GMT";
    let fourth = put_with(&a, &k, now(), &[("if-unmodified-since", stale)], json!("five")).await;
    assert!(refused(&fourth), "{fourth:?}");
    // Once the second of the two writes is over, the date read then is
    // strong and passes.
    let next_second = later(1_000);
    let (_, last_modified) = read_at(&b, &k, next_second).await;
    assert_eq!(last_modified, date(next_second).to_string());
    let fifth = put_with(
        &a,
        &k,
        next_second,
        &[("if-unmodified-since", &last_modified)],
        json!("six"),
    )
    .await;
    assert!(matches!(fifth, WriteOutcome::Replaced(_)), "{fifth:?}");
    assert_eq!(value(&b.get(&k).await.unwrap().unwrap()), json!("six"));
}

/// RFC 9110 §8.8.2.2 / §13.1.4: two writers read v1 (alone in its second,
/// so its date is strong) and send `If-Unmodified-Since` with it. The
/// first wins within the same second; its version shares the second, so
/// the second writer's date no longer confirms anything: 412. Re-read in
/// the next second, the date is the next second, and the retry passes.
async fn two_writers_with_the_same_if_unmodified_since_never_both_win(a: AnyStore, b: AnyStore) {
    let k = key("same-second");
    put(&a, &k, json!({"v": 1})).await;
    let (_, read) = read_at(&a, &k, later(10)).await;
    assert_eq!(read, date(now()).to_string());
    let first = put_with(
        &a,
        &k,
        later(20),
        &[("if-unmodified-since", &read)],
        json!({"v": "a"}),
    )
    .await;
    assert!(matches!(first, WriteOutcome::Replaced(_)), "{first:?}");
    let second = put_with(
        &b,
        &k,
        later(30),
        &[("if-unmodified-since", &read)],
        json!({"v": "b"}),
    )
    .await;
    assert!(refused(&second), "the second writer must not win too: {second:?}");
    // Still in that second: a re-read gives the same, weak, date.
    let (_, again) = read_at(&b, &k, later(40)).await;
    let retry = put_with(
        &b,
        &k,
        later(50),
        &[("if-unmodified-since", &again)],
        json!({"v": "b"}),
    )
    .await;
    assert!(refused(&retry), "{retry:?}");
    // In the next second the re-read date is strong and the retry passes.
    let (_, fresh) = read_at(&b, &k, later(1_000)).await;
    assert_eq!(fresh, date(later(1_000)).to_string());
    let retry = put_with(
        &b,
        &k,
        later(1_010),
        &[("if-unmodified-since", &fresh)],
        json!({"v": "b"}),
    )
    .await;
    assert!(matches!(retry, WriteOutcome::Replaced(_)), "{retry:?}");
    assert_eq!(value(&a.get(&k).await.unwrap().unwrap()), json!({"v": "b"}));
}

/// A delete and a re-creation within the second of the version a client
/// read: the re-created version has the same date, and the client's
/// `If-Unmodified-Since` must still fail, in that second and later.
async fn delete_and_recreate_in_one_second_then_a_stale_if_unmodified_since_is_refused(
    a: AnyStore,
    b: AnyStore,
) {
    let k = key("reborn");
    put(&a, &k, json!("first life")).await;
    let (_, stale) = read_at(&a, &k, later(10)).await;
    let deleted = b
        .write(&k, later(20), |_| Ok::<_, ()>(Change::Delete))
        .await
        .unwrap();
    assert!(matches!(deleted, WriteOutcome::Deleted(_)), "{deleted:?}");
    let reborn = a
        .write(&k, later(30), |current| {
            assert!(current.resource().is_none());
            assert_eq!(current.removed_at(), Some(later(20)), "the tombstone is seen");
            Ok::<_, ()>(Change::Put(json!("second life").into()))
        })
        .await
        .unwrap();
    let WriteOutcome::Created(reborn) = reborn else {
        panic!("{reborn:?}")
    };
    assert_eq!(reborn.version(), 1);
    assert_eq!(
        reborn.last_modified(date(later(30))).to_string(),
        stale,
        "the same second"
    );
    for at in [later(40), later(1_000), later(60_000)] {
        let write = put_with(&b, &k, at, &[("if-unmodified-since", &stale)], json!("lost")).await;
        assert!(refused(&write), "at {:?}: {write:?}", date(at));
    }
    assert_eq!(value(&a.get(&k).await.unwrap().unwrap()), json!("second life"));
}

/// A client read a version, another deleted it: the first client's PUT
/// with `If-Unmodified-Since` must not bring it back (the tombstone is the
/// resource's last change). A client that saw the deletion may create.
async fn a_stale_if_unmodified_since_does_not_recreate_a_deleted_resource(a: AnyStore, b: AnyStore) {
    let k = key("deleted");
    put(&a, &k, json!("v1")).await;
    let (_, stale) = read_at(&a, &k, later(10)).await;
    b.write(&k, later(3_000), |_| Ok::<_, ()>(Change::Delete))
        .await
        .unwrap();
    let resurrect = put_with(
        &a,
        &k,
        later(4_000),
        &[("if-unmodified-since", &stale)],
        json!("v1 edited"),
    )
    .await;
    assert!(refused(&resurrect), "{resurrect:?}");
    assert!(b.get(&k).await.unwrap().is_none());
    let after_the_delete = date(later(5_000)).to_string();
    let created = put_with(
        &a,
        &k,
        later(5_000),
        &[("if-unmodified-since", &after_the_delete)],
        json!("new"),
    )
    .await;
    assert!(matches!(created, WriteOutcome::Created(_)), "{created:?}");
}

/// Tombstones older than the retention (an hour by default) are removed
/// by later deletes; younger ones stay.
async fn tombstones_are_pruned_after_the_retention(a: AnyStore, b: AnyStore) {
    let (old, young, trigger) = (key("old-grave"), key("young-grave"), key("trigger"));
    for k in [&old, &young, &trigger] {
        put(&a, k, json!(0)).await;
    }
    a.write(&old, now(), |_| Ok::<_, ()>(Change::Delete))
        .await
        .unwrap();
    b.write(&young, later(4_000_000), |_| Ok::<_, ()>(Change::Delete))
        .await
        .unwrap();
    let two_hours = later(7_200_000);
    b.write(&trigger, two_hours, |_| Ok::<_, ()>(Change::Delete))
        .await
        .unwrap();
    // Observe the tombstones through a refusing decision, which writes nothing.
    let removed_at = |k: ResourceKey| {
        let store = a.clone();
        async move {
            let outcome = store
                .write(&k, two_hours, |current| Err::<Change, _>(current.removed_at()))
                .await
                .unwrap();
            let WriteOutcome::Refused { refusal, .. } = outcome else {
                panic!("{outcome:?}")
            };
            refusal
        }
    };
    assert_eq!(removed_at(old.clone()).await, None, "older than an hour: pruned");
    assert_eq!(removed_at(young.clone()).await, Some(later(4_000_000)));
    assert_eq!(removed_at(trigger.clone()).await, Some(two_hours));
}

async fn racing_creators_of_one_id_one_wins(a: AnyStore, b: AnyStore) {
    for round in 0..5 {
        let k = key(&format!("race-{round}"));
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                let k = k.clone();
                tokio::spawn(async move {
                    store
                        .write(&k, now(), |current| match current.resource() {
                            None => Ok(Change::Put(json!(i).into())),
                            Some(_) => Err(()),
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                WriteOutcome::Created(r) => winners.push(r),
                WriteOutcome::Refused { current: Some(_), .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one creator wins");
        assert_eq!(a.get(&k).await.unwrap().unwrap(), winners[0]);
    }
}

/// 8 tasks × 25 increments, split across the two nodes, each doing
/// read → write-if-the-tag-still-matches → retry on refusal. Any lost
/// update would leave the counter below the number of successful writes.
async fn concurrent_increments_lose_nothing(a: AnyStore, b: AnyStore) {
    const TASKS: u64 = 8;
    const INCREMENTS: u64 = 25;
    let k = key("counter");
    put(&a, &k, json!({"count": 0})).await;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            let k = k.clone();
            tokio::spawn(async move {
                let mut successes = 0u64;
                let mut refusals = 0u64;
                while successes < INCREMENTS {
                    let seen = store.get(&k).await.unwrap().unwrap();
                    let count = value(&seen)["count"].as_u64().unwrap();
                    let outcome = store
                        .write(&k, now(), |current| match current.resource() {
                            Some(c) if c.etag().strong_eq(seen.etag()) => {
                                Ok(Change::Put(json!({"count": count + 1}).into()))
                            }
                            _ => Err(()),
                        })
                        .await
                        .unwrap();
                    match outcome {
                        WriteOutcome::Replaced(_) => successes += 1,
                        WriteOutcome::Refused { .. } => refusals += 1,
                        other => panic!("unexpected {other:?}"),
                    }
                }
                (successes, refusals)
            })
        })
        .collect();
    let mut successes = 0;
    for task in tasks {
        successes += task.await.unwrap().0;
    }
    let last = b.get(&k).await.unwrap().unwrap();
    assert_eq!(successes, TASKS * INCREMENTS);
    assert_eq!(
        value(&last)["count"].as_u64().unwrap(),
        successes,
        "no update was lost"
    );
    assert_eq!(last.version(), i64::try_from(successes).unwrap() + 1);
}

async fn unicode_and_nested_bodies_round_trip(a: AnyStore, b: AnyStore) {
    let bodies = [
        json!({"text": "héllo \u{1F600} \u{0000} \"quoted\" \\ back"}),
        json!([null, true, 1.5, -2, 1e300, {"deep": [[[{"x": []}]]]}]),
        json!(""),
        json!({"b": 1, "a": 2}),
    ];
    for (i, body) in bodies.into_iter().enumerate() {
        let k = key(&format!("body-{i}"));
        let written = put(&a, &k, body.clone()).await;
        let read = b.get(&k).await.unwrap().unwrap();
        assert_eq!(value(&read), body, "body {i}");
        assert_eq!(read.json(), written.json(), "body {i}: same bytes");
        assert_eq!(read.etag(), written.etag(), "body {i}");
    }
}

/// RFC 9110 §9.3.4: the store keeps a document's bytes as sent (no parse
/// and re-serialise), so the tag computed at the write names the bytes the
/// other node reads back, and is the same there.
async fn json_text_is_stored_byte_for_byte(a: AnyStore, b: AnyStore) {
    let texts: [&[u8]; 5] = [
        b"{ \"b\" : 1.0 ,\n\t\"a\": [ 1e2, -0, 10.50 ] }\n",
        br#"{"z":1,"a":2,"z2":{"y":null,"b":false}}"#,
        br#"["\u00e9", "\u00E9", "\ud83d\ude00", "\/", "caf\u00e9"]"#,
        b"  \"just a string\"  ",
        br#"{"big":123456789012345678901234567890,"small":1.0000000000000000000001}"#,
    ];
    for (i, sent) in texts.into_iter().enumerate() {
        let k = key(&format!("text-{i}"));
        let text = JsonText::parse(sent).unwrap();
        let outcome = a
            .write(&k, now(), |_| Ok::<_, ()>(Change::Put(text.clone())))
            .await
            .unwrap();
        let WriteOutcome::Created(written) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            written.json().as_bytes(),
            sent,
            "text {i}: the write keeps the bytes"
        );
        assert_eq!(
            written.etag(),
            &revalidate_store::entity_tag_for(1, std::str::from_utf8(sent).unwrap()),
            "text {i}: the tag is computed from the bytes sent"
        );
        let read = b.get(&k).await.unwrap().unwrap();
        assert_eq!(
            read.json().as_bytes(),
            sent,
            "text {i}: the other node reads the same bytes"
        );
        assert_eq!(read.etag(), written.etag(), "text {i}: one tag on both nodes");
    }
}
