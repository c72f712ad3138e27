//! Stage 11: a token handshake for API clients, beside the cookie session.
//!
//! Run it with `cargo grade mongo` in one terminal (a MongoDB on 127.0.0.1:27017) and
//! `PORT=4000 cargo run -p jwt-handshake` in another. The chat page works as in stage
//! 10, on its session cookie; that does not change. What this stage adds is for
//! programs that are not browsers (an app, a bot, a script):
//!
//! - `POST /auth/register` and `POST /auth/login` take JSON,
//!   `{"username": "ada", "password": "…"}`, and answer a signed token (a JWT) with the
//!   user: `{"token": "eyJ…", "user": {"id": "…", "username": "ada"}}`;
//! - the program sends the token in the Socket.IO handshake's `auth` payload,
//!   `io(url, { auth: { token } })`, which arrives as `40{"token":"eyJ…"}`;
//! - the connect middleware verifies the token, loads the user it names from MongoDB,
//!   and lets the socket in as that user. No token: the session cookie decides, as in
//!   stage 10. Every refusal is CONNECT_ERROR `Authentication error`.
//!
//! This is the starter: the stage 10 server, and an empty `token.rs`. Follow the
//! numbered TODOs, in `Cargo.toml` (1), `token.rs` (2 to 5), this file (6 to 10) and
//! `accounts.rs` (11), reading the chapter `11-jwt-handshake`.

mod accounts;
mod cache;
mod store;
// TODO: (10) once the handlers and the middleware below use the tokens, delete this
// `allow`: the compiler then points at anything in `token.rs` still unused.
#[allow(dead_code)]
mod token;

use std::collections::HashMap;
use std::env::VarError;
use std::error::Error;
use std::fmt;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::extract::{OriginalUri, Request, State as AxumState};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::map_request;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use serde::{Deserialize, Serialize};
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, Extension, HttpExtension, SocketRef, State};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use tokio::net::{TcpListener, TcpSocket};
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, Session, SessionManagerLayer, session};

use accounts::{AccountError, Accounts, Registration, User};
use cache::Cached;
use store::MongoStore;
use token::Tokens;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;
/// How many connections the kernel may queue for `accept` (see `listen`).
const LISTEN_BACKLOG: u32 = 1024;
/// The database used when `MONGO_URI` is not set, and its name when the URI has none.
const DEFAULT_MONGO_URI: &str = "mongodb://127.0.0.1:27017/chat";
const DEFAULT_DATABASE: &str = "chat";
/// How long to wait for MongoDB at start before giving up with a message.
const MONGO_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
/// The session cookie's name, the same for the pages and the Socket.IO handshake.
const SESSION_COOKIE: &str = "chat.sid";
/// Where the logged-in user is kept in the session's data.
const USER_ID_KEY: &str = "user_id";
const USERNAME_KEY: &str = "username";
/// How long a session lives after it was last saved.
const SESSION_LIFETIME: Duration = Duration::hours(12);
/// The environment variable that holds the key for signing session cookies.
const SECRET_VAR: &str = "SESSION_SECRET";

