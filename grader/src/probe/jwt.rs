//! Probes of the token handshake (stage 11): accounts over a JSON API that hands out
//! signed tokens (JWTs), and a Socket.IO handshake that lets in only a good token.
//!
//! ada registers (`POST /auth/register`) and logs in (`POST /auth/login`), each time
//! getting a token; she sends it in her CONNECT's `auth` payload, `{"token": "…"}`, and
//! `whoami` must then name her. mallory tries the tokens an attacker would try: none,
//! garbage, ada's claims past their `exp`, signed with another key, or with the
//! algorithm `none` and no signature at all; and ada's own token after her account was
//! deleted. Each must be refused with CONNECT_ERROR and the message `Authentication
//! error`, the same for every case, so a client learns nothing about which check failed.
//!
//! The grader knows the server's key (`server::JWT_SECRET`, given to every graded
//! server as `JWT_SECRET`), so it can make tokens of its own that are right in every
//! way but one. Tokens vary from run to run; the transcript shows the ones it reads in
//! answers as `eyJ…`.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mongodb::bson::{Bson, Document, doc};
use regex::Regex;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::engineio::Transport;
use super::http::{self, Reply};
use super::socketio::{ANSWER_WAIT, Answer, Options, SioClient};
use super::{Ctx, Failure, Step, params_error, parse};
use crate::server::JWT_SECRET;

/// The one message every refusal carries (the one socket.io's own examples use).
pub const REFUSAL: &str = "Authentication error";
/// ada's password, and one that is not.
const PASSWORD: &str = "correct horse battery staple";
const WRONG_PASSWORD: &str = "correct horse battery stable";
/// A key as long as the server's, that is not the server's.
const OTHER_KEY: &str = "mallory-signs-with-a-key-of-her-own-0123456789abcdef";
/// How long an account request may take: hashing a password with argon2 is slow on
/// purpose, and slower still in a debug build.
const ACCOUNT_WAIT: Duration = Duration::from_secs(10);
/// How long a client waits for its own `user` announcement.
const EVENT_WAIT: Duration = Duration::from_secs(2);
/// How long an accepted attacker waits to see whether the server throws it out.
const KICK_WAIT: Duration = Duration::from_millis(400);
/// The longest lifetime a token may claim: tokens cannot be taken back, so they must
/// end soon (the chapter uses one hour).
const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusesParams {
    attack: Attack,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Attack {
    /// No `auth` at all (and no cookie).
    NoToken,
    /// A `token` that is no JWT.
    Garbage,
    /// ada's claims, signed with the server's key, `exp` an hour ago.
    Expired,
    /// ada's claims, signed with another key.
    WrongSignature,
    /// ada's claims, header `{"alg":"none"}`, no signature.
    AlgNone,
    /// ada's real token, after her user document was deleted.
    DeletedUser,
}

/// `Some` when `name` is a probe of this module: whether `params` suit it.
pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    Some(match name {
        "jwt-register" | "jwt-token" | "jwt-login" | "jwt-login-errors" => {
            parse::<NoParams>(params).map(drop)
        }
        "jwt-refuses" => parse::<RefusesParams>(params).map(drop),
        _ => return None,
    })
}

/// `Some` when `name` is a probe of this module: its verdict.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    let no_params = || parse::<NoParams>(params).map_err(params_error(name));
    Some(match name {
        "jwt-register" => match no_params() {
            Ok(_) => register(ctx).await,
            Err(failure) => Err(failure),
        },
        "jwt-token" => match no_params() {
            Ok(_) => token_claims(ctx).await,
            Err(failure) => Err(failure),
        },
        "jwt-login" => match no_params() {
            Ok(_) => login(ctx).await,
            Err(failure) => Err(failure),
        },
        "jwt-login-errors" => match no_params() {
            Ok(_) => login_errors(ctx).await,
            Err(failure) => Err(failure),
        },
        "jwt-refuses" => match parse::<RefusesParams>(params).map_err(params_error(name)) {
            Ok(p) => refuses(ctx, p.attack).await,
            Err(failure) => Err(failure),
        },
        _ => return None,
    })
}

