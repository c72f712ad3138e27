//! Stage 12: hardening what the earlier stages built, against the attacks they leave
//! open.
//!
//! Run it with `cargo grade mongo` in one terminal (a MongoDB on 127.0.0.1:27017) and
//! `PORT=4000 cargo run -p hardening-solution` in another. It is the stage 11 server
//! (cookie sessions for the page, tokens for programs), with six defences added:
//!
//! | attack | defence | where |
//! |---|---|---|
//! | a foreign page opens a socket with the visitor's cookie (cross-site WebSocket hijacking) | Socket.IO requests whose `Origin` is not the site's own get `403` | `origin.rs`, `serve` |
//! | a script steals the cookie, or a foreign site sends it | the cookie is `HttpOnly`, `SameSite=Lax`, and `Secure` behind https (`COOKIE_SECURE=1`) | `serve` |
//! | a socket sends a packet of megabytes, for everyone to receive | packets over 16 KiB close the connection (WebSocket) or get `413` (polling) | `serve` |
//! | a chat line of a novel's length | `chat message` and `private message` over 1000 characters are refused in the ack | `on_chat_message` |
//! | a socket floods events | each socket has a budget of events (a token bucket); events beyond it are dropped | `throttle.rs`, `on_connect` |
//! | someone guesses passwords | five failed logins for a username lock it for five minutes: `429` with `Retry-After` | `throttle.rs`, `try_log_in` |
//!
//! And two that stage 10 already had: a new session id at login (`start_session`), and
//! the same answer for an unknown username and a wrong password (`Accounts::log_in`).
//!
//! Environment: `PORT`, `MONGO_URI`, `SESSION_SECRET`, `JWT_SECRET` as before, and
//! `ALLOWED_ORIGINS` (more origins that may open sockets, separated by commas, see
//! `origin.rs`) and `COOKIE_SECURE` (`1` when the site is served over https).
//!
//! The contract, beyond stage 11's:
//!
//! | request | answer |
//! |---|---|
//! | any request to `/socket.io/` with a foreign `Origin` | `403 Forbidden` |
//! | `POST /login`, `POST /auth/login` for a locked username | `429 Too Many Requests`, `Retry-After: <seconds>` |
//! | `chat message` or `private message` over 1000 characters | ack `{"ok": false, "error": "message too long (at most 1000 characters)"}`, not delivered |
//! | an event beyond the socket's budget | dropped; ack `{"ok": false, "error": "too many events; slow down"}` |
//!
//! What is simplified: the limits live in this process's memory (see `throttle.rs`),
//! as do the session cache (`cache.rs`) and the presence count (stage 10), so this
//! server is one process (stage 13 is two);
//! and nothing here replaces TLS, which is what keeps cookies and tokens secret on the
//! way.

mod accounts;
mod cache;
mod origin;
mod store;
mod throttle;
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
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, map_request};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use mongodb::bson::doc;
use mongodb::options::ClientOptions;
use serde::{Deserialize, Serialize};
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::{
    AckSender, Data, Extension, HttpExtension, MaybeExtension, SocketRef, State, TryData,
};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use tokio::net::{TcpListener, TcpSocket};
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::{Key, SameSite};
use tower_sessions::{Expiry, Session, SessionManagerLayer, session};

use accounts::{AccountError, Accounts, Registration, User};
use cache::Cached;
use origin::AllowedOrigins;
use store::MongoStore;
use throttle::{EventBudget, LoginThrottle};
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

/// The environment variable that says the site is served over https.
const COOKIE_SECURE_VAR: &str = "COOKIE_SECURE";

/// The one answer to a failed login, whichever part was wrong.
const WRONG_LOGIN: &str = "wrong username or password";
/// The answer to a login for a locked username, whichever password came with it.
const LOCKED_LOGIN: &str = "too many failed logins; try again later";

