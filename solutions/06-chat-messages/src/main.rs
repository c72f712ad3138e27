//! Stage 06: chat messages, with names.
//!
//! Run it with `PORT=4000 cargo run -p chat-messages-solution`, then open
//! <http://127.0.0.1:4000/?name=ada> and <http://127.0.0.1:4000/?name=grace> side
//! by side, and write in one of them.
//!
//! The idea of the stage: a socket now has a name. The client sends it once, in the
//! `auth` payload of its CONNECT packet; the connect handler keeps it in the
//! socket's extensions, where the socket's later handlers find it. Every
//! `chat message` goes out to everyone, the sender too, with that name on it, and
//! people joining and leaving are announced with a `user` event that carries the
//! name, the new count and whether they came or went.
//!
//! What is simplified: a name is whatever the client claims, and two people can
//! claim the same one (stages 07 and 08 tie it to a session instead). Messages
//! have no length limit (stage 12).

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
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Extension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tokio::net::TcpListener;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The longest name kept, in characters; longer ones are cut.
const MAX_NAME_CHARS: usize = 24;

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
/// given to `with_state`, and `TryData` the CONNECT packet's `auth` payload. If an
/// extractor fails (a `State` of a type that was never registered, say),
/// socketioxide skips the handler without a word.
async fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    State(users): State<Users>,
    TryData(auth): TryData<Auth>,
) {
    // `TryData`, not `Data`: `Data` fails when the payload does not fit `Auth`
    // (`{"name": 42}`, say), and then this handler would be skipped, leaving a
    // connected socket that nobody counted and that has no handlers. The client
    // would not be refused. `TryData` hands over the error instead, and a payload
    // that does not fit is treated like no name at all.
    let requested = auth.ok().and_then(|auth| auth.name);
    let name = display_name(requested.as_deref(), &socket.id.to_string());
    println!("{name} connected");

    // Extensions keep values with the socket, one per type, for its later handlers
    // (which read them back with the `Extension` extractor). The `Name` type, rather
    // than a bare `String`, says what the value is and cannot clash with another
    // string. It goes in before the handlers below are registered, as they need it.
    socket.extensions.insert(Name(name.clone()));

    // `fetch_add` adds one and returns the value from before, in one step that no
    // other thread can split: two people joining at the same moment get 1 and 2,
    // never 1 and 1. `SeqCst` is the strictest ordering and never wrong; a lone
    // counter like this one would also be fine with `Relaxed`.
    let count = users.online.fetch_add(1, Ordering::SeqCst) + 1;

    // Every socket counted in must be counted out, so the disconnect handler goes
    // on straight after the count, before the `await` below: a client that leaves
    // while the count is still being sent is counted out too.
    socket.on_disconnect(on_disconnect);
    // From now on, every `chat message` this socket sends runs `on_chat_message`.
    socket.on("chat message", on_chat_message);

    // `io.emit` sends to every socket in the namespace, this new one included, so
    // the newcomer learns the count too. It only fails for sockets that could not
    // take the message (gone, or too far behind); everyone else still got it, so
    // note the failure and carry on.
    if let Err(err) = io.emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }
    let joined = UserEvent {
        name,
        count,
        connected: true,
    };
    if let Err(err) = io.emit("user", &joined).await {
        eprintln!("could not announce {} to everyone: {err}", joined.name);
    }
}

/// Runs for every `chat message` this socket sends.
///
/// `Data<String>` is the event's first argument; an event whose first argument is
/// not a string fails that extractor, and the event is ignored. `AckSender` answers
/// the client's acknowledgement callback, if it sent one.
async fn on_chat_message(
    io: SocketIo,
    Extension(Name(name)): Extension<Name>,
    Data(message): Data<String>,
    ack: AckSender,
) {
    let line = ChatLine { name, message };

    // To everyone, the sender included: the sender's page sees its line come back,
    // in the same order as everybody else sees it.
    if let Err(err) = io.emit("chat message", &line).await {
        eprintln!("could not send {}'s message to everyone: {err}", line.name);
    }

    // The acknowledgement says "the server has your message". Its payload does
    // not matter to the page; `send` does nothing when no callback was sent.
    if let Err(err) = ack.send("ok") {
        eprintln!("could not acknowledge {}'s message: {err}", line.name);
    }
}

/// Runs once when a socket leaves, whatever the reason.
async fn on_disconnect(
    socket: SocketRef,
    State(users): State<Users>,
    Extension(Name(name)): Extension<Name>,
    reason: DisconnectReason,
) {
    println!("{name} disconnected ({reason})");

    // `fetch_sub` returns the value from before, as `fetch_add` does. It cannot go
    // below zero here: only sockets that were counted in have this handler.
    let count = users.online.fetch_sub(1, Ordering::SeqCst) - 1;

    // The leaving socket is still in the namespace while this handler runs, but
    // nothing can be sent to it any more. `socket.broadcast()` means everyone
    // except this socket: exactly the people who are still here.
    if let Err(err) = socket.broadcast().emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }
    let left = UserEvent {
        name,
        count,
        connected: false,
    };
    if let Err(err) = socket.broadcast().emit("user", &left).await {
        eprintln!("could not announce that {} left: {err}", left.name);
    }
}

/// The name to show for a socket: the one it asked for, trimmed and cut to
/// `MAX_NAME_CHARS` characters, or `guest-` and the start of its id when that
/// leaves nothing.
fn display_name(requested: Option<&str>, socket_id: &str) -> String {
    // `chars`, not bytes: slicing a UTF-8 string in the middle of a character
    // would panic. `trim_end` then drops a space the cut may have left at the end.
    let cut: String = requested
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_NAME_CHARS)
        .collect();
    let name = cut.trim_end();
    if name.is_empty() {
        let short_id: String = socket_id.chars().take(4).collect();
        format!("guest-{short_id}")
    } else {
        name.to_owned()
    }
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

/// What a client may send in the CONNECT packet's `auth` payload, as
/// `io({ auth: { name: "ada" } })` does. Missing fields are `None`; fields this
/// server does not know are ignored.
#[derive(Deserialize)]
struct Auth {
    name: Option<String>,
}

/// A socket's display name, kept in its extensions.
#[derive(Clone)]
struct Name(String);

/// The payload of `user`: who joined or left, and how many are here now.
#[derive(Serialize)]
struct UserEvent {
    name: String,
    count: usize,
    connected: bool,
}

/// The payload of `chat message` as the server sends it: who said what.
#[derive(Serialize)]
struct ChatLine {
    name: String,
    message: String,
}
