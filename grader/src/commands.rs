//! The learner's commands: `cargo grade` (progress and the current stage), `check`,
//! `list` and `hint`. Each loads what it needs, grades, and prints through `report`.
//! `watch` and `reset` have modules of their own and borrow the helpers here.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use crate::catalogue::{Catalogue, Stage};
use crate::course::Course;
use crate::grade;
use crate::outcome::{StageReport, Status};
use crate::progress::Progress;
use crate::report::{self, Format, human::Style};

/// A mistake in what the user asked for (exit code 2), as opposed to a grader fault (3).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The course and its catalogue; every command starts here.
pub fn load() -> Result<(Course, Catalogue)> {
    let course = Course::discover().ok_or_else(|| {
        UsageError(
            "This is not inside a checkout of the course (no Cargo.toml with grader/catalogue.toml \
             above the current folder). Run `cargo grade` from the course folder, or set COURSE_ROOT."
                .into(),
        )
    })?;
    let catalogue = Catalogue::load(Some(&course.root))?;
    Ok((course, catalogue))
}

pub fn find_stage<'c>(catalogue: &'c Catalogue, query: &str) -> Result<&'c Stage, UsageError> {
    catalogue.find(query).ok_or_else(|| {
        let ids: Vec<&str> = catalogue.stages.iter().map(|s| s.id.as_str()).collect();
        UsageError(format!(
            "There is no stage `{query}`. Stages are: {}. Give an id, its number (`01`) or a prefix.",
            ids.join(", ")
        ))
    })
}

/// Prints cargo's progress on one redrawn line, and only to a terminal.
fn progress_printer() -> impl Fn(&str) + Sync {
    let interactive = std::io::stderr().is_terminal();
    move |line: &str| {
        if interactive {
            let line: String = line.chars().take(70).collect();
            eprint!("\r\x1b[2K  building: {line}");
        }
    }
}

fn clear_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

async fn grade_dir(course: &Course, stage: &Stage, dir: &Path) -> Result<StageReport> {
    let printer = progress_printer();
    let report = grade_dir_with(course, stage, dir, &printer).await;
    clear_progress();
    report
}

/// Grades the crate in `dir` as `stage`, after checking that it is a crate (a usage
/// error otherwise). `progress` receives cargo's status lines.
pub async fn grade_dir_with(
    course: &Course,
    stage: &Stage,
    dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<StageReport> {
    check_crate_dir(stage, dir)?;
    grade::grade(course, stage, dir, progress).await
}

/// That `dir` is there and holds a crate, or a usage error that says what to give.
pub fn check_crate_dir(stage: &Stage, dir: &Path) -> Result<(), UsageError> {
    if !dir.exists() {
        return Err(UsageError(format!("{} does not exist.", dir.display())));
    }
    if !dir.join("Cargo.toml").is_file() {
        return Err(UsageError(format!(
            "{} has no Cargo.toml: give the folder of a stage crate (like exercises/{}).",
            dir.display(),
            stage.id
        )));
    }
    Ok(())
}

fn style() -> Style {
    Style::detect(std::io::stdout().is_terminal())
}

fn exit_code(report: &StageReport) -> ExitCode {
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// What to do after grading the learner's own exercise.
fn next_step(catalogue: &Catalogue, stage: &Stage, report: &StageReport) -> String {
    if report.passed() {
        let later = catalogue
            .stages
            .iter()
            .find(|s| s.number() > stage.number());
        return match later {
            Some(next) => format!(
                "Stage {} is complete. Next: {} · {} (book/src/{}.md, exercises/{}), then `cargo grade`.",
                stage.id, next.id, next.title, next.id, next.id
            ),
            None => format!(
                "Stage {} is complete, and with it every stage of the course.",
                stage.id
            ),
        };
    }
    let n = stage.number();
    match report.first_failing() {
        Some(h) if h.status == Status::NotRun => {
            format!("Fix the build errors first, then run `cargo grade check {n:02}` again.")
        }
        _ => format!(
            "Run `cargo grade hint` for help with the first failing hint, or read book/src/{}.md.",
            stage.id
        ),
    }
}

/// `cargo grade check STAGE [--path DIR] [--format F]`
pub async fn check(query: &str, path: Option<PathBuf>, format: Format) -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let stage = find_stage(&catalogue, query)?;
    let own = path.is_none();
    let dir = path.unwrap_or_else(|| course.exercise_dir(stage));
    let report = grade_dir(&course, stage, &dir).await?;
    let next = own.then(|| next_step(&catalogue, stage, &report));
    if own {
        Progress::load(&course)?.record(stage, &report)?;
    }
    print!(
        "{}",
        report::render(
            format,
            std::slice::from_ref(&report),
            style(),
            next.as_deref()
        )
    );
    Ok(exit_code(&report))
}

/// `cargo grade`: progress over every stage, then the current stage graded.
pub async fn default() -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let mut progress = Progress::load(&course)?;
    print!("{}", render_list(&catalogue, &progress, style()));
    let Some(stage) = progress.current(&catalogue) else {
        println!("\nYou have passed every stage. `cargo grade check NN` re-grades any of them.");
        return Ok(ExitCode::SUCCESS);
    };
    println!(
        "\nGrading your current stage, {} (exercises/{}):\n",
        stage.id, stage.id
    );
    let report = grade_dir(&course, stage, &course.exercise_dir(stage)).await?;
    progress.record(stage, &report)?;
    let next = next_step(&catalogue, stage, &report);
    print!("{}", report::human::render(&report, style(), Some(&next)));
    Ok(exit_code(&report))
}

