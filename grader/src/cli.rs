//! The command line, as clap derives it: doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::class::{ClassFormat, Limits, SandboxMode, Shard};
use crate::report::Format;

/// Grades your work on the course, stage by stage.
///
/// With no command: shows your progress and grades your current stage (the first one
/// not passing yet).
#[derive(Parser)]
#[command(name = "cargo grade", bin_name = "cargo grade", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Grade one stage: every hint, pass or fail, and what to do next.
    Check {
        /// Stage id, number or prefix: `01-tcp-echo`, `01`, `1` or `01-tcp`.
        stage: String,
        /// Grade the crate in this folder instead of `exercises/STAGE` (a solution, a
        /// fixture, another checkout). It is copied first, never modified.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Show every stage, which ones you have passed, and how many hints passed when each
    /// was last graded.
    List,
    /// Grade your current stage (or STAGE), then again every time you save a file of it.
    ///
    /// Keys: `h` the first failing hint in full, `l` the list of stages, `r` grade again,
    /// `q` quit. When every hint passes, it shows where the reference solution is and moves
    /// on to the next stage.
    Watch {
        /// Stage id, number or prefix; defaults to your current stage.
        stage: Option<String>,
        /// Grade again when you press Enter instead of on every save, for file systems
        /// that do not report changes (some network and container mounts).
        #[arg(long)]
        manual: bool,
    },
    /// Put a stage's starter back, keeping a backup of your version.
    ///
    /// The starter comes from the course's git history: the last commit that changed
    /// `exercises/STAGE` made by whoever first added it (the course's authors, not you).
    Reset {
        /// Stage id, number or prefix: `08`, `08-…`.
        stage: String,
        /// Reset without asking first.
        #[arg(long, short)]
        yes: bool,
        /// Take the starter from this git revision instead (a commit, tag or branch,
        /// e.g. `origin/main`).
        #[arg(long, value_name = "REV")]
        from: Option<String>,
    },
    /// Explain the first hint of your current stage (or of STAGE) that does not pass.
    Hint {
        /// Stage id, number or prefix; defaults to your current stage.
        stage: Option<String>,
    },
    /// Load your server with many logged-in sockets and compare it with the reference
    /// solution, figure by figure (stages 10-13).
    ///
    /// Both are built optimised and measured one after the other, by a load generator
    /// on one thread of its own: connections per second and their latency over
    /// WebSocket and polling, memory per socket, `whoami` acks per second, the time
    /// for an event to a user's room to reach all sockets, for a logout to disconnect
    /// its session's sockets, and handshakes without a session refused per second.
    /// book/src/performance.md explains the method and the figures.
    Bench {
        /// Stage id, number or prefix: `10`, `10-login-logout`.
        stage: String,
        /// Load the crate in this folder instead of `exercises/STAGE`.
        #[arg(long, value_name = "DIR")]
        path: Option<PathBuf>,
        /// How many sockets connect and stay connected at once.
        #[arg(long, value_name = "N", default_value_t = 5000,
              value_parser = clap::value_parser!(u32).range(1..=200_000))]
        clients: u32,
        /// How many handshakes are under way at once while they connect (and how many
        /// clients try handshakes without a session at once).
        #[arg(long, value_name = "N", default_value_t = 256,
              value_parser = clap::value_parser!(u32).range(1..=4096))]
        in_flight: u32,
        /// How long the `whoami` loop and the refusal loop each run, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 5,
              value_parser = clap::value_parser!(u64).range(1..=120))]
        seconds: u64,
        /// Build without optimisations: quicker to build, but the figures then measure
        /// the compiler's debug code (for trying the bench out, not for comparing).
        #[arg(long)]
        debug: bool,
        /// Also measure the Node.js peer (fixtures/peers/node-passport: Socket.IO,
        /// express-session and Passport), with sessions in MongoDB and in memory.
        /// Needs Node.js 18+ and npm.
        #[arg(long)]
        node: bool,
        /// Also measure socketioxide's floor (fixtures/peers/socketioxide-floor): a
        /// server that does only what the bench asks, with no accounts or sessions,
        /// so that the figures show what socketioxide itself costs.
        #[arg(long)]
        floor: bool,
        /// Do not measure the reference solution.
        #[arg(long)]
        no_reference: bool,
        /// Output format: the table, or every figure as JSON.
        #[arg(long, value_enum, default_value_t = BenchFormat::Text)]
        format: BenchFormat,
    },
    /// Run the course's MongoDB stand-in in the foreground, for running the servers of
    /// stages 09-13 by hand (`cargo run`). Installs it first if needed; Ctrl-C stops it.
    /// (Grading needs none of this: the grader starts its own.)
    Mongo {
        /// The port to listen on (the servers' default `MONGO_URI` uses 27017).
        #[arg(long, default_value_t = 27017)]
        port: u16,
    },
    /// Run a Redis (Debian's redis-server, nothing saved to disk) in the foreground, for
    /// running two servers of stage 13 by hand. Ctrl-C stops it. (Grading needs none of
    /// this: the grader starts its own.)
    Redis {
        /// The port to listen on (the servers' default `REDIS_URL` uses 6379).
        #[arg(long, default_value_t = 6379)]
        port: u16,
    },
    /// For instructors: grade every submission of a class, a few at a time.
    ///
    /// Prints a table of who passed which hint, and writes to OUT a report per submission
    /// (text and JSON), summary.csv, junit.xml, points for GitHub Classroom and run.json.
    /// A submission whose sources did not change since the last run into OUT is not
    /// graded again. One submission's error never stops the others. Exit code 0 once
    /// every submission has its result, whatever the results.
    Class {
        /// A folder whose subfolders are the submissions, or a text file listing their
        /// folders (one per line, relative to the file; `#` starts a comment line). A
        /// submission is a copy of the course (its `exercises/STAGE` is graded) or a
        /// stage crate on its own.
        submissions: PathBuf,
        /// The stage to grade (id, number or prefix), or `all`: every stage each
        /// submission has (a lone crate is matched to a stage by its package name).
        #[arg(long, value_name = "STAGE|all")]
        stage: String,
        /// How many submissions to grade at once [default: the number of CPUs, at most 4].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: Option<u16>,
        /// Where the reports go; created if needed.
        #[arg(long, value_name = "DIR", default_value = "grades")]
        out: PathBuf,
        /// What to print at the end: the summary table, or the run's record as JSON.
        #[arg(long, value_enum, default_value_t = ClassFormat::Text)]
        format: ClassFormat,
        /// Grade every submission again, even those unchanged since the last run.
        #[arg(long)]
        force: bool,
        /// Grade only share K of N (say `2/4`), to split a class across machines: the
        /// submissions, sorted by name, are dealt out in turn. Combine the shards' OUT
        /// folders with `cargo grade merge`.
        #[arg(long, value_name = "K/N")]
        shard: Option<Shard>,
        /// Grade each submission in a sandbox (bubblewrap, as root): loopback-only
        /// network, the system read-only, your home and the other submissions hidden,
        /// the limits below. `auto` grades without one when this machine has none, and
        /// every report then says so.
        #[arg(long, value_enum, default_value_t = SandboxMode::Auto)]
        sandbox: SandboxMode,
        /// Sandbox: the most processes (and threads) one grading may run at once.
        #[arg(long, value_name = "N", default_value_t = Limits::default().processes,
              value_parser = clap::value_parser!(u64).range(16..))]
        max_processes: u64,
        /// Sandbox: the most memory one grading may use, in MiB.
        #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory >> 20,
              value_parser = clap::value_parser!(u64).range(256..))]
        max_memory: u64,
        /// Sandbox: the most one grading may write (its build included), in MiB.
        #[arg(long, value_name = "MIB", default_value_t = Limits::default().disk >> 20,
              value_parser = clap::value_parser!(u64).range(64..))]
        max_disk: u64,
        /// The longest one submission's build may take, in seconds (a build script or
        /// macro that loops is stopped and reported as an error).
        #[arg(long, value_name = "SECS", default_value_t = Limits::default().build_timeout.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        build_timeout: u64,
    },
    /// For instructors: combine the OUT folders of the shards of a class into one.
    ///
    /// OUT gets the same files a single `cargo grade class` run over the whole class
    /// writes, and the summary table is printed. The runs must have graded the same stage with the same grader and catalogue. A
    /// submission found in two folders is reported, and the first folder's result kept.
    Merge {
        /// Where the combined reports go; created if needed.
        out: PathBuf,
        /// The OUT folders of the runs to combine.
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// What to print at the end: the summary table, or the merged record as JSON.
        #[arg(long, value_enum, default_value_t = ClassFormat::Text)]
        format: ClassFormat,
    },
    /// Commands for the people who maintain the course.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
    /// Run as an mdBook preprocessor (book/book.toml calls this).
    #[command(hide = true)]
    MdbookPreprocessor {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `cargo grade bench --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum DevCommand {
    /// Self-test: patterns compile, starters fail every hint, solutions pass every hint,
    /// fixtures produce their recorded reports.
    Check {
        /// How many checkouts to grade at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
    },
}
