//! `cargo grade watch` as a learner (or an editor's task runner) drives it without a
//! terminal: keys as lines on stdin, plain appended output. Each test works in a course of
//! its own (see `common/course.rs`), so saving files never touches the real exercises, and
//! each checks that quitting leaves no process behind.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::course::{TempCourse, temp_course};
use common::{Run, assert_no_leftovers, grader_cmd, leftover_processes, root};

/// A first build of a copied stage compiles only the stage crate, but a cold `target/`
/// compiles tokio first.
const FIRST_RESULT: Duration = Duration::from_secs(300);
const LATER_RESULT: Duration = Duration::from_secs(120);

/// A running `cargo grade watch`, its output collected as it comes.
struct Watch {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<String>>,
    tag: String,
    /// Where in the output the next `expect` starts looking.
    seen: usize,
}

impl Watch {
    fn start(course: &TempCourse, args: &[&str]) -> Watch {
        let progress = course.root.join("progress.txt");
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        let (mut cmd, tag) = grader_cmd(&all, &progress);
        cmd.envs(course.env())
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("the grader starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        Watch {
            child,
            stdin,
            output,
            tag,
            seen: 0,
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until `text` appears after what earlier expectations matched.
    #[track_caller]
    fn expect(&mut self, text: &str, limit: Duration) {
        let started = Instant::now();
        loop {
            let output = self.output();
            if let Some(at) = output[self.seen..].find(text) {
                self.seen += at + text.len();
                return;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "no `{text}` within {limit:?}; output after the last match:\n{}",
                    &output[self.seen..]
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Sends `q` and waits for the grader to exit.
    #[track_caller]
    fn quit(mut self) -> Run {
        self.send("q");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                panic!("`q` did not quit within 10 s:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader thread take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.output(),
            stderr: String::new(),
            tag: self.tag.clone(),
        }
    }
}

/// Writes the reference solution of stage `id` over the learner's files: the "save".
fn save_solution(course: &TempCourse, id: &str) {
    let solution = root().join("solutions").join(id);
    for file in ["Cargo.toml", "src/lib.rs", "src/main.rs"] {
        std::fs::copy(solution.join(file), course.exercise(id).join(file)).unwrap();
    }
}

#[test]
fn manual_mode_grades_on_enter_shows_keys_and_moves_on_when_a_stage_passes() {
    let course = temp_course("watch-manual", &["01-tcp-echo", "02-tcp-chat"]);
    let mut watch = Watch::start(&course, &["01", "--manual"]);
    watch.expect("Watching: grading 01-tcp-echo", FIRST_RESULT);
    watch.expect("0 of 5 hints pass", FIRST_RESULT);
    watch.expect("Press Enter to grade again.", LATER_RESULT);

    watch.send("h");
    watch.expect(
        "The first hint of 01-tcp-echo that does not pass yet",
        LATER_RESULT,
    );
    watch.expect("To fix: Add `tokio = { workspace = true }`", LATER_RESULT);
    watch.send("l");
    watch.expect("▸ 01-tcp-echo", LATER_RESULT);
    watch.expect("[----------] 0/5 hints", LATER_RESULT);

    // In manual mode a save alone does nothing; Enter grades it.
    save_solution(&course, "01-tcp-echo");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !watch.output()[watch.seen..].contains("grading"),
        "manual mode graded without Enter:\n{}",
        watch.output()
    );
    watch.send("");
    watch.expect("You pressed Enter: grading 01-tcp-echo", LATER_RESULT);
    watch.expect("All 5 hints pass", FIRST_RESULT);
    watch.expect("01-tcp-echo is complete", LATER_RESULT);
    watch.expect(
        "diff -ru exercises/01-tcp-echo solutions/01-tcp-echo",
        LATER_RESULT,
    );
    watch.expect("Next stage: grading 02-tcp-chat", LATER_RESULT);

    let progress = std::fs::read_to_string(course.root.join("progress.txt")).unwrap();
    assert!(
        progress.contains("01-tcp-echo 5/5 passed"),
        "progress.txt:\n{progress}"
    );
    // Quit while stage 02 is being graded: its build or server must not outlive us.
    let run = watch.quit();
    run.assert_code(0);
    assert_no_leftovers(&run);
}

#[test]
fn a_save_grades_again_without_a_key() {
    let course = temp_course("watch-save", &["01-tcp-echo"]);
    let mut watch = Watch::start(&course, &["01"]);
    watch.expect("0 of 5 hints pass", FIRST_RESULT);
    watch.expect("save a file to grade again", LATER_RESULT);

    // An editor's swap file is not a save.
    std::fs::write(course.exercise("01-tcp-echo").join("src/.main.rs.swp"), "x").unwrap();
    save_solution(&course, "01-tcp-echo");
    watch.expect("changed: grading 01-tcp-echo", LATER_RESULT);
    watch.expect("All 5 hints pass", FIRST_RESULT);
    // The copy of the course has no stage 02: moving on to it says so.
    watch.expect("On to 02-tcp-chat", LATER_RESULT);
    watch.expect("exercises/02-tcp-chat does not exist", LATER_RESULT);
    let run = watch.quit();
    run.assert_code(0);
    assert!(
        !run.stdout.contains(".main.rs.swp changed"),
        "{}",
        run.dump()
    );
    assert_no_leftovers(&run);
}

#[test]
fn grading_again_stops_the_previous_runs_server_at_once() {
    // This server never ends its echo with a newline, so the grader's client waits for
    // the probe's whole timeout with the server up: time enough to cancel the run.
    let course = temp_course("watch-cancel", &["01-tcp-echo"]);
    course.replace_exercise(
        "01-tcp-echo",
        &root().join("fixtures/01-tcp-echo/forgets-newline"),
    );
    let mut watch = Watch::start(&course, &["01", "--manual"]);
    let server = wait_for_server(&watch, FIRST_RESULT);

    watch.send("r");
    let started = Instant::now();
    while is_alive(&server) {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the previous run's server {server} is still running:\n{}",
            watch.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    watch.expect("You pressed r: grading 01-tcp-echo", LATER_RESULT);
    // The new run starts a server of its own, and finishes.
    let second = wait_for_server(&watch, LATER_RESULT);
    assert_ne!(second, server);
    watch.expect("hints pass", LATER_RESULT);
    let run = watch.quit();
    run.assert_code(0);
    assert_no_leftovers(&run);
}

#[test]
fn the_end_of_stdin_ends_manual_mode() {
    let course = temp_course("watch-eof", &["01-tcp-echo"]);
    let progress = course.root.join("progress.txt");
    let run = common::grader_with_env(
        &["watch", "01", "--manual"],
        &progress,
        &course.env(),
        FIRST_RESULT,
    );
    run.assert_code(0);
    assert_no_leftovers(&run);
}

/// The pid of the learner's server (run from the grader's scratch folder) once it is up.
fn wait_for_server(watch: &Watch, limit: Duration) -> String {
    let started = Instant::now();
    loop {
        let servers: Vec<String> = leftover_processes(&watch.tag)
            .into_iter()
            .filter(|p| p.contains("/scratch/") && p.contains("/bin/"))
            .collect();
        if let Some(server) = servers.first() {
            return server.split(':').next().unwrap().to_string();
        }
        assert!(
            started.elapsed() < limit,
            "no server started within {limit:?}:\n{}",
            watch.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn is_alive(pid: &str) -> bool {
    // A killed process that its parent has not reaped yet is a zombie: gone for our needs.
    match std::fs::read_to_string(Path::new("/proc").join(pid).join("stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}
