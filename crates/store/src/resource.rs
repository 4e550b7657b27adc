//! The stored record ([`Resource`]), what a write's decision sees
//! ([`Current`]), what it asks for ([`Change`]), what it did
//! ([`WriteOutcome`]), and the pure function every backend uses to turn
//! "current state + change" into the rows to write ([`plan`]).

use std::time::SystemTime;

use revalidate_core::{EntityTag, HttpDate, Validators};

use crate::StoreError;
use crate::json_text::JsonText;
use crate::key::ResourceKey;
use crate::stamp::Stamp;

/// Hex characters of the blake3 digest kept in the entity-tag: 128 bits,
/// far beyond any chance of two versions of one resource colliding.
const ETAG_HEX_LEN: usize = 32;

/// One stored JSON resource, as it was committed.
///
/// The entity-tag and modification time were computed when the record was
/// written and are read back from the database, so every node sharing the
/// database reports the same validators for the same record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    key: ResourceKey,
    json: JsonText,
    version: i64,
    etag: EntityTag,
    stamp: Stamp,
}

impl Resource {
    /// Builds a version of a record from the text to store, deriving the
    /// entity-tag from exactly that text.
    fn new_version(key: ResourceKey, json: JsonText, version: i64, stamp: Stamp) -> Self {
        let etag = entity_tag_for(version, json.as_str());
        Self {
            key,
            json,
            version,
            etag,
            stamp,
        }
    }

    /// Rebuilds a record from the columns of its row, checking each one.
    pub(crate) fn from_row(key: ResourceKey, row: StoredRow) -> Result<Self, StoreError> {
        let corrupt = |problem: String| StoreError::Corrupt {
            key: key.to_string(),
            problem,
        };
        let json =
            JsonText::from_stored(row.body).map_err(|e| corrupt(format!("body is not valid JSON: {e}")))?;
        let etag = EntityTag::strong(row.etag.as_bytes())
            .map_err(|e| corrupt(format!("entity-tag column is not a valid opaque-tag: {e}")))?;
        let stamp = Stamp::from_columns(row.last_modified, row.last_modified_us, row.shares_second)
            .ok_or_else(|| {
                corrupt(format!(
                    "last_modified {}.{:06} is out of range",
                    row.last_modified, row.last_modified_us
                ))
            })?;
        if row.version < 1 {
            return Err(corrupt(format!("version {} is below 1", row.version)));
        }
        Ok(Self {
            key,
            json,
            version: row.version,
            etag,
            stamp,
        })
    }

    /// The row to store for this record.
    pub(crate) fn to_row(&self) -> StoredRow {
        StoredRow {
            version: self.version,
            etag: String::from_utf8_lossy(self.etag.opaque()).into_owned(),
            last_modified: self.stamp.second(),
            last_modified_us: self.stamp.micros_in_second(),
            shares_second: self.stamp.shares_second(),
            body: self.json.as_str().to_owned(),
        }
    }

    /// Where the record lives.
    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// The body as the exact JSON text the entity-tag was computed from
    /// (for a `PUT` or `POST`, the bytes the client sent): serve these
    /// bytes (with `Content-Type: application/json`) so the strong
    /// entity-tag names exactly what the client received.
    pub fn json(&self) -> &str {
        self.json.as_str()
    }

    /// The body as stored, for computing a new version from it.
    pub fn json_text(&self) -> &JsonText {
        &self.json
    }

    /// The version number: 1 when created, one more on each replacement.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The strong entity-tag ([RFC 9110 §8.8.3]) of this version.
    ///
    /// [RFC 9110 §8.8.3]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
    pub fn etag(&self) -> &EntityTag {
        &self.etag
    }

    /// When this version was written, to the microsecond: the `now` the
    /// writer passed, or the previous state's time if that was later.
    pub fn modified_at(&self) -> SystemTime {
        self.stamp.system_time()
    }

    /// The `Last-Modified` to send for this version at `now`
    /// ([RFC 9110 §8.8.2]): the second it was written in, or, when an
    /// earlier state of the resource may have been sent with that second
    /// too, the next second once that has begun (see
    /// [`validators`](Self::validators)). Never later than the writer's
    /// clock was or `now` is.
    ///
    /// [RFC 9110 §8.8.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2
    pub fn last_modified(&self, now: HttpDate) -> HttpDate {
        self.stamp.last_modified(now).0
    }

