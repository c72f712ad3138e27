//! Probes of hardening (stage 12): each one performs an attack on a logged-in chat and
//! checks that it fails, while the people it does not target go on as before.
//!
//! ada (and grace, where a scene needs a second person) register with the forms and
//! open sockets with their session cookies, as in stage 10. mallory attacks: a page of
//! her own site opens a socket with ada's cookie (the browser sends it; the `Origin`
//! header says whose page it is); a chat line of 5000 characters; a packet of a
//! megabyte; fifty events at once; password after password for one username.
//!
//! The contract the probes check (the chapter `12-hardening` documents it): a foreign
//! origin is refused at the handshake (HTTP 401/403, or CONNECT_ERROR); the session
//! cookie is `HttpOnly`, `SameSite=Lax` or `Strict`, and `Secure` (the grader starts
//! every server with `COOKIE_SECURE=1`); a message over 1000 characters is answered
//! `{"ok": false, …}` in its ack and reaches no one; a WebSocket message of 1 MB closes
//! that connection; a socket's events beyond a small budget are dropped (or the socket
//! is disconnected); repeated failed logins for a username end in `429` with
//! `Retry-After`, for unknown usernames as for real ones, and the lock stops even the
//! right password, but not another user's login.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::{Browser, Quiet, first, join, leave};
use super::cookies::set_cookies;
use super::engineio::Transport;
use super::http;
use super::socketio::{Answer, Options, SioClient};
use super::{Ctx, Failure, Step, params_error, parse};

/// The passwords of ada and grace (the login throttle's probe uses them too).
pub(super) const PASSWORD: &str = "analytical engine";
pub(super) const GRACE_PASSWORD: &str = "compiler pioneer";
/// The session cookie's name (the stages' contract, from stage 07 on).
const SESSION_COOKIE: &str = "chat.sid";
/// The pages mallory serves: her own site, and one whose name starts like the
/// server's origin (a check by prefix lets it in).
const FOREIGN_ORIGIN: &str = "https://evil.example";
/// The longest message that must still be delivered, and one that must not.
const FINE_CHARS: usize = 200;
const LONG_CHARS: usize = 5000;
/// The packet that must close a WebSocket.
const HUGE_BYTES: usize = 1_000_000;
/// Events mallory floods with, and the most of them that may reach grace.
const FLOOD: usize = 50;
const FLOOD_MAX_DELIVERED: usize = 25;

const EVENT_WAIT: Duration = Duration::from_secs(2);
const SILENCE_WAIT: Duration = Duration::from_millis(500);
/// How long a socket over its budget waits before it tries again.
const REFILL_WAIT: Duration = Duration::from_millis(1500);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginParams {
    transport: Transport,
}

const PROBES: [&str; 5] = [
    "hardening-cookie",
    "hardening-long-message",
    "hardening-huge-packet",
    "hardening-flood",
    "hardening-login-throttle",
];

/// `Some` when `name` is a probe of this module: whether `params` suit it.
pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    if name == "hardening-origin" {
        return Some(parse::<OriginParams>(params).map(drop));
    }
    PROBES
        .contains(&name)
        .then(|| parse::<NoParams>(params).map(drop))
}

/// `Some` when `name` is a probe of this module: its verdict.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    if name == "hardening-origin" {
        return Some(match parse::<OriginParams>(params) {
            Ok(p) => origin(ctx, p.transport).await,
            Err(err) => Err(params_error(name)(err)),
        });
    }
    if !PROBES.contains(&name) {
        return None;
    }
    if let Err(err) = parse::<NoParams>(params) {
        return Some(Err(params_error(name)(err)));
    }
    Some(match name {
        "hardening-cookie" => cookie(ctx).await,
        "hardening-long-message" => long_message(ctx).await,
        "hardening-huge-packet" => huge_packet(ctx).await,
        "hardening-flood" => flood(ctx).await,
        _ => super::lockout::login_throttle(ctx).await,
    })
}

