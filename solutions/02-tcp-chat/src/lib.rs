//! Stage 02: a TCP chat room.
//!
//! The idea of the stage: every line one client sends is relayed to all the other
//! connected clients. Connections no longer live alone: they share one
//! `tokio::sync::broadcast` channel. Each connection's task sends the lines it
//! reads into the channel and writes what the channel yields to its own socket, so
//! no task ever touches another client's socket.
//!
//! What is simplified: a message is the line's text and the sender's address; there
//! are no names, no history for newcomers, and no limit on the length of a line. A
//! client too slow to keep up loses messages (see `CHANNEL_CAPACITY`) rather than
//! slowing everyone down.
//!
//! Why it is built this way: as in stage 01, `run` takes a bound listener and a
//! `shutdown` future, so the binary picks the port and a test can stop the server.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};

/// A line of chat and the address of the client who sent it, so each task can
/// skip its own lines.
pub type Message = (SocketAddr, String);

/// How many messages the channel holds for a receiver that has not read them yet.
///
/// A broadcast channel never blocks its senders: when a receiver falls this far
/// behind, its oldest messages are dropped and its next `recv` reports how many it
/// missed (`RecvError::Lagged`). The capacity is the room a slow client gets
/// before that happens. People type slowly and writes to a socket are quick, so a
/// few dozen lines is plenty; a bigger number only costs memory.
const CHANNEL_CAPACITY: usize = 64;

/// Accepts connections until `shutdown` completes, relaying lines between them.
pub async fn run(listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
    tokio::select! {
        result = accept_loop(&listener) => result,
        // Returning drops the listener and the `Sender`. Tasks still serving
        // clients are cut off when the runtime shuts down.
        _ = shutdown => Ok(()),
    }
}

async fn accept_loop(listener: &TcpListener) -> io::Result<()> {
    // One channel for the whole room, made before the first client. The first
    // `Receiver` is not needed: every connection subscribes its own.
    let (tx, _) = broadcast::channel::<Message>(CHANNEL_CAPACITY);

    loop {
        let (socket, peer) = listener.accept().await?;
        println!("{peer} connected");

        // Subscribe here, before spawning: a receiver only gets messages sent
        // after it exists. Subscribing inside the task would leave a gap between
        // `accept` and the moment the task first runs, and a line sent in that gap
        // would never reach this client.
        let rx = tx.subscribe();
        let tx = tx.clone();

        tokio::spawn(async move {
            if let Err(err) = handle_connection(socket, peer, tx, rx).await {
                println!("{peer} dropped: {err}");
            }
            println!("{peer} disconnected");
        });
    }
}

/// Relays lines between `socket` and the room until the client leaves.
///
/// `peer` is the client's address: lines it sends are tagged with it, and messages
/// that carry it are not written back.
pub async fn handle_connection(
    mut socket: TcpStream,
    peer: SocketAddr,
    tx: broadcast::Sender<Message>,
    mut rx: broadcast::Receiver<Message>,
) -> io::Result<()> {
    let (reader, mut writer) = socket.split();
    let mut reader = BufReader::new(reader);
    // The line being read. It lives outside the loop on purpose: see below.
    let mut buf = Vec::new();

    loop {
        // Wait for whichever comes first: a line from this client, or a message
        // from the room. When one branch wins, `select!` drops the other one's
        // future, so each branch must be safe to cancel and start again.
        tokio::select! {
            // `read_until` appends to `buf` as bytes arrive and keeps them there
            // if it is cancelled, so a long line that comes in many pieces, while
            // other clients' messages go out, is still read whole. (`read_line`
            // does not promise that: cancelled halfway, it may lose what it read.)
            read = reader.read_until(b'\n', &mut buf) => {
                let n = read?;
                // `read_until` stops without a `\n` only at the end of the stream:
                // the client has gone (`Ok(0)`), perhaps halfway through a line.
                // Its unfinished line is dropped, so nothing is sent in its name.
                // Returning drops `rx`, so nothing more is written to this client.
                if n == 0 || !buf.ends_with(b"\n") {
                    return Ok(());
                }
                buf.pop();
                // Not every byte string is UTF-8; a chat can live with U+FFFD.
                let line = String::from_utf8_lossy(&buf).into_owned();
                buf.clear();
                // `send` fails only when there are no receivers, and this task
                // holds one, so there is nothing to handle.
                let _ = tx.send((peer, line));
            }
            received = rx.recv() => match received {
                Ok((from, _)) if from == peer => {}
                // One `write_all` per message: the whole line, `\n` included, is
                // written before this task looks at the next message, so lines
                // from different senders never mix.
                Ok((_, line)) => writer.write_all(format!("{line}\n").as_bytes()).await?,
                // This client fell behind and missed `skipped` messages. They are
                // gone; carry on with the ones still in the channel.
                Err(RecvError::Lagged(skipped)) => {
                    println!("{peer} missed {skipped} messages");
                }
                // Only when every `Sender` is gone, which cannot happen while
                // this task holds one; if it did, there would be no room left.
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
