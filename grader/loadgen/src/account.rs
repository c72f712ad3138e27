//! The bench's user: registered once, logged in for a session cookie, logged out to
//! time how fast a session's sockets go. The forms are the stage's contract (stage 10's
//! `POST /register`, `/login`, `/logout`), posted as a browser posts them.

use std::time::{Duration, Instant};

use crate::sio::show;
use crate::wire::Conn;

/// The bench's user, and a password that every stage's rules accept.
pub const USERNAME: &str = "bench";
const PASSWORD: &str = "a-long-benchmark-password";
/// Registration and login hash a password (argon2 is slow on purpose): give them time.
const FORM_TIMEOUT: Duration = Duration::from_secs(20);

/// A logged-in session: the `Cookie` header that carries it.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
}

/// Registers the bench's user (or logs in, if the name is taken) and returns the
/// session. The error says which request failed and what came back.
pub async fn register(port: u16) -> Result<Session, String> {
    let reply = post_form(port, "/register", None).await?;
    match reply.status {
        409 => log_in(port).await,
        200..=399 => session_of(reply, "POST /register"),
        status => Err(format!(
            "POST /register (username={USERNAME}) answered {status} {}: the bench needs the \
             stage's registration form working (hint `register-logs-in`).",
            show(&reply.body)
        )),
    }
}

/// Logs the bench's user in again, for a new session.
pub async fn log_in(port: u16) -> Result<Session, String> {
    let reply = post_form(port, "/login", None).await?;
    match reply.status {
        200..=399 => session_of(reply, "POST /login"),
        status => Err(format!(
            "POST /login (username={USERNAME}) answered {status} {}: the bench needs the \
             stage's login form working (hint `login-connects`).",
            show(&reply.body)
        )),
    }
}

/// Logs `session` out; returns how long the answer took.
pub async fn log_out(port: u16, session: &Session) -> Result<Duration, String> {
    let started = Instant::now();
    let reply = post_form(port, "/logout", Some(&session.cookie)).await?;
    match reply.status {
        200..=399 => Ok(started.elapsed()),
        status => Err(format!(
            "POST /logout answered {status} {}: the bench needs the stage's logout (hint \
             `logout-disconnects-session`).",
            show(&reply.body)
        )),
    }
}

async fn post_form(
    port: u16,
    path: &str,
    cookie: Option<&str>,
) -> Result<crate::wire::Response, String> {
    let body = format!("username={USERNAME}&password={PASSWORD}");
    let cookie = cookie.map(|c| format!("Cookie: {c}"));
    let mut headers = vec!["Content-Type: application/x-www-form-urlencoded"];
    headers.extend(cookie.as_deref());
    let exchange = async {
        let mut conn = Conn::open(port).await?;
        conn.request("POST", path, &headers, body.as_bytes())
            .await?;
        conn.response().await
    };
    match tokio::time::timeout(FORM_TIMEOUT, exchange).await {
        Ok(Ok(reply)) => Ok(reply),
        Ok(Err(e)) => Err(format!("POST {path} failed: {e}")),
        Err(_) => Err(format!(
            "POST {path} got no answer within {} s.",
            FORM_TIMEOUT.as_secs()
        )),
    }
}

/// The cookies a response set, as one `Cookie` header value.
fn session_of(reply: crate::wire::Response, what: &str) -> Result<Session, String> {
    let cookies: Vec<String> = reply
        .cookies
        .into_iter()
        .filter(|c| c.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect();
    if cookies.is_empty() {
        return Err(format!(
            "{what} answered {} and set no cookie: the bench needs a session cookie to \
             connect with.",
            reply.status
        ));
    }
    Ok(Session {
        cookie: cookies.join("; "),
    })
}
