//! Child processes the grader starts (cargo builds, learners' servers), each in a
//! process group of its own.
//!
//! A learner's server may spawn children, ignore SIGTERM or hang; a build may run build
//! scripts. Putting each in its own group lets the grader kill everything it started
//! with one `killpg`, and a registry of live groups lets Ctrl-C (or SIGTERM sent to the
//! grader) clean up before exiting. Dropping a [`Group`] kills it, so an early return or
//! a panic cannot leave a process behind either.
//!
//! A child that needs a folder of its own (a Redis server's working directory) gets an
//! [`OwnedDir`], registered the same way: removed when dropped, and by [`kill_all`] on
//! Ctrl-C, after the processes that could still write into it are dead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

static LIVE_GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
static LIVE_DIRS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// A running process group, killed when dropped.
#[derive(Debug)]
pub struct Group {
    pgid: i32,
}

/// The cargo that runs us, so a learner's `cargo +toolchain grade` stays on that toolchain.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// Spawns `cmd` as the leader of a new process group and registers the group.
pub fn spawn(cmd: &mut tokio::process::Command) -> std::io::Result<(tokio::process::Child, Group)> {
    cmd.process_group(0).kill_on_drop(true);
    let child = cmd.spawn()?;
    let pgid = child.id().map(|id| id as i32).unwrap_or(0);
    LIVE_GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(pgid);
    Ok((child, Group { pgid }))
}

impl Group {
    pub fn signal(&self, signal: Signal) {
        if self.pgid > 0 {
            // ESRCH just means everyone in the group has already gone.
            let _ = killpg(Pid::from_raw(self.pgid), signal);
        }
    }

    pub fn pgid(&self) -> i32 {
        self.pgid
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
        LIVE_GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.pgid);
    }
}

/// Kills every group still registered, then removes every registered folder; for
/// Ctrl-C and fatal exits.
pub fn kill_all() {
    let groups = std::mem::take(&mut *LIVE_GROUPS.lock().unwrap_or_else(|e| e.into_inner()));
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    let dirs = std::mem::take(&mut *LIVE_DIRS.lock().unwrap_or_else(|e| e.into_inner()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A folder the grader made for a child process, removed when dropped or at
/// [`kill_all`].
#[derive(Debug)]
pub struct OwnedDir {
    path: PathBuf,
}

impl OwnedDir {
    /// Creates `path` (and its parents), empty, and registers it.
    pub fn create(path: PathBuf) -> std::io::Result<OwnedDir> {
        // A folder left by a grader that was killed outright (SIGKILL) may be in the way.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        LIVE_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.clone());
        Ok(OwnedDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for OwnedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        LIVE_DIRS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.path);
    }
}

/// Waits for Ctrl-C or SIGTERM, kills every child group, and exits with 130.
pub async fn exit_on_interrupt() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    kill_all();
    eprintln!("\nInterrupted: stopped everything the grader had started.");
    std::process::exit(130);
}
