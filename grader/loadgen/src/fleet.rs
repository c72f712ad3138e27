//! The fleet: N authenticated WebSocket sockets held open at once, each a task on the
//! load generator's one thread, told what to do through a `watch` channel and counting
//! what happens in shared atomics.
//!
//! A socket's task only ever waits on two things: its socket and a change of
//! [`Mode`]. It answers pings, counts every event it receives, sends `whoami` after
//! `whoami` while the mode is [`Mode::Acks`], and notes when the round's private
//! message reaches it and when the server disconnects it. The phases in
//! [`phases`](crate::phases) read the counters.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};

use crate::sio::{Packet, Refusal, WsSocket};
use crate::wire::find;

/// How long one handshake may take before it counts as failed.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Latency samples a socket keeps per phase (enough for percentiles, bounded).
const SAMPLES_PER_SOCKET: usize = 256;
/// How many `whoami`s each socket keeps unanswered during the ack phase. One at a time
/// would make every acknowledgement cost the bench a write and a read of its own, as
/// much as it costs the server: the bench would measure itself. With a window, the
/// bench writes several requests at once and reads several answers at once, and the
/// server's side of each (dispatching the event, running the handler, encoding the
/// answer) is what takes the time.
pub const ACK_WINDOW: usize = 8;

/// A handshake, failed when it takes longer than [`HANDSHAKE_TIMEOUT`].
pub async fn bounded<T>(
    handshake: impl std::future::Future<Output = Result<T, Refusal>>,
) -> Result<T, Refusal> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .unwrap_or_else(|_| {
            Err(Refusal::Failed(format!(
                "no answer within {} s",
                HANDSHAKE_TIMEOUT.as_secs()
            )))
        })
}

/// What every socket of the fleet does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Stay connected and count what arrives.
    Hold,
    /// Ask `whoami` again and again, [`ACK_WINDOW`] at a time, until the instant given.
    Acks(Instant),
    /// Close the socket.
    Close,
}

