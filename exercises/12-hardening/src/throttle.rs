//! Limits on how fast a client may go: events per socket, failed logins per username.
//! Read the chapter `12-hardening`, "A flood of events" and "Guessing passwords".

// TODO: (7) a socket's budget of events, a token bucket:
//
//     #[derive(Clone)]
//     pub struct EventBudget(Arc<Mutex<Bucket>>);
//
// `EventBudget::new(capacity: u32, refill: Duration)` starts full; `take(&self) -> bool`
// first adds the tokens gained since the last call (elapsed time / `refill`, at most
// `capacity`), then takes one if there is one. A std `Mutex` is right here: it is held
// for a few instructions and never across an `.await`.

// TODO: (9) failed logins per username:
//
//     #[derive(Clone)]
//     pub struct LoginThrottle(Arc<Mutex<…>>);
//
// `LoginThrottle::new(max_failures: u32, window: Duration)`; `failed(&self, username)`
// counts a failure (a failure after the window of the first one starts a new window);
// `locked(&self, username) -> Option<Duration>` is `Some(time left in the window)` once
// a username has `max_failures` failures in it; `succeeded(&self, username)` forgets
// them. Count unknown usernames too, exactly like known ones, and keep the map bounded
// (drop entries whose window is over when it grows large).
