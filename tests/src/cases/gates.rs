//! The gates every request passes before its route: `SHARED_SECRET`, the HTTPS redirect of
//! `FORCE_HTTPS`, and the request's host and scheme, which the client chooses:
//! `ALLOWED_HOSTS` refuses any host not listed before any other gate, an absolute-form
//! target's authority is the host whatever `Host` says (RFC 9112 §3.2.2), only the last
//! `X-Forwarded-Proto` value (the nearest proxy's) decides whether a request came over HTTPS,
//! and `FORCE_HTTPS` without `ALLOWED_HOSTS` is warned about.

use std::path::Path;

use super::Case;
use super::support::{assert_granted, claims, remote, wait_logs};
use crate::keys::{keys, mint};
use crate::raw::{RawAnswer, exchange, raw_get};
use crate::sample::{Resp, Sample};

const SECRET: &str = "gw-secret-value-1-0f3a9c2e7b81d46a5c";

/// Whether `bin` is the Rocket sample. Rocket 0.5 hands the application only the path and
/// query of the request target, so there `Host` names the host even for an absolute-form
/// target (README, "What a framework forced to differ"); everywhere else the target's
/// authority does.
fn host_header_decides(bin: &str) -> bool {
    Path::new(bin)
        .file_name()
        .is_some_and(|name| name == "sample-rocket")
}

/// Sends `GET target` with `Host: host` and the given extra header lines, as raw bytes.
async fn get_with_host(s: &Sample, target: &str, host: &str, headers: &str) -> RawAnswer {
    let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n");
    exchange(s.authority(), request.as_bytes()).await
}

#[track_caller]
fn assert_host_refused(resp: &Resp, what: &str) {
    assert_eq!(resp.status, 400, "{what}: {}", resp.text);
    assert_eq!(resp.error(), "invalid_request", "{what}: {}", resp.text);
    assert!(resp.header("location").is_none(), "{what}: redirected");
}

/// `SHARED_SECRET` gates every route but `/healthz`, unknown routes included.
async fn shared_secret_gates_every_route_but_healthz(bin: &str) {
    let secret = SECRET;
    let r = remote(bin, &[("SHARED_SECRET", secret)]).await;
    let s = &r.sample;
    assert_eq!(s.get("/healthz", &[]).await.status, 200);
    for (what, headers) in [
        ("missing", vec![]),
        (
            "wrong",
            vec![("x-shared-secret", "gw-secret-value-2-0f3a9c2e7b81d46a5c")],
        ),
        ("prefix", vec![("x-shared-secret", "gw-secret")]),
        ("empty", vec![("x-shared-secret", "")]),
    ] {
        for path in ["/public", "/protected", "/admin", "/me", "/no-such-route"] {
            let resp = s.get(path, &headers).await;
            assert_eq!(resp.status, 401, "{what} {path}: {}", resp.text);
            assert_eq!(resp.error(), "invalid_shared_secret", "{what} {path}");
        }
    }
    let ok = s.get("/public", &[("x-shared-secret", secret)]).await;
    assert_eq!(ok.status, 200);
    let no_token = s.get("/protected", &[("x-shared-secret", secret)]).await;
    assert_eq!(
        no_token.error(),
        "missing_token",
        "the route's own check comes after the gate"
    );
    let token = mint(&keys().rsa, &claims(&r.idp.issuer()));
    let auth = format!("Bearer {token}");
    assert_granted(
        &s.get(
            "/protected",
            &[("x-shared-secret", secret), ("authorization", &auth)],
        )
        .await,
        "both",
    );
    assert_eq!(
        s.get("/no-such-route", &[("x-shared-secret", secret)])
            .await
            .status,
        404
    );
    assert!(
        !s.logs().contains(secret),
        "the secret appeared in the logs"
    );
}

/// `SHARED_SECRET_PREVIOUS`: during a rotation both secrets open the gate, and no other.
async fn shared_secret_rotation_accepts_both(bin: &str) {
    const PREVIOUS: &str = "gw-previous-value-8c1e4a7f0b3d9265e1";
    let r = remote(
        bin,
        &[
            ("SHARED_SECRET", SECRET),
            ("SHARED_SECRET_PREVIOUS", PREVIOUS),
        ],
    )
    .await;
    let s = &r.sample;
    for secret in [SECRET, PREVIOUS] {
        let ok = s.get("/public", &[("x-shared-secret", secret)]).await;
        assert_eq!(ok.status, 200, "{secret}: {}", ok.text);
    }
    let other = s
        .get(
            "/public",
            &[("x-shared-secret", "gw-some-other-value-8c1e4a7f0b3d9265e")],
        )
        .await;
    assert_eq!(other.status, 401, "{}", other.text);
    assert_eq!(other.error(), "invalid_shared_secret");
    let logs = s.logs();
    assert!(!logs.contains(SECRET) && !logs.contains(PREVIOUS), "{logs}");
}

