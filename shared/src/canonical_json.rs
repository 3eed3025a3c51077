//! A JSON object rewritten as canonical text, with duplicate members refused at every depth.
//!
//! RFC 7515 §5.2 and RFC 7519 §4 require a duplicate member name to be rejected rather than
//! resolved one way by us and another way by the token's issuer. `serde_json` keeps the last of
//! two duplicates silently, so the text is read here by visitors of our own that refuse a
//! repeated name in any object, nested ones included.
//!
//! They write text rather than build a `serde_json::Value`: a tree costs many times the size
//! of its JSON (every non-empty object a B-tree node of several hundred bytes, every value 32
//! bytes), so a token of 8 KiB of nested one-member objects grows to over 100 KiB while it is
//! parsed. The text written here costs its length, and the pass that writes it holds the input,
//! the output, four bytes per member of the objects still open and, while it sorts the members
//! of an object that came out of order, a copy of that object's text (measured by
//! `tests/token_memory.rs`).
//!
//! "Canonical" is what `serde_json` writes for the `Value` it would have parsed from the same
//! input: no whitespace, members in the order of its `Map` (sorted by name: a `BTreeMap`, as
//! `preserve_order` is not enabled), and numbers and string escapes in its own formatting. So
//! the text can be served wherever that `Value` used to be serialised, byte for byte.

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::ser::{CompactFormatter, Formatter};

/// Parses `bytes` as one JSON object with no duplicate member names at any depth and returns
/// its canonical text.
pub(crate) fn canonical_object(bytes: &[u8]) -> serde_json::Result<String> {
    // Canonical text is rarely longer than its input (numbers such as `1e15` are).
    let mut writer = Writer {
        out: Vec::with_capacity(bytes.len()),
        members: Vec::new(),
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    deserializer.deserialize_map(Object(&mut writer))?;
    deserializer.end()?;
    // Everything written is UTF-8: `str`s from the parser, ASCII punctuation and numbers.
    String::from_utf8(writer.out).map_err(serde_json::Error::custom)
}

/// The text being written.
struct Writer {
    out: Vec<u8>,
    /// Where each member of the objects still open starts in `out`, innermost object last.
    members: Vec<u32>,
}

impl Writer {
    fn write_str(&mut self, value: &str) {
        // Writing to a `Vec` cannot fail.
        let _ = value.serialize(&mut serde_json::Serializer::new(&mut self.out));
    }

    /// Puts the members of the object whose text starts at `content` (the members from
    /// `first` on in `members`) in name order, refusing two of the same name.
    fn sort_members(&mut self, content: usize, first: usize) -> Result<(), &'static str> {
        let region = self.out.split_off(content);
        let starts = &mut self.members[first..];
        for start in starts.iter_mut() {
            *start -= u32::try_from(content).map_err(|_| TOO_LARGE)?;
        }
        let name = |start: u32| name_at(&region, start as usize);
        starts.sort_unstable_by(|&a, &b| compare_names(name(a), name(b)));
        if starts.windows(2).any(|pair| name(pair[0]) == name(pair[1])) {
            return Err(DUPLICATE);
        }
        for (index, &start) in starts.iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            let start = start as usize;
            self.out
                .extend_from_slice(&region[start..member_end(&region, start)]);
        }
        Ok(())
    }
}

const DUPLICATE: &str = "duplicate member";
const TOO_LARGE: &str = "JSON text too large";

/// Writes the top-level value, which must be an object.
struct Object<'w>(&'w mut Writer);

impl<'de> Visitor<'de> for Object<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<(), A::Error> {
        AnyValue::first(self.0).visit_map(access)
    }
}

/// Writes any value, after a comma when it follows another.
///
/// The comma is written only once a value is there: a comma written ahead and taken back
/// would overflow a buffer the exact size of the text, and make it double.
struct AnyValue<'w> {
    writer: &'w mut Writer,
    after_another: bool,
}

impl<'w> AnyValue<'w> {
    fn first(writer: &'w mut Writer) -> Self {
        Self {
            writer,
            after_another: false,
        }
    }
}

