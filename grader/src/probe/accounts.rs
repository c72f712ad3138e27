//! Probes of accounts (stage 10): register, log in, log out, and what a logged-in
//! user's sockets can do.
//!
//! A [`Browser`] is a visitor with a cookie jar that posts the login and registration
//! forms as a browser would (`application/x-www-form-urlencoded`) and records every
//! request, status, `Location` and `Set-Cookie` in the transcript. The people are always
//! the same: ada (who often has a laptop and a phone, two browsers, so two sessions),
//! grace and linus, and mallory, who tries what an attacker would. Each hint runs
//! against a fresh server with a fresh database, so the names never collide.
//!
//! Where a scene makes several sockets leave at once (a logout), the order in which the
//! server's announcements reach the others varies from run to run. Those sockets talk
//! through a [`Quiet`] context, whose packets stay out of the transcript, and the probe
//! writes what matters (who was disconnected, who was not) as notes.

use std::time::Duration;

use mongodb::bson::{Bson, Document, doc};
use reqwest::header::{HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::cookies::{Jar, set_cookies};
use super::engineio::Transport;
use super::http::{self, Reply};
use super::socketio::{Answer, Options, SioClient};
use super::{Ctx, Failure, Parked, Step, params_error, parse};

/// The probes of this module; all take no parameters.
const PROBES: [&str; 13] = [
    "accounts-pages",
    "accounts-guest-refused",
    "accounts-register",
    "accounts-login",
    "accounts-fixation",
    "accounts-wrong-login",
    "accounts-validates",
    "accounts-name-taken",
    "accounts-unique-index",
    "accounts-hashed",
    "accounts-to-user",
    "accounts-logout",
    "accounts-online",
];

/// ada's password (grace's too, in [`hashed`]: the same password must give two hashes).
const PASSWORD: &str = "analytical engine";
/// A password that is not ada's.
const WRONG_PASSWORD: &str = "difference engine";
const GRACE_PASSWORD: &str = "compiler pioneer";
const LINUS_PASSWORD: &str = "just for fun";
const MALLORY_PASSWORD: &str = "let me in please";
/// A username nobody registers.
const UNKNOWN: &str = "babbage";
/// The answer to a failed login, as the contract of the stage words it.
const WRONG_LOGIN: &str = "wrong username or password";

/// How long a client waits for an event or an acknowledgement.
const EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long a client that should not get an event listens for it.
const SILENCE_WAIT: Duration = Duration::from_millis(500);
/// How long the sockets of a logged-out session get to be disconnected.
const LOGOUT_WAIT: Duration = Duration::from_millis(1500);
/// How long the server gets to notice that a socket has left.
const SETTLE: Duration = Duration::from_millis(400);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// `Some` when `name` is a probe of this module: whether `params` suit it.
pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    PROBES
        .contains(&name)
        .then(|| parse::<NoParams>(params).map(drop))
}

/// `Some` when `name` is a probe of this module: its verdict.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    if !PROBES.contains(&name) {
        return None;
    }
    if let Err(err) = parse::<NoParams>(params) {
        return Some(Err(params_error(name)(err)));
    }
    Some(match name {
        "accounts-pages" => pages(ctx).await,
        "accounts-guest-refused" => guest_refused(ctx).await,
        "accounts-register" => register_logs_in(ctx).await,
        "accounts-login" => login_connects(ctx).await,
        "accounts-fixation" => fixation(ctx).await,
        "accounts-wrong-login" => wrong_login(ctx).await,
        "accounts-validates" => validates(ctx).await,
        "accounts-name-taken" => name_taken(ctx).await,
        "accounts-unique-index" => unique_index(ctx).await,
        "accounts-hashed" => hashed(ctx).await,
        "accounts-to-user" => to_user(ctx).await,
        "accounts-logout" => logout(ctx).await,
        _ => online(ctx).await,
    })
}

/// A visitor with a cookie jar.
pub(crate) struct Browser {
    who: String,
    jar: Jar,
}

impl Browser {
    pub(crate) fn new(who: &str) -> Browser {
        Browser {
            who: who.to_string(),
            jar: Jar::default(),
        }
    }

    /// The `Cookie` header this browser sends, if it has cookies.
    pub(crate) fn cookie(&self) -> Option<String> {
        self.jar.header()
    }

    async fn get(&mut self, ctx: &Ctx, path: &str) -> Step<Reply> {
        self.send(ctx, Method::GET, path, None).await
    }

    /// POSTs a form (`username` and `password`, or nothing).
    pub(crate) async fn post(
        &mut self,
        ctx: &Ctx,
        path: &str,
        form: &[(&str, &str)],
    ) -> Step<Reply> {
        self.send(ctx, Method::POST, path, Some(encode_form(form)))
            .await
    }

