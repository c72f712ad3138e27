//! `cargo grade reset STAGE`: put a stage's starter back, keeping the learner's version.
//!
//! The pristine starter comes from git, since the course is a git checkout and its history
//! holds every starter as the course wrote it. Which commit: `HEAD` will not do once the
//! learner has committed their own work, and the commit that first added the starter will
//! not either once the course has fixed it since. So the grader takes the newest commit
//! that changed `exercises/NN-…` *by the author of the commit that added it*: the course's
//! authors wrote both, the learner's own commits carry the learner's name. When that guess
//! is wrong (a course imported by the learner in one commit of their own, say), `--from
//! REV` names the revision to take it from; the confirmation shows which commit it is.
//!
//! Nothing is lost: the learner's folder is moved whole to `.backup/NN-…-<time>/` at the
//! course root first. Not under `exercises/`: the workspace's `exercises/*` glob would
//! take the backup for a member crate and break every cargo command.
//! Files are read out of git (`ls-tree`, `cat-file`) before anything on disk changes, and
//! the new folder is written beside the old one and swapped in by renames, so a failure
//! half-way leaves the learner's folder where it was.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

use crate::catalogue::Stage;
use crate::commands::{self, UsageError};
use crate::course::Course;
use crate::progress::Progress;

/// `cargo grade reset STAGE [--yes] [--from REV]`
pub fn run(query: &str, yes: bool, from: Option<&str>) -> Result<ExitCode> {
    let (course, catalogue) = commands::load()?;
    let stage = commands::find_stage(&catalogue, query)?;
    let git = Git::open(&course.root)?;
    let rel = git.relative(&course.exercise_dir(stage))?;
    let commit = match from {
        Some(rev) => git.resolve(rev)?,
        None => git.course_commit(&rel, stage)?,
    };
    let files = git.files(&commit, &rel)?;
    if files.is_empty() {
        return Err(UsageError(format!(
            "Commit {} has no files under {rel}: there is no starter of {} to restore from it.",
            short(&commit),
            stage.id
        ))
        .into());
    }
    let described = git.describe(&commit)?;
    let dir = course.exercise_dir(stage);
    let shown = course.display(&dir);
    if dir.exists() && matches_starter(&dir, &rel, &files)? {
        println!(
            "{shown} is already the starter from {described}: nothing to reset. Run `cargo grade check {:02}` to grade it.",
            stage.number()
        );
        return Ok(ExitCode::SUCCESS);
    }

    let backup = backup_dir(&course, stage);
    println!("This replaces {shown} with the starter from commit {described}.");
    if dir.exists() {
        println!(
            "Your version moves to {}/ first, so nothing is lost.",
            course.display(&backup)
        );
    }
    if !yes && !confirm()? {
        println!("Nothing changed.");
        return Ok(ExitCode::SUCCESS);
    }

    restore(&course, &dir, &backup, &rel, &files)?;
    let forgot = Progress::load(&course)?.forget(stage)?;
    println!("Restored {shown} to its starter.");
    if backup.exists() {
        let backup = course.display(&backup);
        println!("Your version is in {backup}/ (compare: diff -ru {backup} {shown}).");
    }
    if forgot {
        println!("Its last grading was dropped from your progress.");
    }
    println!("Next: `cargo grade check {:02}`.", stage.number());
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(NO_TERMINAL_ERR.into()).into());
    }
    print!("Reset? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("Failed to read the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// `.backup/NN-slug-YYYYMMDD-HHMMSS` at the course root (UTC), unused so far.
fn backup_dir(course: &Course, stage: &Stage) -> PathBuf {
    let base = course.root.join(".backup").join(format!(
        "{}-{}",
        stage.id,
        timestamp(std::time::SystemTime::now())
    ));
    let mut candidate = base.clone();
    let mut n = 2;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    candidate
}

/// Writes the starter beside the course, then swaps it in for the learner's folder.
fn restore(
    course: &Course,
    dir: &Path,
    backup: &Path,
    rel: &str,
    files: &[StarterFile],
) -> Result<()> {
    let parent = backup.parent().context("the backup folder has a parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("Failed to create {}", parent.display()))?;
    let incoming = parent.join(format!(
        ".incoming-{}",
        backup.file_name().unwrap_or_default().to_string_lossy()
    ));
    let _ = std::fs::remove_dir_all(&incoming);
    for file in files {
        let inner = file.path.strip_prefix(rel).unwrap_or(&file.path);
        let target = incoming.join(inner.trim_start_matches('/'));
        write_file(&target, file)
            .with_context(|| format!("Failed to write the starter's {}", file.path))?;
    }
    if dir.exists() {
        std::fs::rename(dir, backup).with_context(|| {
            format!(
                "Failed to move {} to {}",
                course.display(dir),
                backup.display()
            )
        })?;
    }
    if let Err(e) = std::fs::rename(&incoming, dir) {
        // Put the learner's version back where it was before reporting.
        if backup.exists() {
            let _ = std::fs::rename(backup, dir);
        }
        return Err(e)
            .with_context(|| format!("Failed to move the starter into {}", dir.display()));
    }
    Ok(())
}

fn write_file(target: &Path, file: &StarterFile) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match file.mode.as_str() {
        "120000" => {
            let link = String::from_utf8_lossy(&file.contents).into_owned();
            std::os::unix::fs::symlink(link, target)?;
        }
        mode => {
            std::fs::write(target, &file.contents)?;
            if mode == "100755" {
                std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o755))?;
            }
        }
    }
    Ok(())
}

