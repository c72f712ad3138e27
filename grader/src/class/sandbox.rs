//! Grading one submission in a sandbox, for `cargo grade class`.
//!
//! A class run builds and runs code nobody has read: build scripts, proc macros and
//! servers. With the sandbox, each pair is graded by a child `grader check` that runs
//! under [`sandbox.sh`](./sandbox.sh) and bubblewrap, and sees:
//! - no network but its own loopback (`--unshare-net`), so its server and probes (and
//!   a MongoDB stand-in of its own) talk over loopback and nothing else leaves;
//! - the whole system read-only; the instructor's home, `/tmp`, the other submissions
//!   and the reports replaced by empty folders; its own crate, copied beforehand;
//! - the course's `target/` through an overlay whose writes land in a tmpfs of its
//!   own: every dependency is there compiled, once for the whole class (the run builds
//!   each stage's solution first), and nothing the submission writes reaches `target/`,
//!   so one submission cannot plant artefacts that another links. The tmpfs's size is
//!   the submission's disk;
//! - a process tree of its own, killed whole when the grading ends, in cgroups that cap
//!   its processes (a fork bomb) and memory, and rlimits on the size of one file and on
//!   open files.
//!
//! What the child prints is its [`StageReport`] (`--format record`); what went wrong
//! outside the report (a limit reached, the disk full, no report at all) becomes the
//! pair's error. Without bubblewrap, root, or overlay mounts there is no sandbox:
//! `--sandbox auto` then grades in the grader's own process and every report says so.

mod cgroup;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::AsyncReadExt;

use crate::compile::say_duration;
use crate::course::Course;
use crate::outcome::StageReport;
use crate::process;

const SCRIPT: &str = include_str!("sandbox.sh");
/// The most of a child's report read; a real one is a few kB.
const REPORT_CAP: u64 = 16 << 20;
/// The end of a child's stderr kept, for when it printed no report.
const STDERR_KEEP: usize = 4000;

/// Whether to grade in a sandbox (`--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// In a sandbox when this machine allows one; otherwise without, and every report
    /// says so.
    Auto,
    /// Always in a sandbox: stop with an error when this machine allows none.
    On,
    /// Never (only for code you trust: it then runs as you, with your network).
    Off,
}

/// What each sandboxed grading may use (`--max-processes` and the like).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub processes: u64,
    pub memory: u64,
    pub disk: u64,
    pub file_size: u64,
    pub open_files: u64,
    pub build_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            processes: 512,
            memory: 4 << 30,
            disk: 2 << 30,
            file_size: 1 << 30,
            open_files: 4096,
            build_timeout: Duration::from_secs(5 * 60),
        }
    }
}

/// How a class run grades: in a sandbox, or not and why.
pub enum Sandbox {
    Bwrap(Box<Bwrap>),
    None { reason: String },
}

impl Sandbox {
    /// The sandbox `mode` asks for, if this machine has one.
    pub async fn detect(course: &Course, mode: Mode, limits: Limits) -> Result<Sandbox> {
        if mode == Mode::Off {
            let reason = "`--sandbox off` was given".to_string();
            return Ok(Sandbox::None { reason });
        }
        match Bwrap::new(course, limits).await {
            Ok(bwrap) => Ok(Sandbox::Bwrap(Box::new(bwrap))),
            Err(e) if mode == Mode::Auto => Ok(Sandbox::None {
                reason: format!("{e:#}"),
            }),
            Err(e) => Err(crate::commands::UsageError(format!(
                "`--sandbox on` was given, and this machine cannot sandbox a grading: {e:#}"
            ))
            .into()),
        }
    }

    /// One line for the summary and every report: how the submissions were isolated.
    pub fn describe(&self) -> String {
        match self {
            Sandbox::Bwrap(b) => b.describe(),
            Sandbox::None { reason } => format!(
                "NOT SANDBOXED ({reason}): submissions ran as the grader's user, with its \
                 network and files"
            ),
        }
    }
}

