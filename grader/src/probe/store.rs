//! Probes of stage 09 (filled in by the stage's work).

use super::{Ctx, Step};

/// `Some` when `name` is a probe of this module: whether `params` suit it.
pub fn validate(name: &str, params: &toml::Table) -> Option<anyhow::Result<()>> {
    let _ = (name, params);
    None
}

/// `Some` when `name` is a probe of this module: its verdict.
pub async fn run(name: &str, params: &toml::Table, ctx: &Ctx) -> Option<Step<()>> {
    let _ = (name, params, ctx);
    None
}
