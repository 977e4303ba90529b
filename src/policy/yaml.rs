//! YAML documents as trees that remember where every key and value is written.
//!
//! `serde_yaml` gives values without positions, so the loader builds its own small tree from
//! `saphyr-parser` events. Scalars are resolved with the YAML 1.2 core schema, which is what
//! users get from any current YAML tool: `yes`/`no`/`on`/`off` are strings, and a quoted
//! `"true"` is a string too. The original text and whether it was quoted are kept, so that a
//! diagnostic can say exactly why a value has the wrong type.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Tag};

use super::diagnostic::{Finding, Pos, codes};

/// A node of a YAML document.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    /// Where the node starts (a flow collection at its bracket, a block mapping at its first key).
    pub(crate) pos: Pos,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_pos: Pos,
    pub(crate) value: Node,
}

/// A scalar: its text as written, whether it was quoted, and its core-schema value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scalar {
    pub(crate) text: String,
    pub(crate) quoted: bool,
    pub(crate) value: Resolved,
}

/// A scalar's value under the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str,
}

impl Node {
    /// The entries, if this is a mapping.
    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry for `key`, if this is a mapping that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    /// The entry for `key`, mutably, if this is a mapping that has it.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        match &mut self.kind {
            NodeKind::Map(entries) => entries.iter_mut().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The string, if this is a scalar that resolved to a string.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(Scalar {
                text,
                value: Resolved::Str,
                ..
            }) => Some(text),
            _ => None,
        }
    }

    /// Marks every position under this node as being in file number `file` (an overlay's).
    pub(crate) fn tag_file(&mut self, file: u32) {
        self.pos.file = file;
        match &mut self.kind {
            NodeKind::Scalar(_) => {}
            NodeKind::Seq(items) => items.iter_mut().for_each(|i| i.tag_file(file)),
            NodeKind::Map(entries) => {
                for e in entries {
                    e.key_pos.file = file;
                    e.value.tag_file(file);
                }
            }
        }
    }

    /// Merges an overlay into this node: mappings merge key by key (recursively), a null in
    /// the overlay removes the key, and anything else (a list, a scalar) replaces.
    pub(crate) fn overlay(&mut self, overlay: &Node) {
        match (&mut self.kind, &overlay.kind) {
            (NodeKind::Map(base), NodeKind::Map(top)) => {
                for e in top {
                    if e.value.is_null() {
                        base.retain(|b| b.key != e.key);
                    } else if let Some(b) = base.iter_mut().find(|b| b.key == e.key) {
                        b.value.overlay(&e.value);
                    } else {
                        base.push(e.clone());
                    }
                }
            }
            _ => *self = overlay.clone(),
        }
    }

    /// This node without the mapping entries whose value is null (an overlay's removals),
    /// recursively.
    pub(crate) fn without_nulls(&self) -> Node {
        let kind = match &self.kind {
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .filter(|e| !e.value.is_null())
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_pos: e.key_pos,
                        value: e.value.without_nulls(),
                    })
                    .collect(),
            ),
            NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(Node::without_nulls).collect()),
            scalar => scalar.clone(),
        };
        Node {
            kind,
            pos: self.pos,
        }
    }

    /// The boolean, if this is a scalar that resolved to one.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar(Scalar {
                value: Resolved::Bool(b),
                ..
            }) => Some(*b),
            _ => None,
        }
    }

    /// Whether this is a null scalar (`~`, `null` or nothing at all).
    pub(crate) fn is_null(&self) -> bool {
        matches!(
            &self.kind,
            NodeKind::Scalar(Scalar {
                value: Resolved::Null,
                ..
            })
        )
    }

    /// A short description of what the node is, for messages ("a string", "a list", ...).
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            NodeKind::Map(_) => "a mapping".into(),
            NodeKind::Seq(_) => "a list".into(),
            NodeKind::Scalar(s) => match s.value {
                Resolved::Null => "null".into(),
                Resolved::Bool(_) => format!("the boolean `{}`", s.text),
                Resolved::Int(_) => format!("the integer `{}`", s.text),
                Resolved::Float(_) => format!("the number `{}`", s.text),
                Resolved::Str if s.quoted => format!("the string \"{}\"", s.text),
                Resolved::Str => format!("the string `{}`", s.text),
            },
        }
    }

    /// The node as plain JSON, without any checking (used for free-form values).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Scalar(s) => match s.value {
                Resolved::Null => Value::Null,
                Resolved::Bool(b) => Value::Bool(b),
                Resolved::Int(i) => Value::from(i),
                Resolved::Float(f) => serde_json::Number::from_f64(f)
                    .map_or_else(|| Value::String(s.text.clone()), Value::Number),
                Resolved::Str => Value::String(s.text.clone()),
            },
        }
    }
}

