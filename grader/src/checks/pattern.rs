//! Pattern hints: regexes over a crate's Rust sources, read the way a person reads code.
//!
//! Before matching, each file is put in a canonical form:
//! - comments are removed, so a commented-out line never passes;
//! - string literals keep their words but lose their punctuation (`"user count"` stays,
//!   `"io.emit(x)"` becomes `"io~emit~x~"`), so a hint can look for an event name while
//!   code quoted in a string still never passes; char literals are emptied;
//! - whitespace is dropped, except a single space between two word characters, so a
//!   pattern like `TcpListener::bind\(` matches however the learner spaced or wrapped it.
//!
//! This is a small lexer, not a parser: it knows just enough of Rust's tokens (nested
//! block comments, raw strings, byte and C strings, char literals versus lifetimes) to
//! tell code from text.

use std::path::Path;

use regex::Regex;

use crate::catalogue::{Hint, compile_pattern};
use crate::outcome::HintOutcome;

/// The `.rs` files under a crate's `src/`, each read as text (or why it could not be).
pub struct Sources {
    pub files: Vec<SourceFile>,
}

pub struct SourceFile {
    /// Path relative to the crate, with `/` separators.
    pub name: String,
    pub text: Result<String, String>,
}

impl Sources {
    pub fn read(crate_dir: &Path) -> Sources {
        let mut paths = Vec::new();
        collect_rs_files(&crate_dir.join("src"), &mut paths);
        paths.sort();
        let files = paths
            .into_iter()
            .map(|path| {
                let name = path
                    .strip_prefix(crate_dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let text = match std::fs::read(&path) {
                    Err(e) => Err(format!("could not read {name}: {e}")),
                    Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
                        let at = e.utf8_error().valid_up_to();
                        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
                        format!(
                            "{name} is not valid UTF-8 (line {line}): Rust source files must be \
                             UTF-8. Re-save it as UTF-8 in your editor."
                        )
                    }),
                };
                SourceFile { name, text }
            })
            .collect();
        Sources { files }
    }
}

fn collect_rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // `file_type` does not follow symlinks: a link cycle cannot trap the walk.
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_rs_files(&path, out),
            Ok(t) if t.is_file() && path.extension().is_some_and(|e| e == "rs") => out.push(path),
            _ => {}
        }
    }
}

/// Grades one pattern hint.
pub fn check(hint: &Hint, all: &[String], any: &[String], sources: &Sources) -> HintOutcome {
    if sources.files.is_empty() {
        return HintOutcome::fail(hint, "There are no `.rs` files under `src/`.");
    }
    let mut code = Vec::new();
    let mut raw = Vec::new();
    for file in &sources.files {
        match &file.text {
            Ok(text) => {
                code.push(canonical(&strip_comments_and_literals(text)));
                raw.push(canonical(text));
            }
            Err(why) => return HintOutcome::fail(hint, why.clone()),
        }
    }
    let compiled = |p: &String| compile_pattern(p).expect("patterns are checked at load");
    let found_in = |re: &Regex, texts: &[String]| texts.iter().any(|t| re.is_match(t));

    let missing: Vec<(&String, bool)> = all
        .iter()
        .map(|p| (p, compiled(p)))
        .filter(|(_, re)| !found_in(re, &code))
        .map(|(p, re)| (p, found_in(&re, &raw)))
        .collect();
    let any_missing = !any.is_empty() && !any.iter().any(|p| found_in(&compiled(p), &code));
    let any_only_in_comment = any_missing && any.iter().any(|p| found_in(&compiled(p), &raw));

    if missing.is_empty() && !any_missing {
        return HintOutcome::pass(hint);
    }
    let names: Vec<&str> = sources.files.iter().map(|f| f.name.as_str()).collect();
    let mut reason = format!(
        "Searched {} (comments and code inside strings ignored).",
        names.join(", ")
    );
    for (pattern, only_in_comment) in &missing {
        reason.push_str(&format!("\nNot found: /{pattern}/"));
        if *only_in_comment {
            reason.push_str(" (it is there, but only inside a comment or a string)");
        }
    }
    if any_missing {
        let list: Vec<String> = any.iter().map(|p| format!("/{p}/")).collect();
        reason.push_str(&format!("\nNone found of: {}", list.join(", ")));
        if any_only_in_comment {
            reason.push_str(" (one is there, but only inside a comment or a string)");
        }
    }
    HintOutcome::fail(hint, reason)
}