/// The one answer to a failed login, whichever part was wrong.
const WRONG_LOGIN: &str = "wrong username or password";

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
    // TODO: (6) hand the tokens to the Socket.IO handlers (`.with_state(tokens.clone())`
    // below: the connect middleware checks tokens) and to the HTTP handlers (a
    // `tokens: Tokens` field in `App`: the API makes them).
    let _tokens = Tokens::from_env()?;
    let db = connect_database().await?;
    let accounts = Accounts::new(&db).await?;
    // MongoDB keeps the sessions; a cache in memory answers most loads (`cache.rs` says
    // why that is correct for one process, and only for one).
    let store = Cached::new(MongoStore::new(&db).await?);

    // The sockets' handlers get the accounts (to find a user by name) and who is
    // online, each its own state type.
    let (layer, io) = SocketIo::builder()
        .with_state(accounts.clone())
        .with_state(Presence::default())
        // Each WebSocket reads in chunks of this size into a buffer of its own, for as
        // long as it is open. Chat packets are a few hundred bytes; 1 KiB instead of
        // the default 4 KiB saves 3 KiB per socket (longer packets take more reads).
        .ws_read_buffer_size(1024)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));

    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        // Plain http in development; behind https, in production, keep `Secure` on.
        .with_secure(false)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
        .with_signed(key);

    // The HTTP handlers need the accounts too, and `io`: logging out disconnects the
    // session's sockets.
    let app = App { accounts, io };
    let router = Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(log_in))
        .route("/register", post(register))
        .route("/logout", post(log_out))
        .route("/me", get(me))
        // TODO: (7) the JSON API: `.route("/auth/register", post(api_register))` and
        // `.route("/auth/login", post(api_log_in))` (write them below `me`).
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
        .with_state(app)
        .layer(layer)
        // The Socket.IO handshake carries the `Session` too (stage 08).
        .layer(sessions)
        // Outermost, so that the cookie layer inside `sessions` reads the copies.
        .layer(map_request(own_handshake_head));

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = listen(addr).map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    axum::serve(listener, router).await?;
    Ok(())
}

/// A listener on `addr` with room for a crowd arriving at once.
///
/// The kernel finishes each TCP handshake by itself and queues the connection until the
/// server `accept`s it. `TcpListener::bind` asks for a queue of 128, like the standard
/// library; when it is full, the kernel drops new connections, and each of those clients
/// tries again only after a second. A chat where hundreds of people reconnect at once
/// (after a deploy, say) needs more: `TcpSocket` lets us ask for it. Linux caps the
/// number at `net.core.somaxconn` (4096 by default).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // As `bind` does: a restarted server may take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The database named in `MONGO_URI`, once it has answered a ping: a server that
/// cannot reach its database says so at once, rather than at the first login.
async fn connect_database() -> Result<mongodb::Database, String> {
    let uri = std::env::var("MONGO_URI").unwrap_or_else(|_| DEFAULT_MONGO_URI.to_string());
    let unreachable = |err: mongodb::error::Error| {
        format!(
            "no MongoDB answered at {uri} ({err}). Start one with `cargo grade mongo`, \
             or point MONGO_URI at yours"
        )
    };
    let mut options = ClientOptions::parse(&uri).await.map_err(unreachable)?;
    // The driver waits 30 s for a server by default; a missing one should not take
    // that long to report.
    options.server_selection_timeout.get_or_insert(MONGO_WAIT);
    let client = mongodb::Client::with_options(options).map_err(unreachable)?;
    let db = client
        .default_database()
        .unwrap_or_else(|| client.database(DEFAULT_DATABASE));
    db.run_command(doc! { "ping": 1 })
        .await
        .map_err(unreachable)?;
    Ok(db)
}

/// `GET /`: the chat for a logged-in visitor; everyone else is sent to log in.
///
/// `Redirect::to` answers `303 See Other`, which a browser follows with a GET.
async fn index(session: Session) -> Result<Response, AppError> {
    Ok(match logged_in_user(&session).await? {
        Some(_) => Html(chat_page::INDEX_HTML).into_response(),
        None => Redirect::to("/login").into_response(),
    })
}

/// `GET /login`: two forms, one to log in and one to register.
async fn login_page() -> Html<&'static str> {
    Html(chat_page::LOGIN_HTML)
}

/// `POST /register`: creates the account and logs the visitor in.
///
/// `Form` reads the `application/x-www-form-urlencoded` body the page's form sends;
/// a body without both fields gets a `422` from axum before this runs.
async fn register(
    AxumState(app): AxumState<App>,
    session: Session,
    Form(form): Form<Credentials>,
) -> Result<Response, AppError> {
    if let Some(why) = accounts::refuse_registration(&form.username, &form.password) {
        return Ok((StatusCode::BAD_REQUEST, why).into_response());
    }
    match app
        .accounts
        .register(&form.username, &form.password)
        .await?
    {
        Registration::Created(user) => {
            start_session(&session, &user).await?;
            println!("{} registered", user.username);
            Ok(Redirect::to("/").into_response())
        }
        Registration::Taken => Ok((StatusCode::CONFLICT, "that username is taken").into_response()),
    }
}

