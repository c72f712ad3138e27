//! `cargo grade class` and `cargo grade merge`: a whole class graded in one run.
//!
//! A run reads as its modules do, in order:
//! - [`submissions`] finds the submissions (subfolders of a folder, or the lines of a list
//!   file), names them after their folders ([`names`]), and picks the stage crate of
//!   each: a copy of the course holds it in `exercises/STAGE`, a lone crate is it;
//! - [`shard`] keeps this machine's share, for a CI matrix;
//! - [`pool`] grades the pairs (submission, stage) a few at a time with the same
//!   [`grade::grade`](crate::grade::grade) a learner runs, each in a task of its own: an
//!   error or a panic makes that pair `error` and the run goes on. [`staging`] makes sure
//!   a crate inside the course is graded from a copy too; [`cache`] skips a pair whose
//!   sources, catalogue entry and grader did not change since the last run into `--out`;
//! - [`progress`] keeps one line up to date while that runs;
//! - [`table`] prints the summary; [`files`] writes the reports: per submission, the
//!   [`csv`] summary, JUnit, [`classroom`] points, and the run's [`record`] (`run.json`).
//!
//! [`merge`] combines the `--out` folders of several shards into one.
//!
//! [`sandbox`] is where submissions run when the machine allows it: each pair's
//! grading in bubblewrap with limits, so that what a hostile submission does (fork
//! without end, fill the disk, loop in a build script, bind every port, print without
//! end, read other submissions) stays inside its own sandbox and becomes its `error`.

mod cache;
mod classroom;
mod csv;
mod files;
mod merge;
mod names;
mod pool;
mod progress;
mod record;
mod sandbox;
mod shard;
mod staging;
mod submissions;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::commands::{find_stage, load};
use crate::outcome::StageReport;

pub use merge::run as merge;
pub use sandbox::{Limits, Mode as SandboxMode};
pub use shard::Shard;

/// What `class` and `merge` print on stdout when they are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassFormat {
    /// The summary table: a row per submission and stage, a column per hint.
    Text,
    /// The run's record, as written to `run.json`.
    Json,
}

/// Everything `cargo grade class` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub submissions: PathBuf,
    /// A stage id, number or prefix, or `all`.
    pub stage: String,
    pub jobs: Option<usize>,
    pub out: PathBuf,
    pub format: ClassFormat,
    pub force: bool,
    pub shard: Option<Shard>,
    pub sandbox: SandboxMode,
    pub limits: Limits,
}

/// What one pair came to: every hint passes, some do not (or the crate does not
/// build), or it could not be graded at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Error => "error",
        }
    }
}

/// One submission graded on one stage, or why it could not be.
///
/// An error keeps a report too (its hints not run, or none when the stage is not known),
/// so every output treats every pair alike. This is also what `OUT/.cache/` stores.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Graded {
    pub submission: String,
    /// The content hash of what was graded (see [`cache`]); none for an error found
    /// before grading.
    pub hash: Option<String>,
    /// Why the pair could not be graded.
    pub error: Option<String>,
    pub report: StageReport,
    /// Reused from the last run: the sources did not change.
    #[serde(skip)]
    pub unchanged: bool,
}

impl Graded {
    pub fn verdict(&self) -> Verdict {
        match &self.error {
            Some(_) => Verdict::Error,
            None if self.report.passed() => Verdict::Passed,
            None => Verdict::Failed,
        }
    }

    /// The stage id, unless the stage could not be told.
    pub fn stage(&self) -> Option<&str> {
        Some(self.report.stage.as_str()).filter(|s| !s.is_empty())
    }

    /// The name of this pair's files: `reports/SUBMISSION/<stem>.txt` and the like.
    pub fn file_stem(&self) -> &str {
        self.stage().unwrap_or("unknown-stage")
    }

    /// `alice (08)`, for progress lines.
    pub fn label(&self) -> String {
        label(&self.submission, self.stage())
    }

    pub fn build_failed(&self) -> bool {
        self.report.build.as_ref().is_some_and(|b| !b.ok)
    }
}

/// `alice (08)`: a submission and the number of its stage.
pub fn label(submission: &str, stage: Option<&str>) -> String {
    format!(
        "{submission} ({})",
        stage.map_or("?", |s| &s[..2.min(s.len())])
    )
}

