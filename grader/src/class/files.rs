//! The `--out` folder: what a run (or a merge) leaves for the instructor.
//!
//! ```text
//! grades/
//!   reports/SUBMISSION/STAGE.txt   the report a learner reads (`cargo grade check`, no colour)
//!   reports/SUBMISSION/STAGE.json  the same as results.json (`check --format json`)
//!   summary.csv                    a row per submission and stage, a column per hint
//!   junit.xml                      a test suite per submission and stage
//!   classroom/SUBMISSION.json      points for GitHub Classroom
//!   run.json                       what was graded, with what, when and how
//!   .cache/SUBMISSION/STAGE.json   each pair's whole result, for the next run and merge
//! ```
//!
//! Each run rewrites `reports/` and `classroom/` whole, so they hold its submissions only;
//! `.cache/` stays. A lock on `.lock` keeps two runs from writing one folder at once. A
//! folder that is not empty and holds none of these is refused: it is not a folder of
//! grades, and a run deletes in it.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::record::RunRecord;
use super::{Graded, cache, classroom, csv};
use crate::commands::UsageError;
use crate::outcome::BuildOutcome;
use crate::report::{self, human::Style};

/// What the summary says is in the folder.
pub const LISTING: &str = "reports/, summary.csv, junit.xml, classroom/, run.json";

/// The `--out` folder, locked while it is held.
pub struct OutDir {
    pub path: PathBuf,
    _lock: File,
}

impl OutDir {
    /// Opens (or creates) the folder, locks it, and clears the previous run's reports.
    pub fn open(path: &Path) -> Result<OutDir> {
        if path.exists() && !path.is_dir() {
            return Err(UsageError(format!(
                "--out {} is a file: give a folder for the reports (it is created if needed).",
                path.display()
            ))
            .into());
        }
        let ours = ["run.json", ".cache", ".lock"]
            .iter()
            .any(|name| path.join(name).exists());
        let empty = std::fs::read_dir(path).map_or(true, |mut entries| entries.next().is_none());
        if !ours && !empty {
            return Err(UsageError(format!(
                "--out {} is a folder of other things (no run.json in it): give a new or empty \
                 folder, since a run replaces the reports in it.",
                path.display()
            ))
            .into());
        }
        std::fs::create_dir_all(path)
            .with_context(|| format!("Failed to create {}", path.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(".lock"))
            .with_context(|| format!("Failed to open {}/.lock", path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(UsageError(format!(
                    "Another `cargo grade class` or `merge` is writing to {}: wait for it to \
                     finish, or give another --out.",
                    path.display()
                ))
                .into());
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("Failed to lock {}", path.display()));
            }
        }
        for stale in ["reports", "classroom"] {
            let dir = path.join(stale);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("Failed to clear {}", dir.display()))?;
            }
        }
        Ok(OutDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// Writes every report of `results`, the summaries, and `record` as `run.json`.
    pub fn write(&self, record: &RunRecord, results: &[Graded]) -> Result<()> {
        let mut by_submission: BTreeMap<&str, Vec<&Graded>> = BTreeMap::new();
        for graded in results {
            by_submission
                .entry(graded.submission.as_str())
                .or_default()
                .push(graded);
            let dir = self.path.join("reports").join(&graded.submission);
            let stem = graded.file_stem();
            write(
                &dir.join(format!("{stem}.txt")),
                &human(graded, &record.sandbox),
            )?;
            write(&dir.join(format!("{stem}.json")), &json(graded))?;
            cache::store(&self.path, graded)?;
        }
        for (submission, pairs) in &by_submission {
            let file = self
                .path
                .join("classroom")
                .join(format!("{submission}.json"));
            write(&file, &classroom::render(pairs))?;
        }
        write(&self.path.join("summary.csv"), &csv::render(results))?;
        write(&self.path.join("junit.xml"), &junit(results))?;
        write(&self.path.join("run.json"), &(record.to_json() + "\n"))
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("Failed to create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("Failed to write {}", path.display()))
}

/// The learner's report, or why there is none.
fn human(graded: &Graded, isolation: &str) -> String {
    let report = &graded.report;
    let text = match &graded.error {
        None => report::human::render(report, Style::Plain, None),
        Some(why) => {
            let heading = match graded.stage() {
                Some(stage) => format!("{stage} · {}  ({})", report.title, report.path),
                None => report.path.clone(),
            };
            format!("{heading}\n\nNot graded: {why}\n")
        }
    };
    match isolation {
        "" => text,
        how if graded.unchanged => {
            format!("{text}\n(Graded in an earlier run; this run: {how}.)\n")
        }
        how => format!("{text}\n(Graded {how}.)\n"),
    }
}

/// results.json, with `status: error` and the reason for a pair not graded.
fn json(graded: &Graded) -> String {
    let mut value = report::json::value(&graded.report);
    if let Some(why) = &graded.error {
        value["status"] = "error".into();
        value["message"] = why.as_str().into();
    }
    serde_json::to_string_pretty(&value).expect("JSON values serialize") + "\n"
}

/// JUnit XML: a test suite per pair, named `SUBMISSION/STAGE`. A pair not graded shows
/// as an error case, its hints as skipped.
fn junit(results: &[Graded]) -> String {
    let suites: Vec<_> = results
        .iter()
        .map(|graded| {
            let mut report = graded.report.clone();
            report.stage = format!("{}/{}", graded.submission, graded.file_stem());
            if let Some(why) = &graded.error {
                report.build = Some(BuildOutcome {
                    ok: false,
                    summary: Some(format!("Not graded: {why}")),
                    errors: String::new(),
                    timed_out: false,
                });
            }
            report
        })
        .collect();
    report::junit::render(&suites)
}
