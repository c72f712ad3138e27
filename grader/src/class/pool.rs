//! Grading many pairs at once, each in a task of its own.
//!
//! A semaphore lets `--jobs` pairs run at once. Each pair is a spawned task, so an
//! `Err` from grading, a panic, or a grading that outlives its time (the build limit
//! plus [`PROBES_TIMEOUT`]) becomes that pair's `error` and no other pair notices. A
//! grading that runs out of time is dropped, and dropping it drops its process groups,
//! which kills its build, its server, or its whole sandbox.
//!
//! In a sandbox ([`sandbox`]) each pair builds in an overlay of its own, so builds run
//! side by side; [`warm_up`] first builds each stage's solution into the shared
//! `target/`, so that what the sandboxes see holds every dependency compiled. Without
//! one, pairs are graded in this process and their builds take turns under `compile`'s
//! build lock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinError;

use super::progress::Progress;
use super::sandbox::Sandbox;
use super::submissions::Target;
use super::{Graded, cache, staging};
use crate::catalogue::{Catalogue, Stage};
use crate::course::Course;
use crate::grade;
use crate::outcome::{Evidence, HintOutcome, StageReport, Status};

/// How long one pair may take beyond its build: every live probe is bounded by its own
/// deadline, and all of them fit well within this.
pub const PROBES_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// One submission on one stage, to grade.
pub struct Job {
    pub submission: String,
    /// The submission's folder.
    pub dir: PathBuf,
    pub target: Target,
}

#[derive(Clone)]
pub struct Settings {
    pub out: PathBuf,
    pub force: bool,
    pub jobs: usize,
    pub grader_build: String,
    pub sandbox: Arc<Sandbox>,
    /// The folders a sandbox hides: the submissions and the reports.
    pub hidden: Arc<Vec<PathBuf>>,
    pub pair_timeout: Duration,
}

/// What is known of a pair before grading it: enough to report an error for it.
#[derive(Clone)]
struct Pair {
    submission: String,
    stage: Option<usize>,
    path: String,
}

impl Pair {
    fn error(&self, catalogue: &Catalogue, reason: String, hash: Option<String>) -> Graded {
        let report = match self.stage.map(|i| &catalogue.stages[i]) {
            Some(stage) => {
                let mut report = StageReport::new(stage, self.path.clone());
                report.hints = stage
                    .hints
                    .iter()
                    .map(|hint| {
                        let why = "Not run: the submission could not be graded.".to_string();
                        HintOutcome::new(hint, Status::NotRun, Some(why), Evidence::default())
                    })
                    .collect();
                report
            }
            None => StageReport {
                stage: String::new(),
                title: String::new(),
                path: self.path.clone(),
                build: None,
                hints: Vec::new(),
                elapsed_ms: 0,
            },
        };
        Graded {
            submission: self.submission.clone(),
            hash,
            error: Some(reason),
            report,
            unchanged: false,
        }
    }
}

/// Grades every job, at most `settings.jobs` at once; the results come in job order.
pub async fn grade_all(
    course: Arc<Course>,
    catalogue: Arc<Catalogue>,
    jobs: Vec<Job>,
    settings: &Settings,
    progress: Arc<Progress>,
) -> Vec<Graded> {
    if let Sandbox::Bwrap(_) = *settings.sandbox {
        warm_up(&course, &catalogue, &jobs).await;
    }
    let limit = Arc::new(Semaphore::new(settings.jobs.max(1)));
    let settings = Arc::new(settings.clone());
    let mut tasks = Vec::new();
    for (n, job) in jobs.into_iter().enumerate() {
        let (stage, dir) = match &job.target {
            Target::Crate { stage, dir } => (Some(*stage), dir.as_path()),
            Target::Problem { stage, .. } => (*stage, job.dir.as_path()),
        };
        let pair = Pair {
            submission: job.submission.clone(),
            stage,
            path: course.display(dir),
        };
        let (course, catalogue, settings, limit, progress) = (
            course.clone(),
            catalogue.clone(),
            settings.clone(),
            limit.clone(),
            progress.clone(),
        );
        let task_pair = pair.clone();
        let task = tokio::spawn(async move {
            // A pair with nothing to grade takes no turn.
            let _permit = match job.target {
                Target::Crate { .. } => Some(limit.acquire_owned().await.expect("never closed")),
                Target::Problem { .. } => None,
            };
            let label = super::label(
                &task_pair.submission,
                task_pair.stage.map(|i| catalogue.stages[i].id.as_str()),
            );
            progress.start(&label);
            let started = Instant::now();
            let graded = grade_one(&course, &catalogue, &job, &task_pair, &settings, n).await;
            progress.finish(&label, &graded, started.elapsed());
            graded
        });
        tasks.push((task, pair));
    }
    let mut results = Vec::new();
    for (task, pair) in tasks {
        let graded = match task.await {
            Ok(graded) => graded,
            Err(error) => {
                let graded = pair.error(&catalogue, task_failure(error), None);
                progress.finish(&graded.label(), &graded, Duration::ZERO);
                graded
            }
        };
        results.push(graded);
    }
    results
}

/// Why a pair's task ended without a result.
fn task_failure(error: JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "no message".into());
            format!(
                "The grader panicked on this submission ({message}). This is a fault in the \
                 grader, not in the submission: please report it."
            )
        }
        Err(_) => "The grading was cancelled.".into(),
    }
}

