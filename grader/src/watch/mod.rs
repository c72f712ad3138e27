//! `cargo grade watch`: grade the current stage, then again on every save.
//!
//! The shape is rustlings' watch mode: file events ([`files`]) and key presses ([`keys`])
//! are read on threads of their own and sent into one channel of [`Event`]s; this loop is
//! the only reader, and [`state::Screen`] owns what the screen shows.
//!
//! A grading is a future this loop polls itself, not a spawned task, so cancelling it is
//! dropping it: that happens at once, and dropping it drops the build's and the server's
//! [`process::Group`](crate::process::Group)s, which kill their whole process groups. A
//! save (or `r`) during a grading therefore stops the build or the learner's server of
//! that run before the next run starts, and every run starts fresh servers, as
//! `cargo grade check` does. When every hint passes, the stage is recorded, its solution
//! offered for comparison, and the next stage graded.
//!
//! Quitting (`q`, Ctrl-C, SIGTERM, or the end of stdin with `--manual`) ends the loop
//! normally rather than exiting the process from a signal handler, so the terminal's raw
//! mode ([`terminal::RawMode`]) is always turned off on the way out.

mod files;
mod keys;
mod state;
mod terminal;

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::catalogue::{Catalogue, Stage};
use crate::commands::{self, UsageError};
use crate::course::Course;
use crate::outcome::StageReport;
use crate::progress::Progress;
pub use keys::Key;
use state::{Screen, View};

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// Files under `exercises/` changed (a save, debounced).
    Changed(Vec<PathBuf>),
    Key(Key),
    /// A line of stdin that names no key.
    UnknownInput(String),
    /// Stdin ended, or the terminal could not be read.
    InputClosed,
    /// A status line of cargo's build.
    Building(String),
    /// The terminal changed size.
    Resized,
    /// The file watcher reported an error.
    WatchFailed(String),
}

/// A grading in flight; dropping it cancels it and kills what it started.
type Grading<'a> = Pin<Box<dyn Future<Output = Result<StageReport>> + 'a>>;

