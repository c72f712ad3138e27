//! What to grade: the submissions of a class, and which stage crate of each.
//!
//! SUBMISSIONS is a folder whose subfolders are the submissions, or a text file listing
//! their folders (one per line, relative to the file, `#` starting a comment line). A
//! submission is named after its folder; two folders of the same name (from a list) get
//! `-2`, `-3`… in the order of their full paths, so names never depend on the file
//! system's listing order (see [`names`]). A submission is a copy of the course (its
//! stage crates in `exercises/`) or one stage crate on its own.

use std::path::{Path, PathBuf};

use super::names;
use crate::catalogue::Catalogue;
use crate::commands::UsageError;
use crate::course::Course;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub name: String,
    pub dir: PathBuf,
}

/// What to grade for one submission on one stage, or why there is nothing to grade.
#[derive(Debug, Clone)]
pub enum Target {
    /// The crate in `dir`, as stage number `stage` (an index into the catalogue).
    Crate { stage: usize, dir: PathBuf },
    Problem {
        stage: Option<usize>,
        reason: String,
    },
}

/// The submissions in `path`, sorted by name. `out` (the `--out` folder) is never one.
pub fn discover(path: &Path, out: &Path) -> Result<Vec<Submission>, UsageError> {
    let dirs = if path.is_dir() {
        from_folder(path, out)?
    } else if path.is_file() {
        from_list(path)?
    } else {
        return Err(UsageError(format!(
            "{} does not exist: give a folder whose subfolders are the submissions, or a text \
             file that lists their folders.",
            path.display()
        )));
    };
    Ok(names::name_all(dirs))
}

fn from_folder(path: &Path, out: &Path) -> Result<Vec<PathBuf>, UsageError> {
    if path.join("Cargo.toml").is_file() {
        return Err(UsageError(format!(
            "{} has a Cargo.toml, so it looks like one submission, not a class: give the folder \
             that holds the submissions (one subfolder each), or a file listing their folders.",
            path.display()
        )));
    }
    let unreadable = |e: std::io::Error| UsageError(format!("Cannot read {}: {e}", path.display()));
    let out = out.canonicalize().ok();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(path).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let dir = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if hidden || !dir.is_dir() || dir.canonicalize().ok() == out {
            continue;
        }
        dirs.push(dir.canonicalize().unwrap_or(dir));
    }
    if dirs.is_empty() {
        return Err(UsageError(format!(
            "{} has no subfolders: put each submission in a folder of its own there (a copy of \
             the course, or a stage crate).",
            path.display()
        )));
    }
    Ok(dirs)
}

fn from_list(file: &Path) -> Result<Vec<PathBuf>, UsageError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        UsageError(format!(
            "Cannot read {} as a list of submissions ({e}): write one folder per line.",
            file.display()
        ))
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut dirs: Vec<(PathBuf, usize)> = Vec::new();
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: String| UsageError(format!("{}, line {n}: {what}", file.display()));
        let dir = base.join(line);
        if !dir.exists() {
            return Err(at(format!(
                "`{line}` does not exist (paths are relative to the list's folder, {}).",
                base.display()
            )));
        }
        if !dir.is_dir() {
            return Err(at(format!(
                "`{line}` is a file, not a folder: list the folder of each submission."
            )));
        }
        let dir = dir.canonicalize().unwrap_or(dir);
        if let Some((_, first)) = dirs.iter().find(|(d, _)| *d == dir) {
            return Err(at(format!(
                "`{line}` is the same folder as line {first}: list each submission once."
            )));
        }
        dirs.push((dir, n));
    }
    if dirs.is_empty() {
        return Err(UsageError(format!(
            "{} lists no submissions: write one folder per line (`#` starts a comment).",
            file.display()
        )));
    }
    Ok(dirs.into_iter().map(|(d, _)| d).collect())
}

