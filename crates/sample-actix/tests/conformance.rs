//! The shared conformance suite, run against this sample's binary: one test per case
//! (`cargo test -p sample-actix -- --list`).

fn main() -> std::process::ExitCode {
    conformance::run(env!("CARGO_BIN_EXE_sample-actix"))
}
