//! A small load generator: tokio tasks that each repeat a request until
//! told to stop, keeping every result for the case to judge.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;

/// Workers running; [`Load::stop`] ends them and collects their results.
pub(crate) struct Load<T> {
    stop: Arc<AtomicBool>,
    workers: JoinSet<Vec<T>>,
}

/// Starts `workers` tasks, each calling `request(worker)` in a loop.
pub(crate) fn start<T, F, Fut>(workers: usize, request: F) -> Load<T>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let request = Arc::new(request);
    let mut set = JoinSet::new();
    for worker in 0..workers {
        let stop = Arc::clone(&stop);
        let request = Arc::clone(&request);
        set.spawn(async move {
            let mut results = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                results.push(request(worker).await);
            }
            results
        });
    }
    Load { stop, workers: set }
}

impl<T: Send + 'static> Load<T> {
    /// Stops the workers after their current request and returns every
    /// result; a worker still busy after `bound` is abandoned (its
    /// requests carry their own timeouts, so this is a last resort).
    pub(crate) async fn stop(mut self, bound: Duration) -> Vec<T> {
        self.stop.store(true, Ordering::Relaxed);
        let mut results = Vec::new();
        let deadline = tokio::time::Instant::now() + bound;
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, self.workers.join_next()).await {
            if let Ok(mut worker_results) = joined {
                results.append(&mut worker_results);
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn every_worker_runs_until_stopped() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let load = start(4, move |worker| {
            let calls = Arc::clone(&counted);
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
                worker
            }
        });
        while calls.load(Ordering::Relaxed) < 40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let results = load.stop(Duration::from_secs(5)).await;
        assert!(results.len() >= 40);
        for worker in 0..4 {
            assert!(results.contains(&worker), "worker {worker} ran");
        }
    }
}
