//! The claims the checks and the typed views need, read once from a token's canonical claims
//! text into one compact block: the registered claims of RFC 7519 §4.1, `roles`, `scope` and
//! the confirmation `cnf` ([`crate::confirmation`]).
//!
//! Read by a visitor that skips every other claim without building it, and kept as one
//! buffer of the strings (unescaped, so that they can be lent as `&str`) and one of their
//! ends, so that what they hold is exactly [`ClaimFields::heap_bytes`].

use std::fmt;
use std::ops::Range;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::confirmation::{Confirmation, ConfirmationSeed};

/// A claim as read: absent, of the expected type, or present with another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Claim<T> {
    #[default]
    Absent,
    Valid(T),
    Invalid,
}

impl<T> Claim<T> {
    /// The value, when present with the expected type.
    pub(crate) fn valid(self) -> Option<T> {
        match self {
            Claim::Valid(value) => Some(value),
            Claim::Absent | Claim::Invalid => None,
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Claim<U> {
        match self {
            Claim::Valid(value) => Claim::Valid(f(value)),
            Claim::Absent => Claim::Absent,
            Claim::Invalid => Claim::Invalid,
        }
    }
}

/// `aud`, which is one string or an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum Audience<S> {
    #[default]
    Absent,
    One(S),
    /// The strings of the array (its other items cannot name an audience).
    Many(Range<u32>),
    Invalid,
}

/// The claims read from one token (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ClaimFields {
    /// Every string read, one after the other.
    strings: Box<str>,
    /// Where each string of `strings` ends; a string is named by its index here.
    ends: Box<[u32]>,
    pub(crate) exp: Claim<i64>,
    pub(crate) nbf: Claim<i64>,
    pub(crate) iat: Claim<i64>,
    iss: Claim<u32>,
    sub: Claim<u32>,
    jti: Claim<u32>,
    scope: Claim<u32>,
    aud: Audience<u32>,
    /// The strings of the `roles` array (none when it is not an array).
    roles: Range<u32>,
    cnf: Confirmation<u32>,
}

impl ClaimFields {
    /// Reads the claims from the canonical text of a JSON object.
    pub(crate) fn read(json: &str) -> serde_json::Result<Self> {
        let mut builder = Builder::default();
        let mut fields = serde_json::Deserializer::from_str(json)
            .deserialize_map(FieldsVisitor(&mut builder))?;
        fields.strings = builder.strings.into_boxed_str();
        fields.ends = builder.ends.into_boxed_slice();
        Ok(fields)
    }

    /// The heap memory these fields hold: their two buffers, exactly.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.strings.len() + std::mem::size_of_val(&*self.ends)
    }

    /// How many heap allocations these fields hold.
    pub(crate) fn allocations(&self) -> usize {
        usize::from(!self.strings.is_empty()) + usize::from(!self.ends.is_empty())
    }

    fn string(&self, index: u32) -> &str {
        let index = index as usize;
        let start = match index.checked_sub(1) {
            Some(previous) => self.ends.get(previous).copied().unwrap_or(0) as usize,
            None => 0,
        };
        let end = self.ends.get(index).copied().unwrap_or(0) as usize;
        self.strings.get(start..end).unwrap_or_default()
    }

    fn strings_in(&self, range: Range<u32>) -> impl Iterator<Item = &str> {
        range.map(|index| self.string(index))
    }

    pub(crate) fn iss(&self) -> Claim<&str> {
        self.iss.map(|i| self.string(i))
    }

    pub(crate) fn sub(&self) -> Option<&str> {
        self.sub.valid().map(|i| self.string(i))
    }

    pub(crate) fn jti(&self) -> Option<&str> {
        self.jti.valid().map(|i| self.string(i))
    }

    pub(crate) fn scope(&self) -> Option<&str> {
        self.scope.valid().map(|i| self.string(i))
    }

    pub(crate) fn aud(&self) -> Audience<&str> {
        match &self.aud {
            Audience::Absent => Audience::Absent,
            Audience::One(index) => Audience::One(self.string(*index)),
            Audience::Many(range) => Audience::Many(range.clone()),
            Audience::Invalid => Audience::Invalid,
        }
    }

    /// The strings of an [`Audience::Many`] range.
    pub(crate) fn audiences(&self, range: Range<u32>) -> impl Iterator<Item = &str> {
        self.strings_in(range)
    }

    pub(crate) fn roles(&self) -> impl Iterator<Item = &str> {
        self.strings_in(self.roles.clone())
    }

    /// The `cnf` claim: what the token is bound to, if anything.
    pub(crate) fn cnf(&self) -> Confirmation<&str> {
        self.cnf.map(|index| self.string(index))
    }
}

