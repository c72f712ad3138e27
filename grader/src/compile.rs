//! Building a stage crate, in place or in a scratch workspace.
//!
//! A crate that is a member of the course workspace (`exercises/NN-…`, `solutions/NN-…`)
//! is built where it is. Anything else (a fixture, another learner's checkout, a crate
//! passed with `--path`) is copied into a scratch workspace under
//! `target/grader/scratch/`, next to a generated `Cargo.toml` that carries the course's
//! `[workspace.*]` tables and profiles and a copy of its `Cargo.lock`. The original is
//! never written, and since the dependency versions, features and profiles are the
//! course's own, the shared `target/` already holds every compiled dependency: grading
//! a copy compiles only the copy.
//!
//! Builds of different crates share `target/debug/<binary>`, so the build and the copy
//! of its binary into the scratch folder happen under one lock; the server then runs
//! from that private copy, which no other build can overwrite.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::course::Course;
use crate::fsops::{copy_crate, fnv_hex, lock_file};
use crate::outcome::BuildOutcome;
use crate::process::{self, cargo};

/// The longest a build may take; a cold build of the later stages takes a few minutes.
/// `GRADER_BUILD_TIMEOUT` (seconds) sets another: `cargo grade class --build-timeout`
/// passes a shorter one to the gradings it runs in a sandbox.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn build_timeout() -> Duration {
    std::env::var("GRADER_BUILD_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(BUILD_TIMEOUT, Duration::from_secs)
}

/// `90 s`, `20 min`: a time limit as people say it.
pub fn say_duration(limit: Duration) -> String {
    match limit.as_secs() {
        s if s % 60 == 0 && s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
/// Compiler errors shown, and lines per error.
const SHOW_ERRORS: usize = 3;
const ERROR_LINES: usize = 30;

/// A crate ready to be checked and built, holding its scratch folder's lock.
pub struct Prepared {
    /// Where the crate is built (the original for members, the copy otherwise).
    pub crate_dir: PathBuf,
    pub manifest: PathBuf,
    /// The manifest cargo is pointed at: the course's or the scratch workspace's.
    workspace_manifest: PathBuf,
    /// This grading's private folder (binary copy, scratch workspace).
    scratch: PathBuf,
    target_dir: PathBuf,
    _lock: File,
}

/// Puts `dir` where it can be built, taking the lock of its scratch folder.
pub async fn prepare(course: &Course, dir: &Path, stage_id: &str) -> Result<Prepared> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("Cannot open {}", dir.display()))?;
    let target_dir = course.target_dir();
    let hash = fnv_hex(dir.to_string_lossy().as_bytes());
    let scratch = target_dir
        .join("grader/scratch")
        .join(format!("{stage_id}-{hash}"));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("Failed to create the scratch folder {}", scratch.display()))?;
    let lock = lock_file(scratch.join("lock")).await?;

    if course.is_member(&dir) {
        return Ok(Prepared {
            manifest: dir.join("Cargo.toml"),
            crate_dir: dir,
            workspace_manifest: course.root.join("Cargo.toml"),
            scratch,
            target_dir,
            _lock: lock,
        });
    }
    // Cargo names a path package's artifacts after its path *relative to the workspace
    // root*: a member folder named the same in every scratch workspace would make all
    // copies share (and overwrite) one set of artifacts. The hash keeps them apart.
    let member = format!("submission-{hash}");
    let workspace = scratch.join("ws");
    let copy = workspace.join(&member);
    if copy.exists() {
        std::fs::remove_dir_all(&copy)
            .with_context(|| format!("Failed to clear the old copy {}", copy.display()))?;
    }
    copy_crate(&dir, &copy).with_context(|| format!("Failed to copy {}", dir.display()))?;
    std::fs::write(
        workspace.join("Cargo.toml"),
        scratch_workspace_manifest(course, &member)?,
    )
    .context("Failed to write the scratch workspace's Cargo.toml")?;
    let lockfile = course.root.join("Cargo.lock");
    if lockfile.is_file() {
        std::fs::copy(&lockfile, workspace.join("Cargo.lock"))
            .context("Failed to copy Cargo.lock")?;
    }
    Ok(Prepared {
        manifest: copy.join("Cargo.toml"),
        crate_dir: copy,
        workspace_manifest: workspace.join("Cargo.toml"),
        scratch,
        target_dir,
        _lock: lock,
    })
}

