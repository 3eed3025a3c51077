//! JSON objects whose members are unique at every depth.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 require a duplicate member name to be rejected rather
//! than resolved one way by us and another way by the token's issuer. `serde_json` keeps the
//! last of two duplicates silently, so the values are built here by a visitor of their own
//! that refuses a repeated name in any object, nested ones included, in the same single pass
//! `serde_json::Value`'s own deserializer would make.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON object with no duplicate member names at any depth.
pub(crate) fn object_from_slice(bytes: &[u8]) -> serde_json::Result<Map<String, Value>> {
    serde_json::from_slice::<StrictObject>(bytes).map(|object| object.0)
}

/// A JSON object, duplicates refused at every depth.
struct StrictObject(Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor)
            .map(StrictObject)
    }
}

/// Any JSON value, duplicates refused at every depth.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(StrictValue)
    }
}

/// Builds an object only.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        strict_map(access)
    }
}

fn strict_map<'de, A: MapAccess<'de>>(mut access: A) -> Result<Map<String, Value>, A::Error> {
    let mut map = Map::new();
    while let Some(key) = access.next_key::<String>()? {
        let StrictValue(value) = access.next_value()?;
        if map.insert(key, value).is_some() {
            return Err(A::Error::custom("duplicate member"));
        }
    }
    Ok(map)
}

/// Builds any value, as `serde_json::Value`'s own visitor does.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = access.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Value, A::Error> {
        strict_map(access).map(Value::Object)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(text: &str) -> serde_json::Result<Value> {
        object_from_slice(text.as_bytes()).map(Value::Object)
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let text = r#"{"s":"a\u00e9\"","n":null,"t":true,"f":false,"i":-5,"u":18446744073709551615,
            "x":1.5,"e":1e3,"a":[1,[2,{"k":[]}],{}],"o":{"p":{"q":"r"}},"":0}"#;
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse(text).unwrap(), expected);
    }

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"realm_access":{"roles":["user"],"roles":["admin"]}}"#,
            r#"{"a":[{"b":1},{"c":{"d":1,"d":2}}]}"#,
            r#"{"a":[[[{"x":null,"x":null}]]]}"#,
            r#"{"a":{"b":{},"b":{}}}"#,
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_same_name_in_different_objects_is_allowed() {
        let text = r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn only_an_object_at_the_top() {
        for text in ["[]", "1", "null", r#""{}""#, "", "{", r#"{"a":1}x"#] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deep).is_err());
        assert_eq!(parse(r#"{"a":[[[]]]}"#).unwrap(), json!({"a":[[[]]]}));
    }
}
