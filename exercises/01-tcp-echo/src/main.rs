//! The stage 01 server: `PORT=4000 cargo run -p tcp-echo`, then connect with any
//! line-based client (`nc 127.0.0.1 4000`) and type.
//!
//! This is the starter: it compiles and runs, but it does not listen yet. Follow
//! the TODOs here and in `src/lib.rs`, reading the chapter `01-tcp-echo`.

// TODO: tokio first. Add it to `Cargo.toml` (see the TODO there), then turn `main`
// into an async function run by tokio: put `#[tokio::main]` on it and make it
// `async fn main() -> Result<(), Box<dyn std::error::Error>>` (or keep an
// `ExitCode` and print errors yourself).

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

fn main() {
    // TODO: read the port from the `PORT` environment variable with
    // `std::env::var`, falling back to `DEFAULT_PORT` when it is not set. Parse it
    // as a `u16`; if it is not a number, stop with an error message that says so
    // (no `unwrap()`: a panic is not a message a person can act on).

    // TODO: bind a `tokio::net::TcpListener` to 127.0.0.1 and that port. `bind` is
    // async: `.await` it, and pass its error on with `?`.

    // TODO: print exactly one line, `listening on 127.0.0.1:PORT`, using the
    // address from the listener's `local_addr()`, then flush stdout
    // (`std::io::Write::flush`): stdout is a pipe under the grader, and an
    // unflushed line would only show up once the buffer fills.

    // TODO: hand the listener to `tcp_echo::run` with `tokio::signal::ctrl_c()` as
    // the shutdown future, and `.await` it.

    // Until then, say so instead of pretending to be a server.
    println!(
        "TODO: this server does not listen yet (default port {DEFAULT_PORT}) — \
         see exercises/01-tcp-echo/src/main.rs and the chapter 01-tcp-echo"
    );
}