/// bubblewrap, with what the children need to find: the toolchain, the registry.
pub struct Bwrap {
    limits: Limits,
    /// This run's folder for the script and each pair's disk.
    home: PathBuf,
    sysroot: PathBuf,
    cargo_home: PathBuf,
    cgroups: Option<cgroup::Parent>,
    cgroup_problem: Option<String>,
}

/// What a sandboxed grading came to.
pub struct Outcome {
    pub report: Option<StageReport>,
    /// Why the pair is an error, whatever its report says.
    pub error: Option<String>,
}

impl Bwrap {
    async fn new(course: &Course, limits: Limits) -> Result<Bwrap> {
        if !nix::unistd::geteuid().is_root() {
            bail!("the sandbox mounts an overlay and a tmpfs, which needs root");
        }
        let home = std::env::temp_dir().join(format!("grader-sandbox-{}", std::process::id()));
        std::fs::create_dir_all(&home)
            .with_context(|| format!("cannot create {}", home.display()))?;
        let script = home.join("sandbox.sh");
        std::fs::write(&script, SCRIPT).context("cannot write the sandbox script")?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .context("cannot make the sandbox script executable")?;
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
        let out = tokio::process::Command::new(&rustc)
            .args(["--print", "sysroot"])
            .output()
            .await
            .with_context(|| format!("cannot run `{rustc} --print sysroot`"))?;
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let cargo_home = match std::env::var_os("CARGO_HOME") {
            Some(dir) => PathBuf::from(dir),
            None => std::env::home_dir()
                .context("no home folder, so no cargo registry")?
                .join(".cargo"),
        };
        let (cgroups, cgroup_problem) = match cgroup::Parent::create(&limits) {
            Ok(parent) => (Some(parent), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        };
        let bwrap = Bwrap {
            limits,
            home,
            sysroot,
            cargo_home,
            cgroups,
            cgroup_problem,
        };
        // A trial: bubblewrap present, namespaces and overlay mounts allowed.
        if let Some(cgroups) = &bwrap.cgroups {
            cgroups.create_child("trial")?;
        }
        let trial = bwrap
            .command(course, "trial", &[], None, &["true".into()])
            .output()
            .await;
        if let Some(cgroups) = &bwrap.cgroups {
            cgroups.finish_child("trial");
        }
        let _ = std::fs::remove_dir_all(bwrap.home.join("trial"));
        match trial {
            Ok(out) if out.status.success() => Ok(bwrap),
            Ok(out) => bail!(
                "bubblewrap could not start a sandbox: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => bail!("cannot run the sandbox ({e}); is bubblewrap installed?"),
        }
    }

    fn describe(&self) -> String {
        let l = &self.limits;
        let counted = match &self.cgroup_problem {
            None => format!(
                "at most {} processes and {} of memory",
                l.processes,
                bytes(l.memory)
            ),
            Some(why) => format!("NO process or memory limit ({why})"),
        };
        format!(
            "sandboxed with bubblewrap: network loopback only, system read-only, {counted}, \
             {} of disk, files up to {}, builds up to {}",
            bytes(l.disk),
            bytes(l.file_size),
            say_duration(l.build_timeout)
        )
    }

    /// The command that runs `argv` in a sandbox named `name`, with `visible` (its
    /// crate) readable and `hide` (the class's folders) hidden.
    fn command(
        &self,
        course: &Course,
        name: &str,
        hide: &[PathBuf],
        visible: Option<&Path>,
        argv: &[String],
    ) -> tokio::process::Command {
        let target = course.target_dir();
        let scratch = self.home.join(name);
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg(self.home.join("sandbox.sh"))
            .env("SANDBOX_SCRATCH", &scratch)
            .env("SANDBOX_DISK", self.limits.disk.to_string())
            .env("SANDBOX_TARGET", &target)
            .env(
                "SANDBOX_CGROUPS",
                self.cgroups
                    .as_ref()
                    .map(|c| c.procs_files(name))
                    .unwrap_or_default(),
            )
            .stdin(Stdio::null());
        let l = &self.limits;
        cmd.arg("prlimit")
            .arg(format!("--fsize={}", l.file_size))
            .arg(format!("--nofile={0}:{0}", l.open_files))
            .args(["--", "bwrap", "--ro-bind", "/", "/"]);
        // Hidden folders are empty folders of the sandbox's own disk, so that whatever
        // is written anywhere counts against one limit. The system's first (the course
        // may live in a home folder), then what must show, then the class's folders.
        let disk = scratch.join("disk");
        let mut hidden = 0;
        let mut hide_dir = |cmd: &mut tokio::process::Command, dir: &Path| {
            cmd.arg("--bind")
                .arg(disk.join("hide").join(hidden.to_string()))
                .arg(dir);
            hidden += 1;
        };
        for dir in [
            "/root", "/home", "/tmp", "/var/tmp", "/run", "/mnt", "/media",
        ] {
            if Path::new(dir).is_dir() {
                hide_dir(&mut cmd, Path::new(dir));
            }
        }
        let ro = |cmd: &mut tokio::process::Command, dir: &Path| {
            if dir.exists() {
                cmd.arg("--ro-bind").arg(dir).arg(dir);
            }
        };
        ro(&mut cmd, &course.root);
        cmd.arg("--bind").arg(&target).arg(&target);
        ro(&mut cmd, &self.sysroot);
        // At the same path as outside: cargo's fingerprints name the sources' paths.
        ro(&mut cmd, &self.cargo_home.join("registry"));
        ro(&mut cmd, &self.cargo_home.join("git"));
        if let Ok(exe) = std::env::current_exe() {
            ro(&mut cmd, &exe);
        }
        // The Python that runs the MongoDB stand-in (a venv points at its install).
        if let Some(python) = venv_python(&course.root.join(".tools/mongo/pyvenv.cfg")) {
            ro(&mut cmd, &python);
        }
        // Every copy of a submission the grader made, this run's or an earlier one's.
        let copies = [target.join("grader/class"), target.join("grader/scratch")];
        let shown = [course.root.as_path(), target.as_path()];
        for dir in hide.iter().chain(&copies) {
            // A folder that holds the course cannot be hidden without hiding the course.
            if dir.is_dir() && !shown.iter().any(|s| s.starts_with(dir)) {
                hide_dir(&mut cmd, dir);
            }
        }
        cmd.env("SANDBOX_HIDDEN", hidden.to_string());
        if let Some(dir) = visible {
            ro(&mut cmd, dir);
        }
        cmd.args(["--dev", "/dev", "--proc", "/proc"])
            .args(["--unshare-net", "--unshare-pid", "--unshare-ipc"])
            .args(["--unshare-uts", "--unshare-cgroup-try"])
            .args(["--die-with-parent", "--new-session", "--clearenv"]);
        let bin = self.sysroot.join("bin");
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display());
        let home = std::env::home_dir().unwrap_or_else(|| "/root".into());
        let env: [(&str, std::ffi::OsString); 9] = [
            ("PATH", path.into()),
            // Each submission is compiled once: an incremental cache would only take
            // room in the pair's size-limited tmpfs.
            ("CARGO_INCREMENTAL", "0".into()),
            ("HOME", home.into()),
            ("CARGO_HOME", self.cargo_home.clone().into()),
            ("CARGO", bin.join("cargo").into()),
            ("CARGO_NET_OFFLINE", "true".into()),
            ("CARGO_TARGET_DIR", target.clone().into()),
            ("COURSE_ROOT", course.root.clone().into()),
            (
                "GRADER_BUILD_TIMEOUT",
                self.limits.build_timeout.as_secs().to_string().into(),
            ),
        ];
        for (key, value) in env {
            cmd.args(["--setenv", key]).arg(value);
        }
        cmd.arg("--chdir").arg(&course.root).arg("--").args(argv);
        cmd
    }

    /// Grades the crate `dir` (a private copy) as stage `stage_id`, in sandbox `n` of
    /// this run, with `hide` hidden.
    pub async fn grade(
        &self,
        course: &Course,
        stage_id: &str,
        dir: &Path,
        hide: &[PathBuf],
        n: usize,
    ) -> Result<Outcome> {
        let name = format!("pair-{n}");
        if let Some(cgroups) = &self.cgroups {
            cgroups.create_child(&name)?;
        }
        let exe = std::env::current_exe().context("cannot find the grader's own binary")?;
        let argv = [
            exe.to_string_lossy().into_owned(),
            "check".into(),
            stage_id.into(),
            "--path".into(),
            dir.to_string_lossy().into_owned(),
            "--format".into(),
            "record".into(),
        ];
        let mut cmd = self.command(course, &name, hide, Some(dir), &argv);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let result = self.run(&mut cmd).await;
        let limits_hit = match &self.cgroups {
            Some(cgroups) => cgroups.finish_child(&name),
            None => Vec::new(),
        };
        let _ = std::fs::remove_dir_all(self.home.join(&name));
        let (status, stdout, stderr) = result?;
        let mut problems = limits_hit;
        if stderr.contains("SANDBOX: disk full") {
            problems.push(format!(
                "filled its {} of disk (its build and everything its server wrote)",
                bytes(self.limits.disk)
            ));
        }
        let report: Option<StageReport> = serde_json::from_slice(&stdout).ok();
        if let Some(build) = report.as_ref().and_then(|r| r.build.as_ref())
            && build.timed_out
        {
            problems.push(format!(
                "did not finish building within {}: a build script or macro may loop",
                say_duration(self.limits.build_timeout)
            ));
        }
        let error = match (&report, problems.is_empty()) {
            (Some(_), true) => None,
            (_, false) => Some(format!("The submission {}.", problems.join(", and "))),
            (None, true) => Some(format!(
                "The sandboxed grading printed no report (it ended with {status}). What it \
                 printed last:\n{}",
                tail(&stderr)
            )),
        };
        Ok(Outcome { report, error })
    }

    /// Runs `cmd`, keeping its report and the end of its stderr.
    async fn run(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> Result<(std::process::ExitStatus, Vec<u8>, String)> {
        let (mut child, _group) = process::spawn(cmd).context("cannot start the sandbox")?;
        let stdout = child.stdout.take().context("the sandbox's stdout")?;
        let stderr = child.stderr.take().context("the sandbox's stderr")?;
        let read_out = read_capped(stdout);
        let read_err = async { String::from_utf8_lossy(&read_capped(stderr).await).into_owned() };
        let (out, err) = tokio::join!(read_out, read_err);
        let status = child.wait().await.context("cannot wait for the sandbox")?;
        Ok((status, out, err))
    }
}

impl Drop for Bwrap {
    fn drop(&mut self) {
        if let Some(cgroups) = &self.cgroups {
            cgroups.remove();
        }
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// The installation a venv's Python comes from (`home = …/bin` in `pyvenv.cfg`).
fn venv_python(config: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config).ok()?;
    let home = text.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    })?;
    home.parent().map(Path::to_path_buf)
}

/// Everything `from` sends up to [`REPORT_CAP`] bytes; the rest is read and dropped, so
/// a child that prints without end is never left blocked on a full pipe.
async fn read_capped(mut from: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = vec![0; 64 << 10];
    while let Ok(n @ 1..) = from.read(&mut chunk).await {
        if (kept.len() as u64) < REPORT_CAP {
            kept.extend_from_slice(&chunk[..n]);
        }
    }
    kept
}

/// The last lines of `text`, at most [`STDERR_KEEP`] bytes.
fn tail(text: &str) -> String {
    let start = text.len().saturating_sub(STDERR_KEEP);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

/// `4 GiB`, `512 MiB`: a size as people say it.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 => format!("{} MiB", n >> 20),
        n => format!("{n} bytes"),
    }
}
