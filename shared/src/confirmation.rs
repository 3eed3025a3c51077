//! The `cnf` claim (RFC 7800 §3.1): the key a sender-constrained token is bound to, read
//! with the other claims into [`ClaimFields`](crate::claim_fields::ClaimFields).
//!
//! Two members are understood: `jkt`, the RFC 7638 thumbprint of a DPoP key (RFC 9449 §6.1),
//! and `x5t#S256`, the SHA-256 thumbprint of a TLS client certificate (RFC 8705 §3.1). Any
//! other member binds the token in a way this crate cannot check, which is recorded so that
//! such a token is refused rather than used as a bearer token.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::claim_fields::{Builder, Claim, Text};

/// `cnf` as read, its strings named by their index in the claims' string buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Confirmation<S> {
    /// No `cnf`: a bearer token.
    #[default]
    Absent,
    /// An object of confirmation members.
    Bound {
        /// `jkt`.
        jkt: Claim<S>,
        /// `x5t#S256`.
        x5t_s256: Claim<S>,
        /// Whether it holds any other member (`jwk`, `jku`, `kid`, ...).
        other: bool,
    },
    /// Not an object.
    Invalid,
}

impl<S> Confirmation<S> {
    pub(crate) fn map<U>(self, mut f: impl FnMut(S) -> U) -> Confirmation<U> {
        let mut claim = |claim: Claim<S>| match claim {
            Claim::Valid(value) => Claim::Valid(f(value)),
            Claim::Absent => Claim::Absent,
            Claim::Invalid => Claim::Invalid,
        };
        match self {
            Self::Absent => Confirmation::Absent,
            Self::Invalid => Confirmation::Invalid,
            Self::Bound {
                jkt,
                x5t_s256,
                other,
            } => Confirmation::Bound {
                jkt: claim(jkt),
                x5t_s256: claim(x5t_s256),
                other,
            },
        }
    }
}

/// Reads the value of `cnf`.
pub(crate) struct ConfirmationSeed<'b>(pub(crate) &'b mut Builder);

impl<'de> DeserializeSeed<'de> for ConfirmationSeed<'_> {
    type Value = Confirmation<u32>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ConfirmationSeed<'_> {
    type Value = Confirmation<u32>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a confirmation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let (mut jkt, mut x5t_s256, mut other) = (Claim::Absent, Claim::Absent, false);
        while let Some(name) = access.next_key::<Box<str>>()? {
            match &*name {
                "jkt" => jkt = access.next_value_seed(Text(&mut *self.0))?,
                "x5t#S256" => x5t_s256 = access.next_value_seed(Text(&mut *self.0))?,
                _ => {
                    other = true;
                    access.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Confirmation::Bound {
            jkt,
            x5t_s256,
            other,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(access)?;
        Ok(Confirmation::Invalid)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Confirmation::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use crate::claim_fields::ClaimFields;

    use super::*;

    fn read(json: &str) -> Confirmation<String> {
        let fields = ClaimFields::read(json).unwrap();
        fields.cnf().map(str::to_owned)
    }

    #[test]
    fn members_are_read_and_others_noted() {
        assert_eq!(read(r#"{"sub":"a"}"#), Confirmation::Absent);
        assert_eq!(
            read(r#"{"cnf":{"jkt":"abc"}}"#),
            Confirmation::Bound {
                jkt: Claim::Valid("abc".into()),
                x5t_s256: Claim::Absent,
                other: false
            }
        );
        assert_eq!(
            read(r#"{"cnf":{"x5t#S256":"xyz","kid":"k"}}"#),
            Confirmation::Bound {
                jkt: Claim::Absent,
                x5t_s256: Claim::Valid("xyz".into()),
                other: true
            }
        );
        assert_eq!(
            read(r#"{"cnf":{"jkt":5}}"#),
            Confirmation::Bound {
                jkt: Claim::Invalid,
                x5t_s256: Claim::Absent,
                other: false
            }
        );
        for invalid in [r#"{"cnf":"abc"}"#, r#"{"cnf":[1]}"#, r#"{"cnf":null}"#] {
            assert_eq!(read(invalid), Confirmation::Invalid, "{invalid}");
        }
    }

    #[test]
    fn strings_around_cnf_still_read() {
        let fields =
            ClaimFields::read(r#"{"cnf":{"jkt":"t"},"sub":"alice","roles":["x"]}"#).unwrap();
        assert_eq!(fields.sub(), Some("alice"));
        assert_eq!(fields.roles().collect::<Vec<_>>(), ["x"]);
    }
}
