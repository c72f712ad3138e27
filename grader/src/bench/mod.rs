//! `cargo grade bench STAGE`: how the learner's server performs under load, beside the
//! reference solution, measured by the same client in the same run.
//!
//! This module builds the servers and the load generator (`grader/loadgen`, a crate of
//! its own), starts each server with a fresh database, runs the load generator against
//! it as a separate process, and prints what it measured. [`limits`] raises the
//! open-files limit that every socket counts against; [`peer`] prepares the Node.js
//! peer, for comparing with the JavaScript stack.
//!
//! Everything is built with optimisations (a debug build measures the compiler's debug
//! code, not the program), and the servers are measured one after the other, never at
//! once. The load generator runs on one thread of its own process, so that it can never
//! take more than one core from the server, and its CPU time is measured apart.

pub mod limits;
pub mod peer;

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Result, bail};
use loadgen::figures::{self, Figures};
use loadgen::{Job, Pids, Plan};
use serde::Serialize;

use crate::catalogue::Stage;
use crate::commands::{UsageError, check_crate_dir, find_stage, load};
use crate::compile::{self, Prepared};
use crate::course::Course;
use crate::database::{self, Mongo};
use crate::server::Server;
use crate::{grade, process, redis};

/// Where the load generator's crate is, relative to the course.
const LOADGEN_DIR: &str = "grader/loadgen";
/// Where socketioxide's floor is: the least server that takes the bench's load.
const FLOOR_DIR: &str = "fixtures/peers/socketioxide-floor";

/// What `cargo grade bench` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub stage: String,
    pub path: Option<PathBuf>,
    pub clients: usize,
    pub in_flight: usize,
    pub loop_time: Duration,
    pub debug: bool,
    pub node: bool,
    pub floor: bool,
    pub reference: bool,
    pub json: bool,
}

/// A server to measure: a program, where it runs, and what it is called in the table.
struct Target {
    label: String,
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

/// The whole run, as `--format json` prints it.
#[derive(Serialize)]
struct Run<'a> {
    stage: &'a str,
    clients: usize,
    in_flight: usize,
    loop_seconds: f64,
    rounds: usize,
    release: bool,
    file_limit: &'a str,
    database: &'a str,
    targets: &'a [Figures],
}

