//! Limits on how fast a client may go: events per socket, failed logins per username.
//!
//! Both are kept in the server's memory. That is enough for one server process; with
//! several behind a load balancer (stage 13) each would count on its own, and the login
//! counts belong in a shared store (Redis, or MongoDB with a TTL index).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A socket's budget of events: a token bucket.
///
/// The bucket holds up to `capacity` tokens and gains one every `refill`; each event
/// takes one, and an event that finds the bucket empty is dropped. So a person can send
/// a burst of `capacity` messages at once, then one per `refill` for as long as they
/// like, and a script that floods gets no further than that: the events it sends beyond
/// cost the server one lock and one comparison each, not a broadcast to everyone.
///
/// A std `Mutex`, not tokio's: it is held for a few instructions and never across an
/// `.await` (the mini-redis `db.rs` argument).
#[derive(Clone)]
pub struct EventBudget(Arc<Mutex<Bucket>>);

struct Bucket {
    capacity: f64,
    /// Tokens gained per second.
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl EventBudget {
    /// A full bucket of `capacity` tokens that gains one every `refill`.
    pub fn new(capacity: u32, refill: Duration) -> EventBudget {
        EventBudget(Arc::new(Mutex::new(Bucket {
            capacity: f64::from(capacity),
            rate: 1.0 / refill.as_secs_f64(),
            tokens: f64::from(capacity),
            last: Instant::now(),
        })))
    }

    /// Takes a token if there is one: whether the event may go on.
    pub fn take(&self) -> bool {
        let mut bucket = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let gained = now.duration_since(bucket.last).as_secs_f64() * bucket.rate;
        bucket.tokens = (bucket.tokens + gained).min(bucket.capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Failed logins, counted per username, shared by the form and the JSON API.
///
/// After `max_failures` failed attempts within `window` of the first, the username is
/// locked until that window ends: every login for it is answered `429 Too Many
/// Requests` with `Retry-After`, *without checking the password*, so guesses made
/// meanwhile are worth nothing, even a right one. A successful login clears the count.
///
/// Counted per username, not per IP address: an attacker guessing one account's
/// password from many addresses is still stopped, and people behind one address (a
/// school, an office, a mobile carrier) do not lock each other out. The price: anyone
/// can lock anyone out for a while by failing on purpose. Real services soften that
/// with a CAPTCHA or an emailed link; the window here is short.
///
/// Unknown usernames are counted exactly like known ones, so the 429 comes at the same
/// attempt for both: if it came only for real accounts, it would tell an attacker
/// which usernames exist (see `log_in` in `main.rs`).
#[derive(Clone)]
pub struct LoginThrottle(Arc<Mutex<Attempts>>);

struct Attempts {
    max_failures: u32,
    window: Duration,
    /// Per username: failures so far, and when the first of them was.
    failures: HashMap<String, (u32, Instant)>,
}

/// The most usernames tracked at once; beyond that, entries whose window is over are
/// dropped first. Without a bound, a script trying random names would grow the map
/// for ever.
const MAX_TRACKED: usize = 100_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> LoginThrottle {
        LoginThrottle(Arc::new(Mutex::new(Attempts {
            max_failures,
            window,
            failures: HashMap::new(),
        })))
    }

    /// `Some(wait)` when `username` is locked, for `wait` more; `None` when a login
    /// may be tried.
    pub fn locked(&self, username: &str) -> Option<Duration> {
        let attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (count, first) = attempts.failures.get(username)?;
        let left = attempts.window.checked_sub(first.elapsed())?;
        (*count >= attempts.max_failures).then_some(left)
    }

    /// Counts a failed login for `username`.
    pub fn failed(&self, username: &str) {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let window = attempts.window;
        if attempts.failures.len() >= MAX_TRACKED {
            attempts
                .failures
                .retain(|_, (_, first)| first.elapsed() < window);
        }
        let entry = attempts
            .failures
            .entry(username.to_string())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= window {
            // The last window is over: this failure starts a new one.
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets the failures of `username`, after a successful login.
    pub fn succeeded(&self, username: &str) {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        attempts.failures.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_a_burst_then_refills() {
        let budget = EventBudget::new(3, Duration::from_millis(50));
        assert!((0..3).all(|_| budget.take()));
        assert!(!budget.take());
        std::thread::sleep(Duration::from_millis(60));
        assert!(budget.take());
    }

    #[test]
    fn logins_lock_after_the_last_allowed_failure() {
        let throttle = LoginThrottle::new(2, Duration::from_secs(60));
        throttle.failed("ada");
        assert!(throttle.locked("ada").is_none());
        throttle.failed("ada");
        assert!(throttle.locked("ada").is_some());
        assert!(throttle.locked("grace").is_none());
        throttle.succeeded("ada");
        assert!(throttle.locked("ada").is_none());
    }
}