/// One handshake with ada's cookie and, if given, an `Origin` header.
async fn try_origin(
    ctx: &Ctx,
    who: &str,
    transport: Transport,
    cookie: &str,
    origin: Option<&str>,
) -> Step<Answer> {
    let mut options = Options::new(transport);
    options
        .headers
        .push(("cookie".to_string(), cookie.to_string()));
    let shown = match origin {
        Some(origin) => {
            options
                .headers
                .push(("origin".to_string(), origin.to_string()));
            format!("Origin: {origin}")
        }
        None => "no Origin".to_string(),
    };
    ctx.transcript.note(format!(
        "{who} connects {} with ada's cookie and {shown}",
        transport.describe()
    ));
    SioClient::try_connect(ctx, who, &options).await
}

/// Same-origin and origin-less handshakes get in; foreign pages do not.
async fn origin(ctx: &Ctx, transport: Transport) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let cookie = ada.cookie().unwrap_or_default();
    let own = format!("http://127.0.0.1:{}", ctx.port);
    for origin in [Some(own.as_str()), None] {
        match try_origin(ctx, "ada", transport, &cookie, origin).await? {
            Answer::Accepted(client) => client.disconnect().await,
            refusal => {
                return Err(Failure::new(format!(
                    "ada's own chat page was refused: {} ({}). The server's own origin, \
                     `{own}`, must be allowed, and so must a request without `Origin` (the \
                     page's own polling sends none, nor do programs that are not browsers).",
                    refusal.describe("/"),
                    origin.map_or("no Origin".to_string(), |o| format!("Origin: {o}"))
                ))
                .expected("ada ← 40{\"sid\":…}"));
            }
        }
    }
    let lookalike = format!("{own}.evil.example");
    for origin in [FOREIGN_ORIGIN, lookalike.as_str()] {
        match try_origin(ctx, "mallory", transport, &cookie, Some(origin)).await? {
            Answer::Accepted(client) => {
                client.disconnect().await;
                return Err(Failure::new(format!(
                    "A page of {origin} opened a socket {} with ada's cookie, and was let \
                     in as ada: any site ada visits could read her messages and chat in her \
                     name (cross-site WebSocket hijacking). Refuse every Socket.IO request \
                     whose `Origin` header is present and not exactly one of the server's \
                     own origins (`{own}`, the same with `localhost`, and those in \
                     `ALLOWED_ORIGINS`), with `403 Forbidden`.",
                    transport.describe(),
                ))
                .expected("HTTP 403 on the handshake, or mallory ← 44{\"message\":…}"));
            }
            _ => ctx.transcript.note(format!("{origin} was refused")),
        }
    }
    Ok(())
}

/// The session cookie of a login carries `HttpOnly`, `SameSite` and `Secure`.
async fn cookie(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut laptop = Browser::new("ada's laptop");
    let form = [("username", "ada"), ("password", PASSWORD)];
    let reply = laptop.post(ctx, "/login", &form).await?;
    let Some(set) = set_cookies(&reply.headers)
        .into_iter()
        .find(|c| c.name == SESSION_COOKIE && !c.is_removal())
    else {
        return Err(Failure::new(format!(
            "POST /login as ada answered {} without a Set-Cookie for `{SESSION_COOKIE}`.",
            http::status_line(reply.status)
        ))
        .expected(format!(
            "Set-Cookie: {SESSION_COOKIE}=…; HttpOnly; SameSite=Lax; Secure"
        )));
    };
    let same_site = set.attribute("SameSite").flatten().unwrap_or("");
    let mut missing = Vec::new();
    if !set.has_flag("HttpOnly") {
        missing.push("`HttpOnly` (page scripts can read the cookie, and an injected script can send it away)".to_string());
    }
    if !["lax", "strict"].contains(&same_site.to_ascii_lowercase().as_str()) {
        missing.push(format!(
            "`SameSite=Lax` or `Strict` (it says {:?}, so other sites' requests carry it)",
            same_site
        ));
    }
    if !set.has_flag("Secure") {
        missing.push(
            "`Secure`, although the grader started the server with `COOKIE_SECURE=1` (the site \
             is served over https: the cookie must never travel in clear)"
                .to_string(),
        );
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "The session cookie set at login lacks {}. Set every flag explicitly on the \
         `SessionManagerLayer`: `.with_http_only(true)`, `.with_same_site(SameSite::Lax)` \
         and `.with_secure(…)` from `COOKIE_SECURE`.",
        missing.join("; and ")
    ))
    .expected(format!(
        "Set-Cookie: {SESSION_COOKIE}=…; HttpOnly; SameSite=Lax; Secure"
    )))
}