/// The largest Engine.IO packet accepted, in bytes, over either transport. A chat
/// line of `MAX_MESSAGE_CHARS` is at most 4 KiB of UTF-8, and its packet a little
/// more; nothing the page sends comes near 16 KiB.
const MAX_PACKET_BYTES: usize = 16 * 1024;
/// The longest `chat message` or `private message` text, in characters.
const MAX_MESSAGE_CHARS: usize = 1000;
/// Each socket's budget of events: a burst of this many...
const EVENT_BURST: u32 = 10;
/// ...then one more every this long (four a second).
const EVENT_REFILL: std::time::Duration = std::time::Duration::from_millis(250);
/// Failed logins for one username before it is locked...
const LOGIN_MAX_FAILURES: u32 = 5;
/// ...for what is left of this window, counted from the first failure.
const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

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
    let secure_cookies = secure_cookies()?;
    let tokens = Tokens::from_env()?;
    let db = connect_database().await?;
    let accounts = Accounts::new(&db).await?;
    // MongoDB keeps the sessions; a cache in memory answers most loads (`cache.rs` says
    // why that is correct for one process, and only for one).
    let store = Cached::new(MongoStore::new(&db).await?);

    // The sockets' handlers get the accounts (to find a user by id or name), the
    // tokens (the connect middleware checks them) and who is online (`Presence`),
    // each its own state type.
    //
    // The size limits: socketioxide's `max_payload` bounds the body of a polling POST
    // (a bigger one gets `413 Payload Too Large`), and nothing else. A WebSocket
    // message is bounded by `ws_max_message_size`, whose default is 64 MiB: without it,
    // one socket could send a 64 MiB chat message and the server would broadcast it to
    // everyone. A message over the limit closes that socket's connection.
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_PACKET_BYTES as u64)
        .ws_max_message_size(MAX_PACKET_BYTES)
        .ws_max_frame_size(MAX_PACKET_BYTES)
        .with_state(accounts.clone())
        .with_state(tokens.clone())
        .with_state(Presence::default())
        // Each WebSocket reads in chunks of this size into a buffer of its own, for as
        // long as it is open. Chat packets are a few hundred bytes; 1 KiB instead of
        // the default 4 KiB saves 3 KiB per socket (longer packets take more reads).
        .ws_read_buffer_size(1024)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));

    // The cookie's flags, each set here even where it is tower-sessions' default, so
    // that the choice is visible:
    // - `HttpOnly`: page scripts cannot read the cookie, so a script injected into the
    //   page (XSS) cannot send the session elsewhere.
    // - `SameSite=Lax`: the browser sends the cookie with requests started by another
    //   site only for top-level navigations (a link followed), never with a foreign
    //   page's fetch, form POST or WebSocket. `Strict` (tower-sessions' default) would
    //   also drop it when someone follows a link to the chat from elsewhere, who would
    //   then find themselves logged out.
    // - `Secure`: the cookie travels over https only. A browser drops a `Secure` cookie
    //   set over plain http (except on localhost), so it is on when the site is served
    //   over https, which `COOKIE_SECURE=1` says.
    let sessions = SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookies)
        .with_expiry(Expiry::OnInactivity(SESSION_LIFETIME))
        .with_signed(key);

    // The HTTP handlers need the accounts too, the tokens (the API hands them out), and
    // `io`: logging out disconnects the session's sockets.
    let app = App {
        accounts,
        tokens,
        io,
        logins: LoginThrottle::new(LOGIN_MAX_FAILURES, LOGIN_WINDOW),
    };

    // Bound before the routes are made: the allowed origins name the port really in
    // use (with `PORT=0` the system picks it).
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let listener = listen(addr).map_err(|err| format!("cannot listen on {addr}: {err}"))?;
    let origins = AllowedOrigins::from_env(listener.local_addr()?.port())?;

    let router = Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(log_in))
        .route("/register", post(register))
        .route("/logout", post(log_out))
        .route("/me", get(me))
        // The JSON API for programs: the same accounts, answered with a token.
        .route("/auth/register", post(api_register))
        .route("/auth/login", post(api_log_in))
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
        // Around the Socket.IO layer: a foreign page's request is refused before
        // socketioxide makes an Engine.IO session for it.
        .layer(middleware::from_fn_with_state(
            origins.clone(),
            origin::check_origin,
        ))
        // The Socket.IO handshake carries the `Session` too (stage 08).
        .layer(sessions)
        // Outermost, so that the cookie layer inside `sessions` reads the copies.
        .layer(map_request(own_handshake_head));

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
/// passwords. A username with too many failures is locked (see `try_log_in`).
async fn log_in(
    AxumState(app): AxumState<App>,
    session: Session,
    Form(form): Form<Credentials>,
) -> Result<Response, AppError> {
    match try_log_in(&app, &form).await? {
        Login::User(user) => {
            start_session(&session, &user).await?;
            Ok(Redirect::to("/").into_response())
        }
        Login::Wrong => Ok((StatusCode::UNAUTHORIZED, WRONG_LOGIN).into_response()),
        Login::Locked(wait) => Ok(locked(wait, LOCKED_LOGIN.into_response())),
    }
}

