//! The verified claims of a token, handed to route handlers: raw, registered, or typed.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::value::MapDeserializer;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::canonical_json::canonical_object;
use crate::claim_fields::{Audience, ClaimFields};
use crate::confirmation::Confirmation;
use crate::error::{AuthError, TokenError};
use crate::sender::Scheme;

/// The claims of a verified token: every claim as sent ([`Claims::get`], [`Claims::as_map`],
/// and serialisation), the registered ones typed ([`Claims::registered`]), and the whole set
/// as your own type ([`Claims::deserialize`]). Cloning is cheap (the claims are shared), so
/// cached tokens cost no copy.
///
/// The claims are kept as their JSON text, exactly as `serde_json` writes them, with the
/// registered claims, `roles` and `scope` read from it once: a token's claims cost their size
/// in memory, whatever their shape, in the token cache and out of it. [`Claims::deserialize`]
/// reads your type straight from that text; [`Claims::get`] and [`Claims::as_map`] build a
/// `serde_json` map of every claim on their first call, which this value and its clones keep
/// (never the token cache). A map can take many times the token's size (a JSON object costs a
/// B-tree node): where tokens may carry large claims, prefer `deserialize` and `registered`.
///
/// ```
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct MyClaims<'a> {
///     sub: &'a str,
///     #[serde(default)]
///     tenant: Option<String>,
/// }
///
/// # let claims = api_auth::Claims::from_map(serde_json::json!({
/// #     "sub": "alice", "tenant": "acme", "exp": 2000000000, "iss": "https://idp.example"
/// # }).as_object().cloned().unwrap_or_default());
/// // `claims` is what `Auth::verify` or `Auth::authenticate` returned.
/// let mine: MyClaims = claims.deserialize()?;
/// assert_eq!(mine.sub, "alice");
/// assert_eq!(mine.tenant.as_deref(), Some("acme"));
/// assert_eq!(claims.registered().iss, Some("https://idp.example"));
/// assert_eq!(claims.get("tenant"), Some(&serde_json::json!("acme")));
/// assert_eq!(
///     serde_json::to_string(&claims)?,
///     r#"{"exp":2000000000,"iss":"https://idp.example","sub":"alice","tenant":"acme"}"#
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Claims {
    data: Arc<ClaimsData>,
    /// How the request presented the token (`Bearer` unless it was `DPoP`).
    scheme: Scheme,
    /// Every claim as a `serde_json` map, built on the first call that needs it.
    map: OnceLock<Arc<Map<String, Value>>>,
}

/// The claims of one token as the token cache keeps them: their canonical JSON text (see
/// `canonical_json`) and the claims read from it that checks and typed views need. What it
/// holds on the heap is exactly [`ClaimsData::heap_bytes`] in [`ClaimsData::allocations`]
/// allocations.
#[derive(Debug)]
pub(crate) struct ClaimsData {
    json: Box<RawValue>,
    fields: ClaimFields,
}

impl ClaimsData {
    /// Reads a decoded token payload: one JSON object, no duplicate member at any depth.
    pub(crate) fn from_payload(bytes: &[u8]) -> serde_json::Result<Self> {
        Self::from_canonical(canonical_object(bytes)?)
    }

    /// Reads canonical text (as `canonical_object` or `serde_json` writes it).
    fn from_canonical(text: String) -> serde_json::Result<Self> {
        let fields = ClaimFields::read(&text)?;
        Ok(Self {
            json: RawValue::from_string(text)?,
            fields,
        })
    }

    pub(crate) fn fields(&self) -> &ClaimFields {
        &self.fields
    }

    /// The expiry (`exp`), in Unix seconds; 0 when absent or not an integer.
    pub(crate) fn exp(&self) -> i64 {
        self.fields.exp.valid().unwrap_or(0)
    }

    /// The not-before time (`nbf`), when it is an integer.
    pub(crate) fn nbf(&self) -> Option<i64> {
        self.fields.nbf.valid()
    }

    /// The heap memory these claims hold besides their own struct, exactly: the text and the
    /// fields' buffers.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.json.get().len() + self.fields.heap_bytes()
    }

    /// How many heap allocations hold [`ClaimsData::heap_bytes`].
    pub(crate) fn allocations(&self) -> usize {
        1 + self.fields.allocations()
    }
}

/// The registered claims of RFC 7519 §4.1, read from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegisteredClaims<'a> {
    /// `iss`: the issuer (always present when issuers are listed).
    pub iss: Option<&'a str>,
    /// `sub`: the subject.
    pub sub: Option<&'a str>,
    /// `aud`: the audiences, whether sent as one string or an array.
    pub aud: Vec<&'a str>,
    /// `exp`: expiry, in Unix seconds (always present on a verified token).
    pub exp: i64,
    /// `nbf`: not before, in Unix seconds.
    pub nbf: Option<i64>,
    /// `iat`: issued at, in Unix seconds.
    pub iat: Option<i64>,
    /// `jti`: the token's unique id.
    pub jti: Option<&'a str>,
}