/// `POST /login`: checks the password and logs the visitor in.
///
/// A wrong password and an unknown username get the same status and the same words,
/// and take the same time (see `Accounts::log_in`): an answer that said which one was
/// wrong would let anyone find out who has an account, and then guess only their
/// passwords.
async fn log_in(
    AxumState(app): AxumState<App>,
    session: Session,
    Form(form): Form<Credentials>,
) -> Result<Response, AppError> {
    let Some(user) = app.accounts.log_in(&form.username, &form.password).await? else {
        return Ok((StatusCode::UNAUTHORIZED, WRONG_LOGIN).into_response());
    };
    start_session(&session, &user).await?;
    Ok(Redirect::to("/").into_response())
}

/// Writes `user` into the session, under a new session id.
///
/// `cycle_id` first: the visitor keeps their session's data but gets a new id, and the
/// old id is deleted from the store. Without it, someone who planted a session cookie
/// of their own in the victim's browser (session fixation) would find that session
/// logged in as the victim once they log in. The new id reaches the browser in this
/// response's `Set-Cookie`.
async fn start_session(session: &Session, user: &User) -> Result<(), session::Error> {
    session.cycle_id().await?;
    session.insert(USER_ID_KEY, &user.id).await?;
    session.insert(USERNAME_KEY, &user.username).await?;
    Ok(())
}

/// `POST /logout`: ends the session, and every socket opened with it.
///
/// The session's id must be read before `flush`, which forgets it; and only after the
/// session is loaded (`logged_in_user` does that), since until then `id()` is merely
/// what the cookie said. `flush` deletes the session from the store, and the session
/// layer answers with a `Set-Cookie` that removes the cookie. A socket does not read
/// its session again after the handshake, so the sockets are told separately: each
/// one joined the room `session:{id}` when it connected.
async fn log_out(AxumState(app): AxumState<App>, session: Session) -> Result<Redirect, AppError> {
    let user = logged_in_user(&session).await?;
    let id = session.id();
    session.flush().await?;
    if let (Some(user), Some(id)) = (user, id) {
        println!("{} logged out", user.username);
        // Sends each socket in the room a DISCONNECT and closes it; their disconnect
        // handlers run as for any other leaving socket.
        if let Err(err) = app.io.within(session_room(&id)).disconnect().await {
            eprintln!("could not disconnect the sockets of a session: {err}");
        }
    }
    Ok(Redirect::to("/login"))
}

/// `GET /me`: who is logged in, as `{"id", "username", "name"}`, or `401`.
///
/// `name` repeats `username` for the chat page, which shows `name` (from stage 07 on).
async fn me(session: Session) -> Result<Response, AppError> {
    Ok(match logged_in_user(&session).await? {
        Some(user) => Json(json!({
            "id": user.id,
            "username": user.username,
            "name": user.username,
        }))
        .into_response(),
        None => (StatusCode::UNAUTHORIZED, "not logged in").into_response(),
    })
}

// TODO: (7) write the two handlers of the JSON API, next to their form twins above:
//
//     async fn api_register(
//         AxumState(app): AxumState<App>,
//         Json(form): Json<Credentials>,
//     ) -> Result<Response, AppError>
//
// `Json` reads an `application/json` body. The same checks as `register`; then,
// instead of a session and a redirect, a token: `app.tokens.issue(&user)?`, answered
// `(StatusCode::CREATED, Json(TokenAnswer { token, user }))`, with `#[derive(Serialize)]
// struct TokenAnswer { token: String, user: User }`. Errors are JSON too:
// `(status, Json(json!({ "error": message })))`, `400` with the reason, `409` with
// `that username is taken`. `api_log_in` answers `200` with the same body, or `401`
// with `{"error": WRONG_LOGIN}`, the same for a wrong password and an unknown name.

