//! Every fixture (a known-bad submission) graded by the real binary, its report
//! compared with the snapshot recorded next to it (`fixtures/STAGE/NAME/report.snap`).
//!
//! To record or update snapshots: `INSTA_UPDATE=always cargo test -p grader --test
//! fixtures`, then read the diff of the `.snap` files before committing them.

mod common;

use std::path::PathBuf;

use common::{assert_no_leftovers, grader, root};
use grader::catalogue::Catalogue;
use grader::course::Course;
use grader::dev::{FixtureSpec, fixtures};

fn check_stage(stage_id: &str) {
    let course = Course { root: root() };
    let catalogue = Catalogue::load(Some(&course.root)).unwrap();
    let stage = catalogue.find(stage_id).unwrap();
    let dirs: Vec<PathBuf> = fixtures(&course, stage);
    assert!(dirs.len() >= 4, "{stage_id} needs at least four fixtures");

    // Grade a few fixtures at once: builds take turns, live probes overlap.
    let runs: Vec<_> = std::thread::scope(|scope| {
        dirs.chunks(3)
            .flat_map(|chunk| {
                let handles: Vec<_> = chunk
                    .iter()
                    .map(|dir| {
                        let path = dir.to_string_lossy().into_owned();
                        scope.spawn(move || grader(&["check", stage_id, "--path", &path]))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    });

    for (dir, run) in dirs.iter().zip(&runs) {
        let spec = FixtureSpec::load(dir).unwrap();
        let passes = spec.fails.is_empty() && !spec.build_fails;
        run.assert_code(if passes { 0 } else { 1 });
        assert!(
            run.stderr.is_empty(),
            "stderr should be empty when not a terminal:\n{}",
            run.dump()
        );
        assert_no_leftovers(run);
        let text = grader::report::normalize(&run.stdout, &course.root);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(spec.description.clone());
        settings.bind(|| insta::assert_snapshot!("report", text));
    }
}

#[test]
fn fixtures_01_tcp_echo() {
    check_stage("01-tcp-echo");
}

#[test]
fn fixtures_02_tcp_chat() {
    check_stage("02-tcp-chat");
}

#[test]
fn fixtures_03_socketio_setup() {
    check_stage("03-socketio-setup");
}

#[test]
fn fixtures_04_user_count() {
    check_stage("04-user-count");
}

#[test]
fn fixtures_05_disconnect() {
    check_stage("05-disconnect");
}

#[test]
fn fixtures_06_chat_messages() {
    check_stage("06-chat-messages");
}

#[test]
fn fixtures_07_sessions() {
    check_stage("07-sessions");
}

#[test]
fn fixtures_08_socket_session_auth() {
    check_stage("08-socket-session-auth");
}

#[test]
fn fixtures_09_mongo_session_store() {
    check_stage("09-mongo-session-store");
}

#[test]
fn fixtures_10_login_logout() {
    check_stage("10-login-logout");
}

/// A stage added to the catalogue without a test above would have its fixtures checked
/// only by `cargo grade dev check`; this keeps the list complete.
#[test]
fn every_stage_has_a_fixture_test() {
    let source = include_str!("fixtures.rs");
    let catalogue = Catalogue::load(Some(&root())).unwrap();
    for stage in &catalogue.stages {
        assert!(
            source.contains(&format!("check_stage(\"{}\")", stage.id)),
            "add a test calling check_stage(\"{}\") to grader/tests/fixtures.rs",
            stage.id
        );
    }
}

#[test]
fn fixtures_11_jwt_handshake() {
    check_stage("11-jwt-handshake");
}

#[test]
fn fixtures_12_hardening() {
    check_stage("12-hardening");
}

#[test]
fn fixtures_13_scale_out() {
    check_stage("13-scale-out");
}
