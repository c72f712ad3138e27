//! The summary table: a row per submission and stage, a numbered column per hint.
//!
//! ```text
//! submission  stage  1 2 3 4 5 6 7 8  points  status
//! ada         08     ✓ ✓ ✓ ✓ ✓ ✓ ✓ ✓     8/8  passed
//! dee         08     ✓ ✓ ✓ · · · · ·     3/8  failed (does not build)
//! ```
//!
//! `✓` passes, `✗` fails, `·` was not run. Below the table, a legend gives each stage's
//! hint ids by column number, and the errors say why a pair could not be graded.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::Graded;
use crate::outcome::Status;

pub fn render(results: &[Graded]) -> String {
    if results.is_empty() {
        return "No submissions to grade here (an empty shard?).\n".to_string();
    }
    let name_width = results
        .iter()
        .map(|g| g.submission.chars().count())
        .chain(["submission".len()])
        .max()
        .unwrap_or(0);
    let columns = results
        .iter()
        .map(|g| g.report.hints.len())
        .max()
        .unwrap_or(0);
    let points: Vec<String> = results.iter().map(points).collect();
    let points_width = points
        .iter()
        .map(|p| p.chars().count())
        .chain(["points".len()])
        .max()
        .unwrap_or(0);

    let mut out = String::new();
    let numbers: Vec<String> = (1..=columns).map(|n| n.to_string()).collect();
    let _ = writeln!(
        out,
        "{}  stage  {}  {:>points_width$}  status",
        pad("submission", name_width),
        numbers.join(" "),
        "points"
    );
    for (graded, points) in results.iter().zip(&points) {
        let marks: Vec<String> = numbers
            .iter()
            .enumerate()
            .map(|(i, number)| {
                let mark = match graded.report.hints.get(i).map(|h| h.status) {
                    Some(Status::Pass) => "✓",
                    Some(Status::Fail) => "✗",
                    Some(Status::NotRun) => "·",
                    None => " ",
                };
                pad(mark, number.len())
            })
            .collect();
        let mut status = graded.verdict().as_str().to_string();
        if graded.build_failed() {
            status.push_str(" (does not build)");
        }
        let stage = graded.stage().map_or("?", |s| &s[..2.min(s.len())]);
        let line = format!(
            "{}  {}  {}  {points:>points_width$}  {status}",
            pad(&graded.submission, name_width),
            pad(stage, "stage".len()),
            marks.join(" "),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    legend(&mut out, results);
    errors(&mut out, results);
    out
}

/// `3/8`, or `-` for a pair that could not be graded.
fn points(graded: &Graded) -> String {
    match graded.error {
        Some(_) => "-".to_string(),
        None => format!("{}/{}", graded.report.score(), graded.report.max_score()),
    }
}

/// Each stage's hint ids by column number.
fn legend(out: &mut String, results: &[Graded]) {
    let mut stages: BTreeMap<&str, &Graded> = BTreeMap::new();
    for graded in results {
        if let Some(stage) = graded.stage() {
            let known = stages.entry(stage).or_insert(graded);
            if known.report.hints.is_empty() {
                *known = graded;
            }
        }
    }
    for (stage, graded) in stages {
        let _ = writeln!(out, "\nHints of {stage}:");
        for (i, hint) in graded.report.hints.iter().enumerate() {
            let _ = writeln!(out, "  {:>2}  {}", i + 1, hint.id);
        }
    }
}

/// Why each erroring pair could not be graded.
fn errors(out: &mut String, results: &[Graded]) {
    let failed: Vec<&Graded> = results.iter().filter(|g| g.error.is_some()).collect();
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nErrors:");
    for graded in failed {
        let reason = graded.error.as_deref().unwrap_or_default();
        let mut lines = reason.lines();
        let _ = writeln!(
            out,
            "  {}: {}",
            graded.label(),
            lines.next().unwrap_or_default()
        );
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
    }
}

/// `text` followed by spaces up to `width` characters.
fn pad(text: &str, width: usize) -> String {
    let len = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(len)))
}