/// Gives a Socket.IO request a head of its own, so that hyper's read buffer can go.
///
/// socketioxide keeps the handshake request's head (its URI and headers) for the whole
/// life of the socket: `socket.req_parts()`. hyper, to save copying, parses the URI and
/// header values as *slices* of the 16 KiB buffer it read the request into, and a slice
/// keeps its whole buffer alive (so does the cookie layer, which keeps the `Cookie`
/// header's value to parse it later). So each socket held 16 KiB for the few hundred
/// bytes of its head, half of everything it cost (a heap profile, `valgrind --tool=massif`,
/// showed it; `book/src/performance.md` tells the story). Copying the head into
/// allocations of its own costs a microsecond, once per request.
async fn own_handshake_head(mut req: Request) -> Request {
    if !req.uri().path().starts_with("/socket.io/") {
        return req;
    }
    let copied: HeaderMap = req
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
            Some((name, HeaderValue::from_bytes(value.as_bytes()).ok()?))
        })
        .collect();
    *req.headers_mut() = copied;
    let uri: Option<Uri> = req.uri().to_string().parse().ok();
    if let Some(uri) = uri {
        // axum's router keeps the URI as it came, too, for `OriginalUri`.
        if let Some(original) = req.extensions_mut().get_mut::<OriginalUri>() {
            original.0 = uri.clone();
        }
        *req.uri_mut() = uri;
    }
    req
}

/// The user the session belongs to, if the visitor logged in. Loads the session.
async fn logged_in_user(session: &Session) -> Result<Option<User>, session::Error> {
    let id = session.get::<String>(USER_ID_KEY).await?;
    let username = session.get::<String>(USERNAME_KEY).await?;
    Ok(id.zip(username).map(|(id, username)| User { id, username }))
}

// TODO: (8) let a socket in with a token, before the session is looked at:
//
// - take the CONNECT's `auth` payload with `TryData(auth): TryData<Auth>`, where
//   `#[derive(Deserialize)] struct Auth { token: Option<String> }` (import `TryData`);
//   `auth.ok().and_then(|auth| auth.token)` is the token, if there is one;
// - with a token: `tokens.verify(&token)` (take `State(tokens): State<Tokens>`), then
//   load the user named by the claims' `sub`, `accounts.find_by_id(&claims.sub)` (take
//   `State(accounts): State<Accounts>`; step 11 writes `find_by_id`): a good signature
//   only says who the user *was*, an hour ago at most. Refuse when either fails;
// - without a token: the session, as below; only then insert the `SessionId`;
// - every refusal returns the same error, whose `Display` is exactly
//   `Authentication error`: replace `AuthError`'s variants with one
//   (`struct AuthError;`), and print the cause on the server's side instead.

/// The connect middleware: only sockets of a logged-in session get in.
///
/// It keeps two things with the socket: the `User`, for the handlers, and the
/// session's id, for the room that `log_out` empties. The id is read after
/// `logged_in_user` loaded the session, so it is the id of a session that exists.
async fn authenticate(
    socket: SocketRef,
    HttpExtension(session): HttpExtension<Session>,
) -> Result<(), AuthError> {
    let user = logged_in_user(&session).await.map_err(|err| {
        eprintln!("session error in the Socket.IO handshake: {err}");
        AuthError::Store
    })?;
    let (Some(user), Some(id)) = (user, session.id()) else {
        return Err(AuthError::NotLoggedIn);
    };
    socket.extensions.insert(user);
    socket.extensions.insert(SessionId(id.to_string()));
    Ok(())
}

