//! Probes of HTTP sessions (stage 07): the cookie a first visit sets, and the display
//! name the session keeps.
//!
//! A [`Visitor`] is a browser reduced to what matters here: a jar of cookies sent back
//! on every request. Each request and each `Set-Cookie` goes into the transcript, so a
//! failing hint shows exactly which cookie travelled where.

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::cookies::{Jar, SetCookie, set_cookies};
use super::http::{self, Reply};
use super::{Ctx, Failure, Step};

/// A browser with its own cookies.
pub struct Visitor {
    pub who: String,
    pub jar: Jar,
}

impl Visitor {
    pub fn new(who: &str) -> Visitor {
        Visitor {
            who: who.to_string(),
            jar: Jar::default(),
        }
    }

    /// GETs `path` with the jar's cookies; takes in the cookies the reply sets.
    pub async fn get(&mut self, ctx: &Ctx, path: &str) -> Step<(Reply, Vec<SetCookie>)> {
        let mut headers = Vec::new();
        let sent = match self.jar.header() {
            Some(cookie) => {
                headers.push(("cookie".to_string(), cookie.clone()));
                format!(" (Cookie: {cookie})")
            }
            None => " (no cookie)".to_string(),
        };
        ctx.transcript
            .command(&http::curl("GET", &http::url(ctx, path), &headers, false));
        ctx.transcript
            .push_line(format!("{} → GET {path}{sent}", self.who));
        let reply = http::fetch(
            &http::client(),
            Method::GET,
            &http::url(ctx, path),
            &headers,
            None,
            http::REQUEST_TIMEOUT,
        )
        .await
        .map_err(|why| Failure::new(format!("{}'s GET {path}: {why}.", self.who)))?;
        ctx.transcript
            .push_line(format!("{} ← {}", self.who, reply.summary()));
        // A short answer that is not the page (`/me`'s JSON, an error's text) is shown:
        // the messages below refer to it.
        let html = reply
            .header("content-type")
            .is_some_and(|kind| kind.starts_with("text/html"));
        if !html && !reply.body.is_empty() && reply.body.len() <= 200 {
            ctx.transcript.push_line(format!(
                "{} ← {}",
                self.who,
                super::show_packet(&String::from_utf8_lossy(&reply.body))
            ));
        }
        let set = set_cookies(&reply.headers);
        for cookie in &set {
            ctx.transcript
                .push_line(format!("{} ← Set-Cookie: {cookie}", self.who));
        }
        self.jar.update(&set);
        Ok((reply, set))
    }

