//! The bounded retry of a write transaction that lost a race.
//!
//! A lost race is not an error the client should see: nothing was
//! committed, and running the transaction again (with the decision closure
//! re-run on the fresh state) gives the answer a serial execution would
//! have given. Only when the races go on past [`MAX_WRITE_ATTEMPTS`] does
//! the caller get [`StoreError::Contention`] (HTTP 503).

use std::future::Future;
use std::hash::BuildHasher;
use std::time::Duration;

use crate::StoreError;
use crate::key::ResourceKey;
use crate::resource::{Change, Current, WriteOutcome};

/// A backend whose write is one transaction that may lose a race and be
/// run again: SQLite and PostgreSQL.
pub(crate) trait Transactional: Sync {
    /// The backend's name, for logs.
    const BACKEND: &'static str;

    /// Runs the write transaction once; `now` is the writer's clock in
    /// microseconds since the Unix epoch.
    fn attempt<R, F>(
        &self,
        key: &ResourceKey,
        now: i64,
        decide: &mut F,
    ) -> impl Future<Output = Result<WriteOutcome<R>, AttemptError>> + Send
    where
        R: Send,
        F: FnMut(Current<'_>) -> Result<Change, R> + Send;
}

/// [`Store::write`](crate::Store::write) for a [`Transactional`] backend:
/// runs the transaction until it commits, fails for real, or has lost
/// [`MAX_WRITE_ATTEMPTS`] races. The caller bounds the whole by the
/// store's timeout.
pub(crate) async fn write_with_retries<S, R, F>(
    store: &S,
    key: &ResourceKey,
    now: i64,
    mut decide: F,
) -> Result<WriteOutcome<R>, StoreError>
where
    S: Transactional,
    R: Send,
    F: FnMut(Current<'_>) -> Result<Change, R> + Send,
{
    for attempt in 1..=MAX_WRITE_ATTEMPTS {
        match store.attempt(key, now, &mut decide).await {
            Ok(outcome) => return Ok(outcome),
            Err(AttemptError::Failed(error)) => return Err(error),
            Err(AttemptError::LostRace(why)) => {
                tracing::debug!(%key, attempt, %why, backend = S::BACKEND, "write lost a race; retrying");
                pause_before_retry(attempt).await;
            }
        }
    }
    Err(StoreError::Contention {
        attempts: MAX_WRITE_ATTEMPTS,
    })
}

/// How many times a write transaction is run before giving up.
pub(crate) const MAX_WRITE_ATTEMPTS: u32 = 10;

/// Why one run of a write transaction did not commit.
#[derive(Debug)]
pub(crate) enum AttemptError {
    /// Rolled back after losing a race; run it again.
    LostRace(String),
    /// A real failure; report it.
    Failed(StoreError),
}

impl From<StoreError> for AttemptError {
    fn from(error: StoreError) -> Self {
        Self::Failed(error)
    }
}

/// Waits a little before attempt `attempt + 1`: a few milliseconds, growing
/// with the attempt number, with jitter so that racing writers spread out.
pub(crate) async fn pause_before_retry(attempt: u32) {
    // `RandomState::new()` is seeded randomly per thread and bumped per
    // call: cheap jitter without a random-number crate.
    let jitter = std::collections::hash_map::RandomState::new().hash_one(attempt) % 4;
    let millis = u64::from(attempt.min(8)) * 2 + jitter;
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
