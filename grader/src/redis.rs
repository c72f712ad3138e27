//! The Redis that stage 13's two server processes talk through (socketioxide's Redis
//! adapter: pub/sub channels, no keys).
//!
//! When `REDIS_URL` is set, the grader uses that server. Otherwise it runs Debian's
//! `redis-server` (installed by `scripts/install-redis`) itself: on a free loopback port,
//! bound to 127.0.0.1, with persistence off (`--save '' --appendonly no`), in a working
//! folder of its own under the grader's scratch (`target/grader/redis/`). Like the
//! MongoDB stand-in, each server runs in a registered process group: it is killed when
//! the grader exits, on Ctrl-C too, and its folder goes with it.
//!
//! Isolation: **a fresh `redis-server` per live hint.** Redis databases (`/0`…`/15`)
//! do not separate pub/sub channels, and the adapter's channel prefix is chosen by the
//! learner's code, so neither a database number nor a key prefix could keep two
//! gradings apart; two servers graded at once (a class, the self-test) would hear each
//! other's broadcasts and answer each other's `fetch_sockets`. A private instance costs
//! a few milliseconds to start and nothing to clean (there is no data on disk). Both
//! server processes of one hint get the same `REDIS_URL`, and the instance stops when
//! the hint is done. A server's adapter does not reconnect once Redis is gone, so an
//! instance is never restarted under a running server either.
//!
//! With `REDIS_URL` the grader cannot do that: every hint gets that URL unchanged and
//! shares its channels with whatever else uses that Redis. Use a Redis of your own for
//! it, and grade one submission at a time against it.
//!
//! The grader speaks RESP itself (a few commands: `AUTH`, `PING`, `HELLO 3`, and what a
//! probe may want to ask, such as `PUBSUB NUMSUB`), over a plain `TcpStream`: no Redis
//! client crate for so little.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use crate::process::{self, Group, OwnedDir};
use crate::server::free_port;

/// The variable that points stages, tests and the grader at a Redis.
pub const REDIS_URL_VAR: &str = "REDIS_URL";
/// Names another `redis-server` executable than the one on the `PATH`.
const REDIS_SERVER_VAR: &str = "REDIS_SERVER";
/// How long a `redis-server` gets to answer a PING, and an answer takes.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest reply the grader reads (PUBSUB answers are short).
const MAX_REPLY: usize = 1 << 20;

/// Where the run's Redis servers come from.
pub struct Redis {
    source: Source,
    /// Says where Redis came from, for reports and errors.
    pub origin: String,
}

enum Source {
    /// `REDIS_URL`: one server for everything, given to every graded server unchanged.
    External { url: String },
    /// A `redis-server` of the grader's own per instance, each in a folder under `dirs`.
    Local { exe: PathBuf, dirs: PathBuf },
}

/// One Redis for one live hint: its URL, and the server when the grader started one
/// (killed, and its folder removed, when this is dropped).
pub struct Instance {
    url: String,
    port: Option<u16>,
    _server: Option<LocalServer>,
}

/// A running `redis-server`. The fields drop in order: the group is killed before its
/// folder is removed.
struct LocalServer {
    _group: Group,
    _child: tokio::process::Child,
    _dir: OwnedDir,
}

static SHARED: OnceCell<Redis> = OnceCell::const_new();
static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

/// The run's Redis, checked on first use: `REDIS_URL` answers, or a local `redis-server`
/// starts. `scratch` is the grader's scratch folder (`target/grader`).
pub async fn shared(scratch: &Path) -> Result<&'static Redis> {
    SHARED.get_or_try_init(|| Redis::start(scratch)).await
}

impl Redis {
    /// `REDIS_URL`'s Redis if it answers, else a local `redis-server` that is known to
    /// start (one was started, pinged and stopped).
    pub async fn start(scratch: &Path) -> Result<Redis> {
        match std::env::var(REDIS_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Redis::external(url.trim()).await,
            _ => {
                let redis = Redis::local(scratch)?;
                drop(redis.instance().await?);
                Ok(redis)
            }
        }
    }

    async fn external(url: &str) -> Result<Redis> {
        let target = Target::parse(url)?;
        let version = tokio::time::timeout(REPLY_TIMEOUT, check(&target))
            .await
            .unwrap_or_else(|_| bail!("nothing answered within {} s", REPLY_TIMEOUT.as_secs()))
            .with_context(|| format!("{REDIS_URL_VAR} is {url}, and no Redis answered there"))?;
        Ok(Redis {
            source: Source::External {
                url: url.to_string(),
            },
            origin: format!("the Redis {version} at {REDIS_URL_VAR}"),
        })
    }