/// Runs for every socket that `authenticate` let in.
async fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    State(presence): State<Presence>,
    Extension(user): Extension<User>,
    // TODO: (9) a socket that came in with a token has no session: take the id with
    // `MaybeExtension(session_id): MaybeExtension<SessionId>` instead (an `Extension`
    // that is missing makes socketioxide skip this whole handler), and join the
    // session's room only when there is one.
    Extension(SessionId(session_id)): Extension<SessionId>,
) {
    println!("{} connected", user.username);
    // Rooms are the server's own groups of sockets, never seen by clients. A socket
    // leaves all of its rooms when it disconnects.
    socket.join([user_room(&user.id), session_room(&session_id)]);

    let (first, count) = presence.arrive(&user.id);
    socket.on_disconnect(on_disconnect);
    socket.on("chat message", on_chat_message);
    socket.on("whoami", on_whoami);
    socket.on("private message", on_private_message);
    socket.on("is online", on_is_online);

    let joined = UserEvent {
        name: user.username,
        count,
        connected: true,
    };
    // A person who just came online is news for everyone (this socket included); one
    // more tab of someone already here is news only for that tab.
    let sent = if first {
        match io.emit("user count", &count).await {
            Ok(()) => io.emit("user", &joined).await.map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        }
    } else {
        match socket.emit("user count", &count) {
            Ok(()) => socket.emit("user", &joined).map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        }
    };
    if let Err(err) = sent {
        eprintln!("could not announce {}: {err}", joined.name);
    }
}

/// `chat message`: to everyone, under the sender's username.
async fn on_chat_message(
    io: SocketIo,
    Extension(user): Extension<User>,
    Data(message): Data<String>,
    ack: AckSender,
) {
    let line = ChatLine {
        name: user.username,
        message,
    };
    if let Err(err) = io.emit("chat message", &line).await {
        eprintln!("could not send {}'s message to everyone: {err}", line.name);
    }
    let _ = ack.send("ok");
}

/// `whoami`: the socket's user, as the server knows it.
async fn on_whoami(Extension(user): Extension<User>, ack: AckSender) {
    let _ = ack.send(&user);
}

/// `private message`: to every socket of the recipient, and of the sender.
///
/// One emit to two rooms: a socket in both (a message to oneself) gets it once. The
/// sender's room is there for the sender's other tabs, which should show the
/// conversation too.
async fn on_private_message(
    io: SocketIo,
    State(accounts): State<Accounts>,
    Extension(user): Extension<User>,
    Data(message): Data<PrivateMessage>,
    ack: AckSender,
) {
    let answer = match accounts.find(&message.to).await {
        Ok(Some(recipient)) => {
            let sent = json!({ "from": user.username, "text": message.text });
            let rooms = [user_room(&recipient.id), user_room(&user.id)];
            if let Err(err) = io.to(rooms).emit("private message", &sent).await {
                eprintln!(
                    "could not deliver {}'s private message: {err}",
                    user.username
                );
            }
            json!({ "ok": true })
        }
        Ok(None) => json!({ "ok": false, "error": "no such user" }),
        Err(err) => {
            eprintln!("could not look up {:?}: {err}", message.to);
            json!({ "ok": false, "error": "the server failed; try again later" })
        }
    };
    let _ = ack.send(&answer);
}

/// `is online`: whether some socket of that user is connected, from the server's
/// rooms. `fetch_sockets` (rather than `sockets`) asks every server of a cluster,
/// which matters once there are several (stage 13).
async fn on_is_online(
    io: SocketIo,
    State(accounts): State<Accounts>,
    Data(username): Data<String>,
    ack: AckSender,
) {
    let online = match accounts.find(&username).await {
        Ok(Some(user)) => match io.within(user_room(&user.id)).fetch_sockets().await {
            Ok(sockets) => !sockets.is_empty(),
            Err(err) => {
                eprintln!("could not list {username}'s sockets: {err}");
                false
            }
        },
        Ok(None) => false,
        Err(err) => {
            eprintln!("could not look up {username:?}: {err}");
            false
        }
    };
    let _ = ack.send(&json!({ "username": username, "online": online }));
}

/// Runs once when a socket leaves, whatever the reason (a logout included).
async fn on_disconnect(
    socket: SocketRef,
    State(presence): State<Presence>,
    Extension(user): Extension<User>,
    reason: DisconnectReason,
) {
    println!("{} disconnected ({reason})", user.username);
    let (last, count) = presence.leave(&user.id);
    if !last {
        // They are still here, in another tab: nothing to tell anyone.
        return;
    }
    if let Err(err) = socket.broadcast().emit("user count", &count).await {
        eprintln!("could not send the user count to everyone: {err}");
    }
    let left = UserEvent {
        name: user.username,
        count,
        connected: false,
    };
    if let Err(err) = socket.broadcast().emit("user", &left).await {
        eprintln!("could not announce that {} left: {err}", left.name);
    }
}

