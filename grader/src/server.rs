//! Running a learner's server for live hints.
//!
//! The server gets a free loopback port in `PORT` (never a fixed port: two gradings at
//! once must not collide), its own process group, and pipes for its output. The grader
//! then waits, bounded, until the port is in the LISTEN state, reading the kernel's
//! socket table rather than connecting, so a chat server never sees a phantom client.
//! It notices an early exit, and when the server listens on some other port it says
//! which, because "ignored `PORT`" is the most common reason a server "never listens".
//!
//! Output is drained continuously (a server that floods its output must not block on a
//! full pipe) but only the last lines are kept, each cut to a bounded length.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;

use crate::outcome::OutputTail;
use crate::process::{self, Group};

/// Lines of output kept, and the longest line kept whole.
const KEEP_LINES: usize = 15;
/// How many ports a server may listen on besides its own (none of the course's servers
/// needs another) before the grader stops it as one that takes every port it can.
const MAX_OTHER_PORTS: usize = 16;
const MAX_LINE: usize = 240;
/// How long a server gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// The environment variable the course's servers read their session-signing key from.
pub const SESSION_SECRET_VAR: &str = "SESSION_SECRET";

/// The key every graded server gets. It is no secret (the grader's sources are
/// public), and need not be: graded servers live on loopback for a few seconds. What
/// matters is that a restarted server gets the same one, as a deployed server would,
/// so that a cookie it signed before the restart still passes its signature check.
pub const SESSION_SECRET: &str =
    "the-grader-signs-cookies-with-this-key-so-they-survive-a-restart-of-the-server-0123456789";

/// The environment variable stage 11's servers read their token-signing key from, and
/// the key every graded server gets: fixed for the same reason as `SESSION_SECRET`, and
/// known to the probes, which sign tokens of their own with it (an expired one, say).
pub const JWT_SECRET_VAR: &str = "JWT_SECRET";
pub const JWT_SECRET: &str = "the-grader-signs-tokens-with-this-key-too-0123456789abcdef";

/// The environment variable stage 12's servers read to know that the site is served
/// over https, so that their session cookie gets `Secure`. Every graded server is told
/// so: a server's switch can only be checked when it is turned on, and the grader's
/// clients send cookies back over plain http all the same, as browsers do not.
pub const COOKIE_SECURE_VAR: &str = "COOKIE_SECURE";

/// See [`Server::settle`].
const SETTLE_MIN: Duration = Duration::from_millis(150);
const SETTLE_QUIET: Duration = Duration::from_millis(250);
const SETTLE_MAX: Duration = Duration::from_millis(1500);

pub struct Server {
    child: tokio::process::Child,
    group: Group,
    pub port: u16,
    output: Arc<Mutex<OutputLog>>,
    readers: Vec<JoinHandle<()>>,
}

/// How one try at starting a server failed.
enum Started {
    /// It exited before listening while another process held its port.
    PortTaken(StartFailure),
    Failed(StartFailure),
}

impl Started {
    fn into_failure(self) -> StartFailure {
        match self {
            Started::PortTaken(f) | Started::Failed(f) => f,
        }
    }
}

/// Why a server could not be brought up, with what it printed.
#[derive(Debug)]
pub struct StartFailure {
    pub reason: String,
    pub output: OutputTail,
}

impl Server {
    /// Starts `exe` in `dir` with `PORT=port` (a free port when `None`), the grader's
    /// `SESSION_SECRET` and `env`, and waits until it listens. Probes that restart a
    /// server use the same port again, so the cookies and URLs they hold still point at
    /// it.
    pub async fn start(
        exe: &Path,
        dir: &Path,
        port: Option<u16>,
        env: &[(String, String)],
        listen_timeout: Duration,
    ) -> Result<Server, StartFailure> {
        let Some(port) = port else {
            // A free port is free when the grader looks, not necessarily when the server
            // binds it a moment later: another server started at the same time (a class,
            // the self-test) may take it first. Then this one cannot listen, and gets
            // another port; a server that fails for any other reason is not retried.
            let mut attempts = 0;
            loop {
                attempts += 1;
                let port = free_port().map_err(|e| StartFailure {
                    reason: format!("The grader could not find a free port: {e}"),
                    output: OutputTail::default(),
                })?;
                match Server::start_once(exe, dir, port, env, listen_timeout).await {
                    Err(Started::PortTaken(_)) if attempts < 3 => continue,
                    result => return result.map_err(Started::into_failure),
                }
            }
        };
        Server::start_once(exe, dir, port, env, listen_timeout)
            .await
            .map_err(Started::into_failure)
    }

