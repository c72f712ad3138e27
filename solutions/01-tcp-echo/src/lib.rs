//! Stage 01: a TCP echo server.
//!
//! The idea of the stage: a tokio `TcpListener` accepts connections, and every
//! connection gets a task of its own, so one slow or silent client never holds up
//! the others. Inside a task the protocol is as plain as it gets: read a line,
//! write the same line back.
//!
//! What is simplified: there is no limit on the number of connections, on the
//! length of a line or on how long a client may stay idle. A production server
//! bounds all three (mini-redis, for instance, caps connections with a semaphore).
//!
//! Why it is built this way: `run` takes a listener that is already bound and a
//! `shutdown` future, instead of reading `PORT` or waiting for Ctrl-C itself. The
//! binary decides where to listen and when to stop; a test can bind port 0 and
//! stop the server whenever it likes.

use std::future::Future;
use std::io;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections until `shutdown` completes, echoing lines on each one.
pub async fn run(listener: TcpListener, shutdown: impl Future) -> io::Result<()> {
    tokio::select! {
        result = accept_loop(&listener) => result,
        // Returning drops the listener, so the port is free again at once. Tasks
        // still serving clients are cut off when the runtime shuts down: an echo
        // has nothing half-done that would be worth waiting for.
        _ = shutdown => Ok(()),
    }
}

async fn accept_loop(listener: &TcpListener) -> io::Result<()> {
    loop {
        // An error here is about the listener, not about one client, so it ends
        // the server. (A production server would back off and retry on errors
        // such as "too many open files".)
        let (socket, peer) = listener.accept().await?;
        println!("{peer} connected");

        // One task per connection, and straight back to `accept()`: the next
        // client is served while this one is still talking.
        tokio::spawn(async move {
            // A reset or a broken pipe ends this connection only: the error stops
            // here, in the task, and never reaches the accept loop.
            if let Err(err) = handle_connection(socket).await {
                println!("{peer} dropped: {err}");
            }
            println!("{peer} disconnected");
        });
    }
}

/// Echoes every line `socket` sends until the client closes its side.
pub async fn handle_connection(mut socket: TcpStream) -> io::Result<()> {
    let (reader, mut writer) = socket.split();
    // TCP delivers bytes, not lines: one line may arrive in many pieces, or many
    // lines in one. `BufReader` keeps what it has read and hands it out a line at
    // a time.
    let mut reader = BufReader::new(reader);
    let mut line = String::new();

    loop {
        // `read_line` appends to the buffer, so it starts empty for every line.
        line.clear();
        // `Ok(0)` is the end of the stream: the client has closed the connection.
        // A client that leaves halfway through a line gets that piece back first
        // (without a `\n`), then `Ok(0)` on the next round.
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        // `line` still ends with the `\n` it was read with, so the client gets
        // back exactly the bytes it sent.
        writer.write_all(line.as_bytes()).await?;
    }
}
