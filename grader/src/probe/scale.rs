//! Probes of scaling out (stage 13): two processes of the learner's server, A and B,
//! started by the grader with the same `MONGO_URI` (one database) and the same
//! `REDIS_URL` (one Redis), on ports of their own. People log in through one process
//! and open sockets on either, as a browser behind a load balancer would, and what one
//! process does must reach the sockets of the other.
//!
//! The contract (the chapter `13-scale-out` documents it): a cookie that one process set
//! opens a socket on the other; a `chat message` sent on one reaches sockets on both; a
//! private message (the room `user:{id}`) reaches the recipient's sockets on both; a
//! logout through A disconnects that session's sockets on B too, and only those; `is
//! online` asked on one process answers for sockets on the other.
//!
//! Every socket is named with the instance it is connected to in the notes, and every
//! failure says which instance (and port) each socket involved was on. The sockets talk
//! through [`Quiet`] contexts: with two processes broadcasting through Redis, the order
//! in which the announcements (`user`, `user count`) of both reach each client varies
//! from run to run, and the notes say what matters.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::{Browser, Quiet, attempt, first, leave};
use super::socketio::{Answer, SioClient};
use super::{Ctx, Failure, Step, params_error, parse};

const ADA_PASSWORD: &str = "analytical engine";
const GRACE_PASSWORD: &str = "compiler pioneer";
const LINUS_PASSWORD: &str = "just for fun";

/// How long an event may take to cross from one process to the other. Through a local
/// Redis it takes a few milliseconds; a busy machine needs more.
const EVENT_WAIT: Duration = Duration::from_secs(3);
/// How long a socket that must get nothing listens.
const SILENCE_WAIT: Duration = Duration::from_millis(500);
/// How long a logged-out socket may stay connected.
const LOGOUT_WAIT: Duration = Duration::from_secs(2);
/// How long `is online` may take: socketioxide's Redis adapter waits up to 5 s for
/// every process's answer, so a little more than that.
const ONLINE_WAIT: Duration = Duration::from_secs(6);
/// A pause after a socket left, for both processes to forget it.
const SETTLE: Duration = Duration::from_millis(400);

const PROBES: [&str; 4] = [
    "scale-chat",
    "scale-user-room",
    "scale-logout",
    "scale-online",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// `Some` when `name` is a probe of this module: whether `params` suit it.
pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    PROBES
        .contains(&name)
        .then(|| parse::<NoParams>(params).map(drop))
}

/// `Some` when `name` is a probe of this module: its verdict.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    if !PROBES.contains(&name) {
        return None;
    }
    if let Err(err) = parse::<NoParams>(params) {
        return Some(Err(params_error(name)(err)));
    }
    let (a, b) = match (ctx.instance(0), ctx.instance(1)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(failure), _) | (_, Err(failure)) => return Some(Err(failure)),
    };
    let pair = Pair { a, b };
    Some(match name {
        "scale-chat" => chat(&pair).await,
        "scale-user-room" => user_room(&pair).await,
        "scale-logout" => logout(&pair).await,
        _ => online(&pair).await,
    })
}

/// The two processes of the server under test.
struct Pair {
    a: Ctx,
    b: Ctx,
}

impl Pair {
    /// Writes where the scene's people log in and connect.
    fn note(&self, text: impl Into<String>) {
        self.a.transcript.note(text);
    }

    fn names(&self) -> String {
        format!(
            "instance A is 127.0.0.1:{}, instance B is 127.0.0.1:{}",
            self.a.port, self.b.port
        )
    }
}

/// The letter of the instance `ctx` talks to.
fn letter(ctx: &Ctx) -> char {
    let index = ctx.instances.iter().position(|&p| p == ctx.port);
    super::instance_letter(index.unwrap_or(0))
}

/// What to check first when a cookie from one process is refused by the other.
const SHARED_SESSIONS: &str = "Both processes must read sessions from the same store (the \
    MongoDB in MONGO_URI, as since stage 09, never a store in memory) and check cookies with \
    the same key (from SESSION_SECRET, never a random one per process).";

