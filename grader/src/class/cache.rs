//! Skipping what did not change: a content hash per (submission, stage).
//!
//! The hash covers everything that decides a grading: the stage crate's files (sorted
//! relative paths and contents; `target/`, hidden folders and symlinks left out), the
//! stage's catalogue entry, the course's `Cargo.toml` and `Cargo.lock` (the dependency
//! versions a copy builds with), and the grader itself: its version and a hash of its
//! binary, so a rebuilt grader grades everything again.
//!
//! The hash is FNV-1a, 64 bits, as for the scratch folders: it tells versions of a crate
//! apart, it is no defence against a submission made to collide on purpose. Entries are
//! per submission, so a collision could only bring back that learner's own earlier result.
//!
//! `OUT/.cache/SUBMISSION/STAGE.json` holds a pair's whole result (a [`Graded`]): a run
//! reuses it when the hash matches and it is not an error; `merge` reads it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Graded;
use crate::catalogue::Stage;
use crate::course::Course;
use crate::fsops::{Fnv, fnv_hex, skipped_dir};
use crate::outcome::StageReport;

/// The grader's version and a hash of the running binary, computed once per run.
pub async fn grader_build() -> String {
    let exe = tokio::task::spawn_blocking(|| {
        let bytes = std::fs::read(std::env::current_exe()?)?;
        Ok::<_, std::io::Error>(fnv_hex(&bytes))
    })
    .await;
    let exe = match exe {
        Ok(Ok(hex)) => hex,
        // Without its binary, the version alone has to do.
        _ => "unknown".to_string(),
    };
    format!("{} {exe}", env!("CARGO_PKG_VERSION"))
}

/// A fingerprint of a stage's catalogue entry (its hints, checks, points and texts).
///
/// It hashes the entry's `Debug` text, which shows every field. Another build of the
/// grader might print it differently; that only makes its first run grade everything.
pub fn stage_fingerprint(stage: &Stage) -> String {
    let mut hash = Fnv::default();
    hash.field(format!("{stage:?}").as_bytes());
    hash.hex()
}

/// The hash of everything that decides how `crate_dir` grades as `stage`.
pub fn content_hash(
    course: &Course,
    stage: &Stage,
    crate_dir: &Path,
    grader_build: &str,
) -> std::io::Result<String> {
    let mut hash = Fnv::default();
    hash.field(grader_build.as_bytes());
    hash.field(stage_fingerprint(stage).as_bytes());
    for shared in ["Cargo.toml", "Cargo.lock"] {
        hash.field(&std::fs::read(course.root.join(shared)).unwrap_or_default());
    }
    let mut files = Vec::new();
    list_files(crate_dir, "", &mut files)?;
    files.sort();
    for (rel, path) in files {
        hash.field(rel.as_bytes());
        hash.field(&std::fs::read(&path)?);
    }
    Ok(hash.hex())
}

/// Every file under `dir` as (relative path with `/`, full path), leaving out what
/// [`copy_crate`](crate::fsops::copy_crate) leaves out: what is hashed is what is built.
fn list_files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if !skipped_dir(&name) {
                list_files(&entry.path(), &format!("{path}/"), out)?;
            }
        } else if kind.is_file() {
            out.push((path, entry.path()));
        }
    }
    Ok(())
}

/// `OUT/.cache/SUBMISSION/STEM.json`
pub fn entry_path(out: &Path, submission: &str, stem: &str) -> PathBuf {
    out.join(".cache")
        .join(submission)
        .join(format!("{stem}.json"))
}

/// The stored report of a pair, if it was graded (not an error) from sources that hash
/// to `hash`.
pub fn reusable(out: &Path, submission: &str, stage_id: &str, hash: &str) -> Option<StageReport> {
    let graded = read(out, submission, stage_id).ok()?;
    (graded.hash.as_deref() == Some(hash) && graded.error.is_none()).then_some(graded.report)
}

/// The stored result of a pair.
pub fn read(out: &Path, submission: &str, stem: &str) -> Result<Graded> {
    let path = entry_path(out, submission, stem);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a stored result", path.display()))
}

/// Stores a pair's result, whole or not at all (written aside, then renamed).
pub fn store(out: &Path, graded: &Graded) -> Result<()> {
    let path = entry_path(out, &graded.submission, graded.file_stem());
    let dir = path.parent().expect("entries are in a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let aside = path.with_extension("json.partial");
    let text = serde_json::to_string_pretty(graded).expect("results serialize");
    std::fs::write(&aside, text).with_context(|| format!("Failed to write {}", aside.display()))?;
    std::fs::rename(&aside, &path).with_context(|| format!("Failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, EMBEDDED};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("grader-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        dir
    }

    #[test]
    fn hash_follows_contents_not_build_output() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        let stage = &catalogue.stages[0];
        let course = Course {
            root: temp("course"),
        };
        let dir = temp("crate");
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        std::fs::write(dir.join("src/main.rs"), "fn main() {}\n").unwrap();
        let hash = || content_hash(&course, stage, &dir, "v1").unwrap();
        let first = hash();
        std::fs::create_dir_all(dir.join("target/debug")).unwrap();
        std::fs::write(dir.join("target/debug/x"), "binary").unwrap();
        std::fs::create_dir_all(dir.join(".git")).unwrap();
        std::fs::write(dir.join(".git/HEAD"), "ref").unwrap();
        assert_eq!(
            hash(),
            first,
            "build output and hidden folders do not count"
        );
        std::fs::write(dir.join("src/main.rs"), "fn main() { }\n").unwrap();
        assert_ne!(hash(), first, "a changed source counts");
        let changed = hash();
        assert_ne!(content_hash(&course, stage, &dir, "v2").unwrap(), changed);
        assert_ne!(
            content_hash(&course, &catalogue.stages[1], &dir, "v1").unwrap(),
            changed
        );
    }

    #[test]
    fn stored_results_read_back() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        let stage = &catalogue.stages[0];
        let mut report = StageReport::new(stage, "somewhere".into());
        report.hints = stage
            .hints
            .iter()
            .map(|h| crate::outcome::HintOutcome::fail(h, "no"))
            .collect();
        let graded = Graded {
            submission: "ada".into(),
            hash: Some("0123".into()),
            error: None,
            report,
            unchanged: false,
        };
        let out = temp("out");
        store(&out, &graded).unwrap();
        let back = read(&out, "ada", &stage.id).unwrap();
        assert_eq!(back.report.hints.len(), stage.hints.len());
        assert_eq!(back.report.hints[0].kind, graded.report.hints[0].kind);
        assert!(reusable(&out, "ada", &stage.id, "0123").is_some());
        assert!(reusable(&out, "ada", &stage.id, "4567").is_none());
    }
}
