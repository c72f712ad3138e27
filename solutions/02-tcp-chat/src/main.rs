//! The stage 02 server: `PORT=4000 cargo run -p tcp-chat-solution`, then connect
//! two or more line-based clients (`nc 127.0.0.1 4000`) and type in one of them.

use std::error::Error;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use tokio::net::TcpListener;

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

    tcp_chat_solution::run(listener, tokio::signal::ctrl_c()).await?;
    Ok(())
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
