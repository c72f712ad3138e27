//! Stage 04: how many people are here? A shared counter and a first event.
//!
//! Run it with `PORT=4000 cargo run -p user-count`, then open
//! <http://127.0.0.1:4000> in two tabs. When the stage is done, the second tab makes
//! both say "2 online".
//!
//! The idea of the stage: handlers run once per connection, possibly at the same
//! time on different threads, so a number they all update lives in state shared by
//! every handler (socketioxide's `State`). Each new connection adds one and tells
//! everyone the new total with a `user count` event, emitted through `io`, which
//! reaches every socket in the namespace.
//!
//! This is the starter: the stage 03 server. Follow the TODOs, reading the chapter
//! `04-user-count`.

use std::error::Error;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

// TODO: import `std::sync::Arc` and `std::sync::atomic::{AtomicUsize, Ordering}`
// for the counter, and `socketioxide::extract::State` to reach it from a handler.

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::Html;
use axum::routing::get;
use socketioxide::SocketIo;
use tokio::net::TcpListener;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

#[tokio::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), Box<dyn Error>> {
    let port = port_from_env()?;

    // Two halves of one thing: `layer` goes into the router below and handles the
    // Socket.IO traffic; `io` is the handle the program keeps to talk to sockets.
    let (layer, io) = SocketIo::new_layer();
    // TODO: give socketioxide the shared state (the `Users` struct below) so every
    // handler can ask for it. Replace `SocketIo::new_layer()` with the builder:
    // `SocketIo::builder().with_state(Users::default()).build_layer()`.

    // Unlike Node's socket.io, socketioxide creates no namespace by itself: until
    // "/" is registered, a client's CONNECT to it is refused.
    io.ns("/", on_connect);

    let app = Router::new()
        // Each file never changes, so the response itself can be the handler:
        // axum clones it for every request.
        .route("/", get(Html(chat_page::INDEX_HTML)))
        .route(
            "/chat.js",
            get(([(CONTENT_TYPE, JAVASCRIPT)], chat_page::CHAT_JS)),
        )
        .route(
            "/socket.io.min.js",
            get(([(CONTENT_TYPE, JAVASCRIPT)], chat_page::SOCKET_IO_JS)),
        )
        .route(
            "/style.css",
            get(([(CONTENT_TYPE, "text/css")], chat_page::STYLE_CSS)),
        )
        // A layer wraps the routes above. This one answers the requests to
        // `/socket.io/` itself and passes every other request on to them.
        .layer(layer);

    // Loopback only: the course's servers are for the machine they run on.
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on {addr}: {err}"))?;

    // The one line that says the server is ready. `local_addr` gives the port
    // really bound (it differs from `PORT` when that is 0). Stdout may be a pipe
    // to another program, so flush rather than rely on buffering.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;

    // No graceful shutdown: Ctrl-C ends the process at once. A graceful one would
    // wait for every open connection to finish, and a WebSocket never does.
    axum::serve(listener, app).await?;
    Ok(())
}

/// Runs once for every client that connects to the default namespace "/".
// TODO: ask socketioxide for two extractors: `io: SocketIo` (a handle on the whole
// server) and `State(users): State<Users>` (the shared state). The type must be
// exactly the one given to `with_state`; any other and the handler is skipped.
async fn on_connect() {
    println!("a user connected");

    // TODO: count this user in: `users.online.fetch_add(1, Ordering::SeqCst)` adds
    // one and returns the value from before, in one step no other thread can split.
    // The new count is that value plus one.

    // TODO: send the new count to everyone, this new socket included:
    // `io.emit("user count", &count).await`. It returns a `Result`: an error means
    // some socket could not take the message while the others got it, so print the
    // error (`eprintln!`) and carry on; no `unwrap()`.
}

/// Reads `PORT`, with a message a person can act on when it is not a number.
fn port_from_env() -> Result<u16, String> {
    match std::env::var("PORT") {
        Err(_) => Ok(DEFAULT_PORT),
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("PORT must be a port number from 0 to 65535, not {text:?}")),
    }
}

// TODO: define the shared state, a struct that derives `Clone` and `Default`:
//
//     struct Users {
//         online: Arc<AtomicUsize>,
//     }
//
// socketioxide hands each handler its own clone of the state; the `Arc` makes all
// the clones share one counter. An atomic, because handlers run on several threads
// at once.