/// ada and grace, registered and connected over WebSocket.
async fn two_sockets(ctx: &Ctx) -> Step<(SioClient, SioClient)> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut grace = Browser::new("grace");
    grace.register(ctx, "grace", GRACE_PASSWORD).await?;
    let ada_socket = join(ctx, "ada", &ada).await?;
    let mut grace_socket = join(ctx, "grace", &grace).await?;
    // grace's own announcement, so that what follows comes in the same order each run.
    grace_socket.await_any(&["user"], EVENT_WAIT).await?;
    Ok((ada_socket, grace_socket))
}

/// `chat message`s that reached `client` within `within` of silence, in order.
async fn drain(client: &mut SioClient, within: Duration) -> Step<Vec<Value>> {
    let mut got = Vec::new();
    while let Some(args) = client.maybe_event("chat message", within).await? {
        got.push(first(&args));
    }
    Ok(got)
}

/// grace asks `whoami` and must be answered at once: the server is not stalled.
async fn still_answers(grace: &mut SioClient, after: &str) -> Step<()> {
    let started = Instant::now();
    grace
        .emit_with_ack("whoami", vec![], EVENT_WAIT)
        .await
        .map_err(|failure| {
            Failure::new(format!(
                "After {after}, the server no longer answered grace, who did nothing \
                 wrong: {}",
                failure.reason
            ))
        })?;
    if started.elapsed() > EVENT_WAIT {
        return Err(Failure::new(format!(
            "After {after}, grace's `whoami` took {}.",
            super::lines::seconds(started.elapsed())
        )));
    }
    Ok(())
}

/// A message of 5000 characters is refused in its ack and reaches no one; one of 200
/// still goes through.
async fn long_message(ctx: &Ctx) -> Step<()> {
    let (mut ada, mut grace) = two_sockets(ctx).await?;
    let long = "x".repeat(LONG_CHARS);
    ctx.transcript.note(format!(
        "ada sends a chat message of {LONG_CHARS} characters"
    ));
    let ack = ada
        .emit_with_ack("chat message", vec![json!(long)], EVENT_WAIT)
        .await?;
    let answer = first(&ack);
    let delivered = grace
        .maybe_event("chat message", SILENCE_WAIT)
        .await?
        .is_some();
    if delivered || answer.get("ok") != Some(&json!(false)) {
        let what = if delivered {
            "was broadcast to grace"
        } else {
            "reached no one, but its ack did not say so"
        };
        return Err(Failure::new(format!(
            "A chat message of {LONG_CHARS} characters {what} (the ack was {answer}). Refuse \
             a `chat message` longer than 1000 characters before sending it anywhere, and \
             answer its ack with `{{\"ok\": false, \"error\": \"message too long\"}}`, so the \
             sender knows why."
        ))
        .expected("ada ← 430[{\"ok\":false,\"error\":…}], and nothing for grace"));
    }
    let fine = "y".repeat(FINE_CHARS);
    ctx.transcript.note(format!(
        "ada sends a chat message of {FINE_CHARS} characters"
    ));
    ada.emit_with_ack("chat message", vec![json!(fine)], EVENT_WAIT)
        .await?;
    if grace
        .maybe_event("chat message", EVENT_WAIT)
        .await?
        .is_none()
    {
        return Err(Failure::new(format!(
            "A chat message of {FINE_CHARS} characters did not reach grace: the limit is \
             for messages over 1000 characters."
        )));
    }
    leave(vec![ada, grace]).await;
    Ok(())
}

