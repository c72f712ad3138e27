//! The measured phases, in the order they run against one server:
//!
//! 1. **setup**: register the bench's user (one session cookie); memory when idle;
//! 2. **WebSocket connect**: N sockets of that session, a bounded number of handshakes
//!    in flight; their latencies; memory with all N connected;
//! 3. **acks**: every socket asks `whoami` again and again for a few seconds;
//! 4. **user room**: one socket sends a `private message` to the bench's own user, which
//!    reaches all N sockets (they are all in `user:{id}`); a few rounds;
//! 5. **logout**: `POST /logout` of the session, until the server has disconnected all N;
//! 6. **refusals**: handshakes without a cookie, as fast as they are refused;
//! 7. **polling connect**: N sockets over long-polling (after a new login), then closed.
//!
//! Each phase is bounded in time and says what it could not do instead of waiting.
//! Around each, the CPU time of the server, of the load generator (this thread) and of
//! the database is read, which shows which of them was the bottleneck.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, watch};

use crate::account::{self, USERNAME};
use crate::figures::{self, Acks, Connect, Figures, Logout, Memory, PhaseCpu, Refusals, Room};
use crate::fleet::{self, Fleet, HANDSHAKE_TIMEOUT, Handshakes, Mode};
use crate::sio::{PollSocket, Refusal, WsSocket};
use crate::system;

/// What to measure, and how hard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// Sockets held at once.
    pub clients: usize,
    /// Handshakes in flight at once while they connect.
    pub in_flight: usize,
    /// How long the ack loop and the refusal loop each run.
    pub loop_time: Duration,
    /// Rounds of the user-room event.
    pub rounds: usize,
}

/// The processes whose CPU time and memory are read.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Pids {
    pub server: u32,
    pub database: Option<u32>,
}

/// How long a round of the room event, and a logout, may take.
const ROUND_TIMEOUT: Duration = Duration::from_secs(10);
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(15);
/// A pause before reading memory, for the server to finish what it was doing.
const SETTLE: Duration = Duration::from_millis(750);

/// Measures the server on `port`, phase after phase, until one cannot go on.
pub async fn measure(port: u16, pids: Pids, plan: &Plan, target: &str) -> Figures {
    let mut figures = Figures {
        target: target.to_string(),
        clients: plan.clients,
        ..Figures::default()
    };
    if let Err(problem) = run(port, pids, plan, &mut figures).await {
        figures.problems.push(problem);
    }
    figures
}

