//! Shared helpers for the integration tests: run the real grader binary in a clean
//! environment, bounded in time, and find any process it left behind.

#![allow(dead_code)] // Each test file uses its own subset.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .canonicalize()
        .unwrap()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The tag every process of this run carries in its environment.
    pub tag: String,
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "unexpected exit code\n{}", self.dump());
        self
    }

    pub fn dump(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// A grader command with a clean environment: no colour, no CI, progress kept in
/// `progress` (a file that need not exist).
pub fn grader_cmd(args: &[&str], progress: &Path) -> (Command, String) {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let tag = format!(
        "{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grader"));
    cmd.args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env("COURSE_ROOT", root())
        .env("GRADE_PROGRESS_FILE", progress)
        .env("GRADER_TEST_TAG", &tag)
        .env_remove("CI")
        .env_remove("RUST_LOG")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    (cmd, tag)
}

/// Runs the grader and waits at most `limit`; a grader that outlives it fails the test.
pub fn grader_in(args: &[&str], progress: &Path, limit: Duration) -> Run {
    grader_with_env(args, progress, &[], limit)
}

/// Like [`grader_in`], with extra environment variables (they win over the defaults).
pub fn grader_with_env(
    args: &[&str],
    progress: &Path,
    env: &[(&str, &Path)],
    limit: Duration,
) -> Run {
    let (mut cmd, tag) = grader_cmd(args, progress);
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("the grader binary starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the grader ran longer than {limit:?} for {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        tag,
    }
}

/// Runs the grader with progress in a fresh temporary file and a 5-minute limit (the
/// first build of a cold workspace compiles tokio).
pub fn grader(args: &[&str]) -> Run {
    let progress = temp_dir("progress").join("progress.txt");
    grader_in(args, &progress, Duration::from_secs(300))
}

/// A fresh empty folder under the shared target directory.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let dir = root().join("target/test-tmp").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Processes still alive whose environment carries `tag`.
pub fn leftover_processes(tag: &str) -> Vec<String> {
    let needle = format!("GRADER_TEST_TAG={tag}\0");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(env) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if env.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            let cmd = std::fs::read_to_string(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{name}: {}", cmd.replace('\0', " ")));
        }
    }
    found
}

/// Asserts no process of this run is left; waits briefly for exits already under way.
#[track_caller]
pub fn assert_no_leftovers(run: &Run) {
    let started = Instant::now();
    loop {
        let left = leftover_processes(&run.tag);
        if left.is_empty() {
            return;
        }
        if started.elapsed() > Duration::from_secs(2) {
            panic!("processes left behind: {left:?}\n{}", run.dump());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub mod course;
pub mod node;
