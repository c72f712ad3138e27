//! The two phases that need no session of the fleet: handshakes without a cookie,
//! refused as fast as the server can, and a storm of long-polling sockets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};

use crate::figures::Refusals;
use crate::fleet::{Handshakes, bounded};
use crate::phases::{Plan, wait_for};
use crate::sio::{PollSocket, Refusal, WsSocket};

/// Handshakes without a cookie from `in_flight` workers for `loop_time`.
pub async fn refusals(port: u16, plan: &Plan) -> Refusals {
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let first_problem = Arc::new(std::sync::Mutex::new(None::<String>));
    let until = Instant::now() + plan.loop_time;
    let begun = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.in_flight {
        let (counts, first_problem) = (counts.clone(), first_problem.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < until {
                let slot = match bounded(WsSocket::connect(port, None)).await {
                    Err(Refusal::Refused(_)) => 0,
                    Ok(socket) => {
                        socket.close().await;
                        1
                    }
                    Err(Refusal::Failed(why)) => {
                        first_problem
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(why);
                        2
                    }
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
pub async fn polling(port: u16, cookie: &str, plan: &Plan) -> Handshakes {
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
            let attempt = bounded(PollSocket::connect(port, Some(&cookie))).await;
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
