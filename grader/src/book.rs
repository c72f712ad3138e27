//! The grader as an mdBook preprocessor, so the course site shows each stage's hints
//! from the same catalogue the grader uses: the two can never disagree.
//!
//! mdBook runs `grader mdbook-preprocessor supports RENDERER` (answer: yes), then
//! `grader mdbook-preprocessor` with `[context, book]` as JSON on stdin, and reads the
//! book back from stdout. Chapters may contain:
//! - `{{#hints ID}}`: the stage's hints as a table (sentence, kind, points);
//! - `{{#stage-links ID}}`: where the stage's starter and solution live.
//!
//! The book is walked as plain JSON, so the preprocessor does not depend on mdBook's
//! crate or on one version of its types.

use std::io::Read;

use anyhow::{Context, Result, bail};
use regex::Regex;
use serde_json::Value;

use crate::catalogue::Catalogue;

pub fn preprocess(catalogue: &Catalogue, args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("supports") {
        return Ok(());
    }
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("Failed to read the book from mdBook")?;
    let (_context, mut book): (Value, Value) = serde_json::from_str(&input)
        .context("mdBook sent something that is not [context, book]")?;
    walk(&mut book, catalogue)?;
    serde_json::to_writer(std::io::stdout(), &book).context("Failed to write the book back")?;
    Ok(())
}

fn walk(value: &mut Value, catalogue: &Catalogue) -> Result<()> {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(chapter)) = map.get_mut("Chapter") {
                let name = chapter
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string();
                if let Some(Value::String(content)) = chapter.get_mut("content") {
                    *content = expand(content, catalogue)
                        .with_context(|| format!("In chapter `{name}`"))?;
                }
            }
            for child in map.values_mut() {
                walk(child, catalogue)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, catalogue)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replaces the markers in one chapter's markdown.
pub fn expand(content: &str, catalogue: &Catalogue) -> Result<String> {
    let marker =
        Regex::new(r"\{\{#(hints|stage-links)\s+([^}\s]+)\s*\}\}").expect("marker regex compiles");
    let mut out = String::with_capacity(content.len());
    let mut last = 0;
    for caps in marker.captures_iter(content) {
        let whole = caps.get(0).expect("match");
        let Some(stage) = catalogue.find(&caps[2]) else {
            bail!(
                "`{}` names no stage in grader/catalogue.toml",
                whole.as_str()
            );
        };
        out.push_str(&content[last..whole.start()]);
        if &caps[1] == "hints" {
            out.push_str("| # | The grader checks that… | Kind | Points |\n|---|---|---|---|\n");
            for (i, hint) in stage.hints.iter().enumerate() {
                let text = hint.text.replace('|', "\\|").replace('\n', " ");
                out.push_str(&format!(
                    "| {} | {text} | {} | {} |\n",
                    i + 1,
                    hint.check.kind(),
                    hint.points
                ));
            }
        } else {
            out.push_str(&format!(
                "**Starter:** `exercises/{id}/` · **Solution:** `solutions/{id}/` (peek only once your \
                 hints pass) · **Grade it:** `cargo grade check {n:02}`",
                id = stage.id,
                n = stage.number()
            ));
        }
        last = whole.end();
    }
    out.push_str(&content[last..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::EMBEDDED;

    #[test]
    fn expands_hints_and_refuses_unknown_stages() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        let out = expand("before\n{{#hints 01-tcp-echo}}\nafter", &catalogue).unwrap();
        assert!(
            out.contains("| 1 | Your crate should depend on `tokio`. | dependency | 1 |"),
            "{out}"
        );
        assert!(out.starts_with("before\n") && out.ends_with("\nafter"));
        let err = expand("{{#hints 99-nope}}", &catalogue).unwrap_err();
        assert!(err.to_string().contains("99-nope"));
    }
}
