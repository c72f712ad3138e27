//! The course site builds with mdBook, with the hint tables filled in from the
//! catalogue by the grader's preprocessor, and its internal links resolve.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn mdbook() -> PathBuf {
    let path = std::env::var_os("MDBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::root().join(".tools/bin/mdbook"));
    assert!(
        path.is_file(),
        "mdbook is not installed at {}: run ./scripts/test, which installs it",
        path.display()
    );
    path
}

fn html_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            html_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "html") {
            out.push(path);
        }
    }
}

#[test]
fn book_builds_with_hints_from_the_catalogue_and_links_resolve() {
    let out = common::temp_dir("book");
    let preprocessor = format!("{} mdbook-preprocessor", env!("CARGO_BIN_EXE_grader"));
    let output = Command::new(mdbook())
        .args(["build", "--dest-dir"])
        .arg(&out)
        .arg(common::root().join("book"))
        .env("MDBOOK_PREPROCESSOR__HINTS__COMMAND", &preprocessor)
        .env("COURSE_ROOT", common::root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mdbook build failed:\n{stderr}");
    assert!(
        !stderr.contains("WARN") && !stderr.contains("ERROR"),
        "mdbook warned:\n{stderr}"
    );

    let catalogue = grader::catalogue::Catalogue::load(Some(&common::root())).unwrap();
    for stage in &catalogue.stages {
        // mdBook's smart punctuation turns `'` into `’`; the sentence is the same.
        let page = std::fs::read_to_string(out.join(format!("{}.html", stage.id)))
            .unwrap()
            .replace('’', "'");
        assert!(
            !page.contains("{{#hints"),
            "{}: the marker was not replaced",
            stage.id
        );
        for hint in &stage.hints {
            // The sentence up to its first backtick, as HTML keeps it verbatim.
            let plain = hint.text.split('`').next().unwrap();
            assert!(
                page.contains(plain),
                "{}: hint `{}` missing from the page",
                stage.id,
                hint.id
            );
        }
    }

    let mut pages = Vec::new();
    html_files(&out, &mut pages);
    let href = regex::Regex::new(r##"href="([^"#:]+\.html)(#[^"]*)?""##).unwrap();
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for caps in href.captures_iter(&text) {
            let target = page.parent().unwrap().join(&caps[1]);
            if !target.is_file() {
                broken.push(format!(
                    "{} -> {}",
                    page.strip_prefix(&out).unwrap().display(),
                    &caps[1]
                ));
            }
        }
    }
    assert!(broken.is_empty(), "broken internal links: {broken:#?}");
}
