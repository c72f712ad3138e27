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

use super::cache::fnv_hex;
use crate::course::Course;

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
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&home)
            .with_context(|| format!("Failed to create {}", home.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(home.join("lock"))
            .and_then(|file| file.lock().map(|()| file))
            .context("Failed to lock the copy of a course crate")?;
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("Failed to clear {}", copy.display()))?;
        }
        copy_tree(&dir, &copy).with_context(|| format!("Failed to copy {}", dir.display()))?;
        Ok(Staged {
            dir: copy,
            _lock: lock,
        })
    })
    .await
    .context("The copy of a course crate was interrupted")?
}

/// Copies a crate's files, leaving out `target/`, hidden folders and symlinks.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                copy_tree(&entry.path(), &to.join(&name))?;
            }
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}
