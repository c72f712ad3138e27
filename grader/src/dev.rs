//! `cargo grade dev check`: the course's own self-test.
//!
//! A hint that passes on the starter checks nothing the learner writes; a hint that
//! fails on the solution rejects correct code. Both are bugs, and this finds them:
//! - the catalogue loads (ids unique, every pattern compiles, every probe exists);
//! - every stage has its starter, solution, chapter (with its hints marker, listed in
//!   SUMMARY.md) and at least four fixtures;
//! - the starter builds and fails every hint; the solution passes every hint;
//! - every fixture fails exactly the hints its `fixture.toml` names and produces the
//!   report recorded in its `report.snap`.
//!
//! Gradings run a few at a time; their results print in a fixed order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::catalogue::Stage;
use crate::commands::load;
use crate::course::Course;
use crate::grade;
use crate::outcome::{StageReport, Status};
use crate::report::{self, human::Style};

/// Fixtures each stage must have at least.
const MIN_FIXTURES: usize = 4;

/// `fixtures/STAGE/NAME/fixture.toml`: what a known-bad submission is known to do.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    pub description: String,
    /// Exactly the hints that fail (hints not run because of the build are not listed).
    pub fails: Vec<String>,
    #[serde(default)]
    pub build_fails: bool,
}

impl FixtureSpec {
    pub fn load(dir: &Path) -> Result<FixtureSpec> {
        let path = dir.join("fixture.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }
}

/// The fixtures of a stage, sorted by name.
pub fn fixtures(course: &Course, stage: &Stage) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(course.fixtures_dir(stage))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("fixture.toml").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// The recorded report of a fixture: the body of its insta snapshot.
pub fn recorded_report(fixture: &Path) -> Option<String> {
    let text = std::fs::read_to_string(fixture.join("report.snap")).ok()?;
    let body = text.strip_prefix("---\n")?.split_once("\n---\n")?.1;
    Some(body.to_string())
}

/// The report text a fixture snapshot records.
pub fn snapshot_text(report: &StageReport, root: &Path) -> String {
    report::normalize(&report::human::render(report, Style::Plain, None), root)
}

enum Role {
    Starter,
    Solution,
    Fixture { spec: FixtureSpec, dir: PathBuf },
}

struct Job {
    stage: usize,
    label: String,
    dir: PathBuf,
    role: Role,
}

pub async fn check(jobs: usize) -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let hints: usize = catalogue.stages.iter().map(|s| s.hints.len()).sum();
    println!(
        "  ✓ catalogue: {} stages, {hints} hints; ids unique, every pattern compiles, every probe exists",
        catalogue.stages.len()
    );
    let mut problems = 0;
    let mut queue = Vec::new();
    for (i, stage) in catalogue.stages.iter().enumerate() {
        let layout = layout_problems(&course, stage);
        problems += report_line(
            &format!(
                "{}: starter, solution, chapter and fixtures in place",
                stage.id
            ),
            &layout,
        );
        queue.push(Job {
            stage: i,
            label: format!("{} starter", stage.id),
            dir: course.exercise_dir(stage),
            role: Role::Starter,
        });
        queue.push(Job {
            stage: i,
            label: format!("{} solution", stage.id),
            dir: course.solution_dir(stage),
            role: Role::Solution,
        });
        for dir in fixtures(&course, stage) {
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match FixtureSpec::load(&dir) {
                Ok(spec) => queue.push(Job {
                    stage: i,
                    label: format!("{} fixture {name}", stage.id),
                    dir: dir.clone(),
                    role: Role::Fixture { spec, dir },
                }),
                Err(e) => {
                    problems +=
                        report_line(&format!("{} fixture {name}", stage.id), &[format!("{e:#}")])
                }
            }
        }
    }

    let course = Arc::new(course);
    let catalogue = Arc::new(catalogue);
    let limit = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut handles = Vec::new();
    for job in queue {
        let (course, catalogue, limit) = (course.clone(), catalogue.clone(), limit.clone());
        handles.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore open");
            let stage = &catalogue.stages[job.stage];
            let found = match job.dir.is_dir() {
                false => vec![format!("{} is missing", course.display(&job.dir))],
                true => match grade::grade(&course, stage, &job.dir, &|_| {}).await {
                    Ok(report) => judge(&course, &job.role, &report),
                    Err(e) => vec![format!("grading failed: {e:#}")],
                },
            };
            (job.label, found)
        }));
    }
    for handle in handles {
        let (label, found) = handle.await.context("A grading task panicked")?;
        problems += report_line(&label, &found);
    }
    println!();
    if problems == 0 {
        println!("dev check: everything holds.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("dev check: {problems} problem(s).");
        Ok(ExitCode::from(1))
    }
}

