//! Live probes: small programs that talk to a learner's running server.
//!
//! A probe is named in the catalogue (`probe = "tcp-echo"`) and given parameters. Each
//! one is built from reusable steps: connect a client, send, expect a line, expect
//! silence. Steps return [`Failure`] values that say, in a learner's words, what
//! happened; every client writes what it sent and received into a shared, bounded
//! [`Transcript`], which the report prints under a failing hint. Every wait has a
//! deadline, and "closed", "timed out" and "something else arrived" stay distinct.
//!
//! To add a probe: write it in the module of its protocol, then add it to
//! [`validate`] and [`run`] below.

pub mod accounts;
pub mod auth;
pub mod chat;
pub mod cookies;
pub mod engineio;
pub mod hardening;
pub mod http;
pub mod jwt;
pub mod lines;
pub mod lockout;
pub mod scale;
pub mod session;
pub mod sio;
pub mod socketio;
pub mod store;
pub mod tcp;
pub mod web;

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

/// Why a probe failed: one or two sentences, and what it expected to see.
#[derive(Debug, Clone)]
pub struct Failure {
    pub reason: String,
    pub expected: Option<String>,
    /// The HTTP status, when the failure is the server answering a handshake with an
    /// HTTP error: a probe of authentication counts a 401 or 403 as a refusal.
    pub http_status: Option<u16>,
}

