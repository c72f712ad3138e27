//! Grading many pairs at once, each in a task of its own.
//!
//! A semaphore lets `--jobs` pairs run at once: their builds still take turns (under
//! `compile`'s build lock), their live probes overlap. Each pair is a spawned task, so an
//! `Err` from grading, a panic, or a grading that outlives [`PAIR_TIMEOUT`] becomes that
//! pair's `error` and no other pair notices. A grading that runs out of time is dropped,
//! and dropping it drops its process groups, which kills its build or its server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinError;

use super::progress::Progress;
use super::submissions::Target;
use super::{Graded, cache, staging};
use crate::catalogue::{Catalogue, Stage};
use crate::course::Course;
use crate::grade;
use crate::outcome::{Evidence, HintOutcome, StageReport, Status};

/// The longest one pair may take: a cold build (bounded at 20 minutes by `compile`) and
/// every live probe (each bounded by its own deadline) fit well within it.
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(30 * 60);

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
    let limit = Arc::new(Semaphore::new(settings.jobs.max(1)));
    let settings = Arc::new(settings.clone());
    let mut tasks = Vec::new();
    for job in jobs {
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
            let graded = grade_one(&course, &catalogue, &job, &task_pair, &settings).await;
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
) -> Graded {
    let (index, dir) = match &job.target {
        Target::Problem { reason, .. } => return pair.error(catalogue, reason.clone(), None),
        Target::Crate { stage, dir } => (*stage, dir.clone()),
    };
    let hashed = {
        let (course, catalogue) = (course.clone(), catalogue.clone());
        let (dir, build) = (dir.clone(), settings.grader_build.clone());
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
    let graded = match tokio::time::timeout(PAIR_TIMEOUT, grade_crate(course, stage, &dir)).await {
        Ok(Ok(mut report)) => {
            report.path = pair.path.clone();
            Graded {
                submission: pair.submission.clone(),
                hash: Some(hash),
                error: None,
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
                "Grading took longer than {} minutes and was stopped.",
                PAIR_TIMEOUT.as_secs() / 60
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

/// Grades the crate in `dir`, from a copy when it is a member of the course's workspace.
async fn grade_crate(course: &Course, stage: &Stage, dir: &Path) -> Result<StageReport> {
    if course.is_member(dir) {
        let staged = staging::stage(course, dir).await?;
        return grade::grade(course, stage, &staged.dir, &|_| {}).await;
    }
    grade::grade(course, stage, dir, &|_| {}).await
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