fn report_line(label: &str, problems: &[String]) -> usize {
    if problems.is_empty() {
        println!("  ✓ {label}");
        return 0;
    }
    println!("  ✗ {label}");
    for problem in problems {
        for (i, line) in problem.lines().enumerate() {
            println!("      {}{line}", if i == 0 { "- " } else { "  " });
        }
    }
    problems.len()
}

fn layout_problems(course: &Course, stage: &Stage) -> Vec<String> {
    let mut found = Vec::new();
    for dir in [course.exercise_dir(stage), course.solution_dir(stage)] {
        if !dir.join("Cargo.toml").is_file() {
            found.push(format!("{}/Cargo.toml is missing", course.display(&dir)));
        }
    }
    let chapter = course.chapter_file(stage);
    match std::fs::read_to_string(&chapter) {
        Err(_) => found.push(format!(
            "the chapter {} is missing",
            course.display(&chapter)
        )),
        Ok(text) if !text.contains(&format!("{{{{#hints {}}}}}", stage.id)) => {
            found.push(format!(
                "{} has no `{{{{#hints {}}}}}` marker",
                course.display(&chapter),
                stage.id
            ));
        }
        Ok(_) => {}
    }
    let summary =
        std::fs::read_to_string(course.root.join("book/src/SUMMARY.md")).unwrap_or_default();
    if !summary.contains(&format!("({}.md)", stage.id)) {
        found.push(format!("book/src/SUMMARY.md does not list {}.md", stage.id));
    }
    let count = fixtures(course, stage).len();
    if count < MIN_FIXTURES {
        found.push(format!(
            "{count} fixtures in fixtures/{}; at least {MIN_FIXTURES} are needed",
            stage.id
        ));
    }
    found
}

/// What is wrong with a report, given the role of the graded checkout.
fn judge(course: &Course, role: &Role, report: &StageReport) -> Vec<String> {
    let built = report.build.as_ref().is_some_and(|b| b.ok);
    let mut found = Vec::new();
    match role {
        Role::Starter => {
            if !built {
                found.push("the starter does not build; starters must compile and run".to_string());
            }
            for hint in report.hints.iter().filter(|h| h.status == Status::Pass) {
                found.push(format!(
                    "hint `{}` passes on the starter: it checks nothing the learner writes",
                    hint.id
                ));
            }
        }
        Role::Solution => {
            for hint in report.hints.iter().filter(|h| h.status != Status::Pass) {
                found.push(format!(
                    "hint `{}` does not pass on the solution: {}",
                    hint.id,
                    hint.reason.as_deref().unwrap_or("")
                ));
            }
        }
        Role::Fixture { spec, dir } => {
            if built == spec.build_fails {
                found.push(format!(
                    "the build {} but fixture.toml says build_fails = {}",
                    if built { "succeeded" } else { "failed" },
                    spec.build_fails
                ));
            }
            let failing: BTreeSet<&str> = report
                .hints
                .iter()
                .filter(|h| h.status == Status::Fail)
                .map(|h| h.id.as_str())
                .collect();
            let expected: BTreeSet<&str> = spec.fails.iter().map(String::as_str).collect();
            if failing != expected {
                found.push(format!(
                    "fails {failing:?}, but fixture.toml says {expected:?}"
                ));
            }
            match recorded_report(dir) {
                None => found.push(
                    "no recorded report.snap: run `INSTA_UPDATE=always cargo test -p grader --test \
                     fixtures` and review it"
                        .to_string(),
                ),
                Some(recorded) => {
                    let actual = snapshot_text(report, &course.root);
                    if recorded.trim_end() != actual.trim_end() {
                        found.push(format!(
                            "the report differs from report.snap; run `INSTA_UPDATE=always cargo test -p grader \
                             --test fixtures` and review the change.\nNow:\n{actual}"
                        ));
                    }
                }
            }
        }
    }
    found
}
