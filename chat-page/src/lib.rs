//! The chat page that every Socket.IO stage serves.
//!
//! The course is about the server, so the browser side is written once, here, and
//! each stage from `03-socketio-setup` on serves this same copy.
//!
//! Why a stage has to serve a script at all: in Node, the `socket.io` package serves
//! its browser client for you at `/socket.io/socket.io.js`. socketioxide does not,
//! so the page's client comes from `static/socket.io.min.js` (the Socket.IO 4.8.4
//! browser build, MIT licensed, licence beside it) and a stage serves it like any
//! other file. Serving the page is part of the lesson of stage 03; writing it is not.
//!
//! The files are compiled into the binary with [`include_str!`]: a server built from
//! any folder finds them, and there is nothing to deploy next to it.
//!
//! | constant | route | `Content-Type` |
//! |---|---|---|
//! | [`INDEX_HTML`] | `GET /` | `text/html; charset=utf-8` |
//! | [`CHAT_JS`] | `GET /chat.js` | `text/javascript; charset=utf-8` |
//! | [`SOCKET_IO_JS`] | `GET /socket.io.min.js` | `text/javascript; charset=utf-8` |
//! | [`STYLE_CSS`] | `GET /style.css` | `text/css` |
//! | [`LOGIN_HTML`] | `GET /login` (stage 10 on) | `text/html; charset=utf-8` |
//!
//! What the page does: it asks the server for the visitor's name (`GET /me`, which
//! servers have from stage 07 on, answering `{"name": …}` from the session); without
//! one it picks a name itself (`?name=` in the address, else the last one this browser
//! used, else `guest-NNNN`). Then it connects with
//! `io({ auth: { name } })`, and shows the connection state, the number of people
//! online (`user count` and `user` events), people joining and leaving (`user`),
//! and chat lines (`chat message`). Its form sends `chat message` and marks the line
//! delivered when the server acknowledges it.
//!
//! Elements that browser tests rely on: `#status` (its `data-state` attribute is
//! `connecting`, `connected`, `disconnected` or `refused`), `#count`, `#name`,
//! `#messages` (one `<li>` per line), `#form` and `#input`.

/// The page itself, for `GET /`. It loads `/style.css`, `/socket.io.min.js` and
/// `/chat.js`.
pub const INDEX_HTML: &str = include_str!("../static/index.html");

/// The page's own script, for `GET /chat.js`.
pub const CHAT_JS: &str = include_str!("../static/chat.js");

/// The page's style sheet, for `GET /style.css`.
pub const STYLE_CSS: &str = include_str!("../static/style.css");

/// The Socket.IO 4.8.4 browser client, for `GET /socket.io.min.js`. It defines the
/// global `io` function that `chat.js` calls.
pub const SOCKET_IO_JS: &str = include_str!("../static/socket.io.min.js");

/// The login page, for `GET /login` from stage 10 on: a form that posts `username` and
/// `password` to `/login`, another that posts them to `/register`, and a button that
/// posts to `/logout`. Plain HTML forms, no script: the server answers a success with a
/// `303` redirect, which the browser follows, and a failure with a short text.
pub const LOGIN_HTML: &str = include_str!("../static/login.html");
