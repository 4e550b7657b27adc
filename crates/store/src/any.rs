//! [`AnyStore`]: the backend chosen at run time by [`open`](crate::open),
//! dispatching each [`Store`] call to it. Apart from the trait's room so
//! that the backends, which implement the trait, are not imported by it.

use std::time::SystemTime;

use crate::StoreError;
use crate::key::ResourceKey;
use crate::memory::MemoryStore;
use crate::postgres::PostgresStore;
use crate::resource::{Change, Current, Resource, WriteOutcome};
use crate::sqlite::SqliteStore;
use crate::store::Store;

/// The backend chosen by [`open`](crate::open) from a URL.
///
/// An enum rather than `Box<dyn Store>`: the trait's generic `write` keeps
/// it from being object-safe, and an enum costs nothing.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// `memory:` — process-local, for tests and demos.
    Memory(MemoryStore),
    /// `sqlite://…` — the embedded default.
    Sqlite(SqliteStore),
    /// `postgres://…` — for several nodes sharing one database.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// The backend's name: `memory`, `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Closes the connection pool, waiting for connections in use to be
    /// returned. Operations after this fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        match self {
            Self::Memory(_) => {}
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

impl Store for AnyStore {
    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        match self {
            Self::Memory(store) => store.get(key).await,
            Self::Sqlite(store) => store.get(key).await,
            Self::Postgres(store) => store.get(key).await,
        }
    }

    async fn write<R, F>(
        &self,
        key: &ResourceKey,
        now: SystemTime,
        decide: F,
    ) -> Result<WriteOutcome<R>, StoreError>
    where
        R: Send,
        F: FnMut(Current<'_>) -> Result<Change, R> + Send,
    {
        match self {
            Self::Memory(store) => store.write(key, now, decide).await,
            Self::Sqlite(store) => store.write(key, now, decide).await,
            Self::Postgres(store) => store.write(key, now, decide).await,
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => store.ping().await,
            Self::Sqlite(store) => store.ping().await,
            Self::Postgres(store) => store.ping().await,
        }
    }
}
