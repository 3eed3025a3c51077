//! The runner: every registered case as its own named test, with libtest's command line
//! (`cargo test -p sample-axum -- <filter>`, `--exact`, `--skip`, `--list`,
//! `--test-threads`), through `libtest-mimic`.

use std::collections::HashSet;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::cases::{CaseFuture, GROUPS};

/// Worker threads of each case's runtime, as `#[tokio::test(flavor = "multi_thread",
/// worker_threads = 2)]` would give it.
const WORKER_THREADS: usize = 2;

/// Runs the suite against the sample binary at `bin`, as the `main` of a `harness = false`
/// test target, and returns the exit code libtest would.
///
/// ```ignore
/// fn main() -> std::process::ExitCode {
///     conformance::run(env!("CARGO_BIN_EXE_sample-axum"))
/// }
/// ```
///
/// Each case is a test named `group::case` on a Tokio runtime of its own; a case that panics
/// fails with its panic message. Two cases with the same name stop the run before any starts.
pub fn run(bin: &'static str) -> ExitCode {
    let arguments = Arguments::from_args();
    let mut names = HashSet::new();
    let mut trials = Vec::new();
    for group in GROUPS {
        for case in group.cases {
            let name = format!("{}::{}", group.name, case.name);
            assert!(names.insert(name.clone()), "{name} is registered twice");
            let run = case.run;
            trials.push(Trial::test(name, move || run_case(bin, run)));
        }
    }
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Runs one case on a fresh multi-thread runtime; `libtest-mimic` turns a panic into a
/// failure carrying its message.
fn run_case(bin: &'static str, run: fn(&'static str) -> CaseFuture) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot build a Tokio runtime: {e}"))?;
    runtime.block_on(run(bin));
    Ok(())
}
