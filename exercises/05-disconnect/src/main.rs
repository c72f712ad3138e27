//! Stage 05: counting people out when they leave.
//!
//! Run it with `PORT=4000 cargo run -p disconnect`, then open
//! <http://127.0.0.1:4000> in two tabs: both say "2 online". When the stage is done,
//! closing one makes the other go back to "1 online".
//!
//! The idea of the stage: each socket gets a disconnect handler when it connects.
//! socketioxide calls it once, however the socket goes: the client said goodbye,
//! the tab was closed, or the connection died and the pings went unanswered. The
//! handler takes one off the shared counter and tells the others the new total.
//!
//! This is the starter: the stage 04 server. Follow the TODOs, reading the chapter
//! `05-disconnect`.

use std::error::Error;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::Html;
use axum::routing::get;
use socketioxide::SocketIo;
use socketioxide::extract::State;
// TODO: import `socketioxide::extract::SocketRef` (the connected socket) and
// `socketioxide::socket::DisconnectReason` (why a socket left).
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
    // The builder hands `Users` to socketioxide, and every handler that asks for
    // `State<Users>` gets it. (The `state` feature of socketioxide, which the
    // workspace turns on, provides `with_state`.)
    let (layer, io) = SocketIo::builder()
        .with_state(Users::default())
        .build_layer();

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
///
/// The arguments are extractors, as in axum: socketioxide fills them in. `io` is a
/// handle on the whole server, `State` the value given to `with_state`. If a
/// `State` of a type that was never registered is asked for, socketioxide skips the
/// handler without a word, so the type here must be exactly `Users`.
// TODO: take the new socket too, as the first argument: `socket: SocketRef`.
async fn on_connect(io: SocketIo, State(users): State<Users>) {
    println!("a user connected");

    // `fetch_add` adds one and returns the value from before, in one step that no
    // other thread can split: two people joining at the same moment get 1 and 2,
    // never 1 and 1. `SeqCst` is the strictest ordering and never wrong; a lone
    // counter like this one would also be fine with `Relaxed`.
    let count = users.online.fetch_add(1, Ordering::SeqCst) + 1;

    // TODO: register the disconnect handler written below:
    // `socket.on_disconnect(on_disconnect);`. Do it here, straight after counting
    // and before the `await` below, so a client that leaves while the count is
    // being sent is still counted out.

    // `io.emit` sends to every socket in the namespace, this new one included, so
    // the newcomer learns the count too. It only fails for sockets that could not
    // take the message (gone, or too far behind); everyone else still got it, so
    // note the failure and carry on.
    if let Err(err) = io.emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }
}

// TODO: write the disconnect handler:
//
//     async fn on_disconnect(socket: SocketRef, State(users): State<Users>, reason: DisconnectReason)
//
// It prints that a user disconnected (with the `reason`, handy while testing), takes
// one off the counter with `fetch_sub(1, Ordering::SeqCst)` (which, like
// `fetch_add`, returns the value from before), and sends the new `user count` to
// everyone who is still here. The leaving socket cannot be written to any more:
// emit with `socket.broadcast().emit(...)`, which skips it, rather than `io.emit`.
// Handle the `Result` as in `on_connect`.

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

/// The state every handler shares: how many users are connected right now.
///
/// socketioxide gives each handler its own clone of the state, and the `Arc` makes
/// every clone share one counter (a counter copied into each handler would count
/// alone). A `static AtomicUsize` would work too, but state keeps the counter with
/// the server it belongs to: two servers in one process, in a test say, each count
/// their own users.
#[derive(Clone, Default)]
struct Users {
    online: Arc<AtomicUsize>,
}
