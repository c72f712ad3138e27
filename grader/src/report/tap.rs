//! TAP version 14: one test point per hint, failures with a YAML diagnostic block, hints
//! not run marked `# SKIP`.

use std::fmt::Write;

use crate::outcome::{StageReport, Status};

pub fn render(reports: &[StageReport]) -> String {
    let total: usize = reports.iter().map(|r| r.hints.len()).sum();
    let mut out = format!("TAP version 14\n1..{total}\n");
    let mut n = 0;
    for report in reports {
        for hint in &report.hints {
            n += 1;
            let name = format!(
                "{} {}: {}",
                report.stage,
                hint.id,
                hint.text.replace('#', "\\#")
            );
            match hint.status {
                Status::Pass => {
                    let _ = writeln!(out, "ok {n} - {name}");
                }
                Status::NotRun => {
                    let _ = writeln!(
                        out,
                        "ok {n} - {name} # SKIP {}",
                        hint.reason.as_deref().unwrap_or("not run")
                    );
                }
                Status::Fail => {
                    let _ = writeln!(out, "not ok {n} - {name}");
                    out.push_str("  ---\n");
                    let _ = writeln!(
                        out,
                        "  message: {}",
                        yaml_string(hint.reason.as_deref().unwrap_or(""))
                    );
                    if let Some(expected) = &hint.evidence.expected {
                        let _ = writeln!(out, "  expected: {}", yaml_string(expected));
                    }
                    if !hint.evidence.transcript.is_empty() {
                        out.push_str("  conversation:\n");
                        for line in &hint.evidence.transcript {
                            let _ = writeln!(out, "    - {}", yaml_string(line));
                        }
                    }
                    let _ = writeln!(out, "  help: {}", yaml_string(&hint.help));
                    out.push_str("  ...\n");
                }
            }
        }
    }
    out
}

/// A double-quoted YAML scalar (JSON strings are valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}
