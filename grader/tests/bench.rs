//! `cargo grade bench` as users meet it: the figures it measures of a working server,
//! the comparison with the reference solution and the Node.js peer, and what it says
//! about requests it cannot serve and servers that do not work. Each runs the real
//! binary, with few sockets and unoptimised builds (`--debug`) to stay quick: these
//! tests check that every figure is measured and means what it says, not how fast
//! anything is (`book/src/performance.md` has the figures of a full run).

mod common;

use std::time::Duration;

use common::{assert_no_leftovers, grader_in, temp_dir};
use serde_json::Value;

/// A bench run with a time limit, its progress in a scratch file.
fn bench(args: &[&str]) -> common::Run {
    let progress = temp_dir("bench-progress").join("progress.txt");
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    grader_in(&all, &progress, Duration::from_secs(600))
}

fn json(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}", run.dump()))
}

/// Every figure of a target that measured without trouble, checked for sense.
#[track_caller]
fn assert_complete(target: &Value, clients: u64, run: &common::Run) {
    let dump = || format!("{target:#}\n{}", run.dump());
    assert_eq!(target["problems"], Value::Array(vec![]), "{}", dump());
    let ws = &target["websocket"];
    assert_eq!(ws["connected"], clients, "{}", dump());
    assert!(ws["per_second"].as_f64().unwrap() > 0.0, "{}", dump());
    assert!(ws["p99_ms"].as_f64().unwrap() >= ws["p50_ms"].as_f64().unwrap());
    let memory = &target["memory"];
    assert!(memory["loaded_bytes"].as_u64().unwrap() > 0, "{}", dump());
    assert_eq!(memory["sockets"], clients);
    let acks = &target["acks"];
    assert!(acks["count"].as_u64().unwrap() > clients, "{}", dump());
    // Stage 10 has no budget of events: every `whoami` is answered with the user.
    assert_eq!(acks["refused"], 0, "{}", dump());
    let room = &target["room"];
    assert_eq!(room["fewest_reached"], room["sockets"], "{}", dump());
    assert!(room["median_ms"].is_number(), "{}", dump());
    let logout = &target["logout"];
    assert_eq!(logout["gone"], logout["sockets"], "{}", dump());
    assert!(logout["all_gone_ms"].is_number(), "{}", dump());
    let refusals = &target["refusals"];
    assert!(refusals["refused"].as_u64().unwrap() > 0, "{}", dump());
    assert_eq!(refusals["accepted"], 0, "{}", dump());
    assert_eq!(target["polling"]["connected"], clients, "{}", dump());
    let phases: Vec<&str> = target["cpu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "setup",
            "WebSocket connect",
            "acks",
            "user room",
            "logout",
            "refusals",
            "polling connect"
        ],
        "{}",
        dump()
    );
    for phase in target["cpu"].as_array().unwrap() {
        assert!(phase["server_s"].is_number(), "{}", dump());
    }
}

