//! What the tests that run Node share: where the Node scripts live, the check that the
//! npm package they need is installed at its pinned version, building the server crate
//! they drive, and showing that server's output when something fails.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use grader::compile::{self, Built, Prepared};
use grader::course::Course;
use grader::outcome::OutputTail;

/// The command that installs the Node packages (`./scripts/test` runs it).
pub const INSTALL: &str = "npm ci --prefix grader/tests/js";

pub fn js_dir() -> PathBuf {
    super::root().join("grader/tests/js")
}

/// The Node binary: `NODE` if set, else `node` on the PATH.
pub fn node() -> OsString {
    std::env::var_os("NODE").unwrap_or_else(|| "node".into())
}

/// Node runs, and `node_modules` holds the version of `package` that package.json pins.
pub fn check_node_package(package: &str) {
    let version = std::process::Command::new(node())
        .arg("--version")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run Node.js ({e}): these tests need Node 18+ and npm on the PATH (or \
                 NODE=/path/to/node), then `{INSTALL}` (./scripts/test does it)"
            )
        });
    assert!(version.status.success(), "`node --version` failed");

    let read_json = |path: &Path| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let pinned = read_json(&js_dir().join("package.json"))
        .and_then(|p| p["dependencies"][package].as_str().map(String::from))
        .unwrap_or_else(|| panic!("grader/tests/js/package.json pins {package}"));
    let installed = read_json(&js_dir().join(format!("node_modules/{package}/package.json")))
        .and_then(|p| p["version"].as_str().map(String::from))
        .unwrap_or_else(|| {
            panic!(
                "{package} is not installed in grader/tests/js/node_modules: run \
                 `{INSTALL}` (./scripts/test does it before the tests)"
            )
        });
    assert_eq!(
        installed, pinned,
        "grader/tests/js/node_modules holds {package} {installed}, package.json pins \
         {pinned}: run `{INSTALL}`"
    );
}

/// Builds the crate in `dir` (relative to the course root) with the grader's own build
/// code, so `CARGO_TARGET_DIR` and the scratch copy of non-members work as in grading.
pub async fn build(stage: &str, dir: &str, package: &str) -> (Prepared, Built) {
    let course = Course {
        root: super::root(),
    };
    let dir = course.root.join(dir);
    let prepared = compile::prepare(&course, &dir, stage)
        .await
        .unwrap_or_else(|e| panic!("cannot prepare {}: {e:#}", dir.display()));
    let (build, built) = compile::build(&prepared, package, package, false, &|_| {})
        .await
        .unwrap_or_else(|e| panic!("cannot build {package}: {e:#}"));
    let Some(built) = built else {
        panic!(
            "{package} does not build: {}\n{}",
            build.summary.unwrap_or_default(),
            build.errors
        );
    };
    (prepared, built)
}

/// The server's last lines, saying how many earlier ones were left out.
pub fn show_tail(tail: &OutputTail) -> String {
    if tail.lines.is_empty() {
        return "(nothing)".into();
    }
    let mut text = tail.lines.join("\n");
    let shown = tail.lines.len() as u64;
    if tail.total_lines > shown {
        text = format!(
            "({} earlier lines left out)\n{text}",
            tail.total_lines - shown
        );
    }
    text
}