/// `cargo grade bench STAGE [--path DIR] …`
pub async fn run(options: Options) -> Result<ExitCode> {
    let (course, catalogue) = load()?;
    let stage = find_stage(&catalogue, &options.stage)?;
    if !stage.bench {
        let benched: Vec<&str> = catalogue
            .stages
            .iter()
            .filter(|s| s.bench)
            .map(|s| s.id.as_str())
            .collect();
        return Err(UsageError(format!(
            "Stage {} cannot be benchmarked: the bench logs a user in and loads their \
             sockets, which needs stage 10's accounts. Stages it can load: {}.",
            stage.id,
            benched.join(", ")
        ))
        .into());
    }
    let dir = options
        .path
        .clone()
        .unwrap_or_else(|| course.exercise_dir(stage));
    check_crate_dir(stage, &dir)?;
    let say = |line: &str| eprintln!("{line}");
    let (plan, limit_note) = plan_within_file_limit(&options);

    let profile = if options.debug { "debug" } else { "release" };
    let release = !options.debug;
    // The builds' scratch folders stay locked, and so their binaries valid, until the end.
    let mut prepared = Vec::new();
    let mut targets = Vec::new();
    say(&format!("building {} ({profile})…", course.display(&dir)));
    match build(&course, stage, &dir, release).await? {
        Ok((lock, exe)) => {
            prepared.push(lock);
            targets.push(Target {
                label: if options.path.is_some() {
                    "this server"
                } else {
                    "your server"
                }
                .into(),
                exe,
                dir: dir.clone(),
                env: Vec::new(),
            });
        }
        Err(problem) => {
            eprintln!("{problem}");
            return Ok(ExitCode::from(1));
        }
    }
    say(&format!("building the load generator ({profile})…"));
    let (lock, loadgen) = build_loadgen(&course, release).await?;
    prepared.push(lock);
    let reference = course.solution_dir(stage);
    let same = dir.canonicalize().ok() == reference.canonicalize().ok();
    // The course's own servers: a failure to build is the course's bug, not the learner's.
    let ours = [
        (options.reference && !same, reference, "reference solution"),
        (
            options.floor,
            course.root.join(FLOOR_DIR),
            "socketioxide floor",
        ),
    ];
    for (wanted, dir, label) in ours {
        if !wanted {
            continue;
        }
        say(&format!("building {} ({profile})…", course.display(&dir)));
        match build(&course, stage, &dir, release).await? {
            Ok((lock, exe)) => {
                prepared.push(lock);
                targets.push(Target {
                    label: label.into(),
                    exe,
                    dir,
                    env: Vec::new(),
                });
            }
            Err(problem) => bail!("the {label} does not build: {problem}"),
        }
    }
    if options.node {
        let script = peer::prepare(&course.root, &say)
            .await
            .map_err(|e| UsageError(format!("{e:#}")))?;
        targets.extend(node_targets(&course, &script));
    }

    let mongo = database::shared(&course.root, &say).await.map_err(|e| {
        UsageError(format!(
            "stage {} keeps its data in MongoDB, and the bench has none: {e:#}",
            stage.id
        ))
    })?;
    let mut all = Vec::new();
    for target in &targets {
        say(&format!(
            "measuring {} ({} sockets)…",
            target.label,
            figures::thousands(plan.clients as u64)
        ));
        all.push(measure(&course, stage, target, &loadgen, mongo, &plan).await?);
    }

    let learner_failed = all.first().is_some_and(|f| !f.problems.is_empty());
    if options.json {
        let run = Run {
            stage: &stage.id,
            clients: plan.clients,
            in_flight: plan.in_flight,
            loop_seconds: plan.loop_time.as_secs_f64(),
            rounds: plan.rounds,
            release: !options.debug,
            file_limit: &limit_note,
            database: &mongo.origin,
            targets: &all,
        };
        println!("{}", serde_json::to_string_pretty(&run)?);
    } else {
        print!(
            "{}",
            render(stage, &plan, &limit_note, &mongo.origin, profile, &all)
        );
    }
    Ok(if learner_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The plan asked for, with as many sockets as the open-files limit allows (and a note
/// on that limit for the report). Both sides of every socket are processes of this
/// machine: the load generator and the server each hold one descriptor per socket, plus
/// the refusal loop's handshakes.
fn plan_within_file_limit(options: &Options) -> (Plan, String) {
    let want = (options.clients + options.in_flight + 64) as u64;
    let limit = limits::raise_file_limit(want);
    let mut plan = Plan {
        clients: options.clients,
        in_flight: options.in_flight,
        loop_time: options.loop_time,
        rounds: 5,
    };
    let mut note = limit.note.clone();
    let fit = limit
        .sockets()
        .saturating_sub(options.in_flight as u64 + 64) as usize;
    if fit < plan.clients {
        note.push_str(&format!(
            "; so the bench holds {fit} sockets instead of {}",
            plan.clients
        ));
        plan.clients = fit.max(1);
    }
    (plan, note)
}

/// The Node.js peer, with its sessions in MongoDB and in memory.
fn node_targets(course: &Course, script: &Path) -> Vec<Target> {
    [
        ("mongo", "Node.js, sessions in MongoDB"),
        ("memory", "Node.js, sessions in memory"),
    ]
    .into_iter()
    .map(|(store, label)| Target {
        label: label.into(),
        exe: script.to_path_buf(),
        dir: course.root.join(peer::DIR),
        env: vec![
            (peer::STORE_VAR.into(), store.into()),
            // A line per socket that comes and goes, as the Rust servers print: the
            // same work on both sides.
            (peer::LOG_VAR.into(), "1".into()),
        ],
    })
    .collect()
}

/// Builds a crate; `Ok(Err(why))` when it does not compile (the learner's problem).
async fn build(
    course: &Course,
    stage: &Stage,
    dir: &Path,
    release: bool,
) -> Result<Result<(crate::compile::Prepared, PathBuf), String>> {
    let progress = |_: &str| {};
    let (prepared, outcome, built) =
        grade::build_binary(course, stage, dir, release, &progress).await?;
    Ok(match built {
        Some(built) => Ok((prepared, built.exe)),
        None => {
            let own = dir.canonicalize().ok() == course.exercise_dir(stage).canonicalize().ok();
            let path = if own {
                String::new()
            } else {
                format!(" --path {}", course.display(dir))
            };
            Err(format!(
                "{} does not build: {}\n{}\nRun `cargo grade check {}{path}` to see what to fix.",
                course.display(dir),
                outcome.summary.unwrap_or_default(),
                outcome.errors,
                &stage.id[..2]
            ))
        }
    })
}

/// Builds the load generator; its binary stays valid while the `Prepared` lives.
async fn build_loadgen(course: &Course, release: bool) -> Result<(Prepared, PathBuf)> {
    let dir = course.root.join(LOADGEN_DIR);
    let prepared = compile::prepare(course, &dir, "loadgen").await?;
    let (outcome, built) =
        compile::build(&prepared, "loadgen", "loadgen", release, &|_| {}).await?;
    match built {
        Some(built) => Ok((prepared, built.exe)),
        None => bail!(
            "the load generator ({LOADGEN_DIR}) does not build: {}\n{}",
            outcome.summary.unwrap_or_default(),
            outcome.errors
        ),
    }
}

/// Starts one target with a fresh database, measures it, stops it.
async fn measure(
    course: &Course,
    stage: &Stage,
    target: &Target,
    loadgen: &Path,
    mongo: &Mongo,
    plan: &Plan,
) -> Result<Figures> {
    let db = mongo.fresh_name();
    let mut env = target.env.clone();
    env.push((database::MONGO_URI_VAR.into(), mongo.uri_for(&db)));
    let _redis = if stage.redis {
        // No Redis is the machine's problem, as when grading: the same usage error.
        let redis = redis::shared(&course.target_dir().join("grader"))
            .await
            .map_err(|e| grade::redis_missing(stage, e))?;
        let instance = redis
            .instance()
            .await
            .map_err(|e| grade::redis_missing(stage, e))?;
        env.push((redis::REDIS_URL_VAR.into(), instance.url().to_string()));
        Some(instance)
    } else {
        None
    };
    let listen = Duration::from_millis(stage.listen_timeout_ms.max(5_000));
    let mut figures = match Server::start(&target.exe, &target.dir, None, &env, listen).await {
        Ok(server) => {
            let job = Job {
                port: server.port,
                pids: Pids {
                    server: server.pid().unwrap_or(0),
                    database: mongo.pid,
                },
                plan: plan.clone(),
                target: target.label.clone(),
            };
            let measured = run_loadgen(loadgen, &job).await;
            let output = server.stop().await;
            let mut figures = measured.unwrap_or_else(|problem| Figures {
                clients: plan.clients,
                problems: vec![problem],
                ..Figures::default()
            });
            if !figures.problems.is_empty() {
                figures
                    .problems
                    .extend(output.lines.iter().map(|l| format!("| {l}")));
            }
            figures
        }
        Err(failure) => {
            let mut figures = Figures {
                clients: plan.clients,
                ..Figures::default()
            };
            figures.problems.push(failure.reason);
            figures
                .problems
                .extend(failure.output.lines.iter().map(|l| format!("| {l}")));
            figures
        }
    };
    figures.target = target.label.clone();
    mongo.drop_database(&db).await;
    Ok(figures)
}

/// Runs the load generator on `job`, bounded in time, and reads its figures. Its stderr
/// (one line per phase) goes straight to the user's terminal.
async fn run_loadgen(loadgen: &Path, job: &Job) -> Result<Figures, String> {
    // Each phase has a deadline of its own; this is the sum, with room to spare.
    let limit = Duration::from_secs(180)
        + 2 * job.plan.loop_time
        + Duration::from_millis(8 * job.plan.clients as u64);
    let json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let mut cmd = tokio::process::Command::new(loadgen);
    cmd.arg(json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let (child, _group) = process::spawn(&mut cmd)
        .map_err(|e| format!("cannot start the load generator {}: {e}", loadgen.display()))?;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("the load generator failed: {e}")),
        Err(_) => {
            return Err(format!(
                "the load generator did not finish within {} s and was stopped",
                limit.as_secs()
            ));
        }
    };
    if !output.status.success() {
        return Err(format!(
            "the load generator exited with {}",
            crate::server::describe_exit(output.status)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("the load generator's figures are not readable: {e}"))
}

/// The human report: what was run, the table, where the CPU went, what went wrong.
fn render(
    stage: &Stage,
    plan: &Plan,
    limit: &str,
    database: &str,
    profile: &str,
    all: &[Figures],
) -> String {
    let mut out = format!(
        "\nBench of {}: {} sockets held at once, {} handshakes in flight, {} s loops, \
         {profile} builds.\n{limit}.\nDatabase: {database}.\n\n",
        stage.id,
        figures::thousands(plan.clients as u64),
        plan.in_flight,
        plan.loop_time.as_secs_f64()
    );
    out.push_str(&figures::render(all));
    out.push('\n');
    for f in all {
        out.push_str(&figures::render_cpu(f));
    }
    for f in all.iter().filter(|f| !f.problems.is_empty()) {
        out.push_str(&format!("\nWhat went wrong with {}:\n", f.target));
        for p in &f.problems {
            out.push_str(&format!("  {p}\n"));
        }
    }
    out.push_str("\nHow the figures are measured and how to read them: book/src/performance.md\n");
    out
}
