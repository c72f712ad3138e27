//! Copies of crates that live inside the course's workspace.
//!
//! `compile::prepare` builds a member of the workspace (`exercises/NN-…`, `solutions/NN-…`)
//! in place. A class run must never build a submission where it is, so such a crate is
//! first copied to `target/grader/class/<hash of its path>/crate/` and graded from
//! there like any other submission. A lock on that folder keeps two runs grading the same
//! crate from copying over each other.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::course::Course;
use crate::fsops::{copy_crate, fnv_hex, lock_file};

/// A private copy of a crate, locked for as long as it is held.
pub struct Staged {
    pub dir: PathBuf,
    _lock: File,
}

/// Copies `dir` (a member of the course's workspace) where it can be graded.
pub async fn stage(course: &Course, dir: &Path) -> Result<Staged> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("Cannot open {}", dir.display()))?;
    let home = course
        .target_dir()
        .join("grader/class")
        .join(fnv_hex(dir.to_string_lossy().as_bytes()));
    let copy = home.join("crate");
    let lock = lock_file(home.join("lock")).await?;
    tokio::task::spawn_blocking(move || {
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("Failed to clear {}", copy.display()))?;
        }
        copy_crate(&dir, &copy).with_context(|| format!("Failed to copy {}", dir.display()))?;
        Ok(Staged {
            dir: copy,
            _lock: lock,
        })
    })
    .await
    .context("The copy of a course crate was interrupted")?
}
