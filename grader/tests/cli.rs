//! The command line as users meet it: bad input, exit codes, machine formats, the
//! learner's commands, and interruption. Each runs the real binary.

mod common;

use std::path::Path;
use std::time::Duration;

use common::course::temp_course;
use common::{assert_no_leftovers, grader, grader_cmd, grader_in, leftover_processes, temp_dir};

#[test]
fn unknown_stage_is_a_usage_error_listing_the_stages() {
    let run = grader(&["check", "99"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("There is no stage `99`"),
        "{}",
        run.dump()
    );
    assert!(
        run.stderr.contains("01-tcp-echo, 02-tcp-chat"),
        "{}",
        run.dump()
    );
    assert!(run.stdout.is_empty());
}

#[test]
fn ambiguous_prefix_is_a_usage_error() {
    grader(&["check", "0"]).assert_code(2);
}

#[test]
fn missing_path_is_a_usage_error() {
    let run = grader(&["check", "01", "--path", "no/such/folder"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("no/such/folder does not exist"),
        "{}",
        run.dump()
    );
}

#[test]
fn folder_without_manifest_is_a_usage_error() {
    let dir = temp_dir("empty");
    let run = grader(&["check", "01", "--path", dir.to_str().unwrap()]);
    run.assert_code(2);
    assert!(run.stderr.contains("has no Cargo.toml"), "{}", run.dump());
}

#[test]
fn unknown_format_is_rejected_by_the_argument_parser() {
    let run = grader(&["check", "01", "--format", "yaml"]);
    run.assert_code(2);
    assert!(run.stderr.contains("yaml"), "{}", run.dump());
}

#[test]
fn solution_in_json_follows_results_json_v3() {
    let run = grader(&[
        "check",
        "01",
        "--path",
        "solutions/01-tcp-echo",
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(json["version"], 3);
    assert_eq!(json["status"], "pass");
    assert_eq!(json["score"], json["max_score"]);
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 5);
    assert!(
        tests
            .iter()
            .all(|t| t["status"] == "pass" && t["message"].is_null())
    );
    assert_eq!(tests[0]["hint_id"], "tokio-dependency");
}

#[test]
fn failing_fixture_in_json_junit_and_tap() {
    let path = "fixtures/01-tcp-echo/forgets-newline";
    let json = grader(&["check", "01", "--path", path, "--format", "json"]);
    json.assert_code(1);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["status"], "fail");
    assert!(value["score"].as_u64().unwrap() < value["max_score"].as_u64().unwrap());
    let failed: Vec<&str> = value["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "fail")
        .map(|t| t["hint_id"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"echoes-a-line"), "{failed:?}");

    let junit = grader(&["check", "01", "--path", path, "--format", "junit"]);
    junit.assert_code(1);
    assert!(junit.stdout.starts_with("<?xml"));
    assert!(
        junit
            .stdout
            .contains(&format!(r#"failures="{}""#, failed.len())),
        "{}",
        junit.stdout
    );
    assert_eq!(junit.stdout.matches("<testcase ").count(), 5);

    let tap = grader(&["check", "01", "--path", path, "--format", "tap"]);
    tap.assert_code(1);
    assert!(
        tap.stdout.starts_with("TAP version 14\n1..5\n"),
        "{}",
        tap.stdout
    );
    assert_eq!(tap.stdout.matches("\nnot ok ").count(), failed.len());
}

#[test]
fn build_failure_is_an_error_in_json_with_live_hints_not_run() {
    let run = grader(&[
        "check",
        "01",
        "--path",
        "fixtures/01-tcp-echo/does-not-compile",
        "--format",
        "json",
    ]);
    run.assert_code(1);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["status"], "error");
    assert!(
        value["message"].as_str().unwrap().contains("error["),
        "{}",
        run.stdout
    );
    let live: Vec<&serde_json::Value> = value["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "live")
        .collect();
    assert!(!live.is_empty() && live.iter().all(|t| t["status"] == "error"));
}

#[test]
fn default_command_shows_progress_and_grades_the_current_stage() {
    let progress = temp_dir("default").join("progress.txt");
    let run = grader_in(&[], &progress, Duration::from_secs(300));
    run.assert_code(1);
    assert!(
        run.stdout.contains("Progress [--------------------] 0/"),
        "{}",
        run.dump()
    );
    assert!(run.stdout.contains("▸ 01-tcp-echo"), "{}", run.dump());
    assert!(
        run.stdout
            .contains("Grading your current stage, 01-tcp-echo"),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout
            .contains("✗ 1. Your crate should depend on `tokio`."),
        "{}",
        run.dump()
    );
    let recorded = std::fs::read_to_string(&progress).unwrap();
    assert!(
        recorded.contains("\n01-tcp-echo 0/5\n"),
        "a failing stage records its count and no pass:\n{recorded}"
    );

    // Once 01 is recorded as passed, 02 is current.
    std::fs::write(&progress, "01-tcp-echo\n").unwrap();
    let list = grader_in(&["list"], &progress, Duration::from_secs(60));
    list.assert_code(0);
    assert!(list.stdout.contains("✓ 01-tcp-echo"), "{}", list.dump());
    assert!(list.stdout.contains("▸ 02-tcp-chat"), "{}", list.dump());
    assert!(list.stdout.contains("] 1/"), "{}", list.dump());
}

#[test]
fn hint_explains_the_first_failing_hint() {
    let progress = temp_dir("hint").join("progress.txt");
    let run = grader_in(&["hint", "01"], &progress, Duration::from_secs(300));
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("The first hint of 01-tcp-echo that does not pass yet"),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout
            .contains("✗ 1. Your crate should depend on `tokio`."),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout
            .contains("To fix: Add `tokio = { workspace = true }`"),
        "{}",
        run.dump()
    );
    assert!(
        !run.stdout.contains(" 2. "),
        "only the first failing hint is shown\n{}",
        run.dump()
    );
}

#[test]
fn interrupting_the_grader_stops_the_learners_server() {
    // This fixture ignores SIGTERM: the grader must still leave nothing behind.
    let progress = temp_dir("interrupt").join("progress.txt");
    let (mut cmd, tag) = grader_cmd(
        &[
            "check",
            "01",
            "--path",
            "fixtures/01-tcp-echo/ignores-sigterm",
        ],
        &progress,
    );
    let mut child = cmd.spawn().unwrap();
    // Wait until the learner's server is up (a process carrying our tag besides the grader).
    let started = std::time::Instant::now();
    while leftover_processes(&tag).len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the server never started"
        );
        if child.try_wait().unwrap().is_some() {
            // It finished before we could interrupt: nothing to test on this run.
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let run = common::Run {
        code: 130,
        stdout: String::new(),
        stderr: String::new(),
        tag,
    };
    assert_no_leftovers(&run);
}

#[test]
fn grade_mongo_keeps_its_database_running_until_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let progress = temp_dir("mongo-foreground").join("progress.txt");
    let (mut cmd, tag) = grader_cmd(&["mongo", "--port", &port.to_string()], &progress);
    cmd.stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("listening on 127.0.0.1:"), "{first}");
    // Still there a while later, as a learner's server would find it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "the stand-in stopped after it said it was listening"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let run = common::Run {
        code: 130,
        stdout: String::new(),
        stderr: String::new(),
        tag,
    };
    assert_no_leftovers(&run);
}

#[test]
fn list_draws_a_bar_per_stage_from_the_last_grading() {
    let progress = temp_dir("list").join("progress.txt");
    // An old-format line (a bare id: passed) and a new one with counts.
    std::fs::write(
        &progress,
        "# Stages you have passed.\n01-tcp-echo\n02-tcp-chat 3/5\n",
    )
    .unwrap();
    let run = grader_in(&["list"], &progress, Duration::from_secs(60));
    run.assert_code(0);
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no line for {id}\n{}", run.dump()))
            .to_string()
    };
    assert!(line("01-tcp-echo").contains("✓"), "{}", run.dump());
    assert!(
        line("01-tcp-echo").contains("[##########] 5/5 hints"),
        "{}",
        run.dump()
    );
    assert!(line("02-tcp-chat").contains("▸"), "{}", run.dump());
    assert!(
        line("02-tcp-chat").contains("[######----] 3/5 hints  ← current"),
        "{}",
        run.dump()
    );
    assert!(
        line("03-socketio-setup").contains("not graded yet"),
        "{}",
        run.dump()
    );
}

