//! JUnit XML, the format most CI systems display: one test suite per stage, one test
//! case per hint; a hint not run (the build failed) is `skipped`, and a build failure is
//! an extra `error` case so it cannot be overlooked.

use std::fmt::Write;

use crate::outcome::{StageReport, Status};

pub fn render(reports: &[StageReport]) -> String {
    let tests: usize = reports.iter().map(|r| r.hints.len()).sum();
    let failures: usize = reports.iter().map(|r| r.count(Status::Fail)).sum();
    let skipped: usize = reports.iter().map(|r| r.count(Status::NotRun)).sum();
    let errors = reports.iter().filter(|r| build_failed(r)).count();
    let time: u64 = reports.iter().map(|r| r.elapsed_ms).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        r#"<testsuites name="grader" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}" time="{}">"#,
        tests + errors,
        secs(time)
    );
    for report in reports {
        let suite_errors = usize::from(build_failed(report));
        let _ = writeln!(
            out,
            r#"  <testsuite name="{}" tests="{}" failures="{}" errors="{suite_errors}" skipped="{}" time="{}">"#,
            escape(&report.stage),
            report.hints.len() + suite_errors,
            report.count(Status::Fail),
            report.count(Status::NotRun),
            secs(report.elapsed_ms)
        );
        if let Some(build) = report.build.as_ref().filter(|b| !b.ok) {
            let _ = writeln!(
                out,
                r#"    <testcase classname="{}" name="build">"#,
                escape(&report.stage)
            );
            let _ = writeln!(
                out,
                r#"      <error message="{}" type="build">{}</error>"#,
                escape(build.summary.as_deref().unwrap_or("build failed")),
                escape(&build.errors)
            );
            out.push_str("    </testcase>\n");
        }
        for hint in &report.hints {
            let _ = write!(
                out,
                r#"    <testcase classname="{}" name="{}: {}""#,
                escape(&report.stage),
                escape(&hint.id),
                escape(&hint.text)
            );
            let reason = escape(hint.reason.as_deref().unwrap_or(""));
            match hint.status {
                Status::Pass => out.push_str("/>\n"),
                Status::NotRun => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{reason}\"/>\n    </testcase>"
                    );
                }
                Status::Fail => {
                    let mut details = hint.evidence.transcript.join("\n");
                    if let Some(expected) = &hint.evidence.expected {
                        details.push_str(&format!("\nExpected: {expected}"));
                    }
                    details.push_str(&format!("\nTo fix: {}", hint.help));
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{reason}\" type=\"{}\">{}</failure>",
                        hint.kind,
                        escape(details.trim_start())
                    );
                    if let Some(output) = &hint.evidence.server_output {
                        let _ = writeln!(
                            out,
                            "      <system-out>{}</system-out>",
                            escape(&output.lines.join("\n"))
                        );
                    }
                    out.push_str("    </testcase>\n");
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn build_failed(report: &StageReport) -> bool {
    report.build.as_ref().is_some_and(|b| !b.ok)
}

fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 forbids.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            super::escape("a<b & \"c\"\u{1}"),
            "a&lt;b &amp; &quot;c&quot;\u{FFFD}"
        );
    }
}
