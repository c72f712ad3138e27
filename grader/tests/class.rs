//! `cargo grade class` and `cargo grade merge`, as an instructor meets them: a small class
//! made from the course's own crates, graded by the real binary.
//!
//! One graded run is shared by most assertions (its table and CSV are snapshots in
//! `tests/snapshots/`); the reruns reuse its cache, so the suite grades the class about
//! twice in all. To update the snapshots: `INSTA_UPDATE=always cargo test -p grader --test
//! class`, then read the diff.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::course::copy_dir;
use common::{Run, assert_no_leftovers, grader_in, root, temp_dir};

const STAGE: &str = "08-socket-session-auth";

/// Runs the grader within ten minutes (a cold `target/` compiles the stage's dependencies).
fn grade(args: &[&str]) -> Run {
    let progress = temp_dir("class-progress").join("progress.txt");
    grader_in(args, &progress, Duration::from_secs(600))
}

/// Copies a crate of the course into `to`, without a fixture's own files.
fn copy_crate(from: &str, to: &Path) {
    copy_dir(&root().join(from), to);
    let _ = std::fs::remove_file(to.join("fixture.toml"));
    let _ = std::fs::remove_file(to.join("report.snap"));
}

/// A class of five, one of each kind:
/// - `ada`: the solution, as a lone crate: passes;
/// - `bob`: a copy of the course whose `exercises/08-…` is the fixture `name-from-client`;
/// - `cyd`: the fixture `accepts-anonymous`, as a lone crate;
/// - `dee`: the solution with a syntax error: does not build;
/// - `eve`: a folder with no Cargo.toml: an error.
fn class(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    copy_crate(&format!("solutions/{STAGE}"), &dir.join("ada"));
    let bob = dir.join("bob");
    copy_crate(
        &format!("fixtures/{STAGE}/name-from-client"),
        &bob.join("exercises").join(STAGE),
    );
    std::fs::write(
        bob.join("Cargo.toml"),
        "[workspace]\nmembers = [\"exercises/*\"]\n",
    )
    .unwrap();
    copy_crate(
        &format!("fixtures/{STAGE}/accepts-anonymous"),
        &dir.join("cyd"),
    );
    copy_crate(&format!("solutions/{STAGE}"), &dir.join("dee"));
    let main_rs = dir.join("dee/src/main.rs");
    let mut source = std::fs::read_to_string(&main_rs).unwrap();
    source.push_str("\nthis is not rust\n");
    std::fs::write(&main_rs, source).unwrap();
    std::fs::create_dir_all(dir.join("eve")).unwrap();
    std::fs::write(dir.join("eve/README.md"), "I will hand it in tomorrow.\n").unwrap();
    dir
}

/// Every file under `dir` with its contents, to show that grading wrote nothing there.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.push((entry.path(), std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The summary with what varies (folders, timings) replaced.
fn normalized(run: &Run, paths: &[(&Path, &str)]) -> String {
    let mut text = run.stdout.clone();
    for (path, name) in paths {
        text = text.replace(&path.display().to_string(), name);
    }
    let text = grader::report::normalize(&text, &root());
    regex::Regex::new(r"in \d+\.\d s with")
        .unwrap()
        .replace_all(&text, "in [ELAPSED] with")
        .into_owned()
}