/// Checks a login against the throttle, then the password.
///
/// A locked username is answered before the password is looked at: a guess made while
/// locked is not checked, so it tells the guesser nothing, even when it is right. Every
/// username is counted, known or not, so that the lock comes at the same attempt for
/// both (a lock only for real accounts would say which ones exist).
async fn try_log_in(app: &App, form: &Credentials) -> Result<Login, AccountError> {
    if let Some(wait) = app.logins.locked(&form.username) {
        println!("refused a login for {:?}: locked", form.username);
        return Ok(Login::Locked(wait));
    }
    match app.accounts.log_in(&form.username, &form.password).await? {
        Some(user) => {
            app.logins.succeeded(&form.username);
            Ok(Login::User(user))
        }
        None => {
            app.logins.failed(&form.username);
            Ok(Login::Wrong)
        }
    }
}

/// `429 Too Many Requests` with `Retry-After`: how many seconds until the lock ends,
/// rounded up, so that a client that waits that long is let in.
fn locked(wait: std::time::Duration, body: Response) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, seconds.to_string())],
        body,
    )
        .into_response()
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

/// `POST /auth/register`: creates the account and answers a token for it, `201
/// Created` with `{"token": "eyJ…", "user": {"id": "…", "username": "…"}}`.
///
/// The same checks as the form's `/register`, with JSON in and JSON out: `Json`
/// reads a body sent as `application/json` (another content type gets a `415` from
/// axum, a body without both fields a `422`). No session is touched: the client keeps
/// the token itself, and sends it back in the Socket.IO handshake.
async fn api_register(
    AxumState(app): AxumState<App>,
    Json(form): Json<Credentials>,
) -> Result<Response, AppError> {
    if let Some(why) = accounts::refuse_registration(&form.username, &form.password) {
        return Ok(api_error(StatusCode::BAD_REQUEST, &why));
    }
    match app
        .accounts
        .register(&form.username, &form.password)
        .await?
    {
        Registration::Created(user) => {
            println!("{} registered for a token", user.username);
            let token = app.tokens.issue(&user)?;
            let body = Json(TokenAnswer { token, user });
            Ok((StatusCode::CREATED, body).into_response())
        }
        Registration::Taken => Ok(api_error(StatusCode::CONFLICT, "that username is taken")),
    }
}

/// `POST /auth/login`: checks the password and answers a token, `200 OK` with the same
/// body as `/auth/register`.
///
/// A wrong password and an unknown username get the same answer, word for word, and
/// take as long (`Accounts::log_in` checks a dummy hash for an unknown name), as the
/// form's `/login` does.
///
/// The same throttle as the form's: one count per username, whichever door the
/// guesses come through.
async fn api_log_in(
    AxumState(app): AxumState<App>,
    Json(form): Json<Credentials>,
) -> Result<Response, AppError> {
    match try_log_in(&app, &form).await? {
        Login::User(user) => {
            let token = app.tokens.issue(&user)?;
            Ok(Json(TokenAnswer { token, user }).into_response())
        }
        Login::Wrong => Ok(api_error(StatusCode::UNAUTHORIZED, WRONG_LOGIN)),
        Login::Locked(wait) => Ok(locked(
            wait,
            api_error(StatusCode::TOO_MANY_REQUESTS, LOCKED_LOGIN),
        )),
    }
}

