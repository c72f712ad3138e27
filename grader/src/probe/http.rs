//! HTTP requests of the probes: one small wrapper around reqwest, bounded in time and size.
//!
//! Everything the grader fetches from a learner's server goes through [`fetch`]: loopback
//! only, no proxy, no redirects followed (a redirect is an answer worth reporting), a
//! deadline for the whole exchange, and a cap on the body so a server that streams
//! without end cannot make the grader grow. Headers the probe adds (a `Cookie`, an
//! `Origin`) travel with every request, and [`curl`] prints the same request as a
//! command the learner can paste into a terminal.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use super::{Ctx, Failure, Step};

/// Longest body read; anything after it is dropped and the reply marked truncated.
pub const MAX_BODY_BYTES: usize = 2 << 20;
/// Deadline of one ordinary request (long-polling sets its own).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// Extra request headers, in the order they are sent.
pub type Headers = Vec<(String, String)>;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub truncated: bool,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `200 OK, text/html; charset=utf-8, 1234 bytes`: a reply in one line.
    pub fn summary(&self) -> String {
        let kind = self.header("content-type").unwrap_or("no content-type");
        let size = if self.truncated {
            format!("more than {} KiB", MAX_BODY_BYTES / 1024)
        } else {
            format!("{} bytes", self.body.len())
        };
        format!("{}, {kind}, {size}", status_line(self.status))
    }
}

pub fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// One client for a probe: no proxy, no redirects, loopback only.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .expect("a plain HTTP client always builds")
}

pub fn url(ctx: &Ctx, path_and_query: &str) -> String {
    format!("http://127.0.0.1:{}{path_and_query}", ctx.port)
}

/// Sends one request and reads the reply, within `timeout` for the whole exchange.
/// The error is a sentence saying what went wrong, for a [`Failure`].
pub async fn fetch(
    client: &reqwest::Client,
    method: Method,
    url: &str,
    headers: &Headers,
    body: Option<String>,
    timeout: Duration,
) -> Result<Reply, String> {
    let exchange = async {
        let mut request = client.request(method.clone(), url);
        for (name, value) in headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) else {
                return Err(format!("the header `{name}: {value}` is not valid HTTP"));
            };
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "text/plain;charset=UTF-8")
                .body(body);
        }
        let mut response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BODY_BYTES {
                body.truncate(MAX_BODY_BYTES);
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
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no complete answer within {} ms",
            timeout.as_millis()
        )),
    }
}

/// The cause of a transport error in words ("connection refused", "connection closed
/// before a complete answer").
pub(super) fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let mut cause = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if error.is_connect() {
        format!("could not connect ({cause})")
    } else {
        format!("the request failed ({cause})")
    }
}

/// A GET of a page, recorded in the transcript, failing unless the status is 200.
pub async fn get_ok(ctx: &Ctx, who: &str, path: &str) -> Step<Reply> {
    ctx.transcript
        .command(&curl("GET", &url(ctx, path), &Vec::new(), false));
    ctx.transcript.note(format!("{who}: GET {path}"));
    let reply = fetch(
        &client(),
        Method::GET,
        &url(ctx, path),
        &Vec::new(),
        None,
        REQUEST_TIMEOUT,
    )
    .await
    .map_err(|why| Failure::new(format!("GET {path}: {why}.")))?;
    ctx.transcript
        .push_line(format!("{who} ← {}", reply.summary()));
    if reply.status != StatusCode::OK {
        return Err(Failure::new(format!(
            "GET {path} answered {} instead of 200 OK.",
            status_line(reply.status)
        )));
    }
    Ok(reply)
}

/// The request as a `curl` command, headers included; `websocket` adds the headers of a
/// WebSocket upgrade, so the learner sees the server's answer to the handshake itself.
pub fn curl(method: &str, url: &str, headers: &Headers, websocket: bool) -> String {
    let mut cmd = String::from("curl -i");
    if method != "GET" {
        cmd.push_str(&format!(" -X {method}"));
    }
    if websocket {
        cmd.push_str(
            " -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
             -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: Z3JhZGVyIHByb2JlIGtleQ=='",
        );
    }
    for (name, value) in headers {
        cmd.push_str(&format!(" -H '{name}: {}'", value.replace('\'', "'\\''")));
    }
    cmd.push_str(&format!(" '{url}'"));
    cmd
}
