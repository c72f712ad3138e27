//! Turning stage reports into what people and machines read.
//!
//! `human` is the freeCodeCamp-style list a learner sees; `json` follows Exercism's
//! results.json (version 3) with `score` and `max_score` added; `junit` and `tap` are
//! for CI systems. This is the only module that formats results: grading code returns
//! values, so every format shows exactly the same facts.

pub mod human;
pub mod json;
pub mod junit;
pub mod tap;

use std::sync::LazyLock;

use regex::Regex;

use crate::outcome::StageReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A list of hints for people.
    Human,
    /// Exercism results.json v3, plus score and max_score.
    Json,
    /// JUnit XML.
    Junit,
    /// Test Anything Protocol, version 14.
    Tap,
    /// The grader's own report, as `cargo grade class` reads it back from a grading it
    /// ran in a sandbox.
    #[value(hide = true)]
    Record,
}

/// Renders `reports` in `format`. `next` is the closing advice of the human format.
pub fn render(
    format: Format,
    reports: &[StageReport],
    style: human::Style,
    next: Option<&str>,
) -> String {
    match format {
        Format::Human => reports
            .iter()
            .map(|r| human::render(r, style, next))
            .collect::<Vec<_>>()
            .join("\n"),
        Format::Json => match reports {
            [one] => json::render(one),
            many => json::render_many(many),
        },
        Format::Junit => junit::render(reports),
        Format::Tap => tap::render(reports),
        Format::Record => match reports {
            [one] => serde_json::to_string(one),
            many => serde_json::to_string(many),
        }
        .expect("a report is plain data"),
    }
}

