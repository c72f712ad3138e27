//! Exercism's results.json (version 3), with `score` and `max_score` added.
//!
//! Top-level `status` is `error` when the crate did not build (Exercism's meaning: the
//! tests could not run), `pass` when every hint passes, `fail` otherwise. Each hint is a
//! test; the course's own fields (`hint_id`, `kind`, `points`, `help`) ride along.

use serde_json::{Value, json};

use crate::outcome::{HintOutcome, StageReport, Status};

pub fn value(report: &StageReport) -> Value {
    let build_failed = report.build.as_ref().is_some_and(|b| !b.ok);
    let status = if build_failed {
        "error"
    } else if report.passed() {
        "pass"
    } else {
        "fail"
    };
    let message = report.build.as_ref().filter(|b| !b.ok).map(|b| {
        let summary = b.summary.clone().unwrap_or_default();
        if b.errors.is_empty() {
            summary
        } else {
            format!("{summary}\n{}", b.errors)
        }
    });
    json!({
        "version": 3,
        "status": status,
        "message": message,
        "score": report.score(),
        "max_score": report.max_score(),
        "stage": report.stage,
        "title": report.title,
        "path": report.path,
        "elapsed_ms": report.elapsed_ms,
        "tests": report.hints.iter().enumerate().map(|(i, h)| test(i, h)).collect::<Vec<_>>(),
    })
}

fn test(i: usize, hint: &HintOutcome) -> Value {
    let status = match hint.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::NotRun => "error",
    };
    let mut message = hint.reason.clone().unwrap_or_default();
    if !hint.evidence.transcript.is_empty() {
        message.push_str("\nConversation:\n");
        message.push_str(&hint.evidence.transcript.join("\n"));
    }
    if let Some(expected) = &hint.evidence.expected {
        message.push_str(&format!("\nExpected: {expected}"));
    }
    let output = hint
        .evidence
        .server_output
        .as_ref()
        .map(|o| o.lines.join("\n"));
    json!({
        "name": hint.text,
        "task_id": i + 1,
        "status": status,
        "message": if hint.status == Status::Pass { None } else { Some(message) },
        "output": output,
        "test_code": format!("{} hint `{}`", hint.kind, hint.id),
        "hint_id": hint.id,
        "kind": hint.kind,
        "points": hint.points,
        "help": hint.help,
    })
}

pub fn render(report: &StageReport) -> String {
    serde_json::to_string_pretty(&value(report)).expect("JSON values serialize") + "\n"
}

/// Several stages: an object with one results.json per stage and the totals.
pub fn render_many(reports: &[StageReport]) -> String {
    let value = json!({
        "score": reports.iter().map(StageReport::score).sum::<u32>(),
        "max_score": reports.iter().map(StageReport::max_score).sum::<u32>(),
        "stages": reports.iter().map(value).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n"
}
