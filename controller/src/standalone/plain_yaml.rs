//! A fast reader for the plain subset of YAML that generated and hand-written manifests mostly
//! use: block mappings and sequences indented with spaces, flow sequences and mappings on one
//! line, plain scalars and quoted scalars without escapes, comment lines. A document that uses
//! anything else (anchors, tags, block scalars, escapes, multi-line scalars, inline comments,
//! duplicate keys, ...) is not read here: [`parse`] returns `None`, and the caller reads it with
//! the full YAML parser.
//!
//! The deserializer over a parsed [`Node`] answers only where the full parser's answer is
//! certain (a plain `5000` read as a number or as a string, `true` as a boolean, ...); anything
//! else, and every error, is [`Refused`], and the caller reads the document again with the full
//! parser, which gives the error messages users see. So a document read here yields exactly
//! the objects the full parser would have given.

use std::collections::HashSet;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// A parsed value. `Plain("")` is an empty value (null).
#[derive(Debug, PartialEq, Eq)]
pub enum Node<'a> {
    Plain(&'a str),
    Quoted(&'a str),
    Map(Vec<(&'a str, Node<'a>)>),
    Seq(Vec<Node<'a>>),
}

/// Reads a document of the plain subset; `None` when the document uses anything else (or is
/// empty), to be read by the full parser.
pub fn parse(text: &str) -> Option<Node<'_>> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    let mut lines = Vec::new();
    for raw in text.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.contains('\t') {
            return None;
        }
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        lines.push(Line {
            indent: line.len() - content.len(),
            content: content.trim_end_matches(' '),
        });
    }
    if lines.first()?.indent != 0 {
        return None;
    }
    let mut parser = Parser {
        lines,
        pos: 0,
        depth: 0,
    };
    let node = parser.block(0)?;
    (parser.pos == parser.lines.len()).then_some(node)
}

struct Line<'a> {
    indent: usize,
    content: &'a str,
}

impl Line<'_> {
    fn is_item(&self) -> bool {
        self.content == "-" || self.content.starts_with("- ")
    }
}

/// Deeper documents (in blocks, or in flow collections) are left to the full parser, so that
/// neither this reader nor the deserialization recurses without bound.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// The block (mapping or sequence) whose first line is the current one, at `indent`.
    fn block(&mut self, indent: usize) -> Option<Node<'a>> {
        let line = self.lines.get(self.pos)?;
        if line.indent != indent || self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = if line.is_item() {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        };
        self.depth -= 1;
        node
    }

    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.pos).map(|l| l.indent)
    }

    fn mapping(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut entries: Vec<(&'a str, Node<'a>)> = Vec::new();
        let mut keys: Option<HashSet<&'a str>> = None;
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent != indent || line.is_item() {
                break;
            }
            let content = line.content;
            let colon = key_end(content)?;
            let key = &content[..colon];
            if !plain_ok(key) {
                return None;
            }
            let rest = content[colon + 1..].trim_start_matches(' ');
            self.pos += 1;
            let value = if rest.is_empty() {
                match self.lines.get(self.pos) {
                    Some(next) if next.indent > indent => self.block(next.indent)?,
                    Some(next) if next.indent == indent && next.is_item() => self.block(indent)?,
                    _ => Node::Plain(""),
                }
            } else {
                let value = inline(rest)?;
                // A deeper line after a value on the key's line: a multi-line scalar, or an
                // error; either way for the full parser.
                if self.next_indent().is_some_and(|next| next > indent) {
                    return None;
                }
                value
            };
            if !insert_key(&mut keys, &entries, key) {
                return None;
            }
            entries.push((key, value));
        }
        Some(Node::Map(entries))
    }

    fn sequence(&mut self, indent: usize) -> Option<Node<'a>> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.pos) {
            if line.indent != indent || !line.is_item() {
                break;
            }
            let item = line.content.strip_prefix("- ")?;
            if item.is_empty() || item.starts_with(' ') {
                return None;
            }
            if !item.starts_with(['[', '{', '"', '\'']) && key_end(item).is_some() {
                // `- key: value`: a mapping whose keys are two columns further in.
                let inner = indent + 2;
                self.lines[self.pos] = Line {
                    indent: inner,
                    content: item,
                };
                items.push(self.block(inner)?);
            } else {
                self.pos += 1;
                items.push(inline(item)?);
                if self.next_indent().is_some_and(|next| next > indent) {
                    return None;
                }
            }
        }
        Some(Node::Seq(items))
    }
}

