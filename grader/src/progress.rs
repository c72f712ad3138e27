//! The learner's progress: for each stage, how the last grading of their exercise went.
//!
//! `progress.txt` at the course root has one line per stage graded: the stage id, how
//! many of its hints passed out of all at the last grading, and `passed` once all did:
//!
//! ```text
//! 01-tcp-echo 5/5 passed
//! 02-tcp-chat 3/5
//! ```
//!
//! It is plain text, one line per stage in stage order, so it can be committed and merged
//! like any other file; `cargo grade` uses it to find the current stage without
//! re-grading every earlier one, and `cargo grade list` draws its bars from the counts.
//! A line holding only a stage id (all that older graders wrote) means that stage passed;
//! words this grader does not know are ignored, so a newer file still reads.
//! `GRADE_PROGRESS_FILE` points it elsewhere (the tests do).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::catalogue::{Catalogue, Stage};
use crate::course::Course;
use crate::outcome::{StageReport, Status};

const HEADER: &str = "\
# Your progress through the course, written by `cargo grade`. Safe to commit and merge.
# One line per stage graded: its id, the hints that passed out of all at the last
# grading of your exercise, and `passed` once every hint passes.
";

/// What is known about one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    /// Every hint passed at the last grading.
    pub passed: bool,
    /// Hints passed and hints in all at the last grading, when recorded.
    pub hints: Option<(usize, usize)>,
}

pub struct Progress {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
}

impl Progress {
    pub fn load(course: &Course) -> Result<Progress> {
        let path = std::env::var_os("GRADE_PROGRESS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| course.root.join("progress.txt"));
        let entries = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(e).with_context(|| format!("Failed to read {}", path.display())),
        };
        Ok(Progress { path, entries })
    }

    pub fn has_passed(&self, stage: &Stage) -> bool {
        self.entry(stage).is_some_and(|e| e.passed)
    }

    /// What the last grading of `stage` found, if it was ever graded.
    pub fn entry(&self, stage: &Stage) -> Option<Entry> {
        self.entries.get(&stage.id).copied()
    }

    /// The first stage not yet passed.
    pub fn current<'c>(&self, catalogue: &'c Catalogue) -> Option<&'c Stage> {
        catalogue.stages.iter().find(|s| !self.has_passed(s))
    }

    /// Records how the learner's exercise of `stage` did, writing the file only when
    /// something changed.
    pub fn record(&mut self, stage: &Stage, report: &StageReport) -> Result<()> {
        let entry = Entry {
            passed: report.passed(),
            hints: Some((report.count(Status::Pass), report.hints.len())),
        };
        if self.entries.insert(stage.id.clone(), entry) == Some(entry) {
            return Ok(());
        }
        self.save()
    }

    /// Forgets what is known about `stage` (its exercise was reset to the starter).
    /// Returns whether there was anything to forget.
    pub fn forget(&mut self, stage: &Stage) -> Result<bool> {
        if self.entries.remove(&stage.id).is_none() {
            return Ok(false);
        }
        self.save()?;
        Ok(true)
    }

    fn save(&self) -> Result<()> {
        std::fs::write(&self.path, render(&self.entries))
            .with_context(|| format!("Failed to write {}", self.path.display()))
    }
}

/// Reads the file's lines; comments, blank lines and unknown words are skipped.
fn parse(text: &str) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(id) = words.next() else { continue };
        let rest: Vec<&str> = words.collect();
        let mut entry = Entry {
            // A bare id is the older format, which listed only the passed stages.
            passed: rest.is_empty(),
            hints: None,
        };
        for word in rest {
            if word == "passed" {
                entry.passed = true;
            } else if let Some((passed, total)) = word.split_once('/')
                && let (Ok(passed), Ok(total)) = (passed.parse(), total.parse())
            {
                entry.hints = Some((passed, total));
            }
        }
        entries.insert(id.to_string(), entry);
    }
    entries
}

fn render(entries: &BTreeMap<String, Entry>) -> String {
    let mut text = HEADER.to_string();
    for (id, entry) in entries {
        text.push_str(id);
        if let Some((passed, total)) = entry.hints {
            text.push_str(&format!(" {passed}/{total}"));
        }
        if entry.passed {
            text.push_str(" passed");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_old_format_of_bare_ids_as_passed() {
        let old = "# Stages you have passed, written by `cargo grade`. Safe to commit.\n\
                   01-tcp-echo\n  02-tcp-chat  \n\n";
        let entries = parse(old);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries["02-tcp-chat"],
            Entry {
                passed: true,
                hints: None
            }
        );
    }

    #[test]
    fn reads_counts_and_ignores_words_it_does_not_know() {
        let entries = parse("01-tcp-echo 5/5 passed\n02-tcp-chat 3/5\n03-x 2/7 someday\n");
        assert_eq!(
            entries["01-tcp-echo"],
            Entry {
                passed: true,
                hints: Some((5, 5))
            }
        );
        assert_eq!(
            entries["02-tcp-chat"],
            Entry {
                passed: false,
                hints: Some((3, 5))
            }
        );
        assert!(!entries["03-x"].passed);
    }

    #[test]
    fn writes_what_it_reads() {
        let text = format!("{HEADER}01-tcp-echo 5/5 passed\n02-tcp-chat 3/5\n03-old passed\n");
        assert_eq!(render(&parse(&text)), text);
    }
}
