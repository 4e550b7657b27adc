//! The stored record ([`Resource`]), what a write asks for ([`Change`]),
//! what it did ([`WriteOutcome`]), and the pure function every backend uses
//! to turn "current record + change" into the row to write ([`plan`]).

use revalidate_core::{EntityTag, HttpDate, Validators};
use serde_json::Value;

use crate::StoreError;
use crate::key::ResourceKey;

/// Hex characters of the blake3 digest kept in the entity-tag: 128 bits,
/// far beyond any chance of two versions of one resource colliding.
const ETAG_HEX_LEN: usize = 32;

/// One stored JSON resource, as it was committed.
///
/// The entity-tag and modification date were computed when the record was
/// written and are read back from the database, so every node sharing the
/// database reports the same validators for the same record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    key: ResourceKey,
    body: Value,
    json: String,
    version: i64,
    etag: EntityTag,
    last_modified: HttpDate,
}

impl Resource {
    /// Builds a version of a record: serialises the body once and derives
    /// the entity-tag from that text.
    fn new_version(
        key: ResourceKey,
        body: Value,
        version: i64,
        last_modified: HttpDate,
    ) -> Result<Self, StoreError> {
        let json = serde_json::to_string(&body).map_err(StoreError::Body)?;
        let etag = entity_tag_for(version, &json);
        Ok(Self {
            key,
            body,
            json,
            version,
            etag,
            last_modified,
        })
    }

    /// Rebuilds a record from the columns of its row, checking each one.
    pub(crate) fn from_row(key: ResourceKey, row: StoredRow) -> Result<Self, StoreError> {
        let corrupt = |problem: String| StoreError::Corrupt {
            key: key.to_string(),
            problem,
        };
        let body =
            serde_json::from_str(&row.body).map_err(|e| corrupt(format!("body is not valid JSON: {e}")))?;
        let etag = EntityTag::strong(row.etag.as_bytes())
            .map_err(|e| corrupt(format!("entity-tag column is not a valid opaque-tag: {e}")))?;
        let last_modified = u64::try_from(row.last_modified)
            .ok()
            .and_then(HttpDate::from_unix_seconds)
            .ok_or_else(|| corrupt(format!("last_modified {} is out of range", row.last_modified)))?;
        if row.version < 1 {
            return Err(corrupt(format!("version {} is below 1", row.version)));
        }
        Ok(Self {
            key,
            body,
            json: row.body,
            version: row.version,
            etag,
            last_modified,
        })
    }

    /// The row to store for this record.
    pub(crate) fn to_row(&self) -> StoredRow {
        StoredRow {
            version: self.version,
            etag: String::from_utf8_lossy(self.etag.opaque()).into_owned(),
            last_modified: i64::try_from(self.last_modified.unix_seconds())
                .expect("HttpDate::MAX (year 9999) fits in an i64"),
            body: self.json.clone(),
        }
    }

    /// Where the record lives.
    pub fn key(&self) -> &ResourceKey {
        &self.key
    }

    /// The body as a JSON value.
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// The body as the exact JSON text the entity-tag was computed from:
    /// serve these bytes (with `Content-Type: application/json`) so the
    /// strong entity-tag names exactly what the client received.
    pub fn json(&self) -> &str {
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

    /// When this version was written, as passed by the writer
    /// ([RFC 9110 §8.8.2]).
    ///
    /// [RFC 9110 §8.8.2]: https://www.rfc-editor.org/rfc/rfc9110#section-8.8.2
    pub fn last_modified(&self) -> HttpDate {
        self.last_modified
    }

    /// The validators to evaluate preconditions against and to send.
    pub fn validators(&self) -> Validators {
        Validators::new()
            .with_etag(self.etag.clone())
            .with_last_modified(self.last_modified)
    }
}

/// The validators of the current state of a resource, present or not: what
/// [`revalidate_core::Preconditions::evaluate`] needs inside a write's
/// decision closure.
///
/// ```
/// use revalidate_store::validators_of;
///
/// assert!(!validators_of(None).exists());
/// ```
pub fn validators_of(current: Option<&Resource>) -> Validators {
    current.map_or_else(Validators::missing, Resource::validators)
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
    pub(crate) last_modified: i64,
    pub(crate) body: String,
}

/// What a write's decision closure asks the store to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Store this body: create the resource, or replace it with the next
    /// version. For PATCH, the closure computes the merged body from the
    /// current one and returns it here.
    Put(Value),
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

/// The row operation a backend must perform, decided from the current
/// record (read under the write lock) and the requested change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Plan {
    /// Insert the row of this record (version 1).
    Insert(Resource),
    /// Replace the row whose version is `expected_version` by this record.
    Update { next: Resource, expected_version: i64 },
    /// Delete the row of this record, which must still have its version.
    Delete(Resource),
    /// Nothing to write: a delete of a missing resource.
    Nothing,
}

impl Plan {
    /// The outcome to report once the plan is committed.
    pub(crate) fn into_outcome<R>(self) -> WriteOutcome<R> {
        match self {
            Self::Insert(created) => WriteOutcome::Created(created),
            Self::Update { next, .. } => WriteOutcome::Replaced(next),
            Self::Delete(previous) => WriteOutcome::Deleted(previous),
            Self::Nothing => WriteOutcome::Absent,
        }
    }
}

/// Decides the row operation for `change` given the `current` record.
///
/// The new version's `Last-Modified` is `now`, but never earlier than the
/// previous version's: a node whose clock lags must not move the date
/// backwards, or an `If-Unmodified-Since` carrying the newer date would
/// pass against a newer version ([RFC 9110 §13.1.4]).
///
/// [RFC 9110 §13.1.4]: https://www.rfc-editor.org/rfc/rfc9110#section-13.1.4
pub(crate) fn plan(
    key: &ResourceKey,
    current: Option<Resource>,
    change: Change,
    now: HttpDate,
) -> Result<Plan, StoreError> {
    match (current, change) {
        (None, Change::Delete) => Ok(Plan::Nothing),
        (Some(previous), Change::Delete) => Ok(Plan::Delete(previous)),
        (None, Change::Put(body)) => Ok(Plan::Insert(Resource::new_version(key.clone(), body, 1, now)?)),
        (Some(previous), Change::Put(body)) => {
            let version = previous
                .version
                .checked_add(1)
                .ok_or_else(|| StoreError::Corrupt {
                    key: key.to_string(),
                    problem: "version counter is exhausted".to_owned(),
                })?;
            let last_modified = now.max(previous.last_modified);
            Ok(Plan::Update {
                next: Resource::new_version(key.clone(), body, version, last_modified)?,
                expected_version: previous.version,
            })
        }
    }
}
