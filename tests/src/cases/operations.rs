//! Operations: readiness (which gates start-up but never the fleet), probes that no gate
//! stops, the Prometheus exposition, JSON logs, and tokens, secrets and credentials that
//! never reach the logs, `/healthz` or `/metrics`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Case;
use super::support::{assert_granted, claims, claims_with, remote, standard_jwks};
use crate::idp::{Idp, Mode};
use crate::keys::{keys, mint, mint_with_header, now};
use crate::sample::{Resp, Sample};

/// How long a case waits for a state it expects (key set arriving, a log line being read).
const WAIT: Duration = Duration::from_secs(30);

/// One series of a Prometheus text exposition.
#[derive(Debug)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format (comments skipped; label values here never carry
/// escaped quotes or commas, so a plain split is exact).
fn parse_exposition(text: &str) -> Vec<Series> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                    let labels = inner
                        .split(',')
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, quoted) = pair
                                .split_once('=')
                                .unwrap_or_else(|| panic!("bad label in {line:?}"));
                            (key.to_owned(), quoted.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            Series {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

/// The sum of the series named `name` whose labels include `labels` (0 when none exist yet).
fn value(series: &[Series], name: &str, labels: &[(&str, &str)]) -> f64 {
    series
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v))
        })
        .map(|s| s.value)
        .sum()
}

/// `GET /metrics` (with `headers`), checked for status and content type.
async fn scrape(sample: &Sample, headers: &[(&str, &str)]) -> (String, Vec<Series>) {
    let resp = sample.get("/metrics", headers).await;
    assert_eq!(resp.status, 200, "/metrics: {}", resp.text);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4"),
        "/metrics content type"
    );
    let series = parse_exposition(&resp.text);
    (resp.text, series)
}