/// The claims of a verified token do not fit the type they were read into.
///
/// It converts into [`AuthError`] as an `invalid_token` refusal whose description does
/// not repeat any claim value; the serde message (which may) is in
/// [`ClaimsError::detail`], for logs at the operator's discretion.
#[derive(Debug, thiserror::Error)]
#[error("the token's claims do not have the expected shape")]
pub struct ClaimsError(#[source] serde_json::Error);

impl ClaimsError {
    /// The deserialiser's own message (may quote a claim value).
    pub fn detail(&self) -> String {
        self.0.to_string()
    }
}

impl From<ClaimsError> for AuthError {
    fn from(_: ClaimsError) -> Self {
        AuthError::InvalidToken(TokenError::InvalidClaim("claims"))
    }
}

/// Serialises as the JSON object of the claims. Through `serde_json` (`to_vec`, `to_string`,
/// `to_value`, a framework's JSON response) that is the claims' text itself, written as is,
/// byte for byte what serialising their `serde_json::Value` writes; for another serde format,
/// serialise [`Claims::as_map`].
impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.data.json.serialize(serializer)
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Claims({})", self.data.json.get())
    }
}

impl PartialEq for Claims {
    /// Equal claims have equal canonical text.
    fn eq(&self, other: &Self) -> bool {
        self.data.json.get() == other.data.json.get()
    }
}

impl Claims {
    /// The claims of a verified token, shared with the token cache.
    pub(crate) fn new(data: Arc<ClaimsData>) -> Self {
        Self {
            data,
            scheme: Scheme::Bearer,
            map: OnceLock::new(),
        }
    }

