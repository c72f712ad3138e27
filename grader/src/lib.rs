//! The course's grader, by phase.
//!
//! - [`catalogue`]: the stages and their hints, read from `grader/catalogue.toml`.
//! - [`checks`]: hints answered by reading the crate (its manifest, its sources).
//! - [`compile`]: building the crate, in place or in a scratch copy ([`fsops`]: copying,
//!   hashing and locking, shared with `class`).
//! - [`server`] and [`process`]: running the learner's server, bounded, and stopping
//!   everything it started.
//! - [`database`]: the MongoDB of stages 09–13 (the course's stand-in, started on
//!   first use, or `MONGO_URI`), a fresh database per graded server.
//! - [`redis`]: the Redis of stage 13 (`redis-server` started per live hint, or
//!   `REDIS_URL`), spoken to in RESP by the grader itself.
//! - [`probe`]: the live checks, built from reusable client steps.
//! - [`grade`]: one stage checkout through all of the above, into an [`outcome`].
//! - [`report`]: the outcome for people (a hint list) and machines (JSON, JUnit, TAP).
//! - [`commands`], [`progress`], [`dev`], [`book`]: what the command line offers.
//! - [`watch`]: `cargo grade watch`, grading again on every save (file events and keys
//!   on threads of their own, feeding one loop that owns the grading and the screen).
//! - [`class`]: `cargo grade class` and `merge`, for instructors: a whole class graded a
//!   few submissions at a time, into a summary table and reports for people, spreadsheets,
//!   CI and GitHub Classroom.
//! - [`bench`]: `cargo grade bench`, the learner's server under load beside the
//!   reference solution (and the Node.js peer), with a load generator of its own.
//! - [`reset`]: `cargo grade reset`, a stage's starter restored from the course's git
//!   history, the learner's version kept in `.backup/`.

pub mod bench;
pub mod book;
pub mod catalogue;
pub mod checks;
pub mod class;
pub mod cli;
pub mod commands;
pub mod compile;
pub mod course;
pub mod database;
pub mod dev;
pub mod fsops;
pub mod grade;
pub mod outcome;
pub mod probe;
pub mod process;
pub mod progress;
pub mod redis;
pub mod report;
pub mod reset;
pub mod server;
pub mod watch;
