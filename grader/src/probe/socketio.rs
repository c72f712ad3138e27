//! A Socket.IO v5 client on top of [`Engine`]: namespaces, events, acknowledgements.
//!
//! A Socket.IO packet travels inside an Engine.IO message packet (`4`) and reads
//! `<type>[<namespace>,][<ack id>][<JSON array or object>]`, with types `0` CONNECT,
//! `1` DISCONNECT, `2` EVENT, `3` ACK, `4` CONNECT_ERROR (5 and 6 are the binary forms,
//! which this course never uses). So `42["user count",2]` is "event `user count` with
//! the argument 2 on the default namespace", and `420["chat message","hi"]` asks for an
//! acknowledgement with id 0, answered by `430[…]`.
//!
//! [`SioClient`] is what probes use: connect (optionally with an `auth` payload and
//! extra headers), emit, emit and wait for the ack, expect an event, disconnect or
//! vanish. Events are read in order; one that a probe is not waiting for is kept, so a
//! later `expect` can still find it.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use super::engineio::{Engine, Transport};
use super::http::Headers;
use super::{Ctx, Failure, Step};

/// How long a client waits for the answer to its CONNECT, and for an ack.
pub const ANSWER_WAIT: Duration = Duration::from_secs(3);

/// One decoded Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    Connect {
        nsp: String,
        data: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        id: Option<u64>,
        name: String,
        args: Vec<Value>,
    },
    Ack {
        nsp: String,
        id: u64,
        args: Vec<Value>,
    },
    ConnectError {
        nsp: String,
        data: Option<Value>,
    },
}

impl Packet {
    pub fn nsp(&self) -> &str {
        match self {
            Packet::Connect { nsp, .. }
            | Packet::Disconnect { nsp }
            | Packet::Event { nsp, .. }
            | Packet::Ack { nsp, .. }
            | Packet::ConnectError { nsp, .. } => nsp,
        }
    }
}

/// Decodes the Socket.IO packet inside an Engine.IO message (without the leading `4`).
pub fn decode(text: &str) -> Result<Packet, String> {
    let mut rest = text;
    let kind = rest.chars().next().ok_or("an empty packet")?;
    rest = &rest[kind.len_utf8()..];
    if matches!(kind, '5' | '6') {
        return Err("a binary packet (type 5 or 6), which this course never uses".into());
    }
    let nsp = if rest.starts_with('/') {
        let end = rest.find(',').unwrap_or(rest.len());
        let nsp = rest[..end].to_string();
        rest = rest.get(end + 1..).unwrap_or("");
        nsp
    } else {
        "/".to_string()
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let id = if digits > 0 {
        let id = rest[..digits]
            .parse::<u64>()
            .map_err(|_| "an ack id that is too large".to_string())?;
        rest = &rest[digits..];
        Some(id)
    } else {
        None
    };
    let data: Option<Value> = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str(rest).map_err(|e| format!("its data is not JSON ({e})"))?)
    };
    match kind {
        '0' => Ok(Packet::Connect { nsp, data }),
        '1' => Ok(Packet::Disconnect { nsp }),
        '4' => Ok(Packet::ConnectError { nsp, data }),
        '2' => {
            let Some(Value::Array(mut items)) = data else {
                return Err("an EVENT whose data is not a JSON array".into());
            };
            if items.is_empty() {
                return Err("an EVENT with an empty array (no event name)".into());
            }
            let Value::String(name) = items.remove(0) else {
                return Err("an EVENT whose first element (the event name) is not a string".into());
            };
            Ok(Packet::Event {
                nsp,
                id,
                name,
                args: items,
            })
        }
        '3' => {
            let id = id.ok_or("an ACK without an id")?;
            let args = match data {
                Some(Value::Array(items)) => items,
                _ => return Err("an ACK whose data is not a JSON array".into()),
            };
            Ok(Packet::Ack { nsp, id, args })
        }
        other => Err(format!("an unknown packet type `{other}`")),
    }
}