/// Each stage's starter package name (from `exercises/STAGE/Cargo.toml`), with its index.
pub fn starter_packages(course: &Course, catalogue: &Catalogue) -> Vec<(String, usize)> {
    catalogue
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, stage)| {
            let manifest = course.exercise_dir(stage).join("Cargo.toml");
            Some((package_name(&manifest).ok()?, i))
        })
        .collect()
}

/// What to grade of `sub`: the stage `selection` (an index), or with `None` every stage
/// it has.
pub fn targets(
    catalogue: &Catalogue,
    starters: &[(String, usize)],
    sub: &Submission,
    selection: Option<usize>,
) -> Vec<Target> {
    let exercises = sub.dir.join("exercises");
    let in_copy = |i: usize| exercises.join(&catalogue.stages[i].id);
    if exercises.is_dir() {
        let has = |i: usize| in_copy(i).join("Cargo.toml").is_file();
        return match selection {
            Some(i) if has(i) => vec![Target::Crate {
                stage: i,
                dir: in_copy(i),
            }],
            Some(i) => vec![Target::Problem {
                stage: Some(i),
                reason: format!(
                    "This copy of the course has no exercises/{}/Cargo.toml.",
                    catalogue.stages[i].id
                ),
            }],
            None => {
                let found: Vec<Target> = (0..catalogue.stages.len())
                    .filter(|&i| has(i))
                    .map(|i| Target::Crate {
                        stage: i,
                        dir: in_copy(i),
                    })
                    .collect();
                if found.is_empty() {
                    vec![Target::Problem {
                        stage: None,
                        reason: "This copy of the course has no stage crates in exercises/.".into(),
                    }]
                } else {
                    found
                }
            }
        };
    }
    let manifest = sub.dir.join("Cargo.toml");
    if !manifest.is_file() {
        return vec![Target::Problem {
            stage: selection,
            reason: "Neither a stage crate (no Cargo.toml) nor a copy of the course (no \
                     exercises/ folder)."
                .into(),
        }];
    }
    let stage = match selection {
        Some(i) => Ok(i),
        None => match package_name(&manifest) {
            Ok(name) => starters
                .iter()
                .find(|(starter, _)| *starter == name)
                .map(|(_, i)| *i)
                .ok_or_else(|| {
                    format!(
                        "its package `{name}` has the name of no stage's starter \
                         (exercises/*/Cargo.toml)"
                    )
                }),
            Err(why) => Err(why),
        },
    };
    match stage {
        Ok(stage) => vec![Target::Crate {
            stage,
            dir: sub.dir.clone(),
        }],
        Err(why) => vec![Target::Problem {
            stage: None,
            reason: format!(
                "Cannot tell which stage this crate is: {why}. Grade it with --stage ID."
            ),
        }],
    }
}

/// `package.name` of a manifest.
fn package_name(manifest: &Path) -> Result<String, String> {
    let text =
        std::fs::read_to_string(manifest).map_err(|e| format!("cannot read Cargo.toml ({e})"))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|_| "its Cargo.toml is not valid TOML".to_string())?;
    table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(String::from)
        .ok_or_else(|| "its Cargo.toml has no [package] name".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_files_are_relative_with_comments() {
        let dir = std::env::temp_dir().join(format!("grader-list-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["x/ada", "y/ada", "bob"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let list = dir.join("class.txt");
        std::fs::write(
            &list,
            "# the class\nx/ada\n\n  y/ada  \nbob # not a comment\n",
        )
        .unwrap();
        let err = discover(&list, &dir.join("grades")).unwrap_err();
        assert!(
            err.0
                .contains("line 5: `bob # not a comment` does not exist"),
            "{err}"
        );
        std::fs::write(&list, "# the class\nx/ada\n\n  y/ada  \nbob\n").unwrap();
        let names: Vec<String> = discover(&list, &dir.join("grades"))
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["ada", "ada-2", "bob"]);
        std::fs::write(&list, "bob\n./bob\n").unwrap();
        let err = discover(&list, &dir).unwrap_err();
        assert!(
            err.0
                .contains("line 2: `./bob` is the same folder as line 1"),
            "{err}"
        );
    }
}