/// Replaces comments with a space, masks string literals and empties char literals.
pub fn strip_comments_and_literals(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied();
    while i < chars.len() {
        let c = chars[i];
        let prev_is_word = i > 0 && is_word(chars[i - 1]);
        if c == '/' && at(i + 1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            out.push(' ');
        } else if c == '/' && at(i + 1) == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if !prev_is_word && let Some((open, close, end)) = raw_string_end(&chars, i) {
            push_masked(&mut out, &chars[open..close]);
            i = end;
        } else if c == '"' || (!prev_is_word && matches!(c, 'b' | 'c') && at(i + 1) == Some('"')) {
            i += if c == '"' { 1 } else { 2 };
            let open = i;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            push_masked(&mut out, &chars[open..i.min(chars.len())]);
            i += 1;
        } else if c == '\'' || (!prev_is_word && c == 'b' && at(i + 1) == Some('\'')) {
            let start = if c == '\'' { i } else { i + 1 };
            match char_literal_end(&chars, start) {
                Some(end) => {
                    out.push_str("''");
                    i = end;
                }
                None => {
                    // A lifetime or a label: keep it, it is code.
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Writes a string literal's contents in quotes, every character that could read as
/// code (`.`, `(`, `:`, …) replaced by `~`: words, spaces, `-` and `/` are kept, which is
/// all an event name or a path needs.
fn push_masked(out: &mut String, contents: &[char]) {
    out.push('"');
    for &c in contents {
        let keep = c.is_alphanumeric() || c.is_whitespace() || matches!(c, '_' | '-' | '/' | '@');
        out.push(if keep { c } else { '~' });
    }
    out.push('"');
}

/// If a raw string (`r"…"`, `r#"…"#`, `br"…"`, `cr"…"`) starts at `i`: where its contents
/// start and end, and the index after it.
fn raw_string_end(chars: &[char], i: usize) -> Option<(usize, usize, usize)> {
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    let open = j;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some((open, j, j + 1 + hashes));
        }
        j += 1;
    }
    Some((open, chars.len(), chars.len()))
}

/// If a char literal starts at the quote at `i`, the index after it; `None` for a lifetime.
fn char_literal_end(chars: &[char], i: usize) -> Option<usize> {
    match (chars.get(i + 1), chars.get(i + 2)) {
        (Some('\\'), _) => {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            Some(j + 1)
        }
        (Some(_), Some('\'')) => Some(i + 3),
        _ => None,
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Drops all whitespace except one space between two word characters.
pub fn canonical(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut pending_space = false;
    for c in src.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && is_word(c) && out.chars().next_back().is_some_and(is_word) {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(src: &str) -> String {
        canonical(&strip_comments_and_literals(src))
    }

    #[test]
    fn whitespace_and_line_breaks_do_not_matter() {
        let src = "let listener =\n    TcpListener :: bind ( addr )\n        .await?;";
        assert_eq!(code(src), "let listener=TcpListener::bind(addr).await?;");
    }

    #[test]
    fn comments_never_count() {
        let src = "// let l = TcpListener::bind(a).await?;\n/* TcpListener::bind(b).await /* nested */ */\n\
                   /// doc: TcpListener::bind(c).await\nfn main() {}";
        assert_eq!(code(src), "fn main(){}");
    }

    #[test]
    fn string_literals_keep_words_but_not_code() {
        let src = r####"let a = "TcpListener::bind(x).await // not a comment"; let b = r#"raw " TcpListener"#; let c = b"bytes"; let d = '"'; let e = '\'';"####;
        assert_eq!(
            code(src),
            r#"let a="TcpListener~~bind~x~~await//not a comment";let b="raw~TcpListener";let c="bytes";let d='';let e='';"#
        );
    }

    #[test]
    fn event_names_and_paths_survive() {
        assert_eq!(
            code(r#"io.ns( "/", on_connect); io.emit("user count", &n)"#),
            r#"io.ns("/",on_connect);io.emit("user count",&n)"#
        );
    }

    #[test]
    fn escaped_quotes_stay_inside_strings() {
        assert_eq!(code(r#"f("a \" // b"); g()"#), r#"f("a~~//b");g()"#);
    }

    #[test]
    fn lifetimes_and_labels_are_code() {
        let src = "fn f<'a>(x: &'a str) -> &'a str { 'outer: loop { break 'outer; } x }";
        assert_eq!(
            code(src),
            "fn f<'a>(x:&'a str)->&'a str{'outer:loop{break'outer;}x}"
        );
    }

    #[test]
    fn identifiers_ending_in_r_or_b_are_not_literal_prefixes() {
        assert_eq!(
            code(r#"let user = tx.sub; bar"x""#),
            r#"let user=tx.sub;bar"x""#
        );
    }

    #[test]
    fn multibyte_characters_survive() {
        assert_eq!(
            code("let s = 'é'; // café\nlet t = \"ü\";"),
            "let s='';let t=\"ü\";"
        );
    }
}
