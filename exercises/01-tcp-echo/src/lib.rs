//! Stage 01: a TCP echo server.
//!
//! The idea of the stage: a tokio `TcpListener` accepts connections, and every
//! connection gets a task of its own, so one slow or silent client never holds up
//! the others. Inside a task the protocol is as plain as it gets: read a line,
//! write the same line back.
//!
//! What is simplified: there is no limit on the number of connections, on the
//! length of a line or on how long a client may stay idle.
//!
//! Why it is built this way: `run` takes a listener that is already bound and a
//! `shutdown` future, instead of reading `PORT` or waiting for Ctrl-C itself. The
//! binary decides where to listen and when to stop; a test can bind port 0 and
//! stop the server whenever it likes.
//!
//! This file is a starter: the functions below are placeholders until tokio is a
//! dependency (see `Cargo.toml`). Replace them as the TODOs say.

// TODO: once tokio is a dependency, import `AsyncBufReadExt`, `AsyncWriteExt` and
// `BufReader` from `tokio::io`, and `TcpListener` and `TcpStream` from `tokio::net`.

// TODO: replace this placeholder with
//     pub async fn run(listener: TcpListener, shutdown: impl Future) -> std::io::Result<()>
// Its body is a `tokio::select!` with two branches:
//   - the accept loop (next TODO), whose result `run` returns;
//   - the `shutdown` future: when it completes, return `Ok(())`.
/// Placeholder for the accept loop; it does nothing yet.
pub fn run() {}

// TODO: write `async fn accept_loop(listener: &TcpListener) -> std::io::Result<()>`:
// a `loop` that
//   1. waits for the next client with `listener.accept().await?`, which gives the
//      socket and the client's address (print "ADDRESS connected");
//   2. starts a task for that client with `tokio::spawn(async move { ... })`, so the
//      loop goes straight back to `accept()` and the next client is served too;
//   3. inside the task, calls `handle_connection(socket).await` and, if it returns
//      an error, prints it: a client's error must end its own task, never the loop.

// TODO: replace this placeholder with
//     pub async fn handle_connection(mut socket: TcpStream) -> std::io::Result<()>
// that
//   1. splits the socket into a read half and a write half (`socket.split()`),
//      and wraps the read half in a `BufReader`;
//   2. keeps one `String` buffer and, in a loop, clears it, then reads a line into
//      it with `read_line`;
//   3. returns `Ok(())` when `read_line` gives `Ok(0)`: the client has gone;
//   4. otherwise writes the buffer back with `write_all` on the write half. The
//      buffer still ends with the client's `\n`, so send it as it is.
/// Placeholder for the per-connection handler; it does nothing yet.
pub fn handle_connection() {}
