//! Members of fetched JSON documents (key sets, discovery documents), read as the parser
//! streams past them, without a tree of the document.
//!
//! A `serde_json::Value` costs many times the size of its JSON (every value 32 bytes, every
//! non-empty object a B-tree node of several hundred bytes): a 1 MiB key set of `{"a":0}`
//! entries grows to about 90 MiB while it is parsed. The readers here keep only the members
//! they need, as text borrowed from the document where it holds no escape, and skip
//! everything else with [`IgnoredAny`], which `serde_json` walks without recursion and with
//! one byte of memory per open array or object (so nesting costs no stack, whatever its
//! depth, and at most the document's size in heap).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One member's value, read where a string is expected.
///
/// Any other JSON type is consumed and reported as [`Text::Other`], so that one member of
/// the wrong type spoils only the object holding it, not the whole document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Text<'de> {
    /// A string: borrowed from the document, or owned when it held escapes.
    Str(Cow<'de, str>),
    /// `null`, which the members read here treat as absent.
    Null,
    /// A number, boolean, array or object.
    Other,
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Null)
    }

    fn visit_none<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Text<'de>, E> {
        Ok(Text::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        skip_elements(seq)?;
        Ok(Text::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        skip_members(map)?;
        Ok(Text::Other)
    }
}

/// Consumes the rest of an array, keeping nothing of it.
pub(crate) fn skip_elements<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Consumes the rest of an object, keeping nothing of it.
pub(crate) fn skip_members<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Whether a member is there with a value other than `null` (its value is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Present(pub(crate) bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_option(PresentVisitor)
    }
}

struct PresentVisitor;

impl<'de> Visitor<'de> for PresentVisitor {
    type Value = Present;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_none<E>(self) -> Result<Present, E> {
        Ok(Present(false))
    }

    fn visit_unit<E>(self) -> Result<Present, E> {
        Ok(Present(false))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Present, D::Error> {
        IgnoredAny::deserialize(deserializer)?;
        Ok(Present(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_consumes_anything_else() {
        fn read(text: &str) -> Result<Text<'_>, ()> {
            serde_json::from_str(text).map_err(|_| ())
        }
        assert_eq!(read(r#""abc""#), Ok(Text::Str(Cow::Borrowed("abc"))));
        assert!(matches!(read(r#""a\u0042""#), Ok(Text::Str(Cow::Owned(s))) if s == "aB"));
        assert_eq!(read("null"), Ok(Text::Null));
        for other in ["1", "-1.5e3", "true", "[1,[2]]", r#"{"a":{"b":[]}}"#] {
            assert_eq!(read(other), Ok(Text::Other), "{other}");
        }
        let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
        assert_eq!(read(&deep), Ok(Text::Other));
        assert!(read("[").is_err());
    }

    #[test]
    fn present_is_anything_but_null() {
        let read = |text: &str| serde_json::from_str::<Present>(text).ok();
        assert_eq!(read("null"), Some(Present(false)));
        for value in ["0", r#""""#, "[]", "{}", "false"] {
            assert_eq!(read(value), Some(Present(true)), "{value}");
        }
        let value = serde_json::json!({"d": null});
        assert_eq!(Present::deserialize(&value["d"]).ok(), Some(Present(false)));
        assert_eq!(
            Present::deserialize(&serde_json::json!("x")).ok(),
            Some(Present(true))
        );
    }
}
