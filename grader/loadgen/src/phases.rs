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

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::account::{self, USERNAME};
use crate::figures::{self, Acks, Connect, Figures, Logout, Memory, PhaseCpu, Room};
use crate::fleet::{self, Fleet, Handshakes, Mode};
use crate::storms;
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
    // 1. Setup: the bench's user, and the server's memory before any socket.
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

    // 3. Acks: every socket asks `whoami`, several at a time, for `loop_time`.
    let meter = Meter::start("acks", pids);
    let acks = ack_phase(&fleet, plan, connected).await;
    figures.cpu.push(meter.stop());
    figures.acks = Some(acks);
    alive(pids, "during the acks")?;

    // 4. An event to the user's room reaches every socket.
    let meter = Meter::start("user room", pids);
    let room = room_phase(&fleet, plan, connected).await;
    figures.cpu.push(meter.stop());
    figures.room = Some(room);
    alive(pids, "while the user-room event went out")?;

    // 5. Logout disconnects the session's sockets.
    let meter = Meter::start("logout", pids);
    let logout = logout_phase(port, &session, &fleet, connected).await;
    figures.cpu.push(meter.stop());
    fleet.close().await;
    figures.logout = Some(logout?);
    alive(pids, "at logout")?;

    // 6. Handshakes without a session, refused as fast as the server can.
    let meter = Meter::start("refusals", pids);
    figures.refusals = Some(storms::refusals(port, plan).await);
    figures.cpu.push(meter.stop());
    alive(pids, "while it refused handshakes")?;

    // 7. Long-polling: a new session, N sockets, then all closed.
    let session = account::log_in(port).await?;
    let meter = Meter::start("polling connect", pids);
    let handshakes = storms::polling(port, &session.cookie, plan).await;
    figures.cpu.push(meter.stop());
    figures.polling = Some(connect_figures(plan.clients, handshakes, 0));
    alive(pids, "while the polling sockets connected")
}

/// Every socket asks `whoami` for `loop_time`; the acknowledgements that came back in
/// time, and their latency.
async fn ack_phase(fleet: &Fleet, plan: &Plan, connected: usize) -> Acks {
    fleet.set(Mode::Acks(Instant::now() + plan.loop_time));
    tokio::time::sleep(plan.loop_time + Duration::from_millis(500)).await;
    // Back to holding: each socket hands in its latency samples.
    fleet.set(Mode::Hold);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut micros = std::mem::take(
        &mut *fleet
            .shared
            .ack_micros
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    micros.sort_unstable();
    let count = fleet.shared.acks.load(Ordering::Relaxed);
    Acks {
        count,
        refused: fleet.shared.acks_refused.load(Ordering::Relaxed),
        per_second: count as f64 / plan.loop_time.as_secs_f64(),
        p50_ms: figures::quantile_ms(&micros, 0.5),
        p99_ms: figures::quantile_ms(&micros, 0.99),
        sockets: connected,
        seconds: plan.loop_time.as_secs_f64(),
    }
}

/// Rounds of a `private message` from the first socket to the bench's user, which every
/// socket of the fleet should get: the time until the last one had it.
async fn room_phase(fleet: &Fleet, plan: &Plan, connected: usize) -> Room {
    let shared = &fleet.shared;
    let present = connected - shared.gone.load(Ordering::Relaxed);
    let mut rounds = Vec::new();
    let mut fewest = present;
    for round in 1..=plan.rounds as u64 {
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
        fewest = fewest.min(shared.round_received.load(Ordering::Relaxed));
        rounds.push(all.then(|| millis(shared.round_last().saturating_duration_since(sent))));
    }
    let mut done: Vec<f64> = rounds.iter().flatten().copied().collect();
    done.sort_by(f64::total_cmp);
    Room {
        sockets: present,
        median_ms: (done.len() == rounds.len() && !done.is_empty()).then(|| done[done.len() / 2]),
        rounds_ms: rounds,
        fewest_reached: fewest,
    }
}

/// `POST /logout` of the fleet's session, and the time until the server had
/// disconnected every one of its sockets.
async fn logout_phase(
    port: u16,
    session: &account::Session,
    fleet: &Fleet,
    connected: usize,
) -> Result<Logout, String> {
    let shared = &fleet.shared;
    let gone_before = shared.gone.load(Ordering::Relaxed);
    let present = connected - gone_before;
    let started = Instant::now();
    let answer = account::log_out(port, session).await;
    let all_gone = wait_for(
        || shared.gone.load(Ordering::Relaxed) - gone_before >= present,
        LOGOUT_TIMEOUT,
    )
    .await;
    Ok(Logout {
        sockets: present,
        answer_ms: millis(answer?),
        all_gone_ms: all_gone
            .then(|| millis(shared.gone_last().saturating_duration_since(started))),
        gone: shared.gone.load(Ordering::Relaxed) - gone_before,
    })
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
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

/// Polls `done` every few milliseconds until it holds or `limit` passes.
pub(crate) async fn wait_for(done: impl Fn() -> bool, limit: Duration) -> bool {
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