/// What a cross-process broadcast needs.
const ADAPTER: &str = "Install socketioxide's Redis adapter on the builder \
    (`SocketIo::builder().with_adapter::<RedisAdapter<Emitter>>(adapter)`, the adapter made \
    from a client of REDIS_URL speaking RESP3): rooms and broadcasts then reach the sockets \
    of every process, not only those of the one that emits.";

/// A socket of a logged-in browser on the instance `ctx` talks to, once that instance
/// has announced it (its connection handler has run). Refused means the session did not
/// cross from where the browser logged in.
async fn join_on(ctx: &Ctx, who: &str, browser: &Browser, logged_in_on: &Ctx) -> Step<SioClient> {
    let quiet = Quiet::new(ctx);
    let cookie = browser.cookie();
    let answer = attempt(&quiet.0, who, cookie.as_deref()).await?;
    let where_ = ctx.instance_name();
    match answer {
        Answer::Accepted(client) => {
            let mut client = *client;
            client.await_any(&["user"], EVENT_WAIT).await?;
            ctx.transcript
                .note(format!("{who} connected to instance {where_}"));
            Ok(client)
        }
        refusal => {
            let crossed = if ctx.port == logged_in_on.port {
                "the same instance".to_string()
            } else {
                format!("instance {}", logged_in_on.instance_name())
            };
            let why = if ctx.port == logged_in_on.port {
                "The connect middleware should let in every session that holds a user."
            } else {
                SHARED_SESSIONS
            };
            Err(Failure::new(format!(
                "{who} logged in through {crossed}, then opened a socket on instance \
                 {where_} with that cookie, and was refused: {}. {why}",
                refusal.describe("/")
            ))
            .expected(format!("{who} ← 40{{\"sid\":…}} from instance {where_}")))
        }
    }
}

/// `client` must receive `event` with `expected` as its first argument, sent from the
/// other instance. Other events of that name (a line of its own coming back, an
/// earlier message) are passed over.
async fn expect_across(
    client: &mut SioClient,
    on: &Ctx,
    event: &str,
    expected: &Value,
    what: &str,
    fix: &str,
) -> Step<()> {
    let who = client.who.clone();
    let shown = format!(
        "{who} ← 42[\"{event}\",{expected}] on instance {}",
        on.instance_name()
    );
    let deadline = tokio::time::Instant::now() + EVENT_WAIT;
    let mut others = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.expect_event(event, left).await {
            Ok(args) if &first(&args) == expected => break,
            Ok(args) => others.push(first(&args).to_string()),
            // Not the failure's own words: they list the other events received, whose
            // order between the two processes' announcements varies from run to run.
            Err(_) => {
                let got = if others.is_empty() {
                    format!("no {event:?} arrived.")
                } else {
                    format!("it got only {}.", others.join(", "))
                };
                return Err(Failure::new(format!(
                    "{what}, and {who}, connected to instance {}, did not get it within \
                     {}: {got} {fix}",
                    on.instance_name(),
                    super::lines::seconds(EVENT_WAIT)
                ))
                .expected(shown));
            }
        }
    }
    on.transcript
        .note(format!("{who} (on {}) got {event:?}", letter(on)));
    Ok(())
}

