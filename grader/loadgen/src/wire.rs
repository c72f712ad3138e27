//! The load generator's wire: HTTP/1.1 and WebSocket frames, written by hand on a
//! `TcpStream`.
//!
//! Why not reqwest and tokio-tungstenite, as the probes use? A bench client must cost
//! the machine far less than the server it loads, or it measures itself. Per socket this
//! keeps one stream and one buffer, no task of its own for reading, no channel, no copy
//! of a frame it only needs to glance at: a frame is parsed where it lies in the buffer.
//! It speaks only what the bench needs: requests with a small body, responses with
//! `Content-Length` or chunked bodies, unfragmented WebSocket frames of text.
//!
//! Every connection goes out from one of many loopback addresses (`127.0.0.2`, `.3`, …)
//! to the server on `127.0.0.1`: each address has its own ~28,000 ephemeral ports, so
//! the tens of thousands of short connections of a bench (and their `TIME_WAIT`) never
//! run a single address out of ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The largest response head or WebSocket frame accepted: a server that sends more is
/// answered with an error, not with unbounded memory.
const MAX_BUFFERED: usize = 1 << 20;
/// How much is read at once.
const READ_CHUNK: usize = 4096;
/// Source addresses used in turn: 127.0.0.2 to 127.0.0.251.
const SOURCES: u32 = 250;

static NEXT_SOURCE: AtomicU32 = AtomicU32::new(0);

/// A connection and what has been read from it but not yet used.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// `buf[start..end]` is unread.
    start: usize,
    end: usize,
    /// Frames are written here, then sent with one write.
    out: Vec<u8>,
    /// For WebSocket masks: a cheap generator, seeded per connection.
    mask_state: u32,
    /// Where the payload of the last text frame read lies in `buf`.
    last: std::ops::Range<usize>,
}

/// A parsed HTTP response.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// The server said `Connection: close` (or spoke HTTP/1.0): the next request needs
    /// a new connection.
    pub closes: bool,
    /// The `name=value` of each `Set-Cookie`, without its attributes.
    pub cookies: Vec<String>,
    /// The `Location` header, if any.
    pub location: Option<String>,
}

/// One WebSocket message, borrowed from the connection's buffer.
pub enum Frame<'a> {
    Text(&'a [u8]),
    /// A WebSocket ping: [`Conn::pong`] answers it (outside any `select!`, since a write
    /// cut off halfway would break the stream).
    Ping,
    /// The server closed the WebSocket (a close frame, or the TCP connection).
    Closed,
}