/// `cargo grade watch [STAGE] [--manual]`
pub async fn run(query: Option<&str>, manual: bool) -> Result<ExitCode> {
    let (course, catalogue) = commands::load()?;
    let mut progress = Progress::load(&course)?;
    let stage = match query {
        Some(q) => commands::find_stage(&catalogue, q)?,
        None => match progress.current(&catalogue) {
            Some(stage) => stage,
            None => {
                println!(
                    "You have passed every stage. `cargo grade watch NN` watches any of them again."
                );
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    if !course.exercise_dir(stage).is_dir() {
        return Err(UsageError(format!(
            "{} does not exist: there is nothing to watch. `cargo grade reset {:02}` restores the starter.",
            course.display(&course.exercise_dir(stage)),
            stage.number()
        ))
        .into());
    }

    let (events, mut incoming) = unbounded_channel();
    let _watcher = match manual {
        true => None,
        false => {
            Some(files::watch(&course.root.join("exercises"), events.clone()).context(NOTIFY_ERR)?)
        }
    };
    // Ctrl-C and SIGTERM end the loop (before raw mode is on, so none can skip its end).
    let mut interrupt = signal(SignalKind::interrupt()).context("Failed to handle Ctrl-C")?;
    let mut terminate = signal(SignalKind::terminate()).context("Failed to handle SIGTERM")?;
    // Raw keys and redraws only when both ends are a terminal (and raw mode works);
    // otherwise plain appended output and keys as lines.
    let raw_mode = match std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        true => terminal::RawMode::enable().ok(),
        false => None,
    };
    let interactive = raw_mode.is_some();
    keys::spawn(interactive, events.clone());

    let mut screen = Screen::new(&course, &catalogue, stage, interactive, manual);
    screen.started("Watching", &progress)?;
    let mut running = Some(start(&course, screen.stage(), events.clone()));

    let interrupted = ExitCode::from(130);
    let code = loop {
        let event = tokio::select! {
            _ = interrupt.recv() => break interrupted,
            _ = terminate.recv() => break interrupted,
            result = finish(&mut running) => {
                running = None;
                let stage = screen.stage();
                match result {
                    Ok(report) => {
                        let passed = report.passed();
                        if let Err(e) = progress.record(stage, &report) {
                            screen.notice(format!("{e:#}"), &progress)?;
                        }
                        screen.finished(report, &progress)?;
                        if passed {
                            let next = next_stage(&catalogue, &progress, stage);
                            screen.completed(next, &progress)?;
                            if let Some(next) = next {
                                screen.started("Next stage", &progress)?;
                                running = Some(start(&course, next, events.clone()));
                            }
                        }
                    }
                    Err(e) => screen.failed(describe_error(&e), &progress)?,
                }
                continue;
            }
            event = incoming.recv() => match event {
                Some(event) => event,
                None => break ExitCode::SUCCESS, // cannot happen: the loop holds a sender
            },
        };
        let rerun = match event {
            Event::Changed(paths) => {
                let dir = course.exercise_dir(screen.stage());
                // Removed files cannot be resolved, so the path is shortened as it is.
                paths.iter().find(|p| p.starts_with(&dir)).map(|path| {
                    let shown = path.strip_prefix(&course.root).unwrap_or(path);
                    format!("{} changed", shown.display())
                })
            }
            Event::Key(Key::Quit) => break ExitCode::SUCCESS,
            Event::Key(Key::Rerun) => Some("You pressed r".to_string()),
            Event::Key(Key::Enter) => Some("You pressed Enter".to_string()),
            Event::Key(Key::Hint) => {
                screen.show(View::Hint, &progress)?;
                None
            }
            Event::Key(Key::List) => {
                screen.show(View::List, &progress)?;
                None
            }
            Event::UnknownInput(line) => {
                screen.notice(
                    format!(
                        "`{}` is not a key here: h, l, r or q (then Enter).",
                        line.trim()
                    ),
                    &progress,
                )?;
                None
            }
            Event::InputClosed if manual => break ExitCode::SUCCESS,
            Event::InputClosed => {
                screen.notice(
                    "Input has ended: keys no longer work; saves still grade. Ctrl-C stops.".into(),
                    &progress,
                )?;
                None
            }
            Event::Building(line) => {
                screen.building(&line)?;
                None
            }
            Event::Resized => {
                screen.redraw(&progress)?;
                None
            }
            Event::WatchFailed(why) => {
                screen.notice(
                    format!("Watching for changes failed: {why}. {NOTIFY_ERR}"),
                    &progress,
                )?;
                None
            }
        };
        if let Some(why) = rerun {
            // Drop the run in progress first: its build and servers stop here.
            drop(running.take());
            screen.started(&why, &progress)?;
            running = Some(start(&course, screen.stage(), events.clone()));
        }
    };
    // Stop the run in progress, then give the terminal back.
    drop(running);
    drop(raw_mode);
    if code == interrupted {
        eprintln!("Interrupted: stopped everything the grader had started.");
    }
    Ok(code)
}

/// Starts grading the learner's exercise of `stage`; build lines go to `events`.
fn start<'a>(course: &'a Course, stage: &'a Stage, events: UnboundedSender<Event>) -> Grading<'a> {
    let dir = course.exercise_dir(stage);
    Box::pin(async move {
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "{} does not exist. `cargo grade reset {:02}` restores its starter.",
                course.display(&dir),
                stage.number()
            ))
            .into());
        }
        let progress = move |line: &str| {
            let _ = events.send(Event::Building(line.to_string()));
        };
        commands::grade_dir_with(course, stage, &dir, &progress).await
    })
}

/// Waits for the grading in flight, or forever when there is none.
async fn finish(running: &mut Option<Grading<'_>>) -> Result<StageReport> {
    match running {
        Some(grading) => grading.await,
        None => std::future::pending().await,
    }
}

/// The stage after `done` not yet passed, else the first not passed anywhere.
fn next_stage<'c>(
    catalogue: &'c Catalogue,
    progress: &Progress,
    done: &Stage,
) -> Option<&'c Stage> {
    catalogue
        .stages
        .iter()
        .filter(|s| s.number() > done.number())
        .find(|s| !progress.has_passed(s))
        .or_else(|| progress.current(catalogue))
}

fn describe_error(e: &anyhow::Error) -> String {
    if e.downcast_ref::<UsageError>().is_some() {
        format!("{e}")
    } else {
        format!(
            "The grader failed: {e:#}\nThis is a fault in the grader, not in your code. Press r to try again."
        )
    }
}

const NOTIFY_ERR: &str = "The grader could not watch your files for changes. On some file systems \
     (network mounts, some container and VM shared folders) change events never arrive, and a \
     system may run out of inotify watches. Run `cargo grade watch --manual` instead: it grades \
     again every time you press Enter.";
