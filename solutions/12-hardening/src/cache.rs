//! A session cache: the store of record (MongoDB) behind a small map in memory.
//!
//! Every Socket.IO handshake loads its session, to know the user. Against MongoDB that
//! is a round trip to the database per socket: a thousand sockets opening at once wait
//! on a thousand queries, and the database, not this server, sets the pace. Sessions
//! are read far more often than they change (a socket per tab, a change only at login
//! and logout), which is what caches are for.
//!
//! [`Cached`] is itself a `SessionStore`, wrapped around another:
//!
//! - `load` answers from memory when it can, and otherwise asks the store and keeps
//!   the answer;
//! - `create` and `save` write to the store first, then to memory (write-through);
//! - `delete` forgets in memory first, then deletes from the store.
//!
//! **When this is correct.** The cache is right as long as every change to a session
//! goes through this process: then memory and database never disagree for longer than
//! a write takes. That holds for this stage's server, one process. It does not hold
//! once two processes share the sessions (stage 13): a logout on one would leave the
//! session alive in the other's cache. Nor does it notice a session changed in the
//! database by hand; restarting the server empties the cache.
//!
//! **A race, and how it is closed.** A `load` that misses asks the database, which
//! takes a moment. If a logout deletes that session meanwhile, the `load` comes back
//! with the session as it was before, and must not put it into the cache, or the
//! logged-out cookie would work again. So every write bumps a counter under the map's
//! lock, and a `load` keeps what it read only if the counter did not move while it was
//! away.
//!
//! Memory is bounded: at most [`CAPACITY`] sessions are kept; when the map is full,
//! expired sessions go first, then any one (it is only a cache: a session evicted is
//! read from the database again when next needed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// The most sessions kept in memory: a few megabytes.
pub const CAPACITY: usize = 10_000;

/// `store`, with a cache in memory in front of it.
#[derive(Clone, Debug)]
pub struct Cached<S> {
    store: S,
    memory: Arc<Mutex<Memory>>,
}

/// The cached sessions, and how many writes there have been (see the race above).
/// A `std` mutex: it is held for a map operation, never across an `.await`.
#[derive(Debug, Default)]
struct Memory {
    sessions: HashMap<Id, Record>,
    writes: u64,
}

impl<S> Cached<S> {
    pub fn new(store: S) -> Cached<S> {
        Cached {
            store,
            memory: Arc::default(),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        // A panic elsewhere while the lock was held leaves a map that is still whole.
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Memory {
    /// Keeps `record`, making room first if the map is full.
    fn keep(&mut self, record: Record) {
        if self.sessions.len() >= CAPACITY && !self.sessions.contains_key(&record.id) {
            let now = OffsetDateTime::now_utc();
            self.sessions.retain(|_, r| r.expiry_date > now);
            if self.sessions.len() >= CAPACITY {
                let any = *self.sessions.keys().next().expect("a full map has a key");
                self.sessions.remove(&any);
            }
        }
        self.sessions.insert(record.id, record);
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for Cached<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // The store may change the id (on a collision): cache what it stored.
        self.store.create(record).await?;
        let mut memory = self.memory();
        memory.writes += 1;
        memory.keep(record.clone());
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.store.save(record).await?;
        let mut memory = self.memory();
        memory.writes += 1;
        memory.keep(record.clone());
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let seen = {
            let mut memory = self.memory();
            match memory.sessions.get(id) {
                Some(record) if record.expiry_date > OffsetDateTime::now_utc() => {
                    return Ok(Some(record.clone()));
                }
                Some(_) => {
                    memory.sessions.remove(id);
                    return Ok(None);
                }
                None => memory.writes,
            }
        };
        let loaded = self.store.load(id).await?;
        if let Some(record) = &loaded {
            let mut memory = self.memory();
            if memory.writes == seen {
                memory.keep(record.clone());
            }
        }
        Ok(loaded)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        {
            let mut memory = self.memory();
            memory.writes += 1;
            memory.sessions.remove(id);
        }
        self.store.delete(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_sessions::cookie::time::Duration;
    use tower_sessions::session_store::Error;

    /// A store that counts its loads and can be paused in the middle of one.
    #[derive(Clone, Debug, Default)]
    struct Counting {
        records: Arc<Mutex<HashMap<Id, Record>>>,
        loads: Arc<Mutex<u32>>,
        gate: Arc<tokio::sync::Mutex<()>>,
    }

    #[async_trait]
    impl SessionStore for Counting {
        async fn save(&self, record: &Record) -> session_store::Result<()> {
            self.records
                .lock()
                .unwrap()
                .insert(record.id, record.clone());
            Ok(())
        }
        async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
            *self.loads.lock().unwrap() += 1;
            let found = self.records.lock().unwrap().get(id).cloned();
            let _wait = self.gate.lock().await;
            Ok(found)
        }
        async fn delete(&self, id: &Id) -> session_store::Result<()> {
            self.records.lock().unwrap().remove(id);
            Ok(())
        }
    }

    fn record(ttl: Duration) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::new(),
            expiry_date: OffsetDateTime::now_utc() + ttl,
        }
    }

    #[tokio::test]
    async fn a_session_is_read_from_the_store_once() -> Result<(), Error> {
        let store = Counting::default();
        let cached = Cached::new(store.clone());
        let r = record(Duration::hours(1));
        store.save(&r).await?;
        assert!(cached.load(&r.id).await?.is_some());
        assert!(cached.load(&r.id).await?.is_some());
        assert_eq!(*store.loads.lock().unwrap(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn deleted_and_expired_sessions_are_gone() -> Result<(), Error> {
        let store = Counting::default();
        let cached = Cached::new(store.clone());
        let mut r = record(Duration::hours(1));
        cached.create(&mut r).await?;
        cached.delete(&r.id).await?;
        assert!(cached.load(&r.id).await?.is_none());

        let mut old = record(Duration::milliseconds(-1));
        cached.create(&mut old).await?;
        assert!(cached.load(&old.id).await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn a_load_that_races_a_logout_does_not_bring_the_session_back() -> Result<(), Error> {
        let store = Counting::default();
        let cached = Cached::new(store.clone());
        let r = record(Duration::hours(1));
        store.save(&r).await?;
        // The load reads the session, then waits at the gate while it is deleted.
        let gate = store.gate.lock().await;
        let loading = tokio::spawn({
            let (cached, id) = (cached.clone(), r.id);
            async move { cached.load(&id).await }
        });
        tokio::task::yield_now().await;
        while *store.loads.lock().unwrap() == 0 {
            tokio::task::yield_now().await;
        }
        cached.delete(&r.id).await?;
        drop(gate);
        assert!(
            loading.await.unwrap()?.is_some(),
            "it read before the delete"
        );
        assert!(cached.load(&r.id).await?.is_none(), "the delete must win");
        Ok(())
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_capacity() -> Result<(), Error> {
        let cached = Cached::new(Counting::default());
        for _ in 0..CAPACITY + 10 {
            cached.create(&mut record(Duration::hours(1))).await?;
        }
        assert_eq!(cached.memory().sessions.len(), CAPACITY);
        Ok(())
    }
}
