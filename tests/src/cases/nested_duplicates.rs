//! Duplicate member names inside nested objects of the header or the payload.

use jsonwebtoken::Algorithm;

use super::{assert_granted, assert_invalid_token, remote};
use crate::keys::{keys, now, sign_raw};

/// A repeated member name is refused at any depth (RFC 7515 §5.2), not resolved to its
/// last value: in a nested claim, in an object inside an array, and in a header member.
/// The same tokens without the repetition are accepted.
pub async fn nested_duplicate_members(bin: &str) {
    let r = remote(bin, &[]).await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let header = r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#;
    let payload = |extra: &str| {
        format!(
            r#"{{"sub":"alice","iss":"{iss}","exp":{},{extra}}}"#,
            now() + 300
        )
    };
    let sign =
        |header: &str, payload: &str| sign_raw(header, payload, &k.encoding, Algorithm::RS256);

    for (what, header, extra) in [
        (
            "nested claim",
            header.to_owned(),
            r#""realm_access":{"roles":["user"]}"#,
        ),
        (
            "object in an array",
            header.to_owned(),
            r#""groups":[{"id":1},{"id":2}]"#,
        ),
        (
            "nested header member",
            r#"{"alg":"RS256","kid":"rsa-1","x-meta":{"v":1,"w":{"v":2}}}"#.to_owned(),
            r#""n":0"#,
        ),
    ] {
        let resp = r
            .sample
            .get_bearer("/protected", &sign(&header, &payload(extra)))
            .await;
        assert_granted(&resp, &format!("{what}, members unique"));
    }

    for (what, header, extra) in [
        (
            "duplicate in a nested claim",
            header.to_owned(),
            r#""realm_access":{"roles":["user"],"roles":["admin"]}"#,
        ),
        (
            "duplicate in an object in an array",
            header.to_owned(),
            r#""groups":[{"id":1},{"id":2,"id":3}]"#,
        ),
        (
            "duplicate three objects deep",
            header.to_owned(),
            r#""a":{"b":{"c":{"d":1,"d":1}}}"#,
        ),
        (
            "duplicate in a nested header member",
            r#"{"alg":"RS256","kid":"rsa-1","x-meta":{"v":1,"v":2}}"#.to_owned(),
            r#""n":0"#,
        ),
    ] {
        let token = sign(&header, &payload(extra));
        for path in ["/protected", "/admin"] {
            let resp = r.sample.get_bearer(path, &token).await;
            assert_invalid_token(&resp, &format!("{what} on {path}"));
        }
    }
}
