//! The `/admin` rule, the one place the samples require a role: a verified token's claims
//! must carry the admin role, and are then read into a type of the handler's own.

use serde::Deserialize;

use api_auth::{Auth, AuthError, Claims};

/// Requires the admin role (in `roles`) or scope (in `scope`) of verified `claims` (`403
/// insufficient_scope` otherwise), then reads them into `T` through [`Auth::claims_as`]
/// (claims that do not fit are refused `401 invalid_token`). Both refusals are logged and
/// counted by the library.
pub fn require_admin<'a, T: Deserialize<'a>>(
    auth: &Auth,
    claims: &'a Claims,
) -> Result<T, AuthError> {
    auth.require_role(claims, "admin")?;
    auth.claims_as(claims)
}