impl Conn {
    /// Opens a TCP connection to `127.0.0.1:port` from the next source address.
    pub async fn open(port: u16) -> io::Result<Conn> {
        let n = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed);
        let source = Ipv4Addr::new(127, 0, 0, 2 + (n % SOURCES) as u8);
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        let stream = socket
            .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await?;
        // Small packets, sent at once: latency, not throughput, is what is measured.
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
            out: Vec::with_capacity(256),
            mask_state: n.wrapping_mul(2_654_435_761) | 1,
            last: 0..0,
        })
    }

    /// Reads more bytes into the buffer; `Ok(0)` when the peer has closed.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.start > 0 && self.buf.len() - self.end < READ_CHUNK / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        if self.buf.len() - self.end < READ_CHUNK / 2 {
            if self.buf.len() >= MAX_BUFFERED {
                return Err(invalid(
                    "the server sent more than 1 MiB in one response or frame",
                ));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Sends an HTTP/1.1 request; `headers` are complete lines without the line end.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[&str],
        body: &[u8],
    ) -> io::Result<()> {
        use std::io::Write;
        self.out.clear();
        write!(
            self.out,
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )?;
        for header in headers {
            write!(self.out, "{header}\r\n")?;
        }
        if !body.is_empty() || method == "POST" {
            write!(self.out, "Content-Length: {}\r\n", body.len())?;
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(body);
        self.stream.write_all(&self.out).await
    }

    /// Reads one response. A `101 Switching Protocols` has no body: what follows its
    /// head is WebSocket frames, left in the buffer.
    pub async fn response(&mut self) -> io::Result<Response> {
        let head_len = loop {
            if let Some(i) = find(self.unread(), b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill().await? == 0 {
                return Err(closed("before a complete response"));
            }
        };
        let head = String::from_utf8_lossy(&self.unread()[..head_len]).into_owned();
        self.start += head_len;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("the response's status line is not HTTP"))?;
        let mut length = None;
        let mut chunked = false;
        let mut closes = status_line.starts_with("HTTP/1.0");
        let mut cookies = Vec::new();
        let mut location = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => closes = value.eq_ignore_ascii_case("close"),
                "set-cookie" => {
                    cookies.push(value.split(';').next().unwrap_or("").trim().to_string())
                }
                "location" => location = Some(value.to_string()),
                _ => {}
            }
        }
        let body = if status == 101 {
            Vec::new()
        } else if chunked {
            self.chunked_body().await?
        } else if let Some(length) = length {
            self.exact(length).await?
        } else {
            closes = true;
            self.until_closed().await?
        };
        Ok(Response {
            status,
            body,
            closes,
            cookies,
            location,
        })
    }

    async fn exact(&mut self, length: usize) -> io::Result<Vec<u8>> {
        if length > MAX_BUFFERED {
            return Err(invalid("a response body larger than 1 MiB"));
        }
        while self.unread().len() < length {
            if self.fill().await? == 0 {
                return Err(closed("in the middle of a response body"));
            }
        }
        let body = self.unread()[..length].to_vec();
        self.start += length;
        Ok(body)
    }

    async fn chunked_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_len = loop {
                if let Some(i) = find(self.unread(), b"\r\n") {
                    break i;
                }
                if self.fill().await? == 0 {
                    return Err(closed("in the middle of a chunked body"));
                }
            };
            let size_text = String::from_utf8_lossy(&self.unread()[..line_len]).into_owned();
            self.start += line_len + 2;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| invalid("a malformed chunk size"))?;
            if body.len() + size > MAX_BUFFERED {
                return Err(invalid("a response body larger than 1 MiB"));
            }
            // The chunk and its CRLF (after the last, empty chunk: the final CRLF).
            let chunk = self.exact(size + 2).await?;
            body.extend_from_slice(&chunk[..size]);
            if size == 0 {
                return Ok(body);
            }
        }
    }

    async fn until_closed(&mut self) -> io::Result<Vec<u8>> {
        while self.fill().await? > 0 {}
        let body = self.unread().to_vec();
        self.start = self.end;
        Ok(body)
    }

    /// Sends `payload` as one masked text frame (clients must mask, RFC 6455 5.3).
    pub async fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.push_frame(0x1, payload);
        self.stream.write_all(&self.out).await
    }

    /// Sends several text frames with one write.
    pub async fn send_texts(&mut self, payloads: &[Vec<u8>]) -> io::Result<()> {
        self.out.clear();
        for payload in payloads {
            self.push_frame(0x1, payload);
        }
        self.stream.write_all(&self.out).await
    }

    fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.out.push(0x80 | opcode);
        match payload.len() {
            n @ 0..=125 => self.out.push(0x80 | n as u8),
            n @ 126..=0xFFFF => {
                self.out.push(0x80 | 126);
                self.out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.out.push(0x80 | 127);
                self.out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        // xorshift32: masks need not be secret here, only present.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        let mask = x.to_be_bytes();
        self.out.extend_from_slice(&mask);
        self.out
            .extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    }

    /// The next text message. Pings are answered and other control frames skipped.
    pub async fn next_frame(&mut self) -> io::Result<Frame<'_>> {
        loop {
            let Some((opcode, header, length)) = self.frame_header()? else {
                if self.fill().await? == 0 {
                    return Ok(Frame::Closed);
                }
                continue;
            };
            while self.unread().len() < header + length {
                if self.fill().await? == 0 {
                    return Ok(Frame::Closed);
                }
            }
            let at = self.start + header;
            self.start = at + length;
            match opcode {
                0x1 | 0x2 => {
                    self.last = at..at + length;
                    return Ok(Frame::Text(&self.buf[at..at + length]));
                }
                0x8 => return Ok(Frame::Closed),
                0x9 => {
                    self.last = at..at + length;
                    return Ok(Frame::Ping);
                }
                0xA => {}
                0x0 => return Err(invalid("a fragmented WebSocket message")),
                other => return Err(invalid(&format!("WebSocket opcode {other:#x}"))),
            }
        }
    }

    /// Answers the ping [`next_frame`](Conn::next_frame) returned last.
    pub async fn pong(&mut self) -> io::Result<()> {
        let payload = self.last_text().to_vec();
        self.out.clear();
        self.push_frame(0xA, &payload);
        self.stream.write_all(&self.out).await
    }

    /// The payload of the text frame [`next_frame`](Conn::next_frame) returned last,
    /// until the next read.
    pub fn last_text(&self) -> &[u8] {
        &self.buf[self.last.clone()]
    }

    /// `(opcode, header length, payload length)` of the frame at the start of the
    /// buffer, once its header is complete.
    fn frame_header(&self) -> io::Result<Option<(u8, usize, usize)>> {
        let b = self.unread();
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x80 == 0 && b[0] & 0x0F != 0 {
            return Err(invalid("a fragmented WebSocket message"));
        }
        if b[1] & 0x80 != 0 {
            return Err(invalid("a masked frame from the server"));
        }
        let (header, length) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (4, u16::from_be_bytes([b[2], b[3]]) as usize),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (10, u64::from_be_bytes(n) as usize)
            }
            126 | 127 => return Ok(None),
            n => (2, n as usize),
        };
        if length > MAX_BUFFERED {
            return Err(invalid("a WebSocket frame larger than 1 MiB"));
        }
        Ok(Some((b[0] & 0x0F, header, length)))
    }

    /// Closes the TCP connection at once.
    pub async fn shutdown(mut self) {
        let _ = self.stream.shutdown().await;
    }
}

