//! Process and memory limits for sandboxed gradings, from Linux cgroups.
//!
//! Root is exempt from `RLIMIT_NPROC`, so a fork bomb is stopped by the `pids`
//! controller instead, and memory by the `memory` controller (which also counts what
//! is written to the sandbox's tmpfs). The run makes a `grader-<pid>` group under the
//! grader's own, and in it a group per pair; `sandbox.sh` moves itself into the pair's
//! group before it starts anything. Both cgroup versions are handled: v1 (a hierarchy
//! per controller, as on this course's CI machines) and v2 (one hierarchy). Afterwards
//! the pair's group tells whether a limit was reached, and anything still in it is
//! killed before the group is removed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Limits, bytes};

const ROOT: &str = "/sys/fs/cgroup";

/// The run's groups: one folder per hierarchy (one for v2, two for v1).
pub struct Parent {
    /// (hierarchy folder of this run, is it the pids one, is it the memory one)
    dirs: Vec<(PathBuf, bool, bool)>,
    v2: bool,
    limits: Limits,
}

impl Parent {
    pub fn create(limits: &Limits) -> Result<Parent> {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .context("cannot read /proc/self/cgroup")?;
        let name = format!("grader-{}", std::process::id());
        let path_of = |controller: &str| {
            own.lines().find_map(|line| {
                let mut parts = line.splitn(3, ':');
                let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                controllers
                    .split(',')
                    .any(|c| c == controller)
                    .then(|| path.trim_start_matches('/').to_string())
            })
        };
        let v1 = Path::new(ROOT).join("pids").is_dir() && Path::new(ROOT).join("memory").is_dir();
        let parent = if v1 {
            let mut dirs = Vec::new();
            for controller in ["pids", "memory"] {
                let path = path_of(controller).unwrap_or_default();
                let dir = Path::new(ROOT).join(controller).join(path).join(&name);
                dirs.push((dir, controller == "pids", controller == "memory"));
            }
            Parent {
                dirs,
                v2: false,
                limits: *limits,
            }
        } else if Path::new(ROOT).join("cgroup.controllers").is_file() {
            let own = own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap_or("/")
                .trim_start_matches('/');
            let dir = Path::new(ROOT).join(own).join(&name);
            Parent {
                dirs: vec![(dir, true, true)],
                v2: true,
                limits: *limits,
            }
        } else {
            bail!("no cgroup hierarchy at {ROOT}");
        };
        for (dir, _, _) in &parent.dirs {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the cgroup {}", dir.display()))?;
        }
        if parent.v2 {
            let (dir, _, _) = &parent.dirs[0];
            write(&dir.join("cgroup.subtree_control"), "+pids +memory")?;
        }
        Ok(parent)
    }

    /// The `cgroup.procs` files of pair `name`, for `sandbox.sh`.
    pub fn procs_files(&self, name: &str) -> String {
        self.dirs
            .iter()
            .map(|(dir, _, _)| dir.join(name).join("cgroup.procs").display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Makes pair `name`'s groups, with their limits.
    pub fn create_child(&self, name: &str) -> Result<()> {
        for (dir, pids, memory) in &self.dirs {
            let dir = dir.join(name);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the cgroup {}", dir.display()))?;
            if *pids {
                write(&dir.join("pids.max"), &self.limits.processes.to_string())?;
            }
            if *memory {
                let file = if self.v2 {
                    "memory.max"
                } else {
                    "memory.limit_in_bytes"
                };
                write(&dir.join(file), &self.limits.memory.to_string())?;
                if self.v2 {
                    let _ = write(&dir.join("memory.swap.max"), "0");
                }
            }
        }
        Ok(())
    }

    /// Kills what is left in pair `name`'s groups, removes them, and says which limits
    /// the pair reached.
    pub fn finish_child(&self, name: &str) -> Vec<String> {
        let mut reached = Vec::new();
        for (dir, pids, memory) in &self.dirs {
            let dir = dir.join(name);
            if *pids && counter(&dir.join("pids.events"), "max") > 0 {
                reached.push(format!(
                    "tried to run more than {} processes at once (a fork bomb?) and was \
                     refused more",
                    self.limits.processes
                ));
            }
            let oom = if self.v2 {
                counter(&dir.join("memory.events"), "oom_kill")
            } else {
                counter(&dir.join("memory.oom_control"), "oom_kill")
            };
            if *memory && oom > 0 {
                reached.push(format!(
                    "used more than its {} of memory, and was killed",
                    bytes(self.limits.memory)
                ));
            }
            empty_and_remove(&dir);
        }
        reached
    }

    pub fn remove(&self) {
        for (dir, _, _) in &self.dirs {
            if let Ok(children) = std::fs::read_dir(dir) {
                for child in children.flatten() {
                    if child.path().is_dir() {
                        empty_and_remove(&child.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Kills every process in the group `dir` until none is left, then removes it.
fn empty_and_remove(dir: &Path) {
    for _ in 0..100 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir(dir);
}

/// The number after `key` in a cgroup file of `key value` lines.
fn counter(file: &Path, key: &str) -> u64 {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(key)?.trim().parse().ok())
        .unwrap_or(0)
}

fn write(file: &Path, value: &str) -> Result<()> {
    std::fs::write(file, value).with_context(|| format!("cannot write {}", file.display()))
}