/// Pairs in the order every output shows them: by submission, then stage.
fn sort(results: &mut [Graded]) {
    results.sort_by(|a, b| {
        (a.submission.as_str(), a.stage().is_none(), a.stage()).cmp(&(
            b.submission.as_str(),
            b.stage().is_none(),
            b.stage(),
        ))
    });
}

/// Jobs when `--jobs` is not given: one per CPU, at most 4 (builds take turns anyway,
/// and live probes need a CPU to answer in time).
fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
}

/// `cargo grade class SUBMISSIONS --stage ID|all …`
pub async fn run(options: Options) -> Result<ExitCode> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    let (course, catalogue) = load()?;
    let selection = match options.stage.as_str() {
        "all" => None,
        query => {
            let id = &find_stage(&catalogue, query)?.id;
            catalogue.stages.iter().position(|s| &s.id == id)
        }
    };
    let mut found = submissions::discover(&options.submissions, &options.out)?;
    let total = found.len();
    if let Some(shard) = options.shard {
        found = found
            .into_iter()
            .enumerate()
            .filter(|(i, _)| shard.keeps(*i))
            .map(|(_, s)| s)
            .collect();
    }
    let out = files::OutDir::open(&options.out)?;
    let starters = submissions::starter_packages(&course, &catalogue);
    let jobs: Vec<pool::Job> = found
        .iter()
        .flat_map(|sub| {
            submissions::targets(&catalogue, &starters, sub, selection)
                .into_iter()
                .map(|target| pool::Job {
                    submission: sub.name.clone(),
                    dir: sub.dir.clone(),
                    target,
                })
        })
        .collect();
    let grader_build = cache::grader_build().await;
    let sandbox = sandbox::Sandbox::detect(&course, options.sandbox, options.limits).await?;
    if let sandbox::Sandbox::None { .. } = sandbox {
        eprintln!("warning: {}.", sandbox.describe());
    }
    // What the sandboxes hide: every submission's folder and the reports.
    let mut hidden: Vec<PathBuf> = found.iter().map(|s| s.dir.clone()).collect();
    hidden.push(options.submissions.clone());
    hidden.push(out.path.clone());
    let hidden = hidden
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .collect();
    let settings = pool::Settings {
        out: out.path.clone(),
        force: options.force,
        jobs: options.jobs.unwrap_or_else(default_jobs).max(1),
        grader_build: grader_build.clone(),
        sandbox: Arc::new(sandbox),
        hidden: Arc::new(hidden),
        pair_timeout: options.limits.build_timeout + pool::PROBES_TIMEOUT,
    };
    if let Some(shard) = options.shard {
        eprintln!("Shard {shard}: {} of the {total} submissions.", found.len());
    }
    let catalogue = Arc::new(catalogue);
    let progress = Arc::new(progress::Progress::new(jobs.len()));
    let mut results = pool::grade_all(
        Arc::new(course),
        catalogue.clone(),
        jobs,
        &settings,
        progress.clone(),
    )
    .await;
    progress.clear();
    sort(&mut results);
    let stage = selection.map_or("all".to_string(), |i| catalogue.stages[i].id.clone());
    let record = record::RunRecord::new(record::RunInfo {
        catalogue: record::fingerprints(&catalogue, &stage),
        stage,
        submissions: options.submissions.display().to_string(),
        shard: options.shard.map(|s| s.to_string()),
        started_at,
        jobs: settings.jobs,
        elapsed: started.elapsed(),
        force: options.force,
        grader_build,
        sandbox: settings.sandbox.describe(),
        merged_from: Vec::new(),
        results: &results,
    });
    out.write(&record, &results)?;
    finish(options.format, &record, &results, &out.path);
    Ok(ExitCode::SUCCESS)
}

/// Prints the summary table (or the record as JSON) and where the reports are.
fn finish(
    format: ClassFormat,
    record: &record::RunRecord,
    results: &[Graded],
    out: &std::path::Path,
) {
    match format {
        ClassFormat::Json => println!("{}", record.to_json()),
        ClassFormat::Text => {
            print!("{}", table::render(results));
            println!("\n{}", record.counts_line());
            if !record.sandbox.is_empty() {
                println!("Isolation: {}.", record.sandbox);
            }
            println!("Reports in {}: {}", out.display(), files::LISTING);
        }
    }
}
