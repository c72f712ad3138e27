//! The Node.js peer (`fixtures/peers/node-passport/`): the same contract as stage 10,
//! written the way Socket.IO's Passport.js guide does it, so that `cargo grade bench
//! --node` can put the Rust servers' figures beside Node's, measured by the same
//! client in the same run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process;

/// Where the peer lives in the course, and its entry point (executable, `#!/usr/bin/env
/// node`), which the bench starts like any server.
pub const DIR: &str = "fixtures/peers/node-passport";
pub const SCRIPT: &str = "server.mjs";
/// The environment variable that picks the peer's session store.
pub const STORE_VAR: &str = "SESSION_STORE";
/// The environment variable that has the peer print a line per socket.
pub const LOG_VAR: &str = "LOG_SOCKETS";
/// The longest `npm ci` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);

/// The peer's entry point, its packages installed (`npm ci`, once; again when the
/// lockfile changes).
pub async fn prepare(root: &Path, say: &(dyn Fn(&str) + Sync)) -> Result<PathBuf> {
    let dir = root.join(DIR);
    let script = dir.join(SCRIPT);
    if !script.is_file() {
        bail!(
            "the Node.js peer is missing: {} is not there",
            script.display()
        );
    }
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {DIR}/package-lock.json"))?;
    let stamp = dir.join("node_modules/.installed");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        say(&format!(
            "installing the Node.js peer's packages (npm ci in {DIR})…"
        ));
        let mut cmd = tokio::process::Command::new("npm");
        cmd.args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let (child, _group) = process::spawn(&mut cmd).context(
            "running npm (the Node.js peer needs Node.js 18 or newer and npm on the PATH)",
        )?;
        let output = tokio::time::timeout(INSTALL_TIMEOUT, child.wait_with_output())
            .await
            .context("npm ci took more than 5 minutes")??;
        if !output.status.success() {
            bail!(
                "npm ci in {DIR} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        std::fs::write(&stamp, &lock).context("writing node_modules/.installed")?;
    }
    Ok(script)
}
