//! The conformance suite: the sample contract, checked over real sockets against a sample
//! binary, with a real identity provider on loopback and real keys.
//!
//! A sample runs the whole suite from one `harness = false` test target:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     conformance::run(env!("CARGO_BIN_EXE_sample-axum"))
//! }
//! ```
//!
//! Each case becomes its own test, named `group::case` after the module that holds it and the
//! rule it checks. How to add one: the `cases` module's documentation.

// A case that is written but not registered is dead code: the build fails rather than
// silently never running it.
#![deny(dead_code)]

mod cases;
pub mod challenge;
pub mod dpop_client;
pub mod dpop_proof;
pub mod interop;
pub mod keys;
mod raw;
pub mod redis;
mod runner;
pub mod sample;
pub mod vendors;

pub use runner::run;
/// The identity provider on loopback, shared with the fuzz targets and benchmarks.
pub use test_keys::idp;