/// A WebSocket message of a megabyte closes that connection, and the server still
/// answers others.
async fn huge_packet(ctx: &Ctx) -> Step<()> {
    let (mut ada, mut grace) = two_sockets(ctx).await?;
    ctx.transcript.note(format!(
        "ada sends a chat message of {HUGE_BYTES} bytes over WebSocket"
    ));
    ada.emit("chat message", vec![json!("z".repeat(HUGE_BYTES))])
        .await?;
    still_answers(&mut grace, "ada's packet of a megabyte").await?;
    match ada.maybe_event("chat message", EVENT_WAIT).await {
        Err(_) => ctx
            .transcript
            .note("ada's connection was closed by the server"),
        Ok(echo) => {
            let what = if echo.is_some() {
                "the server broadcast it to everyone"
            } else {
                "her connection stayed open"
            };
            return Err(Failure::new(format!(
                "ada sent a Socket.IO packet of {HUGE_BYTES} bytes over WebSocket, and {what}. \
                 socketioxide's `max_payload` bounds polling only; a WebSocket message may be \
                 64 MiB unless `ws_max_message_size` says otherwise. Set both (on \
                 `SocketIo::builder()`) to 16 KiB: a bigger message then closes the \
                 connection."
            ))
            .expected("ada's connection closed by the server"));
        }
    }
    if grace
        .maybe_event("chat message", SILENCE_WAIT)
        .await?
        .is_some()
    {
        return Err(Failure::new(
            "ada's packet of a megabyte was broadcast to grace before her connection closed.",
        ));
    }
    grace.disconnect().await;
    Ok(())
}

/// Fifty events at once: most are dropped, grace is still answered, and a moment later
/// ada may talk again (or the server disconnected her).
async fn flood(ctx: &Ctx) -> Step<()> {
    // The flood goes through a context of its own: fifty packets would fill the
    // transcript; notes say what happened.
    let quiet = Quiet::new(ctx);
    let (mut ada, mut grace) = two_sockets(&quiet.0).await?;
    ctx.transcript.note(format!(
        "ada and grace are logged in and connected; ada sends {FLOOD} chat messages at once"
    ));
    for i in 0..FLOOD {
        ada.emit("chat message", vec![json!(format!("flood {i}"))])
            .await?;
    }
    let got = drain(&mut grace, SILENCE_WAIT).await?;
    if got.len() > FLOOD_MAX_DELIVERED {
        return Err(Failure::new(format!(
            "ada sent {FLOOD} chat messages at once and {} of them reached grace: nothing \
             limits how fast a socket may send. Give each socket a budget of events (a \
             token bucket: a burst of 10, then one every 250 ms) and drop the events \
             beyond it, answering their ack with `{{\"ok\": false, \"error\": \"too many \
             events; slow down\"}}`.",
            got.len()
        ))
        .expected(format!("at most {FLOOD_MAX_DELIVERED} messages for grace")));
    }
    ctx.transcript
        .note(format!("grace received {} of them", got.len()));
    still_answers(&mut grace, "ada's flood").await?;
    tokio::time::sleep(REFILL_WAIT).await;
    ctx.transcript.note("a moment later, ada sends one more");
    let sent = ada
        .emit_with_ack("chat message", vec![json!("sorry")], EVENT_WAIT)
        .await;
    match sent {
        Err(_) if ada_closed(&mut ada).await => {
            ctx.transcript.note("the server had disconnected ada");
        }
        _ => {
            let later = drain(&mut grace, SILENCE_WAIT).await?;
            if !later
                .iter()
                .any(|line| line.get("message") == Some(&json!("sorry")))
            {
                return Err(Failure::new(format!(
                    "{} after the flood, ada's next message did not reach grace: a socket \
                     over its budget should get it back as time passes (a token every \
                     250 ms), not be silenced for ever.",
                    super::lines::seconds(REFILL_WAIT)
                ))
                .expected(
                    "grace ← 42[\"chat message\",{\"name\":\"ada\",\"message\":\"sorry\"}]",
                ));
            }
            ctx.transcript.note("grace received it");
        }
    }
    leave(vec![ada, grace]).await;
    Ok(())
}

/// Whether ada's connection has been closed by the server.
async fn ada_closed(ada: &mut SioClient) -> bool {
    ada.maybe_event("chat message", Duration::from_millis(100))
        .await
        .is_err()
}
