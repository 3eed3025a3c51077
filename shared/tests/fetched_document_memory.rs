//! What reading a fetched document costs in resident memory, whatever its shape (the contract:
//! "a 1 MiB key set or discovery document of any shape (a million tiny members, deep nesting,
//! one real key among junk) raises the process's peak resident memory by at most 16 MiB, and
//! by no more for several issuers fetching at once than their documents' sizes add up to").
//!
//! Each shape is parsed in a fresh child process (this test binary, run again with
//! [`SHAPE_VAR`] naming the shape), so that one shape's peak never hides another's. The child
//! builds its documents, resets its peak resident memory (`/proc/self/clear_refs`), reads its
//! resident memory (`VmRSS`), parses, and reads the peak (`VmHWM`); the rise is the peak over
//! the memory before. Where the reset is refused, the peak of building the documents counts
//! too, so the figure can only be higher than the parse's own.

use std::fmt::Write as _;
use std::process::Command;

use api_auth::{Algorithm, discovery_jwks_uri, parse_alb_key, parse_jwks};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The environment variable that makes this binary a child measuring one shape.
const SHAPE_VAR: &str = "API_AUTH_FETCHED_MEMORY_SHAPE";
/// What a child prints before its figures.
const MARK: &str = "fetched-document-memory:";
/// The body limit of a fetch (`KeySetPolicy::default().max_body_bytes`).
const LIMIT: usize = 1024 * 1024;
/// The contract's bound per document of [`LIMIT`] bytes, in KiB.
const BOUND_KIB_PER_DOCUMENT: u64 = 16 * 1024;
/// The production limit of keys per set.
const MAX_KEYS: usize = 100;
/// The configured issuer of the discovery shapes.
const ISSUER: &str = "https://idp.test";
/// Nesting that `serde_json`'s recursion limit (128) allows inside the members around it.
const CHAIN_DEPTH: usize = 120;

/// Which parser reads a shape's documents.
#[derive(Clone, Copy)]
enum Parser {
    Jwks,
    Discovery,
    AlbKey,
}

/// A document shape: its documents (parsed at once, each on its own thread when there are
/// several) and what parsing each must give.
struct Shape {
    name: &'static str,
    parser: Parser,
    copies: usize,
    build: fn() -> Vec<u8>,
    expected: &'static str,
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "junk entries {\"a\":0} in keys, one real key",
        parser: Parser::Jwks,
        copies: 1,
        build: junk_entries,
        expected: "keys=1",
    },
    Shape {
        name: "empty objects in keys, one real key",
        parser: Parser::Jwks,
        copies: 1,
        build: empty_objects,
        expected: "keys=1",
    },
    Shape {
        name: "numbers in keys, one real key",
        parser: Parser::Jwks,
        copies: 1,
        build: numbers,
        expected: "keys=1",
    },
    Shape {
        name: "tiny members in one key object",
        parser: Parser::Jwks,
        copies: 1,
        build: members_in_one_key,
        expected: "keys=1",
    },
    Shape {
        name: "tiny top-level members",
        parser: Parser::Jwks,
        copies: 1,
        build: top_level_members,
        expected: "keys=1",
    },
    Shape {
        name: "nested arrays in an ignored member",
        parser: Parser::Jwks,
        copies: 1,
        build: nested_arrays_ignored,
        expected: "keys=1",
    },
    Shape {
        name: "nested objects in an ignored member of a key",
        parser: Parser::Jwks,
        copies: 1,
        build: nested_objects_in_a_key,
        expected: "keys=1",
    },
    Shape {
        name: "a key with a 1 MiB string n",
        parser: Parser::Jwks,
        copies: 1,
        build: long_n,
        expected: "keys=1",
    },
    Shape {
        name: "escaped strings in keys",
        parser: Parser::Jwks,
        copies: 1,
        build: escaped_strings,
        expected: "keys=1",
    },
    Shape {
        name: "a real key with a 1 MiB escaped kid",
        parser: Parser::Jwks,
        copies: 1,
        build: escaped_kid,
        expected: "keys=1",
    },
    Shape {
        name: "a real key with 1 MiB of key_ops",
        parser: Parser::Jwks,
        copies: 1,
        build: long_key_ops,
        expected: "keys=1",
    },
    Shape {
        name: "four key sets of junk entries at once",
        parser: Parser::Jwks,
        copies: 4,
        build: junk_entries,
        expected: "keys=1",
    },
    Shape {
        name: "discovery: tiny members",
        parser: Parser::Discovery,
        copies: 1,
        build: discovery_members,
        expected: "jwks_uri=https://idp.test/keys",
    },
    Shape {
        name: "discovery: nested arrays in an ignored member",
        parser: Parser::Discovery,
        copies: 1,
        build: discovery_nested,
        expected: "jwks_uri=https://idp.test/keys",
    },
    Shape {
        name: "discovery: escaped strings",
        parser: Parser::Discovery,
        copies: 1,
        build: discovery_escaped,
        expected: "jwks_uri=https://idp.test/keys",
    },
    Shape {
        name: "four discovery documents at once",
        parser: Parser::Discovery,
        copies: 4,
        build: discovery_members,
        expected: "jwks_uri=https://idp.test/keys",
    },
    Shape {
        name: "ALB key: PEM with 1 MiB of header lines",
        parser: Parser::AlbKey,
        copies: 1,
        build: pem_header_lines,
        expected: "refused",
    },
    Shape {
        name: "ALB key: PEM header lines behind a false end boundary",
        parser: Parser::AlbKey,
        copies: 1,
        build: pem_header_lines_behind_a_false_end,
        expected: "refused",
    },
    Shape {
        name: "ALB key: PEM with 1 MiB of base64",
        parser: Parser::AlbKey,
        copies: 1,
        build: pem_long_data,
        expected: "refused",
    },
];