    async fn start_once(
        exe: &Path,
        dir: &Path,
        port: u16,
        env: &[(String, String)],
        listen_timeout: Duration,
    ) -> Result<Server, Started> {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.current_dir(dir)
            .env("PORT", port.to_string())
            .env(SESSION_SECRET_VAR, SESSION_SECRET)
            .env(JWT_SECRET_VAR, JWT_SECRET)
            .env(COOKIE_SECURE_VAR, "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut child, group) = process::spawn(&mut cmd).map_err(|e| {
            Started::Failed(StartFailure {
                reason: format!("Could not start {}: {e}", exe.display()),
                output: OutputTail::default(),
            })
        })?;
        let output = Arc::new(Mutex::new(OutputLog::default()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(drain(out, STDOUT, output.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(drain(err, STDERR, output.clone())));
        }
        let mut server = Server {
            child,
            group,
            port,
            output,
            readers,
        };
        match server.wait_listening(listen_timeout).await {
            Ok(()) => Ok(server),
            Err((reason, taken)) => {
                let output = server.stop().await;
                let failure = StartFailure { reason, output };
                Err(if taken {
                    Started::PortTaken(failure)
                } else {
                    Started::Failed(failure)
                })
            }
        }
    }

    /// Waits until the server's own process listens on its port. The error says why
    /// not, and whether another process held the port meanwhile (then the server most
    /// likely could not bind it, and another port may do).
    async fn wait_listening(&mut self, timeout: Duration) -> Result<(), (String, bool)> {
        let started = Instant::now();
        let pid = self.child.id().unwrap_or(0);
        let mut taken = false;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err((
                    format!(
                        "Your server exited before it listened ({}). Its last output is below.",
                        describe_exit(status)
                    ),
                    taken,
                ));
            }
            let listening = listening_ports();
            let on_port: Vec<&Listening> =
                listening.iter().filter(|l| l.port == self.port).collect();
            if !on_port.is_empty() {
                // Someone listens there: this server, or another program that took the
                // port first (a socket of ours is among the process's own).
                let own = sockets_of(pid);
                if on_port.iter().any(|l| own.contains(&l.inode)) {
                    // A server listens on its port; one that holds many more takes
                    // ports other programs need.
                    let others = listening
                        .iter()
                        .filter(|l| l.port != self.port && own.contains(&l.inode))
                        .count();
                    if others > MAX_OTHER_PORTS {
                        return Err((
                            format!(
                                "Your server listens on {others} other ports besides \
                                 127.0.0.1:{}, and so takes ports that other programs need: \
                                 listen on the port in PORT only.",
                                self.port
                            ),
                            false,
                        ));
                    }
                    return Ok(());
                }
                taken = true;
            }
            if started.elapsed() >= timeout {
                let own = sockets_of(pid);
                let elsewhere: Vec<String> = listening
                    .iter()
                    .filter(|l| own.contains(&l.inode))
                    .map(|l| l.port.to_string())
                    .collect();
                let mut reason = format!(
                    "Your server did not listen on 127.0.0.1:{} (the port in PORT) within {:.0} s.",
                    self.port,
                    timeout.as_secs_f64()
                );
                if !elsewhere.is_empty() {
                    reason.push_str(&format!(
                        " It listens on port {} instead: read the port from the PORT environment \
                         variable.",
                        elsewhere.join(", ")
                    ));
                }
                return Err((reason, false));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The server's process id (its process group's leader), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// `Some(status)` if the server has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The output so far.
    pub fn output(&self) -> OutputTail {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).tail()
    }

    /// Waits for the server to finish reacting to what just happened (clients dropped,
    /// say): at least `SETTLE_MIN`, then until its output has been quiet for
    /// `SETTLE_QUIET`, at most `SETTLE_MAX` in all. On a busy machine a server logs a
    /// disconnect a few hundred milliseconds late; a fixed pause would make what a report
    /// shows depend on the machine's load.
    pub async fn settle(&mut self) {
        let start = tokio::time::Instant::now();
        tokio::time::sleep(SETTLE_MIN).await;
        let bytes = |s: &Self| {
            s.output
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .total_bytes
        };
        let (mut seen, mut quiet_since) = (bytes(self), tokio::time::Instant::now());
        while start.elapsed() < SETTLE_MAX && quiet_since.elapsed() < SETTLE_QUIET {
            if self.exited().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            let now = bytes(self);
            if now != seen {
                (seen, quiet_since) = (now, tokio::time::Instant::now());
            }
        }
    }

