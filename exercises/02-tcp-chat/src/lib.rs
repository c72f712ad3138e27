//! Stage 02: a TCP chat room.
//!
//! The idea of the stage: every line one client sends is relayed to all the other
//! connected clients. Connections no longer live alone: they share one
//! `tokio::sync::broadcast` channel. Each connection's task sends the lines it
//! reads into the channel and writes what the channel yields to its own socket, so
//! no task ever touches another client's socket.
//!
//! What is simplified: a message is the line's text and the sender's address; there
//! are no names, no history for newcomers, and no limit on the length of a line.
//!
//! Why it is built this way: as in stage 01, `run` takes a bound listener and a
//! `shutdown` future, so the binary picks the port and a test can stop the server.
//!
//! This starter is the stage 01 echo server. The TODOs below turn it into the
//! chat room; the chapter `02-tcp-chat` explains each step.

use std::future::Future;
use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

// TODO: import `std::net::SocketAddr`, and `broadcast` and
// `broadcast::error::RecvError` from `tokio::sync`.

// TODO: define the message type the channel carries: the sender's address and the
// line, `pub type Message = (SocketAddr, String);`. The address is how each task
// recognises its own lines and skips them.

// TODO: define `const CHANNEL_CAPACITY: usize` (a few dozen is plenty) and say in a
// comment what happens to a client that falls that many messages behind.

/// Accepts connections until `shutdown` completes.
pub async fn run(listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
    tokio::select! {
        result = accept_loop(&listener) => result,
        // Returning drops the listener, so the port is free again at once.
        _ = shutdown => Ok(()),
    }
}

async fn accept_loop(listener: &TcpListener) -> io::Result<()> {
    // TODO: before the loop, create the room's one channel with `broadcast::channel`
    // and `CHANNEL_CAPACITY`. Keep the `Sender`; the first `Receiver` is not needed.

    loop {
        let (socket, peer) = listener.accept().await?;
        println!("{peer} connected");

        // TODO: here, before spawning, give this client its own `Receiver` by
        // calling `subscribe` on the `Sender`, and clone the `Sender` for the task.
        // Why here: a receiver only gets messages sent after it exists, and the
        // task may start later. Then pass the address, the sender and the receiver
        // to `handle_connection` below.
        tokio::spawn(async move {
            if let Err(err) = handle_connection(socket).await {
                println!("{peer} dropped: {err}");
            }
            println!("{peer} disconnected");
        });
    }
}

/// For now: echoes every line `socket` sends until the client closes its side.
// TODO: take three more parameters: the client's address `peer: SocketAddr`,
// `tx: broadcast::Sender<Message>` and `rx: broadcast::Receiver<Message>` (mut).
pub async fn handle_connection(mut socket: TcpStream) -> io::Result<()> {
    let (reader, mut writer) = socket.split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();

    // TODO: replace this loop with one that waits for two things at once with
    // `tokio::select!`:
    //   1. a line from this client. Use `read_until(b'\n', &mut buf)` on a `Vec<u8>`
    //      declared before the loop: unlike `read_line`, it keeps what it has read
    //      when `select!` cancels it, so a long line is never cut. When it returns
    //      `Ok(0)`, or bytes that do not end with `\n`, the client has gone: return
    //      `Ok(())` without sending the unfinished line. Otherwise remove the `\n`,
    //      turn the bytes into a `String` (`String::from_utf8_lossy`), clear the
    //      buffer, and `send` `(peer, line)` on the channel.
    //   2. a message from the room, from `rx.recv()`:
    //      - `Ok((from, line))` where `from` is this client's own address: skip it;
    //      - `Ok((_, line))`: write `line` and a `\n` to this client with ONE
    //        `write_all` (for example of `format!("{line}\n")`), so lines from two
    //        senders can never mix;
    //      - `Err(RecvError::Lagged(n))`: this client missed `n` messages; print
    //        that and carry on;
    //      - `Err(RecvError::Closed)`: no senders are left; return `Ok(())`.
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        writer.write_all(line.as_bytes()).await?;
    }
}
