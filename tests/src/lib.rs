//! The conformance suite: the sample contract, checked over real sockets against a sample
//! binary, with a real identity provider on loopback and real keys.
//!
//! A sample runs the whole suite from one test file:
//!
//! ```ignore
//! conformance::suite!(env!("CARGO_BIN_EXE_sample-axum"));
//! ```
//!
//! Each case becomes its own `#[tokio::test]`, named after the case.

pub mod cases;
pub mod idp;
pub mod interop;
pub mod interop_gateways;
pub mod keys;
pub mod sample;
pub mod vendors;

/// Expands to one `#[tokio::test]` per conformance case, each run against `$bin`.
#[macro_export]
macro_rules! suite {
    ($bin:expr) => {
        $crate::suite!(@cases $bin;
            open_routes,
            missing_token,
            dev_mode_round_trip,
            dev_mode_api_key,
            dev_routes_absent_with_real_issuer,
            accepts_every_asymmetric_algorithm,
            explicit_jwks_url,
            admin_role_and_scope,
            time_claims,
            issuer_and_audience,
            algorithm_allow_list,
            hs256_mode,
            attack_alg_none,
            attack_algorithm_confusion,
            attack_kid_tricks,
            attack_header_key_injection,
            attack_extensions_and_duplicates,
            nested_duplicate_members,
            attack_structure,
            authorization_header_forms,
            api_keys,
            shared_secret_gate,
            https_redirect,
            startup_errors,
            unknown_routes_and_methods,
            no_secrets_in_logs,
            provider_down_at_startup,
            no_usable_keys,
            hostile_key_set,
            concurrent_first_requests_share_one_fetch,
            unknown_kid_flood,
            key_rotation,
            stale_keys_through_outage,
            hanging_provider_is_bounded,
            unusable_keys_are_skipped,
            discovery_issuer_mismatch,
            discovery_retried_and_moved_keys,
            key_set_redirects,
            interop_oidc_provider,
            interop_oidc_provider_rotation,
            interop_pyjwt_tokens,
            interop_dev_token_in_pyjwt,
            several_issuers_accepted,
            several_issuers_keys_never_cross,
            several_issuers_unlisted_refused_without_fetch,
            several_issuers_outage_is_isolated,
            several_issuers_startup_errors,
            declared_oversize_body_refused_before_sent,
            dev_paths_absent_for_every_method,
            paths_match_byte_for_byte,
            redirect_location_is_a_uri,
            misleading_configuration_refused,
            dev_mode_on_all_interfaces_when_asked,
            missing_audience_is_warned,
            readiness_follows_key_set,
            probes_are_never_gated,
            metrics_exposition,
            metrics_off,
            json_logs,
            log_format_errors,
            readiness_never_drops_after_start,
            readiness_needs_one_issuer_with_keys,
            issuer_with_credentials_refused,
            key_set_url_credentials_never_shown,
            key_set_timings_bounded,
            small_order_ed25519_keys_never_verify,
            only_small_order_ed25519_keys_is_no_key_set,
            skipped_keys_logged_in_bounded_lines,
            key_set_content_never_echoed,
            gateway_cloudflare_access_accepted,
            gateway_cookie_used_when_header_absent,
            gateway_google_iap_accepted,
            gateway_aws_alb_accepted,
            gateway_aws_alb_header_checks,
            gateway_ignores_client_authorization,
            alb_padding_refused_outside_alb_mode,
            alb_unknown_kid_one_fetch_per_cooldown,
            alb_kid_tricks_cost_no_fetch,
            alb_keys_held_per_kid_bounded,
            custom_token_header_and_cookie,
            gateway_startup_errors,
            interop_alb_aws_jwt_verify,
            interop_iap_google_auth_library,
            interop_cloudflare_jose,
        );
    };
    (@cases $bin:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::cases::$case($bin).await;
            }
        )+
    };
}
