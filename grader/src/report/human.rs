//! The learner's report: one line per hint, and for a failure what happened and what
//! to do next, in the style of freeCodeCamp's hint lists.

use std::fmt::Write;

use crate::outcome::{HintOutcome, OutputTail, StageReport, Status};

/// Whether to colour the output (only on a terminal, and never with `NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

impl Style {
    pub fn detect(is_terminal: bool) -> Style {
        if is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
            Style::Color
        } else {
            Style::Plain
        }
    }

    pub fn paint(self, code: &str, text: &str) -> String {
        match self {
            Style::Plain => text.to_string(),
            Style::Color => format!("\x1b[{code}m{text}\x1b[0m"),
        }
    }
}

const WIDTH: usize = 96;
const INDENT: &str = "       ";

pub fn render(report: &StageReport, style: Style, next: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · {}  ({})\n",
        style.paint("1", &report.stage),
        report.title,
        report.path
    );
    render_build_failure(&mut out, report, style);
    for (i, hint) in report.hints.iter().enumerate() {
        render_hint(&mut out, i + 1, hint, style);
    }
    out.push('\n');
    render_totals(&mut out, report, style);
    if let Some(next) = next {
        let _ = writeln!(out, "{next}");
    }
    out
}

/// One line with how many hints pass, and the points.
pub fn render_totals(out: &mut String, report: &StageReport, style: Style) {
    let passed = report.count(Status::Pass);
    let total = report.hints.len();
    if passed == total {
        let _ = writeln!(
            out,
            "{} ({}/{} points).",
            style.paint("32;1", &format!("All {total} hints pass")),
            report.score(),
            report.max_score()
        );
    } else {
        let _ = writeln!(
            out,
            "{passed} of {total} hints pass ({}/{} points).",
            report.score(),
            report.max_score()
        );
    }
}

/// The one line of hint number `n`: its mark and its text.
pub fn render_hint_line(out: &mut String, n: usize, hint: &HintOutcome, style: Style) {
    let mark = match hint.status {
        Status::Pass => style.paint("32", "✓"),
        Status::Fail => style.paint("31", "✗"),
        Status::NotRun => style.paint("2", "–"),
    };
    let _ = writeln!(out, "  {mark} {n}. {}", hint.text);
}

/// One hint as hint number `n`, in short: its line, and for a failure the reason and
/// what to do, without the evidence (`watch` shows that on request).
pub fn render_brief(out: &mut String, n: usize, hint: &HintOutcome, style: Style) {
    let brief = HintOutcome {
        evidence: Default::default(),
        ..hint.clone()
    };
    render_hint(out, n, &brief, style);
}

/// The compiler's errors, when the build failed.
pub fn render_build_failure(out: &mut String, report: &StageReport, style: Style) {
    if let Some(build) = report.build.as_ref().filter(|b| !b.ok) {
        let summary = build.summary.as_deref().unwrap_or("");
        let _ = writeln!(out, "  {} {summary}", style.paint("31;1", "Build failed:"));
        for line in build.errors.lines() {
            let _ = writeln!(out, "    {line}");
        }
        out.push('\n');
    }
}

/// One hint as hint number `n`: its line, and for a failure what happened and what to do.
pub fn render_hint(out: &mut String, n: usize, hint: &HintOutcome, style: Style) {
    render_hint_line(out, n, hint, style);
    if hint.status == Status::Pass {
        return;
    }
    if let Some(reason) = &hint.reason {
        for line in reason.lines() {
            wrap_into(out, line, INDENT);
        }
    }
    if hint.status == Status::NotRun {
        return;
    }
    let evidence = &hint.evidence;
    if !evidence.transcript.is_empty() {
        let _ = writeln!(
            out,
            "{INDENT}Conversation (→ sent by the grader, ← sent by your server):"
        );
        for line in &evidence.transcript {
            let _ = writeln!(out, "{INDENT}  {line}");
        }
    }
    if let Some(expected) = &evidence.expected {
        let _ = writeln!(out, "{INDENT}Expected: {expected}");
    }
    if let Some(output) = &evidence.server_output {
        render_output(out, output);
    }
    let _ = write!(out, "{INDENT}{} ", style.paint("1", "To fix:"));
    let mut help = String::new();
    wrap_into(&mut help, &hint.help.replace('\n', " "), INDENT);
    out.push_str(help.trim_start());
}

fn render_output(out: &mut String, output: &OutputTail) {
    if output.total_bytes == 0 {
        let _ = writeln!(out, "{INDENT}Your server printed nothing.");
        return;
    }
    let shown = output.lines.len() as u64;
    let size = if output.total_bytes >= 1 << 20 {
        format!(
            ", {:.1} MiB in all",
            output.total_bytes as f64 / (1 << 20) as f64
        )
    } else {
        String::new()
    };
    if shown < output.total_lines {
        let _ = writeln!(
            out,
            "{INDENT}Your server printed (last {shown} of {} lines{size}):",
            output.total_lines
        );
    } else {
        let _ = writeln!(out, "{INDENT}Your server printed:");
    }
    for line in &output.lines {
        let _ = writeln!(out, "{INDENT}  | {line}");
    }
}

/// Appends `text` wrapped at [`WIDTH`] columns, each line starting with `indent`.
fn wrap_into(out: &mut String, text: &str, indent: &str) {
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty()
            && indent.len() + line.chars().count() + 1 + word.chars().count() > WIDTH
        {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    let _ = writeln!(out, "{indent}{line}");
}