/// A cookie set by one process opens a socket on the other, and a chat line sent on
/// either process reaches the sockets of both.
async fn chat(pair: &Pair) -> Step<()> {
    let Pair { a, b } = pair;
    pair.note(format!(
        "two processes of your server share one database and one Redis: {}",
        pair.names()
    ));
    let mut ada_browser = Browser::new("ada");
    ada_browser.register(a, "ada", ADA_PASSWORD).await?;
    let mut grace_browser = Browser::new("grace");
    grace_browser.register(b, "grace", GRACE_PASSWORD).await?;
    pair.note("ada registered through A, grace through B");
    let mut ada = join_on(b, "ada", &ada_browser, a).await?;
    let mut grace = join_on(a, "grace", &grace_browser, b).await?;

    let line = "hello from instance B";
    let answer = ada
        .emit_with_ack("chat message", vec![json!(line)], EVENT_WAIT)
        .await?;
    pair.note(format!(
        "ada (on B) sent the chat message {line:?}; its ack was {}",
        first(&answer)
    ));
    let expected = json!({ "name": "ada", "message": line });
    expect_across(
        &mut grace,
        a,
        "chat message",
        &expected,
        "ada sent a chat message on instance B",
        ADAPTER,
    )
    .await?;
    let line = "and hello from instance A";
    grace
        .emit_with_ack("chat message", vec![json!(line)], EVENT_WAIT)
        .await?;
    pair.note(format!("grace (on A) sent the chat message {line:?}"));
    let expected = json!({ "name": "grace", "message": line });
    expect_across(
        &mut ada,
        b,
        "chat message",
        &expected,
        "grace sent a chat message on instance A",
        ADAPTER,
    )
    .await?;
    leave(vec![grace, ada]).await;
    Ok(())
}

