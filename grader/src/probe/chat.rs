//! Probes of the chat's behaviour (stages 04–06): who is told the user count, what a
//! leaving user changes, where chat messages go and what they carry.
//!
//! Each probe is a short scene with named clients (ada, grace, linus), played step by
//! step so the transcript reads in the order things were meant to happen. A probe waits
//! for the events its scene needs and keeps the others for later, so a server that sends
//! a `user` announcement before or after a `user count` is graded the same.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::engineio::Transport;
use super::socketio::{Options, SioClient};
use super::{Ctx, Failure, Step};

/// How long a client waits for an event it must get.
const EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long a client waits for an event it only drains on the way.
const DRAIN_WAIT: Duration = Duration::from_millis(700);

fn default_transport() -> Transport {
    Transport::Websocket
}

fn default_count_event() -> String {
    "user count".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountParams {
    check: CountCheck,
    #[serde(default = "default_count_event")]
    event: String,
    #[serde(default = "default_transport")]
    transport: Transport,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum CountCheck {
    /// The first client is told 1.
    First,
    /// A second client joins: both are told 2.
    Everyone,
    /// The second leaves with a goodbye: the first is told 1.
    Leave,
    /// The second's connection is cut without a goodbye: the first is told 1.
    Vanish,
    /// The second leaves, a third joins: the first and the third are told 2.
    Rejoin,
}

/// The user-count scenes.
pub async fn user_count(ctx: &Ctx, p: CountParams) -> Step<()> {
    let options = Options::new(p.transport);
    let event = p.event.as_str();
    let mut ada = SioClient::connect(ctx, "ada", &options).await?;
    if let CountCheck::First = p.check {
        return expect_count(&mut ada, event, 1, "").await;
    }
    drain_until(&mut ada, event, 1).await?;
    let mut grace = SioClient::connect(ctx, "grace", &options).await?;
    if let CountCheck::Everyone = p.check {
        expect_count(&mut grace, event, 2, "").await?;
        let only_new = " Only the new client was told: emit to everyone (`io.emit(…)`), not \
                        just to the socket that connected.";
        return expect_count(&mut ada, event, 2, only_new).await;
    }
    drain_until(&mut grace, event, 2).await?;
    drain_until(&mut ada, event, 2).await?;
    let no_decrement = " When a client leaves, the count goes down by one and everyone who \
                        is still there is told (an `on_disconnect` handler).";
    match p.check {
        CountCheck::Leave => {
            grace.disconnect().await;
            expect_count(&mut ada, event, 1, no_decrement).await
        }
        CountCheck::Vanish => {
            if p.transport == Transport::Polling {
                return Err(Failure::new(
                    "The `vanish` check needs a WebSocket client (a polling client that \
                     vanishes is only noticed at the next ping timeout).",
                ));
            }
            grace.vanish();
            expect_count(&mut ada, event, 1, no_decrement).await
        }
        CountCheck::Rejoin => {
            grace.disconnect().await;
            let _ = drain_until(&mut ada, event, 1).await;
            let mut linus = SioClient::connect(ctx, "linus", &options).await?;
            let rejoin = " After one client left and another joined, two are connected.";
            expect_count(&mut linus, event, 2, rejoin).await?;
            expect_count(&mut ada, event, 2, rejoin).await
        }
        CountCheck::First | CountCheck::Everyone => unreachable!("handled above"),
    }
}

/// The next `event` must carry exactly the number `n`.
async fn expect_count(client: &mut SioClient, event: &str, n: u64, why: &str) -> Step<()> {
    let expected = format!("{} ← 42[{event:?},{n}]", client.who);
    let args = client
        .expect_event(event, EVENT_WAIT)
        .await
        .map_err(|f| Failure::new(format!("{}{why}", f.reason)).expected(expected.clone()))?;
    match args.first() {
        Some(Value::Number(got)) if got.as_u64() == Some(n) => Ok(()),
        Some(Value::String(s)) if s.trim() == n.to_string() => Err(Failure::new(format!(
            "{} got {event:?} with the string {s:?}; send the number itself.",
            client.who
        ))
        .expected(expected)),
        Some(other) => Err(Failure::new(format!(
            "{} got {event:?} {other} instead of {n}.{why}",
            client.who
        ))
        .expected(expected)),
        None => Err(Failure::new(format!(
            "{} got {event:?} with no data; emit the count with it.",
            client.who
        ))
        .expected(expected)),
    }
}

/// Reads `event`s until one carries `n` (or a short wait passes): the count a client is
/// told on its way to the part of a scene that matters.
async fn drain_until(client: &mut SioClient, event: &str, n: u64) -> Step<()> {
    while let Some(args) = client.maybe_event(event, DRAIN_WAIT).await? {
        if args.first().and_then(Value::as_u64) == Some(n) {
            break;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatParams {
    check: ChatCheck,
    #[serde(default = "default_transport")]
    transport: Transport,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum ChatCheck {
    /// ada's message reaches ada and grace.
    Everyone,
    /// grace sees it as `{"name": "ada", "message": …}`.
    SenderName,
    /// ada's emit with an ack gets its ack.
    Ack,
}

const MESSAGE: &str = "hello from ada";

/// Connects a client that says its name in the CONNECT's `auth`, and waits for the
/// server to announce it (if it announces anyone), so the next client's arrival cannot
/// overtake this one's.
async fn named(ctx: &Ctx, name: &str, transport: Transport) -> Step<SioClient> {
    let options = Options::new(transport).auth(json!({ "name": name }));
    let mut client = SioClient::connect(ctx, name, &options).await?;
    client
        .await_any(&["user", "user count"], DRAIN_WAIT)
        .await?;
    Ok(client)
}

/// The chat-message scenes.
pub async fn chat_message(ctx: &Ctx, p: ChatParams) -> Step<()> {
    let mut ada = named(ctx, "ada", p.transport).await?;
    let mut grace = named(ctx, "grace", p.transport).await?;
    let expected = format!(r#"42["chat message",{{"name":"ada","message":"{MESSAGE}"}}]"#);
    match p.check {
        ChatCheck::Ack => {
            ada.emit_with_ack("chat message", vec![json!(MESSAGE)], EVENT_WAIT)
                .await
                .map_err(|f| {
                    Failure::new(format!(
                        "{} Take an `AckSender` in the `chat message` handler and call \
                         `ack.send(…)`.",
                        f.reason
                    ))
                    .expected(f.expected.unwrap_or_default())
                })?;
            Ok(())
        }
        ChatCheck::Everyone => {
            ada.emit("chat message", vec![json!(MESSAGE)]).await?;
            for (client, missing) in [
                (
                    &mut grace,
                    " The other clients never got the message: emit it to everyone.",
                ),
                (
                    &mut ada,
                    " The sender did not get its own message back: `socket.broadcast()` \
                     skips the sender, `io.emit(…)` reaches everyone.",
                ),
            ] {
                let args = client
                    .expect_event("chat message", EVENT_WAIT)
                    .await
                    .map_err(|f| {
                        Failure::new(format!("{}{missing}", f.reason))
                            .expected(format!("{} ← {expected}", client.who))
                    })?;
                if !Value::Array(args.clone()).to_string().contains(MESSAGE) {
                    return Err(Failure::new(format!(
                        "{} got \"chat message\" {}, which does not contain the text ada sent.",
                        client.who,
                        Value::Array(args)
                    ))
                    .expected(format!("{} ← {expected}", client.who)));
                }
            }
            Ok(())
        }
        ChatCheck::SenderName => {
            ada.emit("chat message", vec![json!(MESSAGE)]).await?;
            let args = grace
                .expect_event("chat message", EVENT_WAIT)
                .await
                .map_err(|f| f.expected(format!("grace ← {expected}")))?;
            let got = args.first().cloned().unwrap_or(Value::Null);
            let name = got.get("name").and_then(Value::as_str);
            let message = got.get("message").and_then(Value::as_str);
            if name == Some("ada") && message == Some(MESSAGE) {
                return Ok(());
            }
            let why = match (name, message) {
                (None, _) if got.is_object() => "it has no `name` field".to_string(),
                (Some(other), _) if other != "ada" => {
                    format!("its name is {other:?}, but ada sent it")
                }
                (_, None) if got.is_object() => "it has no `message` field".to_string(),
                (_, Some(_)) | (_, None) if got.is_object() => {
                    "its `message` is not the text ada sent".to_string()
                }
                _ => "it is not an object with `name` and `message`".to_string(),
            };
            Err(Failure::new(format!(
                "grace got \"chat message\" {got}: {why}. Send the sender's name (the one it \
                 gave in its CONNECT `auth`) with the text."
            ))
            .expected(format!("grace ← {expected}")))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceParams {
    check: AnnounceCheck,
    #[serde(default = "default_transport")]
    transport: Transport,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum AnnounceCheck {
    /// grace joins: ada is told `{"name": "grace", "count": 2, "connected": true}`.
    Join,
    /// grace leaves: ada is told `{"name": "grace", "count": 1, "connected": false}`.
    Leave,
}

/// The `user` announcement scenes.
pub async fn user_announce(ctx: &Ctx, p: AnnounceParams) -> Step<()> {
    let mut ada = named(ctx, "ada", p.transport).await?;
    let grace = named(ctx, "grace", p.transport).await?;
    let joined = expect_user(&mut ada, "grace", 2, true).await;
    match p.check {
        AnnounceCheck::Join => {
            grace.disconnect().await;
            joined
        }
        AnnounceCheck::Leave => {
            grace.disconnect().await;
            expect_user(&mut ada, "grace", 1, false).await
        }
    }
}

/// Reads `user` events (skipping announcements of other names) until one about `name`,
/// which must carry `count` and `connected`.
async fn expect_user(client: &mut SioClient, name: &str, count: u64, connected: bool) -> Step<()> {
    // Written out rather than with `json!`, which would sort the keys.
    let expected = format!(
        r#"{} ← 42["user",{{"name":"{name}","count":{count},"connected":{connected}}}]"#,
        client.who
    );
    let what = if connected { "joined" } else { "left" };
    let deadline = tokio::time::Instant::now() + EVENT_WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(args) = client.maybe_event("user", left).await? else {
            return Err(Failure::new(format!(
                "{} waited {} and no `user` event announced that {name} {what}: emit `user` \
                 to everyone with the name, the new count and `connected`.",
                client.who,
                super::lines::seconds(EVENT_WAIT)
            ))
            .expected(expected));
        };
        let got = args.first().cloned().unwrap_or(Value::Null);
        match got.get("name").and_then(Value::as_str) {
            Some(other) if other != name => continue,
            None if got.is_object() => {
                return Err(Failure::new(format!(
                    "{} got \"user\" {got}, which has no `name` field.",
                    client.who
                ))
                .expected(expected));
            }
            None => {
                return Err(Failure::new(format!(
                    "{} got \"user\" {got}; it should be an object with `name`, `count` and \
                     `connected`.",
                    client.who
                ))
                .expected(expected));
            }
            Some(_) => {}
        }
        let mut wrong = Vec::new();
        if got.get("count").and_then(Value::as_u64) != Some(count) {
            wrong.push(format!("`count` should be {count}"));
        }
        if got.get("connected").and_then(Value::as_bool) != Some(connected) {
            wrong.push(format!("`connected` should be {connected}"));
        }
        if wrong.is_empty() {
            return Ok(());
        }
        return Err(Failure::new(format!(
            "{} got \"user\" {got} when {name} {what}: {}.",
            client.who,
            wrong.join(" and ")
        ))
        .expected(expected));
    }
}