/// The two buffers of [`ClaimFields`], as they fill.
#[derive(Default)]
pub(crate) struct Builder {
    strings: String,
    ends: Vec<u32>,
}

impl Builder {
    fn push<E: serde::de::Error>(&mut self, value: &str) -> Result<u32, E> {
        let index = u32::try_from(self.ends.len()).map_err(|_| E::custom(TOO_LARGE))?;
        self.strings.push_str(value);
        let end = u32::try_from(self.strings.len()).map_err(|_| E::custom(TOO_LARGE))?;
        self.ends.push(end);
        Ok(index)
    }

    fn next_index<E: serde::de::Error>(&self) -> Result<u32, E> {
        u32::try_from(self.ends.len()).map_err(|_| E::custom(TOO_LARGE))
    }
}

const TOO_LARGE: &str = "claims too large";

/// The claims this module reads.
enum Field {
    Exp,
    Nbf,
    Iat,
    Iss,
    Sub,
    Jti,
    Scope,
    Aud,
    Roles,
    Cnf,
    Other,
}

struct FieldName;

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }

    fn visit_str<E>(self, name: &str) -> Result<Field, E> {
        Ok(match name {
            "exp" => Field::Exp,
            "nbf" => Field::Nbf,
            "iat" => Field::Iat,
            "iss" => Field::Iss,
            "sub" => Field::Sub,
            "jti" => Field::Jti,
            "scope" => Field::Scope,
            "aud" => Field::Aud,
            "roles" => Field::Roles,
            "cnf" => Field::Cnf,
            _ => Field::Other,
        })
    }
}

struct FieldsVisitor<'b>(&'b mut Builder);

impl<'de> Visitor<'de> for FieldsVisitor<'_> {
    type Value = ClaimFields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<ClaimFields, A::Error> {
        let builder = self.0;
        let mut fields = ClaimFields::default();
        while let Some(field) = access.next_key_seed(FieldName)? {
            match field {
                Field::Exp => fields.exp = access.next_value_seed(NumericDate)?,
                Field::Nbf => fields.nbf = access.next_value_seed(NumericDate)?,
                Field::Iat => fields.iat = access.next_value_seed(NumericDate)?,
                Field::Iss => fields.iss = access.next_value_seed(Text(builder))?,
                Field::Sub => fields.sub = access.next_value_seed(Text(builder))?,
                Field::Jti => fields.jti = access.next_value_seed(Text(builder))?,
                Field::Scope => fields.scope = access.next_value_seed(Text(builder))?,
                Field::Aud => fields.aud = access.next_value_seed(AudienceSeed(builder))?,
                Field::Roles => fields.roles = access.next_value_seed(Strings(builder))?,
                Field::Cnf => fields.cnf = access.next_value_seed(ConfirmationSeed(builder))?,
                Field::Other => {
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// The visits every reader below answers `Invalid` to, skipping nested values unbuilt.
macro_rules! invalid_otherwise {
    ($($visit:ident($type:ty)),*) => {
        $(fn $visit<E>(self, _: $type) -> Result<Self::Value, E> {
            Ok(<Self::Value as InvalidValue>::default_invalid())
        })*

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(<Self::Value as InvalidValue>::default_invalid())
        }

        fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
            IgnoredAny.visit_map(access)?;
            Ok(<Self::Value as InvalidValue>::default_invalid())
        }
    };
}

/// The value a reader gives for a claim of the wrong type.
trait InvalidValue {
    fn default_invalid() -> Self;
}

impl<T> InvalidValue for Claim<T> {
    fn default_invalid() -> Self {
        Claim::Invalid
    }
}

impl<S> InvalidValue for Audience<S> {
    fn default_invalid() -> Self {
        Audience::Invalid
    }
}

impl InvalidValue for Range<u32> {
    fn default_invalid() -> Self {
        0..0
    }
}

/// A NumericDate: an integer that fits `i64` (a fraction is refused like any other type).
struct NumericDate;

impl<'de> DeserializeSeed<'de> for NumericDate {
    type Value = Claim<i64>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Claim<i64>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumericDate {
    type Value = Claim<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate")
    }

    fn visit_i64<E>(self, value: i64) -> Result<Claim<i64>, E> {
        Ok(Claim::Valid(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Claim<i64>, E> {
        Ok(i64::try_from(value).map_or(Claim::Invalid, Claim::Valid))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Claim<i64>, A::Error> {
        IgnoredAny.visit_seq(access)?;
        Ok(Claim::Invalid)
    }

    invalid_otherwise!(visit_bool(bool), visit_f64(f64), visit_str(&str));
}

/// A string claim.
pub(crate) struct Text<'b>(pub(crate) &'b mut Builder);

impl<'de> DeserializeSeed<'de> for Text<'_> {
    type Value = Claim<u32>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Claim<u32>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text<'_> {
    type Value = Claim<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Claim<u32>, E> {
        self.0.push(value).map(Claim::Valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Claim<u32>, A::Error> {
        IgnoredAny.visit_seq(access)?;
        Ok(Claim::Invalid)
    }

    invalid_otherwise!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64)
    );
}

/// The strings of an array claim (its other items skipped); nothing when it is no array.
struct Strings<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for Strings<'_> {
    type Value = Range<u32>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Range<u32>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = Range<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Range<u32>, A::Error> {
        let first = self.0.next_index()?;
        while access.next_element_seed(Item(self.0))?.is_some() {}
        Ok(first..self.0.next_index()?)
    }

    invalid_otherwise!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str)
    );
}

/// One item of an array claim: kept when it is a string.
struct Item<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<(), E> {
        self.0.push(value).map(drop)
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(access).map(drop)
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        IgnoredAny.visit_map(access).map(drop)
    }
}

