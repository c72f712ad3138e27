//! Every Socket.IO stage's reference solution, driven by the JavaScript `socket.io-client`
//! (run by Node, from `grader/tests/js/`) over long-polling, over WebSocket and over an
//! upgrade from one to the other. The script checks what the grader's live hints check,
//! so a disagreement between the grader's verdict and this client's is a bug in the
//! grader's own client.
//!
//! Each transport gets a fresh server (the counts start at zero), started and stopped by
//! the grader's own `Server`; the three run at once. Servers and Node processes live in
//! process groups that are killed when dropped, so a failing assertion leaves nothing
//! behind.

mod common;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use grader::compile;
use grader::course::Course;
use grader::outcome::OutputTail;
use grader::process;
use grader::server::Server;

/// How long one Node run may take; each normally takes well under a second.
const NODE_LIMIT: Duration = Duration::from_secs(30);
const LISTEN_LIMIT: Duration = Duration::from_secs(10);
const INSTALL: &str = "npm ci --prefix grader/tests/js";

fn js_dir() -> PathBuf {
    common::root().join("grader/tests/js")
}

/// The Node binary: `NODE` if set, else `node` on the PATH.
fn node() -> OsString {
    std::env::var_os("NODE").unwrap_or_else(|| "node".into())
}

/// Node runs, and `node_modules` holds the socket.io-client that package.json pins.
fn check_node_setup() {
    let version = std::process::Command::new(node())
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run Node.js ({e}): these tests need Node 18+ and npm on the PATH (or \
                 NODE=/path/to/node), then `{INSTALL}` (./scripts/test does it)"
            )
        });
    assert!(version.status.success(), "`node --version` failed");

    let read_json = |path: &Path| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let pinned = read_json(&js_dir().join("package.json"))
        .and_then(|p| {
            p["dependencies"]["socket.io-client"]
                .as_str()
                .map(String::from)
        })
        .expect("grader/tests/js/package.json pins socket.io-client");
    let installed_path = js_dir().join("node_modules/socket.io-client/package.json");
    let installed = read_json(&installed_path)
        .and_then(|p| p["version"].as_str().map(String::from))
        .unwrap_or_else(|| {
            panic!(
                "socket.io-client is not installed in grader/tests/js/node_modules: run \
                 `{INSTALL}` (./scripts/test does it before the tests)"
            )
        });
    assert_eq!(
        installed, pinned,
        "grader/tests/js/node_modules holds socket.io-client {installed}, package.json pins \
         {pinned}: run `{INSTALL}`"
    );
}

fn show_tail(tail: &OutputTail) -> String {
    if tail.lines.is_empty() {
        return "(nothing)".into();
    }
    let mut text = tail.lines.join("\n");
    let shown = tail.lines.len() as u64;
    if tail.total_lines > shown {
        text = format!(
            "({} earlier lines left out)\n{text}",
            tail.total_lines - shown
        );
    }
    text
}

/// Starts a fresh server, runs `check.mjs STAGE URL MODE` against it, stops the server.
/// `Ok` holds Node's summary line; `Err` says what failed, with both sides' output.
async fn run_mode(exe: &Path, dir: &Path, stage: &str, mode: &str) -> Result<String, String> {
    let server = Server::start(exe, dir, LISTEN_LIMIT).await.map_err(|f| {
        format!(
            "{stage} over {mode}: the server did not start: {}\n--- server output ---\n{}",
            f.reason,
            show_tail(&f.output)
        )
    })?;
    let url = format!("http://127.0.0.1:{}", server.port);
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(js_dir().join("check.mjs"))
        .args([stage, url.as_str(), mode])
        .current_dir(js_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    // The group (and the child, kill_on_drop) go when this function returns or unwinds.
    let (child, _group) = process::spawn(&mut cmd)
        .map_err(|e| format!("{stage} over {mode}: cannot run node: {e}"))?;
    let waited = tokio::time::timeout(NODE_LIMIT, child.wait_with_output()).await;
    let elapsed = started.elapsed();
    let server_output = show_tail(&server.stop().await);
    let output = match waited {
        Err(_) => {
            return Err(format!(
                "{stage} over {mode}: node ran longer than {NODE_LIMIT:?} and was killed\n\
                 --- server output ---\n{server_output}"
            ));
        }
        Ok(Err(e)) => return Err(format!("{stage} over {mode}: waiting for node failed: {e}")),
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(format!(
            "{} [node {:.2} s]",
            stdout.trim_end(),
            elapsed.as_secs_f64()
        ))
    } else {
        Err(format!(
            "{stage} over {mode}: node exited with {}\n--- node stdout ---\n{}\n--- node stderr ---\n{}\n\
             --- server output ---\n{server_output}",
            grader::server::describe_exit(output.status),
            stdout.trim_end(),
            stderr.trim_end(),
        ))
    }
}

/// Builds the solution of `stage` (package `package`) and runs the three transports.
async fn check_solution(stage: &str, package: &str) {
    check_node_setup();
    let course = Course {
        root: common::root(),
    };
    let dir = course.root.join("solutions").join(stage);
    let prepared = compile::prepare(&course, &dir, stage)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare {}: {e:#}", dir.display()));
    let (build, built) = compile::build(&prepared, package, package, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("cannot build {package}: {e:#}"));
    let Some(built) = built else {
        panic!(
            "{package} does not build: {}\n{}",
            build.summary.unwrap_or_default(),
            build.errors
        );
    };

    let (polling, websocket, upgrade) = tokio::join!(
        run_mode(&built.exe, &prepared.crate_dir, stage, "polling"),
        run_mode(&built.exe, &prepared.crate_dir, stage, "websocket"),
        run_mode(&built.exe, &prepared.crate_dir, stage, "upgrade"),
    );
    let mut failures = Vec::new();
    for result in [polling, websocket, upgrade] {
        match result {
            Ok(summary) => println!("{summary}"),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(
        failures.is_empty(),
        "socket.io-client disagrees with {package}:\n\n{}",
        failures.join("\n\n")
    );
}

#[tokio::test]
async fn socketio_setup_solution_with_the_js_client() {
    check_solution("03-socketio-setup", "socketio-setup-solution").await;
}

#[tokio::test]
async fn user_count_solution_with_the_js_client() {
    check_solution("04-user-count", "user-count-solution").await;
}

#[tokio::test]
async fn disconnect_solution_with_the_js_client() {
    check_solution("05-disconnect", "disconnect-solution").await;
}

#[tokio::test]
async fn chat_messages_solution_with_the_js_client() {
    check_solution("06-chat-messages", "chat-messages-solution").await;
}