/// The table, legend and errors: the summary without the counts and the folder.
fn table(stdout: &str) -> String {
    stdout
        .lines()
        .take_while(|l| !l.contains(" graded, "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file a run writes is there and reads as what it claims to be.
fn check_outputs(out: &Path, expected: &[(&str, &str)]) {
    for (name, status) in expected {
        let report = out.join("reports").join(name);
        assert!(
            read(&report.join(format!("{STAGE}.txt"))).contains(STAGE),
            "{name}"
        );
        let results = json(&report.join(format!("{STAGE}.json")));
        assert_eq!(results["version"], 3, "{name}");
        assert_eq!(results["tests"].as_array().unwrap().len(), 8, "{name}");
        let classroom = json(&out.join("classroom").join(format!("{name}.json")));
        assert_eq!(classroom["version"], 1, "{name}");
        assert_eq!(classroom["max_score"], 8, "{name}");
        let classroom_status = match *status {
            "passed" => "pass",
            "failed" => "fail",
            _ => "error",
        };
        assert_eq!(classroom["status"], classroom_status, "{name}");
        let tests = classroom["tests"].as_array().unwrap();
        assert_eq!(tests.len(), 8, "{name}");
        for test in tests {
            for field in ["name", "status", "score", "line_no", "message"] {
                assert!(test.get(field).is_some(), "{name}: no {field} in {test}");
            }
        }
        let score: u64 = tests.iter().map(|t| t["score"].as_u64().unwrap()).sum();
        assert_eq!(score, results["score"].as_u64().unwrap_or(0), "{name}");
        assert!(
            out.join(".cache")
                .join(name)
                .join(format!("{STAGE}.json"))
                .is_file()
        );
    }
    let junit = read(&out.join("junit.xml"));
    assert!(junit.starts_with("<?xml"), "{junit}");
    assert_eq!(
        junit.matches("<testsuite ").count(),
        expected.len(),
        "{junit}"
    );
    assert!(
        junit.contains(&format!(r#"<testsuite name="ada/{STAGE}""#)),
        "{junit}"
    );
    let run = json(&out.join("run.json"));
    assert_eq!(run["stage"], STAGE);
    assert_eq!(run["grader_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["counts"]["pairs"], expected.len());
    assert!(run["started_at"].as_str().unwrap().ends_with('Z'), "{run}");
    assert!(run["elapsed_ms"].as_u64().is_some(), "{run}");
}

#[test]
fn grades_a_class_reuses_what_did_not_change_and_merges_shards() {
    let class = class("class");
    let before = tree(&class);
    let work = temp_dir("class-out");
    let out = work.join("grades");
    let (class_arg, out_arg) = (class.to_str().unwrap(), out.to_str().unwrap());
    let started = Instant::now();
    let first = grade(&[
        "class", class_arg, "--stage", "08", "--jobs", "2", "--out", out_arg,
    ]);
    let took = started.elapsed();
    first.assert_code(0);
    assert_no_leftovers(&first);
    eprintln!("graded the class of 5 with --jobs 2 in {took:.1?}");
    let paths = [(out.as_path(), "[OUT]"), (class.as_path(), "[CLASS]")];
    insta::assert_snapshot!("summary", normalized(&first, &paths));
    let csv = read(&out.join("summary.csv"));
    insta::assert_snapshot!("summary_csv", csv);
    let expected = [
        ("ada", "passed"),
        ("bob", "failed"),
        ("cyd", "failed"),
        ("dee", "failed"),
        ("eve", "error"),
    ];
    check_outputs(&out, &expected);
    // Plain progress lines (stderr is no terminal), one per submission.
    assert_eq!(first.stderr.matches("/5] ").count(), 5, "{}", first.dump());
    assert_eq!(tree(&class), before, "grading wrote into the submissions");

    // Again: nothing changed, nothing is graded.
    let again = grade(&["class", class_arg, "--stage", "08", "--out", out_arg]);
    again.assert_code(0);
    assert!(
        again
            .stdout
            .contains("0 graded, 4 unchanged (not regraded)"),
        "{}",
        again.dump()
    );
    assert_eq!(
        again.stderr.matches("unchanged, not regraded").count(),
        4,
        "{}",
        again.dump()
    );
    assert_eq!(table(&again.stdout), table(&first.stdout));
    assert_eq!(read(&out.join("summary.csv")), csv);

    // Two shards, from copies of that folder: the first forced to grade again, the
    // second reusing it. Merged, they make the same summary.
    let (s1, s2, merged) = (work.join("s1"), work.join("s2"), work.join("merged"));
    copy_dir(&out, &s1);
    copy_dir(&out, &s2);
    let shard = |k: &str, dir: &Path, force: bool| {
        let mut args = vec!["class", class_arg, "--stage", "08", "--shard", k];
        args.extend(["--out", dir.to_str().unwrap()]);
        if force {
            args.push("--force");
        }
        let run = grade(&args);
        run.assert_code(0);
        run
    };
    let one = shard("1/2", &s1, true);
    assert!(
        one.stderr.contains("Shard 1/2: 3 of the 5 submissions."),
        "{}",
        one.dump()
    );
    assert!(
        one.stdout.contains("2 graded, 0 unchanged"),
        "--force grades again\n{}",
        one.dump()
    );
    let two = shard("2/2", &s2, false);
    assert!(
        two.stdout.contains("0 graded, 2 unchanged"),
        "{}",
        two.dump()
    );
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("reports"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&s1), ["ada", "cyd", "eve"]);
    assert_eq!(names(&s2), ["bob", "dee"]);
    let merge = grade(&[
        "merge",
        merged.to_str().unwrap(),
        s1.to_str().unwrap(),
        s2.to_str().unwrap(),
    ]);
    merge.assert_code(0);
    assert_eq!(read(&merged.join("summary.csv")), csv);
    assert_eq!(table(&merge.stdout), table(&first.stdout));
    check_outputs(&merged, &expected);

    // A submission in two folders is reported; runs that do not compare are refused.
    let overlap = grade(&[
        "merge",
        work.join("overlap").to_str().unwrap(),
        s1.to_str().unwrap(),
        out_arg,
    ]);
    overlap.assert_code(0);
    assert!(
        overlap.stderr.contains("warning: ada (08) is in both"),
        "{}",
        overlap.dump()
    );
    for (field, value, message) in [
        (
            "stage",
            "07-sessions",
            "Cannot merge runs of different stages",
        ),
        (
            "grader_version",
            "0.0.1",
            "Cannot merge runs of different grader versions",
        ),
    ] {
        let other = work.join(format!("other-{field}"));
        copy_dir(&s2, &other);
        let mut run = json(&other.join("run.json"));
        run[field] = value.into();
        std::fs::write(other.join("run.json"), run.to_string()).unwrap();
        let refused = grade(&[
            "merge",
            work.join("refused").to_str().unwrap(),
            s1.to_str().unwrap(),
            other.to_str().unwrap(),
        ]);
        refused.assert_code(2);
        assert!(refused.stderr.contains(message), "{}", refused.dump());
    }
}

#[test]
fn two_runs_at_once_into_different_folders_agree() {
    let class = temp_dir("class-twice");
    copy_crate(&format!("solutions/{STAGE}"), &class.join("ada"));
    copy_crate(
        &format!("fixtures/{STAGE}/accepts-anonymous"),
        &class.join("cyd"),
    );
    // The second run reads the same class from a list file.
    let list = class.join("class.txt");
    std::fs::write(&list, "# the class\nada\n\n./cyd\n").unwrap();
    let work = temp_dir("class-twice-out");
    let outs = [work.join("a"), work.join("b")];
    let sources = [class.clone(), list];
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = outs
            .iter()
            .zip(&sources)
            .map(|(out, source)| {
                scope.spawn(move || {
                    grade(&[
                        "class",
                        source.to_str().unwrap(),
                        "--stage",
                        STAGE,
                        "--jobs",
                        "1",
                        "--out",
                        out.to_str().unwrap(),
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        run.assert_code(0);
        assert_no_leftovers(run);
        assert!(
            run.stdout.contains("2 graded, 0 unchanged"),
            "{}",
            run.dump()
        );
    }
    assert_eq!(table(&runs[0].stdout), table(&runs[1].stdout));
    assert_eq!(
        read(&outs[0].join("summary.csv")),
        read(&outs[1].join("summary.csv"))
    );
    assert!(runs[0].stdout.contains("ada  "), "{}", runs[0].dump());
}

#[test]
fn stage_all_grades_every_stage_a_submission_has() {
    let class = temp_dir("class-all");
    // A copy of the course with the starters of 01 (as if nothing was done yet).
    copy_crate(
        "exercises/01-tcp-echo",
        &class.join("ws/exercises/01-tcp-echo"),
    );
    // A lone crate named like the starter of 01, and one named like no starter.
    copy_crate("exercises/01-tcp-echo", &class.join("lone"));
    copy_crate("solutions/01-tcp-echo", &class.join("reference"));
    std::fs::create_dir_all(class.join("empty/exercises")).unwrap();
    let out = temp_dir("class-all-out");
    let run = grade(&[
        "class",
        class.to_str().unwrap(),
        "--stage",
        "all",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let record: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(record["stage"], "all");
    let results: Vec<(String, String, String)> = record["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
            (
                text(&r["submission"]),
                text(&r["stage"]),
                text(&r["status"]),
            )
        })
        .collect();
    let expected = [
        ("empty", "?", "error"),
        ("lone", "01-tcp-echo", "failed"),
        ("reference", "?", "error"),
        ("ws", "01-tcp-echo", "failed"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(results, expected, "{}", run.dump());
    let errors = run.stderr.clone();
    assert!(
        errors.contains("reference (?): error: Cannot tell which stage this crate is"),
        "{}",
        run.dump()
    );
    assert!(
        out.join("reports/reference/unknown-stage.txt").is_file(),
        "{}",
        run.dump()
    );
}

/// Stands for the `--out` folder in the cases below.
const OUT: &str = "[OUT]";

#[test]
fn bad_requests_exit_2_with_a_message() {
    let class = temp_dir("class-bad");
    std::fs::create_dir_all(class.join("ada")).unwrap();
    let empty = temp_dir("class-empty");
    let list = class.join("list.txt");
    std::fs::write(&list, "# the class\nada\nbob\n").unwrap();
    let out = temp_dir("class-bad-out").join("grades");
    let (class, list, empty) = (
        class.to_str().unwrap(),
        list.to_str().unwrap(),
        empty.to_str().unwrap(),
    );
    let cases: [(&[&str], &str); 11] = [
        (&["class", class, "--stage", "99"], "There is no stage `99`"),
        (
            &["class", "no/such/class", "--stage", "08"],
            "no/such/class does not exist",
        ),
        (&["class", empty, "--stage", "08"], "has no subfolders"),
        (
            &["class", list, "--stage", "08"],
            "line 3: `bob` does not exist",
        ),
        (
            &["class", class, "--stage", "08", "--shard", "0/2"],
            "there is no shard 0 of 2",
        ),
        (
            &["class", class, "--stage", "08", "--shard", "3/2"],
            "there is no shard 3 of 2",
        ),
        (
            &["class", class, "--stage", "08", "--shard", "x"],
            "`x` is not a shard",
        ),
        (&["class", class, "--stage", "08", "--jobs", "0"], "--jobs"),
        // A tmpfs of size 0 would have no limit at all.
        (
            &["class", class, "--stage", "08", "--max-disk", "0"],
            "0 is not in 64..",
        ),
        (
            &["class", class, "--stage", "08", "--sandbox", "maybe"],
            "invalid value 'maybe' for '--sandbox",
        ),
        (&["merge", OUT, class], "has no run.json"),
    ];
    for (args, message) in cases {
        let mut args: Vec<&str> = args
            .iter()
            .map(|a| if *a == OUT { out.to_str().unwrap() } else { a })
            .collect();
        if args[0] == "class" {
            args.extend(["--out", out.to_str().unwrap()]);
        }
        let run = grade(&args);
        run.assert_code(2);
        assert!(run.stderr.contains(message), "{args:?}\n{}", run.dump());
        assert!(run.stdout.is_empty(), "{args:?}\n{}", run.dump());
    }
    assert!(!out.exists(), "a refused run writes nothing");
}

/// `fixtures/class/hostile/`: echo servers (stage 01) that each do one hostile thing,
/// graded in the sandbox with small limits. Each ends as its README says, with a reason
/// that names the limit; the harmless ones are graded as usual; nothing is left running.
#[test]
fn hostile_submissions_end_as_errors_and_the_run_goes_on() {
    let class = temp_dir("class-hostile");
    copy_dir(&root().join("fixtures/class/hostile"), &class);
    let out = temp_dir("class-hostile-out");
    let run = grade(&[
        "class",
        class.to_str().unwrap(),
        "--stage",
        "01",
        "--sandbox",
        "on",
        "--jobs",
        "2",
        "--max-processes",
        "256",
        "--max-disk",
        "768",
        "--build-timeout",
        "60",
        "--out",
        out.to_str().unwrap(),
    ]);
    run.assert_code(0);
    assert_no_leftovers(&run);
    // A pair that reached a limit ends as an error whatever its hints did, and which of
    // them passed depends on when the limit struck (a clean-clone run once saw
    // fill-disk, which fills its disk before it listens, fail `echoes-a-line` and pass
    // the rest). The snapshot keeps the row and the error, not those marks; the errors'
    // reasons are asserted below.
    let table = normalized(&run, &[(&class, "[CLASS]"), (&out, "[OUT]")]);
    let table = regex::Regex::new(r"(?m)^(\S+ +01 +)[✓✗· ]+?( +- +error)$")
        .unwrap()
        .replace_all(&table, "${1}? ? ? ? ?${2}");
    insta::assert_snapshot!("hostile_class", table);
    let record = json(&out.join("run.json"));
    let error_of = |name: &str| {
        record["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["submission"] == name)
            .unwrap_or_else(|| panic!("{name} not in run.json"))["error"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(error_of("fork-bomb").contains("256 processes"));
    assert!(error_of("fill-disk").contains("768 MiB of disk"));
    assert!(error_of("build-loop").contains("within 1 min"));
    assert!(read(&out.join("reports/bind-ports/01-tcp-echo.txt")).contains("other ports"));
    // It passes only because the sandbox shows it no home, no network, no writable course.
    let snoop = read(&out.join("reports/snoop/01-tcp-echo.txt"));
    assert!(snoop.contains("All 5 hints pass"), "{snoop}");
    assert!(
        record["sandbox"]
            .as_str()
            .unwrap()
            .starts_with("sandboxed with bubblewrap")
    );
    // The fork bomb's processes died with its sandbox.
    let sleepers = std::process::Command::new("pgrep")
        .args(["-x", "-f", "sleep 60"])
        .output()
        .unwrap();
    assert!(
        sleepers.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&sleepers.stdout)
    );
}
