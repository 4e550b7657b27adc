//! Request collapsing: concurrent misses or revalidations of one key send
//! one request to the origin, and nobody is answered from an origin fetch
//! that was sent before it arrived.
//!
//! The first request for a key *leads*: it holds a [`Flight`] while it
//! fetches and stores, and the flight records when it started (the clock
//! seam's monotonic reading). A request that comes while a flight is in
//! the air [`Join`]s it by when it started:
//!
//! - it started at or after the request's arrival: the request *follows*
//!   it and is answered with what it [`Landed`] with (its [`Product`],
//!   even if already stale: it was fetched after the request arrived, so
//!   it is as new as what the request would have fetched itself);
//! - it started before: the request *queues*: it waits for that flight to
//!   land, then looks the cache up and joins again. The first such request
//!   leads the next flight and the others follow that one, which started
//!   after they arrived. A response that flight stored and that is still
//!   fresh for them answers them without it.
//!
//! So the origin gets at most one request per key in flight plus one
//! queued, and a read that starts after a write returned never gets a
//! version fetched before it (the read-after-write race of a `no-cache`
//! object). A leader that is dropped without landing (its task was
//! cancelled) releases the others, who start over. How long a request
//! waits is bounded by the proxy (`collapse_timeout`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http::StatusCode;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::entry::{DecodedEntry, ResponseEntry};
use crate::storage::StoredObject;
use crate::upstream::Failure;

/// How a leader's origin request ended.
#[derive(Clone, Debug)]
pub(crate) enum Landed {
    /// A response was stored (or refreshed) under the key; the origin
    /// answered with `status` (`304` for a refresh).
    Stored {
        /// The origin's status.
        status: StatusCode,
        /// What was stored, for the flight's followers.
        product: Product,
    },
    /// Nothing was stored; followers must ask the origin themselves.
    NotStored,
    /// The origin could not be reached.
    Failed(Failure),
}

/// What a flight stored, as its followers are answered with it.
#[derive(Clone, Debug)]
pub(crate) struct Product {
    /// Where it is stored.
    pub(crate) storage_key: String,
    /// The stored body (and, unless `entry` says otherwise, its head).
    pub(crate) object: Arc<StoredObject<DecodedEntry>>,
    /// The stored head when it is not `object`'s own (a refresh by a `304`
    /// kept the body and replaced the head).
    pub(crate) entry: Option<Arc<ResponseEntry>>,
}

type Slot = watch::Receiver<Option<Landed>>;

/// The keys with an origin request in flight.
#[derive(Debug)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, InFlight>>,
    ids: AtomicU64,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    started: Instant,
    landed: Slot,
}

/// What [`Flights::join`] made of the caller.
#[derive(Debug)]
pub(crate) enum Join {
    /// No request in flight: the caller leads and must land the flight.
    Lead(Flight),
    /// A flight that started at or after the caller arrived: wait with
    /// [`Follower::landed`] and be answered with what it stored.
    Follow(Follower),
    /// A flight that started before the caller arrived: wait with
    /// [`Follower::landed`], then look up and join again.
    Queue(Follower),
}

/// A leader's obligation to say how its request ended.
#[derive(Debug)]
pub(crate) struct Flight {
    flights: Arc<Flights>,
    key: String,
    id: u64,
    tx: watch::Sender<Option<Landed>>,
}

/// A follower's (or queued request's) wait.
#[derive(Debug)]
pub(crate) struct Follower(Slot);

impl Flights {
    /// No flights; their start times read from `clock`.
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            ids: AtomicU64::new(0),
            clock,
        }
    }

    /// Leads a flight for `key`, or waits for the one in flight: follows
    /// it if it started at or after `arrival`, queues behind it if not.
    pub(crate) fn join(self: &Arc<Self>, key: &str, arrival: Instant) -> Join {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = map.get(key) {
            let follower = Follower(flight.landed.clone());
            return if flight.started >= arrival {
                Join::Follow(follower)
            } else {
                Join::Queue(follower)
            };
        }
        let (tx, landed) = watch::channel(None);
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        // Read under the lock: a request that finds this flight read its
        // arrival before, so it can compare the two.
        let started = self.clock.instant();
        map.insert(key.to_owned(), InFlight { id, started, landed });
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
        match self.join(key, self.clock.instant()) {
            Join::Lead(flight) => Some(flight),
            Join::Follow(_) | Join::Queue(_) => None,
        }
    }

    /// How many keys have a request in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn release(&self, key: &str, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(key).is_some_and(|flight| flight.id == id) {
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

/// Lands an optional flight (a request that goes to the origin on its own
/// has none).
pub(crate) fn land(flight: Option<Flight>, landed: impl FnOnce() -> Landed) {
    if let Some(flight) = flight {
        flight.land(landed());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::ManualClock;

    fn flights() -> (Arc<ManualClock>, Arc<Flights>) {
        let clock = Arc::new(ManualClock::new());
        (clock.clone(), Arc::new(Flights::new(clock)))
    }

    #[tokio::test]
    async fn followers_see_how_the_leader_landed() {
        let (clock, flights) = flights();
        let now = clock.instant();
        let Join::Lead(flight) = flights.join("/a", now) else {
            panic!("first request must lead")
        };
        let Join::Follow(follower) = flights.join("/a", now) else {
            panic!("a request that arrived when the flight started must follow")
        };
        let other_key = flights.join("/b", now);
        assert!(matches!(other_key, Join::Lead(_)));
        let waiting = tokio::spawn(follower.landed());
        flight.land(Landed::NotStored);
        assert!(matches!(waiting.await.unwrap(), Some(Landed::NotStored)));
        assert_eq!(flights.len(), 1, "only /b is in flight");
        assert!(matches!(flights.join("/a", now), Join::Lead(_)));
    }

    #[tokio::test]
    async fn a_request_that_arrived_after_a_flight_started_queues_behind_it() {
        let (clock, flights) = flights();
        let early = clock.instant();
        clock.advance(1);
        let Join::Lead(flight) = flights.join("/a", clock.instant()) else {
            panic!("first request must lead")
        };
        // Arrived before the flight started: follows.
        assert!(matches!(flights.join("/a", early), Join::Follow(_)));
        clock.advance(1);
        // Arrived after it started: queues.
        let Join::Queue(queued) = flights.join("/a", clock.instant()) else {
            panic!("a request that arrived after the flight started must not follow it")
        };
        let waiting = tokio::spawn(queued.landed());
        flight.land(Landed::NotStored);
        assert!(waiting.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let (clock, flights) = flights();
        let lead = flights.try_lead("/a").unwrap();
        assert!(flights.try_lead("/a").is_none());
        let Join::Follow(follower) = flights.join("/a", clock.instant()) else {
            panic!("must follow")
        };
        drop(lead);
        assert!(follower.landed().await.is_none());
        assert_eq!(flights.len(), 0);
    }
}