/// The claims the chapter's tokens carry, as the grader signs them.
#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    username: String,
    iat: u64,
    exp: u64,
}

/// What a 2xx answer of `/auth/register` or `/auth/login` carried.
struct Issued {
    token: String,
    body: Value,
}

/// `POST path` with a JSON body, recorded in the transcript (tokens in the answer shown
/// as `eyJ…`).
pub(crate) async fn post_json(ctx: &Ctx, who: &str, path: &str, body: &Value) -> Step<Reply> {
    let url = http::url(ctx, path);
    let text = body.to_string();
    ctx.transcript.command(&format!(
        "curl -i -H 'content-type: application/json' -d '{text}' '{url}'"
    ));
    ctx.transcript
        .push_line(format!("{who} → POST {path} {text}"));
    // Not `http::fetch`, which labels every body as text (axum's `Json` refuses it).
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let reply = fetch_json(&url, &headers, text)
        .await
        .map_err(|why| Failure::new(format!("{who}'s POST {path}: {why}.")))?;
    ctx.transcript
        .push_line(format!("{who} ← {}", reply.summary()));
    if !reply.body.is_empty() && reply.body.len() <= 2000 {
        ctx.transcript.push_line(format!(
            "{who} ← {}",
            super::show_packet(&shorten_tokens(&reply.text()))
        ));
    }
    Ok(reply)
}

/// One POST of a JSON body, bounded like [`http::fetch`].
async fn fetch_json(url: &str, headers: &http::Headers, body: String) -> Result<Reply, String> {
    let exchange = async {
        let mut request = http::client().request(Method::POST, url).body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
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
    match tokio::time::timeout(ACCOUNT_WAIT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no complete answer within {}",
            super::lines::seconds(ACCOUNT_WAIT)
        )),
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "could not connect".to_string()
    } else {
        "the request failed (the connection closed before a complete answer)".to_string()
    }
}

/// Every JWT in `text` as `eyJ…`: tokens change from run to run, and their content is
/// checked elsewhere.
fn shorten_tokens(text: &str) -> String {
    static JWT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*").expect("valid regex")
    });
    JWT.replace_all(text, "eyJ…").into_owned()
}

/// The body of an answer as JSON, if it is.
fn json_body(reply: &Reply) -> Option<Value> {
    serde_json::from_slice(&reply.body).ok()
}

/// The `token` of an answer: a string of three dot-separated parts.
fn token_of(body: &Value) -> Option<String> {
    body.get("token")
        .and_then(Value::as_str)
        .filter(|t| t.split('.').count() == 3)
        .map(str::to_string)
}

/// `POST /auth/register` as `who`, which must answer a token (any 2xx). The probes of
/// other things than registering use it, and fail only when no token comes.
async fn register_user(ctx: &Ctx, who: &str, username: &str) -> Step<Issued> {
    let reply = post_json(
        ctx,
        who,
        "/auth/register",
        &json!({ "username": username, "password": PASSWORD }),
    )
    .await?;
    issued(&reply, "/auth/register", &format!("registering {username}"))
}

/// The token of a 2xx answer, or a failure that says what came instead.
fn issued(reply: &Reply, path: &str, doing: &str) -> Step<Issued> {
    let expected = r#"2xx with {"token": "eyJ…", "user": {"id": "…", "username": "…"}}"#;
    if !reply.status.is_success() {
        return Err(Failure::new(format!(
            "POST {path} ({doing}) answered {} instead of a token.{}",
            http::status_line(reply.status),
            route_hint(reply.status, path)
        ))
        .expected(expected));
    }
    let body = json_body(reply).unwrap_or(Value::Null);
    let Some(token) = token_of(&body) else {
        return Err(Failure::new(format!(
            "POST {path} ({doing}) answered {}, but its body has no `token` that looks like \
             a JWT (three base64url parts joined by dots). Answer \
             `Json(json!({{\"token\": token, \"user\": …}}))`, with the token made by \
             `jsonwebtoken::encode`.",
            http::status_line(reply.status)
        ))
        .expected(expected));
    };
    Ok(Issued { token, body })
}