impl Failure {
    pub fn new(reason: impl Into<String>) -> Failure {
        Failure {
            reason: reason.into(),
            expected: None,
            http_status: None,
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Failure {
        self.expected = Some(expected.into());
        self
    }
}

pub type Step<T> = std::result::Result<T, Failure>;

/// What a probe needs to reach the server and record the conversation.
pub struct Ctx {
    pub port: u16,
    /// The ports of every process of the server under test, in the order started: A,
    /// B, … (see [`Ctx::instance`]). One, `port`, unless the stage asks for more.
    pub instances: Vec<u16>,
    pub transcript: Transcript,
    /// Connections a probe let go of without closing them, kept open until the hint's
    /// verdict (and the server's output) is taken.
    pub parked: Parked,
    /// The server's own MongoDB database, for stages that have one: probes read what the
    /// server stored, and change it (an expiry moved into the past, say).
    pub db: Option<mongodb::Database>,
    restarter: Option<Restarter>,
    /// A context for another instance made by [`Ctx::instance`]: it shares the parked
    /// connections, which the context it came from closes.
    view: bool,
}

/// Stops the server under test and starts it again on the same port, with the same
/// environment; the error says why it did not come back.
pub type Restarter =
    Box<dyn Fn() -> BoxFuture<'static, std::result::Result<(), String>> + Send + Sync>;

impl Ctx {
    pub fn new(port: u16) -> Ctx {
        Ctx {
            port,
            instances: vec![port],
            transcript: Transcript::default(),
            parked: Parked::default(),
            db: None,
            restarter: None,
            view: false,
        }
    }

    /// A context whose server runs as several processes, on these ports (the first is
    /// `port`), sharing one database and one Redis.
    pub fn with_instances(mut self, ports: Vec<u16>) -> Ctx {
        if let Some(&first) = ports.first() {
            self.port = first;
            self.instances = ports;
        }
        self
    }

    /// The same probe talking to instance `index` (0 is A, 1 is B, …): the same
    /// transcript, database and parked connections; no restarts.
    pub fn instance(&self, index: usize) -> Step<Ctx> {
        let Some(&port) = self.instances.get(index) else {
            return Err(Failure::new(format!(
                "This probe talks to {} processes of your server, and the grader started {} \
                 (the stage needs `instances = {}` in grader/catalogue.toml).",
                index + 1,
                self.instances.len(),
                index + 1
            )));
        };
        Ok(Ctx {
            port,
            instances: self.instances.clone(),
            transcript: self.transcript.clone(),
            parked: self.parked.clone(),
            db: self.db.clone(),
            restarter: None,
            view: true,
        })
    }

    /// Which instance this context talks to, for messages: `A (127.0.0.1:4000)`.
    pub fn instance_name(&self) -> String {
        let index = self
            .instances
            .iter()
            .position(|&p| p == self.port)
            .unwrap_or(0);
        format!("{} (127.0.0.1:{})", instance_letter(index), self.port)
    }

    /// A context whose probes may restart the server (see [`Ctx::restart_server`]).
    pub fn with_restarter(mut self, restarter: Restarter) -> Ctx {
        self.restarter = Some(restarter);
        self
    }

    /// The server's own database, for probes of stages that keep data in MongoDB.
    pub fn database(&self) -> Step<&mongodb::Database> {
        self.db.as_ref().ok_or_else(|| {
            Failure::new(
                "This probe reads the server's MongoDB database, and the grader gave it none \
                 (the stage needs `database = true` in grader/catalogue.toml).",
            )
        })
    }

    /// Stops the server and starts it again on the same port: what the server keeps
    /// only in memory is gone, what it keeps elsewhere (and its `SESSION_SECRET`) is
    /// not. Recorded in the transcript.
    pub async fn restart_server(&self) -> Step<()> {
        let Some(restart) = &self.restarter else {
            return Err(Failure::new(
                "This probe restarts the server, and the grader gave it no way to.",
            ));
        };
        self.transcript
            .note("the grader stopped your server and started it again");
        restart().await.map_err(|why| {
            Failure::new(format!(
                "The grader restarted your server and it did not come back: {why}"
            ))
        })
    }
}

/// The tasks of Socket.IO clients a probe dropped (on a failure, say) without saying
/// goodbye. Closing them at once would make the server log its side of several
/// disconnects racing each other, differently on every run; parked, they stay
/// connected until the [`Ctx`] goes, after the server's output has been read.
#[derive(Clone, Default)]
pub struct Parked(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Parked {
    pub fn park(&self, tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tasks);
    }
}

/// The name of the instance at `index` in [`Ctx::instances`]: A, B, C, …
pub fn instance_letter(index: usize) -> char {
    (b'A' + (index % 26) as u8) as char
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.view {
            return;
        }
        for task in self
            .parked
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// Checks that `name` is a probe and `params` are parameters it accepts.
pub fn validate(name: &str, params: &toml::Table) -> Result<()> {
    match name {
        "tcp-echo" => parse::<tcp::EchoParams>(params).map(drop),
        "tcp-survives-disconnect" => parse::<tcp::NoParams>(params).map(drop),
        "tcp-broadcast" => parse::<tcp::BroadcastParams>(params).map(drop),
        "tcp-leaver" => parse::<tcp::LeaverParams>(params).map(drop),
        "tcp-whole-lines" => parse::<tcp::WholeLinesParams>(params).map(drop),
        "http-page" | "http-scripts" => parse::<web::NoParams>(params).map(drop),
        "eio-handshake" | "sio-connect" => parse::<sio::TransportParams>(params).map(drop),
        "user-count" => parse::<chat::CountParams>(params).map(drop),
        "chat-message" => parse::<chat::ChatParams>(params).map(drop),
        "user-announce" => parse::<chat::AnnounceParams>(params).map(drop),
        "session-cookie" => parse::<session::CookieParams>(params).map(drop),
        "session-name" => parse::<session::NameParams>(params).map(drop),
        "auth-refuses" => parse::<auth::RefusesParams>(params).map(drop),
        "auth-accepts" | "auth-chat-name" => parse::<auth::NoParams>(params).map(drop),
        // Stages 09–13 each keep their probes' names in their own module.
        other => store::validate(other, params)
            .or_else(|| accounts::validate(other, params))
            .or_else(|| jwt::validate(other, params))
            .or_else(|| hardening::validate(other, params))
            .or_else(|| scale::validate(other, params))
            .unwrap_or_else(|| {
                bail!("There is no probe named `{other}` (see grader/src/probe/mod.rs)")
            }),
    }
}

/// Runs probe `name` against the server in `ctx`.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Step<()> {
    let params_error =
        |e: anyhow::Error| Failure::new(format!("Bad parameters for probe `{name}`: {e:#}"));
    match name {
        "tcp-echo" => tcp::echo(ctx, parse(params).map_err(params_error)?).await,
        "tcp-survives-disconnect" => tcp::survives_disconnect(ctx).await,
        "tcp-broadcast" => tcp::broadcast(ctx, parse(params).map_err(params_error)?).await,
        "tcp-leaver" => tcp::leaver(ctx, parse(params).map_err(params_error)?).await,
        "tcp-whole-lines" => tcp::whole_lines(ctx, parse(params).map_err(params_error)?).await,
        "http-page" => web::page(ctx).await,
        "http-scripts" => web::scripts(ctx).await,
        "eio-handshake" => sio::handshake(ctx, parse(params).map_err(params_error)?).await,
        "sio-connect" => sio::connect(ctx, parse(params).map_err(params_error)?).await,
        "user-count" => chat::user_count(ctx, parse(params).map_err(params_error)?).await,
        "chat-message" => chat::chat_message(ctx, parse(params).map_err(params_error)?).await,
        "user-announce" => chat::user_announce(ctx, parse(params).map_err(params_error)?).await,
        "session-cookie" => session::sets_cookie(ctx, parse(params).map_err(params_error)?).await,
        "session-name" => session::name(ctx, parse(params).map_err(params_error)?).await,
        "auth-refuses" => auth::refuses(ctx, parse(params).map_err(params_error)?).await,
        "auth-accepts" => auth::accepts(ctx, parse(params).map_err(params_error)?).await,
        "auth-chat-name" => auth::chat_name(ctx, parse(params).map_err(params_error)?).await,
        other => {
            if let Some(result) = store::run(other, params, ctx).await {
                return result;
            }
            if let Some(result) = accounts::run(other, params, ctx).await {
                return result;
            }
            if let Some(result) = jwt::run(other, params, ctx).await {
                return result;
            }
            if let Some(result) = hardening::run(other, params, ctx).await {
                return result;
            }
            if let Some(result) = scale::run(other, params, ctx).await {
                return result;
            }
            Err(Failure::new(format!("There is no probe named `{other}`.")))
        }
    }
}

/// Turns a bad `params` table into the failure every probe reports for it.
pub fn params_error(name: &str) -> impl Fn(anyhow::Error) -> Failure + '_ {
    move |e| Failure::new(format!("Bad parameters for probe `{name}`: {e:#}"))
}

pub fn parse<P: DeserializeOwned>(params: &toml::Table) -> Result<P> {
    Ok(toml::Value::Table(params.clone()).try_into()?)
}

/// The conversation of one probe, in order, bounded in entries and in length.
#[derive(Clone, Default)]
pub struct Transcript(Arc<Mutex<Vec<String>>>);

/// Entries kept, and characters shown of one message.
const MAX_ENTRIES: usize = 60;
const MAX_SHOWN: usize = 80;
/// Characters shown of one text packet (JSON payloads need a little more room).
const MAX_SHOWN_PACKET: usize = 120;

impl Transcript {
    /// A text packet sent, shown as it went over the wire (control characters escaped).
    pub fn sent_packet(&self, who: &str, packet: &str) {
        self.push_line(format!("{who} → {}", show_packet(packet)));
    }