/// One document of a YAML stream. An empty document has no root or a null scalar root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub(crate) root: Option<Node>,
}

fn pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

/// An open collection while its events are read.
enum Frame {
    Seq {
        items: Vec<Node>,
        pos: Pos,
        anchor: usize,
    },
    Map {
        entries: Vec<Entry>,
        /// The key read and waiting for its value; `Some(None)` for a key that is not a scalar.
        key: Option<Option<(String, Pos)>>,
        pos: Pos,
        anchor: usize,
    },
}

/// Builds documents from events; duplicate and non-scalar keys become findings.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    documents: Vec<Document>,
    current: Option<Document>,
    findings: Vec<Finding>,
}

impl Builder {
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if let Some(doc) = self.current.as_mut() {
                    doc.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => match &node.kind {
                    NodeKind::Scalar(s) => *key = Some(Some((s.text.clone(), node.pos))),
                    _ => {
                        self.findings.push(
                            Finding::new(
                                codes::DUPLICATE_KEY,
                                node.pos,
                                format!("a key must be a string, not {}", node.describe()),
                            )
                            .help("write the key as a plain string"),
                        );
                        *key = Some(None);
                    }
                },
                Some(None) => {}
                Some(Some((k, key_pos))) => {
                    if let Some(first) = entries.iter().find(|e| e.key == k) {
                        let first_line = first.key_pos.line;
                        let first_column = first.key_pos.column;
                        self.findings.push(
                            Finding::new(
                                codes::DUPLICATE_KEY,
                                key_pos,
                                format!(
                                    "duplicate key `{k}`; it is first written at line {first_line}, column {first_column}"
                                ),
                            )
                            .help("remove one of them: YAML keeps only one value per key"),
                        );
                    } else {
                        entries.push(Entry {
                            key: k,
                            key_pos,
                            value: node,
                        });
                    }
                }
            },
        }
    }
}