/// An error of the JSON API: `status` with `{"error": "…"}`.
fn api_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

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

/// The connect middleware: a socket gets in with a good token, or else with the
/// session of a logged-in visitor; everyone else gets CONNECT_ERROR `Authentication
/// error`.
///
/// `TryData<Auth>` is the CONNECT packet's `auth` payload, read as an `Auth`. It is
/// `Err` when there is none, or when it is not an object (a client may send
/// anything): then there is no token. A token, when there is one, decides alone: a bad
/// token is refused even if the request also carries a good cookie, so a client
/// always learns that its token is wrong instead of being let in as someone else.
///
/// Every refusal is the same `AuthError`, with the same message: a client learns
/// nothing about which check failed (was the signature wrong? did the user exist?),
/// and socket.io-client users expect this text. The cause goes to the server's log.
async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Auth>,
    HttpExtension(session): HttpExtension<Session>,
    State(tokens): State<Tokens>,
    State(accounts): State<Accounts>,
) -> Result<(), AuthError> {
    let token = auth.ok().and_then(|auth| auth.token);
    let user = match token {
        Some(token) => user_of_token(&tokens, &accounts, &token).await?,
        None => {
            let user = logged_in_user(&session).await.map_err(|err| {
                eprintln!("refused a handshake: the session store failed: {err}");
                AuthError
            })?;
            let (Some(user), Some(id)) = (user, session.id()) else {
                println!("refused a handshake: no token, and no logged-in session");
                return Err(AuthError);
            };
            // Only sockets of a session join its room, which `log_out` empties.
            socket.extensions.insert(SessionId(id.to_string()));
            user
        }
    };
    socket.extensions.insert(user);
    Ok(())
}

/// The user a token names, if the token is good and the user still exists.
///
/// Why load the user, when the token already says who it is: the token was true when
/// it was made, up to an hour ago. Since then the account may have been deleted (or,
/// in a bigger application, banned, or renamed). The database says what is true now;
/// one lookup by `_id` per connection is cheap. And the name the socket goes by is
/// the one in `users`, not the one in the token.
async fn user_of_token(
    tokens: &Tokens,
    accounts: &Accounts,
    token: &str,
) -> Result<User, AuthError> {
    let claims = tokens.verify(token).map_err(|err| {
        println!("refused a handshake: {err}");
        AuthError
    })?;
    match accounts.find_by_id(&claims.sub).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => {
            println!("refused a handshake: the token's user no longer exists");
            Err(AuthError)
        }
        Err(err) => {
            eprintln!("refused a handshake: could not look the token's user up: {err}");
            Err(AuthError)
        }
    }
}