/// Encodes a packet the client sends (the Engine.IO `4` is added by the caller).
pub fn encode(packet: &Packet) -> String {
    let prefix = |kind: char, nsp: &str| {
        if nsp == "/" {
            kind.to_string()
        } else {
            format!("{kind}{nsp},")
        }
    };
    match packet {
        Packet::Connect { nsp, data } | Packet::ConnectError { nsp, data } => {
            let kind = if matches!(packet, Packet::Connect { .. }) {
                '0'
            } else {
                '4'
            };
            let data = data.as_ref().map(Value::to_string).unwrap_or_default();
            format!("{}{data}", prefix(kind, nsp))
        }
        Packet::Disconnect { nsp } => prefix('1', nsp),
        Packet::Event {
            nsp,
            id,
            name,
            args,
        } => {
            let mut items = vec![Value::String(name.clone())];
            items.extend(args.iter().cloned());
            let id = id.map(|i| i.to_string()).unwrap_or_default();
            format!("{}{id}{}", prefix('2', nsp), Value::Array(items))
        }
        Packet::Ack { nsp, id, args } => {
            format!("{}{id}{}", prefix('3', nsp), Value::Array(args.clone()))
        }
    }
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct Options {
    pub transport: Transport,
    /// The Engine.IO path, [`super::engineio::PATH`] unless a probe tries another.
    pub path: String,
    pub nsp: String,
    pub auth: Option<Value>,
    pub headers: Headers,
}

impl Options {
    pub fn new(transport: Transport) -> Options {
        Options {
            transport,
            path: super::engineio::PATH.to_string(),
            nsp: "/".to_string(),
            auth: None,
            headers: Vec::new(),
        }
    }

    pub fn auth(mut self, auth: Value) -> Options {
        self.auth = Some(auth);
        self
    }
}

/// The server's answer to a CONNECT.
pub enum Answer {
    Accepted(Box<SioClient>),
    /// CONNECT_ERROR, with the error's `message` if it had one.
    Refused {
        message: Option<String>,
        data: Option<Value>,
    },
    /// The Engine.IO handshake request itself was answered 401 or 403: the server
    /// refused before any Socket.IO packet.
    HttpRefused {
        status: u16,
    },
}

impl Answer {
    /// How a refusal looks to the client, for messages: `its CONNECT to "/" was answered
    /// CONNECT_ERROR with the message "…"`. Meant for the refusing answers.
    pub fn describe(&self, nsp: &str) -> String {
        match self {
            Answer::Accepted(client) => format!("it was accepted (socket id {})", client.sid),
            Answer::Refused { message, data } => {
                let said = message
                    .as_ref()
                    .map(|m| format!(" with the message {m:?}"))
                    .or_else(|| data.as_ref().map(|d| format!(" with {d}")))
                    .unwrap_or_default();
                format!("its CONNECT to the namespace {nsp:?} was answered CONNECT_ERROR{said}")
            }
            Answer::HttpRefused { status } => {
                format!("its Engine.IO handshake request was answered HTTP {status}")
            }
        }
    }
}

/// A Socket.IO client connected to one namespace.
pub struct SioClient {
    pub who: String,
    pub sid: String,
    nsp: String,
    engine: Engine,
    /// Events received but not yet asked for, in arrival order.
    backlog: VecDeque<(String, Vec<Value>)>,
    next_ack: u64,
}

impl SioClient {
    /// Handshakes and connects to the namespace; a refusal is a failure.
    pub async fn connect(ctx: &Ctx, who: &str, options: &Options) -> Step<SioClient> {
        match SioClient::try_connect(ctx, who, options).await? {
            Answer::Accepted(client) => Ok(*client),
            refusal => Err(Failure::new(format!(
                "The server refused {who}'s connection: {}.",
                refusal.describe(&options.nsp)
            ))),
        }
    }

    /// Handshakes and sends CONNECT; returns whether the namespace accepted it.
    pub async fn try_connect(ctx: &Ctx, who: &str, options: &Options) -> Step<Answer> {
        let mut engine =
            match Engine::open_at(ctx, who, options.transport, &options.path, &options.headers)
                .await
            {
                Ok(engine) => engine,
                Err(Failure {
                    http_status: Some(status @ (401 | 403)),
                    ..
                }) => return Ok(Answer::HttpRefused { status }),
                Err(failure) => return Err(failure),
            };
        let connect = Packet::Connect {
            nsp: options.nsp.clone(),
            data: options.auth.clone(),
        };
        engine.send(&format!("4{}", encode(&connect))).await?;
        let deadline = tokio::time::Instant::now() + ANSWER_WAIT;
        let mut backlog = VecDeque::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(text) = engine.recv(left).await? else {
                return Err(Failure::new(format!(
                    "{who} sent CONNECT to the namespace {:?} and no answer (CONNECT or \
                     CONNECT_ERROR) came within {} s. Is a handler registered with \
                     `io.ns({:?}, …)`?",
                    options.nsp,
                    ANSWER_WAIT.as_secs(),
                    options.nsp
                ))
                .expected(format!("{who} ← 40{{\"sid\":…}}")));
            };
            match decode_message(who, &text)? {
                Packet::Connect { nsp, data } if nsp == options.nsp => {
                    let sid = data
                        .as_ref()
                        .and_then(|d| d.get("sid"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            Failure::new(format!(
                                "The CONNECT answer to {who} has no `sid`: {}.",
                                super::show_packet(&text)
                            ))
                        })?
                        .to_string();
                    return Ok(Answer::Accepted(Box::new(SioClient {
                        who: who.to_string(),
                        sid,
                        nsp,
                        engine,
                        backlog,
                        next_ack: 0,
                    })));
                }
                Packet::ConnectError { nsp, data } if nsp == options.nsp => {
                    let message = data
                        .as_ref()
                        .and_then(|d| d.get("message"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    return Ok(Answer::Refused { message, data });
                }
                // Some servers emit right after accepting; keep what arrives early.
                Packet::Event {
                    nsp, name, args, ..
                } if nsp == options.nsp => {
                    backlog.push_back((name, args));
                }
                _ => {}
            }
        }
    }

    /// The transport in use now.
    pub fn transport(&self) -> &'static str {
        self.engine.transport()
    }

    /// Emits an event with its arguments.
    pub async fn emit(&mut self, name: &str, args: Vec<Value>) -> Step<()> {
        let packet = Packet::Event {
            nsp: self.nsp.clone(),
            id: None,
            name: name.to_string(),
            args,
        };
        self.engine.send(&format!("4{}", encode(&packet))).await
    }

    /// Emits an event asking for an acknowledgement, and waits for it.
    pub async fn emit_with_ack(
        &mut self,
        name: &str,
        args: Vec<Value>,
        within: Duration,
    ) -> Step<Vec<Value>> {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = Packet::Event {
            nsp: self.nsp.clone(),
            id: Some(id),
            name: name.to_string(),
            args,
        };
        self.engine.send(&format!("4{}", encode(&packet))).await?;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(text) = self.engine.recv(left).await? else {
                return Err(Failure::new(format!(
                    "{} emitted {name:?} asking for an acknowledgement (id {id}) and none came \
                     within {}.",
                    self.who,
                    super::lines::seconds(within)
                ))
                .expected(format!("{} ← 43{id}[…]", self.who)));
            };
            match decode_message(&self.who, &text)? {
                Packet::Ack { id: got, args, .. } if got == id => return Ok(args),
                packet => self.keep(packet)?,
            }
        }
    }

    /// The next event called `name` (earlier ones first), waiting up to `within`.
    /// Events of other names that arrive meanwhile are kept for later.
    pub async fn expect_event(&mut self, name: &str, within: Duration) -> Step<Vec<Value>> {
        if let Some(pos) = self.backlog.iter().position(|(n, _)| n == name) {
            return Ok(self.backlog.remove(pos).expect("position is in range").1);
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(text) = self.engine.recv(left).await? else {
                let others: Vec<String> =
                    self.backlog.iter().map(|(n, _)| format!("{n:?}")).collect();
                let also = if others.is_empty() {
                    "nothing".to_string()
                } else {
                    format!("only {}", others.join(", "))
                };
                return Err(Failure::new(format!(
                    "{} waited {} for the event {name:?} and received {also}.",
                    self.who,
                    super::lines::seconds(within)
                )));
            };
            match decode_message(&self.who, &text)? {
                Packet::Event {
                    name: got, args, ..
                } if got == name => return Ok(args),
                packet => self.keep(packet)?,
            }
        }
    }

    /// Waits until an event with one of `names` has arrived, and leaves it for a later
    /// `expect`; false if none came within `within`. Probes use it to let a server's
    /// connection handler finish before the scene goes on, so that what each client
    /// receives, and the transcript, come in the same order on every run.
    pub async fn await_any(&mut self, names: &[&str], within: Duration) -> Step<bool> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self
                .backlog
                .iter()
                .any(|(n, _)| names.contains(&n.as_str()))
            {
                return Ok(true);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(text) = self.engine.recv(left).await? else {
                return Ok(false);
            };
            let packet = decode_message(&self.who, &text)?;
            self.keep(packet)?;
        }
    }

    /// Like [`SioClient::expect_event`], but `None` when nothing came: for events a probe
    /// only wants to drain.
    pub async fn maybe_event(&mut self, name: &str, within: Duration) -> Step<Option<Vec<Value>>> {
        match self.expect_event(name, within).await {
            Ok(args) => Ok(Some(args)),
            Err(_) if !self.engine.is_closed() => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    /// Keeps an event for later; a server DISCONNECT is a failure.
    fn keep(&mut self, packet: Packet) -> Step<()> {
        match packet {
            Packet::Event {
                nsp, name, args, ..
            } if nsp == self.nsp => {
                if self.backlog.len() < 256 {
                    self.backlog.push_back((name, args));
                }
                Ok(())
            }
            Packet::Disconnect { nsp } if nsp == self.nsp => Err(Failure::new(format!(
                "The server disconnected {} from the namespace {nsp:?}.",
                self.who
            ))),
            _ => Ok(()),
        }
    }

    /// Leaves politely: DISCONNECT from the namespace, then the Engine.IO session ends.
    pub async fn disconnect(mut self) {
        let packet = Packet::Disconnect {
            nsp: self.nsp.clone(),
        };
        let _ = self.engine.send(&format!("4{}", encode(&packet))).await;
        self.engine.close().await;
    }

    /// Goes away without a word (no DISCONNECT, no close): a tab killed, a network lost.
    pub fn vanish(self) {
        self.engine.vanish();
    }
}

/// Decodes an Engine.IO packet that must be a Socket.IO message.
fn decode_message(who: &str, text: &str) -> Step<Packet> {
    let Some(inner) = text.strip_prefix('4') else {
        return Err(Failure::new(format!(
            "{who} received {}, which is not an Engine.IO message packet (`4…`).",
            super::show_packet(text)
        )));
    };
    decode(inner).map_err(|why| {
        Failure::new(format!(
            "{who} received {}, which is not a Socket.IO packet: {why}.",
            super::show_packet(text)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_the_packets_of_the_course() {
        assert_eq!(
            decode(r#"0{"sid":"abc"}"#).unwrap(),
            Packet::Connect {
                nsp: "/".into(),
                data: Some(json!({"sid": "abc"}))
            }
        );
        assert_eq!(
            decode(r#"2["user count",2]"#).unwrap(),
            Packet::Event {
                nsp: "/".into(),
                id: None,
                name: "user count".into(),
                args: vec![json!(2)]
            }
        );
        assert_eq!(
            decode(r#"2/admin,12["x"]"#).unwrap(),
            Packet::Event {
                nsp: "/admin".into(),
                id: Some(12),
                name: "x".into(),
                args: vec![]
            }
        );
        assert_eq!(
            decode(r#"312["ok"]"#).unwrap(),
            Packet::Ack {
                nsp: "/".into(),
                id: 12,
                args: vec![json!("ok")]
            }
        );
        assert_eq!(
            decode(r#"4{"message":"Authentication error"}"#).unwrap(),
            Packet::ConnectError {
                nsp: "/".into(),
                data: Some(json!({"message": "Authentication error"}))
            }
        );
        assert_eq!(
            decode("1/chat,").unwrap(),
            Packet::Disconnect {
                nsp: "/chat".into()
            }
        );
    }

    #[test]
    fn garbage_is_named() {
        assert!(decode("").unwrap_err().contains("empty"));
        assert!(decode("2{}").unwrap_err().contains("not a JSON array"));
        assert!(decode("2[1]").unwrap_err().contains("not a string"));
        assert!(decode("9").unwrap_err().contains("unknown"));
        assert!(decode("2[oops").unwrap_err().contains("not JSON"));
        assert!(decode("51-[\"x\",{}]").unwrap_err().contains("binary"));
    }

    #[test]
    fn encodes_round_trip() {
        for packet in [
            Packet::Connect {
                nsp: "/".into(),
                data: Some(json!({"name": "ada"})),
            },
            Packet::Connect {
                nsp: "/admin".into(),
                data: None,
            },
            Packet::Event {
                nsp: "/".into(),
                id: Some(3),
                name: "chat message".into(),
                args: vec![json!("hi")],
            },
            Packet::Disconnect { nsp: "/".into() },
        ] {
            assert_eq!(decode(&encode(&packet)).unwrap(), packet);
        }
        assert_eq!(encode(&Packet::Disconnect { nsp: "/".into() }), "1");
        assert_eq!(
            encode(&Packet::Event {
                nsp: "/".into(),
                id: Some(0),
                name: "chat message".into(),
                args: vec![json!("hi")]
            }),
            r#"20["chat message","hi"]"#
        );
    }
}