/// Where a block mapping key ends: the first `:` followed by a space or the end of the line.
fn key_end(content: &str) -> Option<usize> {
    let bytes = content.as_bytes();
    bytes
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b':' && bytes.get(i + 1).is_none_or(|&n| n == b' '))
}

/// Records `key` among a mapping's keys; false when it is already there.
fn insert_key<'a>(
    keys: &mut Option<HashSet<&'a str>>,
    entries: &[(&'a str, Node<'a>)],
    key: &'a str,
) -> bool {
    const LINEAR: usize = 16;
    if let Some(keys) = keys {
        return keys.insert(key);
    }
    if entries.iter().any(|(k, _)| *k == key) {
        return false;
    }
    if entries.len() >= LINEAR {
        *keys = Some(entries.iter().map(|(k, _)| *k).chain([key]).collect());
    }
    true
}

/// A plain scalar this reader takes: no indicator first, no `: ` or ` #` inside, nothing that
/// could continue it, no surrounding space.
fn plain_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    // One pass over the bytes: these scalars are short, and searching each pattern with
    // `str::contains` cost more than the rest of the parse.
    !b"-?:,[]{}#&*!|>'\"%@` ".contains(&first)
        && last != b':'
        && last != b' '
        && !bytes
            .windows(2)
            .any(|w| matches!(w, [b':', b' '] | [b' ', b'#']))
}

/// A value on the rest of a line: a flow collection, a quoted scalar or a plain scalar.
fn inline(s: &str) -> Option<Node<'_>> {
    if s.starts_with(['[', '{', '"', '\'']) {
        let mut flow = Flow {
            s,
            pos: 0,
            depth: 0,
        };
        let node = flow.value()?;
        flow.skip_spaces();
        return (flow.pos == s.len()).then_some(node);
    }
    plain_ok(s).then_some(Node::Plain(s))
}

/// A flow value on one line.
struct Flow<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Flow<'a> {
    fn skip_spaces(&mut self) {
        while self.s.as_bytes().get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn value(&mut self) -> Option<Node<'a>> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let node = self.value_here();
        self.depth -= 1;
        node
    }

    fn value_here(&mut self) -> Option<Node<'a>> {
        self.skip_spaces();
        match self.peek()? {
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_spaces();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(Node::Seq(items));
                }
                loop {
                    items.push(self.value()?);
                    self.skip_spaces();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Some(Node::Seq(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let mut entries: Vec<(&'a str, Node<'a>)> = Vec::new();
                let mut keys = None;
                self.skip_spaces();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(Node::Map(entries));
                }
                loop {
                    self.skip_spaces();
                    let key = self.plain()?;
                    // `key: value`: the colon is followed by a space.
                    if self.peek()? != b':' || self.s.as_bytes().get(self.pos + 1) != Some(&b' ') {
                        return None;
                    }
                    self.pos += 2;
                    let value = self.value()?;
                    if !insert_key(&mut keys, &entries, key) {
                        return None;
                    }
                    entries.push((key, value));
                    self.skip_spaces();
                    match self.peek()? {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Some(Node::Map(entries));
                        }
                        _ => return None,
                    }
                }
            }
            quote @ (b'"' | b'\'') => {
                let start = self.pos + 1;
                let len = self.s[start..].find(char::from(quote))?;
                let text = &self.s[start..start + len];
                self.pos = start + len + 1;
                // Escapes (and `''` in single quotes) are for the full parser.
                if text.contains('\\') || self.peek() == Some(quote) {
                    return None;
                }
                Some(Node::Quoted(text))
            }
            _ => self.plain().map(Node::Plain),
        }
    }

    /// A plain scalar in a flow collection, up to `,`, `]`, `}` (or `:` for a key); it may
    /// contain no `:` or `#` at all.
    fn plain(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b',' | b']' | b'}' | b'[' | b'{' | b':' | b'#') {
                break;
            }
            self.pos += 1;
        }
        let text = self.s[start..self.pos].trim_end_matches(' ');
        plain_ok(text).then_some(text)
    }
}

