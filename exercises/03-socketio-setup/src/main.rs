//! Stage 03: the chat page and Socket.IO, served on one port.
//!
//! Run it with `PORT=4000 cargo run -p socketio-setup`. When it is done, open
//! <http://127.0.0.1:4000> in a browser (or two): the page says "connected", and the
//! server prints `a user connected` for every tab.
//!
//! The idea of the stage: one HTTP server does two jobs. axum answers the ordinary
//! requests (the page, its script and style sheet, and the Socket.IO browser
//! client). socketioxide is added to the same `Router` as a tower layer: it takes
//! the requests under `/socket.io/` and speaks Engine.IO and Socket.IO over them,
//! HTTP long-polling first and then a WebSocket, and leaves every other request to
//! axum.
//!
//! This is the starter: it compiles and runs, but it does not listen yet. Follow
//! the TODOs here and in `Cargo.toml`, reading the chapter `03-socketio-setup`.

use std::error::Error;
use std::process::ExitCode;

// TODO: import what the steps below use: `std::io::Write` and
// `std::net::{Ipv4Addr, SocketAddr}` (as in stage 02), `axum::Router`,
// `axum::routing::get`, `axum::response::Html`, `axum::http::header::CONTENT_TYPE`,
// `socketioxide::SocketIo` and `tokio::net::TcpListener`.

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

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

    // TODO: create the Socket.IO layer and the handle that goes with it:
    // `let (layer, io) = SocketIo::new_layer();`.

    // TODO: register the default namespace "/" with the connect handler below:
    // `io.ns("/", on_connect);`. socketioxide makes no namespace by itself, and a
    // client's CONNECT to a namespace that does not exist is refused.

    // TODO: build an axum `Router` that serves the page and the files it loads,
    // with `.route(path, get(...))`:
    //   - `/`: `chat_page::INDEX_HTML`, wrapped in `Html(...)` so it is sent as
    //     `text/html; charset=utf-8`;
    //   - `/chat.js` and `/socket.io.min.js`: `chat_page::CHAT_JS` and
    //     `chat_page::SOCKET_IO_JS`, with `Content-Type: text/javascript;
    //     charset=utf-8` (a tuple `([(CONTENT_TYPE, "...")], body)` is a response
    //     with that header);
    //   - `/style.css`: `chat_page::STYLE_CSS` as `text/css`.
    // A response that never changes can be the handler itself: `get(Html(...))`.
    // Finish with `.layer(layer)`, so Socket.IO's requests reach socketioxide.

    // TODO: bind a `TcpListener` to 127.0.0.1 and `port`, then print exactly one
    // line, `listening on ADDR` with the address from `listener.local_addr()`, and
    // flush stdout, as in stage 02.

    // TODO: serve the router on the listener: `axum::serve(listener, app).await?`.
    // No graceful shutdown: a WebSocket stays open, and a graceful shutdown would
    // wait for it.

    // Until then, say so instead of pretending to be a server.
    println!(
        "TODO: this server does not listen yet (port {port}) — \
         see exercises/03-socketio-setup/src/main.rs and the chapter 03-socketio-setup"
    );
    Ok(())
}

// TODO: write the connect handler, `async fn on_connect()`, which prints
// `a user connected`. socketioxide runs it for every client that connects to "/".

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
