//! `cargo grade dev check` passes on the course as committed: starters fail every hint,
//! solutions pass every hint, fixtures match their recorded reports.

mod common;

use std::time::Duration;

use common::course::copy_dir;

/// On a fresh clone every starter, solution and fixture is built for the first time
/// (about 70 crates on two cores): far longer than the usual limit of a grader run.
const COLD_DEV_CHECK: Duration = Duration::from_secs(25 * 60);

#[test]
fn dev_check_passes() {
    let progress = common::temp_dir("progress").join("progress.txt");
    let run = common::grader_in(&["dev", "check"], &progress, COLD_DEV_CHECK);
    run.assert_code(0);
    for stage in ["01-tcp-echo", "02-tcp-chat"] {
        assert!(
            run.stdout.contains(&format!("✓ {stage} starter")),
            "{}",
            run.dump()
        );
        assert!(
            run.stdout.contains(&format!("✓ {stage} solution")),
            "{}",
            run.dump()
        );
    }
    assert!(
        run.stdout.contains("dev check: everything holds."),
        "{}",
        run.dump()
    );
    common::assert_no_leftovers(&run);
}

/// A course whose starter already passes and whose solution fails: dev check must say so.
#[test]
fn dev_check_catches_a_starter_that_passes_and_a_solution_that_fails() {
    let root = common::root();
    let course = common::temp_dir("swapped-course");
    for file in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join(file), course.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(course.join("Cargo.toml")).unwrap();
    // Without the grader and its load generator, which this copy does not have.
    let without_grader = manifest.replace(r#""grader", "grader/loadgen", "#, "");
    assert_ne!(without_grader, manifest, "the workspace's members changed");
    std::fs::write(course.join("Cargo.toml"), without_grader).unwrap();
    // The shared chat page is a workspace member the manifest names.
    copy_dir(&root.join("chat-page"), &course.join("chat-page"));
    // Only stage 01, with the starter and the solution swapped.
    let catalogue = std::fs::read_to_string(root.join("grader/catalogue.toml")).unwrap();
    let stage_01 = &catalogue[..catalogue.find("\n[[stages]]\nid = \"02").unwrap()];
    std::fs::create_dir_all(course.join("grader")).unwrap();
    std::fs::write(course.join("grader/catalogue.toml"), stage_01).unwrap();
    for (from, to) in [("solutions", "exercises"), ("exercises", "solutions")] {
        copy_dir(
            &root.join(from).join("01-tcp-echo"),
            &course.join(to).join("01-tcp-echo"),
        );
    }
    // A chapter without its marker, and no fixtures at all.
    std::fs::create_dir_all(course.join("book/src")).unwrap();
    std::fs::write(
        course.join("book/src/SUMMARY.md"),
        "- [01](01-tcp-echo.md)\n",
    )
    .unwrap();
    std::fs::write(course.join("book/src/01-tcp-echo.md"), "# 01\n").unwrap();

    let progress = course.join("progress.txt");
    let target = root.join("target");
    let env = [
        ("COURSE_ROOT", course.as_path()),
        ("CARGO_TARGET_DIR", target.as_path()),
    ];
    let run = common::grader_with_env(&["dev", "check"], &progress, &env, Duration::from_secs(300));
    run.assert_code(1);
    for expected in [
        "hint `tokio-dependency` passes on the starter",
        "hint `echoes-a-line` passes on the starter",
        "hint `binds-tcp-listener` does not pass on the solution",
        "hint `survives-disconnect` does not pass on the solution",
        "has no `{{#hints 01-tcp-echo}}` marker",
        "0 fixtures in fixtures/01-tcp-echo; at least 4 are needed",
    ] {
        assert!(
            run.stdout.contains(expected),
            "missing {expected:?}\n{}",
            run.dump()
        );
    }
    common::assert_no_leftovers(&run);
}
