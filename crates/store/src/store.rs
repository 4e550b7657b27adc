//! The [`Store`] trait every backend implements (the backend chosen at
//! run time is [`AnyStore`](crate::AnyStore), in `any`).

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use uuid::{NoContext, Timestamp, Uuid};

use crate::StoreError;
use crate::json_text::JsonText;
use crate::key::{CollectionName, ResourceKey};
use crate::resource::{Change, Current, Resource, WriteOutcome};

/// How many fresh ids [`Store::create`] tries before giving up. A v7 UUID
/// has 74 random bits, so a second attempt is already astronomically rare.
const CREATE_ATTEMPTS: u32 = 3;

/// Storage of JSON resources with atomic conditional writes.
///
/// Every backend passes the same conformance suite (`tests/conformance.rs`).
///
/// # The write contract
///
/// [`write`](Self::write) locks the resource, reads its current state, and
/// calls `decide` with it **while the lock is held**; whatever `decide`
/// returns is applied in the same transaction. So a compare-and-swap such
/// as "replace if the entity-tag is still `"abc"`" is one atomic step: of
/// two writers holding the same tag, on any number of nodes sharing the
/// database, exactly one wins and the other's `decide` sees the winner's
/// version. A record is always written whole (one row, one statement).
///
/// `decide` may be called **more than once**: when the database reports a
/// lost race (a PostgreSQL serialization failure or deadlock, two creators
/// of the same id, SQLite busy), the transaction is rolled back and run
/// again with the fresh state, a bounded number of times. Only the last
/// call's decision is ever committed, so `decide` must be a pure function of
/// its argument and captured request data, with no side effects.
///
/// The HTTP layer evaluates the request's preconditions inside `decide`,
/// against [`Current::validators`]:
///
/// ```
/// # use revalidate_store::{Change, JsonText, MemoryStore, ResourceKey, Store, WriteOutcome};
/// # use revalidate_core::{HttpDate, Outcome, Preconditions};
/// # use http::{HeaderMap, Method};
/// # use std::time::{Duration, UNIX_EPOCH};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStore::new();
/// let key = ResourceKey::new("notes", "a").unwrap();
/// let now = UNIX_EPOCH + Duration::from_micros(1_771_372_800_250_000);
/// let date = HttpDate::from_system_time(now).unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "*".parse().unwrap()); // create-only
/// let preconditions = Preconditions::from_headers(&headers);
/// let body = JsonText::parse(br#"{"text": "hello"}"#).unwrap();
///
/// let outcome = store
///     .write(&key, now, |current| match preconditions.evaluate(&Method::PUT, &current.validators(date), date) {
///         Outcome::Proceed | Outcome::IgnoreRange => Ok(Change::Put(body.clone())),
///         refused => Err(refused),
///     })
///     .await
///     .unwrap();
/// let WriteOutcome::Created(created) = outcome else { panic!() };
/// assert_eq!(created.modified_at(), now);
/// assert_eq!(created.last_modified(date), date);
/// # });
/// ```
pub trait Store: Send + Sync {
    /// The current record, or `None` when the resource does not exist.
    fn get(&self, key: &ResourceKey) -> impl Future<Output = Result<Option<Resource>, StoreError>> + Send;

    /// Atomically reads the current state of `key`, lets `decide` choose a
    /// [`Change`] or refuse, and applies the change. `now` becomes the new
    /// state's modification time (never earlier than the previous one's),
    /// from which its `Last-Modified` is derived
    /// ([`Resource::last_modified`]). See the trait docs for the contract.
    fn write<R, F>(
        &self,
        key: &ResourceKey,
        now: SystemTime,
        decide: F,
    ) -> impl Future<Output = Result<WriteOutcome<R>, StoreError>> + Send
    where
        R: Send,
        F: FnMut(Current<'_>) -> Result<Change, R> + Send;

    /// Creates a resource with a generated id (a UUID v7 whose time part is
    /// `now`, so ids sort roughly by creation time) — the POST to a
    /// collection. Never replaces an existing resource.
    fn create(
        &self,
        collection: &CollectionName,
        body: JsonText,
        now: SystemTime,
    ) -> impl Future<Output = Result<Resource, StoreError>> + Send {
        async move {
            for _ in 0..CREATE_ATTEMPTS {
                let key = generated_key(collection, now)?;
                let outcome = self
                    .write(&key, now, |current| match current.resource() {
                        None => Ok(Change::Put(body.clone())),
                        Some(_) => Err(()),
                    })
                    .await?;
                match outcome {
                    WriteOutcome::Created(created) => return Ok(created),
                    // The generated id was taken: draw another.
                    WriteOutcome::Refused { .. }
                    | WriteOutcome::Replaced(_)
                    | WriteOutcome::Deleted(_)
                    | WriteOutcome::Absent => {}
                }
            }
            Err(StoreError::Contention {
                attempts: CREATE_ATTEMPTS,
            })
        }
    }

    /// Checks that the database answers (for readiness probes).
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A fresh key in `collection`: a UUID v7 built from `now` (the store reads
/// no clock) and random bits.
fn generated_key(collection: &CollectionName, now: SystemTime) -> Result<ResourceKey, StoreError> {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let uuid = Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
    ));
    Ok(ResourceKey::in_collection(
        collection.clone(),
        &uuid.hyphenated().to_string(),
    )?)
}
