//! The command line as users meet it: bad input, exit codes, machine formats, the
//! learner's commands, and interruption. Each runs the real binary.

mod common;

use std::time::Duration;

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
        run.stdout
            .contains("Progress [--------------------] 0/2 stages"),
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
    assert!(!progress.exists(), "a failing stage records nothing");

    // Once 01 is recorded as passed, 02 is current.
    std::fs::write(&progress, "01-tcp-echo\n").unwrap();
    let list = grader_in(&["list"], &progress, Duration::from_secs(60));
    list.assert_code(0);
    assert!(list.stdout.contains("✓ 01-tcp-echo"), "{}", list.dump());
    assert!(list.stdout.contains("▸ 02-tcp-chat"), "{}", list.dump());
    assert!(list.stdout.contains("1/2 stages"), "{}", list.dump());
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