/// The scratch workspace: the course's shared tables, with the copy as its only member.
fn scratch_workspace_manifest(course: &Course, member: &str) -> Result<String> {
    let path = course.root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    let root: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let mut workspace = toml::Table::new();
    workspace.insert("resolver".into(), "3".into());
    workspace.insert("members".into(), toml::Value::Array(vec![member.into()]));
    if let Some(toml::Value::Table(course_ws)) = root.get("workspace") {
        for key in ["package", "dependencies", "lints"] {
            if let Some(value) = course_ws.get(key) {
                workspace.insert(key.into(), value.clone());
            }
        }
    }
    // Path dependencies (the shared `chat-page` crate) are written relative to the course
    // root; the scratch workspace lives elsewhere, so point them at the course's copy.
    if let Some(toml::Value::Table(deps)) = workspace.get_mut("dependencies") {
        for (_, dep) in deps.iter_mut() {
            if let toml::Value::Table(dep) = dep
                && let Some(toml::Value::String(rel)) = dep.get("path")
            {
                let abs = course.root.join(rel).to_string_lossy().into_owned();
                dep.insert("path".into(), abs.into());
            }
        }
    }
    let mut manifest = toml::Table::new();
    manifest.insert("workspace".into(), toml::Value::Table(workspace));
    if let Some(profile) = root.get("profile") {
        manifest.insert("profile".into(), profile.clone());
    }
    Ok(format!(
        "# Generated by the grader: a scratch workspace around a copy of a submission.\n{}",
        toml::to_string(&manifest)?
    ))
}

/// The binary to build: the manifest's `default-run`, its only binary, or the one
/// named like the package.
pub fn choose_bin(
    package: &str,
    bins: &[String],
    default_run: Option<&str>,
) -> Result<String, String> {
    if let Some(bin) = default_run {
        return Ok(bin.to_string());
    }
    match bins {
        [] => Err("The crate has no binary: a server needs `src/main.rs`.".into()),
        [only] => Ok(only.clone()),
        _ => bins.iter().find(|b| *b == package).cloned().ok_or_else(|| {
            format!(
                "The crate has several binaries ({}): set `default-run` in Cargo.toml to the server.",
                bins.join(", ")
            )
        }),
    }
}

/// A built server binary, copied where no other build can replace it.
pub struct Built {
    pub exe: PathBuf,
}

