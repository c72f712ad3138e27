//! Dependency hints, answered from the real manifest.
//!
//! Cargo itself reads the learner's `Cargo.toml` (`cargo metadata --no-deps`), so
//! everything cargo understands is understood here too: `workspace = true`
//! inheritance, renamed packages (`tk = { package = "tokio" }`), features declared in
//! the workspace and in the crate, dev- and build-dependencies kept apart. A regex over
//! the file would get all of these wrong sooner or later.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use crate::catalogue::Hint;
use crate::outcome::HintOutcome;
use crate::process::cargo;

/// What the grader needs from a crate's manifest, as cargo resolved it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub package: String,
    pub dependencies: Vec<Dependency>,
    /// Names of the crate's binary targets.
    pub bins: Vec<String>,
    pub default_run: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    /// The real package name, whatever the crate calls it.
    pub name: String,
    pub rename: Option<String>,
    /// `None` for a normal dependency, `Some("dev")` or `Some("build")` otherwise.
    pub kind: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: String,
    dependencies: Vec<Dependency>,
    targets: Vec<Target>,
    default_run: Option<String>,
}

#[derive(Deserialize)]
struct Target {
    name: String,
    kind: Vec<String>,
}

/// Asks cargo for the manifest at `manifest`. The error is cargo's own message (it names
/// the line of a syntax error); the report shows it with the build.
pub async fn read(manifest: &Path) -> Result<Manifest, String> {
    let mut cmd = tokio::process::Command::new(cargo());
    cmd.args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--offline",
        "--manifest-path",
    ])
    .arg(manifest)
    .stdin(Stdio::null())
    .kill_on_drop(true);
    let output = match tokio::time::timeout(Duration::from_secs(60), cmd.output()).await {
        Err(_) => return Err("`cargo metadata` did not answer within 60 s.".into()),
        Ok(Err(e)) => return Err(format!("could not run cargo: {e}")),
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(stderr.trim_end().to_string());
    }
    let metadata: Metadata = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("could not understand `cargo metadata`'s answer: {e}"))?;
    let wanted = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let package = metadata
        .packages
        .into_iter()
        .find(|p| Path::new(&p.manifest_path) == wanted)
        .ok_or_else(|| format!("cargo found no package at {}", manifest.display()))?;
    let bins = package
        .targets
        .iter()
        .filter(|t| t.kind.iter().any(|k| k == "bin"))
        .map(|t| t.name.clone())
        .collect();
    Ok(Manifest {
        package: package.name,
        dependencies: package.dependencies,
        bins,
        default_run: package.default_run,
    })
}

/// Grades one dependency hint against a manifest (or the reason it could not be read).
pub fn check(
    hint: &Hint,
    krate: &str,
    features: &[String],
    manifest: &Result<Manifest, String>,
) -> HintOutcome {
    let manifest = match manifest {
        Ok(manifest) => manifest,
        Err(_) => {
            return HintOutcome::fail(
                hint,
                "Cargo could not read Cargo.toml, so its dependencies are unknown (cargo's error is \
                 shown above).",
            );
        }
    };
    let declared: Vec<&Dependency> = manifest
        .dependencies
        .iter()
        .filter(|d| d.name == krate)
        .collect();
    let Some(dep) = declared.iter().find(|d| d.kind.is_none()) else {
        return match declared.first().and_then(|d| d.kind.as_deref()) {
            Some(kind) => HintOutcome::fail(
                hint,
                format!(
                    "`{krate}` is only a {kind}-dependency; your server needs it under [dependencies]."
                ),
            ),
            None => HintOutcome::fail(
                hint,
                format!("Cargo.toml has no `{krate}` under [dependencies]."),
            ),
        };
    };
    let missing: Vec<&str> = features
        .iter()
        .filter(|f| !dep.features.contains(f))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return HintOutcome::fail(
            hint,
            format!(
                "`{krate}` is a dependency, but without the feature(s): {}.",
                missing.join(", ")
            ),
        );
    }
    HintOutcome::pass(hint)
}