    /// GETs `/me` and returns the display name in `{"name": …}`.
    pub async fn name(&mut self, ctx: &Ctx) -> Step<String> {
        let (reply, _) = self.get(ctx, "/me").await?;
        let expected = r#"200 OK with {"name": "…"} as JSON"#;
        if reply.status != reqwest::StatusCode::OK {
            return Err(Failure::new(format!(
                "GET /me answered {} instead of 200 OK. Add a route that reads the name \
                 from the session and returns it as JSON.",
                http::status_line(reply.status)
            ))
            .expected(expected));
        }
        let json: Value = serde_json::from_slice(&reply.body).map_err(|_| {
            Failure::new("GET /me did not answer JSON. Return `Json(…)` of a struct with a `name`.")
                .expected(expected)
        })?;
        match json.get("name").and_then(Value::as_str) {
            Some(name) if !name.trim().is_empty() => Ok(name.to_string()),
            _ => Err(Failure::new(format!(
                "GET /me answered {json}, which has no non-empty string `name`."
            ))
            .expected(expected)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieParams {}

/// A page that fails to load is that failure, not a missing cookie.
pub(super) fn expect_ok(reply: &Reply, path: &str) -> Step<()> {
    if reply.status == reqwest::StatusCode::OK {
        return Ok(());
    }
    Err(Failure::new(format!(
        "GET {path} answered {} instead of 200 OK; the answer above says why (a handler \
         that takes a `Session` fails when no `SessionManagerLayer` wraps it).",
        http::status_line(reply.status)
    )))
}

/// The first `GET /` sets a session cookie that scripts cannot read (`HttpOnly`), for
/// the whole site (`Path=/`).
pub async fn sets_cookie(ctx: &Ctx, _p: CookieParams) -> Step<()> {
    let mut visitor = Visitor::new("browser");
    let (reply, set) = visitor.get(ctx, "/").await?;
    expect_ok(&reply, "/")?;
    let Some(cookie) = set.iter().find(|c| !c.is_removal()) else {
        return Err(Failure::new(
            "The first GET / set no cookie. tower-sessions sends the cookie only once \
             the session holds something: give the visitor a name when the page is served.",
        )
        .expected("Set-Cookie: NAME=…; HttpOnly; Path=/"));
    };
    let mut missing = Vec::new();
    if !cookie.has_flag("HttpOnly") {
        missing.push("`HttpOnly` (without it, any script on the page can read the session id)");
    }
    if cookie.attribute("Path").flatten() != Some("/") {
        missing.push("`Path=/` (without it, the cookie is not sent to every page of the site)");
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Failure::new(format!(
        "The session cookie `{}` lacks {}.",
        cookie.name,
        missing.join(" and ")
    ))
    .expected("Set-Cookie: NAME=…; HttpOnly; Path=/"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameParams {
    check: NameCheck,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum NameCheck {
    /// `GET /me` answers `{"name": …}`.
    Json,
    /// One visitor keeps one name across requests.
    Stable,
    /// Two visitors get two sessions and two names.
    Differs,
}

/// The display-name scenes.
pub async fn name(ctx: &Ctx, p: NameParams) -> Step<()> {
    let mut ada = Visitor::new("ada");
    match p.check {
        NameCheck::Json => ada.name(ctx).await.map(drop),
        NameCheck::Stable => {
            let (reply, _) = ada.get(ctx, "/").await?;
            expect_ok(&reply, "/")?;
            let first = ada.name(ctx).await?;
            if ada.jar.is_empty() {
                return Err(Failure::new(
                    "Neither GET / nor GET /me set a cookie, so nothing can tie ada's next \
                     request to her session.",
                ));
            }
            let again = ada.name(ctx).await?;
            ada.get(ctx, "/").await?;
            let after_page = ada.name(ctx).await?;
            for later in [&again, &after_page] {
                if *later != first {
                    return Err(Failure::new(
                        "ada sent the same session cookie back and was given another name. \
                         Keep the name in the session (`session.insert`) and read it back \
                         (`session.get`) instead of making a new one each time.",
                    )
                    .expected(format!("ada ← {{\"name\":{first:?}}} every time")));
                }
            }
            Ok(())
        }
        NameCheck::Differs => {
            let mut grace = Visitor::new("grace");
            ada.get(ctx, "/").await?;
            let ada_name = ada.name(ctx).await?;
            grace.get(ctx, "/").await?;
            let grace_name = grace.name(ctx).await?;
            if ada.jar.header().is_some() && ada.jar.header() == grace.jar.header() {
                return Err(Failure::new(
                    "ada and grace got the same session cookie: every visitor needs a \
                     session of their own.",
                ));
            }
            if ada_name != grace_name {
                return Ok(());
            }
            // Random names collide now and then; a third visitor tells chance from a
            // fixed name.
            let mut linus = Visitor::new("linus");
            linus.get(ctx, "/").await?;
            if linus.name(ctx).await? != ada_name {
                return Ok(());
            }
            let who = if ada.jar.is_empty() && grace.jar.is_empty() && linus.jar.is_empty() {
                "three visitors who got no cookie"
            } else {
                "three visitors with their own cookies"
            };
            Err(Failure::new(format!(
                "ada, grace and linus, {who}, were all given the same name. Pick the name \
                 at random when a session has none yet."
            ))
            .expected(format!("different names, not {ada_name:?} three times")))
        }
    }
}
