//! Socket.IO for the load generator: the handshake over WebSocket and over long-polling,
//! and the few packets a bench sends and looks at, on top of [`wire`](crate::wire).
//!
//! The grader's probes have a complete client (`probe::socketio`) that keeps every
//! packet for the report. The bench keeps nothing: it classifies each packet by its
//! first bytes (`42["name"…`, `43<id>…`, `41`) and moves on, so that ten thousand
//! sockets cost the machine little besides what the server spends on them.

use std::io;
use std::time::Duration;

use crate::wire::{Conn, Frame, find};

/// Socket.IO's path, as every stage of the course serves it.
const PATH: &str = "/socket.io/?EIO=4&transport=";
/// Any key will do: the bench checks the status, not `Sec-WebSocket-Accept`.
const WS_KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

/// How a handshake ended, other than with a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server refused, as it should refuse a client without a session: an HTTP
    /// status (401, 403), or a CONNECT_ERROR `44…`.
    Refused(String),
    /// Anything else: a connection refused or reset, garbage, a timeout.
    Failed(String),
}

/// A packet as the bench sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `42["name",…]`: an event, with its name's bytes and the whole packet.
    Event { name: &'a [u8], raw: &'a [u8] },
    /// `43<id>[…]`: the acknowledgement of the client's packet `id`, and its data.
    Ack { id: u64, data: &'a [u8] },
    /// `40…`: the namespace accepted the socket.
    Connected,
    /// `44…`: the namespace refused it, with the packet's data.
    ConnectError(&'a [u8]),
    /// `41` or an Engine.IO close (`1`): the server disconnected the socket.
    Disconnect,
    /// A ping (Engine.IO's `2`, or a WebSocket ping): answer it with
    /// [`WsSocket::pong`], outside any `select!`.
    Ping,
    /// The connection closed.
    Closed,
    /// Anything else (a noop, a binary packet, another namespace's).
    Other,
}

/// Classifies one Socket.IO packet (the Engine.IO type `4` already removed).
fn socket_io(p: &[u8]) -> Packet<'_> {
    match p.first() {
        Some(b'0') => Packet::Connected,
        Some(b'1') => Packet::Disconnect,
        Some(b'2') => {
            // `2` [ack id digits] `["name", …`
            let rest = &p[1..];
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let rest = &rest[digits..];
            if rest.starts_with(b"[\"") {
                let name_end = rest[2..].iter().position(|&b| b == b'"').unwrap_or(0);
                Packet::Event {
                    name: &rest[2..2 + name_end],
                    raw: p,
                }
            } else {
                Packet::Other
            }
        }
        Some(b'3') => {
            let digits = p[1..].iter().take_while(|b| b.is_ascii_digit()).count();
            let id = std::str::from_utf8(&p[1..1 + digits])
                .ok()
                .and_then(|d| d.parse().ok());
            match id {
                Some(id) => Packet::Ack {
                    id,
                    data: &p[1 + digits..],
                },
                None => Packet::Other,
            }
        }
        Some(b'4') => Packet::ConnectError(&p[1..]),
        _ => Packet::Other,
    }
}

/// A socket on a WebSocket.
pub struct WsSocket {
    conn: Conn,
    /// Whether the last ping was a WebSocket one (else Engine.IO's).
    ws_ping: bool,
}

impl WsSocket {
    /// Opens a WebSocket with `cookie` (a whole `Cookie` header value) and connects to
    /// the default namespace. `Ok` only once the server has answered `40`.
    pub async fn connect(port: u16, cookie: Option<&str>) -> Result<WsSocket, Refusal> {
        let failed = |what: &str, e: io::Error| Refusal::Failed(format!("{what}: {e}"));
        let mut conn = Conn::open(port)
            .await
            .map_err(|e| failed("TCP connect", e))?;
        let cookie_header = cookie.map(|c| format!("Cookie: {c}"));
        let mut headers = vec![
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            WS_KEY,
        ];
        headers.extend(cookie_header.as_deref());
        conn.request("GET", &format!("{PATH}websocket"), &headers, b"")
            .await
            .map_err(|e| failed("upgrade request", e))?;
        let head = conn
            .response()
            .await
            .map_err(|e| failed("upgrade response", e))?;
        if head.status != 101 {
            return Err(http_refusal(head.status, &head.body));
        }
        let mut socket = WsSocket {
            conn,
            ws_ping: false,
        };
        // The Engine.IO open packet first; then ask for the default namespace.
        match socket.conn.next_frame().await {
            Ok(Frame::Text(t)) if t.first() == Some(&b'0') => {}
            Ok(Frame::Text(t)) => {
                return Err(Refusal::Failed(format!(
                    "expected the Engine.IO open packet, got {}",
                    show(t)
                )));
            }
            Ok(Frame::Closed | Frame::Ping) => {
                return Err(Refusal::Failed("no open packet".into()));
            }
            Err(e) => return Err(failed("open packet", e)),
        }
        socket.send(b"0").await.map_err(|e| failed("CONNECT", e))?;
        loop {
            match socket
                .next()
                .await
                .map_err(|e| failed("CONNECT answer", e))?
            {
                Packet::Connected => return Ok(socket),
                Packet::ConnectError(data) => {
                    return Err(Refusal::Refused(format!("CONNECT_ERROR {}", show(data))));
                }
                Packet::Disconnect | Packet::Closed => {
                    return Err(Refusal::Refused("closed at CONNECT".into()));
                }
                Packet::Ping => socket.pong().await.map_err(|e| failed("pong", e))?,
                _ => {}
            }
        }
    }

