//! Every Socket.IO stage's reference solution (03 on), driven by the JavaScript
//! `socket.io-client` (run by Node, from `grader/tests/js/`) over long-polling, over
//! WebSocket and over an upgrade from one to the other. The script checks what the grader's live hints check,
//! so a disagreement between the grader's verdict and this client's is a bug in the
//! grader's own client.
//!
//! From stage 07 on the script also plays a browser's part in the sessions: it loads the
//! page with `fetch` to get the session cookie and sends it on every Socket.IO request
//! (`extraHeaders`, which Node's client honours over polling and WebSocket alike). For
//! stage 08 it checks both sides of the authenticated handshake: the page's cookie gets
//! in under the session's name whatever name `auth` claims, and no cookie, a made-up
//! one, a changed one or the right value under another cookie name is refused, by a
//! CONNECT_ERROR or by HTTP 401/403 on the handshake, the two refusals the stage allows.
//!
//! Stages 09 to 13 keep their data in MongoDB: each server gets a database of its own,
//! on a MongoDB this test starts for itself (or `MONGO_URI`'s). Stage 10's script
//! registers and logs in with the forms, sends the cookie, checks that a private
//! message reaches every tab of a user and that logging out disconnects one session's
//! sockets only; stage 11's gets a token from the JSON API, connects with it in `auth`,
//! and tries no, garbage, expired, wrong-signature and `alg: none` tokens; stage 12's
//! checks the cookie's flags, connects with the server's own `Origin` and is refused
//! (HTTP 403) with a foreign one, and sees a long message and repeated failed logins
//! refused (`grader/tests/js/accounts.mjs`).
//!
//! Each transport gets a fresh server (the counts start at zero), started and stopped by
//! the grader's own `Server`; the three run at once. Servers and Node processes live in
//! process groups that are killed when dropped, so a failing assertion leaves nothing
//! behind.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::node::{build, check_node_package, js_dir, node, show_tail};
use common::root;
use grader::catalogue::Catalogue;
use grader::database::{self, Mongo};
use grader::process;
use grader::redis::{self, Redis};
use grader::server::Server;

/// How long one Node run may take; each normally takes well under a second.
const NODE_LIMIT: Duration = Duration::from_secs(30);
const LISTEN_LIMIT: Duration = Duration::from_secs(10);

/// Starts `instances` fresh servers (stage 13 runs two), runs `check.mjs STAGE URL MODE`
/// against them (`URL_A,URL_B` for two), stops the servers. `Ok` holds Node's summary
/// line; `Err` says what failed, with both sides' output.
async fn run_mode(
    exe: &Path,
    dir: &Path,
    env: &[(String, String)],
    instances: usize,
    stage: &str,
    mode: &str,
) -> Result<String, String> {
    let mut servers: Vec<Server> = Vec::new();
    for index in 0..instances {
        match Server::start(exe, dir, None, env, LISTEN_LIMIT).await {
            Ok(server) => servers.push(server),
            Err(f) => {
                for server in servers {
                    server.stop().await;
                }
                return Err(format!(
                    "{stage} over {mode}: server {} of {instances} did not start: {}\n\
                     --- server output ---\n{}",
                    index + 1,
                    f.reason,
                    show_tail(&f.output)
                ));
            }
        }
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|server| format!("http://127.0.0.1:{}", server.port))
        .collect();
    let url = urls.join(",");
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(js_dir().join("check.mjs"))
        .args([stage, url.as_str(), mode])
        .current_dir(js_dir())
        .env("NO_COLOR", "1")
        // Stage 11's script signs tokens of its own (an expired one) with the servers' key.
        .env(grader::server::JWT_SECRET_VAR, grader::server::JWT_SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    // The group (and the child, kill_on_drop) go when this function returns or unwinds.
    let (child, _group) = process::spawn(&mut cmd)
        .map_err(|e| format!("{stage} over {mode}: cannot run node: {e}"))?;
    let waited = tokio::time::timeout(NODE_LIMIT, child.wait_with_output()).await;
    let elapsed = started.elapsed();
    let mut outputs = Vec::new();
    for (index, server) in servers.into_iter().enumerate() {
        let tail = show_tail(&server.stop().await);
        outputs.push(if instances > 1 {
            format!("(server {})\n{tail}", index + 1)
        } else {
            tail
        });
    }
    let server_output = outputs.join("\n");
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
    check_node_package("socket.io-client");
    let (prepared, built) = build(stage, &format!("solutions/{stage}"), package).await;

    // From stage 09 on, each server gets a database of its own, as under the grader.
    let catalogue = Catalogue::load(Some(&root())).expect("the catalogue loads");
    let found = catalogue.find(stage).expect("a stage of the catalogue");
    let (needs_db, needs_redis, instances) = (found.database, found.redis, found.instances);
    let mut envs: Vec<Vec<(String, String)>> = vec![Vec::new(); 3];
    // A MongoDB of this test's own (stopped when `_mongo` goes): tests run on runtimes
    // of their own, in parallel, and must not share one that another test stops.
    let mut _mongo = None;
    if needs_db {
        let mongo = Mongo::start(&root(), &|_| {})
            .await
            .expect("MongoDB (the stand-in, or MONGO_URI) is up");
        for env in &mut envs {
            env.push((
                database::MONGO_URI_VAR.to_string(),
                mongo.uri_for(&mongo.fresh_name()),
            ));
        }
        _mongo = Some(mongo);
    }
    // Stage 13: a Redis of its own for each transport's pair of servers (pub/sub
    // channels cannot be kept apart otherwise), stopped when `_redis` goes.
    let mut _redis = Vec::new();
    if needs_redis {
        let redis = Redis::start(&root().join("target/grader"))
            .await
            .expect("Redis (redis-server, or REDIS_URL) is up");
        for env in &mut envs {
            let instance = redis.instance().await.expect("a redis-server starts");
            env.push((redis::REDIS_URL_VAR.to_string(), instance.url().to_string()));
            _redis.push(instance);
        }
    }
    let run = |env, mode| run_mode(&built.exe, &prepared.crate_dir, env, instances, stage, mode);
    let (polling, websocket, upgrade) = tokio::join!(
        run(&envs[0], "polling"),
        run(&envs[1], "websocket"),
        run(&envs[2], "upgrade"),
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

#[tokio::test]
async fn sessions_solution_with_the_js_client() {
    check_solution("07-sessions", "sessions-solution").await;
}

#[tokio::test]
async fn socket_session_auth_solution_with_the_js_client() {
    check_solution("08-socket-session-auth", "socket-session-auth-solution").await;
}

#[tokio::test]
async fn mongo_session_store_solution_with_the_js_client() {
    check_solution("09-mongo-session-store", "mongo-session-store-solution").await;
}

#[tokio::test]
async fn login_logout_solution_with_the_js_client() {
    check_solution("10-login-logout", "login-logout-solution").await;
}

#[tokio::test]
async fn jwt_handshake_solution_with_the_js_client() {
    check_solution("11-jwt-handshake", "jwt-handshake-solution").await;
}

#[tokio::test]
async fn hardening_solution_with_the_js_client() {
    check_solution("12-hardening", "hardening-solution").await;
}

#[tokio::test]
async fn scale_out_solution_with_the_js_client() {
    check_solution("13-scale-out", "scale-out-solution").await;
}
