//! `classroom/SUBMISSION.json`: points in the format of GitHub Classroom's autograding
//! runners, which `classroom-resources/autograding-grading-reporter` reads.
//!
//! ```json
//! {"version": 1, "status": "fail", "max_score": 8,
//!  "tests": [{"name": "…", "status": "pass", "score": 1, "line_no": 0, "message": null}]}
//! ```
//!
//! The reporter adds up `score` over `tests` and compares it with `max_score`; its
//! `status` is `pass`, `fail` or `error`. One file per submission holds every stage it
//! was graded on; a hint not run is a test in `error`, with no points. To hand a file to
//! the reporter, base64 it into the `RUNNER_RESULTS` variable of its workflow step.

use serde_json::{Value, json};

use super::{Graded, Verdict};
use crate::outcome::Status;

/// The results of one submission (all its pairs).
pub fn value(pairs: &[&Graded]) -> Value {
    let verdicts = || pairs.iter().map(|g| g.verdict());
    let status = if verdicts().any(|v| v == Verdict::Error) {
        "error"
    } else if verdicts().all(|v| v == Verdict::Passed) {
        "pass"
    } else {
        "fail"
    };
    let mut tests = Vec::new();
    for graded in pairs {
        let report = &graded.report;
        if report.hints.is_empty() {
            // Not even the stage is known: one test says why.
            tests.push(json!({
                "name": "grading",
                "status": "error",
                "score": 0,
                "line_no": 0,
                "message": graded.error,
            }));
        }
        for hint in &report.hints {
            let (status, score) = match hint.status {
                Status::Pass => ("pass", hint.points),
                Status::Fail => ("fail", 0),
                Status::NotRun => ("error", 0),
            };
            let message = match (&graded.error, hint.status) {
                (_, Status::Pass) => None,
                (Some(error), _) => Some(error.clone()),
                (None, _) => hint.reason.clone(),
            };
            tests.push(json!({
                "name": format!("{} {}: {}", report.stage, hint.id, hint.text),
                "status": status,
                "score": score,
                "line_no": 0,
                "message": message,
            }));
        }
    }
    json!({
        "version": 1,
        "status": status,
        "max_score": pairs.iter().map(|g| g.report.max_score()).sum::<u32>(),
        "tests": tests,
    })
}

pub fn render(pairs: &[&Graded]) -> String {
    serde_json::to_string_pretty(&value(pairs)).expect("JSON values serialize") + "\n"
}
