//! The command line, as clap derives it: doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