/// Parses a YAML stream into documents. A syntax error ends the stream: documents completed
/// before it are returned, together with the error at the parser's position.
pub(crate) fn parse(source: &str) -> (Vec<Document>, Vec<Finding>) {
    let mut b = Builder::default();
    for event in Parser::new_from_str(source) {
        let (event, span) = match event {
            Ok(e) => e,
            Err(err) => {
                b.findings.push(Finding::new(
                    codes::YAML_SYNTAX,
                    pos(err.marker()),
                    format!("YAML syntax error: {}", err.info()),
                ));
                return (b.documents, b.findings);
            }
        };
        let at = pos(&span.start);
        match event {
            Event::DocumentStart(_) => {
                b.anchors.clear();
                b.current = Some(Document { root: None });
            }
            Event::DocumentEnd => {
                if let Some(doc) = b.current.take() {
                    b.documents.push(doc);
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = Node {
                    kind: NodeKind::Scalar(scalar(text, style, tag.as_deref())),
                    pos: at,
                };
                b.complete(node, anchor);
            }
            Event::Alias(id) => {
                // The parser refuses an alias to an unknown anchor, so the lookup succeeds.
                if let Some(node) = b.anchors.get(&id).cloned() {
                    b.complete(node, 0);
                }
            }
            Event::SequenceStart(anchor, _) => b.stack.push(Frame::Seq {
                items: Vec::new(),
                pos: at,
                anchor,
            }),
            Event::MappingStart(anchor, _) => b.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                pos: at,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match b.stack.pop() {
                    Some(Frame::Seq { items, pos, anchor }) => (
                        Node {
                            kind: NodeKind::Seq(items),
                            pos,
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        entries,
                        pos,
                        anchor,
                        ..
                    }) => (
                        Node {
                            kind: NodeKind::Map(entries),
                            pos,
                        },
                        anchor,
                    ),
                    None => continue,
                };
                b.complete(node, anchor);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
    (b.documents, b.findings)
}

fn scalar(text: Cow<'_, str>, style: ScalarStyle, tag: Option<&Tag>) -> Scalar {
    let text = text.into_owned();
    let quoted = !matches!(style, ScalarStyle::Plain);
    let tagged = tag.filter(|t| t.is_yaml_core_schema() || t.handle == "!!");
    let value = match tagged.map(|t| t.suffix.as_str()) {
        Some("str") => Resolved::Str,
        Some(_) => resolve_plain(&text),
        None if quoted => Resolved::Str,
        None => resolve_plain(&text),
    };
    Scalar {
        text,
        quoted,
        value,
    }
}

/// The YAML 1.2 core schema's resolution of a plain scalar.
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|c| c.is_ascii_digit()) {
        // An integer too large for i64 is still a number.
        return text
            .parse::<i64>()
            .map(Resolved::Int)
            .unwrap_or_else(|_| text.parse::<f64>().map_or(Resolved::Str, Resolved::Float));
    }
    if let Some(oct) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(oct, 8)
    {
        return Resolved::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Resolved::Int(i);
    }
    if is_core_float(unsigned)
        && let Ok(f) = text.parse::<f64>()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> Node {
        let (docs, findings) = parse(src);
        assert!(findings.is_empty(), "{findings:?}");
        docs.into_iter().next().and_then(|d| d.root).unwrap()
    }

    fn value(src: &str) -> Resolved {
        match one(&format!("k: {src}")).get("k").map(|e| &e.value.kind) {
            Some(NodeKind::Scalar(s)) => s.value.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(value("true"), Resolved::Bool(true));
        assert_eq!(value("\"true\""), Resolved::Str);
        assert_eq!(value("yes"), Resolved::Str);
        assert_eq!(value("on"), Resolved::Str);
        assert_eq!(value("12"), Resolved::Int(12));
        assert_eq!(value("-3"), Resolved::Int(-3));
        assert_eq!(value("0x1f"), Resolved::Int(31));
        assert_eq!(value("1.5"), Resolved::Float(1.5));
        assert_eq!(value("'12'"), Resolved::Str);
        assert_eq!(value("!!str 12"), Resolved::Str);
        assert_eq!(value("~"), Resolved::Null);
        assert_eq!(value(""), Resolved::Null);
        assert_eq!(value("1.2.3"), Resolved::Str);
        assert_eq!(value("all_users"), Resolved::Str);
    }

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let root = one("a: 1\nb:\n  c: \"x\"\n");
        let b = root.get("b").unwrap();
        assert_eq!(b.key_pos, Pos::new(2, 1));
        let c = b.value.get("c").unwrap();
        assert_eq!(c.key_pos, Pos::new(3, 3));
        assert_eq!(c.value.pos, Pos::new(3, 6));
    }

    #[test]
    fn duplicate_keys_are_reported_at_the_second() {
        let (_, findings) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, codes::DUPLICATE_KEY);
        assert_eq!(findings[0].pos, Pos::new(3, 1));
    }

    #[test]
    fn several_documents_and_aliases() {
        let (docs, findings) = parse("a: &x {s: 1}\nb: *x\n---\n---\nc: 2\n");
        assert!(findings.is_empty());
        assert_eq!(docs.len(), 3);
        assert!(docs[1].root.as_ref().is_none_or(Node::is_null));
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(
            root.get("a").unwrap().value.kind,
            root.get("b").unwrap().value.kind
        );
    }

    #[test]
    fn syntax_error_keeps_earlier_documents() {
        let (docs, findings) = parse("a: 1\n---\nb: [1, 2\nc: 3\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, codes::YAML_SYNTAX);
        assert_eq!(findings[0].pos.line, 4);
    }
}