/// `FORCE_HTTPS=1`: plain HTTP is redirected before any other check.
async fn plain_http_is_redirected_before_other_checks(bin: &str) {
    let s = Sample::start(bin, &[("FORCE_HTTPS", "1"), ("SHARED_SECRET", SECRET)]).await;
    let plain = s.get("/public?x=1", &[("host", "api.example")]).await;
    assert_eq!(plain.status, 308, "{}", plain.text);
    assert_eq!(
        plain.header("location"),
        Some("https://api.example/public?x=1")
    );
    let https = s
        .get(
            "/public",
            &[("x-forwarded-proto", "https"), ("x-shared-secret", SECRET)],
        )
        .await;
    assert_eq!(https.status, 200, "{}", https.text);
    let no_secret = s.get("/public", &[("x-forwarded-proto", "https")]).await;
    assert_eq!(no_secret.status, 401);
    assert_eq!(
        s.get("/healthz", &[]).await.status,
        200,
        "/healthz is exempt"
    );
}

/// A request line with raw UTF-8 bytes gets a `308` whose `Location` is ASCII and decodes back
/// to the request's URL; a framework whose parser refuses such a request line answers `400`
/// (actix-web), never anything else.
async fn redirect_location_is_a_uri(bin: &str) {
    let s = Sample::start(bin, &[("FORCE_HTTPS", "1")]).await;
    let answer = raw_get(s.authority(), "/café?q=é&x=ü".as_bytes(), "").await;
    if answer.status == 400 {
        return;
    }
    assert_eq!(
        answer.status,
        308,
        "{}",
        String::from_utf8_lossy(&answer.head)
    );
    let location = answer.header("location").expect("a Location header");
    assert!(
        location.iter().all(|b| (0x21..0x7f).contains(b)),
        "not printable ASCII: {location:?}"
    );
    let decoded = percent_encoding::percent_decode(location).decode_utf8_lossy();
    assert_eq!(decoded, "https://a.example/café?q=é&x=ü");
    assert!(url::Url::parse(std::str::from_utf8(location).unwrap_or_default()).is_ok());
}

/// Only the last value of the last `X-Forwarded-Proto` header decides: a proxy that appends
/// writes it, and anything before it came from whoever called that proxy.
async fn forwarded_proto_last_value_decides(bin: &str) {
    let s = Sample::start(bin, &[("FORCE_HTTPS", "1")]).await;
    for (values, https) in [
        (&["https"][..], true),
        (&["http, https"], true),
        (&["http,https"], true),
        (&["http", "https"], true),
        (&["https, http", "http, https"], true),
        (&["http"], false),
        (&["https, http"], false),
        (&["https", "http"], false),
        (&["http, https", "https, http"], false),
        (&["https,"], false),
        (&["https", "https, "], false),
    ] {
        let mut headers = vec![("host", "a.example")];
        headers.extend(values.iter().map(|value| ("x-forwarded-proto", *value)));
        let resp = s.get("/public", &headers).await;
        if https {
            assert_eq!(resp.status, 200, "{values:?}: {}", resp.text);
        } else {
            assert_eq!(resp.status, 308, "{values:?}: {}", resp.text);
            assert_eq!(resp.header("location"), Some("https://a.example/public"));
        }
    }
}

/// A host that is not listed gets `400 invalid_request` before the HTTPS redirect and the
/// shared secret, on every path but the probes; a listed one (any case; with any port when
/// the entry names none, with exactly its port when it does) is served as usual, and the
/// redirect goes to it.
async fn unlisted_host_refused(bin: &str) {
    let s = Sample::start(
        bin,
        &[
            ("ALLOWED_HOSTS", "good.example, api.example:8443"),
            ("FORCE_HTTPS", "1"),
            ("SHARED_SECRET", SECRET),
        ],
    )
    .await;
    for host in [
        "evil.example",
        "good.example.evil.example",
        "xgood.example",
        "api.example",
        "api.example:443",
        "evil.example:8443",
        "good.example:http",
    ] {
        for path in ["/public", "/protected", "/no-such-route"] {
            let what = format!("{host} {path}");
            assert_host_refused(&s.get(path, &[("host", host)]).await, &what);
            let through_gateway = s
                .get(
                    path,
                    &[
                        ("host", host),
                        ("x-forwarded-proto", "https"),
                        ("x-shared-secret", SECRET),
                    ],
                )
                .await;
            assert_host_refused(&through_gateway, &format!("{what} through the gateway"));
        }
    }
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let resp = s.get(probe, &[("host", "evil.example")]).await;
        assert_eq!(resp.status, 200, "{probe} is exempt: {}", resp.text);
    }
    let no_host = exchange(s.authority(), b"GET /public HTTP/1.0\r\n\r\n").await;
    assert!(
        (400..500).contains(&no_host.status),
        "no host at all: {}",
        String::from_utf8_lossy(&no_host.head)
    );
    let gateway = [("x-forwarded-proto", "https"), ("x-shared-secret", SECRET)];
    for host in [
        "good.example",
        "GOOD.Example",
        "good.example:8080",
        "api.example:8443",
        "API.EXAMPLE:8443",
    ] {
        let mut headers = vec![("host", host)];
        headers.extend(gateway);
        let public = s.get("/public", &headers).await;
        assert_eq!(public.status, 200, "{host}: {}", public.text);
        let protected = s.get("/protected", &headers).await;
        assert_eq!(protected.status, 401, "{host}: {}", protected.text);
        assert_eq!(protected.error(), "missing_token", "{host}");
        let plain = s.get("/public?x=1", &[("host", host)]).await;
        assert_eq!(plain.status, 308, "{host}: {}", plain.text);
        assert_eq!(
            plain.header("location"),
            Some(format!("https://{host}/public?x=1").as_str()),
        );
    }
}

