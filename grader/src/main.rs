//! `cargo grade`: see `grader/src/lib.rs` for a tour of the modules.
//!
//! Exit codes: 0 every hint passes; 1 some hint fails (or the crate does not build);
//! 2 the request was wrong (unknown stage, missing folder); 3 the grader itself failed.

use std::process::ExitCode;

use clap::Parser;
use grader::cli::{BenchFormat, Cli, Command, DevCommand};
use grader::commands::{self, UsageError};
use grader::{book, process, reset, watch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("grader error: could not start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        // `watch` handles Ctrl-C itself: it must give the terminal back before it exits.
        if !matches!(cli.command, Some(Command::Watch { .. })) {
            tokio::spawn(process::exit_on_interrupt());
        }
        match cli.command {
            None => commands::default().await,
            Some(Command::Check {
                stage,
                path,
                format,
            }) => commands::check(&stage, path, format).await,
            Some(Command::List) => commands::list(),
            Some(Command::Watch { stage, manual }) => watch::run(stage.as_deref(), manual).await,
            Some(Command::Reset { stage, yes, from }) => reset::run(&stage, yes, from.as_deref()),
            Some(Command::Hint { stage }) => commands::hint(stage.as_deref()).await,
            Some(Command::Bench {
                stage,
                path,
                clients,
                in_flight,
                seconds,
                debug,
                node,
                floor,
                no_reference,
                format,
            }) => {
                let options = grader::bench::Options {
                    stage,
                    path,
                    clients: clients as usize,
                    in_flight: in_flight as usize,
                    loop_time: std::time::Duration::from_secs(seconds),
                    debug,
                    node,
                    floor,
                    reference: !no_reference,
                    json: format == BenchFormat::Json,
                };
                grader::bench::run(options).await
            }
            Some(Command::Mongo { port }) => commands::mongo(port).await,
            Some(Command::Redis { port }) => commands::redis(port).await,
            Some(Command::Class {
                submissions,
                stage,
                jobs,
                out,
                format,
                force,
                shard,
                sandbox,
                max_processes,
                max_memory,
                max_disk,
                build_timeout,
            }) => {
                let options = grader::class::Options {
                    submissions,
                    stage,
                    jobs: jobs.map(usize::from),
                    out,
                    format,
                    force,
                    shard,
                    sandbox,
                    limits: grader::class::Limits {
                        processes: max_processes,
                        memory: max_memory << 20,
                        disk: max_disk << 20,
                        build_timeout: std::time::Duration::from_secs(build_timeout),
                        ..Default::default()
                    },
                };
                grader::class::run(options).await
            }
            Some(Command::Merge { out, dirs, format }) => grader::class::merge(out, dirs, format),
            Some(Command::Dev {
                command: DevCommand::Check { jobs },
            }) => grader::dev::check(jobs).await,
            Some(Command::MdbookPreprocessor { args }) => commands::load()
                .and_then(|(_, catalogue)| book::preprocess(&catalogue, &args))
                .map(|()| ExitCode::SUCCESS),
        }
    });
    grader::database::stop();
    process::kill_all();
    match result {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("grader error: {e:#}");
            eprintln!(
                "This is a fault in the grader, not in your code. Please report it with the command you ran."
            );
            ExitCode::from(3)
        }
    }
}
