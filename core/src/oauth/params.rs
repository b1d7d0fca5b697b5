//! Strict parameter parsing for the token endpoint: form and JSON bodies, query strings.
//! Every parser is bounded (parameter count, sizes from [`super::MAX_TOKEN_BODY_LEN`]) and
//! refuses non-UTF-8 input instead of replacing it.

use super::{OAuthError, invalid_request};

/// Most parameters accepted in one token request (query and body together).
pub(crate) const MAX_PARAMS: usize = 64;

/// Client text echoed in a description: at most 64 characters of RFC 6749's `error_description`
/// alphabet (%x20-21 / %x23-5B / %x5D-7E); anything else (`"`, `\\`, controls, non-ASCII)
/// becomes `?`.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .take(64)
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub(crate) fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes one `application/x-www-form-urlencoded` component strictly: `+` is a space, `%XX`
/// escapes are decoded, and the result must be UTF-8.
pub(crate) fn form_decode(component: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = component
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).ok()
}

/// Strictly parses a form-encoded string into pairs; `None` when a component is not UTF-8.
pub(crate) fn parse_form(input: &[u8], out: &mut Vec<(String, String)>) -> Result<(), OAuthError> {
    for pair in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let (Some(name), Some(value)) = (form_decode(name), form_decode(value)) else {
            return Err(invalid_request("Parameters must be UTF-8"));
        };
        if out.len() >= MAX_PARAMS {
            return Err(invalid_request("Too many parameters"));
        }
        out.push((name, value));
    }
    Ok(())
}

/// A JSON object read as ordered (name, value) pairs, so repeated names are detected
/// (`serde_json::Map` would silently keep the last one).
struct JsonPairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonPairs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    if pairs.len() >= MAX_PARAMS {
                        return Err(serde::de::Error::custom("too many parameters"));
                    }
                    pairs.push((k, v));
                }
                Ok(JsonPairs(pairs))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

pub(crate) fn parse_json(body: &[u8], out: &mut Vec<(String, String)>) -> Result<(), OAuthError> {
    let JsonPairs(pairs) = serde_json::from_slice(body).map_err(|_| {
        invalid_request("The request body must be a JSON object of string parameters")
    })?;
    for (name, value) in pairs {
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            _ => {
                return Err(invalid_request(format!(
                    "{} must be a string",
                    printable(&name)
                )));
            }
        };
        if out.len() >= MAX_PARAMS {
            return Err(invalid_request("Too many parameters"));
        }
        out.push((name, value));
    }
    Ok(())
}

/// Parameters from query and body, empty values dropped (RFC 6749 §3.2: "treated as if they
/// were omitted"), each name at most once.
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.swap_remove(i).1)
    }
}
