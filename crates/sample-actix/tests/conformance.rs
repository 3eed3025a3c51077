//! The shared conformance suite, run against this sample's binary.
conformance::suite!(env!("CARGO_BIN_EXE_sample-actix"));