    /// One request with the jar's cookies, recorded; the jar takes what the reply sets.
    async fn send(
        &mut self,
        ctx: &Ctx,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Step<Reply> {
        let url = http::url(ctx, path);
        let cookie = self.cookie();
        let mut command = String::from("curl -i");
        if let Some(body) = &body {
            command.push_str(&format!(" -d '{body}'"));
        }
        command.push_str(&format!(" '{url}'"));
        ctx.transcript.command(&command);
        let form = body
            .as_ref()
            .filter(|b| !b.is_empty())
            .map(|b| format!(" {b}"))
            .unwrap_or_default();
        let sent = match &cookie {
            Some(cookie) => format!(" (Cookie: {cookie})"),
            None => " (no cookie)".to_string(),
        };
        ctx.transcript
            .push_line(format!("{} → {method} {path}{form}{sent}", self.who));
        let reply = fetch(&method, &url, cookie.as_deref(), body)
            .await
            .map_err(|why| Failure::new(format!("{}'s {method} {path}: {why}.", self.who)))?;
        let location = reply
            .header(LOCATION.as_str())
            .map(|l| format!(", Location: {l}"))
            .unwrap_or_default();
        if reply.status.is_redirection() {
            ctx.transcript.push_line(format!(
                "{} ← {}{location}",
                self.who,
                http::status_line(reply.status)
            ));
        } else {
            ctx.transcript
                .push_line(format!("{} ← {}", self.who, reply.summary()));
            let html = reply
                .header("content-type")
                .is_some_and(|kind| kind.starts_with("text/html"));
            if !html && !reply.body.is_empty() && reply.body.len() <= 200 {
                ctx.transcript.push_line(format!(
                    "{} ← {}",
                    self.who,
                    super::show_packet(&reply.text())
                ));
            }
        }
        let set = set_cookies(&reply.headers);
        for cookie in &set {
            // A removal carries an `Expires` in the past, which changes with the clock.
            let shown = if cookie.is_removal() {
                format!("{}= (removes the cookie)", cookie.name)
            } else {
                cookie.to_string()
            };
            ctx.transcript
                .push_line(format!("{} ← Set-Cookie: {shown}", self.who));
        }
        self.jar.update(&set);
        Ok(reply)
    }

    /// Registers `username`, which must log the browser in.
    pub(crate) async fn register(&mut self, ctx: &Ctx, username: &str, password: &str) -> Step<()> {
        let reply = self
            .post(
                ctx,
                "/register",
                &[("username", username), ("password", password)],
            )
            .await?;
        self.expect_logged_in(&reply, "/register", username)
    }

    /// Logs in as `username`, which must succeed.
    pub(crate) async fn log_in(&mut self, ctx: &Ctx, username: &str, password: &str) -> Step<()> {
        let reply = self
            .post(
                ctx,
                "/login",
                &[("username", username), ("password", password)],
            )
            .await?;
        self.expect_logged_in(&reply, "/login", username)
    }

    /// A successful registration or login: a redirect to the chat, and a cookie.
    fn expect_logged_in(&self, reply: &Reply, path: &str, username: &str) -> Step<()> {
        let expected = "303 See Other, Location: /, with a Set-Cookie for the session";
        if !reply.status.is_redirection() {
            let route = if reply.status == StatusCode::NOT_FOUND
                || reply.status == StatusCode::METHOD_NOT_ALLOWED
            {
                format!(" Add the route: `.route(\"{path}\", post(…))`.")
            } else {
                String::new()
            };
            return Err(Failure::new(format!(
                "{}'s POST {path} as {username} answered {} instead of a redirect to the \
                 chat.{route} A form that succeeds answers `Redirect::to(\"/\")` (303 See \
                 Other), and the browser follows it.",
                self.who,
                http::status_line(reply.status)
            ))
            .expected(expected));
        }
        if self.jar.is_empty() {
            return Err(Failure::new(format!(
                "{}'s POST {path} as {username} redirected, but no cookie was set, so \
                 nothing ties the browser to the login. Write the user into the session \
                 (`session.insert(\"user_id\", …)`, `session.insert(\"username\", …)`): \
                 the session layer then sets the cookie.",
                self.who
            ))
            .expected(expected));
        }
        Ok(())
    }

    /// `GET /me` as a logged-in user: `{"id", "username"}`.
    async fn me(&mut self, ctx: &Ctx) -> Step<(String, String)> {
        let reply = self.get(ctx, "/me").await?;
        let expected = r#"200 OK with {"id": "…", "username": "…"} as JSON"#;
        if reply.status != StatusCode::OK {
            return Err(Failure::new(format!(
                "{} is logged in, and GET /me answered {} instead of 200 OK. Read the \
                 user from the session and answer `Json(…)` with `id` and `username`.",
                self.who,
                http::status_line(reply.status)
            ))
            .expected(expected));
        }
        let json: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let field = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_string);
        match (field("id"), field("username")) {
            (Some(id), Some(username)) if !id.is_empty() => Ok((id, username)),
            _ => Err(Failure::new(format!(
                "GET /me answered {}, which lacks the string fields `id` and `username`.",
                super::show_packet(&reply.text())
            ))
            .expected(expected)),
        }
    }
}

