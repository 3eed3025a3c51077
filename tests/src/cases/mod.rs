//! Every case of the contract, grouped by behaviour, each a function of the sample binary's
//! path.
//!
//! # Adding a case
//!
//! 1. Write it in the group it belongs to as a private `async fn rule_it_checks(bin: &str)`,
//!    with a doc comment stating the rule. Name it after the rule, not the topic
//!    (`expired_and_not_yet_valid_tokens_are_refused`, not `time_claims`).
//! 2. Add `case!(rule_it_checks)` to the `CASES` list at the end of that file.
//!
//! A new group is a new file here with its own `CASES` list, declared below with `mod` and
//! added to [`GROUPS`]. Helpers several groups share go in `support.rs`.
//!
//! The crate denies dead code, so a case left out of its file's `CASES`, or a `CASES` left
//! out of [`GROUPS`], fails the build. Each case runs as its own test named
//! `group::case` (see [`crate::run`]).

use std::future::Future;
use std::pin::Pin;

/// What running a case yields: a future that panics if the sample breaks the rule.
pub(crate) type CaseFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One case: its name and how to run it against a sample binary.
pub(crate) struct Case {
    /// The function's name, which says the rule it checks.
    pub(crate) name: &'static str,
    /// Runs the case against the sample binary at the given path.
    pub(crate) run: fn(&'static str) -> CaseFuture,
}

/// The cases of one module.
pub(crate) struct Group {
    /// The module's name.
    pub(crate) name: &'static str,
    /// Its cases, in the order they are listed there.
    pub(crate) cases: &'static [Case],
}

/// `case!(name)`: the [`Case`] of the `async fn name(bin: &str)` in scope.
macro_rules! case {
    ($name:ident) => {
        $crate::cases::Case {
            name: stringify!($name),
            run: |bin| Box::pin($name(bin)),
        }
    };
}

/// `group!(module)`: the [`Group`] of `module::CASES`.
macro_rules! group {
    ($module:ident) => {
        Group {
            name: stringify!($module),
            cases: $module::CASES,
        }
    };
}

mod api_keys;
mod attacks;
mod certificate_binding;
mod dev_mode;
mod dpop;
mod dpop_interop;
mod dpop_replay;
mod dpop_settings;
mod gates;
mod gateway_assertions;
mod gateway_interop;
mod hostile_key_sets;
mod interop;
mod key_set;
mod operations;
mod resource_metadata;
mod routes;
mod several_issuers;
mod startup;
mod support;
mod tokens;

/// Every group, in the order the suite lists them.
pub(crate) const GROUPS: &[Group] = &[
    group!(dev_mode),
    group!(routes),
    group!(tokens),
    group!(attacks),
    group!(gates),
    group!(api_keys),
    group!(key_set),
    group!(hostile_key_sets),
    group!(several_issuers),
    group!(operations),
    group!(startup),
    group!(interop),
    group!(gateway_assertions),
    group!(gateway_interop),
    group!(dpop),
    group!(dpop_settings),
    group!(dpop_replay),
    group!(dpop_interop),
    group!(certificate_binding),
    group!(resource_metadata),
];
