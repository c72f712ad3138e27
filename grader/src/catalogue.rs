//! The catalogue: every stage of the course and the hints that grade it.
//!
//! It is one declarative file, `grader/catalogue.toml`, read with serde. Everything that
//! can be checked without a learner's code is checked when it loads (unique ids, patterns
//! that compile, probes that exist with parameters they accept), so a typo in the
//! catalogue is an error with its hint's name on it, never a hint that silently passes.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use regex::Regex;
use serde::Deserialize;

use crate::probe;

/// The catalogue format this grader understands. A newer file is refused rather than
/// half-understood.
pub const FORMAT_VERSION: u32 = 1;
/// The most server processes one live hint may start (see [`Stage::instances`]).
pub const MAX_INSTANCES: usize = 4;

/// The catalogue the grader was compiled with, used when no course root is found.
pub const EMBEDDED: &str = include_str!("../catalogue.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub format_version: u32,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// `NN-slug`: names the starter, solution, chapter and fixtures too.
    pub id: String,
    pub title: String,
    /// One sentence: what the learner's server does when the stage passes.
    pub goal: String,
    /// How long a live hint waits for the server to listen, in milliseconds.
    #[serde(default = "default_listen_timeout_ms")]
    pub listen_timeout_ms: u64,
    /// The stage keeps data in MongoDB: every live hint's server gets a `MONGO_URI` of
    /// its own database, which the hint's probe may read too.
    #[serde(default)]
    pub database: bool,
    /// The stage's servers talk through Redis (stage 13's Socket.IO adapter): every live
    /// hint gets a Redis of its own, in `REDIS_URL`, shared by the servers it starts.
    #[serde(default)]
    pub redis: bool,
    /// How many processes of the learner's server each live hint starts (stage 13: two,
    /// sharing the hint's database and Redis, on ports of their own). Probes reach them
    /// through [`crate::probe::Ctx::instance`].
    #[serde(default = "default_instances")]
    pub instances: usize,
    /// `cargo grade bench` can load the stage's server: it has stage 10's accounts
    /// (register, log in, log out with forms; a socket per session cookie; `whoami`;
    /// `private message` to a user's room).
    #[serde(default)]
    pub bench: bool,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Deserialize)]
pub struct Hint {
    /// Stable kebab-case id, unique within the stage.
    pub id: String,
    /// The sentence the learner reads.
    pub text: String,
    /// What to do when the hint fails.
    pub help: String,
    #[serde(default = "default_points")]
    pub points: u32,
    #[serde(flatten)]
    pub check: Check,
}

/// What a hint checks, by kind.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Check {
    /// The crate declares a dependency on a package, optionally with features.
    Dependency {
        #[serde(rename = "crate")]
        krate: String,
        #[serde(default)]
        features: Vec<String>,
    },
    /// Regexes over the crate's sources with comments and literals removed.
    Pattern {
        #[serde(default)]
        all: Vec<String>,
        #[serde(default)]
        any: Vec<String>,
    },
    /// A probe run against the learner's running server.
    Live {
        probe: String,
        #[serde(default)]
        params: toml::Table,
        #[serde(default = "default_probe_timeout_ms")]
        timeout_ms: u64,
    },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Dependency { .. } => "dependency",
            Check::Pattern { .. } => "pattern",
            Check::Live { .. } => "live",
        }
    }
}

fn default_points() -> u32 {
    1
}
fn default_listen_timeout_ms() -> u64 {
    5_000
}
fn default_instances() -> usize {
    1
}
fn default_probe_timeout_ms() -> u64 {
    5_000
}