async fn run(port: u16, pids: Pids, plan: &Plan, figures: &mut Figures) -> Result<(), String> {
    let meter = Meter::start("setup", pids);
    let session = account::register(port).await?;
    figures.cpu.push(meter.stop());
    tokio::time::sleep(SETTLE).await;
    let idle = system::resident_bytes(pids.server);

    // 2. The WebSocket storm. The deadline grows with N: a fast server needs a fraction.
    let meter = Meter::start("WebSocket connect", pids);
    let deadline = Duration::from_secs(20) + Duration::from_millis(2 * plan.clients as u64);
    let (fleet, handshakes) = Fleet::connect(
        port,
        &session.cookie,
        plan.clients,
        plan.in_flight,
        deadline,
    )
    .await;
    figures.cpu.push(meter.stop());
    let events = fleet.shared.events.load(Ordering::Relaxed);
    let connected = handshakes.micros.len();
    figures.websocket = Some(connect_figures(plan.clients, handshakes, events));
    alive(pids, "while the sockets connected")?;
    if connected == 0 {
        fleet.close().await;
        return Err(no_sockets(figures.websocket.as_ref()));
    }
    tokio::time::sleep(SETTLE).await;
    if let (Some(idle), Some(loaded)) = (idle, system::resident_bytes(pids.server)) {
        figures.memory = Some(Memory {
            idle_bytes: idle,
            loaded_bytes: loaded,
            sockets: connected,
            per_socket_bytes: loaded.saturating_sub(idle) / connected as u64,
        });
    }

    // 3. Acks: every socket, one `whoami` at a time, for `loop_time`.
    let meter = Meter::start("acks", pids);
    let begun = Instant::now();
    fleet.set(Mode::Acks(begun + plan.loop_time));
    tokio::time::sleep(plan.loop_time + Duration::from_millis(500)).await;
    fleet.set(Mode::Hold);
    tokio::time::sleep(Duration::from_millis(200)).await;
    figures.cpu.push(meter.stop());
    let mut micros = std::mem::take(
        &mut *fleet
            .shared
            .ack_micros
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    micros.sort_unstable();
    let count = fleet.shared.acks.load(Ordering::Relaxed);
    figures.acks = Some(Acks {
        count,
        per_second: count as f64 / plan.loop_time.as_secs_f64(),
        p50_ms: figures::quantile_ms(&micros, 0.5),
        p99_ms: figures::quantile_ms(&micros, 0.99),
        sockets: connected,
        seconds: plan.loop_time.as_secs_f64(),
    });
    alive(pids, "during the acks")?;

    // 4. An event to the user's room reaches every socket.
    let meter = Meter::start("user room", pids);
    let present = connected - fleet.shared.gone.load(Ordering::Relaxed);
    let mut rounds = Vec::new();
    let mut fewest = present;
    for round in 1..=plan.rounds as u64 {
        let shared = &fleet.shared;
        shared.round_received.store(0, Ordering::Relaxed);
        shared.round.store(round, Ordering::Relaxed);
        let packet = format!(
            r#"2["private message",{{"to":"{USERNAME}","text":"{}"}}]"#,
            fleet::round_mark(round)
        );
        let sent = Instant::now();
        if !fleet.send_from_first(packet.into_bytes()).await {
            break;
        }
        let all = wait_for(
            || shared.round_received.load(Ordering::Relaxed) >= present,
            ROUND_TIMEOUT,
        )
        .await;
        let reached = shared.round_received.load(Ordering::Relaxed);
        fewest = fewest.min(reached);
        rounds.push(all.then(|| {
            shared
                .round_last()
                .saturating_duration_since(sent)
                .as_secs_f64()
                * 1000.0
        }));
    }
    figures.cpu.push(meter.stop());
    let mut done: Vec<f64> = rounds.iter().flatten().copied().collect();
    done.sort_by(f64::total_cmp);
    figures.room = Some(Room {
        sockets: present,
        median_ms: (done.len() == rounds.len() && !done.is_empty()).then(|| done[done.len() / 2]),
        rounds_ms: rounds,
        fewest_reached: fewest,
    });
    alive(pids, "while the user-room event went out")?;

    // 5. Logout disconnects the session's sockets.
    let meter = Meter::start("logout", pids);
    let gone_before = fleet.shared.gone.load(Ordering::Relaxed);
    let present = connected - gone_before;
    let started = Instant::now();
    let answer = account::log_out(port, &session).await;
    let all_gone = wait_for(
        || fleet.shared.gone.load(Ordering::Relaxed) - gone_before >= present,
        LOGOUT_TIMEOUT,
    )
    .await;
    figures.cpu.push(meter.stop());
    let gone = fleet.shared.gone.load(Ordering::Relaxed) - gone_before;
    let all_gone_ms = all_gone.then(|| {
        fleet
            .shared
            .gone_last()
            .saturating_duration_since(started)
            .as_secs_f64()
            * 1000.0
    });
    fleet.close().await;
    figures.logout = Some(Logout {
        sockets: present,
        answer_ms: answer?.as_secs_f64() * 1000.0,
        all_gone_ms,
        gone,
    });
    alive(pids, "at logout")?;

    // 6. Handshakes without a session, refused as fast as the server can.
    let meter = Meter::start("refusals", pids);
    figures.refusals = Some(refusals(port, plan).await);
    figures.cpu.push(meter.stop());
    alive(pids, "while it refused handshakes")?;

    // 7. Long-polling: a new session, N sockets, then all closed.
    let session = account::log_in(port).await?;
    let meter = Meter::start("polling connect", pids);
    let handshakes = polling(port, &session.cookie, plan).await;
    figures.cpu.push(meter.stop());
    figures.polling = Some(connect_figures(plan.clients, handshakes, 0));
    alive(pids, "while the polling sockets connected")
}

/// The figures of a connect phase.
fn connect_figures(attempted: usize, mut h: Handshakes, events: u64) -> Connect {
    h.micros.sort_unstable();
    let connected = h.micros.len();
    let seconds = h.elapsed.as_secs_f64();
    Connect {
        attempted,
        connected,
        per_second: if seconds > 0.0 {
            connected as f64 / seconds
        } else {
            0.0
        },
        p50_ms: figures::quantile_ms(&h.micros, 0.5),
        p99_ms: figures::quantile_ms(&h.micros, 0.99),
        max_ms: h.micros.last().map_or(0.0, |m| *m as f64 / 1000.0),
        refused: h.refused,
        failed: h.failed,
        unfinished: h.unfinished,
        first_problem: h.first_problem,
        events_received: events,
        seconds,
    }
}

fn no_sockets(connect: Option<&Connect>) -> String {
    let why = connect
        .and_then(|c| c.first_problem.clone())
        .unwrap_or_else(|| "no handshake finished in time".into());
    format!(
        "No socket connected with the session cookie ({why}), so nothing else could be \
         measured. The bench needs the stage's authenticated handshake working (hint \
         `login-connects`)."
    )
}

/// Handshakes without a cookie from `in_flight` workers for `loop_time`.
async fn refusals(port: u16, plan: &Plan) -> Refusals {
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let first_problem = Arc::new(std::sync::Mutex::new(None::<String>));
    let until = Instant::now() + plan.loop_time;
    let begun = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.in_flight {
        let (counts, first_problem) = (counts.clone(), first_problem.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < until {
                let attempt =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, WsSocket::connect(port, None)).await;
                let slot = match attempt {
                    Ok(Err(Refusal::Refused(_))) => 0,
                    Ok(Ok(socket)) => {
                        socket.close().await;
                        1
                    }
                    Ok(Err(Refusal::Failed(why))) => {
                        first_problem
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(why);
                        2
                    }
                    Err(_) => 2,
                };
                counts[slot].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let seconds = begun.elapsed().as_secs_f64();
    let refused = counts[0].load(Ordering::Relaxed);
    let first_problem = first_problem
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    Refusals {
        refused,
        accepted: counts[1].load(Ordering::Relaxed),
        failed: counts[2].load(Ordering::Relaxed),
        per_second: refused as f64 / seconds,
        seconds,
        first_problem,
    }
}

/// N polling sockets, `in_flight` handshakes at a time; all held until the last is in
/// (or the deadline), then closed.
async fn polling(port: u16, cookie: &str, plan: &Plan) -> Handshakes {
    let permits = Arc::new(Semaphore::new(plan.in_flight.max(1)));
    let finished = Arc::new(AtomicU64::new(0));
    let (close_tx, close_rx) = watch::channel(false);
    let cookie: Arc<str> = cookie.into();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        let (permits, cookie, mut close_rx) = (permits.clone(), cookie.clone(), close_rx.clone());
        let finished = finished.clone();
        tasks.push(tokio::spawn(async move {
            let permit = permits.acquire_owned().await.ok()?;
            let begun = Instant::now();
            let attempt =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, PollSocket::connect(port, Some(&cookie)))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Refusal::Failed(format!(
                            "no answer within {} s",
                            HANDSHAKE_TIMEOUT.as_secs()
                        )))
                    });
            drop(permit);
            let latency = begun.elapsed();
            let done = Instant::now();
            finished.fetch_add(1, Ordering::Relaxed);
            match attempt {
                Ok(socket) => {
                    let _ = close_rx.wait_for(|close| *close).await;
                    socket.close().await;
                    Some((Ok(latency), done))
                }
                Err(refusal) => Some((Err(refusal), done)),
            }
        }));
    }
    drop(close_rx);
    let deadline = Duration::from_secs(20) + Duration::from_millis(2 * plan.clients as u64);
    // The handshakes finish while the tasks still hold their sockets: wait for all to
    // be connected (or refused) before closing any.
    let all = plan.clients as u64;
    wait_for(|| finished.load(Ordering::Relaxed) >= all, deadline).await;
    let _ = close_tx.send(true);
    let mut h = Handshakes::default();
    let mut last_success = started;
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Some((Ok(latency), done)))) => {
                h.micros
                    .push(latency.as_micros().min(u32::MAX as u128) as u32);
                last_success = last_success.max(done);
            }
            Ok(Ok(Some((Err(Refusal::Refused(why)), _)))) => {
                h.refused += 1;
                h.first_problem.get_or_insert(format!("refused: {why}"));
            }
            Ok(Ok(Some((Err(Refusal::Failed(why)), _)))) => {
                h.failed += 1;
                h.first_problem.get_or_insert(format!("failed: {why}"));
            }
            _ => h.unfinished += 1,
        }
    }
    h.elapsed = last_success - started;
    h
}

