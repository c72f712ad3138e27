//! Stage 10: accounts, log in, log out.
//!
//! Run it with `cargo grade mongo` in one terminal (a MongoDB on 127.0.0.1:27017) and
//! `PORT=4000 cargo run -p login-logout` in another, then open
//! <http://127.0.0.1:4000/>. When the stage is done, it sends you to `/login`, where
//! you register or log in, and then to the chat, under your username.
//!
//! The idea of the stage: a session now says *who* the visitor is. Registering or
//! logging in writes the user's id and name into the session; the Socket.IO
//! handshake carries the session cookie, so every socket knows its user. Each socket
//! joins the room `user:{id}` (emitting to it reaches all of the user's tabs) and the
//! room `session:{id}` (logging out disconnects the sockets of that session, and no
//! others). "Is this user online?" is answered from the rooms, on the server.
//!
//! This is the starter: the stage 09 server, whose sessions are already in MongoDB
//! (`store.rs` does not change). Follow the numbered TODOs, reading the chapter
//! `10-login-logout`; the exact routes, events and payloads are listed there. Step 1
//! is in `Cargo.toml`, step 2 in `accounts.rs`, the others in this file.

use std::env::VarError;
use std::error::Error;
use std::fmt;
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
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Extension, HttpExtension, SocketRef, State};
// The trait that gives connect handlers their `.with(middleware)` method: without it
// in scope, `on_connect.with(authenticate)` does not compile.
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use tokio::net::TcpListener;
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, Session, SessionManagerLayer, session};

// TODO: (3) declare the module of step 2 (`mod accounts;`) and import what this file
// uses from it; `Redirect`, `post` and `Form` from axum; `Deserialize` from serde.

mod store;
use store::MongoStore;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// The session cookie's name. Browsers keep cookies per host, not per port, so every
/// server on 127.0.0.1 sees the cookies of all the others: tower-sessions' default
/// name, `id`, would be shared with any other program that kept it. A name of our
/// own avoids that. The Socket.IO handshake carries the same cookie as the page's
/// requests, so the socket finds the same session, and the same name.
const SESSION_COOKIE: &str = "chat.sid";

/// Where the display name is kept in the session's data.
const NAME_KEY: &str = "name";

/// How long a session lives after it was last saved.
const SESSION_LIFETIME: Duration = Duration::hours(12);

/// The environment variable that holds the key for signing session cookies.
const SECRET_VAR: &str = "SESSION_SECRET";

/// Where the database is: `MONGO_URI`, else a MongoDB on this machine's default port.
/// The database is the one named in the address's path (`/chat` here).
const MONGO_VAR: &str = "MONGO_URI";
const DEFAULT_MONGO_URI: &str = "mongodb://127.0.0.1:27017/chat";

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
    let db = connect_database().await?;
    // The TTL index is made here, once per start; see `MongoStore::new`.
    let store = MongoStore::new(&db)
        .await
        .map_err(|err| format!("cannot prepare the sessions collection: {err}"))?;

    // Two halves of one thing: `layer` goes into the router below and handles the
    // Socket.IO traffic; `io` is the handle the program keeps to talk to sockets.
    // The builder hands `Users` to socketioxide, and every handler that asks for
    // `State<Users>` gets it. (The `state` feature of socketioxide, which the
    // workspace turns on, provides `with_state`.)
    let (layer, io) = SocketIo::builder()
        .with_state(Users::default())
        .build_layer();

    // TODO: (4) open the accounts (`Accounts::new(&db).await?`, after `connect_database`)
    // and give the sockets a clone: `.with_state(accounts.clone())` on the builder above.
    // The HTTP handlers need the accounts and `io` (logout disconnects sockets): put
    // both in a `#[derive(Clone)] struct App { accounts, io }` and give it to the
    // router with `.with_state(app)` after the routes. Add the routes
    // `.route("/login", get(login_page).post(log_in))`, `.route("/register",
    // post(register))` and `.route("/logout", post(log_out))`.

    // Unlike Node's socket.io, socketioxide creates no namespace by itself: until
    // "/" is registered, a client's CONNECT to it is refused.
    //
    // `on_connect.with(authenticate)` is the connect handler with a middleware in
    // front of it. For every CONNECT to "/", socketioxide runs `authenticate` first:
    // when it returns `Ok`, the socket joins the namespace and `on_connect` runs; when
    // it returns `Err`, the client gets a CONNECT_ERROR with the error's text, and the
    // socket never joins: it is not counted, not announced, and has no handlers.
    io.ns("/", on_connect.with(authenticate));

    // The session layer: a store for the sessions' data, and how the cookie that
    // names a session is made. Only the store differs from stage 08.
    let sessions = SessionManagerLayer::new(store)
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
        // outermost and sees every request first. The session layer must go last,
        // around the Socket.IO layer: the Socket.IO handshake then carries the
        // visitor's `Session` like any other request, and `authenticate` finds it
        // there. With the two layers the other way round, the Socket.IO layer would
        // answer its requests before any session was found, and `authenticate` would
        // refuse everyone (see there).
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

