//! Grading one checkout of one stage, phase by phase.
//!
//! catalogue → static checks → build → live probes → report. Each phase hands plain
//! values to the next; nothing here prints. A live hint gets a fresh server, so one
//! probe's clients (or a crash it caused) never change another hint's result.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Mutex;

use crate::catalogue::{Check, Hint, Stage};
use crate::checks::{manifest, pattern};
use crate::compile;
use crate::course::Course;
use crate::database::{self, Mongo};
use crate::outcome::{BuildOutcome, Evidence, HintOutcome, OutputTail, StageReport, Status};
use crate::probe::{self, Ctx};
use crate::redis;
use crate::server::{Server, describe_exit};

/// Builds the crate at `dir` as `grade` would, and nothing more: `cargo grade class`
/// builds each stage's solution this way before a sandboxed run, so that the shared
/// `target/` the sandboxes see holds every dependency compiled.
pub async fn build_only(course: &Course, stage: &Stage, dir: &Path) -> Result<BuildOutcome> {
    Ok(build_binary(course, stage, dir, false, &|_| {}).await?.1)
}

/// Builds the crate at `dir` as `grade` would, optimised when `release`, for
/// `cargo grade bench`. The binary stays valid while the returned `Prepared` (which
/// holds the scratch folder's lock) lives.
pub async fn build_binary(
    course: &Course,
    stage: &Stage,
    dir: &Path,
    release: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(compile::Prepared, BuildOutcome, Option<compile::Built>)> {
    let prepared = compile::prepare(course, dir, &stage.id).await?;
    let manifest = manifest::read(&prepared.manifest).await;
    let (outcome, built) = build_phase(&prepared, &manifest, release, progress).await?;
    Ok((prepared, outcome, built))
}

/// The build phase: which binary (from the manifest), then cargo.
async fn build_phase(
    prepared: &compile::Prepared,
    manifest: &Result<manifest::Manifest, String>,
    release: bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(BuildOutcome, Option<compile::Built>)> {
    let failed = |summary: String, errors: String| {
        let outcome = BuildOutcome {
            ok: false,
            summary: Some(summary),
            errors,
            timed_out: false,
        };
        Ok((outcome, None))
    };
    match manifest {
        Err(why) => failed("cargo could not read Cargo.toml.".into(), why.clone()),
        Ok(m) => match compile::choose_bin(&m.package, &m.bins, m.default_run.as_deref()) {
            Err(why) => failed(why, String::new()),
            Ok(bin) => compile::build(prepared, &m.package, &bin, release, progress).await,
        },
    }
}

/// Grades the crate at `dir` as stage `stage`. `progress` receives build status lines.
pub async fn grade(
    course: &Course,
    stage: &Stage,
    dir: &Path,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<StageReport> {
    let started = Instant::now();
    let mut report = StageReport::new(stage, course.display(dir));
    let prepared = compile::prepare(course, dir, &stage.id).await?;

    // Static checks: read the sources and the manifest once, answer every such hint.
    let sources = pattern::Sources::read(&prepared.crate_dir);
    let manifest = manifest::read(&prepared.manifest).await;
    let mut outcomes: Vec<Option<HintOutcome>> = stage
        .hints
        .iter()
        .map(|hint| match &hint.check {
            Check::Dependency { krate, features } => {
                Some(manifest::check(hint, krate, features, &manifest))
            }
            Check::Pattern { all, any } => Some(pattern::check(hint, all, any, &sources)),
            Check::Live { .. } => None,
        })
        .collect();

    // Build: a learner's compile errors are part of the report, not a grader error.
    let (build, built) = build_phase(&prepared, &manifest, false, progress).await?;

    // Stages that keep data in MongoDB: the run's database server, started once.
    let runs_live = built.is_some()
        && stage
            .hints
            .iter()
            .any(|h| matches!(h.check, Check::Live { .. }));
    let mongo = if stage.database && runs_live {
        // No database is the machine's problem, not the learner's code's: say what to do.
        let mongo = database::shared(&course.root, progress)
            .await
            .map_err(|e| {
                crate::commands::UsageError(format!(
                    "stage {} keeps its data in MongoDB, and the grader has none: {e:#}",
                    stage.id
                ))
            })?;
        Some(mongo)
    } else {
        None
    };
    // Stages whose servers talk through Redis: checked once here, an instance per hint.
    let redis = if stage.redis && runs_live {
        Some(
            redis::shared(&course.target_dir().join("grader"))
                .await
                .map_err(|e| redis_missing(stage, e))?,
        )
    } else {
        None
    };

    // Live probes, each against a fresh server.
    let mut start_failed: Option<(usize, String)> = None;
    for (i, hint) in stage.hints.iter().enumerate() {
        let Check::Live {
            probe,
            params,
            timeout_ms,
        } = &hint.check
        else {
            continue;
        };
        let outcome = match (&built, &start_failed) {
            (None, _) => HintOutcome::new(
                hint,
                Status::NotRun,
                Some("Not run: the crate does not build (see the errors above).".into()),
                Evidence::default(),
            ),
            (Some(_), Some((first, why))) => HintOutcome::fail(
                hint,
                format!(
                    "Not tried again: the server did not start for hint {} ({why}).",
                    first + 1
                ),
            ),
            (Some(built), None) => {
                let listen = Duration::from_millis(stage.listen_timeout_ms);
                let mut launch = Launch {
                    exe: built.exe.clone(),
                    dir: prepared.crate_dir.clone(),
                    env: Vec::new(),
                    listen_timeout: listen,
                };
                // Stopped (when the grader started it) once the hint is done.
                let _redis = match redis {
                    Some(redis) => {
                        let instance = redis
                            .instance()
                            .await
                            .map_err(|e| redis_missing(stage, e))?;
                        launch
                            .env
                            .push((redis::REDIS_URL_VAR.to_string(), instance.url().to_string()));
                        Some(instance)
                    }
                    None => None,
                };
                match run_live(
                    hint,
                    probe,
                    params,
                    Duration::from_millis(*timeout_ms),
                    launch,
                    stage.instances,
                    mongo,
                )
                .await
                {
                    Live::Done(outcome) => outcome,
                    Live::DidNotStart(outcome) => {
                        start_failed = Some((i, short_reason(outcome.reason.as_deref())));
                        outcome
                    }
                }
            }
        };
        outcomes[i] = Some(outcome);
    }

    report.build = Some(build);
    report.hints = outcomes
        .into_iter()
        .map(|o| o.expect("every hint graded"))
        .collect();
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// No Redis is the machine's problem, not the learner's code's: a usage error that says
/// what to do.
pub(crate) fn redis_missing(stage: &Stage, e: anyhow::Error) -> anyhow::Error {
    crate::commands::UsageError(format!(
        "stage {}'s servers talk through Redis, and the grader has none: {e:#}",
        stage.id
    ))
    .into()
}

enum Live {
    Done(HintOutcome),
    DidNotStart(HintOutcome),
}

/// How to start the server under test, again and again.
#[derive(Clone)]
struct Launch {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    listen_timeout: Duration,
}

impl Launch {
    async fn start(&self, port: Option<u16>) -> Result<Server, crate::server::StartFailure> {
        Server::start(&self.exe, &self.dir, port, &self.env, self.listen_timeout).await
    }
}

/// One live hint: a fresh server (with a fresh database when the stage has one), the
/// probe, the verdict with the server's output; then the server stops and the database
/// goes. `instances` processes of the server when the stage runs several (they share
/// the database and the Redis in `launch.env`).
async fn run_live(
    hint: &Hint,
    probe: &str,
    params: &toml::Table,
    timeout: Duration,
    mut launch: Launch,
    instances: usize,
    mongo: Option<&Mongo>,
) -> Live {
    let db_name = mongo.map(|m| m.fresh_name());
    if let (Some(mongo), Some(name)) = (mongo, &db_name) {
        launch
            .env
            .push((database::MONGO_URI_VAR.to_string(), mongo.uri_for(name)));
    }
    let live = run_server_probe(
        hint,
        probe,
        params,
        timeout,
        launch,
        instances,
        mongo,
        db_name.as_deref(),
    )
    .await;
    if let (Some(mongo), Some(name)) = (mongo, &db_name) {
        mongo.drop_database(name).await;
    }
    live
}

#[allow(clippy::too_many_arguments)]
async fn run_server_probe(
    hint: &Hint,
    probe: &str,
    params: &toml::Table,
    timeout: Duration,
    launch: Launch,
    instances: usize,
    mongo: Option<&Mongo>,
    db_name: Option<&str>,
) -> Live {
    let (server, peers) = match start_instances(&launch, instances).await {
        Ok(started) => started,
        Err((reason, output)) => {
            let evidence = Evidence {
                server_output: Some(output),
                ..Evidence::default()
            };
            return Live::DidNotStart(HintOutcome::new(hint, Status::Fail, Some(reason), evidence));
        }
    };
    let port = server.port;
    let mut ports = vec![port];
    ports.extend(peers.iter().map(|peer| peer.port));
    // The server sits in a slot that a probe's restart can empty and fill again.
    let slot = Arc::new(Mutex::new(Some(server)));
    let mut ctx = Ctx::new(port)
        .with_instances(ports)
        .with_restarter(restarter(slot.clone(), launch, port));
    if let (Some(mongo), Some(name)) = (mongo, db_name) {
        ctx.db = Some(mongo.database(name));
    }
    let result = match tokio::time::timeout(timeout, probe::run(probe, params, &ctx)).await {
        Ok(result) => result,
        Err(_) => Err(probe::Failure::new(format!(
            "The check did not finish within {} s: the server stopped answering.",
            timeout.as_secs()
        ))),
    };
    // The probe's clients have just been dropped. After a failure, let each server log
    // its side of that (or exit because of it), so the output and the exit status shown
    // (and recorded in fixtures) do not depend on how busy this machine is.
    let settle = result.is_err();
    // The other instances stop first; their exits and output join A's below.
    let mut peer_exits = Vec::new();
    let mut peer_outputs = Vec::new();
    for mut peer in peers {
        if settle {
            peer.settle().await;
        }
        peer_exits.push(peer.exited());
        peer_outputs.push(peer.stop().await);
    }
    let Some(mut server) = slot.lock().await.take() else {
        // A restart that failed left the slot empty; its failure says why.
        let reason = match result {
            Err(failure) => failure.reason,
            Ok(()) => "The server did not come back after a restart.".to_string(),
        };
        return Live::Done(HintOutcome::new(
            hint,
            Status::Fail,
            Some(reason),
            Evidence {
                transcript: ctx.transcript.lines(),
                ..Evidence::default()
            },
        ));
    };
    if settle {
        server.settle().await;
    }
    let exited = server.exited();
    let mut output = server.stop().await;
    if !peer_outputs.is_empty() {
        output = label_outputs(std::iter::once(output).chain(peer_outputs).collect());
    }
    Live::Done(match result {
        Ok(()) => HintOutcome::pass(hint),
        Err(failure) => {
            let mut reason = failure.reason;
            let exits = std::iter::once(exited).chain(peer_exits);
            for (index, status) in exits.enumerate() {
                let Some(status) = status else { continue };
                let which = if instances > 1 {
                    format!(" (instance {})", probe::instance_letter(index))
                } else {
                    String::new()
                };
                reason.push_str(&format!(
                    " Your server{which} had exited by the end of this check ({}).",
                    describe_exit(status)
                ));
            }
            let evidence = Evidence {
                transcript: ctx.transcript.lines(),
                expected: failure.expected,
                server_output: Some(output),
            };
            HintOutcome::new(hint, Status::Fail, Some(reason), evidence)
        }
    })
}

/// Starts `count` processes of the server, each on a free port of its own, one after
/// the other (A, B, …). When one does not start, those already running are stopped,
/// and the error says which one failed, with what they all printed.
async fn start_instances(
    launch: &Launch,
    count: usize,
) -> std::result::Result<(Server, Vec<Server>), (String, OutputTail)> {
    let mut started: Vec<Server> = Vec::new();
    for index in 0..count.max(1) {
        match launch.start(None).await {
            Ok(server) => started.push(server),
            Err(failure) => {
                let mut outputs = Vec::new();
                for server in started {
                    outputs.push(server.stop().await);
                }
                if count == 1 {
                    return Err((failure.reason, failure.output));
                }
                outputs.push(failure.output);
                let reason = format!(
                    "Instance {} (process {} of the {count} the grader starts, with the same \
                     MONGO_URI and REDIS_URL) did not start: {}",
                    probe::instance_letter(index),
                    index + 1,
                    failure.reason
                );
                return Err((reason, label_outputs(outputs)));
            }
        }
    }
    let first = started.remove(0);
    Ok((first, started))
}

/// The output of several instances as one, each line marked with its instance's
/// letter (`A: listening on …`).
fn label_outputs(outputs: Vec<OutputTail>) -> OutputTail {
    let mut all = OutputTail::default();
    for (index, output) in outputs.into_iter().enumerate() {
        let letter = probe::instance_letter(index);
        all.lines
            .extend(output.lines.iter().map(|line| format!("{letter}: {line}")));
        all.total_lines += output.total_lines;
        all.total_bytes += output.total_bytes;
    }
    all
}

/// A restart for probes: stop the server in `slot`, start the same program on the same
/// port. A server that does not come back leaves the slot empty, with its output in the
/// error.
fn restarter(slot: Arc<Mutex<Option<Server>>>, launch: Launch, port: u16) -> probe::Restarter {
    Box::new(move || {
        let (slot, launch) = (slot.clone(), launch.clone());
        Box::pin(async move {
            let mut slot = slot.lock().await;
            if let Some(old) = slot.take() {
                old.stop().await;
            }
            match launch.start(Some(port)).await {
                Ok(server) => {
                    *slot = Some(server);
                    Ok(())
                }
                Err(failure) => {
                    let printed: Vec<String> = failure
                        .output
                        .lines
                        .iter()
                        .map(|line| format!("| {line}"))
                        .collect();
                    Err(format!("{} {}", failure.reason, printed.join(" ")))
                }
            }
        })
    })
}

/// The first sentence of a reason, to refer back to it.
fn short_reason(reason: Option<&str>) -> String {
    let reason = reason.unwrap_or("it did not listen");
    let first = reason
        .split(". ")
        .next()
        .unwrap_or(reason)
        .trim_end_matches('.');
    let mut chars = first.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