    /// The validators to evaluate preconditions against and to send at
    /// `now`, with what the store knows about the `Last-Modified` second
    /// ([RFC 9110 §8.8.2.2]): strong when no earlier state of the resource
    /// was ever sent with it, weak while the resource changed more than
    /// once during it (an `If-Unmodified-Since` carrying it then fails,
    /// since the client may hold the earlier state).
    ///
    /// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
    pub fn validators(&self, now: HttpDate) -> Validators {
        let (last_modified, strength) = self.stamp.last_modified(now);
        Validators::new()
            .with_etag(self.etag.clone())
            .with_last_modified(last_modified)
            .with_last_modified_strength(strength)
    }
}

/// The state of a resource a write's decision sees, read under the write
/// lock: its current record, or that it does not exist, and when that is
/// known, when it was deleted.
///
/// ```
/// use revalidate_core::HttpDate;
/// use revalidate_store::Current;
///
/// let now = HttpDate::from_unix_seconds(1_771_372_800).unwrap();
/// let nothing = Current::absent();
/// assert!(nothing.resource().is_none());
/// assert!(!nothing.validators(now).exists());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Current<'a> {
    resource: Option<&'a Resource>,
    removed: Option<Stamp>,
}

impl<'a> Current<'a> {
    /// A resource that exists.
    pub(crate) fn present(resource: &'a Resource) -> Self {
        Self {
            resource: Some(resource),
            removed: None,
        }
    }

    /// A resource that does not exist; `removed` is its tombstone, if the
    /// store still keeps one.
    pub(crate) fn missing(removed: Option<Stamp>) -> Self {
        Self {
            resource: None,
            removed,
        }
    }

    /// A resource that does not exist and has no known past.
    pub fn absent() -> Self {
        Self::missing(None)
    }

    /// The current record, or `None` when the resource does not exist.
    pub fn resource(&self) -> Option<&'a Resource> {
        self.resource
    }

    /// When the missing resource was deleted, if it was deleted recently
    /// enough for the store to remember (see the crate docs on tombstones).
    pub fn removed_at(&self) -> Option<SystemTime> {
        self.removed
            .filter(|_| self.resource.is_none())
            .map(Stamp::system_time)
    }

    /// The validators to evaluate the request's preconditions against, at
    /// `now`: the record's ([`Resource::validators`]); for a resource
    /// deleted recently, [`Validators::removed_at`] the deletion, so that
    /// `If-Unmodified-Since` from a client that read the deleted version
    /// fails; otherwise [`Validators::missing`].
    pub fn validators(&self, now: HttpDate) -> Validators {
        match (self.resource, self.removed) {
            (Some(resource), _) => resource.validators(now),
            (None, Some(removed)) => {
                let (last_modified, strength) = removed.last_modified(now);
                Validators::removed_at(last_modified).with_last_modified_strength(strength)
            }
            (None, None) => Validators::missing(),
        }
    }
}

/// The strong entity-tag of one version of a body: the first 128 bits, in
/// hex, of blake3 over `version ":" json`.
///
/// The version is hashed in so that every write yields a new tag, even a PUT
/// of identical bytes: a tag then names one version, which is what a
/// compare-and-swap needs. A strong validator must change whenever the
/// representation data changes ([RFC 9110 §8.8.1]); changing more often is
/// allowed, and costs only a re-read.
///
/// [RFC 9110 §8.8.1]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.1
pub fn entity_tag_for(version: i64, json: &str) -> EntityTag {
    let mut hasher = blake3::Hasher::new();
    hasher.update(version.to_string().as_bytes());
    hasher.update(b":");
    hasher.update(json.as_bytes());
    let hex = hasher.finalize().to_hex();
    EntityTag::strong(&hex.as_bytes()[..ETAG_HEX_LEN]).expect("lowercase hex digits are all etagc characters")
}

/// The columns of one row, as the SQL backends read and write them.
#[derive(Clone, Debug)]
pub(crate) struct StoredRow {
    pub(crate) version: i64,
    pub(crate) etag: String,
    /// Whole seconds since the Unix epoch.
    pub(crate) last_modified: i64,
    /// Microseconds within `last_modified`.
    pub(crate) last_modified_us: i64,
    pub(crate) shares_second: bool,
    pub(crate) body: String,
}