/// Whether `dir` holds exactly the starter's files (ignoring a `target/`).
fn matches_starter(dir: &Path, rel: &str, files: &[StarterFile]) -> Result<bool> {
    let mut on_disk = Vec::new();
    list_files(dir, dir, &mut on_disk)?;
    if on_disk.len() != files.len() {
        return Ok(false);
    }
    for file in files {
        let inner = file.path.strip_prefix(rel).unwrap_or(&file.path);
        match std::fs::read(dir.join(inner.trim_start_matches('/'))) {
            Ok(contents) if contents == file.contents => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("Failed to read {}", dir.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            if entry.file_name() != "target" {
                list_files(root, &path, out)?;
            }
        } else {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// One file of the starter, read out of git.
struct StarterFile {
    /// Relative to the repository's top level, with `/`.
    path: String,
    /// git's mode: `100644`, `100755` or `120000` (a symlink).
    mode: String,
    contents: Vec<u8>,
}

/// The course's git repository, asked through the `git` command.
struct Git {
    toplevel: PathBuf,
}

impl Git {
    fn open(root: &Path) -> Result<Git> {
        let out = match Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["rev-parse", "--show-toplevel"])
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(UsageError(NO_GIT_ERR.into()).into());
            }
            Err(e) => return Err(e).context("Failed to run git"),
        };
        if !out.status.success() {
            return Err(UsageError(format!(
                "{} is not a git checkout ({}). {NO_HISTORY_ERR}",
                root.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .into());
        }
        let toplevel = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        Ok(Git {
            toplevel: toplevel.canonicalize().unwrap_or(toplevel),
        })
    }

    /// Runs git in the repository and returns its output; git's own message on failure.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.toplevel)
            .args(args)
            .output()
            .with_context(|| format!("Failed to run git {}", args.join(" ")))?;
        if !out.status.success() {
            bail!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }

    fn text(&self, args: &[&str]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.run(args)?).into_owned())
    }

    /// `path` relative to the repository's top level, with `/` (the stage folder itself
    /// may be gone, so its parent is resolved).
    fn relative(&self, path: &Path) -> Result<String> {
        let parent = path.parent().context("an exercise folder has a parent")?;
        let parent = parent
            .canonicalize()
            .unwrap_or_else(|_| parent.to_path_buf());
        let full = parent.join(path.file_name().unwrap_or_default());
        let rel = full.strip_prefix(&self.toplevel).with_context(|| {
            format!(
                "{} is outside the git checkout at {}",
                full.display(),
                self.toplevel.display()
            )
        })?;
        Ok(rel.to_string_lossy().replace('\\', "/"))
    }

    fn resolve(&self, rev: &str) -> Result<String> {
        let spec = format!("{rev}^{{commit}}");
        match self.text(&["rev-parse", "--verify", "--quiet", &spec]) {
            Ok(hash) if !hash.trim().is_empty() => Ok(hash.trim().to_string()),
            _ => Err(UsageError(format!(
                "`{rev}` is not a commit of this repository. Give a commit, tag or branch \
                 (`git log --oneline -- exercises/` lists the commits that changed starters)."
            ))
            .into()),
        }
    }

    /// The newest commit that changed `rel`, made by the author of the commit that added
    /// its `Cargo.toml` (see the module's documentation).
    fn course_commit(&self, rel: &str, stage: &Stage) -> Result<String> {
        let manifest = format!("{rel}/Cargo.toml");
        let added = self.text(&["log", "--diff-filter=A", "--format=%H %ae", "--", &manifest])?;
        let Some((_, author)) = added.lines().last().and_then(|l| l.split_once(' ')) else {
            return Err(UsageError(format!(
                "{rel} is not in this checkout's git history (no commit added {manifest}), so \
                 there is no starter of {} to restore. {NO_HISTORY_ERR}",
                stage.id
            ))
            .into());
        };
        let changes = self.text(&["log", "--format=%H %ae", "--", rel])?;
        changes
            .lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(_, email)| *email == author)
            .map(|(hash, _)| hash.to_string())
            .context("git log lists no commit of the starter's author")
    }

    /// `abc1234 (2026-05-01, "subject")`
    fn describe(&self, commit: &str) -> Result<String> {
        let line = self.text(&["show", "-s", "--format=%h (%cs, \"%s\")", commit])?;
        Ok(line.trim().to_string())
    }

    /// Every file under `rel` at `commit`, with its contents.
    fn files(&self, commit: &str, rel: &str) -> Result<Vec<StarterFile>> {
        let dir = format!("{rel}/");
        let listing = self.run(&["ls-tree", "-r", "-z", commit, "--", &dir])?;
        let mut files = Vec::new();
        for record in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            let record = String::from_utf8_lossy(record);
            // `<mode> <type> <object>\t<path>`
            let Some((meta, path)) = record.split_once('\t') else {
                continue;
            };
            let fields: Vec<&str> = meta.split(' ').collect();
            let [mode, "blob", object] = fields[..] else {
                continue; // submodules have nothing to restore
            };
            let contents = self.run(&["cat-file", "blob", object])?;
            files.push(StarterFile {
                path: path.to_string(),
                mode: mode.to_string(),
                contents,
            });
        }
        Ok(files)
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn timestamp(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

const NO_TERMINAL_ERR: &str = "`cargo grade reset` asks before it replaces your work, and there \
     is no terminal to ask on. Run it again with `--yes` to reset without asking; your version \
     is still kept in .backup/.";

const NO_GIT_ERR: &str = "`cargo grade reset` takes the starter from the course's git history, \
     and there is no `git` command here. Install git, or copy the starter by hand from a fresh \
     clone of the course.";

const NO_HISTORY_ERR: &str = "`cargo grade reset` takes the starter from the course's git \
     history: run it in a clone of the course (not a copy without `.git`), or copy the starter \
     by hand from a fresh clone.";

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_are_utc_and_sortable() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101-000000");
        // 2024-02-29 23:59:58 UTC, a leap day.
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_198);
        assert_eq!(timestamp(t), "20240229-235958");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        assert_eq!(timestamp(t), "20260101-000000");
    }
}