#[derive(Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum CargoMessage {
    CompilerArtifact {
        executable: Option<PathBuf>,
        target: ArtifactTarget,
    },
    CompilerMessage {
        message: Diagnostic,
    },
    BuildFinished {
        success: bool,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ArtifactTarget {
    name: String,
}

#[derive(Deserialize)]
struct Diagnostic {
    level: String,
    rendered: Option<String>,
}

/// Builds `bin` of `package`, optimised when `release` (`cargo grade bench` measures
/// release builds). `progress` receives cargo's status lines as they come.
pub async fn build(
    prepared: &Prepared,
    package: &str,
    bin: &str,
    release: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(BuildOutcome, Option<Built>)> {
    let build_lock = lock_file(prepared.target_dir.join("grader/build.lock")).await?;
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.args([
        "build",
        "--message-format",
        "json",
        "--color",
        "never",
        "--package",
        package,
        "--bin",
        bin,
    ])
    .args(release.then_some("--release"))
    .arg("--manifest-path")
    .arg(&prepared.workspace_manifest)
    .env("CARGO_TARGET_DIR", &prepared.target_dir)
    .env("CARGO_TERM_PROGRESS_WHEN", "never")
    .current_dir(
        prepared
            .workspace_manifest
            .parent()
            .unwrap_or(Path::new(".")),
    )
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let (mut child, _group) = process::spawn(&mut cmd).context("Failed to run cargo build")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let stderr = child.stderr.take().context("cargo's stderr")?;

    let read_all = async {
        let mut errors = Vec::new();
        let mut executable = None;
        let mut finished = None;
        let mut lines = BufReader::new(stdout).lines();
        let mut err_lines = BufReader::new(stderr).lines();
        let mut cargo_stderr = Vec::new();
        let mut stdout_open = true;
        let mut stderr_open = true;
        while stdout_open || stderr_open {
            tokio::select! {
                line = lines.next_line(), if stdout_open => match line {
                    Ok(Some(line)) => match serde_json::from_str::<CargoMessage>(&line) {
                        Ok(CargoMessage::CompilerArtifact { executable: Some(exe), target }) if target.name == bin => executable = Some(exe),
                        Ok(CargoMessage::CompilerMessage { message }) if message.level == "error" => {
                            if let Some(rendered) = message.rendered { errors.push(rendered) }
                        }
                        Ok(CargoMessage::BuildFinished { success }) => finished = Some(success),
                        _ => {}
                    },
                    _ => stdout_open = false,
                },
                line = err_lines.next_line(), if stderr_open => match line {
                    Ok(Some(line)) => {
                        let trimmed = line.trim_start();
                        if is_progress(&line) {
                            progress(trimmed);
                        }
                        if cargo_stderr.len() < 200 { cargo_stderr.push(line) }
                    }
                    _ => stderr_open = false,
                },
            }
        }
        (errors, executable, finished, cargo_stderr)
    };
    let limit = build_timeout();
    let (errors, executable, finished, cargo_stderr) =
        match tokio::time::timeout(limit, read_all).await {
            Ok(result) => result,
            Err(_) => {
                return Ok((
                    BuildOutcome {
                        ok: false,
                        summary: Some(format!(
                            "The build did not finish within {} and was stopped. A build script or \
                         macro may loop forever.",
                            say_duration(limit)
                        )),
                        errors: String::new(),
                        timed_out: true,
                    },
                    None,
                ));
            }
        };
    let status = child.wait().await.context("Failed to wait for cargo")?;
    let ok = status.success() && finished != Some(false);

    if !ok {
        let shown = if errors.is_empty() {
            // Cargo failed before the compiler ran: a manifest error, a missing file.
            cargo_stderr
                .iter()
                .filter(|l| !is_progress(l))
                .take(ERROR_LINES)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            errors
                .iter()
                .filter(|e| {
                    !e.starts_with("error: aborting") && !e.starts_with("error: could not compile")
                })
                .take(SHOW_ERRORS)
                .map(|e| e.lines().take(ERROR_LINES).collect::<Vec<_>>().join("\n"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let count = errors
            .iter()
            .filter(|e| !e.starts_with("error: aborting"))
            .count();
        let summary = match count {
            0 => "cargo could not build the crate.".to_string(),
            1 => "The crate does not compile: 1 error.".to_string(),
            n => format!("The crate does not compile: {n} errors (the first ones are shown)."),
        };
        return Ok((
            BuildOutcome {
                ok: false,
                summary: Some(summary),
                errors: shown.trim_end().to_string(),
                timed_out: false,
            },
            None,
        ));
    }
    let exe = executable.context("cargo reported success but named no executable")?;
    let private = prepared
        .scratch
        .join(if release { "bin-release" } else { "bin" });
    std::fs::create_dir_all(&private)?;
    let copy = private.join(bin);
    let _ = std::fs::remove_file(&copy);
    // A hard link is instant; a later build replaces cargo's file, not our link.
    if std::fs::hard_link(&exe, &copy).is_err() {
        std::fs::copy(&exe, &copy).with_context(|| format!("Failed to copy {}", exe.display()))?;
    }
    drop(build_lock);
    Ok((
        BuildOutcome {
            ok: true,
            summary: None,
            errors: String::new(),
            timed_out: false,
        },
        Some(Built { exe: copy }),
    ))
}

/// Whether a line of cargo's stderr is a status line rather than an error.
fn is_progress(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("Compiling") || line.starts_with("Blocking")
}