/// Polls `done` every few milliseconds until it holds or `limit` passes.
async fn wait_for(done: impl Fn() -> bool, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while !done() {
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// Err when the server has exited.
fn alive(pids: Pids, when: &str) -> Result<(), String> {
    if system::is_running(pids.server) {
        Ok(())
    } else {
        Err(format!(
            "The server exited {when}; the phases after this one did not run."
        ))
    }
}

/// The load generator's own CPU time (all of it: it runs on one thread).
fn own_cpu() -> Duration {
    system::process_cpu(std::process::id()).unwrap_or_default()
}

/// CPU time of the three parties across one phase.
struct Meter {
    phase: &'static str,
    pids: Pids,
    wall: Instant,
    overflows: Option<u64>,
    server: Option<Duration>,
    load: Duration,
    database: Option<Duration>,
}

impl Meter {
    fn start(phase: &'static str, pids: Pids) -> Meter {
        eprintln!("  {phase}…");
        Meter {
            phase,
            pids,
            wall: Instant::now(),
            overflows: system::listen_overflows(),
            server: system::process_cpu(pids.server),
            load: own_cpu(),
            database: pids.database.and_then(system::process_cpu),
        }
    }

    fn stop(self) -> PhaseCpu {
        let since = |before: Option<Duration>, after: Option<Duration>| {
            Some(after?.saturating_sub(before?).as_secs_f64())
        };
        PhaseCpu {
            phase: self.phase.to_string(),
            listen_overflows: match (self.overflows, system::listen_overflows()) {
                (Some(before), Some(after)) => Some(after.saturating_sub(before)),
                _ => None,
            },
            wall_s: self.wall.elapsed().as_secs_f64(),
            server_s: since(self.server, system::process_cpu(self.pids.server)),
            load_s: own_cpu().saturating_sub(self.load).as_secs_f64(),
            database_s: since(
                self.database,
                self.pids.database.and_then(system::process_cpu),
            ),
        }
    }
}