/// Runs for every socket that `authenticate` let in.
async fn on_connect(
    socket: SocketRef,
    io: SocketIo,
    State(presence): State<Presence>,
    Extension(user): Extension<User>,
    MaybeExtension(session_id): MaybeExtension<SessionId>,
) {
    println!("{} connected", user.username);
    // Rooms are the server's own groups of sockets, never seen by clients. A socket
    // leaves all of its rooms when it disconnects. A socket that came in with a token
    // has no session, so no session room: `MaybeExtension` is `None` for it (a plain
    // `Extension` would fail, and socketioxide would skip this handler).
    socket.join(user_room(&user.id));
    if let Some(SessionId(session_id)) = session_id {
        socket.join(session_room(&session_id));
    }

    // The socket's own budget of events, which every event handler draws on.
    socket
        .extensions
        .insert(EventBudget::new(EVENT_BURST, EVENT_REFILL));

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

/// `chat message`: to everyone, under the sender's username; unless the socket is
/// over its budget, or the message too long.
///
/// A refused message is answered in the ack, `{"ok": false, "error": "…"}`, so the
/// sender learns why (the chat page asks for an ack with every message). A client that
/// asked for none learns nothing, which is what a flood deserves.
async fn on_chat_message(
    io: SocketIo,
    Extension(user): Extension<User>,
    Extension(budget): Extension<EventBudget>,
    Data(message): Data<String>,
    ack: AckSender,
) {
    if let Err(why) = allowed(&budget, &message) {
        return refuse(ack, why);
    }
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
async fn on_whoami(
    Extension(user): Extension<User>,
    Extension(budget): Extension<EventBudget>,
    ack: AckSender,
) {
    if !budget.take() {
        return refuse(ack, TOO_FAST);
    }
    let _ = ack.send(&user);
}

/// Why an event was refused, in the ack.
const TOO_FAST: &str = "too many events; slow down";
const TOO_LONG: &str = "message too long (at most 1000 characters)";

/// Whether an event carrying `text` may go on: the socket has budget left, and the
/// text is not too long. A refused event costs a token too, or long messages would
/// be a free way to flood.
fn allowed(budget: &EventBudget, text: &str) -> Result<(), &'static str> {
    if !budget.take() {
        return Err(TOO_FAST);
    }
    // Characters, not bytes: the limit is the same for every alphabet. Counting stops
    // at the limit, so a long text costs no more to refuse than a short one.
    if text.chars().nth(MAX_MESSAGE_CHARS).is_some() {
        return Err(TOO_LONG);
    }
    Ok(())
}

/// Answers a refused event in its ack, if the client asked for one.
fn refuse(ack: AckSender, why: &str) {
    let _ = ack.send(&json!({ "ok": false, "error": why }));
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
    Extension(budget): Extension<EventBudget>,
    Data(message): Data<PrivateMessage>,
    ack: AckSender,
) {
    if let Err(why) = allowed(&budget, &message.text) {
        return refuse(ack, why);
    }
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
    Extension(budget): Extension<EventBudget>,
    Data(username): Data<String>,
    ack: AckSender,
) {
    if !budget.take() {
        return refuse(ack, TOO_FAST);
    }
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

/// Reads `COOKIE_SECURE`: whether the session cookie gets `Secure`. Off when unset,
/// for development over plain http.
fn secure_cookies() -> Result<bool, String> {
    match std::env::var(COOKIE_SECURE_VAR).as_deref() {
        Err(_) | Ok("" | "0" | "false") => Ok(false),
        Ok("1" | "true") => Ok(true),
        Ok(other) => Err(format!(
            "{COOKIE_SECURE_VAR} must be 1 (the site is served over https) or 0, not {other:?}"
        )),
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
    Token(jsonwebtoken::errors::Error),
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

impl From<jsonwebtoken::errors::Error> for AppError {
    fn from(err: jsonwebtoken::errors::Error) -> Self {
        AppError::Token(err)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Session(err) => eprintln!("session error: {err}"),
            AppError::Accounts(err) => eprintln!("accounts error: {err}"),
            AppError::Token(err) => eprintln!("token error: {err}"),
        }
        (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response()
    }
}

/// `authenticate`'s refusal. socketioxide sends its `Display` text to the client in
/// the CONNECT_ERROR packet: `44{"message":"Authentication error"}`, for every cause
/// (no token, a bad one, a user gone, no session, a store that failed).
#[derive(Debug)]
struct AuthError;

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authentication error")
    }
}

impl Error for AuthError {}

/// The state of HTTP handlers.
#[derive(Clone)]
struct App {
    accounts: Accounts,
    tokens: Tokens,
    io: SocketIo,
    /// Failed logins per username, for the form and the API alike.
    logins: LoginThrottle,
}

/// What a login attempt came to.
enum Login {
    User(User),
    /// A wrong password or an unknown username: the same, on purpose.
    Wrong,
    /// Too many failures for this username; locked for this long still.
    Locked(std::time::Duration),
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

/// The CONNECT packet's `auth` payload, as API clients send it: `{"token": "eyJ…"}`.
/// The chat page sends no token (it has its cookie), so the field is optional.
#[derive(Deserialize)]
struct Auth {
    token: Option<String>,
}

/// The answer of `/auth/register` and `/auth/login`.
#[derive(Serialize)]
struct TokenAnswer {
    token: String,
    user: User,
}

/// The form of `/login` and `/register`, and the JSON of `/auth/register` and
/// `/auth/login`.
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