/// Counters the sockets update and the phases read.
pub struct Shared {
    base: Instant,
    /// Event packets received, by all sockets.
    pub events: AtomicU64,
    /// Acknowledgements received before the ack phase's end: answers, and refusals.
    pub acks: AtomicU64,
    pub acks_refused: AtomicU64,
    /// The latency of acknowledgements, in microseconds.
    pub ack_micros: Mutex<Vec<u32>>,
    /// Which round of private messages is under way, and how many sockets got it.
    pub round: AtomicU64,
    pub round_received: AtomicUsize,
    round_last: AtomicU64,
    /// Sockets the server disconnected, and when the last one went.
    pub gone: AtomicUsize,
    gone_last: AtomicU64,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            base: Instant::now(),
            events: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            acks_refused: AtomicU64::new(0),
            ack_micros: Mutex::new(Vec::new()),
            round: AtomicU64::new(0),
            round_received: AtomicUsize::new(0),
            round_last: AtomicU64::new(0),
            gone: AtomicUsize::new(0),
            gone_last: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn instant(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    /// When the last socket got the current round's message.
    pub fn round_last(&self) -> Instant {
        self.instant(self.round_last.load(Ordering::Relaxed))
    }

    /// When the last socket was disconnected.
    pub fn gone_last(&self) -> Instant {
        self.instant(self.gone_last.load(Ordering::Relaxed))
    }
}

/// How the handshakes of the fleet went.
#[derive(Debug, Default)]
pub struct Handshakes {
    /// Latencies of the handshakes that succeeded, in microseconds.
    pub micros: Vec<u32>,
    pub refused: usize,
    pub failed: usize,
    /// The first refusal or failure, to show.
    pub first_problem: Option<String>,
    /// Handshakes still unfinished at the deadline.
    pub unfinished: usize,
    /// From the first connect to the last success.
    pub elapsed: Duration,
}

/// The connected sockets, and the means to direct them.
pub struct Fleet {
    pub shared: Arc<Shared>,
    mode: watch::Sender<Mode>,
    /// The first socket to connect also sends the private messages.
    sender: Option<mpsc::Sender<Vec<u8>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    /// Connects `count` sockets with `cookie`, at most `in_flight` handshakes at a time,
    /// and stops waiting at `deadline`.
    pub async fn connect(
        port: u16,
        cookie: &str,
        count: usize,
        in_flight: usize,
        deadline: Duration,
    ) -> (Fleet, Handshakes) {
        let shared = Arc::new(Shared::new());
        let (mode, _) = watch::channel(Mode::Hold);
        let permits = Arc::new(Semaphore::new(in_flight.max(1)));
        let (results, mut results_rx) = mpsc::channel::<Result<Duration, Refusal>>(count.max(1));
        let (sender_tx, sender_rx) = mpsc::channel::<Vec<u8>>(4);
        let sender_rx = Arc::new(Mutex::new(Some(sender_rx)));
        let cookie: Arc<str> = cookie.into();
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (permits, results, cookie) = (permits.clone(), results.clone(), cookie.clone());
            let (shared, mode_rx, sender_rx) =
                (shared.clone(), mode.subscribe(), sender_rx.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(permit) = permits.acquire_owned().await else {
                    return;
                };
                let begun = Instant::now();
                let attempt = bounded(WsSocket::connect(port, Some(&cookie))).await;
                drop(permit);
                let socket = match attempt {
                    Ok(socket) => {
                        let _ = results.send(Ok(begun.elapsed())).await;
                        socket
                    }
                    Err(refusal) => {
                        let _ = results.send(Err(refusal)).await;
                        return;
                    }
                };
                // The first socket in is the one that sends the private messages.
                let commands = sender_rx.lock().unwrap_or_else(|e| e.into_inner()).take();
                hold(socket, mode_rx, commands, shared).await;
            }));
        }
        drop(results);
        let mut handshakes = Handshakes::default();
        let wait_until = tokio::time::Instant::now() + deadline;
        let mut finished = 0;
        while finished < count {
            match tokio::time::timeout_at(wait_until, results_rx.recv()).await {
                Ok(Some(Ok(latency))) => {
                    handshakes
                        .micros
                        .push(latency.as_micros().min(u32::MAX as u128) as u32);
                    handshakes.elapsed = started.elapsed();
                }
                Ok(Some(Err(refusal))) => {
                    let text = match refusal {
                        Refusal::Refused(why) => {
                            handshakes.refused += 1;
                            format!("refused: {why}")
                        }
                        Refusal::Failed(why) => {
                            handshakes.failed += 1;
                            format!("failed: {why}")
                        }
                    };
                    handshakes.first_problem.get_or_insert(text);
                }
                Ok(None) | Err(_) => break,
            }
            finished += 1;
        }
        handshakes.unfinished = count - finished;
        let fleet = Fleet {
            shared,
            mode,
            sender: Some(sender_tx),
            tasks,
        };
        (fleet, handshakes)
    }

    /// Sets what every socket does now.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Has the first socket send `packet` (a Socket.IO packet such as `42[…]`).
    pub async fn send_from_first(&self, packet: Vec<u8>) -> bool {
        match &self.sender {
            Some(tx) => tx.send(packet).await.is_ok(),
            None => false,
        }
    }

    /// Closes every socket still open and waits (bounded) for their tasks.
    pub async fn close(mut self) {
        self.set(Mode::Close);
        self.sender = None;
        for task in self.tasks.drain(..) {
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                break;
            }
        }
    }
}