/// What a write's decision closure asks the store to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Store this body, byte for byte: create the resource, or replace it
    /// with the next version. For PATCH, the closure computes the merged
    /// body from the current one and returns it here.
    Put(JsonText),
    /// Remove the resource. When it does not exist, nothing changes and the
    /// outcome is [`WriteOutcome::Absent`].
    Delete,
}

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOutcome<R> {
    /// The resource did not exist and now does (version 1).
    Created(Resource),
    /// The resource existed and was replaced by this new version.
    Replaced(Resource),
    /// The resource was removed; this was its last version.
    Deleted(Resource),
    /// A delete of a resource that did not exist; nothing was written.
    Absent,
    /// The closure refused; nothing was written.
    Refused {
        /// What the closure returned.
        refusal: R,
        /// The state the closure saw, for example to report the current
        /// entity-tag with a 412.
        current: Option<Resource>,
    },
}

/// The row operations a backend must perform, decided from the current
/// state (read under the write lock) and the requested change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// Insert the row of this record (version 1) and remove the key's
    /// tombstone. `tombstone_seen` says whether the decision saw one: if
    /// the removal finds a different number of tombstones, another writer
    /// deleted the resource in between, and the attempt lost a race.
    Insert { next: Resource, tombstone_seen: bool },
    /// Replace the row whose version is `expected_version` by this record.
    Update { next: Resource, expected_version: i64 },
    /// Delete the row of `previous`, which must still have its version,
    /// and record the removal in the key's tombstone.
    Delete { previous: Resource, removal: Stamp },
    /// Nothing to write: a delete of a missing resource.
    Nothing,
}

impl Plan {
    /// The outcome to report once the plan is committed.
    pub(crate) fn into_outcome<R>(self) -> WriteOutcome<R> {
        match self {
            Self::Insert { next, .. } => WriteOutcome::Created(next),
            Self::Update { next, .. } => WriteOutcome::Replaced(next),
            Self::Delete { previous, .. } => WriteOutcome::Deleted(previous),
            Self::Nothing => WriteOutcome::Absent,
        }
    }
}

/// Decides the row operations for `change` given the current state:
/// `current`, or when that is `None`, `removed`, the key's tombstone.
/// `now` is the writer's clock in microseconds since the Unix epoch.
///
/// Each new state (a version, or the absence a delete leaves) is stamped
/// after the one it replaces ([`Stamp::after`]): never earlier, so a node
/// whose clock lags cannot move `Last-Modified` backwards (an
/// `If-Unmodified-Since` carrying the newer date would pass against a
/// newer version, [RFC 9110 §13.1.4]), and marked when it shares a second
/// with a date already sent, so that date stops confirming anything
/// ([RFC 9110 §8.8.2.2]). A resource created again continues from its
/// tombstone, so a delete and a re-creation within one second still count
/// as changes in that second.
///
/// [RFC 9110 §13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
/// [RFC 9110 §8.8.2.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2.2
pub(crate) fn plan(
    key: &ResourceKey,
    current: Option<Resource>,
    removed: Option<Stamp>,
    change: Change,
    now: i64,
) -> Result<Plan, StoreError> {
    match (current, change) {
        (None, Change::Delete) => Ok(Plan::Nothing),
        (Some(previous), Change::Delete) => {
            let removal = Stamp::after(Some(previous.stamp), now);
            Ok(Plan::Delete { previous, removal })
        }
        (None, Change::Put(body)) => {
            let stamp = Stamp::after(removed, now);
            Ok(Plan::Insert {
                next: Resource::new_version(key.clone(), body, 1, stamp),
                tombstone_seen: removed.is_some(),
            })
        }
        (Some(previous), Change::Put(body)) => {
            let version = previous
                .version
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.to_string(),
                    problem: "version counter is exhausted".to_owned(),
                })?;
            let stamp = Stamp::after(Some(previous.stamp), now);
            Ok(Plan::Update {
                next: Resource::new_version(key.clone(), body, version, stamp),
                expected_version: previous.version,
            })
        }
    }
}