/// A document: `prefix`, then as many `item`s (joined by `,`) as fit with `suffix` in
/// [`LIMIT`] bytes, then `suffix`.
fn filled(prefix: &str, item: impl Fn(usize) -> String, suffix: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(LIMIT);
    out.extend_from_slice(prefix.as_bytes());
    for index in 0.. {
        let next = item(index);
        let separator = usize::from(index > 0);
        if out.len() + separator + next.len() + suffix.len() > LIMIT {
            break;
        }
        if separator == 1 {
            out.push(b',');
        }
        out.extend_from_slice(next.as_bytes());
    }
    out.extend_from_slice(suffix.as_bytes());
    assert!(out.len() <= LIMIT);
    out
}

/// A real Ed25519 key's JWK text, with `extra` members (each `"name":value`, comma-led).
fn real_key(extra: &str) -> String {
    let key = Ed25519KeyPair::generate().expect("key generation");
    let x = URL_SAFE_NO_PAD.encode(key.public_key().as_ref());
    format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"real","x":"{x}"{extra}}}"#)
}

fn junk_entries() -> Vec<u8> {
    filled(
        r#"{"keys":["#,
        |_| r#"{"a":0}"#.to_owned(),
        &format!(",{}]}}", real_key("")),
    )
}

fn empty_objects() -> Vec<u8> {
    filled(
        r#"{"keys":["#,
        |_| "{}".to_owned(),
        &format!(",{}]}}", real_key("")),
    )
}

fn numbers() -> Vec<u8> {
    filled(
        r#"{"keys":["#,
        |_| "0".to_owned(),
        &format!(",{}]}}", real_key("")),
    )
}

fn members_in_one_key() -> Vec<u8> {
    filled(
        r#"{"keys":[{"kty":"RSA","#,
        |i| format!("\"a{i}\":0"),
        &format!("}},{}]}}", real_key("")),
    )
}