const COURSE_AUTHOR: &str = "Course Authors <course@example.org>";
const LEARNER: &str = "A Learner <learner@example.org>";

#[test]
fn reset_restores_the_courses_starter_and_keeps_a_backup() {
    let course = temp_course("reset", &["01-tcp-echo"]);
    let main_rs = course.exercise("01-tcp-echo").join("src/main.rs");
    course.commit_everything(COURSE_AUTHOR, "The course");
    // The course fixes its starter later; the fix is part of the starter.
    let mut starter = std::fs::read_to_string(&main_rs).unwrap();
    starter.push_str("// fixed by the course\n");
    std::fs::write(&main_rs, &starter).unwrap();
    course.git(
        COURSE_AUTHOR,
        &["commit", "--quiet", "-am", "Fix the starter"],
    );
    // The learner commits work of their own, then goes on without committing.
    std::fs::write(&main_rs, "// my first try\n").unwrap();
    course.git(LEARNER, &["commit", "--quiet", "-am", "My work"]);
    std::fs::write(&main_rs, "// my second try\n").unwrap();
    let extra = course.exercise("01-tcp-echo").join("src/extra.rs");
    std::fs::write(&extra, "// a file of my own\n").unwrap();
    let progress = course.progress_file();
    std::fs::write(&progress, "01-tcp-echo 3/5\n").unwrap();

    let run = course.grade(&["reset", "01", "--yes"]);
    run.assert_code(0);
    assert!(
        run.stdout.contains("with the starter from commit"),
        "{}",
        run.dump()
    );
    assert!(
        run.stdout.contains("Fix the starter"),
        "the course's latest starter, not the learner's commit\n{}",
        run.dump()
    );
    assert_eq!(std::fs::read_to_string(&main_rs).unwrap(), starter);
    assert!(!extra.exists(), "the starter has no extra.rs");

    let backups: Vec<_> = std::fs::read_dir(course.root.join(".backup"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("01-tcp-echo-"), "{name}");
    assert!(
        run.stdout
            .contains(&format!("Your version is in .backup/{name}/")),
        "{}",
        run.dump()
    );
    assert_eq!(
        std::fs::read_to_string(backup.join("src/main.rs")).unwrap(),
        "// my second try\n"
    );
    assert!(backup.join("src/extra.rs").is_file());
    let recorded = std::fs::read_to_string(&progress).unwrap();
    assert!(!recorded.contains("01-tcp-echo"), "{recorded}");

    // Resetting the starter again changes nothing.
    let again = course.grade(&["reset", "01", "--yes"]);
    again.assert_code(0);
    assert!(
        again.stdout.contains("is already the starter"),
        "{}",
        again.dump()
    );
}

#[test]
fn reset_without_a_terminal_needs_yes() {
    let course = temp_course("reset-ask", &["01-tcp-echo"]);
    course.commit_everything(COURSE_AUTHOR, "The course");
    let main_rs = course.exercise("01-tcp-echo").join("src/main.rs");
    std::fs::write(&main_rs, "// my work\n").unwrap();

    let run = course.grade(&["reset", "01"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("there is no terminal to ask on") && run.stderr.contains("--yes"),
        "{}",
        run.dump()
    );
    assert_eq!(std::fs::read_to_string(&main_rs).unwrap(), "// my work\n");
    assert!(!course.root.join(".backup").exists());
}

#[test]
fn reset_without_git_history_says_why() {
    // Not a git checkout at all.
    let course = temp_course("reset-nogit", &["01-tcp-echo"]);
    let run = course.grade(&["reset", "01", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("is not a git checkout")
            && run.stderr.contains("from the course's git history"),
        "{}",
        run.dump()
    );

    // A checkout whose history never had the starter.
    course.git(COURSE_AUTHOR, &["init", "--quiet"]);
    course.git(COURSE_AUTHOR, &["add", "Cargo.toml"]);
    course.git(
        COURSE_AUTHOR,
        &["commit", "--quiet", "-m", "Only the manifest"],
    );
    let run = course.grade(&["reset", "01", "--yes"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("exercises/01-tcp-echo is not in this checkout's git history"),
        "{}",
        run.dump()
    );
    assert!(course.exercise("01-tcp-echo").join("src/main.rs").is_file());
}

/// A stage with a database, and no database to be had: a usage error (exit 2) that says
/// what was tried, after a bounded wait, with nothing left running.
#[test]
fn a_database_that_never_answers_is_a_usage_error() {
    let progress = temp_dir("progress").join("progress.txt");
    let fixture = "fixtures/09-mongo-session-store/no-ttl-index";
    let run = common::grader_with_env(
        &["check", "09", "--path", fixture],
        &progress,
        &[("MONGO_URI", Path::new("mongodb://127.0.0.1:1/course"))],
        Duration::from_secs(300),
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("MONGO_URI is mongodb://127.0.0.1:1/course, and no MongoDB answered there: nothing answered within"),
        "{}",
        run.dump()
    );
    assert_no_leftovers(&run);

    // Without MONGO_URI, a stand-in that cannot start says which program it tried.
    if std::env::var_os("MONGO_URI").is_none() {
        let run = common::grader_with_env(
            &["check", "09", "--path", fixture],
            &progress,
            &[("NX_27017", Path::new("/no/such/nx-27017"))],
            Duration::from_secs(300),
        );
        run.assert_code(2);
        assert!(
            run.stderr
                .contains("starting the MongoDB stand-in /no/such/nx-27017"),
            "{}",
            run.dump()
        );
        assert_no_leftovers(&run);
    }
}

/// A stage whose servers talk through Redis, and no Redis to be had: a usage error (exit
/// 2) that says what was tried, after a bounded wait, with no process and no folder left.
/// No stage has `redis = true` yet, so the test course gives it to stage 01.
#[test]
fn a_redis_that_never_answers_is_a_usage_error() {
    let course = temp_course("redis-unreachable", &["01-tcp-echo"]);
    let catalogue = course.root.join("grader/catalogue.toml");
    let text = std::fs::read_to_string(&catalogue).unwrap();
    let text = text.replacen(
        "id = \"01-tcp-echo\"\n",
        "id = \"01-tcp-echo\"\nredis = true\n",
        1,
    );
    std::fs::write(&catalogue, text).unwrap();
    let redis_dirs = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| common::root().join("target"))
        .join("grader/redis");
    let listing = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&redis_dirs)
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let before = listing();
    let progress = temp_dir("progress").join("progress.txt");

    let mut env = course.env();
    env.push(("REDIS_URL", Path::new("redis://127.0.0.1:1")));
    let run = common::grader_with_env(&["check", "01"], &progress, &env, Duration::from_secs(300));
    run.assert_code(2);
    assert!(
        run.stderr.contains(
            "stage 01-tcp-echo's servers talk through Redis, and the grader has none: \
             REDIS_URL is redis://127.0.0.1:1, and no Redis answered there"
        ),
        "{}",
        run.dump()
    );
    assert_no_leftovers(&run);

    // Without REDIS_URL, a redis-server that cannot start says which program it tried.
    if std::env::var_os("REDIS_URL").is_none() {
        let mut env = course.env();
        env.push(("REDIS_SERVER", Path::new("/no/such/redis-server")));
        let run =
            common::grader_with_env(&["check", "01"], &progress, &env, Duration::from_secs(300));
        run.assert_code(2);
        assert!(
            run.stderr.contains("starting /no/such/redis-server")
                && run.stderr.contains("scripts/install-redis"),
            "{}",
            run.dump()
        );
        assert_no_leftovers(&run);
        assert_eq!(listing(), before, "redis-server's folder is removed");

        // And with a redis-server (scripts/test installs one), the stage grades as
        // before, each hint with a server of its own, all gone afterwards.
        if which_redis_server() {
            course.replace_exercise("01-tcp-echo", &course.root.join("solutions/01-tcp-echo"));
            let run = common::grader_with_env(
                &["check", "01"],
                &progress,
                &course.env(),
                Duration::from_secs(300),
            );
            run.assert_code(0);
            assert_no_leftovers(&run);
            assert_eq!(listing(), before, "every redis-server's folder is removed");
        }
    }
}

fn which_redis_server() -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| dir.join("redis-server").is_file())
}