async fn grade_one(
    course: &Arc<Course>,
    catalogue: &Arc<Catalogue>,
    job: &Job,
    pair: &Pair,
    settings: &Settings,
    n: usize,
) -> Graded {
    let (index, dir) = match &job.target {
        Target::Problem { reason, .. } => return pair.error(catalogue, reason.clone(), None),
        Target::Crate { stage, dir } => (*stage, dir.clone()),
    };
    let hashed = {
        let (course, catalogue) = (course.clone(), catalogue.clone());
        // A pair graded with other isolation is graded again.
        let build = format!("{} {}", settings.grader_build, settings.sandbox.describe());
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            cache::content_hash(&course, &catalogue.stages[index], &dir, &build)
        })
        .await
    };
    let hash = match hashed {
        Ok(Ok(hash)) => hash,
        Ok(Err(e)) => {
            let why = format!("Cannot read the submission's files: {e}.");
            return pair.error(catalogue, why, None);
        }
        Err(e) => return pair.error(catalogue, task_failure(e), None),
    };
    let stage = &catalogue.stages[index];
    let reused = (!settings.force)
        .then(|| cache::reusable(&settings.out, &pair.submission, &stage.id, &hash))
        .flatten();
    if let Some(mut report) = reused {
        report.path = pair.path.clone();
        return Graded {
            submission: pair.submission.clone(),
            hash: Some(hash),
            error: None,
            report,
            unchanged: true,
        };
    }
    let grading = grade_crate(course, stage, &dir, settings, n);
    let graded = match tokio::time::timeout(settings.pair_timeout, grading).await {
        Ok(Ok((mut report, error))) => {
            report.path = pair.path.clone();
            Graded {
                submission: pair.submission.clone(),
                hash: Some(hash),
                error,
                report,
                unchanged: false,
            }
        }
        Ok(Err(e)) => pair.error(
            catalogue,
            format!("The grader could not grade this submission: {e:#}"),
            Some(hash),
        ),
        Err(_) => pair.error(
            catalogue,
            format!(
                "Grading took longer than {} and was stopped.",
                crate::compile::say_duration(settings.pair_timeout)
            ),
            Some(hash),
        ),
    };
    // Kept at once, so that a run interrupted later still has this pair for the next one.
    // A failure to write it shows at the end of the run, when every result is stored.
    if graded.error.is_none() {
        let _ = cache::store(&settings.out, &graded);
    }
    graded
}

/// Grades the crate in `dir`: in the sandbox when there is one, always from a copy; the
/// error is why the pair is an error despite its report (a limit it reached).
async fn grade_crate(
    course: &Course,
    stage: &Stage,
    dir: &Path,
    settings: &Settings,
    n: usize,
) -> Result<(StageReport, Option<String>)> {
    let report = match &*settings.sandbox {
        Sandbox::Bwrap(bwrap) => {
            // The sandbox shows the grading this copy, and hides the submission itself.
            let staged = staging::stage(course, dir).await?;
            let outcome = bwrap
                .grade(course, &stage.id, &staged.dir, &settings.hidden, n)
                .await?;
            return match (outcome.report, outcome.error) {
                (Some(report), error) => Ok((report, error)),
                (None, error) => {
                    let why = error.unwrap_or_else(|| "The grading printed no report.".into());
                    Err(anyhow::anyhow!(why))
                }
            };
        }
        Sandbox::None { .. } if course.is_member(dir) => {
            let staged = staging::stage(course, dir).await?;
            grade::grade(course, stage, &staged.dir, &|_| {}).await?
        }
        Sandbox::None { .. } => grade::grade(course, stage, dir, &|_| {}).await?,
    };
    let error = report
        .build
        .as_ref()
        .filter(|b| b.timed_out)
        .and_then(|b| b.summary.clone());
    Ok((report, error))
}

/// Builds the solution of every stage among `jobs`, from a copy, into the shared
/// `target/`: what every sandbox then finds compiled. Trusted code, built outside any
/// sandbox; a failure only makes the class's builds slower, so it is not fatal.
async fn warm_up(course: &Course, catalogue: &Catalogue, jobs: &[Job]) {
    let mut stages: Vec<usize> = jobs
        .iter()
        .filter_map(|j| match j.target {
            Target::Crate { stage, .. } => Some(stage),
            Target::Problem { .. } => None,
        })
        .collect();
    stages.sort_unstable();
    stages.dedup();
    for index in stages {
        let stage = &catalogue.stages[index];
        let solution = course.solution_dir(stage);
        let built = async {
            let staged = staging::stage(course, &solution).await?;
            if stage.database {
                crate::database::install(&course.root, &|_| {}).await?;
            }
            grade::build_only(course, stage, &staged.dir).await
        };
        match built.await {
            Ok(outcome) if outcome.ok => {}
            Ok(outcome) => eprintln!(
                "warning: the solution of {} did not build ({}); each submission will \
                 compile its dependencies itself.",
                stage.id,
                outcome.summary.unwrap_or_default()
            ),
            Err(e) => eprintln!(
                "warning: could not build the solution of {}: {e:#}",
                stage.id
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::EMBEDDED;

    #[tokio::test]
    async fn a_panicking_task_becomes_an_error_with_its_message() {
        let catalogue = Catalogue::parse(EMBEDDED).unwrap();
        fn explode() -> u32 {
            panic!("boom")
        }
        let task = tokio::spawn(async { explode() });
        let error = task.await.unwrap_err();
        let pair = Pair {
            submission: "ada".into(),
            stage: Some(0),
            path: "ada".into(),
        };
        let graded = pair.error(&catalogue, task_failure(error), None);
        assert_eq!(graded.verdict(), super::super::Verdict::Error);
        assert!(graded.error.as_deref().unwrap().contains("panicked"));
        assert!(graded.error.as_deref().unwrap().contains("boom"));
        assert_eq!(graded.report.hints.len(), catalogue.stages[0].hints.len());
        assert!(
            graded
                .report
                .hints
                .iter()
                .all(|h| h.status == Status::NotRun)
        );
    }
}
