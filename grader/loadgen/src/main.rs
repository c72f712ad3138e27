//! `loadgen JOB`: measures the server that `JOB` (JSON, see `loadgen::Job`) names and
//! prints its figures as JSON. The grader runs it; see `cargo grade bench --help`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(text) = std::env::args().nth(1) else {
        eprintln!("usage: loadgen JOB (a JSON job, as `cargo grade bench` passes it)");
        return ExitCode::from(2);
    };
    let job: loadgen::Job = match serde_json::from_str(&text) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("loadgen: the job is not valid JSON for this version: {e}");
            return ExitCode::from(2);
        }
    };
    // One thread: the load generator can never take more than one core from the server.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let figures = runtime.block_on(loadgen::phases::measure(
        job.port,
        job.pids,
        &job.plan,
        &job.target,
    ));
    match serde_json::to_string(&figures) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: cannot encode the figures: {e}");
            ExitCode::from(3)
        }
    }
}