    /// Sends one Socket.IO packet (`2[…]` an event, `21[…]` one with ack id 1) as an
    /// Engine.IO message (which adds the `4`).
    pub async fn send(&mut self, socket_io_packet: &[u8]) -> io::Result<()> {
        let mut payload = Vec::with_capacity(socket_io_packet.len() + 1);
        payload.push(b'4');
        payload.extend_from_slice(socket_io_packet);
        self.conn.send_text(&payload).await
    }

    /// Sends several Socket.IO packets with one write.
    pub async fn send_many(&mut self, socket_io_packets: &[Vec<u8>]) -> io::Result<()> {
        let payloads: Vec<Vec<u8>> = socket_io_packets
            .iter()
            .map(|p| [b"4".as_slice(), p].concat())
            .collect();
        self.conn.send_texts(&payloads).await
    }

    /// The next packet. It only reads, so it may be cancelled (in a `select!`) without
    /// harm; a [`Packet::Ping`] must then be answered with [`pong`](WsSocket::pong).
    pub async fn next(&mut self) -> io::Result<Packet<'_>> {
        loop {
            let kind = match self.conn.next_frame().await? {
                Frame::Closed => return Ok(Packet::Closed),
                Frame::Ping => {
                    self.ws_ping = true;
                    return Ok(Packet::Ping);
                }
                Frame::Text(t) => t.first().copied(),
            };
            match kind {
                Some(b'2') => {
                    self.ws_ping = false;
                    return Ok(Packet::Ping);
                }
                Some(b'1') => return Ok(Packet::Disconnect),
                Some(b'4') => break,
                _ => {}
            }
        }
        // The frame is still the last one read: look at it again without reading.
        Ok(socket_io(&self.conn.last_text()[1..]))
    }

    /// Answers the last [`Packet::Ping`].
    pub async fn pong(&mut self) -> io::Result<()> {
        if self.ws_ping {
            self.conn.pong().await
        } else {
            self.conn.send_text(b"3").await
        }
    }

    pub async fn close(self) {
        self.conn.shutdown().await;
    }
}

/// A socket on long-polling, kept only long enough to count as connected.
pub struct PollSocket {
    conn: Conn,
    sid: String,
    cookie: Option<String>,
    port: u16,
}

