//! The chat page in a real browser: headless Chromium (Debian's `chromium`), driven by
//! `grader/tests/js/browser.mjs` through playwright-core, against a reference solution
//! started by the grader's own `Server`. Where `js_client.rs` checks the protocol with
//! the JavaScript client, this checks what a person sees: the page connects, the count
//! changes, a line typed in one page shows up in the other with the sender's name.
//!
//! Each case is a stage's server and a scenario of `browser.mjs`: `chat` (two people
//! talk, one leaves) or `cannot-connect` (a page whose Socket.IO requests carry no
//! session cookie must not get a connection). From stage 07 on a person's name is the
//! one their session holds, so `chat` then expects what `GET /me` answers in that
//! person's browser context, not the `?name=` of the address. Stage 08 runs both
//! scenarios: two sessions chat, and a page that lost its cookie is refused. Stage 10,
//! when it comes, adds the same pair. `cannot-connect` also runs against a known-bad
//! stage-03 submission whose server refuses every page, a refusal with no sessions
//! involved.
//!
//! Screenshots go to `target/test-artifacts/browser/<case>/` (the test prints the path).
//! Node runs in a process group of its own; playwright-core starts Chromium in another
//! group, so every process of a run also carries a tag in its environment, and whatever
//! still carries it when the run ends is killed and fails the test.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::node::{build, check_node_package, js_dir, node, show_tail};
use grader::course::Course;
use grader::process;
use grader::server::Server;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long one Node run may take. The script gives up by itself after 40 s; a run
/// normally takes three to six seconds, most of it starting Node and Chromium.
const NODE_LIMIT: Duration = Duration::from_secs(60);
/// How long Node gets to close Chromium after SIGTERM, when it overran.
const STOP_GRACE: Duration = Duration::from_secs(3);
const LISTEN_LIMIT: Duration = Duration::from_secs(10);

/// One run: the server of a crate, and what the browser does with its page.
struct Case {
    /// Names the screenshots' folder.
    name: &'static str,
    stage: &'static str,
    /// The crate, relative to the course root.
    dir: &'static str,
    package: &'static str,
    /// A scenario of `browser.mjs`.
    scenario: &'static str,
    /// Where the page's display name comes from, for `chat`.
    names: Names,
}

/// Where a page's display name comes from (`browser.mjs`'s NAMES).
#[derive(Clone, Copy)]
enum Names {
    /// `?name=` in the address (stage 06).
    Query,
    /// The visitor's session, as `GET /me` tells it (stage 07 on).
    Session,
}

impl Names {
    fn arg(self) -> &'static str {
        match self {
            Names::Query => "query",
            Names::Session => "session",
        }
    }
}

#[tokio::test]
async fn chat_messages_solution_in_chromium() {
    run_case(&Case {
        name: "06-chat-messages",
        stage: "06-chat-messages",
        dir: "solutions/06-chat-messages",
        package: "chat-messages-solution",
        scenario: "chat",
        names: Names::Query,
    })
    .await;
}

/// Two people, each with a session of their own, chat under their sessions' names.
#[tokio::test]
async fn socket_session_auth_solution_in_chromium() {
    run_case(&Case {
        name: "08-socket-session-auth",
        stage: "08-socket-session-auth",
        dir: "solutions/08-socket-session-auth",
        package: "socket-session-auth-solution",
        scenario: "chat",
        names: Names::Session,
    })
    .await;
}

/// The page has a session, but its Socket.IO requests carry no cookie: stage 08
/// refuses them, and the page says so.
#[tokio::test]
async fn page_without_session_cookie_in_chromium() {
    run_case(&Case {
        name: "08-no-session-cookie",
        stage: "08-socket-session-auth",
        dir: "solutions/08-socket-session-auth",
        package: "socket-session-auth-solution",
        scenario: "cannot-connect",
        names: Names::Session,
    })
    .await;
}

/// A server that refuses the page's connection ("Invalid namespace": it registered
/// `/chat`, the page asks for `/`): the scenario recognises a refusal that has nothing
/// to do with sessions.
#[tokio::test]
async fn refused_page_in_chromium() {
    run_case(&Case {
        name: "03-wrong-namespace",
        stage: "03-socketio-setup",
        dir: "fixtures/03-socketio-setup/wrong-namespace",
        package: "socketio-setup",
        scenario: "cannot-connect",
        names: Names::Query,
    })
    .await;
}