/// An absolute-form target's authority is the request's host, whatever `Host` says, for
/// `ALLOWED_HOSTS` and for the redirect's `Location` (Rocket: see [`host_header_decides`]).
async fn absolute_form_authority_is_the_host(bin: &str) {
    let rocket = host_header_decides(bin);
    let listed = Sample::start(bin, &[("ALLOWED_HOSTS", "good.example")]).await;
    let answer = get_with_host(&listed, "http://good.example/public", "evil.example", "").await;
    if rocket {
        assert_eq!(
            answer.status, 400,
            "Rocket: Host evil.example is not listed"
        );
    } else {
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.head)
        );
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        assert_eq!(body["message"], "Anyone can see this");
    }
    let answer = get_with_host(&listed, "http://evil.example/public", "good.example", "").await;
    if rocket {
        assert_eq!(answer.status, 200, "Rocket: Host good.example is listed");
    } else {
        assert_eq!(answer.status, 400, "the target names evil.example");
        assert_eq!(answer.error(), "invalid_request");
    }

    let open = Sample::start(bin, &[("FORCE_HTTPS", "1")]).await;
    let answer = get_with_host(&open, "http://good.example/public?x=1", "evil.example", "").await;
    assert_eq!(answer.status, 308);
    let expected: &[u8] = if rocket {
        b"https://evil.example/public?x=1"
    } else {
        b"https://good.example/public?x=1"
    };
    assert_eq!(answer.header("location"), Some(expected));

    let closed = Sample::start(
        bin,
        &[("ALLOWED_HOSTS", "good.example"), ("FORCE_HTTPS", "1")],
    )
    .await;
    let answer = get_with_host(&closed, "http://good.example/public", "evil.example", "").await;
    if rocket {
        assert_eq!(
            answer.status, 400,
            "Rocket: Host evil.example is not listed"
        );
    } else {
        assert_eq!(answer.status, 308);
        assert_eq!(
            answer.header("location"),
            Some(&b"https://good.example/public"[..])
        );
    }
    let answer = get_with_host(&closed, "http://evil.example/public", "good.example", "").await;
    if rocket {
        assert_eq!(
            answer.header("location"),
            Some(&b"https://good.example/public"[..])
        );
    } else {
        assert_eq!(answer.status, 400, "never a redirect to evil.example");
        assert!(answer.header("location").is_none());
    }
}

/// `FORCE_HTTPS=1` without `ALLOWED_HOSTS` starts, with a warning naming `ALLOWED_HOSTS`;
/// with it, there is no such warning.
async fn force_https_without_allowed_hosts_is_warned(bin: &str) {
    let open = Sample::start(bin, &[("FORCE_HTTPS", "1")]).await;
    let logs = wait_logs(&open, "ALLOWED_HOSTS").await;
    assert!(logs.contains("FORCE_HTTPS"), "{logs}");
    assert!(logs.contains("open redirect"), "{logs}");

    let closed = Sample::start(bin, &[("FORCE_HTTPS", "1"), ("ALLOWED_HOSTS", "127.0.0.1")]).await;
    // A refusal is logged after every start-up line, so once it is there, a warning would be.
    let refused = closed
        .get("/protected", &[("x-forwarded-proto", "https")])
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);
    let logs = wait_logs(&closed, "request refused").await;
    assert!(!logs.contains("ALLOWED_HOSTS"), "{logs}");
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(shared_secret_gates_every_route_but_healthz),
    case!(shared_secret_rotation_accepts_both),
    case!(plain_http_is_redirected_before_other_checks),
    case!(redirect_location_is_a_uri),
    case!(forwarded_proto_last_value_decides),
    case!(unlisted_host_refused),
    case!(absolute_form_authority_is_the_host),
    case!(force_https_without_allowed_hosts_is_warned),
];
