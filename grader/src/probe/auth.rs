//! Probes of the authenticated handshake (stage 08): who may open a Socket.IO
//! connection, and whose connection it is once open.
//!
//! A server can refuse in two places, and both count: the Engine.IO handshake request
//! answered `401`/`403` (an HTTP middleware), or the namespace CONNECT answered
//! CONNECT_ERROR (a connect middleware). What does not count is accepting the CONNECT
//! and disconnecting the socket afterwards: by then the connection handler has run.
//!
//! ada is a visitor who loaded the page and holds a real session cookie; mallory is
//! whoever tries to get in without one. Each attack mallory tries is one a real attacker
//! would try, and a failure says in one sentence what it would let them do. When an
//! attack gets in, mallory also tries with no cookie at all, so that a server that checks
//! nothing yet is told so rather than sent hunting for a subtle bug.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::engineio::Transport;
use super::session::{Visitor, expect_ok};
use super::socketio::{Answer, Options, SioClient};
use super::{Ctx, Failure, Step};

/// How long a client waits for its own `user` announcement, or for a chat line.
const EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long an accepted attacker waits to see whether the server throws it out.
const KICK_WAIT: Duration = Duration::from_millis(400);
/// Cookie names a session might travel under by mistake: tower-sessions' default,
/// express-session's, and two generic ones.
const OTHER_NAMES: [&str; 4] = ["id", "connect.sid", "session", "sid"];
/// The name ada claims in her CONNECT `auth`, which the server must ignore.
const CLAIMED: &str = "mallory";
const MESSAGE: &str = "hello from ada";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusesParams {
    attack: Attack,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum Attack {
    /// No cookie at all.
    NoCookie,
    /// A made-up session id, and ada's cookie with one character changed.
    Forged,
    /// ada's real cookie after a restart emptied the server's memory store.
    Ended,
    /// ada's cookie value under another cookie name.
    OtherName,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// A visitor who loaded the page: the session cookie it got and the name `/me` says.
pub(super) struct Visit {
    pub(super) visitor: Visitor,
    /// The session cookie: the first one the page set.
    pub(super) cookie: (String, String),
    pub(super) name: String,
}

impl Visit {
    /// The `Cookie` header ada's browser sends.
    pub(super) fn header(&self) -> String {
        self.visitor.jar.header().unwrap_or_default()
    }

    /// ada's session cookie value under another name.
    fn renamed(&self, name: &str) -> String {
        format!("{name}={}", self.cookie.1)
    }
}

/// `GET /` and `GET /me` as `who`: a session cookie and its display name.
pub(super) async fn visit(ctx: &Ctx, who: &str) -> Step<Visit> {
    let mut visitor = Visitor::new(who);
    let (reply, set) = visitor.get(ctx, "/").await?;
    expect_ok(&reply, "/")?;
    let name = visitor.name(ctx).await?;
    // The session cookie: the first the page set, or else the first `/me` set.
    let set_by_page = set
        .iter()
        .find(|c| !c.is_removal())
        .map(|c| c.name.as_str());
    let cookie = set_by_page
        .or_else(|| visitor.jar.names().next())
        .and_then(|n| visitor.jar.get(n).map(|v| (n.to_string(), v.to_string())));
    let Some(cookie) = cookie else {
        return Err(Failure::new(format!(
            "Neither GET / nor GET /me set a cookie, so {who} has no session to connect \
             with. Stage 07's session cookie comes first: give the visitor a name when the \
             page is served."
        )));
    };
    Ok(Visit {
        visitor,
        cookie,
        name,
    })
}

/// One handshake and CONNECT as `who`, with exactly this `Cookie` header (or none).
pub(super) async fn attempt(
    ctx: &Ctx,
    who: &str,
    cookie: Option<&str>,
    transport: Transport,
    auth: Option<Value>,
) -> Step<Answer> {
    let mut options = Options::new(transport);
    options.auth = auth;
    attempt_with(ctx, who, cookie, options).await
}

/// [`attempt`] with all the options.
async fn attempt_with(
    ctx: &Ctx,
    who: &str,
    cookie: Option<&str>,
    mut options: Options,
) -> Step<Answer> {
    let transport = options.transport;
    let with = match cookie {
        Some(cookie) => {
            options
                .headers
                .push(("cookie".to_string(), cookie.to_string()));
            format!("Cookie: {cookie}")
        }
        None => "no cookie".to_string(),
    };
    let to = if options.path == super::engineio::PATH {
        String::new()
    } else {
        format!(" to {}", options.path)
    };
    ctx.transcript.note(format!(
        "{who} connects {}{to} with {with}",
        transport.describe()
    ));
    SioClient::try_connect(ctx, who, &options).await
}

/// The probe for one attack: every attempt must be refused.
pub async fn refuses(ctx: &Ctx, p: RefusesParams) -> Step<()> {
    match p.attack {
        Attack::NoCookie => {
            for transport in [Transport::Polling, Transport::Websocket] {
                let answer = attempt(ctx, "mallory", None, transport, None).await?;
                refused(
                    answer,
                    "A handshake without any cookie was accepted: anyone who never loaded \
                     the page, any script on the internet, can join the chat.",
                    "",
                )
                .await?;
            }
            // socketioxide answers `/socket.io` as well as `/socket.io/…`: a check on
            // the handshake's path must cover both.
            let mut options = Options::new(Transport::Polling);
            options.path = "/socket.io".to_string();
            let answer = attempt_with(ctx, "mallory", None, options).await?;
            refused(
                answer,
                "A handshake without any cookie, sent to `/socket.io` (no slash, which \
                 socketioxide serves too), was accepted: your check misses that path, so \
                 anyone can walk around it. Test for `path == \"/socket.io\" || \
                 path.starts_with(\"/socket.io/\")`, or refuse in a connect middleware, \
                 which sees every connection whatever its path.",
                "",
            )
            .await
        }
        Attack::Forged => {
            let ada = visit(ctx, "ada").await?;
            let (name, value) = &ada.cookie;
            let made_up = format!("{name}={}", random_id());
            let answer = attempt(ctx, "mallory", Some(&made_up), Transport::Polling, None).await?;
            refused_unless_open(
                ctx,
                answer,
                &format!(
                    "A made-up session id in `{name}` was accepted: anyone could connect by \
                     inventing a cookie."
                ),
            )
            .await?;
            let tampered = format!("{name}={}", tamper(value));
            let answer = attempt(ctx, "mallory", Some(&tampered), Transport::Polling, None).await?;
            refused_unless_open(
                ctx,
                answer,
                "ada's cookie with one character changed was accepted: your server trusts \
                 cookies it did not make. A cookie whose signature fails, or whose id names \
                 no stored session, must count as no session.",
            )
            .await
        }
        Attack::Ended => {
            let ada = visit(ctx, "ada").await?;
            ctx.restart_server().await?;
            let answer = attempt(ctx, "ada", Some(&ada.header()), Transport::Polling, None).await?;
            refused_unless_open(
                ctx,
                answer,
                "ada's cookie was accepted after the restart, when the server no longer had \
                 her session (the memory store starts empty; the cookie's signature still \
                 verifies, as the key is the same): a session that has ended, expired or \
                 been logged out would still open connections. Load the session from the \
                 store (`session.get(…)`) instead of trusting the id in the cookie \
                 (`session.id()`).",
            )
            .await
        }
        Attack::OtherName => {
            let ada = visit(ctx, "ada").await?;
            let own = ada.cookie.0.clone();
            for other in OTHER_NAMES.iter().filter(|n| **n != own) {
                let answer = attempt(
                    ctx,
                    "mallory",
                    Some(&ada.renamed(other)),
                    Transport::Polling,
                    None,
                )
                .await?;
                refused_unless_open(
                    ctx,
                    answer,
                    &format!(
                        "ada's session sent in a cookie named `{other}`, which the page never \
                         sets (it sets `{own}`), was accepted: the Socket.IO side reads its \
                         session from another cookie than the page. Both must use one \
                         name: one session layer around both, or the same `.with_name(…)`."
                    ),
                )
                .await?;
            }
            Ok(())
        }
    }
}

/// An answer that must be a refusal; `attack` says what accepting it allows.
async fn refused(answer: Answer, attack: &str, also: &str) -> Step<()> {
    let Answer::Accepted(client) = answer else {
        return Ok(());
    };
    let mut client = *client;
    // Kicked out right after the CONNECT was accepted: the wrong place to refuse.
    let kicked = client.await_any(&[], KICK_WAIT).await.is_err();
    let how = if kicked {
        " Your server accepted the CONNECT and only then disconnected the socket; by then \
         its connection handler had run (and told everyone someone joined). Refuse before \
         the CONNECT is accepted: in a connect middleware (`handler.with(…)`) or in an HTTP \
         middleware on the handshake request."
    } else {
        ""
    };
    if !kicked {
        client.disconnect().await;
    }
    Err(Failure::new(format!("{attack}{also}{how}"))
        .expected("401 Unauthorized on the handshake, or 44{\"message\":…} (CONNECT_ERROR)"))
}

/// Like [`refused`], but when the attack got in, checks whether a handshake without
/// any cookie does too, and says so: then nothing checks the session yet.
async fn refused_unless_open(ctx: &Ctx, answer: Answer, attack: &str) -> Step<()> {
    if !matches!(answer, Answer::Accepted(_)) {
        return Ok(());
    }
    let control = attempt(ctx, "mallory", None, Transport::Polling, None).await?;
    let open = matches!(control, Answer::Accepted(_));
    if let Answer::Accepted(client) = control {
        client.disconnect().await;
    }
    let also = if open {
        " Even a handshake with no cookie at all is accepted: nothing checks the session \
         before the connection is let in yet."
    } else {
        ""
    };
    refused(answer, attack, also).await
}

/// ada's real cookie is accepted over polling, WebSocket and the upgrade between them,
/// and the server announces her under her session's name.
pub async fn accepts(ctx: &Ctx, _p: NoParams) -> Step<()> {
    let ada = visit(ctx, "ada").await?;
    for transport in [Transport::Polling, Transport::Websocket, Transport::Upgrade] {
        let answer = attempt(ctx, "ada", Some(&ada.header()), transport, None).await?;
        let mut client = match answer {
            Answer::Accepted(client) => *client,
            refusal => return Err(why_refused(ctx, &ada, transport, &refusal).await),
        };
        let announced = own_announcement(&mut client).await;
        client.disconnect().await;
        match announced? {
            Some(name) if name == ada.name => {}
            Some(name) => {
                return Err(Failure::new(format!(
                    "ada was let in, but announced as {name:?}, while her session's name is \
                     {:?}. Take the socket's name from the session (in the middleware that \
                     checks it), not from the client.",
                    ada.name
                ))
                .expected(announcement(&ada.name)));
            }
            None => {
                return Err(Failure::new(format!(
                    "ada was let in, but no `user` event announced her within {}: the \
                     connection handler should still announce who joined, under the \
                     session's name.",
                    super::lines::seconds(EVENT_WAIT)
                ))
                .expected(announcement(&ada.name)));
            }
        }
    }
    Ok(())
}

/// Why a real session cookie may have been refused, from what else gets in.
pub(super) async fn why_refused(
    ctx: &Ctx,
    ada: &Visit,
    transport: Transport,
    refusal: &Answer,
) -> Failure {
    let said = refusal.describe("/");
    let mut reason = format!(
        "ada's real session cookie, from GET /, was refused {}: {said}.",
        transport.describe()
    );
    let extension_missing = matches!(refusal, Answer::Refused { message: Some(m), .. }
        if m.contains("xtension") || m.contains("not found"));
    if extension_missing {
        reason.push_str(
            " The handshake request carried no `Session`: the session layer must wrap the \
             Socket.IO layer, so add it after (outside) `.layer(socket_io_layer)`.",
        );
        return Failure::new(reason);
    }
    for other in OTHER_NAMES.iter().filter(|n| **n != ada.cookie.0) {
        let Ok(answer) = attempt(
            ctx,
            "ada",
            Some(&ada.renamed(other)),
            Transport::Polling,
            None,
        )
        .await
        else {
            break;
        };
        if let Answer::Accepted(client) = answer {
            client.disconnect().await;
            reason.push_str(&format!(
                " The same session sent in a cookie named `{other}` was accepted: the \
                 Socket.IO side reads the cookie `{other}`, the page sets `{}`. Use one \
                 name in both layers (or one session layer around both).",
                ada.cookie.0
            ));
            return Failure::new(reason);
        }
    }
    reason.push_str(
        " Check that the session layer is added after (outside) the Socket.IO layer, that \
         both see the same cookie name and store, and that the check reads the name the \
         page stored in the session.",
    );
    Failure::new(reason)
}

/// The name in the first `user` event a lone client gets after it joined: its own
/// announcement. `None` when none came.
pub(super) async fn own_announcement(client: &mut SioClient) -> Step<Option<String>> {
    let Some(args) = client.maybe_event("user", EVENT_WAIT).await? else {
        return Ok(None);
    };
    let got = args.first().cloned().unwrap_or(Value::Null);
    Ok(Some(
        got.get("name")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| got.to_string()),
    ))
}

pub(super) fn announcement(name: &str) -> String {
    format!(r#"ada ← 42["user",{{"name":"{name}","count":1,"connected":true}}]"#)
}

/// ada claims another name in `auth`; the announcement and her chat line must carry
/// her session's name anyway.
pub async fn chat_name(ctx: &Ctx, _p: NoParams) -> Step<()> {
    let ada_visit = visit(ctx, "ada").await?;
    let grace_visit = visit(ctx, "grace").await?;
    let claim = Some(json!({ "name": CLAIMED }));
    let mut ada = match attempt(
        ctx,
        "ada",
        Some(&ada_visit.header()),
        Transport::Websocket,
        claim,
    )
    .await?
    {
        Answer::Accepted(client) => *client,
        refusal => {
            return Err(why_refused(ctx, &ada_visit, Transport::Websocket, &refusal).await);
        }
    };
    let claimed = |what: &str| {
        Failure::new(format!(
            "ada sent {{\"name\": \"{CLAIMED}\"}} in her CONNECT `auth` and {what}: anyone \
             can speak as anyone by claiming a name. Take the name from the session only \
             (the middleware that checks it can put it in `socket.extensions`)."
        ))
    };
    match own_announcement(&mut ada).await? {
        Some(name) if name == CLAIMED => {
            return Err(
                claimed("was announced under that name").expected(announcement(&ada_visit.name))
            );
        }
        _ => {}
    }
    let mut grace = match attempt(
        ctx,
        "grace",
        Some(&grace_visit.header()),
        Transport::Websocket,
        None,
    )
    .await?
    {
        Answer::Accepted(client) => *client,
        refusal => {
            return Err(why_refused(ctx, &grace_visit, Transport::Websocket, &refusal).await);
        }
    };
    grace.await_any(&["user"], EVENT_WAIT).await?;
    ada.emit("chat message", vec![json!(MESSAGE)]).await?;
    let expected = format!(
        r#"grace ← 42["chat message",{{"name":"{}","message":"{MESSAGE}"}}]"#,
        ada_visit.name
    );
    let args = grace
        .expect_event("chat message", EVENT_WAIT)
        .await
        .map_err(|f| f.expected(expected.clone()))?;
    let got = args.first().cloned().unwrap_or(Value::Null);
    let result = match got.get("name").and_then(Value::as_str) {
        Some(name) if name == ada_visit.name => Ok(()),
        Some(CLAIMED) => Err(claimed("grace saw her message under that name").expected(expected)),
        _ => Err(Failure::new(format!(
            "grace got \"chat message\" {got}, but ada's session's name is {:?}: chat \
             lines carry the name the session gave the sender.",
            ada_visit.name
        ))
        .expected(expected)),
    };
    grace.disconnect().await;
    ada.disconnect().await;
    result
}

/// A syntactically valid tower-sessions id nobody was given: 22 characters of URL-safe
/// base64 for 128 random bits (the last character carries 2 bits, its low 4 are zero).
fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let state = RandomState::new();
    let mut id = String::with_capacity(22);
    for i in 0..22u64 {
        let mut hasher = state.build_hasher();
        hasher.write_u64(i);
        let bits = hasher.finish() as usize;
        let index = if i == 21 { (bits % 4) * 16 } else { bits % 64 };
        id.push(ALPHABET[index] as char);
    }
    id
}

/// The cookie value with one character of its id changed. tower-sessions' signed
/// cookies are 44 characters of signature, then the 22 of the id: the change falls in
/// the id either way, where it keeps the id well-formed.
fn tamper(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let at = chars.len().saturating_sub(22);
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| match (i == at, *c) {
            (true, 'A') => 'B',
            (true, _) => 'A',
            (false, c) => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_ids_look_like_real_ones() {
        let id = random_id();
        assert_eq!(id.len(), 22);
        assert!("AQgw".contains(id.chars().last().unwrap()));
        assert_ne!(random_id(), id);
    }

    #[test]
    fn tampering_changes_one_character_of_the_id() {
        let signed = format!("{}{}", "s".repeat(44), "Abcdefghijklmnopqrstuv");
        let changed = tamper(&signed);
        assert_eq!(changed.len(), signed.len());
        assert_eq!(&changed[..44], &signed[..44]);
        assert_eq!(&changed[44..45], "B");
        assert_eq!(tamper("xyz"), "Ayz");
    }
}
