//! [`MemoryStore`]: a process-local [`Store`] for tests of other crates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::StoreError;
use crate::key::ResourceKey;
use crate::limits::StoreOptions;
use crate::resource::{Change, Current, Plan, Resource, WriteOutcome, plan};
use crate::stamp::{MICROS_PER_SECOND, Stamp, micros_since_epoch};
use crate::store::Store;

/// A [`Store`] in a `HashMap` behind a mutex. Clones share the same map, so
/// two clones behave like two nodes sharing one database.
///
/// The decision closure runs while the mutex is held, which makes every
/// write atomic exactly as in the SQL backends. Tombstones are kept as in
/// the SQL backends; expired ones are dropped on each delete (a scan of
/// the tombstones: this store is for tests, not for many keys).
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<Records>>,
    options: StoreOptions,
}

#[derive(Debug, Default)]
struct Records {
    resources: HashMap<ResourceKey, Resource>,
    tombstones: HashMap<ResourceKey, Stamp>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store with these options (only the tombstone retention
    /// applies: nothing here waits).
    pub fn with_options(options: StoreOptions) -> Self {
        Self {
            records: Arc::default(),
            options,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        // A panic in a decision closure poisons the mutex, but the map is
        // only changed after the closure returned, so it is still whole.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        Ok(self.lock().resources.get(key).cloned())
    }

    async fn write<R, F>(
        &self,
        key: &ResourceKey,
        now: SystemTime,
        mut decide: F,
    ) -> Result<WriteOutcome<R>, StoreError>
    where
        R: Send,
        F: FnMut(Current<'_>) -> Result<Change, R> + Send,
    {
        let now = micros_since_epoch(now);
        let mut records = self.lock();
        let current = records.resources.get(key).cloned();
        let removed = match current {
            Some(_) => None,
            None => records.tombstones.get(key).copied(),
        };
        let seen = match &current {
            Some(resource) => Current::present(resource),
            None => Current::missing(removed),
        };
        let change = match decide(seen) {
            Ok(change) => change,
            Err(refusal) => return Ok(WriteOutcome::Refused { refusal, current }),
        };
        let plan = plan(key, current, removed, change, now)?;
        match &plan {
            Plan::Insert { next, .. } => {
                records.tombstones.remove(key);
                records.resources.insert(key.clone(), next.clone());
            }
            Plan::Update { next, .. } => {
                records.resources.insert(key.clone(), next.clone());
            }
            Plan::Delete { removal, .. } => {
                records.resources.remove(key);
                records.tombstones.insert(key.clone(), *removal);
                let cutoff = now.div_euclid(MICROS_PER_SECOND) - self.options.retention_seconds();
                records.tombstones.retain(|_, stamp| stamp.second() >= cutoff);
            }
            Plan::Nothing => {}
        }
        Ok(plan.into_outcome())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
