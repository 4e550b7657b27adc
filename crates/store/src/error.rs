//! [`StoreError`]: everything a store operation can fail with, classified
//! so the HTTP layer can pick a status without looking at driver errors.

use crate::key::InvalidKey;

/// Why a store operation failed. Nothing was written when an operation
/// returns an error, except where [`StoreError::Unavailable`] says the
/// outcome of a commit is unknown.
///
/// Suggested HTTP mapping: [`InvalidKey`](Self::InvalidKey) → 404 or 400
/// (the request named something that cannot exist);
/// [`is_transient`](Self::is_transient) (contention, timeout, unavailable)
/// → 503 with `Retry-After`;
/// everything else → 500.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A collection name or id does not follow the grammar.
    #[error("invalid key: {0}")]
    InvalidKey(#[from] InvalidKey),
    /// `open` was given a URL it cannot serve.
    #[error("unsupported store URL: {0}")]
    UnsupportedUrl(String),
    /// [`StoreOptions`](crate::StoreOptions) out of range.
    #[error("invalid store options: {0}")]
    InvalidOptions(String),
    /// The write kept losing races (serialization failures, deadlocks,
    /// lock timeouts, concurrent creation) and gave up; nothing was written.
    #[error("the store is too busy: gave up after {attempts} attempts")]
    Contention {
        /// How many times the transaction was tried.
        attempts: u32,
    },
    /// The operation did not finish within the store's timeout
    /// ([`StoreOptions::timeout`](crate::StoreOptions::timeout)): the
    /// database is slow, a lock is held too long, or the connection hangs.
    /// Nothing was written, unless the deadline passed during the commit
    /// itself (then, as for [`Unavailable`](Self::Unavailable), a client
    /// retrying with its precondition will find out).
    #[error("the database did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// The database could not be reached or stopped answering (connection
    /// refused or lost, pool exhausted, server shutting down, a statement
    /// or a read's lock wait cut short by the database's timeouts). When
    /// this happens during a commit the write may or may not have been
    /// applied; a client retrying with its precondition will find out.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// The backend cannot do this (the purge outbox of `memory:`).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Schema migrations failed.
    #[error("schema migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not decode (edited by hand, or a newer schema).
    #[error("stored record {key} is corrupt: {problem}")]
    Corrupt {
        /// `collection/id` of the record.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl StoreError {
    /// Whether the store was closed ([`AnyStore::close`](crate::AnyStore::close)):
    /// nothing will succeed any more.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Unavailable(sqlx::Error::PoolClosed))
    }

    /// Whether trying again later may succeed (HTTP 503 rather than 500).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Contention { .. } | Self::Unavailable(_) | Self::Timeout(_)
        )
    }
}

/// How the SQL backends treat a driver error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorClass {
    /// Lost a race (PostgreSQL serialization failure or deadlock, SQLite
    /// busy/locked): roll back and run the whole transaction again.
    Retry,
    /// Connection-level trouble: report [`StoreError::Unavailable`].
    Unavailable,
    /// Anything else: report [`StoreError::Database`].
    Fatal,
}

impl ErrorClass {
    /// Turns a non-retried error into the public error. A read is not
    /// retried, so a lost race there (a lock it waited for too long) is
    /// the database being unavailable for now.
    pub(crate) fn into_error(self, error: sqlx::Error) -> StoreError {
        match self {
            Self::Unavailable | Self::Retry => StoreError::Unavailable(error),
            Self::Fatal => StoreError::Database(error),
        }
    }
}

/// The classes of errors that are not about what the database said.
pub(crate) fn classify_transport(error: &sqlx::Error) -> Option<ErrorClass> {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => Some(ErrorClass::Unavailable),
        _ => None,
    }
}