/// Where `needle` starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn closed(when: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the server closed the connection {when}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each connection with `reply`, after reading a request head.
    async fn serve(reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0; 4096];
                    let mut got = Vec::new();
                    while find(&got, b"\r\n\r\n").is_none() {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..n]);
                    }
                    s.write_all(reply).await.unwrap();
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn reads_a_content_length_body_and_a_chunked_one() {
        let port = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").await;
        let mut conn = Conn::open(port).await.unwrap();
        conn.request("GET", "/", &[], b"").await.unwrap();
        let r = conn.response().await.unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.closes),
            (200, &b"hello"[..], false)
        );

        let port =
            serve(b"HTTP/1.1 401 Unauthorized\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\n").await;
        let mut conn = Conn::open(port).await.unwrap();
        conn.request("POST", "/", &["Cookie: a=b"], b"40")
            .await
            .unwrap();
        let r = conn.response().await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (401, &b"abcde"[..]));
    }

    #[tokio::test]
    async fn reads_frames_after_a_101_and_sees_the_close() {
        // Two frames in one write with the head: a short one and one with a 16-bit length.
        static REPLY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let reply = REPLY.get_or_init(|| {
            let mut r = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n".to_vec();
            r.extend_from_slice(&[0x81, 2, b'4', b'0']);
            r.extend_from_slice(&[0x81, 126, 0, 200]);
            r.extend(std::iter::repeat_n(b'x', 200));
            r.extend_from_slice(&[0x88, 0]);
            r
        });
        let port = serve(reply).await;
        let mut conn = Conn::open(port).await.unwrap();
        conn.request("GET", "/socket.io/", &["Upgrade: websocket"], b"")
            .await
            .unwrap();
        assert_eq!(conn.response().await.unwrap().status, 101);
        assert!(matches!(
            conn.next_frame().await.unwrap(),
            Frame::Text(b"40")
        ));
        assert!(matches!(conn.next_frame().await.unwrap(), Frame::Text(t) if t.len() == 200));
        assert!(matches!(conn.next_frame().await.unwrap(), Frame::Closed));
    }

    #[test]
    fn masks_what_it_sends() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let port = serve(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
            let mut conn = Conn::open(port).await.unwrap();
            conn.push_frame(0x1, b"421[\"whoami\"]");
            let out = conn.out.clone();
            assert_eq!(out[0], 0x81);
            assert_eq!(out[1], 0x80 | 13);
            let mask = &out[2..6];
            let text: Vec<u8> = out[6..]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i & 3])
                .collect();
            assert_eq!(text, b"421[\"whoami\"]");
        });
    }
}