/// `cargo grade list`
pub fn list() -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let progress = Progress::load(&course)?;
    print!("{}", render_list(&catalogue, &progress, style()));
    Ok(ExitCode::SUCCESS)
}

/// Every stage with a mark (passed, current) and a bar of the hints that passed at its
/// last grading; above them, a bar of the stages passed.
pub fn render_list(catalogue: &Catalogue, progress: &Progress, style: Style) -> String {
    let done = catalogue
        .stages
        .iter()
        .filter(|s| progress.has_passed(s))
        .count();
    let total = catalogue.stages.len();
    let mut out = format!(
        "Progress {} {done}/{total} stages\n\n",
        bar(done, total, 20, style)
    );
    let current = progress.current(catalogue).map(|s| s.id.as_str());
    let title_width = catalogue
        .stages
        .iter()
        .map(|s| s.title.chars().count())
        .max()
        .unwrap_or(0);
    for stage in &catalogue.stages {
        let passed = progress.has_passed(stage);
        let mark = if passed {
            style.paint("32", "✓")
        } else if Some(stage.id.as_str()) == current {
            style.paint("33;1", "▸")
        } else {
            " ".to_string()
        };
        let all = stage.hints.len();
        let hints = match progress.entry(stage).and_then(|e| e.hints) {
            Some((n, of)) => format!("{} {n}/{of} hints", bar(n, of, 10, style)),
            // A stage recorded as passed by an older grader, which kept no counts.
            None if passed => format!("{} {all}/{all} hints", bar(all, all, 10, style)),
            None => format!("{} not graded yet ({all} hints)", bar(0, all, 10, style)),
        };
        let note = if Some(stage.id.as_str()) == current {
            "  ← current"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {mark} {:<28} {:<title_width$}  {hints}{note}\n",
            stage.id, stage.title
        ));
    }
    out
}

/// `[####------]`: `done` of `total`, `width` characters wide.
fn bar(done: usize, total: usize, width: usize, style: Style) -> String {
    let filled = (done.min(total) * width).checked_div(total).unwrap_or(0);
    let color = if done >= total { "32" } else { "33" };
    let filled_part = match filled {
        0 => String::new(),
        n => style.paint(color, &"#".repeat(n)),
    };
    format!("[{filled_part}{}]", "-".repeat(width - filled))
}

/// `cargo grade hint [STAGE]`: grades, then explains the first failing hint in full.
pub async fn hint(query: Option<&str>) -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let mut progress = Progress::load(&course)?;
    let stage = match query {
        Some(q) => find_stage(&catalogue, q)?,
        None => match progress.current(&catalogue) {
            Some(stage) => stage,
            None => {
                println!("You have passed every stage: no hints left to give.");
                return Ok(ExitCode::SUCCESS);
            }
        },
    };
    let report = grade_dir(&course, stage, &course.exercise_dir(stage)).await?;
    progress.record(stage, &report)?;
    let Some(failing) = report.first_failing() else {
        println!(
            "Every hint of {} passes. {}",
            stage.id,
            next_step(&catalogue, stage, &report)
        );
        return Ok(ExitCode::SUCCESS);
    };
    let n = report
        .hints
        .iter()
        .position(|h| h.id == failing.id)
        .unwrap_or(0)
        + 1;
    let mut text = String::new();
    if failing.status == Status::NotRun {
        report::human::render_build_failure(&mut text, &report, style());
    }
    report::human::render_hint(&mut text, n, failing, style());
    println!("The first hint of {} that does not pass yet:\n", stage.id);
    print!("{text}");
    println!("\nThe chapter explains the idea: book/src/{}.md", stage.id);
    Ok(ExitCode::from(1))
}

/// `cargo grade mongo`: the stand-in in the foreground, until Ctrl-C.
pub async fn mongo(port: u16) -> Result<ExitCode> {
    let (course, _) = load()?;
    let progress = |line: &str| eprintln!("{line}");
    crate::database::foreground(&course.root, port, &progress).await?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo grade redis`: a `redis-server` in the foreground, until Ctrl-C.
pub async fn redis(port: u16) -> Result<ExitCode> {
    let (course, _) = load()?;
    let scratch = course.target_dir().join("grader");
    crate::redis::foreground(&scratch, port)
        .await
        .map_err(|e| UsageError(format!("{e:#}")))?;
    Ok(ExitCode::SUCCESS)
}