impl<'de> DeserializeSeed<'de> for AnyValue<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.after_another {
            self.writer.out.push(b',');
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    // Scalars are written as `serde_json` writes the `Value` its own visitor would build.
    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        let _ = CompactFormatter.write_bool(&mut self.writer.out, value);
        Ok(())
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        let _ = CompactFormatter.write_i64(&mut self.writer.out, value);
        Ok(())
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        let _ = CompactFormatter.write_u64(&mut self.writer.out, value);
        Ok(())
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        // `Value` holds a non-finite number as `null`.
        let _ = if value.is_finite() {
            CompactFormatter.write_f64(&mut self.writer.out, value)
        } else {
            CompactFormatter.write_null(&mut self.writer.out)
        };
        Ok(())
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.writer.write_str(value);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        let _ = CompactFormatter.write_null(&mut self.writer.out);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        let _ = CompactFormatter.write_null(&mut self.writer.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let writer = self.writer;
        writer.out.push(b'[');
        let mut after_another = false;
        while access
            .next_element_seed(AnyValue {
                writer: &mut *writer,
                after_another,
            })?
            .is_some()
        {
            after_another = true;
        }
        writer.out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let writer = self.writer;
        writer.out.push(b'{');
        let content = writer.out.len();
        let first = writer.members.len();
        let mut in_order = true;
        loop {
            let after_another = writer.members.len() > first;
            let Some(start) = access.next_key_seed(Name {
                writer: &mut *writer,
                after_another,
            })?
            else {
                break;
            };
            if after_another && let Some(&previous) = writer.members.last() {
                // Members usually arrive in order: then a duplicate is the previous name.
                match compare_names(
                    name_at(&writer.out, previous as usize),
                    name_at(&writer.out, start),
                ) {
                    Ordering::Less => {}
                    Ordering::Equal => return Err(A::Error::custom(DUPLICATE)),
                    Ordering::Greater => in_order = false,
                }
            }
            writer
                .members
                .push(u32::try_from(start).map_err(|_| A::Error::custom(TOO_LARGE))?);
            writer.out.push(b':');
            access.next_value_seed(AnyValue::first(writer))?;
        }
        if !in_order {
            writer
                .sort_members(content, first)
                .map_err(A::Error::custom)?;
        }
        writer.members.truncate(first);
        writer.out.push(b'}');
        Ok(())
    }
}

/// Writes a member name, after a comma when it follows another member; gives where the name
/// starts.
struct Name<'w> {
    writer: &'w mut Writer,
    after_another: bool,
}

impl<'de> DeserializeSeed<'de> for Name<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        if self.after_another {
            self.writer.out.push(b',');
        }
        let start = self.writer.out.len();
        deserializer.deserialize_str(NameVisitor(self.writer))?;
        Ok(start)
    }
}

struct NameVisitor<'w>(&'w mut Writer);

impl<'de> Visitor<'de> for NameVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        self.0.write_str(value);
        Ok(())
    }
}

/// The escaped text of the name of the member written at `start` (between its quotes).
fn name_at(text: &[u8], start: usize) -> &[u8] {
    let name = text.get(start + 1..).unwrap_or_default();
    &name[..string_end(name, 0).saturating_sub(1)]
}

/// The index just past the closing quote of the string whose text starts at `from` (after
/// its opening quote), or the end of `text`.
fn string_end(text: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    text.len()
}

/// Where the member written at `start` ends in canonical `text`: at the comma after it, or at
/// the end of the text.
fn member_end(text: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'"' => i = string_end(text, i + 1),
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' if depth == 0 => return i,
            _ => i += 1,
        }
    }
    text.len()
}

/// Orders two escaped names as `String`s (and so a `BTreeMap`) order the names they stand for.
fn compare_names(a: &[u8], b: &[u8]) -> Ordering {
    if a.contains(&b'\\') || b.contains(&b'\\') {
        unescaped(a).cmp(unescaped(b))
    } else {
        a.cmp(b)
    }
}

