//! The load generator of `cargo grade bench`: thousands of Socket.IO clients on one
//! thread, in a process of its own, so that what it costs the machine is measured apart
//! from the server it loads (and from the grader, which is built without optimisations).
//!
//! - [`phases`]: what is measured, in order, each phase bounded in time; [`storms`], the
//!   two phases that open connections in bulk without the fleet (refusals, polling);
//! - [`fleet`]: the N sockets held at once, one small task each;
//! - [`sio`] and [`wire`]: the lean Socket.IO client they speak through;
//! - [`account`]: the bench's user (register, log in, log out);
//! - [`system`]: memory and CPU time of a process, from the kernel;
//! - [`figures`]: the results, which the grader prints as a table or JSON.
//!
//! The grader starts `loadgen JOB` with the [`Job`] as JSON, and reads the [`Figures`]
//! it prints as JSON on stdout; progress goes to stderr.

pub mod account;
pub mod figures;
pub mod fleet;
pub mod phases;
pub mod sio;
pub mod storms;
pub mod system;
pub mod wire;

use serde::{Deserialize, Serialize};

pub use figures::Figures;
pub use phases::{Pids, Plan};

/// One server to measure, as the grader hands it over.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The server listens on `127.0.0.1:port`.
    pub port: u16,
    pub pids: Pids,
    pub plan: Plan,
    /// What the table calls it.
    pub target: String,
}
