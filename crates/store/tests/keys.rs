//! The key grammar: collection `[a-z0-9][a-z0-9_-]{0,63}`, id
//! `[A-Za-z0-9._~-]{1,128}` except `.` and `..`.

use revalidate_store::{InvalidKey, KeyPart, MemoryStore, ResourceKey, Store, StoreError, open};

#[test]
fn key_grammar_table() {
    let long_collection = "c".repeat(65);
    let max_collection = "c".repeat(64);
    let long_id = "i".repeat(129);
    let max_id = "i".repeat(128);
    let cases: &[(&str, &str, Result<(), InvalidKey>)] = &[
        ("notes", "a", Ok(())),
        ("0notes_x-y", "A-Za-z0-9._~", Ok(())),
        (&max_collection, &max_id, Ok(())),
        ("notes", "...", Ok(())),
        (
            "",
            "a",
            Err(InvalidKey::Empty {
                part: KeyPart::Collection,
            }),
        ),
        ("notes", "", Err(InvalidKey::Empty { part: KeyPart::Id })),
        (
            &long_collection,
            "a",
            Err(InvalidKey::TooLong {
                part: KeyPart::Collection,
                max: 64,
            }),
        ),
        (
            "notes",
            &long_id,
            Err(InvalidKey::TooLong {
                part: KeyPart::Id,
                max: 128,
            }),
        ),
        (
            "Notes",
            "a",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Collection,
                position: 0,
            }),
        ),
        (
            "_notes",
            "a",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Collection,
                position: 0,
            }),
        ),
        (
            "no/tes",
            "a",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Collection,
                position: 2,
            }),
        ),
        (
            "notes",
            "a/b",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Id,
                position: 1,
            }),
        ),
        (
            "notes",
            "a b",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Id,
                position: 1,
            }),
        ),
        (
            "notes",
            "a%2F",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Id,
                position: 1,
            }),
        ),
        (
            "notes",
            "é",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Id,
                position: 0,
            }),
        ),
        (
            "notes",
            "'; DROP TABLE resources; --",
            Err(InvalidKey::BadCharacter {
                part: KeyPart::Id,
                position: 0,
            }),
        ),
        ("notes", ".", Err(InvalidKey::DotSegment)),
        ("notes", "..", Err(InvalidKey::DotSegment)),
    ];
    for (collection, id, expected) in cases {
        let got = ResourceKey::new(collection, id).map(|_| ());
        assert_eq!(&got, expected, "collection {collection:?}, id {id:?}");
    }
}

#[test]
fn invalid_key_converts_to_store_error_and_is_not_transient() {
    let error: StoreError = ResourceKey::new("notes", "..").unwrap_err().into();
    assert!(matches!(error, StoreError::InvalidKey(InvalidKey::DotSegment)));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn open_refuses_unknown_and_in_memory_sqlite_urls() {
    for url in [
        "mysql://localhost/x",
        "nonsense",
        "sqlite::memory:",
        "sqlite://file.db?mode=memory",
    ] {
        let result = open(url).await;
        assert!(
            matches!(result, Err(StoreError::UnsupportedUrl(_))),
            "{url}: {result:?}"
        );
    }
    let memory = open("memory:").await.unwrap();
    assert_eq!(memory.backend(), "memory");
    memory.ping().await.unwrap();
}

#[tokio::test]
async fn generated_ids_are_valid_keys_and_distinct() {
    let store = MemoryStore::new();
    let collection = revalidate_store::CollectionName::new("notes").unwrap();
    let a = store
        .create(&collection, serde_json::json!(1).into(), crate::support::now())
        .await
        .unwrap();
    let b = store
        .create(&collection, serde_json::json!(1).into(), crate::support::now())
        .await
        .unwrap();
    assert_ne!(a.key(), b.key());
    assert!(ResourceKey::new("notes", a.key().id()).is_ok());
    assert_eq!(a.key().id().len(), 36);
}
