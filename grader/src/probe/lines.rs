//! A line-oriented TCP client: the steps of the plain-socket probes.
//!
//! TCP carries bytes, not messages, so this client keeps its own buffer and cuts it
//! at `\n`. What it reads is bounded (a server that never sends a newline cannot make
//! it grow without end), and every read has a deadline.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Ctx, Failure, Step, Transcript, show};

/// How long a client waits to connect, and the longest line it accepts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_LINE_BYTES: usize = 1 << 20;

pub struct LineClient {
    pub name: String,
    stream: TcpStream,
    buf: Vec<u8>,
    transcript: Transcript,
}

/// What one attempt to read a line found.
enum Read {
    Line(Vec<u8>),
    Closed,
    TimedOut,
}

impl LineClient {
    pub async fn connect(ctx: &Ctx, name: &str) -> Step<LineClient> {
        let addr = ("127.0.0.1", ctx.port);
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(Failure::new(format!(
                    "{name} could not connect to 127.0.0.1:{}: {e}.",
                    ctx.port
                )));
            }
            Err(_) => {
                return Err(Failure::new(format!(
                    "{name} could not connect to 127.0.0.1:{} within {} s.",
                    ctx.port,
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        };
        ctx.transcript.note(format!("{name} connected"));
        Ok(LineClient {
            name: name.to_string(),
            stream,
            buf: Vec::new(),
            transcript: ctx.transcript.clone(),
        })
    }

    /// Sends bytes as they are (no newline added).
    pub async fn send(&mut self, data: &[u8]) -> Step<()> {
        self.transcript.sent(&self.name, data);
        self.send_unrecorded(data).await
    }

    /// Sends bytes without recording them: for probes that summarise many sends in one
    /// transcript note.
    pub async fn send_unrecorded(&mut self, data: &[u8]) -> Step<()> {
        self.stream.write_all(data).await.map_err(|e| {
            Failure::new(format!(
                "{} could not send: {e}. Did the server close the connection?",
                self.name
            ))
        })
    }

    pub async fn send_line(&mut self, line: &str) -> Step<()> {
        self.send(format!("{line}\n").as_bytes()).await
    }

    async fn read_line(&mut self, within: Duration, record: bool) -> Step<Read> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                if record {
                    self.transcript.received(&self.name, &line);
                }
                return Ok(Read::Line(line[..line.len() - 1].to_vec()));
            }
            if self.buf.len() > MAX_LINE_BYTES {
                self.transcript.received(&self.name, &self.buf);
                return Err(Failure::new(format!(
                    "{} received more than {} KiB without a newline.",
                    self.name,
                    MAX_LINE_BYTES / 1024
                )));
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ok(Read::TimedOut),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(Read::Closed),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads the next line and returns it, or fails saying what came instead.
    pub async fn next_line(&mut self, within: Duration) -> Step<Vec<u8>> {
        self.next_line_recorded(within, true).await
    }

    /// Like [`LineClient::next_line`], but leaves the line out of the transcript, for a
    /// probe that records its own summary of what arrived.
    pub async fn next_line_unrecorded(&mut self, within: Duration) -> Step<Vec<u8>> {
        self.next_line_recorded(within, false).await
    }

    async fn next_line_recorded(&mut self, within: Duration, record: bool) -> Step<Vec<u8>> {
        match self.read_line(within, record).await? {
            Read::Line(line) => Ok(line),
            Read::Closed => Err(Failure::new(format!(
                "The server closed {}'s connection{}.",
                self.name,
                self.partial_note()
            ))),
            Read::TimedOut => Err(Failure::new(format!(
                "{} waited {} for a line and received {}.",
                self.name,
                seconds(within),
                self.partial_note_or_nothing()
            ))),
        }
    }

    /// Expects exactly `expected` as the next line.
    pub async fn expect_line(&mut self, expected: &str, within: Duration) -> Step<()> {
        let want = show(format!("{expected}\n").as_bytes());
        let line = self
            .next_line(within)
            .await
            .map_err(|f| f.expected(format!("{} ← {want}", self.name)))?;
        if line == expected.as_bytes() {
            return Ok(());
        }
        let got = show(&[line.as_slice(), b"\n"].concat());
        let mut reason = format!("{} received {got} instead of {want}.", self.name);
        if line.is_empty() {
            reason.push_str(
                " An empty line is what a server sends when it forwards a read of 0 bytes.",
            );
        }
        Err(Failure::new(reason).expected(format!("{} ← {want}", self.name)))
    }

    /// Expects nothing at all to arrive for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) -> Step<()> {
        let mut chunk = [0u8; 16 * 1024];
        if self.buf.is_empty() {
            match tokio::time::timeout(quiet, self.stream.read(&mut chunk)).await {
                Err(_) | Ok(Ok(0)) | Ok(Err(_)) => return Ok(()),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        // Give a line that started arriving a moment to finish, to show it whole.
        let _ = tokio::time::timeout(Duration::from_millis(50), self.stream.read(&mut chunk))
            .await
            .map(|r| r.map(|n| self.buf.extend_from_slice(&chunk[..n])));
        self.transcript.received(&self.name, &self.buf);
        Err(Failure::new(format!(
            "{} received {} but should have received nothing.",
            self.name,
            show(&self.buf)
        ))
        .expected(format!("{}: nothing for {}", self.name, seconds(quiet))))
    }

    /// Closes the connection cleanly (FIN).
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
        self.transcript.note(format!("{} disconnected", self.name));
    }

    /// Drops the connection abruptly (RST), as a crashed client or a lost network would.
    pub fn reset(self) {
        #[allow(deprecated)] // `set_linger` blocks on close only for a non-zero linger.
        let _ = self.stream.set_linger(Some(Duration::ZERO));
        self.transcript.note(format!(
            "{} dropped the connection abruptly (reset)",
            self.name
        ));
    }

    fn partial_note(&self) -> String {
        if self.buf.is_empty() {
            String::new()
        } else {
            format!(" after sending {} without a newline", show(&self.buf))
        }
    }

    fn partial_note_or_nothing(&self) -> String {
        if self.buf.is_empty() {
            "nothing".to_string()
        } else {
            format!(
                "{} bytes without a newline: {}",
                self.buf.len(),
                show(&self.buf)
            )
        }
    }
}

pub fn seconds(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}