/// The bytes of the string whose text `serde_json` escaped as `text`. It escapes `"`, `\` and
/// the control characters only, the latter as `\b`, `\t`, `\n`, `\f`, `\r` or `\u00XX`; no
/// other escape can occur in text written here.
fn unescaped(text: &[u8]) -> impl Iterator<Item = u8> + '_ {
    let mut bytes = text.iter().copied();
    std::iter::from_fn(move || {
        let byte = bytes.next()?;
        if byte != b'\\' {
            return Some(byte);
        }
        Some(match bytes.next()? {
            b'b' => 0x08,
            b't' => b'\t',
            b'n' => b'\n',
            b'f' => 0x0c,
            b'r' => b'\r',
            b'u' => {
                let mut code = 0u8;
                for _ in 0..4 {
                    let digit = char::from(bytes.next()?).to_digit(16)?;
                    code = code.wrapping_mul(16).wrapping_add(digit as u8);
                }
                code
            }
            other => other,
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn canonical(text: &str) -> serde_json::Result<String> {
        canonical_object(text.as_bytes())
    }

    /// What `serde_json` writes for the `Value` it parses from `text`.
    fn serde_json_text(text: &str) -> String {
        serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap()
    }

    #[test]
    fn writes_what_serde_json_writes() {
        for text in [
            r#"{"s":"a\u00e9\"\\\/\b\f\n\r\t\u0001\u001f\u007f\ud83d\ude00","n":null,"t":true,
               "f":false,"i":-5,"u":18446744073709551615,"x":1.5,"e":1e3,"big":1e15,"huge":1e300,
               "tiny":-2.5e-7,"z":-0,"zf":-0.0,"d":0.30000000000000004,"p":12345678901234567890123,
               "a":[1,[2,{"k":[]}],{}],"o":{"p":{"q":"r"}},"":0}"#,
            r#"{"b":1,"a":2,"c":{"z":[{"y":1,"x":2}],"a":null}}"#,
            r##"{"\"":1,"#":2,"\\":3,"]":4,"\u0001":5,"\n":6," ":7,"\u00e9":8,"e":9,"\ud83d\ude00":10}"##,
            r#"{"ab":1,"a":2,"a\u0000":3,"a\u0001":4,"":5}"#,
            "{ \"w\" : [ 1 , 2 ] , \"v\" : { } }",
            r#"{"a":{"c":1,"b":{"e":2,"d":3}},"x":[{"b":1,"a":2},{"d":[{"f":1,"e":2}],"c":3}]}"#,
            "{}",
        ] {
            assert_eq!(canonical(text).unwrap(), serde_json_text(text), "{text}");
        }
    }

    #[test]
    fn names_sort_by_what_they_stand_for() {
        // As text, `\"` (0x5c...) sorts after `#` (0x23); as strings, `"` (0x22) comes first.
        let text = canonical(r##"{"#":1,"\"":2,"\n":3,"\u0000":4}"##).unwrap();
        assert_eq!(text, r##"{"\u0000":4,"\n":3,"\"":2,"#":1}"##);
    }

    #[test]
    fn duplicates_are_refused_at_every_depth() {
        for text in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"b":1,"a":2,"b":3}"#,
            r#"{"realm_access":{"roles":["user"],"roles":["admin"]}}"#,
            r#"{"a":[{"b":1},{"c":{"d":1,"d":2}}]}"#,
            r#"{"a":[[[{"x":null,"x":null}]]]}"#,
            r#"{"a":{"b":{},"b":{}}}"#,
            r#"{"\u0041":1,"A":2}"#,
            r#"{"\"":1,"a":2,"\u0022":3}"#,
        ] {
            assert!(canonical(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_same_name_in_different_objects_is_allowed() {
        let text = r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#;
        assert_eq!(canonical(text).unwrap(), serde_json_text(text));
    }

    #[test]
    fn only_an_object_at_the_top() {
        for text in [
            "[]",
            "1",
            "null",
            r#""{}""#,
            "",
            "{",
            r#"{"a":1}x"#,
            r#"{"a":1,}"#,
        ] {
            assert!(canonical(text).is_err(), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(canonical(&deep).is_err());
        assert_eq!(canonical(r#"{"a":[[[]]]}"#).unwrap(), r#"{"a":[[[]]]}"#);
    }
}