    fn local(scratch: &Path) -> Result<Redis> {
        let exe = find_redis_server()?;
        Ok(Redis {
            origin: format!("redis-server ({}) on 127.0.0.1", exe.display()),
            source: Source::Local {
                exe,
                dirs: scratch.join("redis"),
            },
        })
    }

    /// A Redis for one hint: a fresh local server, or `REDIS_URL`'s.
    pub async fn instance(&self) -> Result<Instance> {
        match &self.source {
            Source::External { url } => Ok(Instance {
                url: url.clone(),
                port: None,
                _server: None,
            }),
            Source::Local { exe, dirs } => {
                // A free port is free when the grader looks; another grading may take it
                // before redis-server binds it. Then redis-server exits, and gets another.
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    let port = free_port().context("finding a free port for redis-server")?;
                    let dir = dirs.join(format!(
                        "{}-{}",
                        std::process::id(),
                        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
                    ));
                    match start_local(exe, port, dir).await {
                        Err(Start::PortTaken(_)) if attempts < 3 => continue,
                        Err(Start::PortTaken(e) | Start::Failed(e)) => return Err(e),
                        Ok(server) => {
                            return Ok(Instance {
                                url: format!("redis://127.0.0.1:{port}"),
                                port: Some(port),
                                _server: Some(server),
                            });
                        }
                    }
                }
            }
        }
    }
}

impl Instance {
    /// The `REDIS_URL` graded servers get.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loopback port of a server the grader started.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A connection for a probe to ask this Redis things (`PUBSUB NUMSUB`, say).
    pub async fn connect(&self) -> Result<Conn> {
        Conn::open(&Target::parse(&self.url)?).await
    }
}

/// `cargo grade redis`: a `redis-server` on `port` until Ctrl-C (which kills it, and
/// removes its folder, with every other child in `process::exit_on_interrupt`).
pub async fn foreground(scratch: &Path, port: u16) -> Result<()> {
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!(
            "127.0.0.1:{port} is taken: a Redis may be running there already (then use it as \
             it is), or choose another port with --port"
        );
    }
    let exe = find_redis_server()?;
    let started = Instant::now();
    let dir = scratch
        .join("redis")
        .join(format!("foreground-{}", std::process::id()));
    let server = match start_local(&exe, port, dir).await {
        Ok(server) => server,
        Err(Start::PortTaken(e) | Start::Failed(e)) => return Err(e),
    };
    println!(
        "Redis (redis-server, nothing saved to disk) listening on 127.0.0.1:{port}, ready in {} ms",
        started.elapsed().as_millis()
    );
    println!(
        "Servers find it at their default REDIS_URL, redis://127.0.0.1:{port}. Press Ctrl-C to \
         stop it."
    );
    let _keep = server;
    std::future::pending::<()>().await;
    Ok(())
}

/// How one try at starting `redis-server` failed.
enum Start {
    /// It exited at once, saying its port was in use.
    PortTaken(anyhow::Error),
    Failed(anyhow::Error),
}