/// `aud`: one string, or the strings of an array.
struct AudienceSeed<'b>(&'b mut Builder);

impl<'de> DeserializeSeed<'de> for AudienceSeed<'_> {
    type Value = Audience<u32>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Audience<u32>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AudienceSeed<'_> {
    type Value = Audience<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Audience<u32>, E> {
        self.0.push(value).map(Audience::One)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Audience<u32>, A::Error> {
        Strings(self.0).visit_seq(access).map(Audience::Many)
    }

    invalid_otherwise!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64)
    );
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn read(claims: Value) -> ClaimFields {
        ClaimFields::read(&claims.to_string()).unwrap()
    }

    #[test]
    fn reads_the_registered_claims() {
        let fields = read(json!({
            "iss": "https://idp.example", "sub": "a\"b\\c\n", "jti": "j", "scope": "read admin",
            "aud": ["x", 5, "y", null, {"z": 1}], "exp": 10, "nbf": -3, "iat": 9,
            "roles": ["user", ["admin"], "ops"], "other": {"roles": ["no"], "exp": 1},
        }));
        assert_eq!(fields.iss(), Claim::Valid("https://idp.example"));
        assert_eq!(fields.sub(), Some("a\"b\\c\n"));
        assert_eq!(
            (fields.jti(), fields.scope()),
            (Some("j"), Some("read admin"))
        );
        let Audience::Many(range) = fields.aud() else {
            panic!("{:?}", fields.aud())
        };
        assert_eq!(fields.audiences(range).collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(
            (fields.exp, fields.nbf, fields.iat),
            (Claim::Valid(10), Claim::Valid(-3), Claim::Valid(9))
        );
        assert_eq!(fields.roles().collect::<Vec<_>>(), ["user", "ops"]);
    }

    #[test]
    fn claims_of_another_type_are_invalid() {
        let fields = read(json!({
            "iss": 7, "sub": ["a"], "jti": {"a": "b"}, "scope": null, "aud": 5,
            "exp": 1.5, "nbf": "1", "iat": 18_446_744_073_709_551_615u64, "roles": "admin",
        }));
        assert_eq!(fields.iss(), Claim::Invalid);
        assert_eq!(
            (fields.sub(), fields.jti(), fields.scope()),
            (None, None, None)
        );
        assert_eq!(fields.aud(), Audience::Invalid);
        assert_eq!(
            (fields.exp, fields.nbf, fields.iat),
            (Claim::Invalid, Claim::Invalid, Claim::Invalid)
        );
        assert_eq!(fields.roles().count(), 0);
        assert_eq!(fields.heap_bytes(), 0, "nothing kept");
    }

    #[test]
    fn absent_claims_and_one_audience() {
        let fields = read(json!({"aud": "api"}));
        assert_eq!(fields.aud(), Audience::One("api"));
        assert_eq!((fields.iss(), fields.exp), (Claim::Absent, Claim::Absent));
        assert_eq!(fields.heap_bytes(), 3 + 4);
        assert_eq!(fields.allocations(), 2);
    }
}
