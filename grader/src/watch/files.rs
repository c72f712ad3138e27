//! Saves in the course's exercises, for `watch`, as debounced events.
//!
//! notify reports every file-system event under `exercises/`. One save is several of them
//! (truncate, write, close; or an editor's write-to-a-temporary-file-and-rename), so a
//! thread collects them until they go quiet for [`QUIET`] and then sends the changed paths
//! as one [`Event::Changed`]. Events that change nothing are dropped here: opening and
//! reading files is an event too, and cargo and the grader's own checks read the sources,
//! so counting reads would make every grading trigger the next. Editors' swap and backup
//! files and build output are dropped as well.
//!
//! The whole `exercises/` folder is watched, not one stage's, so moving on to the next
//! stage needs no new watcher; the loop keeps the paths inside the stage it grades.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::Event;

/// How long events must pause before a save counts as finished.
const QUIET: Duration = Duration::from_millis(100);
/// The longest a stream of events is held back.
const MAX_HOLD: Duration = Duration::from_secs(1);

/// Watches `dir` recursively until the returned watcher is dropped.
pub fn watch(dir: &Path, events: UnboundedSender<Event>) -> Result<RecommendedWatcher> {
    let (raw_tx, raw_rx) = std::sync::mpsc::channel();
    let mut watcher = notify::recommended_watcher(raw_tx)
        .context("Failed to start watching files for changes")?;
    watcher
        .watch(dir, RecursiveMode::Recursive)
        .with_context(|| format!("Failed to watch {} for changes", dir.display()))?;
    std::thread::Builder::new()
        .name("watch-files".into())
        .spawn({
            let dir = dir.to_path_buf();
            move || debounce(&dir, &raw_rx, &events)
        })
        .context("Failed to start the file-watching thread")?;
    Ok(watcher)
}

fn debounce(
    dir: &Path,
    raw: &Receiver<notify::Result<notify::Event>>,
    events: &UnboundedSender<Event>,
) {
    let mut changed = BTreeSet::new();
    loop {
        // Wait for the first change; reads and ignored files do not start a batch.
        while changed.is_empty() {
            match raw.recv() {
                Ok(event) => collect(dir, event, &mut changed, events),
                Err(_) => return, // the watcher was dropped
            }
        }
        let started = Instant::now();
        while started.elapsed() < MAX_HOLD {
            match raw.recv_timeout(QUIET) {
                Ok(event) => collect(dir, event, &mut changed, events),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let paths = std::mem::take(&mut changed).into_iter().collect();
        if events.send(Event::Changed(paths)).is_err() {
            return; // the loop has ended
        }
    }
}

fn collect(
    dir: &Path,
    event: notify::Result<notify::Event>,
    changed: &mut BTreeSet<PathBuf>,
    events: &UnboundedSender<Event>,
) {
    match event {
        Ok(event) if is_change(&event.kind) => {
            changed.extend(event.paths.into_iter().filter(|p| is_source(dir, p)));
        }
        Ok(_) => {}
        Err(e) => {
            let _ = events.send(Event::WatchFailed(e.to_string()));
        }
    }
}

/// Whether an event changed something (rather than opened, read or closed a file).
fn is_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    )
}

/// Whether a path under the watched `dir` is part of a crate's sources: not build output,
/// version control, or an editor's swap, lock or backup file.
fn is_source(dir: &Path, path: &Path) -> bool {
    let inside = path.strip_prefix(dir).unwrap_or(path);
    let in_ignored_dir = inside.components().any(|c| {
        matches!(c, Component::Normal(name) if name == "target" || name == ".git" || name == ".backup")
    });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let editor_file = name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name.contains("___jb_")
        || name == "4913"; // vim's probe for whether it may write in a folder
    !in_ignored_dir && !editor_file
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind};

    #[test]
    fn reads_are_not_changes() {
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(is_change(&EventKind::Modify(ModifyKind::Data(
            DataChange::Any
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
    }

    #[test]
    fn editor_files_and_build_output_are_not_sources() {
        // The course itself may sit in a folder named `target` (the tests' copies do).
        let watched = Path::new("/home/me/target/course/exercises");
        let dir = watched.join("01-tcp-echo");
        let is_source = |p: &Path| super::is_source(watched, p);
        assert!(is_source(&dir.join("src/main.rs")));
        assert!(is_source(&dir.join("Cargo.toml")));
        assert!(!is_source(&dir.join("src/.main.rs.swp")));
        assert!(!is_source(&dir.join("src/main.rs~")));
        assert!(!is_source(&dir.join("src/4913")));
        assert!(!is_source(&dir.join("target/debug/foo")));
        assert!(!is_source(&dir.join("src/main.rs___jb_tmp___")));
    }
}
