//! Probes for the plain-TCP stages (01 echo, 02 chat), built from [`LineClient`] steps.

use std::time::Duration;

use serde::Deserialize;

use super::lines::LineClient;
use super::{Ctx, Failure, Step};

/// How long a client waits for a line it expects.
const LINE_WAIT: Duration = Duration::from_secs(2);
/// Time for the server to accept and register clients that just connected. A client's
/// `connect` returns once the kernel has queued it, before the server's `accept`.
const SETTLE: Duration = Duration::from_millis(200);
/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoParams {
    clients: usize,
    lines: Vec<String>,
    /// The newest client talks first, so a server serving one client at a time is caught.
    #[serde(default)]
    newest_first: bool,
}

async fn connect_all(ctx: &Ctx, n: usize) -> Step<Vec<LineClient>> {
    let mut clients = Vec::with_capacity(n);
    for i in 1..=n {
        clients.push(LineClient::connect(ctx, &format!("client {i}")).await?);
    }
    Ok(clients)
}

/// Every client sends each line and must get exactly that line back.
pub async fn echo(ctx: &Ctx, p: EchoParams) -> Step<()> {
    let mut clients = connect_all(ctx, p.clients.max(1)).await?;
    if p.newest_first {
        clients.reverse();
    }
    for line in &p.lines {
        for client in &mut clients {
            client.send_line(line).await?;
            client.expect_line(line, LINE_WAIT).await?;
        }
    }
    Ok(())
}

/// Clients that leave mid-line or abruptly must not take the server down with them.
pub async fn survives_disconnect(ctx: &Ctx) -> Step<()> {
    let mut first = LineClient::connect(ctx, "client 1").await?;
    first.send(b"half a li").await?;
    first.close().await;
    tokio::time::sleep(SETTLE).await;
    let second = LineClient::connect(ctx, "client 2").await.map_err(|f| {
        Failure::new(format!(
            "After a client left, the server stopped accepting: {}",
            f.reason
        ))
    })?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    second.reset();
    tokio::time::sleep(SETTLE).await;
    let mut third = LineClient::connect(ctx, "client 3").await.map_err(|f| {
        Failure::new(format!(
            "After two clients left, the server stopped accepting: {}",
            f.reason
        ))
    })?;
    third.send_line("is anyone still there?").await?;
    third.expect_line("is anyone still there?", LINE_WAIT).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastParams {
    clients: usize,
    line: String,
    /// `Some(false)`: the sender must not get its own line back.
    sender_hears: Option<bool>,
}

/// The first client sends a line; every other client must receive it.
pub async fn broadcast(ctx: &Ctx, p: BroadcastParams) -> Step<()> {
    let mut clients = connect_all(ctx, p.clients.max(2)).await?;
    tokio::time::sleep(SETTLE).await;
    let (sender, others) = clients.split_first_mut().expect("at least two clients");
    sender.send_line(&p.line).await?;
    for other in others {
        other.expect_line(&p.line, LINE_WAIT).await?;
    }
    if p.sender_hears == Some(false) {
        sender.expect_silence(QUIET).await?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaverParams {
    clients: usize,
}

/// One client leaves; the others go on talking, and a newcomer joins.
///
/// The first line the others receive after the departure must be the next real one: a
/// server that keeps forwarding reads of 0 bytes sends blank lines instead.
pub async fn leaver(ctx: &Ctx, p: LeaverParams) -> Step<()> {
    let mut clients = connect_all(ctx, p.clients.max(3)).await?;
    tokio::time::sleep(SETTLE).await;
    let leaver = clients.pop().expect("at least three clients");
    leaver.close().await;
    tokio::time::sleep(SETTLE).await;
    let line = "are you still there?";
    clients[0].send_line(line).await?;
    clients[1].expect_line(line, LINE_WAIT).await?;

    let mut newcomer = LineClient::connect(ctx, &format!("client {}", p.clients.max(3) + 1))
        .await
        .map_err(|f| {
            Failure::new(format!(
                "After a client left, the server stopped accepting: {}",
                f.reason
            ))
        })?;
    tokio::time::sleep(SETTLE).await;
    let welcome = "welcome, newcomer";
    clients[1].send_line(welcome).await?;
    newcomer.expect_line(welcome, LINE_WAIT).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WholeLinesParams {
    senders: usize,
    line_bytes: usize,
}

/// Several clients send long lines at once, in interleaved pieces; a listener must get
/// each line whole.
pub async fn whole_lines(ctx: &Ctx, p: WholeLinesParams) -> Step<()> {
    let senders = p.senders.clamp(2, 8);
    let mut clients = connect_all(ctx, senders + 1).await?;
    tokio::time::sleep(SETTLE).await;
    let lines: Vec<Vec<u8>> = (0..senders)
        .map(|i| {
            let mut line = vec![b'a' + i as u8; p.line_bytes.max(1)];
            line.push(b'\n');
            line
        })
        .collect();
    // Send in pieces, taking turns, as two busy clients on a real network would.
    let piece = (p.line_bytes / 16).max(1);
    let mut offset = 0;
    while offset < lines[0].len() {
        for (client, line) in clients.iter_mut().zip(&lines) {
            let end = (offset + piece).min(line.len());
            client.send_unrecorded(&line[offset..end]).await?;
        }
        offset += piece;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    ctx.transcript.note(format!(
        "clients 1 to {senders} each sent a line of {} bytes (all `a`, all `b`, …) in pieces of {piece} \
         bytes, taking turns",
        p.line_bytes
    ));
    let listener = clients.last_mut().expect("a listener");
    let mut seen = Vec::new();
    for _ in 0..senders {
        let got = listener.next_line_unrecorded(LINE_WAIT * 2).await?;
        let letters: Vec<String> = (b'a'..b'a' + senders as u8)
            .filter(|letter| got.contains(letter))
            .map(|letter| format!("`{}`", letter as char))
            .collect();
        ctx.transcript.note(format!(
            "{} received a line of {} bytes made of {}",
            listener.name,
            got.len(),
            letters.join(" and ")
        ));
        let whole = lines.iter().position(|l| l[..l.len() - 1] == got[..]);
        match whole {
            Some(i) if !seen.contains(&i) => seen.push(i),
            Some(_) => {
                return Err(Failure::new(format!(
                    "{} received the same line twice.",
                    listener.name
                )));
            }
            None => {
                return Err(Failure::new(format!(
                    "{} received a line of {} bytes that is not any line that was sent: pieces of \
                     different senders' lines were mixed together.",
                    listener.name,
                    got.len(),
                ))
                .expected(format!(
                    "{} lines of {} bytes, each from one sender",
                    senders, p.line_bytes
                )));
            }
        }
    }
    Ok(())
}
