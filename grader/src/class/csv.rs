//! `summary.csv`: a row per submission and stage, for a spreadsheet or a gradebook.
//!
//! Columns: `submission, stage, status, score, max_score`, then one per hint with `1`
//! (passes), `0` (fails) or nothing (not run, or another stage's hint). Hint columns are
//! named by hint id; when the run covers several stages, by `stage/hint-id`. As in RFC 4180,
//! with quotes only where a field needs them, and `\n` line ends (which every spreadsheet
//! reads, and which diff well).

use std::collections::BTreeMap;

use super::Graded;
use crate::outcome::Status;

pub fn render(results: &[Graded]) -> String {
    // Each stage's hint ids, in the order of its first report that has them.
    let mut stages: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for graded in results {
        if let Some(stage) = graded.stage() {
            let hints = stages.entry(stage).or_default();
            if hints.is_empty() {
                hints.extend(graded.report.hints.iter().map(|h| h.id.as_str()));
            }
        }
    }
    let several = stages.len() > 1;
    let mut header: Vec<String> = ["submission", "stage", "status", "score", "max_score"]
        .map(String::from)
        .to_vec();
    for (stage, hints) in &stages {
        header.extend(hints.iter().map(|hint| match several {
            true => format!("{stage}/{hint}"),
            false => hint.to_string(),
        }));
    }
    let mut out = line(&header);
    for graded in results {
        let report = &graded.report;
        let mut row = vec![
            graded.submission.clone(),
            graded.stage().unwrap_or_default().to_string(),
            graded.verdict().as_str().to_string(),
            match graded.error {
                Some(_) => String::new(),
                None => report.score().to_string(),
            },
            match graded.stage() {
                Some(_) => report.max_score().to_string(),
                None => String::new(),
            },
        ];
        for (stage, hints) in &stages {
            for hint in hints {
                let status = (graded.stage() == Some(stage))
                    .then(|| report.hints.iter().find(|h| h.id == *hint))
                    .flatten()
                    .map(|h| h.status);
                row.push(
                    match status {
                        Some(Status::Pass) => "1",
                        Some(Status::Fail) => "0",
                        Some(Status::NotRun) | None => "",
                    }
                    .to_string(),
                );
            }
        }
        out.push_str(&line(&row));
    }
    out
}

fn line(fields: &[String]) -> String {
    let fields: Vec<String> = fields.iter().map(|f| field(f)).collect();
    fields.join(",") + "\n"
}

/// A field, quoted when it holds a comma, a quote or a line break.
///
/// Submission names are folder names a learner chose, and a spreadsheet runs a cell
/// that starts with `=`, `+`, `-` or `@` as a formula (`=HYPERLINK(…)` in a grade
/// sheet). Such a field gets a leading `'`, which spreadsheets show as text. No field
/// the grader writes itself (ids, statuses, points) starts with one of them.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(super::field("ada"), "ada");
        assert_eq!(super::field("a,b"), "\"a,b\"");
        assert_eq!(super::field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn a_name_that_a_spreadsheet_would_run_stays_text() {
        assert_eq!(super::field("=1+1"), "'=1+1");
        assert_eq!(super::field("@sum"), "'@sum");
        assert_eq!(
            super::field("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(super::field("8"), "8");
    }
}