/// The room of all of a user's sockets.
fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The room of the sockets opened with one session (one browser, all its tabs).
fn session_room(session_id: &impl fmt::Display) -> String {
    format!("session:{session_id}")
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

/// The key that signs session cookies: from `SESSION_SECRET`, or a new random one.
///
/// With sessions in MongoDB, a random key is a real loss: the sessions survive a
/// restart, but no cookie signed before it passes the new key's check.
fn session_key() -> Result<Key, String> {
    match std::env::var(SECRET_VAR) {
        Ok(secret) => Key::try_from(secret.as_bytes()).map_err(|_| {
            format!(
                "{SECRET_VAR} must be at least 64 bytes long, not {}; \
                 `openssl rand -base64 64` makes a good one",
                secret.len()
            )
        }),
        Err(VarError::NotPresent) => {
            eprintln!(
                "note: {SECRET_VAR} is not set, so session cookies are signed with a \
                 random key, and every visitor must log in again after a restart"
            );
            Ok(Key::generate())
        }
        Err(VarError::NotUnicode(_)) => Err(format!("{SECRET_VAR} must be text")),
    }
}

/// What can go wrong in an HTTP handler: the session store or the accounts. The
/// visitor gets a plain 500; the details go to the server's log.
enum AppError {
    Session(session::Error),
    Accounts(AccountError),
}

impl From<session::Error> for AppError {
    fn from(err: session::Error) -> Self {
        AppError::Session(err)
    }
}

impl From<AccountError> for AppError {
    fn from(err: AccountError) -> Self {
        AppError::Accounts(err)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Session(err) => eprintln!("session error: {err}"),
            AppError::Accounts(err) => eprintln!("accounts error: {err}"),
        }
        (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response()
    }
}

/// Why `authenticate` refused a client; the text goes to the client in CONNECT_ERROR.
#[derive(Debug)]
enum AuthError {
    /// No session, or a session without a user: log in first.
    NotLoggedIn,
    /// The session store failed; the details went to the server's log.
    Store,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NotLoggedIn => f.write_str("not logged in"),
            AuthError::Store => f.write_str("the session store failed; try again later"),
        }
    }
}

impl Error for AuthError {}

/// The state of HTTP handlers.
#[derive(Clone)]
struct App {
    accounts: Accounts,
    io: SocketIo,
}

/// Who is online: how many sockets each user has open, by user id. Shared by all
/// handlers; a `std` mutex, since it is held for a map operation and never across an
/// `.await`.
#[derive(Clone, Default)]
struct Presence(Arc<Mutex<HashMap<String, usize>>>);

impl Presence {
    /// Counts one more socket of `user_id`: whether it is their first, and how many
    /// people are online now.
    fn arrive(&self, user_id: &str) -> (bool, usize) {
        let mut sockets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mine = sockets.entry(user_id.to_string()).or_default();
        *mine += 1;
        (*mine == 1, sockets.len())
    }

    /// Counts one socket of `user_id` out: whether it was their last, and how many
    /// people are online now.
    fn leave(&self, user_id: &str) -> (bool, usize) {
        let mut sockets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let last = match sockets.get_mut(user_id) {
            Some(mine) if *mine > 1 => {
                *mine -= 1;
                false
            }
            Some(_) => {
                sockets.remove(user_id);
                true
            }
            None => false,
        };
        (last, sockets.len())
    }
}

/// The id of the session a socket was opened with, kept in its extensions.
#[derive(Clone)]
struct SessionId(String);

/// The form of `/login` and `/register`.
#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

/// The payload of `private message` as a client sends it.
#[derive(Deserialize)]
struct PrivateMessage {
    to: String,
    text: String,
}

/// The payload of `user`: who came or went, and how many people are online now.
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