fn top_level_members() -> Vec<u8> {
    filled(
        "{",
        |i| format!("\"a{i}\":0"),
        &format!(r#","keys":[{}]}}"#, real_key("")),
    )
}

/// A chain of `depth` nested arrays.
fn array_chain(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A chain of `depth` nested one-member objects.
fn object_chain(depth: usize) -> String {
    format!("{}0{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

fn nested_arrays_ignored() -> Vec<u8> {
    filled(
        r#"{"x":["#,
        |_| array_chain(CHAIN_DEPTH),
        &format!(r#"],"keys":[{}]}}"#, real_key("")),
    )
}

fn nested_objects_in_a_key() -> Vec<u8> {
    let key = real_key(r#","junk":["#);
    filled(
        &format!(r#"{{"keys":[{}"#, key.trim_end_matches('}')),
        |_| object_chain(CHAIN_DEPTH),
        "]}]}",
    )
}

fn long_n() -> Vec<u8> {
    let tail = format!(r#"","e":"AQAB"}},{}]}}"#, real_key(""));
    let mut out = br#"{"keys":[{"kty":"RSA","n":""#.to_vec();
    out.resize(LIMIT - tail.len(), b'A');
    out.extend_from_slice(tail.as_bytes());
    out
}

fn escaped_strings() -> Vec<u8> {
    filled(
        r#"{"keys":["#,
        |_| r#""\u0041""#.to_owned(),
        &format!(",{}]}}", real_key("")),
    )
}

fn escaped_kid() -> Vec<u8> {
    let key = real_key("");
    let (head, tail) = key.split_at(key.find(r#""real""#).expect("the kid") + 1);
    let mut out = format!(r#"{{"keys":[{head}"#).into_bytes();
    let tail = format!("{}]}}", tail.trim_start_matches("real"));
    while out.len() + 6 + tail.len() <= LIMIT {
        out.extend_from_slice(br"\u0041");
    }
    out.extend_from_slice(tail.as_bytes());
    out
}

fn long_key_ops() -> Vec<u8> {
    let key = real_key(r#","key_ops":["verify""#);
    filled(
        &format!(r#"{{"keys":[{},"#, key.trim_end_matches('}')),
        |_| r#""a""#.to_owned(),
        "]}]}",
    )
}

const DISCOVERY_HEAD: &str = r#"{"issuer":"https://idp.test","jwks_uri":"https://idp.test/keys","#;

fn discovery_members() -> Vec<u8> {
    filled(DISCOVERY_HEAD, |i| format!("\"a{i}\":0"), "}")
}

fn discovery_nested() -> Vec<u8> {
    filled(
        &format!(r#"{DISCOVERY_HEAD}"x":["#),
        |_| array_chain(CHAIN_DEPTH),
        "]}",
    )
}

fn discovery_escaped() -> Vec<u8> {
    filled(
        &format!(r#"{DISCOVERY_HEAD}"x":["#),
        |_| r#""\u0041""#.to_owned(),
        "]}",
    )
}

/// A PEM public key of a real P-256 key, its base64 in lines of 64.
fn pem_body(der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let mut out = String::new();
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out
}

fn p256_der() -> Vec<u8> {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key generation");
    key.public_key().as_der().expect("DER").as_ref().to_vec()
}

/// RFC 7468 §2 permits no headers in a PEM public key; the `pem` crate keeps each line of a
/// header section as a `String`.
fn pem_header_lines() -> Vec<u8> {
    pem_lines_before_a_key(b"a\n", "\n")
}

/// Header lines, then `------END ` (one dash too many, which the `pem` crate's boundary
/// search passes over) and a blank line, then a real key.
fn pem_header_lines_behind_a_false_end() -> Vec<u8> {
    pem_lines_before_a_key(b":\n", "------END :x\n\n")
}

/// A PEM block of `line` repeated to the limit, then `separator` and a real key.
fn pem_lines_before_a_key(line: &[u8], separator: &str) -> Vec<u8> {
    let tail = format!(
        "{separator}{}-----END PUBLIC KEY-----\n",
        pem_body(&p256_der())
    );
    let mut out = b"-----BEGIN PUBLIC KEY-----\n".to_vec();
    while out.len() + line.len() + tail.len() <= LIMIT {
        out.extend_from_slice(line);
    }
    out.extend_from_slice(tail.as_bytes());
    out
}

fn pem_long_data() -> Vec<u8> {
    let end = "-----END PUBLIC KEY-----\n";
    let mut out = b"-----BEGIN PUBLIC KEY-----\n".to_vec();
    let room = (LIMIT - out.len() - end.len()) / 65 * 48;
    out.extend_from_slice(pem_body(&vec![0x30; room]).as_bytes());
    out.extend_from_slice(end.as_bytes());
    assert!(out.len() <= LIMIT);
    out
}

/// What parsing one document gives, in a few words.
fn parse(parser: Parser, document: &[u8]) -> String {
    match parser {
        Parser::Jwks => match parse_jwks(document, MAX_KEYS) {
            Ok(set) => format!("keys={}", set.len()),
            Err(error) => format!("{error:?}"),
        },
        Parser::Discovery => match discovery_jwks_uri(document, ISSUER) {
            Ok(Some(url)) => format!("jwks_uri={url}"),
            Ok(None) => "no jwks_uri".to_owned(),
            Err(_) => "refused".to_owned(),
        },
        Parser::AlbKey => match parse_alb_key(document, "k1", Algorithm::ES256) {
            Ok(keys) => format!("keys={keys}"),
            Err(_) => "refused".to_owned(),
        },
    }
}

/// A figure of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// The child's side: builds, measures and parses the shape named by [`SHAPE_VAR`]; does
/// nothing when run as an ordinary test.
#[test]
fn child_measures_one_shape() {
    let Ok(name) = std::env::var(SHAPE_VAR) else {
        return;
    };
    let shape = SHAPES
        .iter()
        .find(|shape| shape.name == name)
        .expect("a known shape");
    let documents: Vec<Vec<u8>> = (0..shape.copies).map(|_| (shape.build)()).collect();
    // Warm up what a first parse allocates once (thread-local state, lazy statics).
    drop(parse(shape.parser, br#"{"keys":[]}"#));
    let threads_ready = std::sync::Barrier::new(shape.copies);
    // "5" resets the peak to the current resident memory (Linux 4.0 and later).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS");
    let outcomes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = documents
            .iter()
            .map(|document| {
                let ready = &threads_ready;
                scope.spawn(move || {
                    ready.wait();
                    parse(shape.parser, document)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("the parse does not panic"))
            .collect()
    });
    let peak = status_kib("VmHWM");
    let sizes: Vec<String> = documents.iter().map(|d| d.len().to_string()).collect();
    println!(
        "{MARK} before={before} peak={peak} reset={reset} sizes={} outcome={}",
        sizes.join("+"),
        outcomes.join("|")
    );
}

/// One shape's figures, as its child printed them.
struct Figures {
    before: u64,
    peak: u64,
    sizes: String,
    outcome: String,
}

fn measure_in_a_child(shape: &Shape) -> Figures {
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args(["--exact", "child_measures_one_shape", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(SHAPE_VAR, shape.name)
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}: the child failed\n{stdout}\n{}",
        shape.name,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.split_once(MARK).map(|(_, figures)| figures))
        .unwrap_or_else(|| panic!("{}: no figures in\n{stdout}", shape.name));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_owned()
    };
    let number = |name: &str| field(name).parse().expect("a number of KiB");
    Figures {
        before: number("before"),
        peak: number("peak"),
        sizes: field("sizes"),
        outcome: field("outcome"),
    }
}

#[test]
fn a_fetched_document_of_any_shape_raises_peak_memory_by_at_most_16_mib_per_document() {
    let mut report = String::new();
    let mut failures = Vec::new();
    for shape in SHAPES {
        let figures = measure_in_a_child(shape);
        let rise = figures.peak.saturating_sub(figures.before);
        let bound = BOUND_KIB_PER_DOCUMENT * u64::try_from(shape.copies).expect("a few copies");
        let _ = writeln!(
            report,
            "{:<48} {:>9} bytes  rise {:>7} KiB (bound {bound} KiB)  {}",
            shape.name, figures.sizes, rise, figures.outcome
        );
        if rise > bound {
            failures.push(format!(
                "{}: peak resident memory rose by {rise} KiB, over {bound} KiB",
                shape.name
            ));
        }
        let expected = vec![shape.expected; shape.copies].join("|");
        if figures.outcome != expected {
            failures.push(format!(
                "{}: parsed as {}, not {expected}",
                shape.name, figures.outcome
            ));
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{failures:#?}\n{report}");
}