// TODO: (5) the HTTP side of accounts. The session keeps the logged-in user under
// `user_id` (the user's `_id` as hex) and `username`; write a helper
// `async fn logged_in_user(session: &Session) -> Result<Option<User>, session::Error>`
// that reads both (it loads the session). Then:
//   - `index`: the chat page when logged in, else `Redirect::to("/login")` (303).
//   - `login_page`: `Html(chat_page::LOGIN_HTML)`.
//   - `register(State<App>, Session, Form<Credentials>)`: refuse a bad username or a
//     short password with 400; create the user (409 "that username is taken" when the
//     unique index refuses it); then log in (below) and `Redirect::to("/")`.
//   - `log_in`: the same form; a wrong password and an unknown username both get
//     `(StatusCode::UNAUTHORIZED, "wrong username or password")`, word for word.
//   - logging in, in both: `session.cycle_id().await?` FIRST (a new session id, so a
//     cookie planted before the login is worth nothing), then insert `user_id` and
//     `username`.
//   - `log_out`: read the user (which loads the session), note `session.id()`, then
//     `session.flush().await?` (deletes it from the store), then
//     `io.within(format!("session:{id}")).disconnect().await`, and
//     `Redirect::to("/login")`.
//   - `me`: `{"id", "username"}` as JSON when logged in (add `"name"` too: the chat
//     page shows it), else 401.
// Then the random names go: delete `session_name`, `random_name`, `NAME_KEY`, `Me`,
// `ADJECTIVES` and `ANIMALS` (and `rand` from Cargo.toml).

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
/// unreachable (the database is down), or the stored value may not be a `String`.
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

/// The database named in `MONGO_URI`, once it has answered a ping.
///
/// `Client::with_uri_str` only parses the address: the driver connects lazily, on the
/// first operation. Pinging here makes a missing database an error at start, with a
/// message that says what to do, rather than a 500 on the first visit. The driver
/// waits up to 30 s for a server by default; 5 s is plenty on one machine.
async fn connect_database() -> Result<mongodb::Database, String> {
    use mongodb::bson::doc;
    use mongodb::options::ClientOptions;

    let uri = std::env::var(MONGO_VAR).unwrap_or_else(|_| DEFAULT_MONGO_URI.to_string());
    let mut options = ClientOptions::parse(&uri)
        .await
        .map_err(|err| format!("{MONGO_VAR}={uri} is not a MongoDB address: {err}"))?;
    options.server_selection_timeout = Some(std::time::Duration::from_secs(5));
    let client = mongodb::Client::with_options(options)
        .map_err(|err| format!("cannot use {MONGO_VAR}={uri}: {err}"))?;
    // The database named in the address; a bare `mongodb://host:port` names none.
    let db = client
        .default_database()
        .unwrap_or_else(|| client.database("chat"));
    db.run_command(doc! { "ping": 1 }).await.map_err(|err| {
        format!(
            "no MongoDB answered at {uri} ({err}); start one with `cargo grade mongo`, \
             or set {MONGO_VAR} to the address of yours"
        )
    })?;
    Ok(db)
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
            // refused: the sessions are still in the database, but nobody can name
            // them any more. A restart keeps sessions only with a fixed secret.
            eprintln!(
                "note: {SECRET_VAR} is not set, so session cookies are signed with a \
                 random key, and no session outlives this run of the server"
            );
            Ok(Key::generate())
        }
        Err(VarError::NotUnicode(_)) => Err(format!("{SECRET_VAR} must be text")),
    }
}

