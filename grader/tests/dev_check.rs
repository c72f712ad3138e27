//! `cargo grade dev check` passes on the course as committed: starters fail every hint,
//! solutions pass every hint, fixtures match their recorded reports.

mod common;

#[test]
fn dev_check_passes() {
    let run = common::grader(&["dev", "check"]);
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
