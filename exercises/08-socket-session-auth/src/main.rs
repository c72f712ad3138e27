//! Stage 08: the Socket.IO connection authenticated by the session.
//!
//! Run it with `PORT=4000 cargo run -p socket-session-auth`, then open
//! <http://127.0.0.1:4000/>. The page looks the same before and after this stage;
//! what changes is who may connect, and under which name. When the stage is done, a
//! client that never loaded the page, and so has no session cookie, is refused: its
//! `connect_error` says "no session: open the chat page first". And the name a
//! client sends in `auth` no longer counts: every socket chats under its session's
//! name.
//!
//! The idea of the stage: the Socket.IO handshake is an HTTP request like any other,
//! so the browser sends the session cookie with it, and the session layer finds the
//! visitor's session for it as for the page. The server takes the display name from
//! that session, from its own records, instead of believing the client.
//!
//! A server can refuse a client at two places: at the Engine.IO handshake, the first
//! HTTP request of the connection, with an HTTP `401 Unauthorized`; or at the
//! Socket.IO CONNECT, the packet with which the open connection asks to join the
//! namespace "/", with a CONNECT_ERROR and a message. This stage does the second,
//! with a connect middleware: the page then gets the reason in its `connect_error`
//! event, and the client does not keep retrying.
//!
//! This is the starter: the stage 07 server. Follow the numbered TODOs, reading the
//! chapter `08-socket-session-auth`. `Cargo.toml` does not change.

use std::env::VarError;
use std::error::Error;
// TODO: (1) import what the steps below use: `std::fmt`, for `AuthError`'s
// `Display`; `HttpExtension` from `socketioxide::extract`, the extractor that takes a
// value from the extensions of the HTTP request that opened the connection; and
// `socketioxide::handler::ConnectHandler`, the trait that gives a connect handler its
// `.with(middleware)` method (without it in scope, `.with(` does not compile).
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Extension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use tokio::net::TcpListener;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, session};

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The longest name kept, in characters; longer ones are cut.
const MAX_NAME_CHARS: usize = 24;

/// The session cookie's name. Browsers keep cookies per host, not per port, so every
/// server on 127.0.0.1 sees the cookies of all the others: tower-sessions' default
/// name, `id`, would be shared with any other program that kept it. A name of our
/// own avoids that, and stage 08 reads the same cookie on the Socket.IO side.
const SESSION_COOKIE: &str = "chat.sid";

/// Where the display name is kept in the session's data.
const NAME_KEY: &str = "name";

/// How long a session lives after it was last saved.
const SESSION_LIFETIME: Duration = Duration::hours(12);

/// The environment variable that holds the key for signing session cookies.
const SECRET_VAR: &str = "SESSION_SECRET";

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
    let key = session_key()?;

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
    // TODO: (2) put the connect middleware `authenticate` (step 3) in front of the
    // handler: `io.ns("/", on_connect.with(authenticate));`. For every CONNECT to
    // "/", socketioxide then runs `authenticate` first. When it returns `Ok`, the
    // socket joins and `on_connect` runs; when it returns `Err`, the client gets a
    // CONNECT_ERROR with the error's text, and `on_connect` never runs.

    // The session layer: a store for the sessions' data, and how the cookie that
    // names a session is made.
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_name(SESSION_COOKIE)
        // Browsers and HTTP clients send a `Secure` cookie back over https only, and
        // this server speaks plain http: with tower-sessions' default (`Secure` on),
        // the cookie would never come back, and every request would be a stranger.
        // Behind https, in production, keep it on.
        .with_secure(false)
        // `HttpOnly` is the default and stays: scripts on the page cannot read the
        // cookie, so a script injected into the page cannot steal the session.
        //
        // `SameSite` says when a browser sends the cookie with a request that another
        // site started. The default, `Strict`, never does, not even when someone
        // follows a link to the chat from elsewhere: they would arrive as a new
        // visitor with a new name. `Lax` sends it when the visitor goes to the page
        // (a top-level GET) and keeps it off other sites' forms, images and scripts.
        .with_same_site(SameSite::Lax)
        // `OnInactivity` ends a session that was not saved for `SESSION_LIFETIME`,
        // and gives the cookie the same `Max-Age`, so browser and server forget it
        // together. tower-sessions saves a session only when it changes, and this
        // server changes it once, when it gives the name: a name lasts 12 hours from
        // the first visit. (`with_always_save(true)` would count every request as
        // activity, at the price of a store write and a `Set-Cookie` on every
        // response, Socket.IO's polling requests included.)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
        // Signed: the cookie carries the session id and an HMAC of it made with
        // `key`. A cookie the server did not make, or one changed by a single
        // character, fails the check and counts as no cookie at all: the visitor gets
        // a fresh session. The id is not hidden (`with_private` would encrypt it), but
        // it is not a secret to its owner; it must only be impossible to forge.
        .with_signed(key);

    let app = Router::new()
        // The page's handler now does something besides returning the page: it
        // makes sure the visitor's session has a name (see `index`).
        .route("/", get(index))
        .route("/me", get(me))
        // The other files never change, so the response itself can be the handler:
        // axum clones it for every request.
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
        .layer(layer)
        // Each `.layer` wraps everything added before it, so the last one is the
        // outermost and sees every request first. The session layer goes last: every
        // request, Socket.IO's included, then carries the visitor's `Session`. This
        // stage reads it only in `index` and `me`, but stage 08 checks it in the
        // Socket.IO handshake, and with the two layers the other way round the
        // Socket.IO layer would answer its requests before any session was found.
        .layer(sessions);

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