/// The connect middleware: lets a client join "/" only when its handshake carried
/// the cookie of a session that has a name, and keeps that name with the socket.
///
/// Its arguments are extractors, as a handler's are. `HttpExtension<Session>` takes
/// the `Session` that the session layer put in the extensions of the HTTP request
/// that opened the connection: the first polling request, or the WebSocket upgrade.
/// socketioxide keeps that request's parts (`socket.req_parts()`) for the socket's
/// whole life; the requests that follow (more polling, the upgrade from polling to
/// WebSocket) are not looked at, and need not carry the cookie.
///
/// When that request went past no session layer, there is no `Session` to take. A
/// failing extractor skips a connect *handler* without a word (the socket would stay
/// connected, with no handlers), but in a *middleware* it refuses the client, with
/// the extractor's own message (`Extension of type …Session not found, …`). So a
/// server whose layers are in the wrong order refuses everyone: it fails closed,
/// which is the safe way to fail.
///
/// The middleware runs before the socket joins the namespace, so it cannot send the
/// client anything itself: socketioxide sends the CONNECT_ERROR when it returns `Err`.
// TODO: (6) let only logged-in sessions in: read the user with `logged_in_user`,
// refuse with a new `AuthError::NotLoggedIn` whose text is `not logged in`, and keep
// the `User` and the session's id (`session.id()`, read after the session is loaded)
// in `socket.extensions`, in place of the `Name`.
async fn authenticate(
    socket: SocketRef,
    HttpExtension(session): HttpExtension<Session>,
) -> Result<(), AuthError> {
    // `get` loads the session from the store the first time it is called. No cookie,
    // a cookie whose signature does not check out (made up, or changed by a
    // character), a cookie of a session that the store no longer has (it expired, or
    // the server restarted and its memory is empty): all of these give a session with
    // no data, so `None`. The store is what counts. A good signature only proves that
    // this server made the cookie once, not that the session still exists.
    let stored = match session.get::<String>(NAME_KEY).await {
        Ok(stored) => stored,
        Err(err) => {
            // The client is told only that the store failed; the details are for the
            // server's log, as in `AppError`.
            eprintln!("session error in the Socket.IO handshake: {err}");
            return Err(AuthError::Store(err));
        }
    };
    let Some(name) = stored else {
        return Err(AuthError::NoSession);
    };

    // Extensions keep values with the socket, one per type, for its handlers (which
    // read them back with the `Extension` extractor). The `Name` type, rather than a
    // bare `String`, says what the value is and cannot clash with another string.
    // The middleware puts it in, before `on_connect` runs: every socket that gets
    // through has its name.
    socket.extensions.insert(Name(name));
    Ok(())
}

/// Runs once for every client that connects to the default namespace "/", after
/// `authenticate` let it in.
///
/// The arguments are extractors, as in axum: socketioxide fills them in. `socket`
/// is the new connection, `io` a handle on the whole server, `State` the value
/// given to `with_state`, and `Extension` a value from the socket's extensions. If an
/// extractor fails (a `State` of a type that was never registered, say),
/// socketioxide skips the handler without a word; `Extension<Name>` cannot fail here,
/// as `authenticate` put the name in before.
///
/// The page still sends its name in the CONNECT packet's `auth` payload, as in stage
/// 07, but nothing reads it any more: a client can claim any name there, and only the
/// session's counts.
// TODO: (7) take `Extension<User>` and the session id instead of the `Name`; join the
// rooms `user:{user id}` and `session:{session id}` (`socket.join([..])`); announce
// the username (the solution announces people, not tabs: see the chapter, "Announcing
// people, not tabs"; the hints take either). Add three events:
//   - `whoami` (ack): `ack.send(&user)`, the `{"id", "username"}` of the socket.
//   - `private message` `{"to", "text"}` (ack): find the recipient by username; emit
//     `{"from": <sender's username>, "text"}` with `io.to([recipient's room, sender's
//     room]).emit("private message", …)`; ack `{"ok": true}`, or `{"ok": false,
//     "error": "no such user"}`.
//   - `is online` (ack), a username: `{"username", "online"}`, online when the user's
//     room has a socket: `io.within(room).fetch_sockets().await`.
// `chat message` and `on_disconnect` take the `User` too.
async fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    State(users): State<Users>,
    Extension(Name(name)): Extension<Name>,
) {
    println!("{name} connected");

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

/// Why `authenticate` refused a client.
///
/// socketioxide sends the error's `Display` text to the client, in the CONNECT_ERROR
/// packet (`44{"message":"…"}`), and the page shows it: the text is for the visitor,
/// and says what to do.
#[derive(Debug)]
enum AuthError {
    /// The handshake carried no session with a name: no cookie, a cookie this server
    /// did not make, or the cookie of a session that has ended. One message for all
    /// of them, on purpose: the visitor's remedy is the same (load the page, which
    /// gives a new session), and someone trying cookies learns nothing about which
    /// ones came close.
    NoSession,
    /// The session store failed. The details went to the server's log.
    Store(session::Error),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NoSession => f.write_str("no session: open the chat page first"),
            AuthError::Store(_) => f.write_str("the session store failed; try again later"),
        }
    }
}

/// socketioxide only needs `Display`, but making `AuthError` a real error lets code
/// that gets one reach the store's error behind it, with `source`.
impl Error for AuthError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            AuthError::NoSession => None,
            AuthError::Store(err) => Some(err),
        }
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
/// (`curious-walrus-99`, 17 characters) stays short.
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