#[test]
fn the_solution_and_socketioxides_floor_get_every_figure() {
    let run = bench(&[
        "10",
        "--path",
        "solutions/10-login-logout",
        "--floor",
        "--clients",
        "60",
        "--in-flight",
        "16",
        "--seconds",
        "1",
        "--debug",
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let report = json(&run);
    assert_eq!(report["stage"], "10-login-logout");
    assert_eq!(report["release"], false);
    let targets = report["targets"].as_array().unwrap();
    // The path is the reference solution itself: it is measured once, then the floor.
    assert_eq!(targets.len(), 2, "{}", run.dump());
    assert_eq!(targets[0]["target"], "this server");
    assert_complete(&targets[0], 60, &run);
    // The floor takes every phase of the load, refusing handshakes without its cookie.
    assert_eq!(targets[1]["target"], "socketioxide floor");
    assert_complete(&targets[1], 60, &run);
    // The solution announces people, not tabs: each socket hears about itself only
    // (`user` and `user count`), not about the 59 others.
    let events = targets[0]["websocket"]["events_received"].as_u64().unwrap();
    assert!(events <= 2 * 60, "{events} events\n{}", run.dump());
    assert_no_leftovers(&run);
}

#[test]
fn the_starter_is_shown_beside_the_reference_with_what_went_wrong() {
    // The learner's own stage 10 is its starter here: no accounts yet.
    let run = bench(&[
        "10",
        "--clients",
        "30",
        "--in-flight",
        "8",
        "--seconds",
        "1",
        "--debug",
    ]);
    run.assert_code(1);
    let out = &run.stdout;
    assert!(out.contains("your server"), "{}", run.dump());
    assert!(out.contains("reference solution"), "{}", run.dump());
    assert!(
        out.contains("What went wrong with your server:")
            && out.contains("POST /register (username=bench) answered 404"),
        "{}",
        run.dump()
    );
    // The reference's column is full: its connections line reads `30 of 30`.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("connected") && l.trim_end().ends_with("30 of 30")),
        "{}",
        run.dump()
    );
    assert!(out.contains("book/src/performance.md"), "{}", run.dump());
    assert_no_leftovers(&run);
}

#[test]
fn the_node_peer_is_measured_with_both_session_stores() {
    let run = bench(&[
        "10",
        "--path",
        "solutions/10-login-logout",
        "--node",
        "--clients",
        "40",
        "--in-flight",
        "16",
        "--seconds",
        "1",
        "--debug",
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let report = json(&run);
    let targets = report["targets"].as_array().unwrap();
    let names: Vec<&str> = targets
        .iter()
        .map(|t| t["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "this server",
            "Node.js, sessions in MongoDB",
            "Node.js, sessions in memory"
        ],
        "{}",
        run.dump()
    );
    for target in targets {
        assert_complete(target, 40, &run);
    }
    assert_no_leftovers(&run);
}

#[test]
fn a_stage_without_accounts_cannot_be_benchmarked() {
    let run = bench(&["03"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("Stage 03-socketio-setup cannot be benchmarked")
            && run.stderr.contains("10-login-logout, 11-jwt-handshake"),
        "{}",
        run.dump()
    );
}

#[test]
fn bad_requests_are_usage_errors() {
    let run = bench(&["10", "--path", "no/such/folder"]);
    run.assert_code(2);
    assert!(run.stderr.contains("does not exist"), "{}", run.dump());

    let run = bench(&["99"]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("There is no stage `99`"),
        "{}",
        run.dump()
    );

    let run = bench(&["10", "--clients", "0"]);
    run.assert_code(2);
    assert!(run.stderr.contains("--clients"), "{}", run.dump());
}

#[test]
fn a_crate_that_does_not_build_says_how_to_see_why() {
    let run = bench(&[
        "10",
        "--path",
        "fixtures/01-tcp-echo/malformed-manifest",
        "--debug",
    ]);
    run.assert_code(1);
    assert!(
        run.stderr
            .contains("does not build: cargo could not read Cargo.toml")
            && run
                .stderr
                .contains("cargo grade check 10 --path fixtures/01-tcp-echo/malformed-manifest"),
        "{}",
        run.dump()
    );
    assert!(run.stdout.is_empty(), "{}", run.dump());
    assert_no_leftovers(&run);
}

#[test]
fn servers_that_do_not_work_are_reported_not_waited_for() {
    // Exits before it listens.
    let run = bench(&[
        "10",
        "--path",
        "fixtures/01-tcp-echo/exits-at-once",
        "--no-reference",
        "--clients",
        "10",
        "--debug",
    ]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("Your server exited before it listened"),
        "{}",
        run.dump()
    );
    assert_no_leftovers(&run);

    // Listens, but does not speak HTTP: it echoes every line back.
    let run = bench(&[
        "10",
        "--path",
        "solutions/01-tcp-echo",
        "--no-reference",
        "--clients",
        "10",
        "--debug",
    ]);
    run.assert_code(1);
    assert!(
        run.stdout.contains("POST /register failed")
            && run.stdout.contains("status line is not HTTP"),
        "{}",
        run.dump()
    );
    assert_no_leftovers(&run);
}

#[test]
fn stage_12s_event_budget_is_counted_as_refusals_not_answers() {
    let run = bench(&[
        "12",
        "--path",
        "solutions/12-hardening",
        "--clients",
        "30",
        "--in-flight",
        "8",
        "--seconds",
        "2",
        "--debug",
        "--format",
        "json",
    ]);
    run.assert_code(0);
    let report = json(&run);
    let target = &report["targets"][0];
    assert_eq!(target["problems"], Value::Array(vec![]), "{}", run.dump());
    let acks = &target["acks"];
    // 29 sockets ask (the sender sits it out), each with a burst of 10 and 4 more a
    // second: a few hundred answers in 2 s, and the rest refused.
    let answered = acks["count"].as_u64().unwrap();
    assert!((29..=29 * 20).contains(&answered), "{}", run.dump());
    assert!(
        acks["refused"].as_u64().unwrap() > answered,
        "{}",
        run.dump()
    );
    // The sender kept its budget, so every round of the room's message arrived.
    let room = &target["room"];
    assert_eq!(room["fewest_reached"], room["sockets"], "{}", run.dump());
    assert_no_leftovers(&run);
}