fn route_hint(status: StatusCode, path: &str) -> String {
    match status.as_u16() {
        404 | 405 => format!(" Add the route: `.route(\"{path}\", post(handler))`."),
        415 => " The request's body is JSON (`content-type: application/json`): take it \
                with `Json<Credentials>`."
            .to_string(),
        422 | 400 => " The grader sent `{\"username\": \"…\", \"password\": \"…\"}` as \
                      JSON: take it with `Json<Credentials>`, a struct with `username` \
                      and `password`."
            .to_string(),
        _ => String::new(),
    }
}

/// The `_id` of `username`'s document in `users`, as hex.
async fn user_id(ctx: &Ctx, username: &str) -> Step<String> {
    let users = ctx.database()?.collection::<Document>("users");
    let found = users
        .find_one(doc! { "username": username })
        .await
        .map_err(|e| Failure::new(format!("The grader could not read `users`: {e}")))?;
    let Some(user) = found else {
        return Err(Failure::new(format!(
            "After {username} registered, the grader found no document with \
             `username: \"{username}\"` in the `users` collection: keep the users in \
             MongoDB as in stage 10."
        )));
    };
    match user.get("_id") {
        Some(Bson::ObjectId(id)) => Ok(id.to_hex()),
        Some(Bson::String(id)) => Ok(id.clone()),
        other => Err(Failure::new(format!(
            "{username}'s document in `users` has the `_id` {other:?}, where the grader \
             expected an ObjectId: let MongoDB make it (insert without `_id`)."
        ))),
    }
}

