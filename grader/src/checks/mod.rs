//! Static checks: the hints answered by reading the learner's crate, without running it.
//!
//! `manifest` answers dependency hints from cargo's own reading of `Cargo.toml`;
//! `pattern` answers pattern hints from the sources with comments and literals removed.

pub mod manifest;
pub mod pattern;