    /// These claims, of a token the request presented with `scheme`.
    pub(crate) fn presented_with(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The scheme the request presented the token with: [`Scheme::Dpop`] for a DPoP-bound
    /// token whose proof verified, else [`Scheme::Bearer`].
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The token's `cnf` claim (RFC 7800), as read with the others.
    pub(crate) fn confirmation(&self) -> Confirmation<&str> {
        self.data.fields().cnf()
    }

    /// Wraps a map of claims, for tests of code that takes [`Claims`]. Nothing is verified:
    /// claims a service acts on come from [`crate::Auth::verify`].
    pub fn from_map(map: Map<String, Value>) -> Self {
        // A map serialises as canonical text, and canonical text of an object always reads:
        // the fallback (no claims) cannot happen.
        let data = serde_json::to_string(&map)
            .and_then(ClaimsData::from_canonical)
            .unwrap_or_else(|_| ClaimsData {
                json: RawValue::NULL.to_owned(),
                fields: ClaimFields::default(),
            });
        Self {
            data: Arc::new(data),
            scheme: Scheme::Bearer,
            map: OnceLock::from(Arc::new(map)),
        }
    }

    /// The claims as your own type, which may borrow from them (`&str` fields).
    ///
    /// Read straight from the claims' JSON text. Where a borrowed field meets a string with
    /// escapes in that text (`"`, `\` or a control character), which it cannot borrow, the
    /// claims are read from [`Claims::as_map`] instead, so every type that fits the claims reads.
    pub fn deserialize<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ClaimsError> {
        // Numbers are read again from their text. A float whose shortest text has 16 or 17
        // digits and a far exponent may read one unit in the last place away from the value
        // first parsed: `serde_json`'s default float parsing is not correctly rounded (its
        // `float_roundtrip` feature, off, would change what every float parses to). The claims
        // served, written once, are not affected.
        let json = self.data.json.get();
        match serde_json::from_str(json) {
            Ok(value) => Ok(value),
            Err(_) if json.contains('\\') => {
                let entries = self
                    .as_map()
                    .iter()
                    .map(|(name, value)| (name.as_str(), value));
                T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries))
                    .map_err(ClaimsError)
            }
            Err(error) => Err(ClaimsError(error)),
        }
    }

    /// The registered claims, typed. A claim of the wrong JSON type reads as absent.
    pub fn registered(&self) -> RegisteredClaims<'_> {
        let fields = self.data.fields();
        let aud = match fields.aud() {
            Audience::One(one) => vec![one],
            Audience::Many(range) => fields.audiences(range).collect(),
            Audience::Absent | Audience::Invalid => Vec::new(),
        };
        RegisteredClaims {
            iss: fields.iss().valid(),
            sub: fields.sub(),
            aud,
            exp: self.exp(),
            nbf: self.nbf(),
            iat: fields.iat.valid(),
            jti: fields.jti(),
        }
    }

    /// All claims, as a `serde_json` map built on the first call (see [`Claims`] for its cost).
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| {
            // Canonical text of an object always reads as a map.
            Arc::new(serde_json::from_str(self.data.json.get()).unwrap_or_default())
        })
    }

    /// One claim by name, from [`Claims::as_map`].
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_map().get(name)
    }

    /// The subject (`sub`).
    pub fn sub(&self) -> Option<&str> {
        self.data.fields().sub()
    }

    /// The expiry (`exp`), in Unix seconds; verified tokens always have one.
    pub fn exp(&self) -> i64 {
        self.data.exp()
    }

    /// The not-before time (`nbf`), if any.
    pub fn nbf(&self) -> Option<i64> {
        self.data.nbf()
    }

    /// The entries of the `roles` array that are strings.
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        self.data.fields().roles()
    }

    /// The space-separated entries of `scope` (RFC 8693 §4.2).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.data
            .fields()
            .scope()
            .into_iter()
            .flat_map(str::split_ascii_whitespace)
    }

    /// Whether `role` is among the roles or the scopes.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().any(|r| r == role) || self.scopes().any(|s| s == role)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::json;

    use super::*;

    /// Claims as the verifier reads them from a payload.
    fn claims(value: Value) -> Claims {
        Claims::new(Arc::new(
            ClaimsData::from_payload(value.to_string().as_bytes()).unwrap(),
        ))
    }

    #[test]
    fn roles_and_scopes() {
        assert!(claims(json!({"roles":["user","admin"]})).has_role("admin"));
        assert!(claims(json!({"scope":"read admin"})).has_role("admin"));
        assert!(!claims(json!({"scope":"administrator"})).has_role("admin"));
        assert!(!claims(json!({"roles":"admin"})).has_role("admin"));
        assert!(!claims(json!({"roles":[1, null]})).has_role("admin"));
        assert_eq!(claims(json!({"sub":"alice"})).sub(), Some("alice"));
    }

    #[test]
    fn typed_and_registered_views() {
        #[derive(Deserialize)]
        struct Mine<'a> {
            sub: &'a str,
            level: u8,
        }
        let c = claims(json!({"sub":"bob","level":3,"aud":["a","b"],"exp":10,"jti":"j"}));
        let mine: Mine = c.deserialize().unwrap();
        assert_eq!((mine.sub, mine.level), ("bob", 3));
        let registered = c.registered();
        assert_eq!(registered.aud, ["a", "b"]);
        assert_eq!((registered.exp, registered.jti), (10, Some("j")));
        let wrong = claims(json!({"sub":"bob","level":"high"}));
        let err = wrong.deserialize::<Mine>().err().unwrap();
        assert!(err.detail().contains("high"));
        assert!(!AuthError::from(err).description().contains("high"));
    }

    #[test]
    fn borrowed_strings_read_whatever_they_hold() {
        #[derive(Deserialize)]
        struct Mine<'a> {
            sub: &'a str,
            #[serde(borrow)]
            name: Cow<'a, str>,
        }
        let c = claims(json!({"sub":"a\"b\\c\nd", "name": "é\u{1}"}));
        let mine: Mine = c.deserialize().unwrap();
        assert_eq!((mine.sub, &*mine.name), ("a\"b\\c\nd", "é\u{1}"));
        assert_eq!(c.sub(), Some("a\"b\\c\nd"));
        let wrong = claims(json!({"sub":"a\"b", "name": 5}));
        assert!(wrong.deserialize::<Mine>().is_err());
    }

    #[test]
    fn every_claim_is_served_as_serde_json_writes_it() {
        let payload = r#"{"z":1,"a":[{"y":2,"x":1e3}],"s":"\u00e9\/\"","n":-0.0,"sub":"u"}"#;
        let c = Claims::new(Arc::new(
            ClaimsData::from_payload(payload.as_bytes()).unwrap(),
        ));
        let value: Value = serde_json::from_str(payload).unwrap();
        assert_eq!(
            serde_json::to_vec(&c).unwrap(),
            serde_json::to_vec(&value).unwrap()
        );
        assert_eq!(serde_json::to_value(&c).unwrap(), value);
        assert_eq!(&Value::Object(c.as_map().clone()), &value);
        assert_eq!(c.get("a"), value.get("a"));
        assert_eq!(c, Claims::from_map(value.as_object().cloned().unwrap()));
        #[derive(Serialize)]
        struct Granted<'a> {
            message: &'static str,
            user: &'a Claims,
        }
        let body = serde_json::to_string(&Granted {
            message: "m",
            user: &c,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::to_string(&json!({"message": "m", "user": value})).unwrap()
        );
    }

    #[test]
    fn heap_bytes_are_the_text_and_the_fields() {
        let data = ClaimsData::from_payload(br#"{"sub":"alice","roles":["a","bc"]}"#).unwrap();
        let text = r#"{"roles":["a","bc"],"sub":"alice"}"#;
        assert_eq!(data.json.get(), text);
        // The strings "a", "bc", "alice" and the end of each.
        assert_eq!(data.heap_bytes(), text.len() + 8 + 3 * 4);
        assert_eq!(data.allocations(), 3);
    }
}
