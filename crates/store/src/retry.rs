//! The bounded retry of a write transaction that lost a race.
//!
//! A lost race is not an error the client should see: nothing was
//! committed, and running the transaction again (with the decision closure
//! re-run on the fresh state) gives the answer a serial execution would
//! have given. Only when the races go on past [`MAX_WRITE_ATTEMPTS`] does
//! the caller get [`StoreError::Contention`] (HTTP 503).

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, RetryableWithContext};

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
    decide: F,
) -> Result<WriteOutcome<R>, StoreError>
where
    S: Transactional,
    R: Send,
    F: FnMut(Current<'_>) -> Result<Change, R> + Send,
{
    let mut retries = 0_u32;
    let (_, outcome) = {
        |mut decide: F| async move {
            let outcome = store.attempt(key, now, &mut decide).await;
            (decide, outcome)
        }
    }
    .retry(write_backoff())
    .context(decide)
    .when(|error| matches!(error, AttemptError::LostRace(_)))
    .notify(|error, pause| {
        retries += 1;
        if let AttemptError::LostRace(why) = error {
            tracing::debug!(%key, retries, %why, ?pause, backend = S::BACKEND, "write lost a race; retrying");
        }
    })
    .await;
    outcome.map_err(|error| match error {
        AttemptError::Failed(error) => error,
        AttemptError::LostRace(_) => StoreError::Contention {
            attempts: MAX_WRITE_ATTEMPTS,
        },
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

/// The pauses between runs of a write transaction that lost a race: a few
/// milliseconds, doubling from 2 ms up to 16 ms, each with jitter so that
/// writers that collided spread out, and at most [`MAX_WRITE_ATTEMPTS`]
/// runs in all.
pub(crate) fn write_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(2))
        .with_max_delay(Duration::from_millis(16))
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(MAX_WRITE_ATTEMPTS as usize - 1)
}