impl PollSocket {
    /// The Engine.IO handshake (GET), CONNECT (POST `40`), then GETs until `40` or
    /// `44` arrives, on one keep-alive connection.
    pub async fn connect(port: u16, cookie: Option<&str>) -> Result<PollSocket, Refusal> {
        let failed = |what: &str, e: io::Error| Refusal::Failed(format!("{what}: {e}"));
        let mut conn = Conn::open(port)
            .await
            .map_err(|e| failed("TCP connect", e))?;
        let cookie_header = cookie.map(|c| format!("Cookie: {c}"));
        let headers: Vec<&str> = cookie_header.iter().map(String::as_str).collect();
        conn.request("GET", &format!("{PATH}polling"), &headers, b"")
            .await
            .map_err(|e| failed("handshake", e))?;
        let open = conn.response().await.map_err(|e| failed("handshake", e))?;
        if open.status != 200 {
            return Err(http_refusal(open.status, &open.body));
        }
        let sid = sid_of(&open.body).ok_or_else(|| {
            Refusal::Failed(format!(
                "no sid in the handshake's answer {}",
                show(&open.body)
            ))
        })?;
        let mut socket = PollSocket {
            conn,
            sid,
            cookie: cookie.map(str::to_string),
            port,
        };
        let posted = socket.post(b"40").await.map_err(|e| failed("CONNECT", e))?;
        if posted.status != 200 {
            return Err(http_refusal(posted.status, &posted.body));
        }
        for _ in 0..10 {
            let got = socket
                .get()
                .await
                .map_err(|e| failed("CONNECT answer", e))?;
            if got.status != 200 {
                return Err(http_refusal(got.status, &got.body));
            }
            let mut pong = false;
            for packet in got.body.split(|&b| b == 0x1e) {
                match packet {
                    [b'4', b'0', ..] => return Ok(socket),
                    [b'4', b'4', data @ ..] => {
                        return Err(Refusal::Refused(format!("CONNECT_ERROR {}", show(data))));
                    }
                    [b'1', ..] | [b'4', b'1', ..] => {
                        return Err(Refusal::Refused("closed at CONNECT".into()));
                    }
                    [b'2', ..] => pong = true,
                    _ => {}
                }
            }
            if pong {
                socket.post(b"3").await.map_err(|e| failed("pong", e))?;
            }
        }
        Err(Refusal::Failed(
            "no answer to CONNECT after 10 polls".into(),
        ))
    }

    async fn get(&mut self) -> io::Result<crate::wire::Response> {
        self.exchange("GET", b"").await
    }

    async fn post(&mut self, body: &[u8]) -> io::Result<crate::wire::Response> {
        self.exchange("POST", body).await
    }

    async fn exchange(&mut self, method: &str, body: &[u8]) -> io::Result<crate::wire::Response> {
        let target = format!("{PATH}polling&sid={}", self.sid);
        let cookie_header = self.cookie.as_ref().map(|c| format!("Cookie: {c}"));
        let mut headers: Vec<&str> = cookie_header.iter().map(String::as_str).collect();
        if method == "POST" {
            headers.push("Content-Type: text/plain;charset=UTF-8");
        }
        self.conn.request(method, &target, &headers, body).await?;
        let response = self.conn.response().await?;
        if response.closes {
            self.conn = Conn::open(self.port).await?;
        }
        Ok(response)
    }

    /// Says goodbye (an Engine.IO close), bounded: the server may have gone already.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.post(b"1")).await;
        self.conn.shutdown().await;
    }
}

/// An HTTP answer instead of a socket: 401 and 403 are how servers refuse a handshake.
fn http_refusal(status: u16, body: &[u8]) -> Refusal {
    let what = format!("HTTP {status} {}", show(body));
    match status {
        401 | 403 => Refusal::Refused(what),
        _ => Refusal::Failed(what),
    }
}

/// The `sid` of an Engine.IO open packet `0{"sid":"…",…}`.
fn sid_of(body: &[u8]) -> Option<String> {
    let at = find(body, b"\"sid\":\"")? + 7;
    let len = body[at..].iter().position(|&b| b == b'"')?;
    Some(String::from_utf8_lossy(&body[at..at + len]).into_owned())
}

/// At most 80 characters of what the server sent, for messages.
pub fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        shown.push('…');
    }
    format!("{shown:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_packets_by_their_first_bytes() {
        assert_eq!(
            socket_io(br#"2["private message",{"from":"a"}]"#),
            Packet::Event {
                name: b"private message",
                raw: br#"2["private message",{"from":"a"}]"#
            }
        );
        assert!(matches!(
            socket_io(br#"27["user count",1]"#),
            Packet::Event {
                name: b"user count",
                ..
            }
        ));
        assert_eq!(
            socket_io(br#"3123[{"id":"x"}]"#),
            Packet::Ack {
                id: 123,
                data: br#"[{"id":"x"}]"#
            }
        );
        assert_eq!(socket_io(br#"0{"sid":"abc"}"#), Packet::Connected);
        assert_eq!(
            socket_io(br#"4{"message":"no"}"#),
            Packet::ConnectError(br#"{"message":"no"}"#)
        );
        assert_eq!(socket_io(b"1"), Packet::Disconnect);
        assert_eq!(socket_io(b"2/chat,[\"x\"]"), Packet::Other);
    }

    #[test]
    fn finds_the_sid() {
        let open = br#"0{"sid":"Ab-9_x","upgrades":[],"pingInterval":25000}"#;
        assert_eq!(sid_of(open).as_deref(), Some("Ab-9_x"));
        assert_eq!(sid_of(b"0{}"), None);
    }
}