    /// A text packet received.
    pub fn received_packet(&self, who: &str, packet: &str) {
        self.push_line(format!("{who} ← {}", show_packet(packet)));
    }

    /// A shell command that repeats a request by hand (`curl …`); only the first one is
    /// kept, since it is there to help the learner start exploring, not to log.
    pub fn command(&self, command: &str) {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.iter().any(|e| e.starts_with("  $ ")) {
            return;
        }
        drop(entries);
        self.push_line(format!("  $ {command}"));
    }

    pub fn sent(&self, who: &str, data: &[u8]) {
        self.push_line(format!("{who} → {}", show(data)));
    }

    pub fn received(&self, who: &str, data: &[u8]) {
        self.push_line(format!("{who} ← {}", show(data)));
    }

    pub fn note(&self, text: impl Into<String>) {
        self.push_line(format!("  ({})", text.into()));
    }

    /// Any entry, written as it is.
    pub fn push_line(&self, entry: String) {
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() < MAX_ENTRIES {
            entries.push(entry);
        } else if entries.len() == MAX_ENTRIES {
            entries.push("  (… the rest of the conversation is not shown)".to_string());
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Shows bytes as a quoted string with escapes, cut to a readable length.
pub fn show(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let count = text.chars().count();
    if count <= MAX_SHOWN {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_SHOWN - 20).collect();
        let tail: String = text.chars().skip(count - 12).collect();
        format!("{head:?} … {tail:?} ({} bytes)", data.len())
    }
}

/// Shows a text packet as it is, with control characters escaped and a long one cut.
pub fn show_packet(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| {
            let escape = c.is_control() || c == '\\';
            let shown: Vec<char> = if escape {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            shown
        })
        .collect();
    let count = escaped.chars().count();
    if count <= MAX_SHOWN_PACKET {
        escaped
    } else {
        let head: String = escaped.chars().take(MAX_SHOWN_PACKET - 20).collect();
        let tail: String = escaped.chars().skip(count - 12).collect();
        format!("{head} … {tail} ({} bytes)", text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_escapes_and_cuts() {
        assert_eq!(show(b"hi\n"), r#""hi\n""#);
        let long = vec![b'a'; 1000];
        let shown = show(&long);
        assert!(shown.ends_with("(1000 bytes)"), "{shown}");
        assert!(shown.len() < 120);
    }

    #[tokio::test]
    async fn instances_are_named_and_views_leave_parked_connections_alone() {
        let ctx = Ctx::new(4000).with_instances(vec![4000, 4001]);
        assert_eq!(ctx.instance_name(), "A (127.0.0.1:4000)");
        let b = ctx.instance(1).unwrap();
        assert_eq!(b.instance_name(), "B (127.0.0.1:4001)");
        assert!(ctx.instance(2).is_err());
        // The view shares the parked connections; only the context it came from closes
        // them.
        b.parked.park([tokio::spawn(std::future::pending())]);
        drop(b);
        assert_eq!(ctx.parked.0.lock().unwrap().len(), 1);
        drop(ctx);
    }

    #[test]
    fn transcript_is_bounded() {
        let t = Transcript::default();
        for _ in 0..100 {
            t.sent("client 1", b"x");
        }
        assert_eq!(t.lines().len(), MAX_ENTRIES + 1);
    }
}
