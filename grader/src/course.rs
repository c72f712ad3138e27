//! Where things live in the course workspace.
//!
//! One stage id names every folder of a stage, so the paths are computed here and
//! nowhere else. The course root is found the way cargo finds a workspace: walking up
//! from the current directory, so `cargo grade` works from any folder of the checkout.

use std::path::{Path, PathBuf};

use crate::catalogue::Stage;

/// The checkout of the course the grader works in.
#[derive(Debug, Clone)]
pub struct Course {
    pub root: PathBuf,
}

impl Course {
    /// The course around the current directory, else the one the grader was built in
    /// (`COURSE_ROOT` overrides both).
    pub fn discover() -> Option<Course> {
        if let Some(root) = std::env::var_os("COURSE_ROOT") {
            return Some(Course {
                root: PathBuf::from(root),
            });
        }
        let start = std::env::current_dir().ok();
        let from_cwd = start.as_deref().and_then(|dir| {
            dir.ancestors()
                .find(|d| is_course_root(d))
                .map(Path::to_path_buf)
        });
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf);
        from_cwd
            .or(built_in.filter(|d| is_course_root(d)))
            .map(|root| Course {
                root: root.canonicalize().unwrap_or(root),
            })
    }

    pub fn exercise_dir(&self, stage: &Stage) -> PathBuf {
        self.root.join("exercises").join(&stage.id)
    }

    pub fn solution_dir(&self, stage: &Stage) -> PathBuf {
        self.root.join("solutions").join(&stage.id)
    }

    pub fn fixtures_dir(&self, stage: &Stage) -> PathBuf {
        self.root.join("fixtures").join(&stage.id)
    }

    pub fn chapter_file(&self, stage: &Stage) -> PathBuf {
        self.root.join("book/src").join(format!("{}.md", stage.id))
    }

    /// The shared `target/` every build uses, so dependencies compile once.
    pub fn target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => self.root.join("target"),
        }
    }

    /// Whether `dir` is a member of this workspace, built in place rather than copied.
    pub fn is_member(&self, dir: &Path) -> bool {
        let Ok(dir) = dir.canonicalize() else {
            return false;
        };
        let parent = dir.parent().map(Path::to_path_buf);
        ["exercises", "solutions"]
            .iter()
            .any(|folder| parent.as_deref() == Some(&self.root.join(folder)))
            && dir.join("Cargo.toml").is_file()
    }

    /// A path shown to a learner: relative to the course root when inside it.
    pub fn display(&self, path: &Path) -> String {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }
}

fn is_course_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("grader/catalogue.toml").is_file()
}
