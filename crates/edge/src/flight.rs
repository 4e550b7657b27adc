//! Request collapsing: concurrent misses or revalidations of one key send
//! one request to the origin.
//!
//! The first request for a key *leads*: it holds a [`Flight`] while it
//! fetches and stores. Requests for the same key that arrive meanwhile
//! *follow*: they wait until the leader says how it [`Landed`], then look
//! the cache up again (and are answered from what the leader stored), go
//! to the origin on their own (the leader's response was not storable), or
//! share the leader's failure. A leader that is dropped without landing
//! (its task was cancelled) releases its followers, who start over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::upstream::Failure;

/// How a leader's origin request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Landed {
    /// A response was stored (or refreshed) under the key; the origin
    /// answered with this status (`304` for a refresh).
    Stored(http::StatusCode),
    /// Nothing was stored; followers must ask the origin themselves.
    NotStored,
    /// The origin could not be reached.
    Failed(Failure),
}

type Slot = watch::Receiver<Option<Landed>>;

impl Landed {
    /// The status the origin answered, when it answered.
    pub(crate) fn origin_status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Stored(status) => Some(*status),
            Self::NotStored | Self::Failed(_) => None,
        }
    }
}

/// The keys with an origin request in flight.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, (u64, Slot)>>,
    ids: AtomicU64,
}

/// What [`Flights::join`] made of the caller.
#[derive(Debug)]
pub(crate) enum Join {
    /// No request in flight: the caller leads and must land the flight.
    Lead(Flight),
    /// Another request is in flight: wait with [`Follower::landed`].
    Follow(Follower),
}

/// A leader's obligation to say how its request ended.
#[derive(Debug)]
pub(crate) struct Flight {
    flights: Arc<Flights>,
    key: String,
    id: u64,
    tx: watch::Sender<Option<Landed>>,
}

/// A follower's wait.
#[derive(Debug)]
pub(crate) struct Follower(Slot);

impl Flights {
    /// Leads a flight for `key`, or follows the one in flight.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, rx)) = map.get(key) {
            return Join::Follow(Follower(rx.clone()));
        }
        let (tx, rx) = watch::channel(None);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        map.insert(key.to_owned(), (id, rx));
        Join::Lead(Flight {
            flights: Arc::clone(self),
            key: key.to_owned(),
            id,
            tx,
        })
    }

    /// Leads a flight for `key` only if none is in flight (a background
    /// refresh does not queue behind a request that already refreshes).
    pub(crate) fn try_lead(self: &Arc<Self>, key: &str) -> Option<Flight> {
        match self.join(key) {
            Join::Lead(flight) => Some(flight),
            Join::Follow(_) => None,
        }
    }

    /// How many keys have a request in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn release(&self, key: &str, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.get(key).is_some_and(|(current, _)| *current == id) {
            map.remove(key);
        }
    }
}

impl Flight {
    /// Ends the flight: followers wake and act on `landed`.
    pub(crate) fn land(self, landed: Landed) {
        // Remove first: a follower that wakes and looks again must not find
        // this flight still in the map.
        self.flights.release(&self.key, self.id);
        let _ = self.tx.send(Some(landed));
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        // Landed or not, the key is free again; an unlanded flight's
        // followers see the sender go and start over.
        self.flights.release(&self.key, self.id);
    }
}

impl Follower {
    /// Waits for the leader; `None` if it was dropped without landing.
    pub(crate) async fn landed(mut self) -> Option<Landed> {
        match self.0.wait_for(Option::is_some).await {
            Ok(landed) => landed.clone(),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn followers_see_how_the_leader_landed() {
        let flights = Arc::new(Flights::default());
        let Join::Lead(flight) = flights.join("/a") else {
            panic!("first request must lead")
        };
        let Join::Follow(follower) = flights.join("/a") else {
            panic!("second request must follow")
        };
        assert!(matches!(flights.join("/b"), Join::Lead(_)));
        let waiting = tokio::spawn(follower.landed());
        flight.land(Landed::Stored(http::StatusCode::OK));
        assert_eq!(waiting.await.unwrap(), Some(Landed::Stored(http::StatusCode::OK)));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("/a"), Join::Lead(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Arc::new(Flights::default());
        let lead = flights.try_lead("/a").unwrap();
        assert!(flights.try_lead("/a").is_none());
        let Join::Follow(follower) = flights.join("/a") else {
            panic!("must follow")
        };
        drop(lead);
        assert_eq!(follower.landed().await, None);
        assert_eq!(flights.len(), 0);
    }
}
