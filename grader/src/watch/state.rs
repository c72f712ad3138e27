//! What the `watch` screen shows, and drawing it.
//!
//! The loop tells the [`Screen`] what happened (a grading started, finished or failed; a
//! stage was completed; a key asked for another view) and the screen draws. On a terminal
//! it clears the screen and draws the whole state again, so it always shows one grading;
//! otherwise (output to a file or a pipe) it appends only what is new, so the log reads
//! top to bottom. Nothing else in `watch` prints.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::{Context, Result};

use super::terminal;
use crate::catalogue::{Catalogue, Stage};
use crate::commands::render_list;
use crate::course::Course;
use crate::outcome::{StageReport, Status};
use crate::progress::Progress;
use crate::report::human::{self, Style};

/// What the body of the screen shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every hint's mark, and the first failing hint's reason and help.
    Report,
    /// The first failing hint in full: what was sent, what came back, the server's output.
    Hint,
    /// Every stage with its progress.
    List,
}

pub struct Screen<'c> {
    course: &'c Course,
    catalogue: &'c Catalogue,
    stage: &'c Stage,
    /// Redraw a terminal (true) or append to a log (false).
    terminal: bool,
    manual: bool,
    style: Style,
    view: View,
    report: Option<StageReport>,
    error: Option<String>,
    grading: bool,
    building: Option<String>,
    /// The stage just completed, whose solution is offered for comparison.
    completed: Option<&'c Stage>,
    /// Every stage of the course passes.
    finished_course: bool,
    notice: Option<String>,
}

