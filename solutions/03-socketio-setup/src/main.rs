//! Stage 03: the chat page and Socket.IO, served on one port.
//!
//! Run it with `PORT=4000 cargo run -p socketio-setup-solution`, then open
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
//! What is simplified: the server only notices that someone connected. Events come
//! in the next stages.

use std::error::Error;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::Router;
use axum::http::header::CONTENT_TYPE;
use axum::response::Html;
use axum::routing::get;
use socketioxide::SocketIo;
use tokio::net::TcpListener;

/// The port used when `PORT` is not set.
const DEFAULT_PORT: u16 = 3000;

/// The `Content-Type` of the two scripts the page loads.
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

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
    let (layer, io) = SocketIo::new_layer();

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
async fn on_connect() {
    println!("a user connected");
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
