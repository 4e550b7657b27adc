//! [`MemoryStore`]: a process-local [`Store`] for tests of other crates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use revalidate_core::HttpDate;

use crate::StoreError;
use crate::key::ResourceKey;
use crate::resource::{Change, Plan, Resource, WriteOutcome, plan};
use crate::store::Store;

/// A [`Store`] in a `HashMap` behind a mutex. Clones share the same map, so
/// two clones behave like two nodes sharing one database.
///
/// The decision closure runs while the mutex is held, which makes every
/// write atomic exactly as in the SQL backends.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    records: Arc<Mutex<HashMap<ResourceKey, Resource>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ResourceKey, Resource>> {
        // A panic in a decision closure poisons the mutex, but the map is
        // only changed after the closure returned, so it is still whole.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    async fn get(&self, key: &ResourceKey) -> Result<Option<Resource>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    async fn write<R, F>(
        &self,
        key: &ResourceKey,
        now: HttpDate,
        mut decide: F,
    ) -> Result<WriteOutcome<R>, StoreError>
    where
        R: Send,
        F: FnMut(Option<&Resource>) -> Result<Change, R> + Send,
    {
        let mut records = self.lock();
        let current = records.get(key).cloned();
        let change = match decide(current.as_ref()) {
            Ok(change) => change,
            Err(refusal) => return Ok(WriteOutcome::Refused { refusal, current }),
        };
        let plan = plan(key, current, change, now)?;
        match &plan {
            Plan::Insert(next) | Plan::Update { next, .. } => {
                records.insert(key.clone(), next.clone());
            }
            Plan::Delete(_) => {
                records.remove(key);
            }
            Plan::Nothing => {}
        }
        Ok(plan.into_outcome())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