/// One socket's life in the fleet, after its handshake.
async fn hold(
    mut socket: WsSocket,
    mut mode_rx: watch::Receiver<Mode>,
    mut commands: Option<mpsc::Receiver<Vec<u8>>>,
    shared: Arc<Shared>,
) {
    let mut mode = *mode_rx.borrow_and_update();
    // The `whoami`s awaiting their acknowledgement: id and when each was sent.
    let mut pending: Vec<(u64, Instant)> = Vec::with_capacity(ACK_WINDOW);
    let mut next_id = 0u64;
    let mut samples: Vec<u32> = Vec::new();
    let mut send: Option<Vec<u8>> = None;
    loop {
        // Writes happen here, outside the `select!`, so none is ever cut off halfway.
        if let Some(packet) = send.take()
            && socket.send(&packet).await.is_err()
        {
            break;
        }
        // Top the window up once half of it has come back: one write for several. The
        // socket that sends the room's messages sits the loop out, so that a server
        // with a budget of events per socket (stage 12) has not spent its budget.
        if let Mode::Acks(until) = mode
            && commands.is_none()
            && pending.len() <= ACK_WINDOW / 2
            && Instant::now() < until
        {
            let now = Instant::now();
            let mut batch = Vec::with_capacity(ACK_WINDOW);
            while pending.len() < ACK_WINDOW {
                next_id += 1;
                pending.push((next_id, now));
                batch.push(format!("2{next_id}[\"whoami\"]").into_bytes());
            }
            if socket.send_many(&batch).await.is_err() {
                break;
            }
        }
        let mut ping = false;
        tokio::select! {
            changed = mode_rx.changed() => {
                if changed.is_err() {
                    break;
                }
                mode = *mode_rx.borrow_and_update();
                match mode {
                    Mode::Close => break,
                    Mode::Hold => flush(&shared, &mut samples),
                    Mode::Acks(_) => {}
                }
            }
            Some(packet) = async { commands.as_mut()?.recv().await }, if commands.is_some() => {
                send = Some(packet);
            }
            packet = socket.next() => match packet {
                Err(_) | Ok(Packet::Closed | Packet::Disconnect) => {
                    let now = shared.now();
                    shared.gone.fetch_add(1, Ordering::Relaxed);
                    shared.gone_last.fetch_max(now, Ordering::Relaxed);
                    break;
                }
                Ok(Packet::Ping) => ping = true,
                Ok(Packet::Ack { id, data }) => {
                    if let Some(i) = pending.iter().position(|(sent, _)| *sent == id) {
                        let (_, sent_at) = pending.swap_remove(i);
                        let now = Instant::now();
                        if let Mode::Acks(until) = mode
                            && now <= until
                        {
                            // `whoami` answers the user; anything else is a refusal
                            // (stage 12's event budget: `{"ok": false, "error": …}`).
                            if find(data, b"\"username\"").is_none() {
                                shared.acks_refused.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            shared.acks.fetch_add(1, Ordering::Relaxed);
                            if samples.len() < SAMPLES_PER_SOCKET {
                                samples.push((now - sent_at).as_micros().min(u32::MAX as u128) as u32);
                            }
                        }
                    }
                }
                Ok(Packet::Event { name, raw }) => {
                    shared.events.fetch_add(1, Ordering::Relaxed);
                    if name == b"private message" {
                        let round = shared.round.load(Ordering::Relaxed);
                        if find(raw, round_mark(round).as_bytes()).is_some() {
                            let now = shared.now();
                            shared.round_received.fetch_add(1, Ordering::Relaxed);
                            shared.round_last.fetch_max(now, Ordering::Relaxed);
                        }
                    }
                }
                Ok(_) => {}
            },
        }
        if ping && socket.pong().await.is_err() {
            break;
        }
    }
    flush(&shared, &mut samples);
    socket.close().await;
}

fn flush(shared: &Shared, samples: &mut Vec<u32>) {
    if !samples.is_empty() {
        shared
            .ack_micros
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .append(samples);
    }
}

/// The text that marks round `n`'s private message.
pub fn round_mark(n: u64) -> String {
    format!("bench-round-{n}")
}
