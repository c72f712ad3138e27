//! Stage 07: sessions.
//!
//! Run it with `PORT=4000 cargo run -p sessions`, then open
//! <http://127.0.0.1:4000/> in a window and in a private window. When the stage is
//! done, each gets a name of its own, like `quiet-otter-42`, and keeps it when the
//! page is reloaded; `curl -si http://127.0.0.1:4000/me` shows the session cookie
//! and the name.
//!
//! The idea of the stage: HTTP forgets everything between two requests, so the
//! server gives each visitor a session. The session's data stays on the server, in
//! a store; the visitor's browser only holds its id, in a cookie, and sends it
//! back with every request. tower-sessions does the bookkeeping: a layer reads the
//! cookie, finds the session and hands it to the handlers as a `Session`, and sets
//! the cookie when a new session is first written to. The first visit to the page
//! gives the session a random display name; `GET /me` tells the page that name, and
//! the page connects to the chat with it.
//!
//! This is the starter: the stage 06 server. Follow the TODOs here and in
//! `Cargo.toml`, reading the chapter `07-sessions`. The Socket.IO handlers do not
//! change in this stage.

// TODO: import `std::env::VarError`, for `session_key` below.
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
// TODO: import what the HTTP side now needs: `axum::Json` and `axum::http::StatusCode`,
// `IntoResponse` and `Response` from `axum::response`, and `rand::Rng` (add `rand`
// to `Cargo.toml` first).
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Extension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tokio::net::TcpListener;
// TODO: add `tower-sessions` to `Cargo.toml`, then import from it:
//   - `tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, session}`;
//   - `tower_sessions::cookie::{Key, SameSite}` (tower-sessions re-exports the
//     `cookie` crate, with its `Key` for signing);
//   - `tower_sessions::cookie::time::Duration`, the `Duration` that `Expiry` takes
//     (from the `time` crate, not `std::time`).

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The longest name kept, in characters; longer ones are cut.
const MAX_NAME_CHARS: usize = 24;

// TODO: define the session's constants, each with a doc comment saying why:
//   - `const SESSION_COOKIE: &str = "chat.sid";`, the cookie's name. Browsers keep
//     cookies per host, not per port, so tower-sessions' default name, `id`, would
//     be shared with every other server on 127.0.0.1 that kept it;
//   - `const NAME_KEY: &str = "name";`, where the name is kept in the session;
//   - `const SESSION_LIFETIME: Duration = Duration::hours(12);`, how long a session
//     lives after it was last saved;
//   - `const SECRET_VAR: &str = "SESSION_SECRET";`, the environment variable that
//     holds the key for signing the cookies.

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
    // TODO: `let key = session_key()?;`, the key that signs the session cookies
    // (write `session_key` below).

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

    // TODO: build the session layer:
    //
    //     let sessions = SessionManagerLayer::new(MemoryStore::default())
    //         .with_name(SESSION_COOKIE)
    //         .with_secure(false)
    //         .with_same_site(SameSite::Lax)
    //         .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
    //         .with_signed(key);
    //
    // and say in a comment why each setting is there:
    //   - `Secure` cookies are sent back over https only, and this server speaks
    //     plain http: with the default, every request would be a new visitor;
    //   - `HttpOnly` is the default and stays (page scripts cannot read the cookie);
    //   - `SameSite`: the default, `Strict`, drops the cookie even when someone follows
    //     a link to the chat from another site; `Lax` sends it then, and still keeps
    //     it off other sites' forms, images and scripts;
    //   - `OnInactivity`: the session ends when it was not saved for that long, and
    //     the cookie gets the same `Max-Age`;
    //   - signed: the cookie carries an HMAC of the session id, so a cookie the server
    //     did not make, or one changed by a character, counts as no cookie at all.

    let app = Router::new()
        // Each file never changes, so the response itself can be the handler:
        // axum clones it for every request.
        // TODO: serve `/` with the `index` handler (below) instead, which also gives
        // the session a name, and add `.route("/me", get(me))`.
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
    // TODO: add `.layer(sessions)` to the router, after the Socket.IO layer. Each
    // `.layer` wraps everything added before it, so the last one is the outermost and
    // sees every request first: then every request, Socket.IO's included, carries the
    // visitor's `Session`. Stage 08 reads it in the Socket.IO handshake.

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

// TODO: write the two handlers. The `Session` extractor hands over the visitor's
// session (the session layer put it in the request):
//
//     /// `GET /`: the page, and a name in the visitor's session.
//     async fn index(session: Session) -> Result<Html<&'static str>, AppError>
//
//     /// `GET /me`: the visitor's display name, as `{"name": "quiet-otter-42"}`.
//     async fn me(session: Session) -> Result<Json<Me>, AppError>
//
// Both call `session_name(&session).await?`; `index` then returns
// `Html(chat_page::INDEX_HTML)`, `me` returns `Json(Me { name })`. A new session is
// not saved, and no cookie is sent, until something is written to it: that is why
// `index` gives the name too, so the answer to a first visit sets the cookie.

// TODO: write `async fn session_name(session: &Session) -> Result<String, session::Error>`:
// the name in `session.get::<String>(NAME_KEY).await?` if there is one; otherwise a
// `random_name()`, stored with `session.insert(NAME_KEY, &name).await?` and returned.

// TODO: write `fn random_name() -> String`, a name like `quiet-otter-42`: an adjective,
// an animal and a number from 10 to 99, joined by `-`. Keep two lists as consts at the
// end of the file, a few dozen short words each (32 adjectives, 32 animals and 90
// numbers make about 92,000 names, so two visitors rarely share one). Pick with
// `let mut rng = rand::rng();` and `rng.random_range(0..LIST.len())` as an index, and
// `rng.random_range(10..100)` for the number. Keep names under `MAX_NAME_CHARS`.

// TODO: write `fn session_key() -> Result<Key, String>`, from `std::env::var(SECRET_VAR)`:
//   - `Ok(secret)`: `Key::try_from(secret.as_bytes())`, which refuses fewer than 64
//     bytes; turn that error into a message that says so;
//   - `Err(VarError::NotPresent)`: print a note on stderr that the key is random, so
//     every session ends when the server stops, and return `Key::generate()`;
//   - `Err(VarError::NotUnicode(_))`: an error message.

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

// TODO: define `struct AppError(session::Error);`, what can go wrong in an HTTP
// handler, with `impl From<session::Error> for AppError` (so `?` converts) and
// `impl IntoResponse for AppError`: print the error on stderr and answer
// `(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response()`.
// The details stay in the server's log: they are nobody else's business.

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

// TODO: define `Me { name: String }`, the answer of `GET /me`, with
// `#[derive(Serialize)]`, and the two word lists for `random_name`, say
// `const ADJECTIVES: [&str; 32] = ["bold", "brave", ...];` and `ANIMALS` likewise.