async fn start_local(exe: &Path, port: u16, dir: PathBuf) -> Result<LocalServer, Start> {
    let dir = OwnedDir::create(dir.clone())
        .with_context(|| format!("creating redis-server's folder {}", dir.display()))
        .map_err(Start::Failed)?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        // Nothing on disk: no snapshots, no append-only file.
        .args(["--save", "", "--appendonly", "no"])
        .args(["--daemonize", "no", "--logfile", "redis.log"])
        .arg("--dir")
        .arg(dir.path())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (mut child, group) = process::spawn(&mut cmd)
        .with_context(|| {
            format!(
                "starting {}. Stage 13 needs Redis: install it with `scripts/install-redis` \
                 (once), or set {REDIS_URL_VAR} to a Redis you run.",
                exe.display()
            )
        })
        .map_err(Start::Failed)?;
    let target = Target::loopback(port);
    let started = Instant::now();
    loop {
        let answered = tokio::time::timeout(REPLY_TIMEOUT, async {
            Conn::open(&target).await?.ping().await
        })
        .await;
        if let Ok(Ok(())) = answered {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default();
            let err = anyhow::anyhow!(
                "{} exited at once ({status}); its log ends:\n{}",
                exe.display(),
                tail(&log, 10)
            );
            return Err(if log.contains("Address already in use") {
                Start::PortTaken(err)
            } else {
                Start::Failed(err)
            });
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(Start::Failed(anyhow::anyhow!(
                "{} did not answer a PING on 127.0.0.1:{port} within {} s",
                exe.display(),
                START_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(LocalServer {
        _group: group,
        _child: child,
        _dir: dir,
    })
}

/// `REDIS_SERVER`, else `redis-server` on the `PATH` (Debian puts it in /usr/bin).
fn find_redis_server() -> Result<PathBuf> {
    if let Some(exe) = std::env::var_os(REDIS_SERVER_VAR) {
        return Ok(PathBuf::from(exe));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|exe| exe.is_file())
        .with_context(|| {
            format!(
                "Stage 13 needs Redis, and there is no redis-server on the PATH: install it with \
                 `scripts/install-redis` (once; Debian's redis-server, with apt-get), or set \
                 {REDIS_URL_VAR} to a Redis you run."
            )
        })
}

/// PING, then `HELLO 3`: the adapter's Redis client speaks RESP3, which Redis has had
/// since version 6. Returns the server's version.
async fn check(target: &Target) -> Result<String> {
    let mut conn = Conn::open(target).await?;
    conn.ping().await?;
    match conn.command(&["HELLO", "3"]).await? {
        Reply::Error(e) => bail!(
            "it answered HELLO 3 with `{e}`: the Socket.IO Redis adapter needs RESP3, \
             which is Redis 6 or newer"
        ),
        reply => Ok(reply
            .field("version")
            .and_then(Reply::text)
            .unwrap_or_else(|| "(version unknown)".into())),
    }
}

/// Where a `redis://` URL points, and who to log in as.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl Target {
    fn loopback(port: u16) -> Target {
        Target {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
        }
    }

    /// `redis://[[user]:password@]host[:port][/db][?query]`; the database and the query
    /// do not matter to a PING.
    fn parse(url: &str) -> Result<Target> {
        let Some(rest) = url.strip_prefix("redis://") else {
            bail!(
                "{REDIS_URL_VAR}={url} is not a redis://host:port URL (the grader reaches Redis \
                 over plain TCP: no rediss:// or unix sockets)"
            );
        };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .with_context(|| format!("{REDIS_URL_VAR}={url} has an unclosed `[`"))?;
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        let port = match port {
            None | Some("") => 6379,
            Some(p) => p
                .parse()
                .with_context(|| format!("{REDIS_URL_VAR}={url} has no valid port"))?,
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, password)) => (
                    Some(percent_decode(user)).filter(|u| !u.is_empty()),
                    Some(percent_decode(password)),
                ),
                None => (Some(percent_decode(info)).filter(|u| !u.is_empty()), None),
            },
        };
        Ok(Target {
            host: if host.is_empty() { "127.0.0.1" } else { host }.to_string(),
            port,
            username,
            password,
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One reply, RESP2 or RESP3. RESP3's maps, sets and pushes read as arrays (a map's keys
/// and values alternate), its booleans as integers, its doubles and big numbers as text.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Array(Vec<Reply>),
    Nil,
}

impl Reply {
    /// Text of a status or bulk reply.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The value after `key` in a map (an array of alternating keys and values).
    pub fn field(&self, key: &str) -> Option<&Reply> {
        let Reply::Array(items) = self else {
            return None;
        };
        items
            .chunks(2)
            .find(|pair| pair[0].text().as_deref() == Some(key))
            .and_then(|pair| pair.get(1))
    }

    /// Parses one reply from the start of `buf`: the reply and its length in bytes, or
    /// `None` when `buf` holds only part of it.
    pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>> {
        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[1..end]).context("a reply line is not UTF-8")?;
        let after = end + 2;
        let count = |line: &str| -> Result<i64> {
            line.parse()
                .with_context(|| format!("`{line}` is not a length"))
        };
        let reply = match buf[0] {
            b'+' => Reply::Status(line.into()),
            b'-' => Reply::Error(line.into()),
            b':' => Reply::Integer(count(line)?),
            b'_' => Reply::Nil,
            b'#' => Reply::Integer(i64::from(line == "t")),
            b',' | b'(' => Reply::Bulk(line.as_bytes().to_vec()),
            b'$' | b'=' | b'!' => {
                let n = count(line)?;
                if n < 0 {
                    return Ok(Some((Reply::Nil, after)));
                }
                let n = usize::try_from(n)?;
                if n > MAX_REPLY {
                    bail!("a reply of {n} bytes is longer than the grader reads");
                }
                if buf.len() < after + n + 2 {
                    return Ok(None);
                }
                let mut data = buf[after..after + n].to_vec();
                if buf[0] == b'=' && data.len() >= 4 {
                    // Verbatim text starts with its format: `txt:`.
                    data.drain(..4);
                }
                if buf[0] == b'!' {
                    return Ok(Some((
                        Reply::Error(String::from_utf8_lossy(&data).into_owned()),
                        after + n + 2,
                    )));
                }
                return Ok(Some((Reply::Bulk(data), after + n + 2)));
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = count(line)?;
                if n < 0 {
                    return Ok(Some((Reply::Nil, after)));
                }
                let n = usize::try_from(n)? * if matches!(buf[0], b'%' | b'|') { 2 } else { 1 };
                if n > MAX_REPLY {
                    bail!("a reply of {n} items is longer than the grader reads");
                }
                let mut items = Vec::with_capacity(n);
                let mut at = after;
                for _ in 0..n {
                    let Some((item, len)) = Reply::parse(&buf[at..])? else {
                        return Ok(None);
                    };
                    items.push(item);
                    at += len;
                }
                if buf[0] == b'|' {
                    // Attributes annotate the reply that follows them.
                    return Ok(Reply::parse(&buf[at..])?.map(|(reply, len)| (reply, at + len)));
                }
                return Ok(Some((Reply::Array(items), at)));
            }
            other => bail!("a reply starts with {:?}, which is not RESP", other as char),
        };
        Ok(Some((reply, after)))
    }
}

/// Encodes a command as RESP: an array of bulk strings.
fn encode(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A connection to Redis, one command at a time; every read is bounded in time.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(target: &Target) -> Result<Conn> {
        let stream = tokio::time::timeout(
            REPLY_TIMEOUT,
            TcpStream::connect((target.host.as_str(), target.port)),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connecting took longer than {} s", REPLY_TIMEOUT.as_secs()))?
        .with_context(|| format!("connecting to {}:{}", target.host, target.port))?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
        };
        if let Some(password) = &target.password {
            let mut auth = vec!["AUTH"];
            auth.extend(target.username.as_deref());
            auth.push(password);
            if let Reply::Error(e) = conn.command(&auth).await? {
                bail!("Redis refused the URL's password: {e}");
            }
        }
        Ok(conn)
    }

    /// Sends one command and reads its reply. An error reply is a `Reply::Error`, for the
    /// caller to judge.
    pub async fn command(&mut self, args: &[&str]) -> Result<Reply> {
        self.stream.write_all(&encode(args)).await?;
        tokio::time::timeout(REPLY_TIMEOUT, self.read_reply())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "Redis did not answer {} within {} s",
                    args.first().unwrap_or(&""),
                    REPLY_TIMEOUT.as_secs()
                )
            })?
    }

    async fn read_reply(&mut self) -> Result<Reply> {
        loop {
            if let Some((reply, len)) = Reply::parse(&self.buf)? {
                self.buf.drain(..len);
                return Ok(reply);
            }
            if self.buf.len() > MAX_REPLY {
                bail!("a reply is longer than the grader reads");
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("Redis closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// PING, expecting PONG.
    pub async fn ping(&mut self) -> Result<()> {
        match self.command(&["PING"]).await? {
            Reply::Status(s) if s == "PONG" => Ok(()),
            Reply::Error(e) => bail!("it answered PING with `{e}`"),
            other => bail!("it answered PING with {other:?}"),
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_and_login() {
        assert_eq!(
            Target::parse("redis://127.0.0.1:6390").unwrap(),
            Target::loopback(6390)
        );
        let t = Target::parse("redis://localhost").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("localhost", 6379));
        let t = Target::parse("redis://:s%40cret@h:1/2?protocol=resp3").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("h", 1));
        assert_eq!((t.username, t.password.as_deref()), (None, Some("s@cret")));
        let t = Target::parse("redis://ada:pw@[::1]:7000/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 7000));
        assert_eq!(t.username.as_deref(), Some("ada"));
        assert!(Target::parse("rediss://h:1").is_err());
        assert!(Target::parse("127.0.0.1:6379").is_err());
        assert!(Target::parse("redis://h:port").is_err());
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            encode(&["HELLO", "3"]),
            b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n".to_vec()
        );
        assert_eq!(encode(&[""]), b"*1\r\n$0\r\n\r\n".to_vec());
    }

    #[test]
    fn replies_parse_whole_or_not_at_all() {
        let parse = |b: &[u8]| Reply::parse(b).unwrap();
        assert_eq!(parse(b"+PONG\r\n"), Some((Reply::Status("PONG".into()), 7)));
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap().0,
            Reply::Error("ERR no".into())
        );
        assert_eq!(parse(b":-3\r\n").unwrap().0, Reply::Integer(-3));
        assert_eq!(parse(b"$-1\r\n").unwrap().0, Reply::Nil);
        assert_eq!(parse(b"_\r\n").unwrap().0, Reply::Nil);
        assert_eq!(parse(b"#t\r\n").unwrap().0, Reply::Integer(1));
        assert_eq!(
            parse(b"$5\r\nhe\r\no\r\n+x").unwrap(),
            (Reply::Bulk(b"he\r\no".to_vec()), 11)
        );
        assert_eq!(
            parse(b"=8\r\ntxt:abcd\r\n").unwrap().0,
            Reply::Bulk(b"abcd".to_vec())
        );
        assert_eq!(
            parse(b"!3\r\nERR\r\n").unwrap().0,
            Reply::Error("ERR".into())
        );
        let map = parse(b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n+7.0.15\r\n")
            .unwrap()
            .0;
        assert_eq!(
            map.field("version").and_then(Reply::text).as_deref(),
            Some("7.0.15")
        );
        assert_eq!(map.field("nope"), None);
        let push = parse(b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n")
            .unwrap()
            .0;
        assert!(matches!(push, Reply::Array(ref items) if items.len() == 3));
        // Incomplete: nothing consumed, ask for more bytes.
        for partial in [
            &b""[..],
            b"+PON",
            b"$5\r\nhel",
            b"*2\r\n:1\r\n",
            b"%1\r\n+a\r\n",
        ] {
            assert_eq!(parse(partial), None, "{partial:?}");
        }
        assert!(Reply::parse(b"?x\r\n").is_err());
        assert!(Reply::parse(b"$x\r\n").is_err());
    }

    #[test]
    fn percent_decoding_leaves_bad_escapes_alone() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }

    /// A local `redis-server` when there is one (scripts/test installs it): two instances
    /// are separate servers, pub/sub works across connections (the adapter's whole job),
    /// and a dropped instance leaves no process and no folder.
    #[tokio::test]
    async fn local_instances_are_separate_and_leave_nothing() {
        if find_redis_server().is_err() {
            eprintln!("skipped: no redis-server on the PATH (scripts/install-redis installs it)");
            return;
        }
        let scratch =
            std::env::temp_dir().join(format!("grader-redis-test-{}", std::process::id()));
        let redis = Redis::local(&scratch).unwrap();
        let started = Instant::now();
        let a = redis.instance().await.unwrap();
        let took = started.elapsed();
        let b = redis.instance().await.unwrap();
        assert!(
            took < Duration::from_secs(2),
            "redis-server took {took:?} to answer"
        );
        assert_ne!(a.port(), b.port());
        assert!(a.url().starts_with("redis://127.0.0.1:"));

        // As REDIS_URL: it answers HELLO 3 with its version, and every hint gets its URL.
        let external = Redis::external(a.url()).await.unwrap();
        assert!(
            external.origin.starts_with("the Redis ") && !external.origin.contains("unknown"),
            "{}",
            external.origin
        );
        assert_eq!(external.instance().await.unwrap().url(), a.url());
        let port = a.port().unwrap();
        let err = Redis::external(&format!("redis://:nope@127.0.0.1:{port}"))
            .await
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("refused the URL's password"),
            "{err:#}"
        );

        let mut sub = a.connect().await.unwrap();
        let mut publisher = a.connect().await.unwrap();
        let mut other = b.connect().await.unwrap();
        let subscribed = sub
            .command(&["SUBSCRIBE", "socket.io-request#/#"])
            .await
            .unwrap();
        assert!(matches!(subscribed, Reply::Array(_)), "{subscribed:?}");
        let delivered = publisher
            .command(&["PUBLISH", "socket.io-request#/#", "hi"])
            .await
            .unwrap();
        assert_eq!(delivered, Reply::Integer(1));
        let message = sub.read_reply().await.unwrap();
        assert_eq!(message.text(), None);
        assert!(format!("{message:?}").contains("104, 105"), "{message:?}");
        // The other instance's channels are its own.
        let numsub = other
            .command(&["PUBSUB", "NUMSUB", "socket.io-request#/#"])
            .await
            .unwrap();
        assert_eq!(
            numsub,
            Reply::Array(vec![
                Reply::Bulk(b"socket.io-request#/#".to_vec()),
                Reply::Integer(0)
            ])
        );

        let dirs: Vec<_> = std::fs::read_dir(scratch.join("redis")).unwrap().collect();
        assert_eq!(dirs.len(), 2);
        drop((sub, publisher, other, a, b));
        assert!(
            std::fs::read_dir(scratch.join("redis"))
                .unwrap()
                .next()
                .is_none(),
            "a dropped instance removes its folder"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "a dropped instance stops listening"
        );
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