/// Whatever this reader leaves to the full parser (its message is never shown).
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to the full YAML parser")
    }
}

impl std::error::Error for Refused {}

impl de::Error for Refused {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Self
    }
}

/// Null as the full parser reads a plain scalar.
fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null")
}

/// Words a plain scalar could mean as something other than a string, in any YAML schema.
fn maybe_not_string(s: &str) -> bool {
    const WORDS: [&str; 14] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "infinity",
        "none", "nil",
    ];
    WORDS.iter().any(|w| s.eq_ignore_ascii_case(w))
}

/// A decimal number without sign or leading zero.
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// Deserializes a [`Node`].
pub struct NodeDeserializer<'a>(pub Node<'a>);

impl<'a> NodeDeserializer<'a> {
    fn text(&self) -> Option<&'a str> {
        match self.0 {
            Node::Plain(s) if !is_null(s) => Some(s),
            Node::Quoted(s) => Some(s),
            _ => None,
        }
    }

    fn number(&self) -> Result<u64, Refused> {
        match self.0 {
            Node::Plain(s) => number(s).ok_or(Refused),
            _ => Err(Refused),
        }
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty => $visit:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
            let value = <$ty>::try_from(self.number()?).map_err(|_| Refused)?;
            visitor.$visit(value)
        }
    )*};
}