impl<'c> Screen<'c> {
    pub fn new(
        course: &'c Course,
        catalogue: &'c Catalogue,
        stage: &'c Stage,
        terminal: bool,
        manual: bool,
    ) -> Screen<'c> {
        Screen {
            course,
            catalogue,
            stage,
            terminal,
            manual,
            style: Style::detect(terminal),
            view: View::Report,
            report: None,
            error: None,
            grading: false,
            building: None,
            completed: None,
            finished_course: false,
            notice: None,
        }
    }

    pub fn stage(&self) -> &'c Stage {
        self.stage
    }

    /// A grading of the current stage has started; `why` says what started it.
    pub fn started(&mut self, why: &str, progress: &Progress) -> Result<()> {
        self.grading = true;
        self.building = None;
        self.error = None;
        self.notice = None;
        self.view = View::Report;
        let line = format!("{why}: grading {} ({})…", self.stage.id, self.stage_dir());
        self.draw(progress, || format!("\n{line}\n"))
    }

    /// Cargo is building; shown on the status line of a terminal only.
    pub fn building(&mut self, line: &str) -> Result<()> {
        if !self.grading {
            return Ok(()); // a late line of a cancelled build
        }
        self.building = Some(line.chars().take(60).collect());
        if self.terminal {
            terminal::status(&self.status_line())?;
        }
        Ok(())
    }

    pub fn finished(&mut self, report: StageReport, progress: &Progress) -> Result<()> {
        self.grading = false;
        self.building = None;
        self.report = Some(report);
        self.draw(progress, || {
            let mut out = self.report_body();
            out.push('\n');
            out.push_str(&self.keys_line());
            out.push_str(&self.status_line());
            out.push('\n');
            out
        })
    }

    /// The grading could not run at all (a missing folder, a grader fault).
    pub fn failed(&mut self, error: String, progress: &Progress) -> Result<()> {
        self.grading = false;
        self.building = None;
        self.report = None;
        self.error = Some(error);
        self.draw(progress, || {
            format!(
                "{}\n{}{}\n",
                self.error_body(),
                self.keys_line(),
                self.status_line()
            )
        })
    }

    /// Every hint of the current stage passes: offer its solution and move on to `next`
    /// (or stay, when it was the last stage).
    pub fn completed(&mut self, next: Option<&'c Stage>, progress: &Progress) -> Result<()> {
        self.completed = Some(self.stage);
        match next {
            Some(next) => {
                self.stage = next;
                self.report = None;
                self.finished_course = false;
            }
            None => self.finished_course = true,
        }
        self.draw(progress, || self.banner())
    }

    /// Switches to `view`; asking for the view already shown goes back to the report.
    pub fn show(&mut self, view: View, progress: &Progress) -> Result<()> {
        self.view = if self.view == view {
            View::Report
        } else {
            view
        };
        self.draw(progress, || match view {
            View::Report => self.report_body(),
            View::Hint => self.hint_body(),
            View::List => render_list(self.catalogue, progress, self.style),
        })
    }

    /// A one-line message (an unknown key, a closed input).
    pub fn notice(&mut self, text: String, progress: &Progress) -> Result<()> {
        self.notice = Some(text.clone());
        self.draw(progress, || format!("{text}\n"))
    }

    pub fn redraw(&self, progress: &Progress) -> Result<()> {
        self.draw(progress, String::new)
    }

    /// On a terminal: everything, again. Otherwise: what `appended` returns.
    fn draw(&self, progress: &Progress, appended: impl FnOnce() -> String) -> Result<()> {
        if self.terminal {
            return terminal::redraw(&self.full(progress));
        }
        let text = appended();
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush().context("Failed to write the output")
    }

    /// The whole screen, ending with the status line (no newline).
    fn full(&self, progress: &Progress) -> String {
        let mut out = format!(
            "cargo grade watch · {} · {}  ({})\n\n",
            self.style.paint("1", &self.stage.id),
            self.stage.title,
            self.stage_dir()
        );
        out.push_str(&self.banner());
        let body = match (self.view, &self.error) {
            (View::List, _) => render_list(self.catalogue, progress, self.style),
            (_, Some(_)) => self.error_body(),
            (View::Hint, None) => self.hint_body(),
            (View::Report, None) => self.report_body(),
        };
        out.push_str(&body);
        out.push('\n');
        if let Some(notice) = &self.notice {
            let _ = writeln!(out, "{notice}");
        }
        out.push_str(&self.keys_line());
        out.push_str(&self.status_line());
        out
    }

    fn stage_dir(&self) -> String {
        self.course.display(&self.course.exercise_dir(self.stage))
    }

    /// The completed stage, its solution, and what comes next.
    fn banner(&self) -> String {
        let Some(done) = self.completed else {
            return String::new();
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} is complete: every hint passes.",
            self.style.paint("32;1", "✓"),
            done.id
        );
        let solution = self.course.solution_dir(done);
        if solution.is_dir() {
            let solution = self.course.display(&solution);
            let exercise = self.course.display(&self.course.exercise_dir(done));
            let _ = writeln!(
                out,
                "  Compare your code with the reference solution in {solution}/:\n    diff -ru {exercise} {solution}"
            );
        }
        if self.finished_course {
            let _ = writeln!(
                out,
                "  That was the last stage: every stage of the course passes."
            );
        } else if done.id != self.stage.id {
            let _ = writeln!(
                out,
                "  On to {} · {}: read book/src/{}.md.",
                self.stage.id, self.stage.title, self.stage.id
            );
        }
        out.push('\n');
        out
    }

    fn report_body(&self) -> String {
        let Some(report) = &self.report else {
            return if self.grading {
                "Grading…\n".to_string()
            } else {
                String::new()
            };
        };
        let style = self.style;
        let mut out = String::new();
        human::render_build_failure(&mut out, report, style);
        for (i, hint) in report.hints.iter().enumerate() {
            human::render_hint_line(&mut out, i + 1, hint, style);
        }
        out.push('\n');
        human::render_totals(&mut out, report, style);
        let failing = report
            .hints
            .iter()
            .enumerate()
            .find(|(_, h)| h.status != Status::Pass);
        if let Some((i, hint)) = failing
            && hint.status == Status::Fail
        {
            out.push_str("\nThe first hint that does not pass:\n");
            human::render_brief(&mut out, i + 1, hint, style);
            if !hint.evidence.is_empty() {
                out.push_str("Press h for everything the grader saw.\n");
            }
        }
        out
    }

    fn hint_body(&self) -> String {
        let Some(report) = &self.report else {
            return "No grading has finished yet.\n".to_string();
        };
        let failing = report
            .hints
            .iter()
            .enumerate()
            .find(|(_, h)| h.status != Status::Pass);
        let Some((i, hint)) = failing else {
            return format!(
                "Every hint of {} passes: there is no hint to explain.\n",
                report.stage
            );
        };
        let mut out = String::new();
        if hint.status == Status::NotRun {
            human::render_build_failure(&mut out, report, self.style);
        }
        let _ = writeln!(
            out,
            "The first hint of {} that does not pass yet:\n",
            report.stage
        );
        human::render_hint(&mut out, i + 1, hint, self.style);
        let _ = writeln!(
            out,
            "\nThe chapter explains the idea: book/src/{}.md",
            report.stage
        );
        out
    }

    fn error_body(&self) -> String {
        match &self.error {
            Some(error) => format!("{error}\n"),
            None => String::new(),
        }
    }

    fn keys_line(&self) -> String {
        let back = match self.view {
            View::Report => "",
            View::Hint => " (h again: back to the results)",
            View::List => " (l again: back to the results)",
        };
        if self.manual {
            format!("Keys: Enter or r grade again · h hint · l list · q quit{back}\n")
        } else {
            format!("Keys: h hint · l list · r grade again · q quit{back}\n")
        }
    }

    /// The last line: what the watcher is doing now.
    fn status_line(&self) -> String {
        if self.grading {
            return match &self.building {
                Some(line) => format!("Grading {}… building: {line}", self.stage.id),
                None => format!("Grading {}…", self.stage.id),
            };
        }
        let done = match (&self.report, &self.error) {
            (_, Some(_)) => "The grading could not run.".to_string(),
            (Some(report), None) => {
                format!("Graded in {:.1} s.", report.elapsed_ms as f64 / 1000.0)
            }
            (None, None) => String::new(),
        };
        let next = if self.manual {
            "Press Enter to grade again.".to_string()
        } else {
            format!("Watching {}: save a file to grade again.", self.stage_dir())
        };
        format!("{done} {next}").trim_start().to_string()
    }
}