/// A private message to ada (the room `user:{id}`) reaches her sockets on both
/// processes, and no one else's.
async fn user_room(pair: &Pair) -> Step<()> {
    let Pair { a, b } = pair;
    pair.note(format!(
        "two processes of your server share one database and one Redis: {}",
        pair.names()
    ));
    let mut laptop = Browser::new("ada");
    laptop.register(a, "ada", ADA_PASSWORD).await?;
    let mut phone = Browser::new("ada-phone");
    phone.log_in(b, "ada", ADA_PASSWORD).await?;
    let mut grace_browser = Browser::new("grace");
    grace_browser.register(b, "grace", GRACE_PASSWORD).await?;
    let mut linus_browser = Browser::new("linus");
    linus_browser.register(a, "linus", LINUS_PASSWORD).await?;
    pair.note("ada logged in through A on her laptop and through B on her phone");
    let mut ada_laptop = join_on(a, "ada-laptop", &laptop, a).await?;
    let mut ada_phone = join_on(b, "ada-phone", &phone, b).await?;
    let mut grace = join_on(b, "grace", &grace_browser, b).await?;
    let mut linus = join_on(a, "linus", &linus_browser, a).await?;

    let text = "hello ada, from grace on B";
    let answer = grace
        .emit_with_ack(
            "private message",
            vec![json!({ "to": "ada", "text": text })],
            EVENT_WAIT,
        )
        .await?;
    if first(&answer).get("ok") != Some(&json!(true)) {
        return Err(Failure::new(format!(
            "grace (on instance {}) sent ada a private message and the acknowledgement \
             was {}: ada exists and is online.",
            b.instance_name(),
            first(&answer)
        ))
        .expected(r#"grace ← 430[{"ok":true}]"#));
    }
    pair.note("grace (on B) sent ada a private message; its ack said ok");
    let sent = json!({ "from": "grace", "text": text });
    let what = "grace, on instance B, sent ada a private message (to the room `user:{id}` of ada)";
    let fix = format!(
        "Every socket of ada joins `user:{{id}}`, whichever process it reached; a \
         broadcast to that room reaches the other process only through the adapter. {ADAPTER}"
    );
    expect_across(&mut ada_phone, b, "private message", &sent, what, &fix).await?;
    expect_across(&mut ada_laptop, a, "private message", &sent, what, &fix).await?;
    if linus
        .maybe_event("private message", SILENCE_WAIT)
        .await?
        .is_some()
    {
        return Err(Failure::new(format!(
            "linus (on instance {}) got grace's private message to ada: it went to \
             everyone. Send it to the recipient's room only.",
            a.instance_name()
        ))
        .expected("linus gets nothing"));
    }
    pair.note("linus (on A) got nothing");

    let text = "hello grace, from linus on A";
    linus
        .emit_with_ack(
            "private message",
            vec![json!({ "to": "grace", "text": text })],
            EVENT_WAIT,
        )
        .await?;
    pair.note("linus (on A) sent grace a private message");
    let sent = json!({ "from": "linus", "text": text });
    let what = "linus, on instance A, sent grace a private message";
    expect_across(&mut grace, b, "private message", &sent, what, &fix).await?;
    leave(vec![linus, grace, ada_phone, ada_laptop]).await;
    Ok(())
}

/// A logout through A disconnects the session's sockets on both processes, and not the
/// sockets of ada's other session; the old cookie is refused by B.
async fn logout(pair: &Pair) -> Step<()> {
    let Pair { a, b } = pair;
    pair.note(format!(
        "two processes of your server share one database and one Redis: {}",
        pair.names()
    ));
    let mut laptop = Browser::new("ada");
    laptop.register(a, "ada", ADA_PASSWORD).await?;
    let mut phone = Browser::new("ada-phone");
    phone.log_in(b, "ada", ADA_PASSWORD).await?;
    pair.note(
        "ada has two tabs open in her laptop's browser (one session), one connected to A \
         and one to B, and her phone (another session) connected to B",
    );
    let mut tab_a = join_on(a, "ada-tab-a", &laptop, a).await?;
    let mut tab_b = join_on(b, "ada-tab-b", &laptop, a).await?;
    let mut on_phone = join_on(b, "ada-phone", &phone, b).await?;

    let old_cookie = laptop.cookie();
    let reply = laptop.post(a, "/logout", &[]).await?;
    if !reply.status.is_redirection() {
        return Err(Failure::new(format!(
            "POST /logout on instance {} answered {} instead of a redirect to /login.",
            a.instance_name(),
            super::http::status_line(reply.status)
        ))
        .expected("303 See Other, Location: /login"));
    }
    pair.note("ada logged out through A");
    for (tab, on) in [(&mut tab_a, a), (&mut tab_b, b)] {
        let gone = tab.await_any(&[], LOGOUT_WAIT).await.is_err();
        if !gone {
            let fix = if on.port == a.port {
                "Each socket joins the room `session:{id}` when it connects; at logout, \
                 note the session's id before `session.flush()` and call \
                 `io.within(format!(\"session:{id}\")).disconnect().await`."
                    .to_string()
            } else {
                format!(
                    "The logout ran on A; `io.within(format!(\"session:{{id}}\"))\
                     .disconnect()` reaches the sockets of B only through the adapter \
                     (and not with `.local()`). {ADAPTER}"
                )
            };
            return Err(Failure::new(format!(
                "ada logged out through instance {}, and {}, a tab of the same browser \
                 connected to instance {}, was still connected {} later: a logged-out \
                 browser keeps chatting. {fix}",
                a.instance_name(),
                tab.who,
                on.instance_name(),
                super::lines::seconds(LOGOUT_WAIT)
            ))
            .expected(format!(
                "{} ← 41 (DISCONNECT) from instance {}, or its connection closed",
                tab.who,
                on.instance_name()
            )));
        }
        pair.note(format!(
            "{} (on {}) was disconnected by the server",
            tab.who,
            letter(on)
        ));
    }
    if on_phone
        .emit_with_ack("whoami", vec![], EVENT_WAIT)
        .await
        .is_err()
    {
        return Err(Failure::new(format!(
            "ada logged out in her laptop's browser (through instance {}), and the socket \
             of her phone, another session, connected to instance {}, was disconnected \
             too. Disconnect the room of the session (`session:{{id}}`), not the user's.",
            a.instance_name(),
            b.instance_name()
        ))
        .expected("ada-phone stays connected"));
    }
    pair.note("ada-phone (on B) is still connected (it asked `whoami` and got its answer)");
    leave(vec![on_phone]).await;
    let quiet = Quiet::new(b);
    if let Answer::Accepted(client) = attempt(&quiet.0, "ada", old_cookie.as_deref()).await? {
        client.disconnect().await;
        return Err(Failure::new(format!(
            "After ada logged out through instance {}, the cookie her laptop had before \
             still opens a socket on instance {}. {SHARED_SESSIONS}",
            a.instance_name(),
            b.instance_name()
        ))
        .expected("a refusal: CONNECT_ERROR, or 401 on the handshake"));
    }
    pair.note("the laptop's old cookie is refused by B");
    Ok(())
}

/// `is online`, asked on one process, answers for sockets on the other.
async fn online(pair: &Pair) -> Step<()> {
    let Pair { a, b } = pair;
    pair.note(format!(
        "two processes of your server share one database and one Redis: {}",
        pair.names()
    ));
    let mut ada_browser = Browser::new("ada");
    ada_browser.register(a, "ada", ADA_PASSWORD).await?;
    let mut grace_browser = Browser::new("grace");
    grace_browser.register(b, "grace", GRACE_PASSWORD).await?;
    let mut linus_browser = Browser::new("linus");
    linus_browser.register(a, "linus", LINUS_PASSWORD).await?;
    let mut ada = join_on(a, "ada", &ada_browser, a).await?;
    let mut grace = join_on(b, "grace", &grace_browser, b).await?;

    ask(pair, &mut ada, a, "grace", true, "grace is connected to B").await?;
    ask(pair, &mut grace, b, "ada", true, "ada is connected to A").await?;
    ask(pair, &mut ada, a, "linus", false, "linus has no socket").await?;
    grace.disconnect().await;
    tokio::time::sleep(SETTLE).await;
    pair.note("grace (on B) closed her tab");
    ask(
        pair,
        &mut ada,
        a,
        "grace",
        false,
        "grace closed her only tab",
    )
    .await?;
    leave(vec![ada]).await;
    Ok(())
}

/// `client`, connected to `on`, asks `is online` about `username`; the answer must be
/// `online`.
async fn ask(
    pair: &Pair,
    client: &mut SioClient,
    on: &Ctx,
    username: &str,
    online: bool,
    why: &str,
) -> Step<()> {
    let who = client.who.clone();
    let expected = json!({ "username": username, "online": online });
    let shown = format!(
        "{who} ← 43…[{expected}] from instance {}",
        on.instance_name()
    );
    let answer = client
        .emit_with_ack("is online", vec![json!(username)], ONLINE_WAIT)
        .await
        .map_err(|f| f.expected(shown.clone()))?;
    let got = first(&answer);
    if got.get("online") != Some(&json!(online)) {
        let fix = if online {
            format!(
                "Answer from every process's rooms: `io.within(format!(\"user:{{}}\", id))\
                 .fetch_sockets().await` asks them all through the adapter, where \
                 `.sockets()` lists this process's only. {ADAPTER}"
            )
        } else {
            "Answer from the rooms, which a socket leaves when it disconnects, on \
             whichever process it was."
                .to_string()
        };
        return Err(Failure::new(format!(
            "{who}, connected to instance {}, asked `is online` about {username:?} ({why}; \
             {}) and the acknowledgement was {got}. {fix}",
            on.instance_name(),
            pair.names()
        ))
        .expected(shown));
    }
    pair.note(format!(
        "{who} (on {}) asked `is online` about {username}: {online}",
        letter(on)
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_validates() {
        for name in PROBES {
            assert!(validate(name, &toml::Table::new()).unwrap().is_ok());
        }
        assert!(validate("accounts-logout", &toml::Table::new()).is_none());
        let mut extra = toml::Table::new();
        extra.insert("x".into(), toml::Value::Integer(1));
        assert!(validate("scale-online", &extra).unwrap().is_err());
    }

    #[tokio::test]
    async fn one_instance_is_not_enough() {
        let ctx = Ctx::new(1);
        let result = run("scale-chat", &toml::Table::new(), &ctx).await.unwrap();
        let failure = result.unwrap_err();
        assert!(
            failure.reason.contains("instances = 2"),
            "{}",
            failure.reason
        );
    }
}
