//! A course of the tests' own: a temporary copy of the workspace with a few stages, so
//! tests can edit, reset and commit exercises without touching the real ones. It shares
//! the real course's `target/` (and so its compiled dependencies), so a copy's first
//! build compiles only the stage crates themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{root, temp_dir};

pub struct TempCourse {
    pub root: PathBuf,
    target: PathBuf,
}

/// A course under `target/test-tmp/` whose only members are copies of the starters of
/// `stages` (by id), next to copies of their solutions and the real catalogue.
pub fn temp_course(name: &str, stages: &[&str]) -> TempCourse {
    let real = root();
    let dir = temp_dir(name);
    let manifest = std::fs::read_to_string(real.join("Cargo.toml")).unwrap();
    let chat_page = format!("path = \"{}\"", real.join("chat-page").display());
    let manifest: String = manifest
        .lines()
        .map(|line| {
            if line.starts_with("members = ") {
                "members = [\"exercises/*\"]".to_string()
            } else {
                // The shared chat page stays where it is.
                line.replace("path = \"chat-page\"", &chat_page)
            }
        })
        .map(|line| line + "\n")
        .collect();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(real.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::create_dir_all(dir.join("grader")).unwrap();
    std::fs::copy(
        real.join("grader/catalogue.toml"),
        dir.join("grader/catalogue.toml"),
    )
    .unwrap();
    for id in stages {
        copy_dir(
            &real.join("exercises").join(id),
            &dir.join("exercises").join(id),
        );
        copy_dir(
            &real.join("solutions").join(id),
            &dir.join("solutions").join(id),
        );
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| real.join("target"));
    TempCourse { root: dir, target }
}

impl TempCourse {
    pub fn exercise(&self, id: &str) -> PathBuf {
        self.root.join("exercises").join(id)
    }

    /// Environment for the grader: this course, the real course's `target/`, and git kept
    /// from finding the real course's repository around this one.
    pub fn env(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("COURSE_ROOT", &self.root),
            ("CARGO_TARGET_DIR", &self.target),
            ("GIT_CEILING_DIRECTORIES", self.root.parent().unwrap()),
        ]
    }

    /// Replaces the exercise `id` with a copy of `from` (a solution, a fixture).
    pub fn replace_exercise(&self, id: &str, from: &Path) {
        let dir = self.exercise(id);
        std::fs::remove_dir_all(&dir).unwrap();
        copy_dir(from, &dir);
        let _ = std::fs::remove_file(dir.join("fixture.toml"));
        let _ = std::fs::remove_file(dir.join("report.snap"));
    }

    /// Runs git in the course as `author` ("Name <email>"); panics when git fails.
    pub fn git(&self, author: &str, args: &[&str]) -> String {
        let (name, email) = author.split_once(" <").unwrap();
        let email = email.trim_end_matches('>');
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["-c", &format!("user.name={name}")])
            .args(["-c", &format!("user.email={email}")])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .env("GIT_CEILING_DIRECTORIES", self.root.parent().unwrap())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Makes the course a git checkout whose one commit, by `author`, holds everything.
    pub fn commit_everything(&self, author: &str, message: &str) {
        self.git(author, &["init", "--quiet"]);
        self.git(author, &["add", "."]);
        self.git(author, &["commit", "--quiet", "-m", message]);
    }

    /// The course's progress file (`GRADE_PROGRESS_FILE` of its runs).
    pub fn progress_file(&self) -> PathBuf {
        self.root.join("progress.txt")
    }

    /// Runs the grader on this course with `args`, within a minute.
    pub fn grade(&self, args: &[&str]) -> super::Run {
        super::grader_with_env(
            args,
            &self.progress_file(),
            &self.env(),
            std::time::Duration::from_secs(60),
        )
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &target);
            }
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