    /// Stops the whole process group (SIGTERM, then SIGKILL) and returns the output.
    pub async fn stop(mut self) -> OutputTail {
        self.group.signal(Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            self.group.signal(Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        // Children of the server may still hold the pipes: kill the rest of the group.
        self.group.signal(Signal::SIGKILL);
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), reader).await;
        }
        self.output()
    }
}

pub fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(s) => format!("killed by signal {}", s.as_str()),
            Err(_) => format!("killed by signal {signal}"),
        },
        _ => "it stopped".to_string(),
    }
}

/// Asks the kernel for a free loopback port. Another process could take it before the
/// server binds it; in practice the kernel does not hand it out again so soon.
/// A loopback port nobody listens on right now (for servers the grader starts).
pub(crate) fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Which pipe a chunk came from. Each pipe keeps its own unfinished line, so a line
/// written in pieces (Rust's stderr is unbuffered) is never spliced with the other's.
const STDOUT: usize = 0;
const STDERR: usize = 1;

#[derive(Default)]
struct OutputLog {
    lines: VecDeque<String>,
    partial: [Vec<u8>; 2],
    total_lines: u64,
    total_bytes: u64,
}

impl OutputLog {
    fn push(&mut self, stream: usize, bytes: &[u8]) {
        self.total_bytes += bytes.len() as u64;
        for &b in bytes {
            if b == b'\n' {
                self.end_line(stream);
            } else if self.partial[stream].len() < MAX_LINE * 4 {
                self.partial[stream].push(b);
            }
        }
    }

    fn end_line(&mut self, stream: usize) {
        let mut line = String::from_utf8_lossy(&self.partial[stream])
            .trim_end_matches('\r')
            .to_string();
        if line.chars().count() > MAX_LINE {
            line = line.chars().take(MAX_LINE).collect::<String>() + " […]";
        }
        self.partial[stream].clear();
        self.total_lines += 1;
        if self.lines.len() == KEEP_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    fn tail(&self) -> OutputTail {
        let mut lines: Vec<String> = self.lines.iter().cloned().collect();
        let mut total_lines = self.total_lines;
        for partial in self.partial.iter().filter(|p| !p.is_empty()) {
            lines.push(
                String::from_utf8_lossy(partial)
                    .chars()
                    .take(MAX_LINE)
                    .collect(),
            );
            total_lines += 1;
            if lines.len() > KEEP_LINES {
                lines.remove(0);
            }
        }
        OutputTail {
            lines,
            total_lines,
            total_bytes: self.total_bytes,
        }
    }
}

async fn drain(mut pipe: impl AsyncRead + Unpin, stream: usize, log: Arc<Mutex<OutputLog>>) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        log.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stream, &buf[..n]);
    }
}

struct Listening {
    port: u16,
    inode: u64,
}

/// Every TCP socket in the LISTEN state, from `/proc/net/tcp` and `/proc/net/tcp6`.
fn listening_ports() -> Vec<Listening> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let port = fields[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode = fields[9].parse().ok();
            if let (Some(port), Some(inode)) = (port, inode) {
                found.push(Listening { port, inode });
            }
        }
    }
    found
}

/// Socket inodes held open by process `pid`.
fn sockets_of(pid: u32) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_log_keeps_the_last_lines_bounded() {
        let mut log = OutputLog::default();
        for i in 0..100 {
            log.push(STDOUT, format!("line {i}\n").as_bytes());
        }
        log.push(STDOUT, &[b'x'; 10_000]);
        let tail = log.tail();
        assert_eq!(tail.total_lines, 101);
        assert_eq!(tail.lines.len(), KEEP_LINES);
        assert_eq!(tail.lines[KEEP_LINES - 2], "line 99");
        assert_eq!(tail.lines.last().unwrap().len(), MAX_LINE);
    }

    #[test]
    fn lines_written_in_pieces_on_two_pipes_stay_whole() {
        let mut log = OutputLog::default();
        log.push(STDERR, b"could not send ");
        log.push(STDOUT, b"grace disconnected\n");
        log.push(STDERR, b"the count\n");
        assert_eq!(
            log.tail().lines,
            ["grace disconnected", "could not send the count"]
        );
    }

    #[test]
    fn sees_a_listening_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports().iter().any(|l| l.port == port));
        let own = sockets_of(std::process::id());
        assert!(
            listening_ports()
                .iter()
                .any(|l| l.port == port && own.contains(&l.inode))
        );
    }
}
