//! The run's progress on stderr, while the pairs are graded.
//!
//! On a terminal, one line redrawn in place: `[12/30] 9 passed · 2 failed · 1 error ·
//! grading alice (08)`. Otherwise (a CI log, a pipe) one plain line per pair finished,
//! which reads well in a log and never needs a terminal's escape codes.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use super::{Graded, Verdict};

pub struct Progress {
    interactive: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    done: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    /// Labels of the pairs being graded, in the order they started.
    running: Vec<String>,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress {
            interactive: std::io::stderr().is_terminal(),
            state: Mutex::new(State {
                total,
                ..State::default()
            }),
        }
    }

    pub fn start(&self, label: &str) {
        let mut state = self.lock();
        state.running.push(label.to_string());
        self.redraw(&state);
    }

    pub fn finish(&self, label: &str, graded: &Graded, elapsed: Duration) {
        let mut state = self.lock();
        if let Some(i) = state.running.iter().position(|l| l == label) {
            state.running.remove(i);
        }
        state.done += 1;
        match graded.verdict() {
            Verdict::Passed => state.passed += 1,
            Verdict::Failed => state.failed += 1,
            Verdict::Error => state.errors += 1,
        }
        if self.interactive {
            self.redraw(&state);
        } else {
            eprintln!(
                "[{}/{}] {label}: {}",
                state.done,
                state.total,
                outcome(graded, elapsed)
            );
        }
    }

    /// Takes the redrawn line off the terminal, before the summary is printed.
    pub fn clear(&self) {
        if self.interactive {
            eprint!("\r\x1b[2K");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn redraw(&self, state: &State) {
        if !self.interactive {
            return;
        }
        let mut line = format!(
            "[{}/{}] {} passed · {} failed · {} error{}",
            state.done,
            state.total,
            state.passed,
            state.failed,
            state.errors,
            if state.errors == 1 { "" } else { "s" }
        );
        if !state.running.is_empty() {
            line.push_str(&format!(" · grading {}", state.running.join(", ")));
        }
        // A terminal that does not tell its width (0) gets a usual one.
        let width = crossterm::terminal::size()
            .ok()
            .map(|(w, _)| usize::from(w))
            .filter(|w| *w >= 20)
            .unwrap_or(100);
        let line: String = line.chars().take(width - 1).collect();
        eprint!("\r\x1b[2K{line}");
    }
}

/// `passed, 8/8 points (4.2 s)`, `unchanged, not regraded (failed, 3/8 points)`, `error: …`
fn outcome(graded: &Graded, elapsed: Duration) -> String {
    let report = &graded.report;
    if let Some(why) = &graded.error {
        return format!("error: {why}");
    }
    let mut what = format!(
        "{}, {}/{} points",
        graded.verdict().as_str(),
        report.score(),
        report.max_score()
    );
    if graded.build_failed() {
        what.push_str(", does not build");
    }
    if graded.unchanged {
        format!("unchanged, not regraded ({what})")
    } else {
        format!("{what} ({:.1} s)", elapsed.as_secs_f64())
    }
}