/// Rewrites what varies from run to run (ports, timings, absolute paths, scratch
/// folders) into placeholders, so reports can be compared with recorded snapshots.
/// The fixture tests and `cargo grade dev check` both use this one function.
pub fn normalize(text: &str, root: &std::path::Path) -> String {
    static RULES: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
        [
            (
                r"target/grader/scratch/[0-9a-z-]+-[0-9a-f]{16}",
                "[SCRATCH]",
            ),
            (r"submission-[0-9a-f]{16}", "[SUBMISSION]"),
            (r"/\S*?/registry/src/[^/\s]+/", "[REGISTRY]/"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
            // Signed tokens (JWTs, stage 11), whole or cut short in a packet shown with
            // ` … `; before the ObjectId rule below, which could take a piece of one.
            (r"eyJ[\w-]{10,}(?:\.[\w-]*){0,2}(?: … [\w.-]*)?", "[TOKEN]"),
            // Cookie values (session ids and their signatures), before the `sid=` rule
            // below would cut into `chat.sid=…`. `…` stays: it is an expected value.
            (
                r"((?:Set-Cookie|Cookie): [^=;\s]+)=[^;\s)…]+",
                "$1=[COOKIE]",
            ),
            // Engine.IO and Socket.IO session ids, plain and inside JSON strings; before
            // the name rules, which could take a piece of a random id for a name.
            (r#""sid":"[^"]*""#, r#""sid":"[SID]""#),
            (r#"\\"sid\\":\\"[^"\\]*\\""#, r#"\"sid\":\"[SID]\""#),
            (r"sid=[\w-]+", "sid=[SID]"),
            // MongoDB ObjectIds (user ids from stage 10 on), 24 hex digits.
            (r"\b[0-9a-f]{24}\b", "[OID]"),
            // Display names made from a socket id when a client gives none. Before the
            // rule below, which would take `guest-q-55` (from an id starting `q-55`) for
            // a random name.
            (r"guest-[\w-]{4}", "guest-[ID]"),
            // Random display names (`quiet-otter-42`), and the size of answers that hold one.
            (r"\b[a-z]+-[a-z]+-\d{2}\b", "[NAME]"),
            (
                r"(application/json|text/plain; charset=utf-8), \d{1,2} bytes",
                "$1, [N] bytes",
            ),
            (r#""elapsed_ms": \d+"#, r#""elapsed_ms": "[ELAPSED]""#),
            (r#"time="[\d.]+""#, r#"time="[ELAPSED]""#),
            (r"duration_ms: [\d.]+", "duration_ms: [ELAPSED]"),
            (r"\(took [\d.]+ s\)", "(took [ELAPSED])"),
        ]
        .into_iter()
        .map(|(re, to)| (Regex::new(re).expect("normalize rules compile"), to))
        .collect()
    });
    let mut text = text.replace(&root.display().to_string(), "[ROOT]");
    for (re, to) in RULES.iter() {
        text = re.replace_all(&text, *to).into_owned();
    }
    sort_server_output(&text)
}

/// Sorts each block of server output (`| …` lines), keeps one of each line, and leaves
/// out the server's notes that a client went away. A server's tasks print concurrently,
/// so the order of their lines varies from run to run. So does whether a client's leaving
/// is logged at all: a client that sends a disconnect and closes at once is logged once,
/// or not at all when the two race inside socketioxide, and a TCP client's reset may come
/// before or after the server's last read. The rest of what was printed does not vary.
fn sort_server_output(text: &str) -> String {
    static LEFT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?: disconnected(?: \((?:client has manually disconnected the socket from the namespace|The connection was abruptly closed|transport close)\))?| dropped: Connection reset by peer \(os error 104\))$",
        )
        .expect("the pattern compiles")
    });
    let mut out = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("| ") {
            if !LEFT.is_match(line) {
                block.push(line);
            }
            continue;
        }
        block.sort_unstable();
        block.dedup();
        out.append(&mut block);
        out.push(line);
    }
    block.sort_unstable();
    block.dedup();
    out.append(&mut block);
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_output_is_sorted_and_each_line_kept_once() {
        let text = "Your server printed:\n  | b left\n  | a joined\n  | b left\nTo fix: x\n  | z\n";
        assert_eq!(
            sort_server_output(text),
            "Your server printed:\n  | a joined\n  | b left\nTo fix: x\n  | z\n"
        );
        let text = "  | ada connected\n  | ada disconnected (client has manually disconnected the socket from the namespace)\n  | 127.0.0.1:[PORT] disconnected\n  | ada disconnected (socket was forcefully disconnected from the namespace)\n";
        assert_eq!(
            sort_server_output(text),
            "  | ada connected\n  | ada disconnected (socket was forcefully disconnected from the namespace)\n"
        );
    }

    #[test]
    fn normalize_replaces_what_varies() {
        let root = std::path::Path::new("/work/course");
        let text = "at /work/course/target/grader/scratch/01-tcp-echo-0123456789abcdef/ws on 127.0.0.1:41234 (took 1.25 s)";
        assert_eq!(
            normalize(text, root),
            "at [ROOT]/[SCRATCH]/ws on 127.0.0.1:[PORT] (took [ELAPSED])"
        );
        let packets =
            r#"ada ← 0{"sid":"Drh20sY1hsCYOvce"} GET /?EIO=4&sid=ab-_9 "ada ← 40{\"sid\":\"x1\"}""#;
        assert_eq!(
            normalize(packets, root),
            r#"ada ← 0{"sid":"[SID]"} GET /?EIO=4&sid=[SID] "ada ← 40{\"sid\":\"[SID]\"}""#
        );
    }

    #[test]
    fn object_ids_are_replaced() {
        let root = std::path::Path::new("/work/course");
        let text = r#"{"id":"6b02a0fe3b8f1ff7b72f1664","username":"ada"}"#;
        assert_eq!(normalize(text, root), r#"{"id":"[OID]","username":"ada"}"#);
    }

    #[test]
    fn random_ids_are_not_taken_for_names() {
        let root = std::path::Path::new("/work/course");
        // A socket id starting `q-55` makes the guest name `guest-q-55`, which looks
        // like `quiet-otter-42`; a session id may hold such a piece too.
        let text = r#"{"name":"guest-q-55","count":1} {"sid":"Zq-ab-12-xyzxyzx"} sid=Q-ab-cd-12-xy {"name":"quiet-otter-42"}"#;
        assert_eq!(
            normalize(text, root),
            r#"{"name":"guest-[ID]","count":1} {"sid":"[SID]"} sid=[SID] {"name":"[NAME]"}"#
        );
    }

    #[test]
    fn tokens_are_replaced() {
        let root = std::path::Path::new("/work/course");
        let text = r#"ada → 40{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_"} {"id":"673f1c2a9b1e8a0012345678"} ada → 40{"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi … 0123456789"} (240 bytes) eyJ…"#;
        assert_eq!(
            normalize(text, root),
            r#"ada → 40{"token":"[TOKEN]"} {"id":"[OID]"} ada → 40{"token":"[TOKEN]"} (240 bytes) eyJ…"#
        );
    }
}
