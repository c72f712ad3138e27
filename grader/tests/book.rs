//! The course site builds with mdBook, with the hint tables filled in from the
//! catalogue by the grader's preprocessor; its internal links resolve, to the page and
//! to the heading they name; and every image a page shows is there, while every image
//! under `book/src/images/` is shown by some page.

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
    // The site has a search box: mdbook writes its index only when search is built in.
    let has_index = std::fs::read_dir(&out).unwrap().any(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.starts_with("searchindex") && name.ends_with(".js")
    });
    assert!(
        has_index,
        "no search index in the built book: is mdbook built with `search`?"
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
    let href = regex::Regex::new(r##"href="([^"#:]+\.html)(?:#([^"]*))?""##).unwrap();
    // Images, scripts and the like; not `data:` or external ones (they have a `:`).
    let src = regex::Regex::new(r##"src="([^"#:?]+)"##).unwrap();
    let mut broken = Vec::new();
    let mut missing = Vec::new();
    let mut shown = std::collections::BTreeSet::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let name = page.strip_prefix(&out).unwrap().display().to_string();
        for caps in href.captures_iter(&text) {
            let target = page.parent().unwrap().join(&caps[1]);
            if !target.is_file() {
                broken.push(format!("{name} -> {}", &caps[1]));
                continue;
            }
            if let Some(anchor) = caps.get(2).map(|m| m.as_str()).filter(|a| !a.is_empty()) {
                let target_text = std::fs::read_to_string(&target).unwrap();
                if !target_text.contains(&format!("id=\"{anchor}\"")) {
                    broken.push(format!("{name} -> {}#{anchor} (no such heading)", &caps[1]));
                }
            }
        }
        for caps in src.captures_iter(&text) {
            let target = page.parent().unwrap().join(&caps[1]);
            if target.is_file() {
                if let Ok(canonical) = target.canonicalize() {
                    shown.insert(canonical);
                }
            } else {
                missing.push(format!("{name} -> {}", &caps[1]));
            }
        }
    }
    assert!(broken.is_empty(), "broken internal links: {broken:#?}");
    assert!(
        missing.is_empty(),
        "pages show files that are not there (an image missing from book/src/images/?): \
         {missing:#?}"
    );

    // Every picture in book/src/images/ is shown somewhere, and is an SVG a browser can
    // draw on its own (a drawing that needs a tool to build is not checked in here).
    let images = common::root().join("book/src/images");
    let mut unused = Vec::new();
    for entry in std::fs::read_dir(&images).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let built = out.join("images").join(&file).canonicalize().unwrap();
        if !shown.contains(&built) {
            unused.push(file.clone());
        }
        if file.ends_with(".svg") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            assert!(
                text.trim_start().starts_with("<svg")
                    && text.contains("xmlns=\"http://www.w3.org/2000/svg\"")
                    && text.contains("viewBox=")
                    && text.trim_end().ends_with("</svg>"),
                "book/src/images/{file} is not a standalone SVG (an <svg> root with xmlns \
                 and viewBox)"
            );
            assert!(
                !text.contains("href=\"http") && !text.contains("@import"),
                "book/src/images/{file} loads something from elsewhere; keep it self-contained"
            );
        }
    }
    assert!(
        unused.is_empty(),
        "images no page shows (link them or delete them): {unused:?}"
    );
}
