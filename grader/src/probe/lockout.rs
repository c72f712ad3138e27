//! The login throttle's probe (stage 12): mallory guesses passwords, for ada and for a
//! username nobody has, until the server answers `429 Too Many Requests`; the lock must
//! stop even the right password, by the form and by the JSON API, must treat the unknown
//! name exactly like ada's, and must not stop grace. The module of the other stage 12
//! probes, `hardening.rs`, says what the stage's contract is.

use reqwest::StatusCode;
use serde_json::json;

use super::accounts::{Browser, Quiet};
use super::hardening::{GRACE_PASSWORD, PASSWORD};
use super::http::{self, Reply};
use super::jwt::post_json;
use super::{Ctx, Failure, Step};

/// A password that is nobody's.
const WRONG_PASSWORD: &str = "difference engine";
/// A username nobody registers.
const UNKNOWN: &str = "babbage";
/// Wrong passwords tried before a 429 must have come.
const MAX_GUESSES: usize = 10;

/// The statuses of wrong logins for `username` until a 429 (or `MAX_GUESSES`), through
/// a quiet browser; the 429's reply, if one came.
async fn guess(ctx: &Ctx, username: &str) -> Step<(Vec<u16>, Option<Reply>, Option<Reply>)> {
    let quiet = Quiet::new(ctx);
    let mut mallory = Browser::new("mallory");
    let form = [("username", username), ("password", WRONG_PASSWORD)];
    let mut statuses = Vec::new();
    let mut first_refusal = None;
    for _ in 0..MAX_GUESSES {
        let reply = mallory.post(&quiet.0, "/login", &form).await?;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            ctx.transcript.note(format!(
                "mallory → POST /login as {username} with wrong passwords: {}",
                statuses
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            return Ok((statuses, first_refusal, Some(reply)));
        }
        first_refusal.get_or_insert(reply);
    }
    ctx.transcript.note(format!(
        "mallory → POST /login as {username} with wrong passwords: {}",
        statuses
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok((statuses, first_refusal, None))
}

/// Wrong logins end in 429 with Retry-After, for ada and for an unknown name alike; the
/// lock stops the right password too, through the form and the API; grace still logs in.
pub(super) async fn login_throttle(ctx: &Ctx) -> Step<()> {
    let mut ada = Browser::new("ada");
    ada.register(ctx, "ada", PASSWORD).await?;
    let mut grace = Browser::new("grace");
    grace.register(ctx, "grace", GRACE_PASSWORD).await?;

    let expected = "401 for the first wrong passwords, then 429 Too Many Requests with Retry-After";
    let (statuses, wrong, locked) = guess(ctx, "ada").await?;
    let Some(locked) = locked else {
        return Err(Failure::new(format!(
            "{MAX_GUESSES} wrong passwords for ada in a row were all answered ({}): nothing \
             slows a guesser down. Count failed logins per username, and after 5 within a few \
             minutes answer `429 Too Many Requests` with a `Retry-After` header, before \
             checking the password.",
            statuses
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .expected(expected));
    };
    if statuses[0] != 401 {
        return Err(Failure::new(format!(
            "The first wrong password for ada was answered {}, not 401: a lock should come \
             after a few failures, not at the first.",
            statuses[0]
        ))
        .expected(expected));
    }
    let retry = locked.header("retry-after").unwrap_or("");
    if !retry.trim().parse::<u64>().is_ok_and(|s| s > 0) {
        return Err(Failure::new(format!(
            "The 429 for ada has no usable `Retry-After` (it says {retry:?}): give the \
             seconds until the lock ends, so that a client knows when to try again."
        ))
        .expected("Retry-After: <seconds>"));
    }
    ctx.transcript
        .note(format!("the 429 says Retry-After: {retry}"));

    let mut mallory = Browser::new("mallory");
    let right = [("username", "ada"), ("password", PASSWORD)];
    let reply = mallory.post(ctx, "/login", &right).await?;
    if reply.status != StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::new(format!(
            "While ada's username was locked, her right password was answered {}: the lock \
             must come before the password is checked, or a guesser still learns when a \
             guess is right.",
            http::status_line(reply.status)
        ))
        .expected("429 Too Many Requests"));
    }
    let api = post_json(
        ctx,
        "mallory",
        "/auth/login",
        &json!({"username": "ada", "password": PASSWORD}),
    )
    .await?;
    if api.status != StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::new(format!(
            "While ada's username was locked through the form, `POST /auth/login` still \
             checked her password (it answered {}): a guesser would simply use the API. Share \
             one throttle between both logins.",
            http::status_line(api.status)
        ))
        .expected("429 Too Many Requests"));
    }

    let (unknown, unknown_wrong, _) = guess(ctx, UNKNOWN).await?;
    let same_body = unknown_wrong.map(|r| r.body) == wrong.map(|r| r.body);
    if unknown != statuses || !same_body {
        return Err(Failure::new(format!(
            "Wrong logins for ada were answered {:?}, and for the unknown username \
             {UNKNOWN} {:?}{}: the difference tells anyone which usernames exist. Count \
             failures for every username, known or not, and answer them alike.",
            statuses,
            unknown,
            if same_body { "" } else { ", with other words" }
        ))
        .expected(format!("{statuses:?} for both")));
    }
    grace
        .log_in(ctx, "grace", GRACE_PASSWORD)
        .await
        .map_err(|f| {
            Failure::new(format!(
                "While ada's username was locked, grace could not log in: {} The lock is for \
             the username that failed, not for everyone (nor for a whole IP address: \
             everyone here comes from 127.0.0.1).",
                f.reason
            ))
        })?;
    Ok(())
}