impl Catalogue {
    /// Reads the catalogue of the course at `root`, or the embedded one without a root.
    pub fn load(root: Option<&Path>) -> Result<Catalogue> {
        match root {
            Some(root) => {
                let path = root.join("grader/catalogue.toml");
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("Failed to read the catalogue {}", path.display()))?;
                Catalogue::parse(&text).with_context(|| format!("In {}", path.display()))
            }
            None => Catalogue::parse(EMBEDDED).context("In the grader's embedded catalogue"),
        }
    }

    pub fn parse(text: &str) -> Result<Catalogue> {
        let catalogue: Catalogue = toml::from_str(text).context("The catalogue is not valid")?;
        if catalogue.format_version > FORMAT_VERSION {
            bail!(
                "The catalogue has format_version {}, but this grader understands up to {}. \
                 Rebuild the grader from the same checkout (`cargo grade` does).",
                catalogue.format_version,
                FORMAT_VERSION
            );
        }
        catalogue.validate()?;
        Ok(catalogue)
    }

    /// Every check that does not need a learner's code.
    fn validate(&self) -> Result<()> {
        let mut stage_ids = HashSet::new();
        for stage in &self.stages {
            let id_ok = stage.id.len() > 3
                && stage.id.as_bytes()[..2].iter().all(u8::is_ascii_digit)
                && stage.id.as_bytes()[2] == b'-';
            if !id_ok {
                bail!("Stage id `{}` is not of the form `NN-slug`", stage.id);
            }
            if !stage_ids.insert(&stage.id) {
                bail!("Stage id `{}` appears twice", stage.id);
            }
            if !(1..=MAX_INSTANCES).contains(&stage.instances) {
                bail!(
                    "Stage `{}` asks for {} instances of the server; a stage runs 1 to {MAX_INSTANCES}",
                    stage.id,
                    stage.instances
                );
            }
            if stage.hints.is_empty() {
                bail!("Stage `{}` has no hints", stage.id);
            }
            let mut hint_ids = HashSet::new();
            for hint in &stage.hints {
                if !hint_ids.insert(&hint.id) {
                    bail!(
                        "Hint id `{}` appears twice in stage `{}`",
                        hint.id,
                        stage.id
                    );
                }
                hint.validate()
                    .with_context(|| format!("In hint `{}` of stage `{}`", hint.id, stage.id))?;
            }
        }
        Ok(())
    }

    /// Finds a stage by its full id, its number (`1`, `01`) or a unique prefix of its id.
    pub fn find(&self, query: &str) -> Option<&Stage> {
        if let Some(stage) = self.stages.iter().find(|s| s.id == query) {
            return Some(stage);
        }
        if let Ok(n) = query.parse::<u32>() {
            return self.stages.iter().find(|s| s.number() == n);
        }
        let mut matches = self.stages.iter().filter(|s| s.id.starts_with(query));
        match (matches.next(), matches.next()) {
            (Some(stage), None) => Some(stage),
            _ => None,
        }
    }
}

impl Stage {
    pub fn number(&self) -> u32 {
        self.id[..2].parse().unwrap_or(0)
    }

    pub fn max_points(&self) -> u32 {
        self.hints.iter().map(|h| h.points).sum()
    }
}

impl Hint {
    fn validate(&self) -> Result<()> {
        if self.text.trim().is_empty() || self.help.trim().is_empty() {
            bail!("`text` and `help` must not be empty");
        }
        match &self.check {
            Check::Dependency { krate, .. } if krate.is_empty() => bail!("`crate` is empty"),
            Check::Dependency { .. } => Ok(()),
            Check::Pattern { all, any } => {
                if all.is_empty() && any.is_empty() {
                    bail!("a pattern hint needs `all` or `any`");
                }
                for pattern in all.iter().chain(any) {
                    compile_pattern(pattern)?;
                }
                Ok(())
            }
            Check::Live { probe, params, .. } => probe::validate(probe, params),
        }
    }
}

/// Compiles one catalogue pattern; the error names the pattern.
pub fn compile_pattern(pattern: &str) -> Result<Regex> {
    Regex::new(pattern).with_context(|| format!("Pattern `{pattern}` does not compile"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_is_valid() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        assert!(catalogue.stages.len() >= 2);
    }

    #[test]
    fn finds_stages_by_id_number_and_prefix() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        assert_eq!(catalogue.find("01").unwrap().id, "01-tcp-echo");
        assert_eq!(catalogue.find("2").unwrap().id, "02-tcp-chat");
        assert_eq!(catalogue.find("02-tcp").unwrap().id, "02-tcp-chat");
        assert!(
            catalogue.find("0").is_none(),
            "an ambiguous prefix must not match"
        );
        assert!(catalogue.find("99").is_none());
    }

    #[test]
    fn rejects_bad_catalogues() {
        let base = |hint: &str| {
            format!(
                "format_version = 1\n[[stages]]\nid = \"01-x\"\ntitle = \"t\"\ngoal = \"g\"\n\
                 [[stages.hints]]\nid = \"h\"\ntext = \"t\"\nhelp = \"h\"\n{hint}\n"
            )
        };
        let err = |text: String| format!("{:#}", Catalogue::parse(&text).unwrap_err());
        assert!(err(base("kind = \"pattern\"\nall = ['(']")).contains("does not compile"));
        assert!(err(base("kind = \"live\"\nprobe = \"nope\"")).contains("nope"));
        assert!(err(base("kind = \"magic\"")).contains("magic"));
        let newer = base("kind = \"dependency\"\ncrate = \"tokio\"").replace("= 1\n", "= 9\n");
        assert!(err(newer).contains("format_version 9"));
    }
}
