//! Stands in for the end-to-end suites when the `e2e` feature is off (a plain `cargo test` in a
//! fresh clone): they need the built binaries, a Python virtualenv with httpbin, kubectl and
//! helm, which `scripts/test.sh` prepares. The test's name is the message.

#![cfg(not(feature = "e2e"))]

#[test]
fn end_to_end_suites_skipped_run_scripts_test_sh_or_cargo_test_features_tollgate_e2e_e2e() {
    eprintln!(
        "the end-to-end suites were not built: run scripts/test.sh, or \
         `cargo build --workspace --bins && cargo test -p tollgate-e2e --features e2e` \
         once scripts/venv.sh and scripts/tools.sh have prepared .venv and .tools"
    );
}