/// `GET /`: the page, and a name in the visitor's session.
///
/// `Session` is an extractor: the session layer put the visitor's session in the
/// request, and axum hands it over. (Without the layer, the extractor fails and the
/// request gets a 500 that says so.)
async fn index(session: Session) -> Result<Html<&'static str>, AppError> {
    // A new session is not saved, and no cookie is sent, until something is written
    // to it. Giving it its name here, rather than only in `/me`, means the answer to
    // a first visit already sets the cookie, before the page's script even runs.
    session_name(&session).await?;
    Ok(Html(chat_page::INDEX_HTML))
}

/// `GET /me`: the visitor's display name, as `{"name": "quiet-otter-42"}`.
///
/// A client that never loaded the page (curl, a test) gets a session and a name
/// here too.
async fn me(session: Session) -> Result<Json<Me>, AppError> {
    let name = session_name(&session).await?;
    Ok(Json(Me { name }))
}

/// The session's display name, given a new random one when it has none.
///
/// The session is loaded from the store on the first `get`, and `insert` marks it
/// changed: the session layer then saves it once the handler is done, and (for a new
/// session) sets the cookie on the response. Both can fail: the store may be
/// unreachable (not this one, which is a map in memory, but stage 09's database), or
/// the stored value may not be a `String`.
async fn session_name(session: &Session) -> Result<String, session::Error> {
    if let Some(name) = session.get::<String>(NAME_KEY).await? {
        return Ok(name);
    }
    let name = random_name();
    session.insert(NAME_KEY, &name).await?;
    Ok(name)
}

/// A name like `quiet-otter-42`: an adjective, an animal and a number from 10 to 99.
///
/// 32 adjectives, 32 animals and 90 numbers make about 92,000 names, so two visitors
/// rarely share one; nothing stops it, though, and nothing needs to: a name is only
/// for people to read. What tells sessions apart is their id, which tower-sessions
/// draws from a cryptographic random source.
fn random_name() -> String {
    // `rand::rng()` is this thread's generator, seeded from the operating system.
    let mut rng = rand::rng();
    // `random_range(0..len)` is a valid index for each list, as neither is empty.
    let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
    let animal = ANIMALS[rng.random_range(0..ANIMALS.len())];
    let number: u8 = rng.random_range(10..100);
    format!("{adjective}-{animal}-{number}")
}

/// The key that signs session cookies: from `SESSION_SECRET` when it is set, or a
/// new random one.
fn session_key() -> Result<Key, String> {
    match std::env::var(SECRET_VAR) {
        // The key is 64 bytes; a longer secret is fine (only its first 64 bytes are
        // used), a shorter one is refused rather than padded into a weak key.
        Ok(secret) => Key::try_from(secret.as_bytes()).map_err(|_| {
            format!(
                "{SECRET_VAR} must be at least 64 bytes long, not {}; \
                 `openssl rand -base64 64` makes a good one",
                secret.len()
            )
        }),
        Err(VarError::NotPresent) => {
            // A cookie signed with one key does not pass the check of another, so
            // with a new key at every start, every cookie from an earlier run is
            // refused. With this stage's memory store the sessions are gone anyway;
            // with a store that outlives the server (stage 09), they would not be.
            eprintln!(
                "note: {SECRET_VAR} is not set, so session cookies are signed with a \
                 random key, and every session ends when the server stops"
            );
            Ok(Key::generate())
        }
        Err(VarError::NotUnicode(_)) => Err(format!("{SECRET_VAR} must be text")),
    }
}