/// `/readyz`, polled until it stops answering `503` (the key set arrived) or [`WAIT`] passes.
async fn readiness_settled(sample: &Sample) -> Resp {
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = sample.get("/readyz", &[]).await;
        if resp.status != 503 || Instant::now() >= deadline {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the sample's stderr satisfies `done`, returning its complete lines.
async fn wait_for_logs(sample: &Sample, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let logs = sample.logs();
        // Only whole lines: the last one may still be arriving.
        let complete = logs
            .rfind('\n')
            .map_or(String::new(), |end| logs[..=end].to_owned());
        if done(&complete) {
            return complete;
        }
        assert!(
            Instant::now() < deadline,
            "logs never showed {what}:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `/readyz`: 503 before the first key set arrives, 200 once it has; always 200 in dev mode.
async fn readiness_waits_for_the_first_key_set(bin: &str) {
    let dev = Sample::start(bin, &[]).await;
    let resp = dev.get("/readyz", &[]).await;
    assert_eq!(resp.status, 200, "dev mode is ready: {}", resp.text);
    assert_eq!(resp.json["status"], "ready", "{}", resp.text);

    let idp = Idp::start(standard_jwks()).await;
    idp.stop();
    let issuer = idp.issuer();
    let s = Sample::start(bin, &[("AUTH_ISSUER", issuer.as_str())]).await;
    let resp = s.get("/readyz", &[]).await;
    assert_eq!(resp.status, 503, "no key set yet: {}", resp.text);
    assert_eq!(resp.json["status"], "not_ready", "{}", resp.text);
    assert_eq!(s.get("/healthz", &[]).await.status, 200, "still alive");

    idp.restart().await;
    // The sample retries failed fetches on its own; wait for the state, bounded.
    let resp = readiness_settled(&s).await;
    assert_eq!(resp.status, 200, "ready once keys arrive: {}", resp.text);
    assert_eq!(resp.json["status"], "ready", "{}", resp.text);
    assert_eq!(
        s.get_bearer("/protected", &mint(&keys().rsa, &claims(&issuer)))
            .await
            .status,
        200
    );
}

/// Once ready, `/readyz` stays `200` when the identity provider goes away and the stale
/// allowance runs out: token routes answer `503` themselves, the rest keeps serving, and the
/// body says which issuer has no keys. (A probe that followed the provider would take every
/// replica out of the load balancer at once.)
async fn readiness_never_drops_after_start(bin: &str) {
    let idp = Idp::start(standard_jwks()).await;
    idp.set_cache_control("max-age=10");
    let issuer = idp.issuer();
    let s = Sample::start(
        bin,
        &[
            ("AUTH_ISSUER", issuer.as_str()),
            ("AUTH_JWKS_MIN_TTL_SECS", "10"),
            ("AUTH_JWKS_MAX_STALE_SECS", "0"),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let resp = readiness_settled(&s).await;
    assert_eq!(resp.status, 200, "ready once keys arrive: {}", resp.text);
    let token = mint(&keys().rsa, &claims(&issuer));
    assert_granted(
        &s.get_bearer("/protected", &token).await,
        "before the outage",
    );

    idp.stop();
    // The 10 s lifetime ends with no stale allowance: token routes refuse with 503.
    let deadline = Instant::now() + WAIT;
    loop {
        let resp = s.get_bearer("/protected", &token).await;
        if resp.status == 503 {
            assert!(resp.header("retry-after").is_some(), "{}", resp.text);
            break;
        }
        assert_eq!(resp.status, 200, "while the keys last: {}", resp.text);
        assert!(Instant::now() < deadline, "the keys never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resp = s.get("/readyz", &[]).await;
    assert_eq!(resp.status, 200, "readiness never drops: {}", resp.text);
    assert_eq!(resp.json["status"], "ready", "{}", resp.text);
    let state = &resp.json["issuers"][0];
    assert_eq!(state["issuer"], issuer.as_str(), "{}", resp.text);
    assert!(
        state["last_error"].is_string(),
        "the outage is reported: {}",
        resp.text
    );
    assert_eq!(
        s.get("/public", &[]).await.status,
        200,
        "open routes keep serving"
    );
}

/// With several issuers, one provider down at start-up does not hold readiness back once its
/// start-up fetch has failed and another issuer holds keys; that issuer's tokens get `503`,
/// the other's are served.
async fn readiness_needs_one_issuer_with_keys(bin: &str) {
    let up = Idp::start(standard_jwks()).await;
    let down = Idp::start(standard_jwks()).await;
    down.stop();
    let list = format!("{},{}", up.issuer(), down.issuer());
    let s = Sample::start(bin, &[("AUTH_ISSUER", list.as_str())]).await;
    let resp = readiness_settled(&s).await;
    assert_eq!(
        resp.status, 200,
        "one issuer with keys is enough: {}",
        resp.text
    );
    let issuers = resp.json["issuers"].as_array().expect("issuers array");
    assert_eq!(issuers.len(), 2, "{}", resp.text);
    assert_eq!(issuers[1]["count"], 0, "{}", resp.text);
    assert!(issuers[1]["last_error"].is_string(), "{}", resp.text);
    assert_granted(
        &s.get_bearer("/protected", &mint(&keys().rsa, &claims(&up.issuer())))
            .await,
        "the issuer that is up",
    );
    let resp = s
        .get_bearer("/protected", &mint(&keys().rsa, &claims(&down.issuer())))
        .await;
    assert_eq!(resp.status, 503, "the issuer that is down: {}", resp.text);
}

/// `/readyz`, `/metrics` and `/healthz` answer without the shared secret and over plain HTTP
/// while both gates are on.
async fn probes_are_never_gated(bin: &str) {
    let r = remote(
        bin,
        &[
            ("SHARED_SECRET", "probe-gate-secret-4b9d2f7a1e0c6358ae"),
            ("FORCE_HTTPS", "1"),
        ],
    )
    .await;
    let gated = r.sample.get("/public", &[]).await;
    assert_eq!(gated.status, 308, "the gates are on: {}", gated.text);
    let healthz = r.sample.get("/healthz", &[]).await;
    assert_eq!(healthz.status, 200, "/healthz: {}", healthz.text);
    // Readiness follows the start-up fetch, which may still be under way: wait for it, then
    // the answer is the probe's own, never a gate's 308 or 401.
    let readyz = readiness_settled(&r.sample).await;
    assert_eq!(readyz.status, 200, "/readyz: {}", readyz.text);
    scrape(&r.sample, &[]).await;
}

/// The counters move with what the sample does, and the exposition carries no token,
/// secret, subject, `kid` or raw path.
async fn metrics_count_requests_and_never_show_secrets(bin: &str) {
    let secret = "metrics-gate-secret-value-7d2e0a4c9b";
    let r = remote(bin, &[("SHARED_SECRET", secret)]).await;
    let iss = r.idp.issuer();
    let gate = ("x-shared-secret", secret);
    let k = keys();
    let good = mint(&k.rsa, &claims(&iss));
    let expired = mint(
        &k.rsa,
        &json!({ "sub": "alice", "iss": iss, "iat": now() - 600, "exp": now() - 300 }),
    );
    let bearer = |token: &str| format!("Bearer {token}");

    let (_, before) = scrape(&r.sample, &[]).await;
    let hits_before = value(&before, "api_auth_token_cache_hits_total", &[]);
    let refusals_before = value(
        &before,
        "api_auth_refusals_total",
        &[("error", "invalid_token")],
    );

    for _ in 0..2 {
        let resp = r
            .sample
            .get("/protected", &[gate, ("authorization", &bearer(&good))])
            .await;
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    let resp = r
        .sample
        .get("/protected", &[gate, ("authorization", &bearer(&expired))])
        .await;
    assert_eq!(resp.status, 401, "{}", resp.text);
    let resp = r.sample.get("/secret-path-xyz", &[gate]).await;
    assert_eq!(resp.status, 404, "{}", resp.text);

    let (text, after) = scrape(&r.sample, &[]).await;
    assert!(
        value(&after, "api_auth_token_cache_hits_total", &[]) > hits_before,
        "the repeated token is a cache hit:\n{text}"
    );
    assert!(
        value(&after, "api_auth_token_cache_misses_total", &[]) >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "api_auth_refusals_total",
            &[("error", "invalid_token")]
        ) > refusals_before,
        "the expired token is a refusal:\n{text}"
    );
    assert!(
        value(
            &after,
            "api_auth_requests_total",
            &[("route", "protected"), ("status", "200")]
        ) >= 2.0,
        "{text}"
    );
    assert!(
        value(
            &after,
            "api_auth_requests_total",
            &[("route", "other"), ("status", "404")]
        ) >= 1.0,
        "an unknown path counts as route=\"other\":\n{text}"
    );
    assert!(
        value(
            &after,
            "api_auth_jwks_fetches_total",
            &[("issuer", &iss), ("result", "ok")]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(&after, "api_auth_jwks_keys", &[("issuer", &iss)]),
        4.0,
        "{text}"
    );
    assert_eq!(
        value(&after, "api_auth_jwks_stale", &[("issuer", &iss)]),
        0.0,
        "{text}"
    );
    assert!(
        value(&after, "api_auth_verify_duration_seconds_count", &[]) >= 3.0,
        "{text}"
    );
    assert!(
        after
            .iter()
            .any(|s| s.name == "api_auth_verify_duration_seconds_bucket"),
        "verify duration is a histogram:\n{text}"
    );
    let signature = good.rsplit('.').next().unwrap_or(&good);
    let mut forbidden = vec![
        good.as_str(),
        signature,
        expired.as_str(),
        secret,
        "alice",
        "secret-path-xyz",
    ];
    let kids: Vec<String> = [&k.rsa, &k.ec256, &k.ec384, &k.ed]
        .iter()
        .map(|key| key.kid.clone())
        .collect();
    forbidden.extend(kids.iter().map(String::as_str));
    for needle in forbidden {
        assert!(
            !text.contains(needle),
            "the exposition contains {needle:?}:\n{text}"
        );
    }
}

/// `METRICS=0`: nothing is exported and `/metrics` is an unknown route; readiness still works.
async fn metrics_off_removes_the_route(bin: &str) {
    let s = Sample::start(bin, &[("METRICS", "0")]).await;
    let resp = s.get("/metrics", &[]).await;
    assert_eq!(resp.status, 404, "{}", resp.text);
    assert_eq!(s.get("/readyz", &[]).await.status, 200);
}

/// `LOG_FORMAT=json`: every stderr line is a JSON object with level, target and message, and
/// a refusal's line carries its error code (never the token).
async fn json_logs_are_one_object_per_line(bin: &str) {
    let r = remote(bin, &[("LOG_FORMAT", "json")]).await;
    let iss = r.idp.issuer();
    let expired = mint(
        &keys().rsa,
        &json!({ "sub": "alice", "iss": iss, "iat": now() - 600, "exp": now() - 300 }),
    );
    let resp = r.sample.get_bearer("/protected", &expired).await;
    assert_eq!(resp.status, 401, "{}", resp.text);
    let logs = wait_for_logs(&r.sample, "the refusal", |logs| {
        logs.contains("invalid_token")
    })
    .await;
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    for line in &lines {
        assert!(line.is_object(), "{line}");
        for field in ["level", "target", "message"] {
            assert!(line[field].is_string(), "no {field} in {line}");
        }
    }
    assert!(
        lines
            .iter()
            .any(|line| line["error"] == "invalid_token" && line["level"] == "INFO"),
        "a refusal line carries the error code:\n{logs}"
    );
    let signature = expired.rsplit('.').next().unwrap_or(&expired);
    assert!(!logs.contains(signature), "the token is logged:\n{logs}");
}

/// Tokens and secrets never reach the logs.
async fn tokens_and_secrets_never_logged(bin: &str) {
    let secret = "very-secret-gateway-value-1c8f3e5a0d";
    let r = remote(
        bin,
        &[
            ("SHARED_SECRET", secret),
            ("API_KEYS", "ops:api-key-material-xyz"),
        ],
    )
    .await;
    let iss = r.idp.issuer();
    let k = &keys().rsa;
    let good = mint(k, &claims(&iss));
    let expired = mint(k, &claims_with(&iss, json!({ "exp": now() - 100 })));
    let gate = ("x-shared-secret", secret);
    for token in [&good, &expired] {
        let auth = format!("Bearer {token}");
        r.sample
            .get("/protected", &[gate, ("authorization", &auth)])
            .await;
        r.sample
            .get("/admin", &[gate, ("authorization", &auth)])
            .await;
    }
    r.sample
        .get("/me", &[gate, ("x-api-key", "api-key-material-xyz")])
        .await;
    r.sample
        .get("/me", &[gate, ("x-api-key", "wrong-api-key-material")])
        .await;
    r.sample
        .get("/public", &[("x-shared-secret", "wrong-secret-material")])
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = r.sample.logs();
    assert!(logs.contains("refused"), "refusals are logged:\n{logs}");
    for needle in [
        good.split('.').nth(2).unwrap_or("x"),
        expired.split('.').nth(1).unwrap_or("x"),
        secret,
        "api-key-material-xyz",
        "wrong-api-key-material",
        "wrong-secret-material",
    ] {
        assert!(!logs.contains(needle), "logs contain {needle:?}:\n{logs}");
    }
}

/// `AUTH_JWKS_URL` with credentials (a user and password, a pre-signed query) is used (the
/// key set is fetched with them), and they never appear in logs, `/healthz` or `/metrics`,
/// not even when fetches fail and every line about them names the URL: a URL is shown as
/// scheme, host, port and path.
async fn key_set_url_credentials_never_shown(bin: &str) {
    const PASSWORD: &str = "hunter2-pw";
    const SIGNATURE: &str = "presigned-sig-7f3e";
    let idp = Idp::start(standard_jwks()).await;
    let address = idp.issuer().trim_start_matches("http://").to_owned();
    let url = format!("http://svc:{PASSWORD}@{address}/keys?sig={SIGNATURE}&exp=1#{SIGNATURE}");
    let s = Sample::start(
        bin,
        &[
            ("AUTH_JWKS_URL", url.as_str()),
            ("AUTH_JWKS_COOLDOWN_SECS", "1"),
        ],
    )
    .await;
    let resp = readiness_settled(&s).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let token = mint(&keys().rsa, &claims("urn:any"));
    assert_granted(&s.get_bearer("/protected", &token).await, "keys fetched");

    // A failed refetch, triggered by an unknown kid once the cooldown allows it.
    idp.set_mode(Mode::Status(500));
    let fetches = idp.fetches();
    let unknown = mint_with_header(
        &serde_json::json!({ "alg": "RS256", "kid": "not-there" }),
        &claims("urn:any"),
        &keys().rsa.encoding,
        jsonwebtoken::Algorithm::RS256,
    );
    let deadline = Instant::now() + WAIT;
    while idp.fetches() == fetches || !s.logs().contains("key set fetch failed") {
        assert!(Instant::now() < deadline, "no refetch:\n{}", s.logs());
        let _ = s.get_bearer("/protected", &unknown).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let health = s.get("/healthz", &[]).await.text;
    let metrics = s.get("/metrics", &[]).await.text;
    let logs = s.logs();
    assert!(
        logs.contains(&address),
        "the URL is logged without credentials:\n{logs}"
    );
    for (what, text) in [
        ("logs", &logs),
        ("/healthz", &health),
        ("/metrics", &metrics),
    ] {
        assert!(
            !text.contains(PASSWORD),
            "{what} show the password:\n{text}"
        );
        assert!(!text.contains("svc:"), "{what} show the user:\n{text}");
        assert!(
            !text.contains(SIGNATURE) && !text.contains("?sig") && !text.contains("exp=1"),
            "{what} show the query:\n{text}"
        );
    }
    assert!(
        metrics.contains(&format!("issuer=\"http://{address}/keys\"")),
        "the label is the URL's scheme, host, port and path:\n{metrics}"
    );
}

/// This group's cases, in the order they run.
pub(super) const CASES: &[Case] = &[
    case!(readiness_waits_for_the_first_key_set),
    case!(readiness_never_drops_after_start),
    case!(readiness_needs_one_issuer_with_keys),
    case!(probes_are_never_gated),
    case!(metrics_count_requests_and_never_show_secrets),
    case!(metrics_off_removes_the_route),
    case!(json_logs_are_one_object_per_line),
    case!(tokens_and_secrets_never_logged),
    case!(key_set_url_credentials_never_shown),
];
