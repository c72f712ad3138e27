//! Which web pages may open a socket: the check of the `Origin` header.
//!
//! A browser sends cookies with every request to the site that set them, whoever made
//! the page the request comes from. So a page on `https://evil.example` that runs
//! `io("https://chat.example")` opens a socket *with the visitor's session cookie*, and
//! is let in as them: it reads their private messages and talks in their name. This is
//! cross-site WebSocket hijacking (CSWSH). Plain HTTP has the same-origin policy and
//! CORS to stop a foreign page from reading answers; a WebSocket has neither, and the
//! polling transport's POSTs are "simple" requests that a foreign page may send without
//! asking first.
//!
//! What the browser does give the server is the `Origin` header: on a WebSocket
//! handshake always, on a cross-origin XHR or fetch always, on a POST always. A page
//! cannot change it. So the server refuses every Socket.IO request whose `Origin` is
//! not one of its own, with `403 Forbidden`, before socketioxide sees it.
//!
//! A request without `Origin` is let through: it comes from a program that is not a
//! browser (curl, a bot, socket.io-client in Node), which has no victim's cookies to
//! abuse, or from the chat page's own same-origin polling GETs, which browsers send
//! without `Origin`. Refusing those would refuse the page itself.
//!
//! The server's own origins: this server listens on `127.0.0.1:PORT` (see `main.rs`), so
//! a page it served was loaded from `http://127.0.0.1:PORT` or `http://localhost:PORT`.
//! Behind a proxy, or on a public name, the site's address is something the server
//! cannot work out for itself (the `Host` header is the client's to choose), so it is
//! configured: `ALLOWED_ORIGINS=https://chat.example,https://www.chat.example`. An
//! origin is compared whole (scheme, host and port), never by prefix: `http://127.0.0.1:
//! 3000.evil.example` starts with `http://127.0.0.1:3000`, and is someone else's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::ORIGIN;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The environment variable with more origins, separated by commas.
const ORIGINS_VAR: &str = "ALLOWED_ORIGINS";
/// The body of the refusal.
const FOREIGN_ORIGIN: &str = "this origin may not open a socket here";
/// Where socketioxide answers (its default `req_path`).
const SOCKET_IO_PATH: &str = "/socket.io";

/// The origins whose pages may open a socket.
#[derive(Clone, Debug)]
pub struct AllowedOrigins(Arc<Vec<String>>);

impl AllowedOrigins {
    /// The server's own origins on `port`, and those listed in `ALLOWED_ORIGINS`.
    pub fn from_env(port: u16) -> Result<AllowedOrigins, String> {
        let mut origins = vec![
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
        ];
        if let Ok(list) = std::env::var(ORIGINS_VAR) {
            for origin in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                origins.push(parse_origin(origin)?);
            }
        }
        Ok(AllowedOrigins(Arc::new(origins)))
    }

    /// Whether a page from `origin` may open a socket. Scheme and host are compared
    /// without regard to case, as browsers send them in lower case anyway.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|own| own.eq_ignore_ascii_case(origin))
    }
}

/// An origin as browsers write it: `scheme://host` or `scheme://host:port`, no path,
/// no trailing slash (which would never match).
fn parse_origin(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains('/') => Ok(text.to_ascii_lowercase()),
        _ => Err(format!(
            "{ORIGINS_VAR} lists {text:?}, which is not an origin: write it as a browser \
             sends it, `https://chat.example` or `http://localhost:3000`, without a path"
        )),
    }
}

/// Middleware: refuses with `403 Forbidden` every request to the Socket.IO path whose
/// `Origin` is not one of the server's own. The handshake (polling or WebSocket), the
/// polls, the POSTs and the upgrade are all checked, so a foreign page gets nowhere.
pub async fn check_origin(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    // The paths socketioxide answers: `/socket.io`, and everything under `/socket.io/`
    // (not `/socket.io.min.js`, the script the page loads).
    let socket_io = path == SOCKET_IO_PATH
        || path
            .strip_prefix(SOCKET_IO_PATH)
            .is_some_and(|rest| rest.starts_with('/'));
    if socket_io && let Some(origin) = request.headers().get(ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| allowed.allows(o));
        if !allowed {
            println!("refused a Socket.IO request from the origin {origin:?}");
            return (StatusCode::FORBIDDEN, FOREIGN_ORIGIN).into_response();
        }
    }
    next.run(request).await
}
