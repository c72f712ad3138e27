//! Probes of the chat page itself: it is served, and so is every script it loads.
//!
//! A browser needs three things from a Socket.IO server before any socket opens: the
//! page, the Socket.IO client script the page names, and the page's own script. These
//! probes fetch them the way a browser would, following the page's `<script src>` tags,
//! so they hold whatever paths the learner chose.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use super::http::{self, Reply};
use super::{Ctx, Failure, Step};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

static SCRIPT_SRC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)<script\b[^>]*?\bsrc\s*=\s*["']?([^"'\s>]+)"#).expect("valid regex")
});

/// `GET /` is an HTML page that loads the Socket.IO client.
pub async fn page(ctx: &Ctx) -> Step<()> {
    let page = get_page(ctx).await?;
    let scripts = scripts_of(&page);
    if !scripts
        .iter()
        .any(|s| s.to_lowercase().contains("socket.io"))
    {
        let found = if scripts.is_empty() {
            "no `<script src=…>` at all".to_string()
        } else {
            format!("only {}", scripts.join(", "))
        };
        return Err(Failure::new(format!(
            "The page loads no script whose address mentions socket.io ({found}). The page \
             needs the Socket.IO browser client before its own script can call `io()`."
        ))
        .expected("<script src=\"/socket.io.min.js\"></script> in the page"));
    }
    Ok(())
}

/// Every script the page loads from this server is served as JavaScript, one of them
/// the Socket.IO v4 client.
pub async fn scripts(ctx: &Ctx) -> Step<()> {
    // The page's own content-type is `serves-page`'s business; here only its tags count.
    let page = http::get_ok(ctx, "browser", "/").await?;
    let scripts = scripts_of(&page);
    if scripts.is_empty() {
        return Err(Failure::new(
            "The page has no `<script src=…>` tags, so there is nothing for a browser to run.",
        ));
    }
    let mut client_found = false;
    for src in &scripts {
        if src.starts_with("http://") || src.starts_with("https://") || src.starts_with("//") {
            ctx.transcript.note(format!(
                "{src} is on another site; a browser offline cannot load it"
            ));
            continue;
        }
        let path = if src.starts_with('/') {
            src.clone()
        } else {
            format!("/{src}")
        };
        let reply = http::get_ok(ctx, "browser", &path).await?;
        let kind = reply.header("content-type").unwrap_or("").to_lowercase();
        if !kind.contains("javascript") {
            return Err(Failure::new(format!(
                "GET {path} was served as {:?}, so a browser will refuse to run it.",
                if kind.is_empty() {
                    "no content-type"
                } else {
                    kind.as_str()
                }
            ))
            .expected("content-type: text/javascript; charset=utf-8"));
        }
        if reply.text().contains("Socket.IO v4") {
            client_found = true;
        }
    }
    if !client_found {
        return Err(Failure::new(format!(
            "None of the scripts the page loads from this server ({}) is the Socket.IO v4 \
             browser client (its first lines say `Socket.IO v4…`).",
            scripts.join(", ")
        )));
    }
    Ok(())
}

async fn get_page(ctx: &Ctx) -> Step<Reply> {
    let page = http::get_ok(ctx, "browser", "/").await?;
    let kind = page.header("content-type").unwrap_or("").to_lowercase();
    if !kind.starts_with("text/html") {
        return Err(Failure::new(format!(
            "GET / was served as {:?}, so a browser shows it as text instead of a page. \
             axum's `Html(…)` sets the right content-type.",
            if kind.is_empty() {
                "no content-type"
            } else {
                kind.as_str()
            }
        ))
        .expected("content-type: text/html; charset=utf-8"));
    }
    Ok(page)
}

fn scripts_of(page: &Reply) -> Vec<String> {
    SCRIPT_SRC
        .captures_iter(&page.text())
        .map(|c| c[1].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_script_sources_however_written() {
        let html = r#"<script src="/socket.io.min.js"></script>
            <SCRIPT type="module" src='chat.js'></SCRIPT><script>inline()</script>
            <script defer src=/x.js></script>"#;
        let found: Vec<String> = SCRIPT_SRC
            .captures_iter(html)
            .map(|c| c[1].to_string())
            .collect();
        assert_eq!(found, ["/socket.io.min.js", "chat.js", "/x.js"]);
    }
}
