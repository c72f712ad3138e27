//! Stage 06: chat messages, with names.
//!
//! Run it with `PORT=4000 cargo run -p chat-messages`, then open
//! <http://127.0.0.1:4000/?name=ada> and <http://127.0.0.1:4000/?name=grace> side
//! by side. When the stage is done, a line written in one shows up in both, with
//! the writer's name, and each tab sees the other join and leave.
//!
//! The idea of the stage: a socket now has a name. The client sends it once, in the
//! `auth` payload of its CONNECT packet; the connect handler keeps it in the
//! socket's extensions, where the socket's later handlers find it. Every
//! `chat message` goes out to everyone, the sender too, with that name on it, and
//! people joining and leaving are announced with a `user` event that carries the
//! name, the new count and whether they came or went.
//!
//! This is the starter: the stage 05 server. Follow the TODOs here and in
//! `Cargo.toml`, reading the chapter `06-chat-messages`.

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
use socketioxide::extract::{SocketRef, State};
// TODO: import `serde::{Deserialize, Serialize}` (add serde to `Cargo.toml` first),
// and the extractors this stage uses: `AckSender`, `Data`, `Extension` and
// `TryData`, all from `socketioxide::extract`.
use socketioxide::socket::DisconnectReason;
use tokio::net::TcpListener;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

// TODO: define `const MAX_NAME_CHARS: usize = 24;`, the longest name kept.

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
/// The arguments are extractors, as in axum: socketioxide fills them in. `socket`
/// is the new connection, `io` a handle on the whole server, `State` the value
/// given to `with_state`. If a `State` of a type that was never registered is asked
/// for, socketioxide skips the handler without a word, so the type here must be
/// exactly `Users`.
// TODO: take the CONNECT packet's `auth` payload as a fourth argument,
// `TryData(auth): TryData<Auth>`. Not `Data<Auth>`: when the payload does not fit
// (`{"name": 42}`), `Data` fails and socketioxide skips this whole handler, leaving
// a connected socket that nobody counted. `TryData` gives you a `Result` instead.
async fn on_connect(socket: SocketRef, io: SocketIo, State(users): State<Users>) {
    // TODO: work out the socket's name with `display_name` (below), from
    // `auth.ok().and_then(|auth| auth.name)` and the socket's id
    // (`socket.id.to_string()`), and print `NAME connected` instead of this line.
    println!("a user connected");

    // TODO: keep the name with the socket for its later handlers:
    // `socket.extensions.insert(Name(name.clone()));`. Do it before registering
    // the handlers below, which read it back with the `Extension` extractor.

    // `fetch_add` adds one and returns the value from before, in one step that no
    // other thread can split: two people joining at the same moment get 1 and 2,
    // never 1 and 1. `SeqCst` is the strictest ordering and never wrong; a lone
    // counter like this one would also be fine with `Relaxed`.
    let count = users.online.fetch_add(1, Ordering::SeqCst) + 1;

    // Every socket counted in must be counted out, so the disconnect handler goes
    // on straight after the count, before the `await` below: a client that leaves
    // while the count is still being sent is counted out too.
    socket.on_disconnect(on_disconnect);

    // TODO: register the chat handler written below:
    // `socket.on("chat message", on_chat_message);`.

    // `io.emit` sends to every socket in the namespace, this new one included, so
    // the newcomer learns the count too. It only fails for sockets that could not
    // take the message (gone, or too far behind); everyone else still got it, so
    // note the failure and carry on.
    if let Err(err) = io.emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }

    // TODO: announce the newcomer to everyone, the newcomer included: emit `user`
    // through `io` with a `UserEvent { name, count, connected: true }`, and handle
    // the `Result` as above.
}

// TODO: write the chat handler:
//
//     async fn on_chat_message(
//         io: SocketIo,
//         Extension(Name(name)): Extension<Name>,
//         Data(message): Data<String>,
//         ack: AckSender,
//     )
//
// It sends a `ChatLine { name, message }` as `chat message` to everyone, the sender
// included (`io.emit`), then acknowledges the message with `ack.send(...)` (any
// payload, `"ok"` say; when the client asked for no acknowledgement, `send` does
// nothing). Handle both `Result`s without `unwrap()`.

/// Runs once when a socket leaves, whatever the reason.
// TODO: take the socket's name too: `Extension(Name(name)): Extension<Name>`.
async fn on_disconnect(socket: SocketRef, State(users): State<Users>, reason: DisconnectReason) {
    // TODO: print `NAME disconnected (REASON)` instead.
    println!("a user disconnected ({reason})");

    // `fetch_sub` returns the value from before, as `fetch_add` does. It cannot go
    // below zero here: only sockets that were counted in have this handler.
    let count = users.online.fetch_sub(1, Ordering::SeqCst) - 1;

    // The leaving socket is still in the namespace while this handler runs, but
    // nothing can be sent to it any more. `socket.broadcast()` means everyone
    // except this socket: exactly the people who are still here.
    if let Err(err) = socket.broadcast().emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }

    // TODO: announce that this user left: emit `user` with a
    // `UserEvent { name, count, connected: false }` through `socket.broadcast()`.
}

// TODO: write `fn display_name(requested: Option<&str>, socket_id: &str) -> String`:
// the requested name trimmed and cut to `MAX_NAME_CHARS` characters (`chars()`, not
// bytes: slicing in the middle of a UTF-8 character panics), or, when that leaves
// nothing, `guest-` and the first 4 characters of the socket's id.

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

// TODO: define the data types, each with a doc comment:
//   - `Auth`, what a client may send in `auth`: one field, `name: Option<String>`,
//     with `#[derive(Deserialize)]` (a missing name is then `None`);
//   - `Name(String)`, the name kept in the socket's extensions, `#[derive(Clone)]`
//     (extensions hand out clones);
//   - `UserEvent { name: String, count: usize, connected: bool }`, the payload of
//     `user`, and `ChatLine { name: String, message: String }`, the payload of
//     `chat message`, both `#[derive(Serialize)]`.