/// Sends one request; like [`http::fetch`], but with a form body.
async fn fetch(
    method: &Method,
    url: &str,
    cookie: Option<&str>,
    body: Option<String>,
) -> Result<Reply, String> {
    let exchange = async {
        let mut request = http::client().request(method.clone(), url);
        if let Some(cookie) = cookie {
            let value = HeaderValue::try_from(cookie)
                .map_err(|_| format!("the cookie {cookie:?} is not valid HTTP"))?;
            request = request.header(HeaderName::from_static("cookie"), value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.map_err(|e| http::describe(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > http::MAX_BODY_BYTES {
                body.truncate(http::MAX_BODY_BYTES);
                truncated = true;
                break;
            }
        }
        Ok(Reply {
            status,
            headers,
            body,
            truncated,
        })
    };
    match tokio::time::timeout(http::REQUEST_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no complete answer within {}",
            super::lines::seconds(http::REQUEST_TIMEOUT)
        )),
    }
}

/// `a=1&b=x+y`: the body of an HTML form.
fn encode_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A context for sockets whose packets stay out of the transcript (see the module's
/// comment). Its connections are parked with the real context's, so they stay open
/// until the verdict like any other.
pub(crate) struct Quiet(pub(crate) Ctx);

impl Quiet {
    pub(crate) fn new(ctx: &Ctx) -> Quiet {
        let mut quiet = Ctx::new(ctx.port);
        quiet.instances = ctx.instances.clone();
        quiet.parked = ctx.parked.clone();
        Quiet(quiet)
    }
}

impl Drop for Quiet {
    /// The parked connections belong to the real context, which closes them.
    fn drop(&mut self) {
        self.0.parked = Parked::default();
    }
}

/// One handshake and CONNECT over WebSocket as `who`, with this `Cookie` header.
pub(crate) async fn attempt(ctx: &Ctx, who: &str, cookie: Option<&str>) -> Step<Answer> {
    let mut options = Options::new(Transport::Websocket);
    let with = match cookie {
        Some(cookie) => {
            options
                .headers
                .push(("cookie".to_string(), cookie.to_string()));
            format!("Cookie: {cookie}")
        }
        None => "no cookie".to_string(),
    };
    ctx.transcript
        .note(format!("{who} connects over WebSocket with {with}"));
    SioClient::try_connect(ctx, who, &options).await
}

/// A socket of a logged-in browser, once the server has announced it: its connection
/// handler has run, so what follows comes in the same order on every run.
pub(crate) async fn join(ctx: &Ctx, who: &str, browser: &Browser) -> Step<SioClient> {
    let cookie = browser.cookie();
    match attempt(ctx, who, cookie.as_deref()).await? {
        Answer::Accepted(client) => {
            let mut client = *client;
            client.await_any(&["user"], EVENT_WAIT).await?;
            Ok(client)
        }
        refusal => Err(Failure::new(format!(
            "{who} opened a socket with the session cookie {} got when logging in, and \
             was refused: {}. The connect middleware should let in every session that \
             holds a user (`user_id` and `username`).",
            browser.who,
            refusal.describe("/")
        ))
        .expected(format!("{who} ← 40{{\"sid\":…}}"))),
    }
}

/// Disconnects clients one after the other, so that the server's log is the same on
/// every run.
pub(crate) async fn leave(clients: Vec<SioClient>) {
    for client in clients {
        client.disconnect().await;
    }
}

/// The first argument of an event or an ack.
pub(crate) fn first(args: &[Value]) -> Value {
    args.first().cloned().unwrap_or(Value::Null)
}

/// A fault of the grader's own database connection, not of the learner's code.
fn database_failure(err: mongodb::error::Error) -> Failure {
    Failure::new(format!(
        "The grader could not read your server's database: {err}."
    ))
}

/// `GET /` sends a visitor who is not logged in to `/login`, which serves the page.
async fn pages(ctx: &Ctx) -> Step<()> {
    let mut visitor = Browser::new("visitor");
    let reply = visitor.get(ctx, "/").await?;
    let location = reply.header(LOCATION.as_str()).unwrap_or("");
    if !reply.status.is_redirection() || location != "/login" {
        return Err(Failure::new(format!(
            "GET / without logging in answered {}{}: the chat is for logged-in users. \
             Check the session for a user, and answer `Redirect::to(\"/login\")` when \
             there is none.",
            http::status_line(reply.status),
            if location.is_empty() {
                String::new()
            } else {
                format!(" to {location}")
            }
        ))
        .expected("303 See Other, Location: /login"));
    }
    let reply = visitor.get(ctx, "/login").await?;
    let html = reply
        .header("content-type")
        .is_some_and(|kind| kind.starts_with("text/html"));
    if reply.status != StatusCode::OK || !html {
        return Err(Failure::new(format!(
            "GET /login answered {} instead of the login page. Serve \
             `Html(chat_page::LOGIN_HTML)` there.",
            reply.summary()
        ))
        .expected("200 OK, text/html; charset=utf-8"));
    }
    let page = reply.text();
    if !page.contains("/login") || !page.contains("/register") {
        return Err(Failure::new(
            "The page at /login has no form that posts to /login and /register. \
             `chat_page::LOGIN_HTML` has both.",
        ));
    }
    let reply = visitor.get(ctx, "/me").await?;
    if reply.status != StatusCode::UNAUTHORIZED {
        return Err(Failure::new(format!(
            "GET /me without logging in answered {} instead of 401 Unauthorized: \
             nobody is logged in, so there is nobody to describe.",
            http::status_line(reply.status)
        ))
        .expected("401 Unauthorized"));
    }
    Ok(())
}

/// Registering logs the new user in: the chat page opens, and `/me` names them.
/// A visitor who loaded the pages, with whatever cookie they set, but never logged in,
/// is refused: the handshake needs a session that holds a user, not just a session.
async fn guest_refused(ctx: &Ctx) -> Step<()> {
    let mut mallory = Browser::new("mallory");
    mallory.get(ctx, "/").await?;
    mallory.get(ctx, "/login").await?;
    let cookie = mallory.cookie();
    match attempt(ctx, "mallory", cookie.as_deref()).await? {
        Answer::Refused { .. } | Answer::HttpRefused { .. } => Ok(()),
        Answer::Accepted(client) => {
            client.disconnect().await;
            Err(Failure::new(
                "mallory loaded the pages but never logged in, and her socket was let in: \
                 any visitor can chat. The connect middleware should refuse a session that \
                 holds no user (`user_id`), with CONNECT_ERROR `not logged in`.",
            )
            .expected("mallory ← 44{\"message\":\"not logged in\"}"))
        }
    }
}

async fn register_logs_in(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let reply = ada.get(ctx, "/").await?;
    if reply.status != StatusCode::OK {
        return Err(Failure::new(format!(
            "ada registered, and GET / with her new cookie answered {} instead of the \
             chat page: the session does not hold her as logged in. After creating the \
             user, write `user_id` and `username` into the session.",
            http::status_line(reply.status)
        ))
        .expected("200 OK, text/html; charset=utf-8"));
    }
    let (_, username) = ada.me(ctx).await?;
    if username != "ada" {
        return Err(Failure::new(format!(
            "ada registered, and GET /me says she is {username:?}."
        ))
        .expected(r#"{"id": "…", "username": "ada"}"#));
    }
    Ok(())
}

/// Logging in (in a second browser) gives a cookie whose sockets are ada's: announced
/// under her name, and `whoami` answers her id and username.
async fn login_connects(ctx: &Ctx) -> Step<()> {
    let mut laptop = Browser::new("ada");
    laptop.register(ctx, "ada", PASSWORD).await?;
    let mut phone = Browser::new("ada-phone");
    phone.log_in(ctx, "ada", PASSWORD).await?;
    let (id, _) = phone.me(ctx).await?;
    let mut socket = join(ctx, "ada-phone", &phone).await?;
    let announced = socket
        .maybe_event("user", Duration::ZERO)
        .await?
        .map(|args| first(&args));
    let name = announced
        .as_ref()
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str);
    if name != Some("ada") {
        return Err(Failure::new(format!(
            "ada's socket was announced as {}, not under her username. Announce the \
             username the middleware read from the session.",
            announced.map_or("nothing".to_string(), |a| a.to_string())
        ))
        .expected(r#"ada-phone ← 42["user",{"name":"ada","count":1,"connected":true}]"#));
    }
    let expected = json!({ "id": id, "username": "ada" });
    let answer = socket
        .emit_with_ack("whoami", vec![], EVENT_WAIT)
        .await
        .map_err(|f| f.expected(format!("ada-phone ← 430[{expected}]")))?;
    let got = first(&answer);
    if got.get("id") != expected.get("id") || got.get("username") != expected.get("username") {
        return Err(Failure::new(format!(
            "ada's socket asked `whoami` and the acknowledgement was {got}, while GET /me \
             says she is {expected}. Answer with the `User` the connect middleware put in \
             the socket's extensions: `ack.send(&user)`."
        ))
        .expected(format!("ada-phone ← 430[{expected}]")));
    }
    leave(vec![socket]).await;
    Ok(())
}

/// A session id planted before login is worthless after it: logging in gives a new one.
async fn fixation(ctx: &Ctx) -> Step<()> {
    let mut phone = Browser::new("ada-phone");
    phone.register(ctx, "ada", PASSWORD).await?;
    let mut mallory = Browser::new("mallory");
    mallory.register(ctx, "mallory", MALLORY_PASSWORD).await?;
    ctx.transcript.note(
        "mallory plants her session cookie in ada's laptop browser (a shared computer, \
         or a script on a sibling site), and ada logs in there",
    );
    let mut laptop = Browser::new("ada");
    laptop.jar = mallory.jar.clone();
    laptop.log_in(ctx, "ada", PASSWORD).await?;
    let reply = mallory.get(ctx, "/me").await?;
    let json: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    if reply.status == StatusCode::OK && json.get("username").and_then(Value::as_str) == Some("ada")
    {
        return Err(Failure::new(
            "After ada logged in with the cookie mallory planted, mallory's own cookie is \
             logged in as ada (session fixation): the login kept the session id it was \
             given. Call `session.cycle_id().await?` before writing the user into the \
             session: the data stays, the id changes, and the old id is deleted.",
        )
        .expected("mallory ← 401 Unauthorized"));
    }
    Ok(())
}

/// A wrong password and an unknown username get the same `401` and the same words, and
/// leave no logged-in session behind.
async fn wrong_login(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut mallory = Browser::new("mallory");
    let mut answers = Vec::new();
    for username in ["ada", UNKNOWN] {
        let reply = mallory
            .post(
                ctx,
                "/login",
                &[("username", username), ("password", WRONG_PASSWORD)],
            )
            .await?;
        if reply.status.is_redirection() || reply.status.is_success() {
            return Err(Failure::new(format!(
                "mallory logged in as {username:?} with a wrong password: POST /login \
                 answered {}. Verify the password against the stored hash \
                 (`Argon2::default().verify_password(…)`), and refuse when it fails.",
                http::status_line(reply.status)
            ))
            .expected(format!("mallory ← 401 Unauthorized, {WRONG_LOGIN:?}")));
        }
        // The username itself may appear in the answer; what else differs counts.
        answers.push((reply.status, reply.text().replace(username, "<username>")));
    }
    let (wrong, unknown) = (&answers[0], &answers[1]);
    if wrong != unknown {
        return Err(Failure::new(format!(
            "A wrong password for ada and the unknown username {UNKNOWN:?} got different \
             answers ({} {:?} and {} {:?}): anyone can find out who has an account, then \
             guess only their passwords. Answer both with the same status and words.",
            wrong.0.as_u16(),
            wrong.1,
            unknown.0.as_u16(),
            unknown.1
        ))
        .expected(format!("401 Unauthorized, {WRONG_LOGIN:?}, for both")));
    }
    if wrong.0 != StatusCode::UNAUTHORIZED {
        return Err(Failure::new(format!(
            "A failed login answered {} instead of 401 Unauthorized.",
            http::status_line(wrong.0)
        ))
        .expected(format!("401 Unauthorized, {WRONG_LOGIN:?}")));
    }
    if let Some(cookie) = mallory.cookie() {
        let answer = attempt(ctx, "mallory", Some(&cookie)).await?;
        if let Answer::Accepted(client) = answer {
            client.disconnect().await;
            return Err(Failure::new(
                "mallory's failed logins left her a session cookie that opens a socket: \
                 a failed login must not write anything into the session.",
            )
            .expected(r#"mallory ← 44{"message":"not logged in"}"#));
        }
    }
    Ok(())
}

/// Registration refuses bad usernames and short passwords with `400`, and stores nothing.
async fn validates(ctx: &Ctx) -> Step<()> {
    let long = "a".repeat(33);
    let cases: [(&str, &str, &str); 4] = [
        ("", PASSWORD, "an empty username"),
        ("ada lovelace", PASSWORD, "a username with a space"),
        (&long, PASSWORD, "a username of 33 characters"),
        ("ada", "short", "a password of 5 characters"),
    ];
    let mut visitor = Browser::new("visitor");
    for (username, password, what) in cases {
        let reply = visitor
            .post(
                ctx,
                "/register",
                &[("username", username), ("password", password)],
            )
            .await?;
        if reply.status != StatusCode::BAD_REQUEST {
            return Err(Failure::new(format!(
                "Registering with {what} was answered {} instead of 400 Bad Request. \
                 Usernames are 1 to 32 characters of letters, digits, `_`, `.` and `-`; \
                 passwords have at least 8 characters. Check both before hashing or \
                 storing anything.",
                http::status_line(reply.status)
            ))
            .expected("400 Bad Request, with a message that says what is allowed"));
        }
    }
    let users = ctx
        .database()?
        .collection::<Document>("users")
        .count_documents(doc! {})
        .await
        .map_err(database_failure)?;
    if users > 0 {
        return Err(Failure::new(format!(
            "Every registration was refused, yet the `users` collection holds {users} \
             document(s): check the username and password before inserting."
        )));
    }
    Ok(())
}

/// A second registration of a taken username is refused with `409` and does not
/// replace the account.
async fn name_taken(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut mallory = Browser::new("mallory");
    let reply = mallory
        .post(
            ctx,
            "/register",
            &[("username", "ada"), ("password", MALLORY_PASSWORD)],
        )
        .await?;
    if reply.status != StatusCode::CONFLICT {
        let took = if reply.status.is_redirection() {
            " mallory now has an account called ada, or ada's account with mallory's \
             password."
        } else {
            ""
        };
        return Err(Failure::new(format!(
            "Registering the taken username \"ada\" again was answered {} instead of 409 \
             Conflict.{took} Insert the user and, when MongoDB refuses it for the unique \
             index (a write error with code 11000), answer 409 \"that username is taken\".",
            http::status_line(reply.status)
        ))
        .expected("409 Conflict, \"that username is taken\""));
    }
    let reply = mallory
        .post(
            ctx,
            "/login",
            &[("username", "ada"), ("password", MALLORY_PASSWORD)],
        )
        .await?;
    if reply.status.is_redirection() {
        return Err(Failure::new(
            "The second registration of \"ada\" was refused, yet mallory can now log in \
             as ada with her own password: it replaced ada's account. Insert; never \
             update or replace an existing user at registration.",
        )
        .expected("401 Unauthorized"));
    }
    let count = ctx
        .database()?
        .collection::<Document>("users")
        .count_documents(doc! { "username": "ada" })
        .await
        .map_err(database_failure)?;
    if count != 1 {
        return Err(Failure::new(format!(
            "The `users` collection holds {count} documents with username \"ada\"."
        ))
        .expected("exactly 1"));
    }
    Ok(())
}

/// The `users` collection has a unique index on `username`.
async fn unique_index(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let users = ctx.database()?.collection::<Document>("users");
    ctx.transcript
        .note("the grader lists the indexes of the `users` collection");
    let mut cursor = users.list_indexes().await.map_err(database_failure)?;
    let mut seen = Vec::new();
    while cursor.advance().await.map_err(database_failure)? {
        let index = cursor.deserialize_current().map_err(database_failure)?;
        let keys: Vec<&String> = index.keys.keys().collect();
        let unique = index
            .options
            .as_ref()
            .and_then(|o| o.unique)
            .unwrap_or(false);
        if keys == ["username"] && unique {
            return Ok(());
        }
        seen.push(format!(
            "{}{}",
            index.keys,
            if unique { " (unique)" } else { "" }
        ));
    }
    Err(Failure::new(format!(
        "The `users` collection has no unique index on `username` (its indexes: {}). \
         Looking the name up before inserting is not enough: two registrations at the \
         same moment both find it free. Create the index when the server starts: \
         `IndexModel::builder().keys(doc! {{ \"username\": 1 }}).options(IndexOptions::\
         builder().unique(true).build())`.",
        seen.join(", ")
    ))
    .expected("an index with keys { username: 1 } and unique: true"))
}

/// Passwords are stored as salted argon2 hashes, never in clear.
async fn hashed(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut grace = Browser::new("grace");
    ctx.transcript
        .note("grace registers with the same password as ada");
    grace.register(ctx, "grace", PASSWORD).await?;
    let db = ctx.database()?;
    let users = db.collection::<Document>("users");
    ctx.transcript
        .note("the grader reads ada's and grace's documents in the `users` collection");
    let mut hashes = Vec::new();
    for who in ["ada", "grace"] {
        let found = users
            .find_one(doc! { "username": who })
            .await
            .map_err(database_failure)?;
        let Some(user) = found else {
            let names = db.list_collection_names().await.map_err(database_failure)?;
            return Err(Failure::new(format!(
                "{who} registered, and the `users` collection has no document with \
                 `username: \"{who}\"` (the database's collections: {names:?}). Keep users \
                 in `users`, with the name in `username`."
            ))
            .expected(r#"{ _id: ObjectId, username: "…", password_hash: "$argon2id$…" }"#));
        };
        let fields: Vec<&String> = user.keys().collect();
        ctx.transcript
            .note(format!("{who}'s document has the fields {fields:?}"));
        let mut strings = Vec::new();
        collect_strings("", &Bson::Document(user.clone()), &mut strings);
        if let Some((field, _)) = strings.iter().find(|(_, s)| s.contains(PASSWORD)) {
            return Err(Failure::new(format!(
                "{who}'s password is stored in clear, in `{field}`: whoever reads the \
                 database (a backup, a leak) reads every password, which people reuse \
                 elsewhere. Store only an argon2 hash of it."
            ))
            .expected(r#"password_hash: "$argon2id$v=19$…""#));
        }
        let Some((_, hash)) = strings.iter().find(|(_, s)| s.starts_with("$argon2")) else {
            return Err(Failure::new(format!(
                "{who}'s document has no argon2 hash (a string starting `$argon2`) in \
                 any field. Hash the password with `Argon2::default().hash_password(…)` \
                 and store the PHC string it gives (`hash.to_string()`)."
            ))
            .expected(r#"password_hash: "$argon2id$v=19$…""#));
        };
        hashes.push(hash.clone());
    }
    if hashes[0] == hashes[1] {
        return Err(Failure::new(
            "ada and grace have the same password, and their stored hashes are the \
             same: the salt is not random, so one guess tests every user at once. Make \
             a new salt for every hash: `SaltString::generate(&mut OsRng)`.",
        )
        .expected("two different hashes"));
    }
    Ok(())
}

/// Every string in a document, with its dotted path.
fn collect_strings(path: &str, value: &Bson, out: &mut Vec<(String, String)>) {
    match value {
        Bson::String(s) => out.push((path.to_string(), s.clone())),
        Bson::Document(doc) => {
            for (key, value) in doc {
                let inner = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                collect_strings(&inner, value, out);
            }
        }
        Bson::Array(items) => {
            for (i, value) in items.iter().enumerate() {
                collect_strings(&format!("{path}.{i}"), value, out);
            }
        }
        Bson::Binary(binary) => {
            out.push((
                path.to_string(),
                String::from_utf8_lossy(&binary.bytes).into_owned(),
            ));
        }
        _ => {}
    }
}

/// A private message reaches every socket of the recipient (two sessions), and no one
/// else's.
async fn to_user(ctx: &Ctx) -> Step<()> {
    let mut laptop = Browser::new("ada");
    laptop.register(ctx, "ada", PASSWORD).await?;
    let mut phone = Browser::new("ada-phone");
    phone.log_in(ctx, "ada", PASSWORD).await?;
    let mut grace_browser = Browser::new("grace");
    grace_browser.register(ctx, "grace", GRACE_PASSWORD).await?;
    let mut linus_browser = Browser::new("linus");
    linus_browser.register(ctx, "linus", LINUS_PASSWORD).await?;
    let mut ada = join(ctx, "ada", &laptop).await?;
    let mut ada_phone = join(ctx, "ada-phone", &phone).await?;
    let mut grace = join(ctx, "grace", &grace_browser).await?;
    let mut linus = join(ctx, "linus", &linus_browser).await?;

    let text = "hello ada, from grace";
    let sent = json!({ "from": "grace", "text": text });
    let answer = grace
        .emit_with_ack(
            "private message",
            vec![json!({ "to": "ada", "text": text })],
            EVENT_WAIT,
        )
        .await?;
    if first(&answer).get("ok") != Some(&json!(true)) {
        return Err(Failure::new(format!(
            "grace sent ada a private message and the acknowledgement was {}: ada exists \
             and is online.",
            first(&answer)
        ))
        .expected(r#"grace ← 430[{"ok":true}]"#));
    }
    for client in [&mut ada, &mut ada_phone] {
        let who = client.who.clone();
        let args = client
            .expect_event("private message", EVENT_WAIT)
            .await
            .map_err(|f| {
                let reason = format!(
                    "{} Every socket of ada, in every browser she is logged in with, \
                     should get it: each socket joins the room `user:{{id}}` when it \
                     connects, and the message goes to the recipient's room \
                     (`io.to(format!(\"user:{{}}\", recipient.id))`).",
                    f.reason
                );
                Failure::new(reason).expected(format!(r#"{who} ← 42["private message",{sent}]"#))
            })?;
        if first(&args) != sent {
            return Err(Failure::new(format!(
                "{who} got the private message as {}. The server says who sent it, from \
                 the sender's socket (`from`: the sender's username), and passes the \
                 text on.",
                first(&args)
            ))
            .expected(format!(r#"{who} ← 42["private message",{sent}]"#)));
        }
    }
    if linus
        .maybe_event("private message", SILENCE_WAIT)
        .await?
        .is_some()
    {
        return Err(Failure::new(
            "linus got grace's private message to ada: it went to everyone. Send it to \
             the recipient's room only, `io.to(format!(\"user:{}\", recipient.id))`.",
        )
        .expected("linus gets nothing"));
    }
    let answer = grace
        .emit_with_ack(
            "private message",
            vec![json!({ "to": UNKNOWN, "text": "anyone there?" })],
            EVENT_WAIT,
        )
        .await?;
    if first(&answer).get("ok") != Some(&json!(false)) {
        return Err(Failure::new(format!(
            "grace sent a private message to {UNKNOWN:?}, who has no account, and the \
             acknowledgement was {}.",
            first(&answer)
        ))
        .expected(r#"grace ← 431[{"ok":false,"error":"no such user"}]"#));
    }
    leave(vec![linus, grace, ada_phone, ada]).await;
    Ok(())
}

/// Logging out disconnects every socket of that session, and only those; the old
/// cookie no longer connects.
async fn logout(ctx: &Ctx) -> Step<()> {
    let quiet = Quiet::new(ctx);
    let mut laptop = Browser::new("ada");
    laptop.register(ctx, "ada", PASSWORD).await?;
    let mut phone = Browser::new("ada-phone");
    phone.log_in(ctx, "ada", PASSWORD).await?;
    let mut tabs = Vec::new();
    for who in ["ada-tab-1", "ada-tab-2"] {
        tabs.push(join(&quiet.0, who, &laptop).await?);
    }
    let mut on_phone = join(&quiet.0, "ada-phone", &phone).await?;
    ctx.transcript.note(
        "ada has two tabs open in her laptop's browser (ada-tab-1, ada-tab-2: one session) \
         and one on her phone (ada-phone: another session), all three connected",
    );
    let old_cookie = laptop.cookie();
    let reply = laptop.post(ctx, "/logout", &[]).await?;
    if !reply.status.is_redirection() {
        return Err(Failure::new(format!(
            "POST /logout answered {} instead of a redirect to /login. Add the route \
             (`.route(\"/logout\", post(log_out))`): it ends the session and disconnects \
             its sockets, then answers `Redirect::to(\"/login\")`.",
            http::status_line(reply.status)
        ))
        .expected("303 See Other, Location: /login"));
    }
    for tab in &mut tabs {
        let gone = tab.await_any(&[], LOGOUT_WAIT).await.is_err();
        if !gone {
            return Err(Failure::new(format!(
                "ada logged out in her laptop's browser, and {}, a tab of that browser, \
                 was still connected {} later: a logged-out browser keeps chatting. \
                 Each socket joins the room `session:{{id}}` when it connects; at logout, \
                 note the session's id before `session.flush()` and call \
                 `io.within(format!(\"session:{{id}}\")).disconnect().await`.",
                tab.who,
                super::lines::seconds(LOGOUT_WAIT)
            ))
            .expected(format!(
                "{} ← 41 (DISCONNECT), or its connection closed",
                tab.who
            )));
        }
        ctx.transcript
            .note(format!("{} was disconnected by the server", tab.who));
    }
    let still = on_phone
        .emit_with_ack("whoami", vec![], EVENT_WAIT)
        .await
        .is_ok();
    if !still {
        return Err(Failure::new(
            "ada logged out in her laptop's browser, and the socket on her phone, another \
             session, was disconnected too: logging out of one browser must not log her \
             out of the others. Disconnect the room of the session (`session:{id}`), not \
             the user's (`user:{id}`).",
        )
        .expected("ada-phone stays connected"));
    }
    ctx.transcript
        .note("ada-phone is still connected (it asked `whoami` and got its answer)");
    leave(vec![on_phone]).await;
    drop(quiet);
    let answer = attempt(ctx, "ada", old_cookie.as_deref()).await?;
    if let Answer::Accepted(client) = answer {
        client.disconnect().await;
        return Err(Failure::new(
            "After ada logged out, the cookie her laptop had before still opens a socket: \
             whoever copied it stays logged in. Delete the session at logout: \
             `session.flush().await?` removes it from the store.",
        )
        .expected(r#"ada ← 44{"message":"not logged in"}, or 401 on the handshake"#));
    }
    Ok(())
}

/// `is online` answers from the server's side: true while a user has a socket, false
/// once the last one left, false for users who never came.
async fn online(ctx: &Ctx) -> Step<()> {
    let mut ada_browser = Browser::new("ada");
    ada_browser.register(ctx, "ada", PASSWORD).await?;
    let mut grace_browser = Browser::new("grace");
    grace_browser.register(ctx, "grace", GRACE_PASSWORD).await?;
    let mut linus_browser = Browser::new("linus");
    linus_browser.register(ctx, "linus", LINUS_PASSWORD).await?;
    let mut ada = join(ctx, "ada", &ada_browser).await?;
    let grace_1 = join(ctx, "grace-tab-1", &grace_browser).await?;
    let grace_2 = join(ctx, "grace-tab-2", &grace_browser).await?;

    ask_online(&mut ada, "grace", true, "grace has two tabs open").await?;
    ask_online(&mut ada, "ada", true, "ada asks about herself").await?;
    ask_online(
        &mut ada,
        "linus",
        false,
        "linus has an account and no socket",
    )
    .await?;
    ask_online(&mut ada, UNKNOWN, false, "nobody has that username").await?;
    grace_1.disconnect().await;
    tokio::time::sleep(SETTLE).await;
    ask_online(
        &mut ada,
        "grace",
        true,
        "grace closed one tab and still has the other",
    )
    .await?;
    grace_2.disconnect().await;
    tokio::time::sleep(SETTLE).await;
    ask_online(&mut ada, "grace", false, "grace closed her last tab").await?;
    leave(vec![ada]).await;
    Ok(())
}

/// ada asks `is online` about `username`; the answer must be `online`.
async fn ask_online(ada: &mut SioClient, username: &str, online: bool, why: &str) -> Step<()> {
    let expected = json!({ "username": username, "online": online });
    let answer = ada
        .emit_with_ack("is online", vec![json!(username)], EVENT_WAIT)
        .await
        .map_err(|f| f.expected(format!("ada ← 43…[{expected}]")))?;
    let got = first(&answer);
    if got.get("online") == Some(&json!(online)) {
        return Ok(());
    }
    let hint = if online {
        "Each socket joins `user:{id}` when it connects; a user is online while that \
         room has a socket: `!io.within(format!(\"user:{}\", id)).fetch_sockets().await?\
         .is_empty()`."
    } else {
        "Answer from the server's own rooms, which a socket leaves when it disconnects, \
         rather than from a list that must be kept up to date by hand."
    };
    Err(Failure::new(format!(
        "ada asked `is online` about {username:?} ({why}) and the acknowledgement was \
         {got}. {hint}"
    ))
    .expected(format!("ada ← 43…[{expected}]")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded_as_browsers_do() {
        assert_eq!(
            encode_form(&[("username", "ada"), ("password", "analytical engine")]),
            "username=ada&password=analytical+engine"
        );
        assert_eq!(encode("a&b=c/é"), "a%26b%3Dc%2F%C3%A9");
    }

    #[test]
    fn every_probe_validates() {
        for name in PROBES {
            assert!(validate(name, &toml::Table::new()).unwrap().is_ok());
        }
        assert!(validate("auth-refuses", &toml::Table::new()).is_none());
        let mut extra = toml::Table::new();
        extra.insert("x".into(), toml::Value::Integer(1));
        assert!(validate("accounts-logout", &extra).unwrap().is_err());
    }

    #[test]
    fn strings_are_found_anywhere_in_a_document() {
        let user = doc! { "username": "ada", "secret": { "list": ["x", "pw"] } };
        let mut found = Vec::new();
        collect_strings("", &Bson::Document(user), &mut found);
        assert_eq!(
            found,
            [
                ("username".to_string(), "ada".to_string()),
                ("secret.list.0".to_string(), "x".to_string()),
                ("secret.list.1".to_string(), "pw".to_string()),
            ]
        );
    }
}