impl<'de> Deserializer<'de> for NodeDeserializer<'de> {
    type Error = Refused;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Plain(s) if is_null(s) => visitor.visit_unit(),
            Node::Plain("true") => visitor.visit_bool(true),
            Node::Plain("false") => visitor.visit_bool(false),
            Node::Plain(s) => {
                if let Some(n) = number(s) {
                    visitor.visit_u64(n)
                } else if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                    && !maybe_not_string(s)
                {
                    visitor.visit_borrowed_str(s)
                } else {
                    Err(Refused)
                }
            }
            Node::Quoted(s) => visitor.visit_borrowed_str(s),
            Node::Map(entries) => visitor.visit_map(Entries {
                entries: entries.into_iter(),
                value: None,
            }),
            Node::Seq(items) => visitor.visit_seq(Items(items.into_iter())),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Plain("true") => visitor.visit_bool(true),
            Node::Plain("false") => visitor.visit_bool(false),
            _ => Err(Refused),
        }
    }

    integers!(
        deserialize_i8: i8 => visit_i8,
        deserialize_i16: i16 => visit_i16,
        deserialize_i32: i32 => visit_i32,
        deserialize_i64: i64 => visit_i64,
        deserialize_u8: u8 => visit_u8,
        deserialize_u16: u16 => visit_u16,
        deserialize_u32: u32 => visit_u32,
        deserialize_u64: u64 => visit_u64,
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        let n = self.number()?;
        // Exact below 2^53, as the full parser's reading of the same digits.
        if n > 1 << 53 {
            return Err(Refused);
        }
        #[allow(clippy::cast_precision_loss)]
        visitor.visit_f64(n as f64)
    }

    fn deserialize_char<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_borrowed_str(self.text().ok_or(Refused)?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Plain(s) if is_null(s) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Plain(s) if is_null(s) => visitor.visit_unit(),
            _ => Err(Refused),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Seq(items) => visitor.visit_seq(Items(items.into_iter())),
            _ => Err(Refused),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        match self.0 {
            Node::Map(entries) => visitor.visit_map(Entries {
                entries: entries.into_iter(),
                value: None,
            }),
            _ => Err(Refused),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        // Unit variants only, named by a string.
        match self.0 {
            Node::Plain(s) if !is_null(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            Node::Quoted(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            _ => Err(Refused),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_unit()
    }
}

/// A mapping's entries; keys are always strings.
struct Entries<'a> {
    entries: std::vec::IntoIter<(&'a str, Node<'a>)>,
    value: Option<Node<'a>>,
}

impl<'de> MapAccess<'de> for Entries<'de> {
    type Error = Refused;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Refused> {
        match self.entries.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(KeyDeserializer(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Refused> {
        seed.deserialize(NodeDeserializer(self.value.take().ok_or(Refused)?))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Items<'a>(std::vec::IntoIter<Node<'a>>);

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Refused;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Refused> {
        match self.0.next() {
            Some(node) => seed.deserialize(NodeDeserializer(node)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A mapping key: read as a string, whatever it looks like (as the full parser reads keys).
struct KeyDeserializer<'a>(&'a str);

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = Refused;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_borrowed_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Refused> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Refused> {
        visitor.visit_unit()
    }

    fn deserialize_bool<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Refused> {
        Err(Refused)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Refused> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 u8 u16 u32 f32 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier i128 u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Node::{Map, Plain, Quoted, Seq};

    #[test]
    fn the_plain_subset_is_read_into_nodes() {
        let text = "# a comment\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  labels:\n    tollgate.dev/secret: credential\nspec:\n  paths: [/a, \"/b\"]\n  ref: {name: x, key: 'k'}\n  empty:\n  list:\n  - a\n  - name: b\n    port: 80\n  deeper:\n    - 1\n";
        let node = parse(text).expect("plain subset");
        assert_eq!(
            node,
            Map(vec![
                ("apiVersion", Plain("v1")),
                ("kind", Plain("Secret")),
                (
                    "metadata",
                    Map(vec![
                        ("name", Plain("s")),
                        (
                            "labels",
                            Map(vec![("tollgate.dev/secret", Plain("credential"))])
                        ),
                    ])
                ),
                (
                    "spec",
                    Map(vec![
                        ("paths", Seq(vec![Plain("/a"), Quoted("/b")])),
                        ("ref", Map(vec![("name", Plain("x")), ("key", Quoted("k"))])),
                        ("empty", Plain("")),
                        (
                            "list",
                            Seq(vec![
                                Plain("a"),
                                Map(vec![("name", Plain("b")), ("port", Plain("80"))])
                            ])
                        ),
                        ("deeper", Seq(vec![Plain("1")])),
                    ])
                ),
            ])
        );
    }

    #[test]
    fn anything_outside_the_subset_is_left_to_the_full_parser() {
        let cases = [
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: |\n  text\n",
            "a: \"esc\\\"aped\"\n",
            "a: 'it''s'\n",
            "a: b # comment\n",
            "a: multi\n  line\n",
            "a: 1\na: 2\n",
            "a: {b: 1, b: 2}\n",
            "a:\n\tb: 1\n",
            "  a: 1\n",
            "a: [unclosed\n",
            "a: b: c\n",
            "- a\n- b\n",
            "a:\n  b: 1\n c: 2\n",
            "a: {b: http://x:1}\n",
            "\"quoted key\": 1\n",
            "",
            "# only a comment\n",
        ];
        for text in cases {
            let node = parse(text);
            let top_level_sequence = text.starts_with("- ");
            assert!(
                node.is_none() || top_level_sequence,
                "{text:?} read as {node:?}"
            );
        }
    }

    #[test]
    fn scalars_are_typed_only_where_the_full_parser_agrees() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Typed {
            port: u16,
            flag: bool,
            name: String,
            number_as_text: String,
            missing: Option<String>,
            empty: Option<String>,
        }
        let text = "port: 8080\nflag: true\nname: x\nnumber_as_text: 5000\nempty:\n";
        let node = parse(text).expect("plain");
        let typed = Typed::deserialize(NodeDeserializer(node)).expect("typed");
        assert_eq!(
            typed,
            Typed {
                port: 8080,
                flag: true,
                name: "x".into(),
                number_as_text: "5000".into(),
                missing: None,
                empty: None,
            }
        );
        use serde::Deserialize;
        for refused in [
            "port: 08\nflag: true\nname: x\nnumber_as_text: 1\n",
            "port: 1\nflag: yes\nname: x\nnumber_as_text: 1\n",
            "port: 1\nflag: true\nname: ~\nnumber_as_text: 1\n",
            "port: 70000\nflag: true\nname: x\nnumber_as_text: 1\n",
        ] {
            let node = parse(refused).expect("plain");
            assert!(
                Typed::deserialize(NodeDeserializer(node)).is_err(),
                "{refused}"
            );
        }
        for (text, refused) in [("v: yes\n", true), ("v: 1.5\n", true), ("v: word\n", false)] {
            let node = parse(text).expect("plain");
            let value = serde_json::Value::deserialize(NodeDeserializer(node));
            assert_eq!(value.is_err(), refused, "{text}");
        }
    }
}