// TODO: (3) write the connect middleware, before `on_connect`:
//
//     async fn authenticate(
//         socket: SocketRef,
//         HttpExtension(session): HttpExtension<Session>,
//     ) -> Result<(), AuthError>
//
// Its arguments are extractors, as a handler's are. `HttpExtension<Session>` takes the
// `Session` that the session layer put in the handshake request (the first polling
// request, or the WebSocket upgrade); socketioxide keeps that request's parts,
// `socket.req_parts()`, for the socket's whole life.
//   - `session.get::<String>(NAME_KEY).await` loads the session from the store. No
//     cookie, a forged or changed cookie, or the cookie of a session the store no
//     longer has (the server restarted, say): all give `Ok(None)`. Return
//     `Err(AuthError::NoSession)` then.
//   - On `Err(err)` the store failed: print `err` on stderr (the details are for the
//     server's log) and return `Err(AuthError::Store(err))`.
//   - With a name, insert `Name(name)` into `socket.extensions` (step 4 reads it
//     there) and return `Ok(())`.
// Why a middleware and not a check in `on_connect`: a handler cannot refuse; by the
// time it runs, the client is connected. And an extractor that fails skips a handler
// silently, while in a middleware it refuses the client: if the handshake carries no
// `Session` at all (the session layer is not outside the Socket.IO layer), everyone
// is refused, which is the safe way to fail.

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
    // TODO: (4) take the name `authenticate` stored instead of the `auth` payload:
    // replace the argument above with `Extension(Name(name)): Extension<Name>`, and
    // below, drop the lines that read `auth` and the `socket.extensions.insert(...)`
    // (the middleware did that). The page still sends a name in `auth`; nothing reads
    // it any more, so a client can no longer choose its name.
) {
    // `TryData`, not `Data`: `Data` fails when the payload does not fit `Auth`
    // (`{"name": 42}`, say), and then this handler would be skipped, leaving a
    // connected socket that nobody counted and that has no handlers. The client
    // would not be refused. `TryData` hands over the error instead, and a payload
    // that does not fit is treated like no name at all.
    //
    // The page sends the name its session got from `/me`, but this is still only
    // what the client says: the handshake's session is not looked at yet (stage 08).
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

// TODO: (5) once step 4 is done, nothing uses `display_name`, `MAX_NAME_CHARS`, the
// `Auth` struct, `TryData` and `Deserialize` any more: delete them (the compiler's
// warnings list them).

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

/// What can go wrong in an HTTP handler: here, only the session (its store, or a
/// stored value of the wrong type).
///
/// The visitor gets a plain 500, and the details go to the server's log: they say
/// how the server works inside, which is nobody else's business.
struct AppError(session::Error);

/// Lets `?` turn a session error into an `AppError` in the handlers.
impl From<session::Error> for AppError {
    fn from(err: session::Error) -> Self {
        AppError(err)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        eprintln!("session error: {}", self.0);
        // A 5xx answer also tells the session layer not to save the session.
        (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response()
    }
}

// TODO: (6) define why `authenticate` refuses a client:
//
//     #[derive(Debug)]
//     enum AuthError {
//         NoSession,
//         Store(session::Error),
//     }
//
// and `impl fmt::Display for AuthError`. socketioxide sends that text to the client in
// the CONNECT_ERROR packet, `44{"message":"…"}`, and the page shows it, so write it
// for the visitor: exactly `no session: open the chat page first` for `NoSession`,
// and for `Store` a sentence that says the session store failed, without the details.
// Then `impl Error for AuthError`, whose `source` returns the store's error for
// `Store` and `None` for `NoSession` (without it, nothing reads the error inside
// `Store`, and the compiler warns about it).

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

/// The answer of `GET /me`.
#[derive(Serialize)]
struct Me {
    name: String,
}

/// The first part of a random name. At most 7 letters each, so a whole name
/// (`curious-walrus-99`, 17 characters) stays well under `MAX_NAME_CHARS`.
const ADJECTIVES: [&str; 32] = [
    "bold", "brave", "bright", "calm", "cheery", "clever", "curious", "eager", "fancy", "fuzzy",
    "gentle", "happy", "humble", "jolly", "kind", "lively", "lucky", "mellow", "merry", "nimble",
    "plucky", "polite", "proud", "quick", "quiet", "silly", "sleepy", "sunny", "swift", "tidy",
    "witty", "zesty",
];

/// The second part of a random name. At most 6 letters each.
const ANIMALS: [&str; 32] = [
    "badger", "beaver", "bison", "camel", "crane", "dingo", "eagle", "ferret", "gecko", "heron",
    "ibis", "koala", "lemur", "llama", "lynx", "marmot", "moose", "newt", "ocelot", "otter",
    "panda", "puffin", "quokka", "raven", "seal", "sloth", "tapir", "tiger", "walrus", "wombat",
    "yak", "zebra",
];
