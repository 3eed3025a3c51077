//! `WWW-Authenticate` challenges as RFC 9110 §11.6.1 defines them, parsed from every field of
//! a response: a server may send the `DPoP` and the `Bearer` challenge in one field or in
//! several (RFC 9449 §7.2), and a case must find each scheme's own parameters either way.
//!
//! Hand-written: the grammar is a dozen lines of the RFC, the crates that parse it are thin
//! and little used, and the assertions must not depend on the parser the samples might use.
//! `token68` credentials (no `=` after the first token) are not supported: no challenge of
//! the contract has one.

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};

/// One challenge: its scheme and its parameters, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The authentication scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// `(name, value)` pairs; names as sent, values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (matched case-insensitively, RFC 9110 §11.2).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is a challenge of `scheme` (case-insensitive, RFC 9110 §11.1).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Item {
    Token(String),
    Quoted(String),
    Equals,
    Comma,
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn lex(value: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            ',' => {
                chars.next();
                items.push(Item::Comma);
            }
            '=' => {
                chars.next();
                items.push(Item::Equals);
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => text.push(chars.next().ok_or("dangling escape")?),
                        Some(c) => text.push(c),
                        None => return Err(format!("unterminated quoted string in {value:?}")),
                    }
                }
                items.push(Item::Quoted(text));
            }
            c if is_tchar(c) => {
                let mut token = String::new();
                while let Some(&c) = chars.peek().filter(|c| is_tchar(**c)) {
                    token.push(c);
                    chars.next();
                }
                items.push(Item::Token(token));
            }
            other => return Err(format!("unexpected {other:?} in {value:?}")),
        }
    }
    Ok(items)
}

/// The challenges of one `WWW-Authenticate` field value.
///
/// # Errors
/// When the value does not follow the grammar.
pub fn parse(value: &str) -> Result<Vec<Challenge>, String> {
    let items = lex(value)?;
    let mut challenges: Vec<Challenge> = Vec::new();
    let mut i = 0;
    while i < items.len() {
        match (&items[i], items.get(i + 1)) {
            (Item::Comma, _) => i += 1,
            (Item::Token(name), Some(Item::Equals)) => {
                let challenge = challenges
                    .last_mut()
                    .ok_or_else(|| format!("parameter {name} before any scheme in {value:?}"))?;
                let param_value = match items.get(i + 2) {
                    Some(Item::Token(v) | Item::Quoted(v)) => v.clone(),
                    _ => return Err(format!("parameter {name} has no value in {value:?}")),
                };
                challenge.params.push((name.clone(), param_value));
                i += 3;
                match items.get(i) {
                    None | Some(Item::Comma) => {}
                    Some(other) => {
                        return Err(format!("{other:?} after parameter {name} in {value:?}"));
                    }
                }
            }
            (Item::Token(scheme), _) => {
                challenges.push(Challenge {
                    scheme: scheme.clone(),
                    params: Vec::new(),
                });
                i += 1;
            }
            (other, _) => return Err(format!("unexpected {other:?} in {value:?}")),
        }
    }
    Ok(challenges)
}

/// Every challenge of every `WWW-Authenticate` field of `headers`, in order.
///
/// # Panics
/// When a field is not text or does not follow the grammar: a malformed challenge is a
/// failure of the sample, reported with the field.
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .flat_map(|value| {
            let text = value
                .to_str()
                .unwrap_or_else(|_| panic!("WWW-Authenticate is not text: {value:?}"));
            parse(text).unwrap_or_else(|e| panic!("malformed WWW-Authenticate: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.to_owned(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn one_field_with_two_challenges() {
        let parsed = parse(
            r#"DPoP algs="ES256 PS256", error="invalid_dpop_proof", error_description="a \"b\", c", Bearer realm="api""#,
        )
        .expect("parses");
        assert_eq!(
            parsed,
            vec![
                challenge(
                    "DPoP",
                    &[
                        ("algs", "ES256 PS256"),
                        ("error", "invalid_dpop_proof"),
                        ("error_description", "a \"b\", c"),
                    ]
                ),
                challenge("Bearer", &[("realm", "api")]),
            ]
        );
    }

    #[test]
    fn schemes_without_parameters_and_token_values() {
        let parsed = parse("Basic, Bearer realm=api ,  DPoP").expect("parses");
        assert_eq!(
            parsed,
            vec![
                challenge("Basic", &[]),
                challenge("Bearer", &[("realm", "api")]),
                challenge("DPoP", &[]),
            ]
        );
        assert_eq!(parsed[1].param("REALM"), Some("api"));
        assert!(parsed[2].is("dpop"));
    }

    #[test]
    fn malformed_values_are_errors() {
        for value in [
            r#"Bearer realm="api"#,
            "realm=api",
            "Bearer realm=",
            "Bearer @",
        ] {
            assert!(parse(value).is_err(), "{value:?} parsed");
        }
    }
}