/// The browser: `CHROMIUM` if set, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Node runs, `node_modules` holds the playwright-core that package.json pins, and
/// Chromium is installed.
fn check_setup() {
    check_node_package("playwright-core");

    let browser = chromium();
    assert!(
        browser.is_file(),
        "no Chromium at {}: ./scripts/test installs Debian's `chromium` package (as root or \
         with `sudo -n`); or run `apt-get install -y --no-install-recommends chromium`, or set \
         CHROMIUM=/path/to/chromium",
        browser.display()
    );
}

/// Kills, when dropped, every process whose environment still carries the run's tag:
/// Chromium and its helpers, if Node could not close them. A panic cannot skip it.
struct Sweep(String);

impl Sweep {
    /// Waits a moment for processes that are already exiting, then kills what is left
    /// and says what it was.
    async fn leftovers(&self) -> Vec<String> {
        let started = Instant::now();
        loop {
            let left = common::leftover_processes(&self.0);
            if left.is_empty() {
                return left;
            }
            if started.elapsed() > Duration::from_secs(3) {
                kill_tagged(&self.0);
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        kill_tagged(&self.0);
    }
}

fn kill_tagged(tag: &str) {
    for process in common::leftover_processes(tag) {
        // Each entry reads "PID: command line".
        if let Some(pid) = process.split(':').next().and_then(|p| p.parse().ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

fn new_tag() -> String {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "browser-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Builds the case's crate, starts its server, runs `browser.mjs` against it, and
/// stops everything. Panics with both sides' output when the browser's checks fail.
async fn run_case(case: &Case) {
    check_setup();
    let (prepared, built) = build(case.stage, case.dir, case.package).await;
    let course = Course {
        root: common::root(),
    };

    let shots = course
        .target_dir()
        .join("test-artifacts/browser")
        .join(case.name);
    // Only this run's pictures: a stale one would show a page that no longer exists.
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", shots.display()));

    let what = format!("{} ({}) with `{}`", case.name, case.package, case.scenario);
    let server = Server::start(&built.exe, &prepared.crate_dir, None, &[], LISTEN_LIMIT)
        .await
        .unwrap_or_else(|f| {
            panic!(
                "{what}: the server did not start: {}\n--- server output ---\n{}",
                f.reason,
                show_tail(&f.output)
            )
        });
    let url = format!("http://127.0.0.1:{}", server.port);

    let tag = new_tag();
    let sweep = Sweep(tag.clone());
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(js_dir().join("browser.mjs"))
        .arg(case.scenario)
        .arg(&url)
        .arg(&shots)
        .arg(case.names.arg())
        .current_dir(js_dir())
        .env("CHROMIUM", chromium())
        .env("GRADER_TEST_TAG", &tag)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    // The group (and the child, kill_on_drop) go when this function returns or unwinds.
    let (mut child, group) =
        process::spawn(&mut cmd).unwrap_or_else(|e| panic!("{what}: cannot run node: {e}"));
    // Read both pipes while Node runs, so that an overrun still leaves its output.
    let stdout = tokio::spawn(read_all(child.stdout.take()));
    let stderr = tokio::spawn(read_all(child.stderr.take()));
    let status = match tokio::time::timeout(NODE_LIMIT, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            // SIGTERM first: playwright-core closes Chromium on it.
            group.signal(Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, child.wait())
                .await
                .is_err()
            {
                group.signal(Signal::SIGKILL);
                let _ = child.wait().await;
            }
            None
        }
    };
    let elapsed = started.elapsed();
    group.signal(Signal::SIGKILL);
    let left = sweep.leftovers().await;
    let server_output = show_tail(&server.stop().await);
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();

    let verdict = match status {
        None => format!("node ran longer than {NODE_LIMIT:?} and was killed"),
        Some(status) if status.success() => String::new(),
        Some(status) => format!("node exited with {}", grader::server::describe_exit(status)),
    };
    let mut failures = Vec::new();
    if !verdict.is_empty() {
        failures.push(verdict);
    }
    if !left.is_empty() {
        failures.push(format!(
            "processes were left behind and had to be killed: {left:#?}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{what}: {}\n--- node stdout ---\n{}\n--- node stderr ---\n{}\n--- server output ---\n\
         {server_output}\nscreenshots: {}",
        failures.join("; "),
        stdout.trim_end(),
        stderr.trim_end(),
        shots.display()
    );
    println!(
        "{}\n[{what}: node {:.2} s; screenshots in {}]",
        stdout.trim_end(),
        elapsed.as_secs_f64(),
        shots.display()
    );
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes).await;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
