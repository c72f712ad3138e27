//! The learner's progress: which stages have passed, in a small text file.
//!
//! `progress.txt` at the course root lists one passed stage id per line. It is plain
//! text so it can be committed and merged like any other file, and `cargo grade` uses it
//! to find the current stage without re-grading every earlier one.
//! `GRADE_PROGRESS_FILE` points it elsewhere (the tests do).

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::catalogue::{Catalogue, Stage};
use crate::course::Course;

const HEADER: &str = "# Stages you have passed, written by `cargo grade`. Safe to commit.\n";

pub struct Progress {
    path: PathBuf,
    passed: BTreeSet<String>,
}

impl Progress {
    pub fn load(course: &Course) -> Result<Progress> {
        let path = std::env::var_os("GRADE_PROGRESS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| course.root.join("progress.txt"));
        let passed = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(e).with_context(|| format!("Failed to read {}", path.display())),
        };
        Ok(Progress { path, passed })
    }

    pub fn has_passed(&self, stage: &Stage) -> bool {
        self.passed.contains(&stage.id)
    }

    /// The first stage not yet passed.
    pub fn current<'c>(&self, catalogue: &'c Catalogue) -> Option<&'c Stage> {
        catalogue.stages.iter().find(|s| !self.has_passed(s))
    }

    /// Records whether `stage` passes, writing the file only when something changed.
    pub fn record(&mut self, stage: &Stage, passed: bool) -> Result<()> {
        let changed = if passed {
            self.passed.insert(stage.id.clone())
        } else {
            self.passed.remove(&stage.id)
        };
        if !changed {
            return Ok(());
        }
        let mut text = HEADER.to_string();
        for id in &self.passed {
            text.push_str(id);
            text.push('\n');
        }
        std::fs::write(&self.path, text)
            .with_context(|| format!("Failed to write {}", self.path.display()))
    }
}
