//! [`StoreOptions`]: how long the store waits for the database, and how
//! long it remembers deletions; and [`bounded`], the deadline every
//! operation runs under.

use std::future::Future;
use std::time::Duration;

use crate::StoreError;

/// The bounds a store works within. [`StoreOptions::default`] is what
/// [`open`](crate::open) uses.
///
/// ```
/// use std::time::Duration;
/// use revalidate_store::StoreOptions;
///
/// let options = StoreOptions {
///     timeout: Duration::from_secs(2),
///     ..StoreOptions::default()
/// };
/// assert!(options.validate().is_ok());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// The longest a store operation (a read, a write with its retries, a
    /// ping) may take, waiting for a pooled connection, for a lock and for
    /// the database's answers included. Past it the operation fails with
    /// [`StoreError::Timeout`] (HTTP 503) and nothing is written. The SQL
    /// backends also hand it to the database, so that work the store
    /// stopped waiting for does not go on holding locks: SQLite's busy
    /// timeout, PostgreSQL's `statement_timeout`, `lock_timeout` and
    /// `idle_in_transaction_session_timeout`. Default: 10 seconds.
    pub timeout: Duration,
    /// How long the record of a deletion (a tombstone: key and time, a few
    /// dozen bytes) is kept. While it is, a resource created again after a
    /// delete continues the modification times of its past, so a delete
    /// and a re-creation in one second still count as two changes, and an
    /// `If-Unmodified-Since` from a client that read the deleted version
    /// fails instead of re-creating it. Older tombstones are removed by
    /// later deletes, a batch at a time. It must exceed any clock skew
    /// between the nodes sharing the database. Default: one hour.
    pub tombstone_retention: Duration,
}

impl StoreOptions {
    /// The shortest accepted [`timeout`](Self::timeout).
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);
    /// The longest accepted [`timeout`](Self::timeout): an operation that
    /// takes longer is better failed and retried.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

    /// Checks that the values are usable.
    pub fn validate(&self) -> Result<(), StoreError> {
        if !(Self::MIN_TIMEOUT..=Self::MAX_TIMEOUT).contains(&self.timeout) {
            return Err(StoreError::InvalidOptions(format!(
                "the database timeout must be between {:?} and {:?}, got {:?}",
                Self::MIN_TIMEOUT,
                Self::MAX_TIMEOUT,
                self.timeout
            )));
        }
        if self.tombstone_retention < Duration::from_secs(10) {
            return Err(StoreError::InvalidOptions(format!(
                "the tombstone retention must be at least 10 s (beyond any clock skew), got {:?}",
                self.tombstone_retention
            )));
        }
        Ok(())
    }

    /// The retention in whole seconds, for comparing with stored seconds.
    pub(crate) fn retention_seconds(&self) -> i64 {
        i64::try_from(self.tombstone_retention.as_secs()).unwrap_or(i64::MAX)
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            tombstone_retention: Duration::from_secs(3600),
        }
    }
}

/// How many expired tombstones one delete removes, so that pruning never
/// makes a write slow.
pub(crate) const PRUNE_BATCH: i64 = 100;

/// Runs `operation` under the store's deadline: [`StoreError::Timeout`]
/// when it has not finished within `timeout`. Dropping a write mid-way
/// rolls its transaction back.
pub(crate) async fn bounded<T>(
    timeout: Duration,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, operation)
        .await
        .unwrap_or(Err(StoreError::Timeout(timeout)))
}