/// Seconds since 1970.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token with `claims`, signed HS256 with `key`.
fn sign(claims: &Claims, key: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

/// A token with `claims`, the header `{"alg":"none","typ":"JWT"}` and an empty
/// signature: what an attacker sends to a server that believes the header.
fn unsigned(claims: &Claims) -> String {
    let header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64url(
        serde_json::to_string(claims)
            .expect("claims serialize")
            .as_bytes(),
    );
    format!("{header}.{payload}.")
}

/// Base64url without padding, as JWTs use it.
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let bytes = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// One handshake and CONNECT as `who`, with `token` in `auth` (or no `auth`); `with`
/// says in words what was sent.
async fn attempt(
    ctx: &Ctx,
    who: &str,
    token: Option<&str>,
    transport: Transport,
    with: &str,
) -> Step<Answer> {
    let mut options = Options::new(transport);
    options.auth = token.map(|token| json!({ "token": token }));
    ctx.transcript.note(format!(
        "{who} connects {} with {with}",
        transport.describe()
    ));
    SioClient::try_connect(ctx, who, &options).await
}

/// `POST /auth/register` for ada: 201 with a token and the user; a second time, 409.
pub async fn register(ctx: &Ctx) -> Step<()> {
    let credentials = json!({ "username": "ada", "password": PASSWORD });
    let reply = post_json(ctx, "ada", "/auth/register", &credentials).await?;
    let expected = r#"201 Created with {"token": "eyJ…", "user": {"id": "…", "username": "ada"}}"#;
    let issued = issued(&reply, "/auth/register", "registering ada").map_err(|f| {
        let reason = f.reason;
        Failure::new(reason).expected(expected)
    })?;
    if reply.status != StatusCode::CREATED {
        return Err(Failure::new(format!(
            "POST /auth/register answered {}: a request that creates something (here, a \
             user) answers 201 Created. Return `(StatusCode::CREATED, Json(…))`.",
            http::status_line(reply.status)
        ))
        .expected(expected));
    }
    let id = user_id(ctx, "ada").await?;
    let user = issued.body.get("user").cloned().unwrap_or(Value::Null);
    let said_name = user.get("username").and_then(Value::as_str);
    let said_id = user.get("id").and_then(Value::as_str);
    if said_name != Some("ada") || said_id != Some(id.as_str()) {
        return Err(Failure::new(format!(
            "POST /auth/register answered the user {user}, where the grader expected ada's \
             `username` and her `id`, the hex of the `_id` MongoDB gave her document \
             ({id}). The API client shows who it is logged in as from it."
        ))
        .expected(expected));
    }
    let reply = post_json(ctx, "grace", "/auth/register", &credentials).await?;
    match reply.status.as_u16() {
        409 => Ok(()),
        code if (200..300).contains(&code) => Err(Failure::new(
            "grace registered as `ada` a second time, and got in: two accounts with one \
             name, or worse, a way into ada's. Keep the unique index on `username` \
             (`IndexOptions::builder().unique(true)`) and answer its duplicate-key error \
             (code 11000) with 409 Conflict.",
        )
        .expected(r#"409 Conflict with {"error": "that username is taken"}"#)),
        _ => Err(Failure::new(format!(
            "Registering `ada` a second time answered {}, where the grader expected 409 \
             Conflict: the name is taken, which is the client's problem to fix, not the \
             server's.",
            http::status_line(reply.status)
        ))
        .expected(r#"409 Conflict with {"error": "that username is taken"}"#)),
    }
}

/// The token from registering is an HS256 JWT signed with `JWT_SECRET`, with `sub`
/// (the user's id), `username` and an `exp` that comes soon.
pub async fn token_claims(ctx: &Ctx) -> Step<()> {
    let issued = register_user(ctx, "ada", "ada").await?;
    let id = user_id(ctx, "ada").await?;
    let expected = format!(
        r#"a token signed HS256 with JWT_SECRET, claims {{"sub": "{id}", "username": "ada", "iat": …, "exp": … (within a day)}}"#
    );
    let header = jsonwebtoken::decode_header(&issued.token).map_err(|e| {
        Failure::new(format!(
            "The token from /auth/register is not a JWT the grader can read ({e}). Make it \
             with `jsonwebtoken::encode(&Header::default(), &claims, &key)`."
        ))
        .expected(expected.clone())
    })?;
    if header.alg != Algorithm::HS256 {
        return Err(Failure::new(format!(
            "The token from /auth/register is signed with {:?}; this stage signs with HS256 \
             (an HMAC with the server's secret key): `Header::new(Algorithm::HS256)`, \
             which is also `Header::default()`.",
            header.alg
        ))
        .expected(expected));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let data = jsonwebtoken::decode::<Value>(
        &issued.token,
        &DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    );
    let claims = match data {
        Ok(data) => data.claims,
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::InvalidSignature => "its signature does not check out with the \
                     key the grader gave your server in `JWT_SECRET`. Read the key from the \
                     environment (`std::env::var(\"JWT_SECRET\")`) and sign with \
                     `EncodingKey::from_secret(secret.as_bytes())`; a key made up at each \
                     start would make every token die with the server."
                    .to_string(),
                ErrorKind::MissingRequiredClaim(claim) => format!(
                    "it has no `{claim}` claim. `sub` (subject) names the user, by the id \
                     of their document; `exp` (expiry, in seconds since 1970) says when \
                     the token stops being good."
                ),
                ErrorKind::ExpiredSignature => "it has already expired: `exp` is a time \
                     in seconds since 1970 (`jsonwebtoken::get_current_timestamp() + 3600` \
                     for an hour from now), not a duration."
                    .to_string(),
                _ => format!("the grader could not verify it ({e})."),
            };
            return Err(
                Failure::new(format!("The token from /auth/register is wrong: {why}"))
                    .expected(expected),
            );
        }
    };
    let sub = claims.get("sub").and_then(Value::as_str);
    if sub != Some(id.as_str()) {
        return Err(Failure::new(format!(
            "The token's `sub` is {}, where the grader expected ada's id, the hex of her \
             document's `_id` ({id}): the handshake loads the user by it.",
            claims.get("sub").map(Value::to_string).unwrap_or_default()
        ))
        .expected(expected));
    }
    if claims.get("username").and_then(Value::as_str) != Some("ada") {
        return Err(Failure::new(format!(
            "The token's `username` is {}, where the grader expected \"ada\".",
            claims
                .get("username")
                .map(Value::to_string)
                .unwrap_or_else(|| "missing".to_string())
        ))
        .expected(expected));
    }
    let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
    if exp > now() + MAX_LIFETIME_SECS {
        return Err(Failure::new(format!(
            "The token's `exp` is {} hours away. A token cannot be taken back once given \
             (the server keeps no list of them), so a stolen one works until it expires: \
             keep tokens short-lived, an hour in this course (`now + 3600`).",
            (exp - now()) / 3600
        ))
        .expected(expected));
    }
    Ok(())
}

/// ada logs in and connects with the token, over polling and WebSocket; `whoami` names
/// her.
pub async fn login(ctx: &Ctx) -> Step<()> {
    register_user(ctx, "ada", "ada").await?;
    let id = user_id(ctx, "ada").await?;
    let credentials = json!({ "username": "ada", "password": PASSWORD });
    let reply = post_json(ctx, "ada", "/auth/login", &credentials).await?;
    let issued = issued(&reply, "/auth/login", "ada logging in with her password")?;
    if reply.status != StatusCode::OK {
        return Err(Failure::new(format!(
            "POST /auth/login answered {}; a login creates nothing the client can name, so \
             it answers 200 OK (`Json(…)`).",
            http::status_line(reply.status)
        ))
        .expected(r#"200 OK with {"token": "eyJ…", "user": {…}}"#));
    }
    let expected_ack = format!(r#"ada ← 430[{{"id":"{id}","username":"ada"}}]"#);
    for transport in [Transport::Polling, Transport::Websocket] {
        let answer = attempt(
            ctx,
            "ada",
            Some(&issued.token),
            transport,
            "the token from /auth/login in `auth`",
        )
        .await?;
        let mut client = match answer {
            Answer::Accepted(client) => *client,
            refusal => {
                return Err(Failure::new(format!(
                    "ada's token, just given by /auth/login, was refused {}: {}. The \
                     handshake's `auth` payload is `{{\"token\": \"…\"}}`: take it in the \
                     connect middleware with `TryData<Auth>` (a struct with \
                     `token: Option<String>`), verify it with the key that signed it, then \
                     load the user named by `sub`.",
                    transport.describe(),
                    refusal.describe("/")
                ))
                .expected("ada ← 40{\"sid\":…}"));
            }
        };
        // socketioxide answers the CONNECT before the connection handler has run, and
        // an event that comes before the handler registered `whoami` is dropped: wait
        // for the handler's announcement first.
        client.await_any(&["user"], EVENT_WAIT).await?;
        let ack = client
            .emit_with_ack("whoami", Vec::new(), ANSWER_WAIT)
            .await
            .map_err(|f| f.expected(expected_ack.clone()));
        client.disconnect().await;
        let ack = ack?;
        let got = ack.first().cloned().unwrap_or(Value::Null);
        let name = got.get("username").and_then(Value::as_str);
        let got_id = got.get("id").and_then(Value::as_str);
        if name != Some("ada") || got_id != Some(id.as_str()) {
            return Err(Failure::new(format!(
                "ada connected with her token, but `whoami` answered {got}: the socket \
                 should be the token's user, loaded from `users` by the id in `sub`, and \
                 kept in the socket's extensions."
            ))
            .expected(expected_ack));
        }
    }
    Ok(())
}

/// A wrong password and an unknown user: both 401, with the same body.
pub async fn login_errors(ctx: &Ctx) -> Step<()> {
    register_user(ctx, "ada", "ada").await?;
    let expected = r#"401 Unauthorized with {"error": "wrong username or password"}, twice"#;
    let wrong = post_json(
        ctx,
        "mallory",
        "/auth/login",
        &json!({ "username": "ada", "password": WRONG_PASSWORD }),
    )
    .await?;
    if wrong.status.is_success() {
        return Err(Failure::new(format!(
            "mallory logged in as ada with a wrong password ({}): check the password \
             against the stored hash (`Argon2::default().verify_password(…)`) and answer \
             401 when it does not match.",
            http::status_line(wrong.status)
        ))
        .expected(expected));
    }
    let unknown = post_json(
        ctx,
        "mallory",
        "/auth/login",
        &json!({ "username": "grace", "password": PASSWORD }),
    )
    .await?;
    if unknown.status.is_success() {
        return Err(Failure::new(format!(
            "mallory logged in as grace, who never registered ({}).",
            http::status_line(unknown.status)
        ))
        .expected(expected));
    }
    for reply in [&wrong, &unknown] {
        if reply.status != StatusCode::UNAUTHORIZED {
            return Err(Failure::new(format!(
                "A failed login answered {}, where the grader expected 401 Unauthorized: \
                 the credentials are wrong.",
                http::status_line(reply.status)
            ))
            .expected(expected));
        }
    }
    if wrong.body != unknown.body {
        return Err(Failure::new(
            "A wrong password and an unknown username got different answers: whoever \
             tries names learns which ones have an account, and then only has passwords \
             to guess. Answer both with the same body, `{\"error\": \"wrong username or \
             password\"}`.",
        )
        .expected(expected));
    }
    Ok(())
}

/// The probe for one attack: mallory's attempt must be refused with CONNECT_ERROR
/// `Authentication error`.
async fn refuses(ctx: &Ctx, attack: Attack) -> Step<()> {
    if attack == Attack::NoToken {
        for transport in [Transport::Polling, Transport::Websocket] {
            let answer = attempt(ctx, "mallory", None, transport, "no token and no cookie").await?;
            refused(
                ctx,
                answer,
                attack,
                "A handshake with no token (and no session cookie) was accepted: anyone at \
                 all can join.",
            )
            .await?;
        }
        return Ok(());
    }
    if attack == Attack::Garbage {
        let answer = attempt(
            ctx,
            "mallory",
            Some("hello.i-am.ada"),
            Transport::Polling,
            "a token that is no JWT",
        )
        .await?;
        return refused(
            ctx,
            answer,
            attack,
            "A token that is not a JWT at all was accepted: the server lets in any `auth` \
             that has a `token`.",
        )
        .await;
    }
    let issued = register_user(ctx, "ada", "ada").await?;
    let sub = user_id(ctx, "ada").await?;
    let claims = |iat: u64, exp: u64| Claims {
        sub: sub.clone(),
        username: "ada".to_string(),
        iat,
        exp,
    };
    let now = now();
    let (token, with, attack_text) = match attack {
        Attack::Expired => (
            sign(&claims(now - 7200, now - 3600), JWT_SECRET),
            "ada's claims signed with JWT_SECRET, `exp` one hour ago",
            "A token that expired an hour ago was accepted: a token that leaked once \
             works for ever. `Validation::new(Algorithm::HS256)` checks `exp` (keep \
             `validate_exp`, and a leeway of a few seconds at most).",
        ),
        Attack::WrongSignature => (
            sign(&claims(now, now + 3600), OTHER_KEY),
            "ada's claims signed with another key",
            "A token signed with another key than JWT_SECRET was accepted: anyone can make \
             a token that says they are ada. Verify the signature with \
             `jsonwebtoken::decode` and the server's key; never read the claims without it.",
        ),
        Attack::AlgNone => (
            unsigned(&claims(now, now + 3600)),
            "ada's claims, header {\"alg\":\"none\"} and no signature",
            "A token with `\"alg\": \"none\"` and no signature was accepted: the server let \
             the token choose how it is checked, and the token chose not at all. Pin the \
             algorithm on the server's side, `Validation::new(Algorithm::HS256)`, and let \
             `jsonwebtoken::decode` refuse every other.",
        ),
        Attack::DeletedUser => {
            let users = ctx.database()?.collection::<Document>("users");
            let deleted = users
                .delete_one(doc! { "username": "ada" })
                .await
                .map_err(|e| Failure::new(format!("The grader could not delete ada: {e}")))?;
            ctx.transcript.note(format!(
                "the grader deleted ada's document from `users` ({} deleted)",
                deleted.deleted_count
            ));
            (
                issued.token.clone(),
                "ada's token from /auth/register, after her account was deleted",
                "ada's token was accepted after her account was deleted: the server \
                 believed the token's claims without looking the user up. Load the user by \
                 `sub` from `users` in the handshake, and refuse when there is none (a \
                 deleted or banned account must stop working before its tokens expire).",
            )
        }
        Attack::NoToken | Attack::Garbage => unreachable!("handled above"),
    };
    let answer = attempt(ctx, "mallory", Some(&token), Transport::Polling, with).await?;
    refused(ctx, answer, attack, attack_text).await
}

/// An answer that must be CONNECT_ERROR `Authentication error`; `attack` says what
/// accepting it allows.
async fn refused(ctx: &Ctx, answer: Answer, attack: Attack, text: &str) -> Step<()> {
    let expected = format!("mallory ← 44{{\"message\":\"{REFUSAL}\"}}");
    match answer {
        Answer::Refused {
            message: Some(message),
            ..
        } if message == REFUSAL => Ok(()),
        Answer::Refused { message, data } => {
            let said = message
                .map(|m| format!("the message {m:?}"))
                .or_else(|| data.map(|d| format!("{d}")))
                .unwrap_or_else(|| "no message".to_string());
            Err(Failure::new(format!(
                "The attempt was refused, rightly, but with {said}. Every refusal says \
                 exactly `{REFUSAL}`: clients (the chapter's, socket.io's examples) look \
                 for that text, and one message for every cause tells an attacker nothing \
                 about which check their token failed. Return one error whose `Display` is \
                 `{REFUSAL}` from the connect middleware."
            ))
            .expected(expected))
        }
        Answer::HttpRefused { status } => Err(Failure::new(format!(
            "The Engine.IO handshake request was answered HTTP {status}. The token travels \
             in the CONNECT packet, after the handshake, so only a connect middleware \
             (`on_connect.with(authenticate)`) sees it; refuse there, with CONNECT_ERROR \
             `{REFUSAL}`, which the client gets as a `connect_error` it can show, rather \
             than a transport failure it retries."
        ))
        .expected(expected)),
        Answer::Accepted(client) => {
            let mut client = *client;
            let kicked = client.await_any(&[], KICK_WAIT).await.is_err();
            if !kicked {
                client.disconnect().await;
            }
            let mut reason = text.to_string();
            if kicked {
                reason.push_str(
                    " Your server accepted the CONNECT and disconnected the socket only \
                     afterwards, when its connection handler had run: refuse in the \
                     connect middleware instead.",
                );
            } else if attack != Attack::NoToken {
                let control = attempt(
                    ctx,
                    "mallory",
                    None,
                    Transport::Polling,
                    "no token and no cookie",
                )
                .await?;
                if let Answer::Accepted(client) = control {
                    client.disconnect().await;
                    reason.push_str(
                        " Even a handshake with no token at all is accepted: nothing \
                         checks the token before the connection is let in yet.",
                    );
                }
            }
            Err(Failure::new(reason).expected(expected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_the_rfc() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foob"), "Zm9vYg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(
            base64url(br#"{"alg":"none","typ":"JWT"}"#),
            "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
        );
    }

    #[test]
    fn the_grader_s_tokens_are_what_they_claim() {
        let claims = Claims {
            sub: "0123456789abcdef01234567".into(),
            username: "ada".into(),
            iat: now(),
            exp: now() + 3600,
        };
        let good = sign(&claims, JWT_SECRET);
        let key = DecodingKey::from_secret(JWT_SECRET.as_bytes());
        let validation = Validation::new(Algorithm::HS256);
        assert!(jsonwebtoken::decode::<Claims>(&good, &key, &validation).is_ok());
        let other = sign(&claims, OTHER_KEY);
        assert!(jsonwebtoken::decode::<Claims>(&other, &key, &validation).is_err());
        let none = unsigned(&claims);
        assert!(none.ends_with('.'));
        assert!(jsonwebtoken::decode::<Claims>(&none, &key, &validation).is_err());
        let expired = sign(
            &Claims {
                exp: now() - 3600,
                ..claims
            },
            JWT_SECRET,
        );
        assert!(jsonwebtoken::decode::<Claims>(&expired, &key, &validation).is_err());
    }

    #[test]
    fn tokens_are_shortened() {
        assert_eq!(
            shorten_tokens(r#"{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_","user":1}"#),
            r#"{"token":"eyJ…","user":1}"#
        );
    }
}
